"""Kubernetes objects as kposture sees them: a reference, the raw mapping and where it came from.

Sources build these; every other layer only reads them. ``raw`` is the object exactly as parsed and must
never be mutated. ``positions`` lets reports point at the file line of any field inside the object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

JsonPath = tuple[str | int, ...]
"""A path into an object: mapping keys as strings, list indexes as ints."""


@lru_cache(maxsize=8192)
def format_path(path: JsonPath) -> str:
    """Render a path as ``spec.containers[0].securityContext`` (keys with dots are bracket-quoted)."""
    out: list[str] = []
    for segment in path:
        if isinstance(segment, int):
            out.append(f"[{segment}]")
        elif "." in segment or "[" in segment or not segment:
            out.append(f'["{segment}"]')
        else:
            out.append(f".{segment}" if out else segment)
    return "".join(out)


class PositionIndex(Protocol):
    """Finds where a field of a parsed document lives in its source text.

    An index whose fields may live in other files than the object (a Kustomize object's fields set
    by a patch) also offers ``locate(path) -> (file, line, column) | None``; see ``K8sObject.locate``.
    """

    def position(self, path: JsonPath) -> tuple[int, int] | None:
        """Return the 1-based (line, column) of ``path``, or of its deepest existing ancestor."""
        ...


@dataclass(frozen=True, slots=True, order=True)
class ResourceRef:
    """Identifies one object: apiVersion, kind, namespace (empty when cluster-scoped or unset), name."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""

    def display(self) -> str:
        scope = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{scope}{self.name}"


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where an object was read from: a file (relative to the scan root when possible) and its first line.

    ``origin`` names what produced the text when it was rendered (``helm``, ``kustomize``), else empty.
    """

    file: str
    line: int = 1
    column: int = 1
    origin: str = ""


@dataclass(frozen=True, slots=True)
class K8sObject:
    """One Kubernetes object with its source location and a position index for its fields."""

    ref: ResourceRef
    raw: Mapping[str, Any]
    location: SourceLocation | None = None
    positions: PositionIndex | None = field(default=None, compare=False, repr=False)
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)
    """Memo of views computed from ``raw`` (e.g. the container list); ``raw`` never changes, so a
    view computed once is valid for the object's life. Only ``inventory`` writes here."""

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta = self.raw.get("metadata")
        return meta if isinstance(meta, Mapping) else {}

    @property
    def labels(self) -> Mapping[str, str]:
        labels = self.metadata.get("labels")
        return labels if isinstance(labels, Mapping) else {}

    @property
    def annotations(self) -> Mapping[str, str]:
        annotations = self.metadata.get("annotations")
        return annotations if isinstance(annotations, Mapping) else {}

    def locate(self, path: JsonPath) -> tuple[str, int, int] | None:
        """The (file, line, column) of ``path``: in another file when the position index knows the
        field was set there, else in the object's own file; ``None`` for an object without source."""
        locate = getattr(self.positions, "locate", None)
        found: tuple[str, int, int] | None = locate(path) if locate is not None else None
        if found is not None:
            return found
        if self.location is None:
            return None
        line, column = self.position(path) or (self.location.line, self.location.column)
        return (self.location.file, line, column)

    def position(self, path: JsonPath) -> tuple[int, int] | None:
        """The (line, column) of ``path`` in the source, falling back to the object's own start."""
        if self.positions is not None:
            found = self.positions.position(path)
            if found is not None:
                return found
        if self.location is not None:
            return (self.location.line, self.location.column)
        return None

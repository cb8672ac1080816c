"""Turning parsed documents into located ``K8sObject``s, and collecting what a load produced.

Owns the rules every manifest source shares: which documents are Kubernetes objects (a mapping
with string ``apiVersion`` and ``kind``; one without the other is a warning, likely a typo), how
``List`` kinds expand into their items (a snapshot's recorded listing problems becoming input errors
again), how a ``ResourceRef`` is formed, and the ``Collected`` accumulator (objects, errors, notes,
what was read) that the file, Helm and Kustomize readers fill.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kposture.model import (
    InputError,
    JsonPath,
    K8sObject,
    PositionIndex,
    ResourceRef,
    SourceLocation,
)
from kposture.sources.snapshot_header import recorded_problems, snapshot_info


class SubtreeIndex(PositionIndex, Protocol):
    """A position index that can be narrowed to a subtree (a ``List`` item)."""

    def subtree(self, path: JsonPath) -> SubtreeIndex: ...


@dataclass(slots=True)
class Collected:
    """Mutable accumulator for one ``load_manifests`` call (never shared between calls)."""

    objects: list[K8sObject] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    read: dict[tuple[int, int], str] = field(default_factory=dict)
    """(device, inode) of each file and directory read so far -> the name it was read as."""

    def error(self, file: str, line: int, message: str, level: str = "error") -> None:
        self.errors.append(InputError(file=file, line=line, message=message, level=level))

    def first_read(self, status: os.stat_result, name: str, given: str = "") -> bool:
        """Whether the file or directory with ``status`` is read for the first time in this load;
        a repeat (the same path given twice, a path inside a directory given too, a symlink) is
        noted (as ``given`` when the user typed it) and skipped, so no finding counts twice."""
        key = (status.st_dev, status.st_ino)
        first = self.read.get(key)
        if first is not None:
            self.notes.append(f"{given or name}: already read as {first}; skipped")
            return False
        self.read[key] = name
        return True


def is_object(data: object) -> bool:
    """True when ``data`` looks like a Kubernetes object (string apiVersion and kind)."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("apiVersion"), str)
        and isinstance(data.get("kind"), str)
        and bool(data["apiVersion"])
        and bool(data["kind"])
    )


def missing_half(data: object) -> str:
    """For a mapping with exactly one of ``apiVersion`` and ``kind``: "has kind but no apiVersion"
    (or the reverse), else "". Such a document is most likely an object with a typo."""
    if not isinstance(data, dict):
        return ""
    version, kind = data.get("apiVersion"), data.get("kind")
    has_version = isinstance(version, str) and bool(version)
    has_kind = isinstance(kind, str) and bool(kind)
    if has_kind and not has_version:
        return "has kind but no apiVersion"
    if has_version and not has_kind:
        return "has apiVersion but no kind"
    return ""


def resource_ref(data: Mapping[str, Any]) -> ResourceRef:
    meta = data.get("metadata")
    if not isinstance(meta, Mapping):
        meta = {}
    namespace = meta.get("namespace")
    name = meta.get("name") or meta.get("generateName")
    return ResourceRef(
        api_version=data["apiVersion"],
        kind=data["kind"],
        namespace=namespace if isinstance(namespace, str) else "",
        name=name if isinstance(name, str) else "",
    )


def is_list_kind(data: Mapping[str, Any]) -> bool:
    kind = data.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and isinstance(data.get("items"), list)


def display_name(path: Path) -> str:
    """``path`` relative to the working directory (POSIX separators) if under it, else as given."""
    try:
        return Path(os.path.abspath(path)).relative_to(Path.cwd()).as_posix()  # noqa: PTH100
    except ValueError:
        return path.as_posix()


LocateItem = Callable[[int], tuple[int, int]]


def add_document(
    out: Collected,
    data: object,
    *,
    file: str,
    start: tuple[int, int],
    positions: SubtreeIndex | None,
    origin: str = "",
    item_start: LocateItem | None = None,
) -> None:
    """Add the object(s) of one document; skip empty documents silently and non-objects with a note.

    ``item_start`` gives the (line, column) of ``items[i]`` when the caller knows it more cheaply
    than through ``positions``.
    """
    if data is None:
        return
    if not is_object(data):
        half = missing_half(data)
        if half:
            out.error(file, start[0], f"document {half}; skipped", level="warning")
        else:
            out.notes.append(f"{file}:{start[0]}: document without apiVersion/kind skipped")
        return
    assert isinstance(data, dict)
    if not is_list_kind(data):
        location = SourceLocation(file, start[0], start[1], origin)
        out.objects.append(K8sObject(resource_ref(data), data, location, positions))
        return
    info = snapshot_info(data)
    if info is not None:
        # What the cluster read could not list is missing from the snapshot too: say so again.
        for message, level in recorded_problems(info):
            out.error(file, start[0], message, level=level)
    for index, item in enumerate(data["items"]):
        if item_start is not None:
            line, column = item_start(index)
        elif positions is not None:
            line, column = positions.position(("items", index)) or start
        else:
            line, column = start
        if not is_object(item):
            half = missing_half(item)
            if half:
                message = f"item {index} of {data['kind']} {half}; skipped"
                out.error(file, line, message, level="warning")
            else:
                out.notes.append(
                    f"{file}:{line}: item {index} of {data['kind']} without apiVersion/kind skipped"
                )
            continue
        sub = positions.subtree(("items", index)) if positions is not None else None
        location = SourceLocation(file, line, column, origin)
        out.objects.append(K8sObject(resource_ref(item), item, location, sub))

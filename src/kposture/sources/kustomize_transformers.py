"""Attributing fields of a rendered Kustomize object to the kustomization line of the built-in
transformer that set them.

A kustomization's own fields change rendered objects without any patch: ``images`` (new tag, name
or digest), ``namespace``, ``namePrefix``/``nameSuffix``, ``commonLabels``/``labels`` and
``commonAnnotations``. kustomize's transformer annotations say which kustomization's transformer of
which kind touched an object; ``TransformerFields`` then finds the entry of that kustomization whose
value the rendered field holds, so a finding on ``image: nginx:latest`` points at ``newTag: latest``'s
entry rather than at the base's ``image: nginx:1.25``. Cheap by design: one lookup in the
kustomization's parsed document per question, no re-rendering.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kposture.model import JsonPath
from kposture.sources.yaml_documents import TablePositions

Located = tuple[str, int, int]

_CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})
_IMAGE_CHANGES = ("newTag", "newName", "digest")


def value_at(data: Any, path: JsonPath) -> Any:
    """The value at ``path`` in ``data``, or None."""
    for segment in path:
        if isinstance(data, dict):
            data = data.get(segment)
        elif isinstance(data, list) and type(segment) is int and 0 <= segment < len(data):
            data = data[segment]
        else:
            return None
    return data


def image_name(image: str) -> str:
    """``registry:5000/team/app`` of ``registry:5000/team/app:1.2@sha256:...``."""
    name = image.split("@", 1)[0]
    colon = name.rfind(":")
    return name[:colon] if colon > name.rfind("/") else name


def _images(data: dict[str, Any], path: JsonPath, value: str) -> JsonPath | None:
    """The last ``images`` entry that produced the container image ``value``."""
    if path[-1] != "image" or not any(segment in _CONTAINER_LISTS for segment in path):
        return None
    entries = data.get("images")
    if not isinstance(entries, list):
        return None
    name = image_name(value)
    for index in range(len(entries) - 1, -1, -1):
        entry = entries[index]
        if not isinstance(entry, dict) or not any(key in entry for key in _IMAGE_CHANGES):
            continue
        if (entry.get("newName") or entry.get("name")) == name and _produced(entry, value):
            return ("images", index)
    return None


def _produced(entry: dict[str, Any], image: str) -> bool:
    """Whether ``image`` carries the ``newTag``/``digest`` that ``entry`` asks for."""
    digest, tag = entry.get("digest"), entry.get("newTag")
    if digest is not None:
        return image.endswith(f"@{digest}")
    if tag is not None:
        without_digest = image.split("@", 1)[0]
        return without_digest.endswith(f":{tag}")
    return True


def _namespace(data: dict[str, Any], path: JsonPath, value: str) -> JsonPath | None:
    """``namespace:`` for the object's namespace (and a binding's subjects' namespaces)."""
    subject = len(path) == 3 and path[0] == "subjects" and path[2] == "namespace"
    if path != ("metadata", "namespace") and not subject:
        return None
    return ("namespace",) if data.get("namespace") == value else None


def _affix(fields: tuple[str, ...]) -> Callable[[dict[str, Any], JsonPath, str], JsonPath | None]:
    def locate(data: dict[str, Any], path: JsonPath, value: str) -> JsonPath | None:
        """``namePrefix:``/``nameSuffix:`` for a name that carries it."""
        if path != ("metadata", "name"):
            return None
        for field in fields:
            affix = data.get(field)
            if isinstance(affix, str) and affix:
                carries = value.startswith if field == "namePrefix" else value.endswith
                if carries(affix):
                    return (field,)
        return None

    return locate


_LABEL_MAPS = frozenset({"labels", "matchLabels", "selector"})


def _labels(data: dict[str, Any], path: JsonPath, value: str) -> JsonPath | None:
    """The ``labels`` pair (last entry first) or ``commonLabels`` key that set a label.

    A ``labels`` entry reaches selectors only with ``includeSelectors`` and pod templates only with
    ``includeTemplates``; ``commonLabels`` reaches every label map and selector.
    """
    if len(path) < 2 or path[-2] not in _LABEL_MAPS:
        return None
    key = path[-1]
    own = path[:-1] == ("metadata", "labels")
    template = path[-3:-1] == ("metadata", "labels")
    entries = data.get("labels")
    entries = entries if isinstance(entries, list) else []
    for index in range(len(entries) - 1, -1, -1):
        entry = entries[index]
        pairs = entry.get("pairs") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(pairs, dict) or pairs.get(key) != value:
            continue
        if own or entry.get("includeSelectors") or (template and entry.get("includeTemplates")):
            return ("labels", index, "pairs", key)
    common = data.get("commonLabels")
    if isinstance(common, dict) and common.get(key) == value:
        return ("commonLabels", key)
    return None


def _annotations(data: dict[str, Any], path: JsonPath, value: str) -> JsonPath | None:
    """The ``commonAnnotations`` key that set an annotation."""
    common = data.get("commonAnnotations")
    if len(path) < 2 or path[-2] != "annotations" or not isinstance(common, dict):
        return None
    return ("commonAnnotations", path[-1]) if common.get(path[-1]) == value else None


_FIELDS: dict[str, Callable[[dict[str, Any], JsonPath, str], JsonPath | None]] = {
    "ImageTagTransformer": _images,
    "NamespaceTransformer": _namespace,
    "PrefixTransformer": _affix(("namePrefix",)),
    "SuffixTransformer": _affix(("nameSuffix",)),
    "PrefixSuffixTransformer": _affix(("nameSuffix", "namePrefix")),
    "LabelTransformer": _labels,
    "AnnotationsTransformer": _annotations,
}
FIELD_TRANSFORMERS = frozenset(_FIELDS)
"""Transformer kinds (as kustomize's transformer annotations name them) attributed here."""


@dataclass(frozen=True, slots=True)
class TransformerFields:
    """What one built-in transformer (``kind``) of one kustomization (``file``, parsed) set."""

    file: str
    kind: str
    positions: TablePositions

    def locate(self, rendered: Any, path: JsonPath, *, setting: bool = False) -> Located | None:
        """The kustomization line that gave ``path`` its rendered value, if this transformer did.

        A transformer always sets what it touches, so ``setting`` changes nothing.
        """
        del setting
        data = self.positions.root
        value = value_at(rendered, path) if path else None
        attribute = _FIELDS.get(self.kind)
        if attribute is None or not isinstance(data, dict) or not isinstance(value, str):
            return None
        where = attribute(data, path, value)
        if where is None:
            return None
        line, column = self.positions.position(where) or self.positions.start
        if type(where[-1]) is int:  # a list entry: its "- "
            column = max(column - 2, 1)
        return (self.file, line, column)

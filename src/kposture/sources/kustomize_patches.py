"""Locating the fields of a rendered Kustomize object in its origin file or in the patches that set
them.

Owns the position index of rendered Kustomize objects (``KustomizePositions``), reading the patches
a kustomization file declares (``patches``, ``patchesStrategicMerge``, ``patchesJson6902``; files
and inline text), and deciding which patch set a field. A path resolves in the origin file when the
origin has it; otherwise in the patches that may have touched the object, last applied first
(strategic-merge documents matched by kind and name, list items by their merge key; JSON6902 ops by
their ``path``); otherwise at its deepest ancestor in the origin file. Inline patches point at
their entry in the kustomization file. ``kustomize`` builds these; the engine asks ``locate`` for
(file, line, column).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kposture.model import JsonPath
from kposture.sources.yaml_documents import Document, DocumentError, TablePositions, parse_yaml

Position = tuple[int, int]
Located = tuple[str, int, int]

_MERGE_KEYS = ("name", "mountPath", "devicePath", "containerPort", "port", "ip")
"""Keys strategic merge uses to match list items (containers, volumes, env, ports, ...)."""
_APPLIED_OPS = ("add", "replace", "copy", "move")


def _item_index(items: list[Any], wanted: Any, segment: int, merge: bool) -> int | None:
    """Index in ``items`` of the item that became rendered item ``segment`` (``wanted``).

    With ``merge``, an item that has a merge key is matched by it, else by position.
    """
    if merge and isinstance(wanted, dict):
        for key in _MERGE_KEYS:
            value = wanted.get(key)
            if value is not None:
                return next(
                    (
                        index
                        for index, item in enumerate(items)
                        if isinstance(item, dict) and item.get(key) == value
                    ),
                    None,
                )
    return segment if 0 <= segment < len(items) else None


def walk(
    positions: TablePositions, rendered: Any, path: JsonPath, *, merge: bool
) -> tuple[Position | None, Position]:
    """(position of ``path`` if the document has all of it, else None; deepest ancestor's position).

    With ``merge``, list items are matched to the rendered object's items by merge key (a patch
    lists only the containers it changes; a patch may have added items before the origin's).
    """
    node, table, best = positions.root, positions.table, positions.start
    for segment in path:
        key: Any = segment
        if isinstance(node, dict):
            rendered = rendered.get(segment) if isinstance(rendered, dict) else None
        elif isinstance(node, list) and isinstance(segment, int):
            in_range = isinstance(rendered, list) and 0 <= segment < len(rendered)
            wanted = rendered[segment] if in_range else None
            key = _item_index(node, wanted, segment, merge)
            rendered = wanted
        found = table.of(node, key) if key is not None else None
        if found is None:
            return None, best
        best = found
        node = node[key]
    return best, best


def _pointer(text: str) -> tuple[str, ...]:
    """JSON pointer (``/spec/containers/0``) to its unescaped segments."""
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in text.split("/")[1:] if text)


def _segment_matches(pointer: str, segment: str | int) -> bool:
    if isinstance(segment, int):
        return pointer == "-" or pointer == str(segment)
    return pointer == segment


@dataclass(frozen=True, slots=True)
class _JsonOp:
    segments: tuple[str, ...]
    path_key: Position
    value: TablePositions | None


@dataclass(frozen=True, slots=True)
class StrategicPatch:
    """One strategic-merge patch document."""

    file: str
    positions: TablePositions

    def locate(self, rendered: Any, path: JsonPath) -> Located | None:
        found, _ = walk(self.positions, rendered, path, merge=True)
        return (self.file, *found) if found is not None else None


@dataclass(frozen=True, slots=True)
class JsonPatch:
    """The add/replace/copy/move operations of one JSON6902 patch, last first."""

    file: str
    ops: tuple[_JsonOp, ...]

    def locate(self, rendered: Any, path: JsonPath) -> Located | None:
        del rendered
        for op in self.ops:
            if len(op.segments) > len(path) or not all(
                _segment_matches(p, s) for p, s in zip(op.segments, path, strict=False)
            ):
                continue
            rest = path[len(op.segments) :]
            if not rest:
                return (self.file, *op.path_key)
            if op.value is not None:
                found, _ = walk(op.value, None, rest, merge=False)
                if found is not None:
                    return (self.file, *found)
        return None


@dataclass(frozen=True, slots=True)
class InlinePatch:
    """A patch written in the kustomization itself: found fields point at its entry there."""

    file: str
    entry: Position
    patch: StrategicPatch | JsonPatch

    def locate(self, rendered: Any, path: JsonPath) -> Located | None:
        return (self.file, *self.entry) if self.patch.locate(rendered, path) else None


Patch = StrategicPatch | JsonPatch | InlinePatch


def json_patch(file: str, document: Document) -> JsonPatch | None:
    """The ops of a parsed JSON6902 document (a list of mappings), or None if it is not one."""
    if not isinstance(document.data, list) or not isinstance(document.positions, TablePositions):
        return None
    positions = document.positions
    ops = []
    for number, op in enumerate(document.data):
        if not isinstance(op, dict) or op.get("op") not in _APPLIED_OPS:
            continue
        pointer = op.get("path")
        if not isinstance(pointer, str):
            continue
        key = positions.position((number, "path")) or document.start
        value = positions.subtree((number, "value")) if "value" in op else None
        ops.append(_JsonOp(_pointer(pointer), key, value))
    return JsonPatch(file, tuple(reversed(ops)))


def targets(rendered: dict[str, Any], kind: object, name: object) -> bool:
    """Whether a patch aimed at ``kind``/``name`` (either may be absent) applies to ``rendered``.

    Names compare by containment (prefixes and suffixes of later kustomizations) or as the regular
    expression kustomize allows in a target.
    """
    if isinstance(kind, str) and kind and kind != rendered.get("kind"):
        return False
    if not isinstance(name, str) or not name:
        return True
    meta = rendered.get("metadata")
    actual = str(meta.get("name", "")) if isinstance(meta, dict) else ""
    if name in actual:
        return True
    try:
        return re.search(name, actual) is not None
    except re.error:
        return False


def _strategic_patches(
    file: str, documents: list[Document], rendered: dict[str, Any] | None
) -> list[StrategicPatch | JsonPatch]:
    """The documents of a strategic-merge patch that apply to ``rendered`` (all when None)."""
    found: list[StrategicPatch | JsonPatch] = []
    for document in documents:
        data = document.data
        if not isinstance(data, dict) or not isinstance(document.positions, TablePositions):
            continue
        meta = data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if rendered is None or targets(rendered, data.get("kind"), name):
            found.append(StrategicPatch(file, document.positions))
    return found


PatchFiles = Callable[[Path], list[Document]]
"""Parsed documents of a patch file (cached by the caller: each file is parsed once per render)."""


@dataclass(frozen=True, slots=True)
class PatchEntry:
    """One entry of a kustomization's patch lists, in application order."""

    file: Path | None
    text: str
    entry: Position
    kind: object
    name: object
    targeted: bool

    def patches(
        self,
        rendered: dict[str, Any],
        kustomization: str,
        read: PatchFiles,
        show: Callable[[Path], str],
    ) -> list[Patch]:
        if not targets(rendered, self.kind, self.name):
            return []
        if self.file is not None:
            documents, file = read(self.file), show(self.file)
        else:
            try:
                documents, file = list(parse_yaml(self.text)), kustomization
            except DocumentError:
                return []
        found: list[StrategicPatch | JsonPatch] = []
        for document in documents:
            json = json_patch(file, document)
            if json is not None:
                found.append(json)
        if not found:
            # Without a target, a strategic-merge document names the object it patches.
            found = _strategic_patches(file, documents, None if self.targeted else rendered)
        if self.file is None:
            return [InlinePatch(kustomization, self.entry, patch) for patch in found]
        return list(found)


def patch_entries(kustomization: Path, documents: list[Document]) -> list[PatchEntry]:
    """The patches a kustomization file declares, in the order kustomize applies them."""
    if not documents or not isinstance(documents[0].data, dict):
        return []
    data, positions = documents[0].data, documents[0].positions
    entries: list[PatchEntry] = []
    for field in ("patchesStrategicMerge", "patches", "patchesJson6902"):
        items = data.get(field)
        if not isinstance(items, list):
            continue
        for number, item in enumerate(items):
            entry = positions.position((field, number)) or documents[0].start
            entry = (entry[0], max(entry[1] - 2, 1))  # the "- " that opens the entry
            if isinstance(item, str):  # patchesStrategicMerge: a file name or inline text
                inline = "\n" in item or ":" in item
                file = None if inline else kustomization.parent / item
                entries.append(PatchEntry(file, item if inline else "", entry, None, None, False))
                continue
            if not isinstance(item, dict):
                continue
            target = item.get("target")
            targeted = isinstance(target, dict)
            target = target if isinstance(target, dict) else {}
            path, patch = item.get("path"), item.get("patch")
            file = kustomization.parent / path if isinstance(path, str) else None
            text = patch if isinstance(patch, str) and file is None else ""
            if file is None and not text:
                continue
            entries.append(
                PatchEntry(file, text, entry, target.get("kind"), target.get("name"), targeted)
            )
    return entries


@dataclass(frozen=True, slots=True)
class KustomizePositions:
    """Positions of one rendered object: origin document first, then its patches (last first)."""

    file: str
    origin: TablePositions | None
    start: Position
    rendered: dict[str, Any]
    patches: tuple[Patch, ...]
    prefix: JsonPath = ()

    def _origin(self, path: JsonPath) -> tuple[Position | None, Position]:
        if self.origin is None:
            return None, self.start
        return walk(self.origin, self.rendered, path, merge=True)

    def position(self, path: JsonPath) -> Position | None:
        """Position in the origin file (of the deepest ancestor when the origin lacks the path)."""
        return self._origin(self.prefix + path)[1]

    def locate(self, path: JsonPath) -> Located | None:
        """(file, line, column) of ``path``: in the origin, else the patch that set it, else the
        deepest ancestor in the origin."""
        full = self.prefix + path
        exact, deepest = self._origin(full)
        if exact is not None:
            return (self.file, *exact)
        for patch in self.patches:
            found = patch.locate(self.rendered, full)
            if found is not None:
                return found
        return (self.file, *deepest)

    def subtree(self, path: JsonPath) -> KustomizePositions:
        return KustomizePositions(
            self.file, self.origin, self.start, self.rendered, self.patches, self.prefix + path
        )

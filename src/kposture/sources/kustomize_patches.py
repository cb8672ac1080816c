"""Locating the fields of a rendered Kustomize object in its origin file, or in the patch or
kustomization that set them.

Owns the position index of rendered Kustomize objects (``KustomizePositions``), reading the patches
a kustomization file declares (``patches``, ``patchesStrategicMerge``, ``patchesJson6902``; files
and inline text), and deciding which patch set a field. A path resolves, in order: to the last
applied patch or built-in transformer (``kustomize_transformers``) that set its value (strategic-
merge documents matched by kind and name, list items by their merge key; JSON6902 ops by their
``path``), since the origin file's line then says what no longer holds; to the origin file; to a
patch that merely names it (a patch's ``metadata.name``, a container's ``name``, a mapping it merges
into); else to its deepest ancestor in the origin file. Inline patches point at their entry in the
kustomization file. ``kustomize`` builds these; the engine asks ``locate`` for (file, line, column).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kposture.model import JsonPath
from kposture.sources.kustomize_transformers import Located, TransformerFields, value_at
from kposture.sources.yaml_documents import Document, DocumentError, TablePositions, parse_yaml

Position = tuple[int, int]

_MERGE_KEYS = ("name", "mountPath", "devicePath", "containerPort", "port", "ip")
"""Keys strategic merge uses to match list items (containers, volumes, env, ports, ...)."""
_APPLIED_OPS = ("add", "replace", "copy", "move")
_IDENTITY = frozenset({("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")})
"""Paths a strategic-merge patch states to name the object it patches, not to set them."""


def _sets(node: Any, path: JsonPath) -> bool:
    """Whether a strategic-merge document with ``node`` at ``path`` set that value: a scalar or a
    list of scalars (replaced whole), but not what only names its target (the object's identity, a
    list item's merge key) nor a mapping or a list of mappings (merged into the origin's)."""
    if path in _IDENTITY or (len(path) > 1 and type(path[-2]) is int and path[-1] in _MERGE_KEYS):
        return False
    if isinstance(node, dict):
        return False
    return not (isinstance(node, list) and any(isinstance(item, dict) for item in node))


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
    found, best, _ = walk_to(positions, rendered, path, merge=merge)
    return found, best


def walk_to(
    positions: TablePositions, rendered: Any, path: JsonPath, *, merge: bool
) -> tuple[Position | None, Position, Any]:
    """``walk``, with the document's node at ``path`` (None when it lacks the path) third."""
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
            return None, best, None
        best = found
        node = node[key]
    return best, best, node


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

    def locate(self, rendered: Any, path: JsonPath, *, setting: bool = False) -> Located | None:
        """Where the document has ``path`` (with ``setting``, only where it set the value)."""
        found, _, node = walk_to(self.positions, rendered, path, merge=True)
        if found is None or (setting and not _sets(node, path)):
            return None
        return (self.file, *found)


@dataclass(frozen=True, slots=True)
class JsonPatch:
    """The add/replace/copy/move operations of one JSON6902 patch, last first."""

    file: str
    ops: tuple[_JsonOp, ...]

    def locate(self, rendered: Any, path: JsonPath, *, setting: bool = False) -> Located | None:
        """Where the last op that wrote ``path`` (or a subtree holding it) has it; every applied op
        sets what it writes, so ``setting`` changes nothing."""
        del setting
        for op in self.ops:
            if len(op.segments) > len(path) or not all(
                _segment_matches(p, s) for p, s in zip(op.segments, path, strict=False)
            ):
                continue
            if op.segments[-1:] == ("-",) and not _appended(op, rendered, path):
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

    def locate(self, rendered: Any, path: JsonPath, *, setting: bool = False) -> Located | None:
        found = self.patch.locate(rendered, path, setting=setting)
        return (self.file, *self.entry) if found else None


Patch = StrategicPatch | JsonPatch | InlinePatch | TransformerFields


def _appended(op: _JsonOp, rendered: Any, path: JsonPath) -> bool:
    """Whether rendered item ``path[len(op.segments) - 1]`` is the one ``op`` appended (``/-``):
    the item with the op value's merge key, else the list's last item."""
    depth = len(op.segments) - 1
    items = value_at(rendered, path[:depth])
    index = path[depth]
    if not isinstance(items, list) or not isinstance(index, int) or not 0 <= index < len(items):
        return False
    value = op.value.root if op.value is not None else None
    if isinstance(value, dict):
        for key in _MERGE_KEYS:
            if key in value:
                item = items[index]
                return isinstance(item, dict) and item.get(key) == value[key]
    return index == len(items) - 1


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


def targets(rendered: dict[str, Any], kind: object, name: object, original: str = "") -> bool:
    """Whether a patch aimed at ``kind``/``name`` (either may be absent) applies to ``rendered``,
    whose name in its origin file is ``original`` (when known).

    A name matches the original or rendered name, an affixed form of the original name within the
    rendered one (prefixes and suffixes of kustomizations in between), or as the regular expression
    kustomize allows in a target. Without ``original``, any part of the rendered name matches.
    """
    if isinstance(kind, str) and kind and kind != rendered.get("kind"):
        return False
    if not isinstance(name, str) or not name:
        return True
    meta = rendered.get("metadata")
    actual = str(meta.get("name", "")) if isinstance(meta, dict) else ""
    if name in (actual, original) or (name in actual and (not original or original in name)):
        return True
    try:
        pattern = re.compile(name)
    except re.error:
        return False
    if original:
        return bool(pattern.fullmatch(actual) or pattern.fullmatch(original))
    return pattern.search(actual) is not None


def _strategic_patches(
    file: str, documents: list[Document], rendered: dict[str, Any] | None, original: str = ""
) -> list[StrategicPatch | JsonPatch]:
    """The documents of a strategic-merge patch that apply to ``rendered`` (all when None)."""
    found: list[StrategicPatch | JsonPatch] = []
    for document in documents:
        data = document.data
        if not isinstance(data, dict) or not isinstance(document.positions, TablePositions):
            continue
        meta = data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if rendered is None or targets(rendered, data.get("kind"), name, original):
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
        original: str = "",
    ) -> list[Patch]:
        """The patches of this entry that apply to ``rendered`` (named ``original`` at its origin)."""
        if not targets(rendered, self.kind, self.name, original):
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
            found = _strategic_patches(
                file, documents, None if self.targeted else rendered, original
            )
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
    """Positions of one rendered object in its origin document, its patches and the kustomizations
    whose built-in transformers changed it (``patches``, last applied first)."""

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
        """(file, line, column) of ``path``: where the last patch or transformer that set it did,
        else in the origin, else in a patch that has it, else at its deepest ancestor in the origin
        (see the module doc)."""
        full = self.prefix + path
        rendered = self.rendered
        for patch in self.patches:
            found = patch.locate(rendered, full, setting=True)
            if found is not None:
                return found
        exact, deepest = self._origin(full)
        if exact is not None:
            return (self.file, *exact)
        for patch in self.patches:
            found = patch.locate(rendered, full)
            if found is not None:
                return found
        return (self.file, *deepest)

    def subtree(self, path: JsonPath) -> KustomizePositions:
        return KustomizePositions(
            self.file, self.origin, self.start, self.rendered, self.patches, self.prefix + path
        )

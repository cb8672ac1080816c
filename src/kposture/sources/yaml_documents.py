"""Parsing YAML and JSON text into documents whose fields know their (line, column).

Owns the located YAML loader (libyaml's ``CSafeLoader`` with constructors that record, per mapping
and sequence, where each key and item starts), the ``PositionIndex`` implementations built on it,
the limits that keep hostile input bounded (alias expansion, cycles, nesting), and the JSON fast
path. It knows nothing about Kubernetes; ``manifests`` turns documents into objects.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from kposture.model import JsonPath

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # SafeLoader only without libyaml

Position = tuple[int, int]
PositionTable = dict[int, Any]
"""id(container) -> {key: (line, column)} for mappings, [(line, column), ...] for sequences."""

MAX_EXPANDED_NODES = 1_000_000
"""More nodes than this once aliases are expanded is treated as an alias bomb."""


class DocumentError(Exception):
    """A document (or the rest of a stream) could not be parsed; ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _LocatedLoader(_BaseLoader):  # type: ignore[misc]
    """Records key and item positions into ``self.table`` while constructing a document."""

    table: PositionTable
    document_start: Position

    def construct_document(self, node: yaml.Node) -> Any:
        self.table = {}
        mark = node.start_mark
        self.document_start = (mark.line + 1, mark.column + 1)
        return super().construct_document(node)

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # Merge keys copy the merged pairs; without de-duplication, `<<: [*a, *a]` chains double
        # the pair list at each level (a merge-key bomb). Keeping the last pair per scalar key
        # preserves PyYAML's merge semantics (later pairs win).
        if not any(key.tag == "tag:yaml.org,2002:merge" for key, _ in node.value):
            return
        super().flatten_mapping(node)
        seen: set[tuple[str, str]] = set()
        kept: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in reversed(node.value):
            if isinstance(key_node, yaml.ScalarNode):
                ident = (key_node.tag, key_node.value)
                if ident in seen:
                    continue
                seen.add(ident)
            kept.append((key_node, value_node))
        kept.reverse()
        node.value = kept


def _construct_located_map(
    loader: _LocatedLoader, node: yaml.MappingNode
) -> Iterator[dict[Any, Any]]:
    data: dict[Any, Any] = {}
    yield data
    loader.flatten_mapping(node)
    marks: dict[Any, Position] = {}
    construct = loader.construct_object
    for key_node, value_node in node.value:
        key = construct(key_node, deep=False)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found unhashable key",
                key_node.start_mark,
            )
        data[key] = construct(value_node, deep=False)
        mark = key_node.start_mark
        marks[key] = (mark.line + 1, mark.column + 1)
    loader.table[id(data)] = marks


def _construct_located_seq(loader: _LocatedLoader, node: yaml.SequenceNode) -> Iterator[list[Any]]:
    data: list[Any] = []
    yield data
    construct = loader.construct_object
    marks: list[Position] = []
    for child in node.value:
        data.append(construct(child, deep=False))
        mark = child.start_mark
        marks.append((mark.line + 1, mark.column + 1))
    loader.table[id(data)] = marks


_LocatedLoader.add_constructor("tag:yaml.org,2002:map", _construct_located_map)
_LocatedLoader.add_constructor("tag:yaml.org,2002:seq", _construct_located_seq)


@dataclass(frozen=True, slots=True)
class TablePositions:
    """A ``PositionIndex`` over one parsed document (or one subtree of it, e.g. a ``List`` item)."""

    root: Any
    table: PositionTable
    start: Position

    def position(self, path: JsonPath) -> Position | None:
        node = self.root
        best = self.start
        table = self.table
        for segment in path:
            marks = table.get(id(node))
            if marks is None:
                break
            if isinstance(node, dict):
                if segment not in node or segment not in marks:
                    break
            elif not (isinstance(segment, int) and 0 <= segment < len(node)):
                break
            best = marks[segment]
            node = node[segment]
        return best

    def subtree(self, path: JsonPath) -> TablePositions:
        """The index of the node at ``path`` (which must exist), e.g. ``("items", 3)``."""
        node = self.root
        for segment in path:
            node = node[segment]
        return TablePositions(node, self.table, self.position(path) or self.start)


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed document: its data, where it starts, and its position index."""

    data: Any
    start: Position
    positions: TablePositions | LazyJsonPositions


def _mark_line(error: yaml.YAMLError) -> int:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return mark.line + 1 if mark is not None else 1


def _describe(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None)
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    problem_mark = getattr(error, "problem_mark", None)
    if context and context_mark is not None and problem_mark is not None:
        # libyaml often notices an unclosed construct far from where it began: say where it began.
        context = f"{context} started at line {context_mark.line + 1}"
    parts = [str(p) for p in (context, problem) if p]
    return "invalid YAML: " + (": ".join(parts) if parts else str(error).splitlines()[0])


def parse_yaml(text: str) -> Iterator[Document]:
    """Yield each document of a YAML stream; raise ``DocumentError`` at the first bad one.

    Documents yielded before the error are complete and safe to keep.
    """
    loader = _LocatedLoader(text)
    may_alias = "&" in text and "*" in text
    try:
        while True:
            try:
                if not loader.check_node():
                    return
                node = loader.get_node()
            except RecursionError:  # only the pure-Python fallback loader recurses
                raise DocumentError("document nested too deeply", 1) from None
            except yaml.YAMLError as error:
                raise DocumentError(_describe(error), _mark_line(error)) from None
            start = (node.start_mark.line + 1, node.start_mark.column + 1)
            try:
                data = loader.construct_document(node)
            except yaml.YAMLError as error:
                raise DocumentError(_describe(error), _mark_line(error)) from None
            if may_alias:
                check_expansion(data, start[0])
            yield Document(data, start, TablePositions(data, loader.table, start))
    finally:
        loader.dispose()


def check_expansion(data: Any, line: int) -> None:
    """Reject data that aliases turned into a cycle or into more than ``MAX_EXPANDED_NODES`` nodes.

    PyYAML shares aliased objects, so parsing is cheap but any later walk pays the full expansion;
    this computes the expanded size with one memoised, iterative walk over the shared graph.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            children = node.values() if isinstance(node, dict) else node
            total = 1
            for child in children:
                total += sizes.get(id(child), 1)
            in_progress.discard(key)
            if total > MAX_EXPANDED_NODES:
                raise DocumentError(
                    f"document expands to more than {MAX_EXPANDED_NODES:,} nodes through YAML "
                    "aliases (alias bomb); skipped",
                    line,
                )
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in in_progress:
            raise DocumentError("document contains a recursive YAML alias; skipped", line)
        in_progress.add(key)
        stack.append((node, True))
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if id(child) in in_progress:
                    raise DocumentError("document contains a recursive YAML alias; skipped", line)
                stack.append((child, False))


def parse_json(text: str) -> list[Document]:
    """Parse a JSON document; positions are computed lazily by re-reading the text as YAML.

    For a top-level object with an ``items`` array (a ``List``), each item's start is found with the
    C decoder's ``raw_decode`` so item lines are exact without a YAML parse.
    """
    try:
        data = json.loads(text)
    except RecursionError:
        raise DocumentError("document nested too deeply", 1) from None
    except json.JSONDecodeError as error:
        raise DocumentError(f"invalid JSON: {error.msg}", error.lineno) from None
    return [Document(data, (1, 1), LazyJsonPositions(text, ()))]


class LazyJsonPositions:
    """A ``PositionIndex`` for JSON text, parsed with the located loader on first use."""

    __slots__ = ("_prefix", "_resolved", "_source")

    def __init__(self, source: str | LazyJsonPositions, prefix: JsonPath) -> None:
        self._source = source
        self._prefix = prefix
        self._resolved: TablePositions | None = None

    def subtree(self, prefix: JsonPath) -> LazyJsonPositions:
        return LazyJsonPositions(self, self._prefix + prefix)

    def _document(self) -> TablePositions | None:
        if self._resolved is None:
            if isinstance(self._source, LazyJsonPositions):
                self._resolved = self._source._document()
            else:
                try:
                    first = next(parse_yaml(self._source), None)
                except DocumentError:
                    first = None
                if first is not None and isinstance(first.positions, TablePositions):
                    self._resolved = first.positions
                self._source = ""  # the text is no longer needed
        return self._resolved

    def position(self, path: JsonPath) -> Position | None:
        document = self._document()
        if document is None:
            return None
        return document.position(self._prefix + path)


def json_item_starts(text: str) -> list[Position] | None:
    """Start (line, column) of each element of a top-level object's ``items`` array, or None."""
    decoder = json.JSONDecoder()
    length = len(text)

    def skip(index: int) -> int:
        while index < length and text[index] in " \t\r\n":
            index += 1
        return index

    index = skip(0)
    if index >= length or text[index] != "{":
        return None
    index = skip(index + 1)
    try:
        while index < length and text[index] != "}":
            key, index = decoder.raw_decode(text, index)
            index = skip(index)
            if text[index] != ":":
                return None
            index = skip(index + 1)
            if key == "items" and text.startswith("[", index):
                return _array_item_starts(text, index, decoder, skip)
            _, index = decoder.raw_decode(text, index)
            index = skip(index)
            if text.startswith(",", index):
                index = skip(index + 1)
    except (ValueError, IndexError, RecursionError):
        return None
    return None


def _array_item_starts(
    text: str, index: int, decoder: json.JSONDecoder, skip: Any
) -> list[Position]:
    offsets: list[int] = []
    index = skip(index + 1)
    while index < len(text) and text[index] != "]":
        offsets.append(index)
        _, index = decoder.raw_decode(text, index)
        index = skip(index)
        if text.startswith(",", index):
            index = skip(index + 1)
    starts: list[Position] = []
    line, last_newline, scanned = 1, -1, 0
    for offset in offsets:
        line += text.count("\n", scanned, offset)
        last_newline = text.rfind("\n", 0, offset)
        scanned = offset
        starts.append((line, offset - last_newline))
    return starts

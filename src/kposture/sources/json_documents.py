"""Parsing JSON manifests: the C decoder for the data, positions only when a finding needs them.

Owns the JSON fast path of ``manifests``: ``parse_json`` (one document, positions computed lazily by
re-reading the text with the located YAML loader, since JSON is YAML) and ``json_item_starts``
(exact item lines of a ``List`` without any YAML parse). Positions inside an item of a ``List``
(``subtree(("items", i))``) re-read only that item's text, found with the C decoder: a finding
in a list of 50,000 objects no longer parses the whole file with the located loader, nor keeps
a position table of every item.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from kposture.model import JsonPath
from kposture.sources.json_errors import json_error_text
from kposture.sources.yaml_documents import (
    Document,
    DocumentError,
    Position,
    TablePositions,
    parse_yaml,
)


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
        where = f"line {error.lineno} column {error.colno}"
        raise DocumentError(
            f"invalid JSON: {json_error_text(error, where)}", error.lineno
        ) from None
    return [Document(data, (1, 1), LazyJsonPositions(text, ()))]


class LazyJsonPositions:
    """A ``PositionIndex`` for JSON text, parsed with the located loader on first use."""

    __slots__ = ("_items", "_prefix", "_resolved", "_source")

    def __init__(self, source: str | LazyJsonPositions, prefix: JsonPath) -> None:
        self._source = source
        self._prefix = prefix
        self._resolved: TablePositions | None = None
        self._items: list[_ItemSpan] | None = None

    def subtree(self, prefix: JsonPath) -> LazyJsonPositions | JsonItemPositions:
        if (
            not self._prefix
            and len(prefix) == 2
            and prefix[0] == "items"
            and type(prefix[1]) is int
            and isinstance(self._source, str)
        ):
            return JsonItemPositions(self, prefix[1], ())
        return LazyJsonPositions(self, self._prefix + prefix)

    def _item(self, index: int) -> _ItemSpan | None:
        """Where item ``index`` of the top-level ``items`` array is in the text (found once for
        every item, on first use), or None when the text is not such a list (or is released)."""
        if self._items is None:
            text = self._source if isinstance(self._source, str) else ""
            self._items = _item_spans(text) or []
        return self._items[index] if 0 <= index < len(self._items) else None

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


class JsonItemPositions:
    """The ``PositionIndex`` of one item of a JSON ``List`` (and a ``prefix`` within it): on first
    use the item's own text is read with the located loader and its positions shifted to where
    the item starts in the file; when the item cannot be found so, the whole document's index
    answers (as for any JSON document)."""

    __slots__ = ("_index", "_list", "_prefix", "_resolved")

    def __init__(self, of: LazyJsonPositions, index: int, prefix: JsonPath) -> None:
        self._list = of
        self._index = index
        self._prefix = prefix
        self._resolved: _ShiftedPositions | None = None

    def subtree(self, prefix: JsonPath) -> JsonItemPositions:
        return JsonItemPositions(self._list, self._index, self._prefix + prefix)

    def release(self) -> None:
        """Forget the item's positions (read again from its text if asked again): the engine
        calls it once the object's findings are located, so a scan does not keep a located copy
        of every item that has a finding."""
        self._resolved = None

    def position(self, path: JsonPath) -> Position | None:
        if self._resolved is None:
            self._resolved = _item_positions(self._list, self._index)
        if self._resolved.table is None:
            return self._list.position(("items", self._index, *self._prefix, *path))
        return self._resolved.position(self._prefix + path)


class _ItemSpan(NamedTuple):
    begin: int
    end: int
    start: Position


class _ShiftedPositions:
    """An item's positions, read from its own text, moved to where it starts in the file."""

    __slots__ = ("start", "table")

    def __init__(self, table: TablePositions | None, start: Position) -> None:
        self.table = table
        self.start = start

    def position(self, path: JsonPath) -> Position | None:
        assert self.table is not None
        found = self.table.position(path)
        if found is None:
            return None
        line, column = found
        if line == 1:
            return (self.start[0], column + self.start[1] - 1)
        return (line + self.start[0] - 1, column)


def _item_positions(of: LazyJsonPositions, index: int) -> _ShiftedPositions:
    """Item ``index``'s positions (``table`` None when they must come from the whole document)."""
    span = of._item(index)
    if span is None or not isinstance(of._source, str):
        return _ShiftedPositions(None, (1, 1))
    try:
        first = next(parse_yaml(of._source[span.begin : span.end]), None)
    except DocumentError:
        first = None
    table = first.positions if first is not None else None
    if not isinstance(table, TablePositions):
        return _ShiftedPositions(None, (1, 1))
    return _ShiftedPositions(table, span.start)


def _item_spans(text: str) -> list[_ItemSpan] | None:
    """Offsets (begin, end) and start (line, column) of each element of a top-level object's
    ``items`` array, or None."""
    offsets = _array_offsets(text)
    if offsets is None:
        return None
    return [
        _ItemSpan(begin, end, start)
        for (begin, end), start in zip(offsets, _starts(text, offsets), strict=True)
    ]


def json_item_starts(text: str) -> list[Position] | None:
    """Start (line, column) of each element of a top-level object's ``items`` array, or None."""
    offsets = _array_offsets(text)
    return None if offsets is None else _starts(text, offsets)


def _array_offsets(text: str) -> list[tuple[int, int]] | None:
    """(begin, end) offsets of each element of a top-level object's ``items`` array, or None."""
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
                return _array_item_offsets(text, index, decoder, skip)
            _, index = decoder.raw_decode(text, index)
            index = skip(index)
            if text.startswith(",", index):
                index = skip(index + 1)
    except (ValueError, IndexError, RecursionError):
        return None
    return None


def _array_item_offsets(
    text: str, index: int, decoder: json.JSONDecoder, skip: Any
) -> list[tuple[int, int]]:
    offsets: list[tuple[int, int]] = []
    index = skip(index + 1)
    while index < len(text) and text[index] != "]":
        begin = index
        _, index = decoder.raw_decode(text, index)
        offsets.append((begin, index))
        index = skip(index)
        if text.startswith(",", index):
            index = skip(index + 1)
    return offsets


def _starts(text: str, offsets: list[tuple[int, int]]) -> list[Position]:
    """The (line, column) of each ``begin`` offset."""
    starts: list[Position] = []
    line, last_newline, scanned = 1, -1, 0
    for offset, _ in offsets:
        line += text.count("\n", scanned, offset)
        last_newline = text.rfind("\n", 0, offset)
        scanned = offset
        starts.append((line, offset - last_newline))
    return starts

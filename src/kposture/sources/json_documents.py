"""Parsing JSON manifests: the C decoder for the data, positions only when a finding needs them.

Owns the JSON fast path of ``manifests``: ``parse_json`` (one document, positions computed lazily by
re-reading the text with the located YAML loader, since JSON is YAML) and ``json_item_starts``
(exact item lines of a ``List`` without any YAML parse).
"""

from __future__ import annotations

import json
from typing import Any

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

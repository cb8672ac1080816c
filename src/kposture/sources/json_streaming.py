"""A stream of JSON documents read piece by piece, never a document whole: the members of a top-level
object one by one, and the elements of its batch arrays (or of a top-level array) one at a time,
each with the line it starts on. An element or the other members of an object over the size limit
are read past and reported as oversized, never held whole.

Only the bounds of an element are found here, by a scan of its brackets and strings (regular
expressions, so the bytes between brackets cost no Python step); the element itself is parsed by
``json.loads``, which checks it. Anything else that is not JSON (a missing comma, a cut document, a
raw newline inside a string) raises ``JsonStreamError`` with the line where it was found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from kposture.sources.json_errors import json_error_text

_CHUNK = 1 << 16
_NOT_SPACE = re.compile(rb"[^ \t\r\n]")
_STRING = rb'"[^"\\\n]*+(?:\\[^\n][^"\\\n]*+)*+"'
_STRING_REST = re.compile(rb'[^"\\\n]*+(?:\\[^\n][^"\\\n]*+)*+')
"""The inside of a string from a position in it: up to its closing quote, a raw newline, a
backslash at the end of the bytes read so far, or the end of the bytes."""
_SKIP = re.compile(rb'(?:[^"{}\[\]]++|' + _STRING + rb")*+")
"""Everything up to the next bracket, whole strings included; stops at the quote of a string not
closed in the bytes read so far."""
_SCALAR = re.compile(rb"[^ \t\r\n,:\[\]{}\"]*+")


def _nested(depth: int) -> bytes:
    """An object or array nested at most ``depth`` levels deeper, as a pattern."""
    inside = rb'[^"{}\[\]]++|' + _STRING
    if depth:
        inside += b"|" + _nested(depth - 1)
    return rb"(?:\{(?:" + inside + rb")*+\}|\[(?:" + inside + rb")*+\])"


_WHOLE_CONTAINER = re.compile(_nested(6))
"""A whole object or array at most 7 levels deep, matched in one step (most events are); deeper
ones, and those not all read yet, are scanned bracket by bracket."""
_OPEN, _CLOSE, _QUOTE = frozenset(b"{["), frozenset(b"}]"), ord('"')


def _end(pattern: re.Pattern[bytes], data: bytearray, position: int) -> int:
    """Where ``pattern`` (which matches the empty string too, so always matches) ends."""
    found = pattern.match(data, position)
    return position if found is None else found.end()


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class JsonStreamError(ValueError):
    """Not JSON, or cut short (``truncated``), at ``line``."""

    def __init__(self, message: str, line: int, *, truncated: bool = False) -> None:
        super().__init__(message)
        self.line = line
        self.truncated = truncated


@dataclass(frozen=True, slots=True)
class BatchStart:
    """A document's batch array begins: ``key`` is the member holding it (``""`` for a top-level
    array) and ``head`` the members of the object read before it."""

    key: str
    head: dict[str, Any]
    line: int
    """The line the document starts on."""


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One element of the current batch array: its value, or ``oversized`` (the value is then
    None) when it is longer than the limit."""

    index: int
    line: int
    value: Any
    oversized: bool = False


@dataclass(frozen=True, slots=True)
class DocumentEnd:
    """A document ends. ``members``: a top-level object's members other than its batch arrays
    (None when they are together over the limit; empty for an array); ``batched``: whether it
    had a batch array (or was one)."""

    line: int
    """The line the document starts on."""
    members: dict[str, Any] | None
    batched: bool


DocumentPart = BatchStart | BatchItem | DocumentEnd


def json_documents(
    stream: Readable,
    *,
    prefix: bytes = b"",
    max_bytes: int,
    batch_keys: Collection[str],
) -> Iterator[DocumentPart]:
    """The parts of every JSON document (an object or an array) in ``prefix`` followed by
    ``stream``, in order; lines are counted from 1 at the start of ``prefix``. Members named in
    ``batch_keys`` whose value is an array are given element by element; each element, and the
    other members of an object together, are held only up to ``max_bytes``."""
    return _Scanner(stream, prefix, max_bytes).documents(frozenset(batch_keys))


class _Scanner:
    def __init__(self, stream: Readable, prefix: bytes, max_bytes: int) -> None:
        self.stream = stream
        self.data = bytearray(prefix)
        self.pos = 0
        self.eof = False
        self.max_bytes = max_bytes
        self.mark: int | None = None
        """Where the value being held starts; None when nothing is held."""
        self.limit = 0
        self.oversized = False
        self._counted = 0
        self._line = 1

    # --- the bytes --------------------------------------------------------------------------

    def line_at(self, position: int) -> int:
        """The line of ``position`` (positions asked for only grow)."""
        self._line += self.data.count(b"\n", self._counted, position)
        self._counted = position
        return self._line

    def fill(self) -> bool:
        """Read more of the stream, dropping what is no longer needed; False at its end."""
        if self.eof:
            return False
        if self.mark is not None and len(self.data) - self.mark > self.limit:
            self.mark, self.oversized = None, True
        keep = self.pos if self.mark is None else self.mark
        if keep:
            self.line_at(keep)
            del self.data[:keep]
            self.pos -= keep
            self._counted -= keep
            if self.mark is not None:
                self.mark -= keep
        chunk = self.stream.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.data += chunk
        return True

    def peek(self) -> int | None:
        """The next byte that is not white space (``pos`` moves to it), or None at the end."""
        while True:
            found = _NOT_SPACE.search(self.data, self.pos)
            if found is not None:
                self.pos = found.start()
                return self.data[self.pos]
            self.pos = len(self.data)
            if not self.fill():
                return None

    def error(self, message: str) -> JsonStreamError:
        return JsonStreamError(message, self.line_at(self.pos))

    def cut(self, what: str) -> JsonStreamError:
        return JsonStreamError(f"{what} ends early", self.line_at(self.pos), truncated=True)

    def found(self) -> str:
        return f"found {chr(self.data[self.pos])!r}"

    # --- values -------------------------------------------------------------------------------

    def value(self, limit: int) -> bytes | None:
        """The bytes of the value at ``pos`` (``pos`` moves past it), or None when it is longer
        than ``limit``."""
        self.mark, self.limit, self.oversized = self.pos, limit, False
        start_line = self.line_at(self.pos)
        first = self.data[self.pos]
        if first in _CLOSE or first in b",:":
            raise self.error(f"expected a value, {self.found()}")
        try:
            if first in _OPEN:
                self._container()
            elif first == _QUOTE:
                self._string()
            else:
                self._scalar()
        except JsonStreamError as error:
            if not error.truncated:
                raise
            raise JsonStreamError(
                f"the item or member that starts on line {start_line} ends early ({error})",
                error.line,
                truncated=True,
            ) from None
        mark, self.mark = self.mark, None
        if self.oversized or mark is None or self.pos - mark > limit:
            return None
        return bytes(self.data[mark : self.pos])

    def _container(self) -> None:
        whole = _WHOLE_CONTAINER.match(self.data, self.pos)
        if whole is not None:
            self.pos = whole.end()
            return
        depth = 0
        while True:
            self.pos = _end(_SKIP, self.data, self.pos)
            if self.pos >= len(self.data):
                if not self.fill():
                    open_ = f"{depth} bracket{'s' if depth > 1 else ''} still open"
                    raise JsonStreamError(open_, self.line_at(self.pos), truncated=True)
                continue
            byte = self.data[self.pos]
            if byte == _QUOTE:
                self._string()
                continue
            self.pos += 1
            depth += 1 if byte in _OPEN else -1
            if depth == 0:
                return

    def _string(self) -> None:
        self.pos += 1
        while True:
            self.pos = _end(_STRING_REST, self.data, self.pos)
            if self.pos < len(self.data):
                byte = self.data[self.pos]
                if byte == _QUOTE:
                    self.pos += 1
                    return
                if byte == ord("\n") or self.pos + 1 < len(self.data):
                    raise self.error("a string holds a raw line break (a cut or broken string)")
            if not self.fill():
                raise self.cut("a string")

    def _scalar(self) -> None:
        while True:
            self.pos = _end(_SCALAR, self.data, self.pos)
            if self.pos < len(self.data) or not self.fill():
                return

    def parsed(self, data: bytes, line: int) -> Any:
        try:
            return json.loads(data)
        except json.JSONDecodeError as error:
            raise JsonStreamError(
                "not JSON: "
                + json_error_text(error, f"line {line + error.lineno - 1} column {error.colno}"),
                line + error.lineno - 1,
            ) from None
        except ValueError:
            raise JsonStreamError("not UTF-8 text", line) from None

    def expect(self, byte: bytes, what: str) -> None:
        found = self.peek()
        if found is None:
            raise self.cut(what)
        if found != byte[0]:
            raise self.error(f"expected {byte.decode()!r} {what}, {self.found()}")
        self.pos += 1

    # --- documents -------------------------------------------------------------------------------

    def documents(self, batch_keys: frozenset[str]) -> Iterator[DocumentPart]:
        while True:
            first = self.peek()
            if first is None:
                return
            line = self.line_at(self.pos)
            if first == ord("["):
                yield BatchStart("", {}, line)
                yield from self._items(line)
                yield DocumentEnd(line, {}, batched=True)
            elif first == ord("{"):
                yield from self._object(line, batch_keys)
            else:
                raise self.error(f"expected a JSON object or array, {self.found()}")

    def _object(self, line: int, batch_keys: frozenset[str]) -> Iterator[DocumentPart]:
        self.pos += 1
        members: dict[str, Any] = {}
        size, oversized, batched = 0, False, False
        following = self.peek()
        if following == ord("}"):
            self.pos += 1
            yield DocumentEnd(line, members, batched=False)
            return
        while True:
            if following is None:
                raise self.cut(f"the document that starts on line {line}")
            if following != _QUOTE:
                raise self.error(f"expected a member name, {self.found()}")
            key_line = self.line_at(self.pos)
            name = self.value(self.max_bytes)
            if name is None:
                raise JsonStreamError("a member name over the size limit", key_line)
            key = self.parsed(name, key_line)
            self.expect(b":", f"after the member name {key!r}")
            value_start = self.peek()
            if value_start is None:
                raise self.cut(f"the document that starts on line {line}")
            if key in batch_keys and value_start == ord("["):
                batched = True
                yield BatchStart(key, dict(members), line)
                yield from self._items(line)
            else:
                value_line = self.line_at(self.pos)
                data = self.value(self.max_bytes - size)
                if data is None:
                    oversized = True
                else:
                    size += len(data)
                    members[key] = self.parsed(data, value_line)
            following = self.peek()
            if following == ord(","):
                self.pos += 1
                following = self.peek()
                continue
            if following == ord("}"):
                self.pos += 1
                yield DocumentEnd(line, None if oversized else members, batched)
                return
            if following is None:
                raise self.cut(f"the document that starts on line {line}")
            raise self.error(f"expected ',' or '}}' after a member, {self.found()}")

    def _items(self, line: int) -> Iterator[BatchItem]:
        self.pos += 1
        following = self.peek()
        if following == ord("]"):
            self.pos += 1
            return
        index = 0
        while True:
            if following is None:
                raise self.cut(f"the document that starts on line {line}")
            item_line = self.line_at(self.pos)
            data = self.value(self.max_bytes)
            if data is None:
                yield BatchItem(index, item_line, None, oversized=True)
            else:
                yield BatchItem(index, item_line, self.parsed(data, item_line))
            index += 1
            following = self.peek()
            if following == ord(","):
                self.pos += 1
                following = self.peek()
                continue
            if following == ord("]"):
                self.pos += 1
                return
            if following is None:
                raise self.cut(f"the document that starts on line {line}")
            raise self.error(f"expected ',' or ']' after an item, {self.found()}")

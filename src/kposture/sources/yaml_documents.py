"""Parsing YAML text into documents whose fields know their (line, column).

Owns the located YAML loader (libyaml's ``CSafeLoader`` with constructors that record, per mapping
and sequence, where each key and item starts), the ``PositionIndex`` built on it, the limits that
keep hostile input bounded (alias expansion, cycles, nesting), and recovery from broken documents
(``parse_yaml_recovering`` resumes at the next ``---`` line). It knows nothing about Kubernetes;
``manifests`` turns documents into objects, ``json_documents`` holds the JSON fast path.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import yaml

from kposture.model import JsonPath

if TYPE_CHECKING:
    from kposture.sources.json_documents import LazyJsonPositions

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # SafeLoader only without libyaml

Position = tuple[int, int]


class PositionTable:
    """Where each key and item of one document starts, packed to keep large inputs small.

    ``marks`` holds one ``line << 32 | column`` per key (in the mapping's key order) or item, each
    container's run contiguous and a mapping's run led by its size; ``offsets`` maps
    ``id(container)`` to the start of its run. A mapping's key is found by its place in key order,
    so a mapping whose size changed since parsing (data is never meant to change) counts as unknown
    rather than mislocated.
    """

    __slots__ = ("key_order", "marks", "offsets")

    def __init__(self) -> None:
        self.marks = array("Q")
        self.offsets: dict[int, int] = {}
        self.key_order: dict[int, dict[Any, int]] = {}
        """Per mapping looked up at least once: key -> place in key order (built on first use, so
        only mappings that findings point into pay for it)."""

    def add(self, container: dict[Any, Any] | list[Any], marks: list[int]) -> None:
        self.offsets[id(container)] = len(self.marks)
        self.marks.extend(marks)

    def of(self, container: Any, key: Any) -> Position | None:
        """(line, column) of ``container[key]`` (a key of a mapping, an index of a list), if known."""
        offset = self.offsets.get(id(container))
        if offset is None:
            return None
        if isinstance(container, dict):
            if self.marks[offset] != len(container):
                return None
            index = self._key_place(container).get(key)
            if index is None:
                return None
        elif isinstance(key, int) and 0 <= key < len(container):
            index = key
        else:
            return None
        packed = self.marks[offset + index]
        return (packed >> 32, packed & 0xFFFFFFFF)

    def _key_place(self, mapping: dict[Any, Any]) -> dict[Any, int]:
        order = self.key_order.get(id(mapping))
        if order is None:
            order = {name: number for number, name in enumerate(mapping, start=1)}
            self.key_order[id(mapping)] = order
        return order


MAX_EXPANDED_NODES = 1_000_000
"""More nodes than this once aliases are expanded is treated as an alias bomb."""


class DocumentError(Exception):
    """A document (or the rest of a stream) could not be parsed; ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


_PLAIN_SCALAR_TAGS: dict[str, str] = {}
"""Resolved tags of plain scalars seen before: manifests repeat the same keys and values endlessly."""
_PLAIN_SCALAR_CACHE_LIMIT = 50_000
_SHARED_STRING_LENGTH = 64


class _LocatedLoader(_BaseLoader):  # type: ignore[misc]
    """libyaml composes the node graph; ``_DocumentBuilder`` turns it into data and positions."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            tag = _PLAIN_SCALAR_TAGS.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_PLAIN_SCALAR_TAGS) >= _PLAIN_SCALAR_CACHE_LIMIT:
                    _PLAIN_SCALAR_TAGS.clear()
                _PLAIN_SCALAR_TAGS[value] = tag
            return tag
        return str(super().resolve(kind, value, implicit))

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # Merge keys copy the merged pairs; without de-duplication, `<<: [*a, *a]` chains double
        # the pair list at each level (a merge-key bomb). Keeping the last pair per scalar key
        # preserves PyYAML's merge semantics (later pairs win).
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


class _DocumentBuilder:
    """Builds Python data from a composed node graph, recording where each key and item starts.

    Faster than PyYAML's generic constructor (no generator per container, plain strings taken
    straight from the node) while keeping SafeLoader's results: scalars other than plain strings go
    through SafeLoader's own constructors, unknown tags raise as they would there. With aliases in
    the text, shared nodes build to shared objects (never expanded here; ``check_expansion`` bounds
    them afterwards).
    """

    __slots__ = ("constructors", "line_base", "loader", "may_merge", "memo", "strings", "table")

    def __init__(
        self,
        loader: _LocatedLoader,
        may_alias: bool,
        may_merge: bool,
        strings: dict[str, str],
        line_offset: int = 0,
    ) -> None:
        self.loader = loader
        self.line_base = line_offset + 1
        """Added to the loader's 0-based lines: a loader resumed after a broken document starts
        counting at its own first line."""
        self.may_merge = may_merge
        self.constructors = loader.yaml_constructors
        self.table = PositionTable()
        self.memo: dict[int, Any] | None = {} if may_alias else None
        self.strings = strings

    def build(self, node: yaml.Node) -> Any:
        cls = node.__class__
        if cls is yaml.ScalarNode:
            if node.tag == _STR:
                value = node.value
                # Manifests repeat the same short values endlessly ("TCP", "v1", image names):
                # one string object per distinct value keeps large inputs small.
                if len(value) <= _SHARED_STRING_LENGTH:
                    return self.strings.setdefault(value, value)
                return value
            constructor = self.constructors.get(node.tag)
            if constructor is None:
                return self.loader.construct_undefined(node)
            try:
                return constructor(self.loader, node)
            except (ValueError, TypeError, AttributeError, OverflowError):
                # e.g. `!!int abc`: PyYAML raises a plain error quoting the value; never echo it.
                tag = node.tag.replace("tag:yaml.org,2002:", "!!")
                raise yaml.constructor.ConstructorError(
                    None, None, f"value does not match its {tag} tag", node.start_mark
                ) from None
        memo = self.memo
        if memo is not None and id(node) in memo:
            return memo[id(node)]
        if cls is yaml.MappingNode and node.tag == _MAP:
            data: Any = self._mapping(cast(yaml.MappingNode, node), memo)
        elif cls is yaml.SequenceNode and node.tag == _SEQ:
            data = self._sequence(cast(yaml.SequenceNode, node), memo)
        else:  # !!omap, !!set, !!pairs, or a tag SafeLoader rejects
            data = self.loader.construct_object(node, deep=True)
        return data

    def _mapping(self, node: yaml.MappingNode, memo: dict[int, Any] | None) -> dict[Any, Any]:
        data: dict[Any, Any] = {}
        if memo is not None:
            memo[id(node)] = data
        pairs = node.value
        if self.may_merge and any(key.tag == _MERGE for key, _ in pairs):
            self.loader.flatten_mapping(node)
            pairs = node.value
        marks: list[int] = [0]  # the size, then one mark per key
        append = marks.append
        build = self.build
        strings = self.strings
        base = self.line_base
        for key_node, value_node in pairs:
            if key_node.__class__ is yaml.ScalarNode and key_node.tag == _STR:
                key = key_node.value
                key = strings.setdefault(key, key)
            else:
                key = build(key_node)
                if not isinstance(key, Hashable):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        "found unhashable key",
                        key_node.start_mark,
                    )
            if key in data:  # a duplicate key: the last one wins, in the first one's place
                mark = key_node.start_mark
                marks[1 + list(data).index(key)] = ((mark.line + base) << 32) | (mark.column + 1)
                data[key] = build(value_node)
                continue
            data[key] = build(value_node)
            mark = key_node.start_mark
            append(((mark.line + base) << 32) | (mark.column + 1))
        marks[0] = len(data)
        self.table.add(data, marks)
        return data

    def _sequence(self, node: yaml.SequenceNode, memo: dict[int, Any] | None) -> list[Any]:
        data: list[Any] = []
        if memo is not None:
            memo[id(node)] = data
        marks: list[int] = []
        append = marks.append
        build = self.build
        base = self.line_base
        for child in node.value:
            data.append(build(child))
            mark = child.start_mark
            append(((mark.line + base) << 32) | (mark.column + 1))
        self.table.add(data, marks)
        return data


@dataclass(frozen=True, slots=True)
class TablePositions:
    """A ``PositionIndex`` over one parsed document (or one subtree of it, e.g. a ``List`` item)."""

    root: Any
    table: PositionTable
    start: Position

    def position(self, path: JsonPath) -> Position | None:
        # ``PositionTable.of`` inlined: this runs once per finding, tens of thousands of times.
        node = self.root
        best = self.start
        table = self.table
        offsets, marks = table.offsets, table.marks
        for segment in path:
            offset = offsets.get(id(node))
            if offset is None:
                break
            if type(node) is dict:
                if marks[offset] != len(node):
                    break
                index = table._key_place(node).get(segment)
                if index is None:
                    break
            elif type(node) is list and type(segment) is int and 0 <= segment < len(node):
                index = segment
            else:
                break
            packed = marks[offset + index]
            best = (packed >> 32, packed & 0xFFFFFFFF)
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


def yaml_error_line(error: yaml.YAMLError) -> int:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return mark.line + 1 if mark is not None else 1


def describe_yaml_error(error: yaml.YAMLError, line_offset: int = 0) -> str:
    """The message of a YAML error, without user data; ``line_offset`` is added to line numbers."""
    problem = getattr(error, "problem", None)
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    problem_mark = getattr(error, "problem_mark", None)
    if context and context_mark is not None and problem_mark is not None:
        # libyaml often notices an unclosed construct far from where it began: say where it began.
        context = f"{context} started at line {context_mark.line + 1 + line_offset}"
    if problem and str(problem).startswith("could not determine a constructor for the tag"):
        # The tag text is user data: an unquoted value starting with "!" (a password, say) parses
        # as a tag, so it is never echoed.
        problem = "unknown YAML tag (quote values that start with '!')"
    parts = [str(p) for p in (context, problem) if p]
    return "invalid YAML: " + (": ".join(parts) if parts else "could not parse the document")


def parse_yaml(text: str) -> Iterator[Document]:
    """Yield each document of a YAML stream; raise ``DocumentError`` at the first bad one.

    Documents yielded before the error are complete and safe to keep.
    """
    for item in _documents(text, recover=False):
        if isinstance(item, DocumentError):
            raise item
        yield item


def parse_yaml_recovering(text: str) -> Iterator[Document | DocumentError]:
    """Yield each document of a YAML stream, and a ``DocumentError`` for each broken one.

    A document that parses but cannot be built (a bad tag, an alias bomb) costs only itself. After
    a syntax error the parser's state is lost, so parsing resumes at the first document separator
    (``---`` at the start of a line) on or after the error's line, with a new parser reading the
    text from there (never from the start again, so the work stays linear however many documents
    are broken). After ``MAX_BROKEN_DOCUMENTS`` errors the rest of the stream is given up.
    """
    return _documents(text, recover=True)


MAX_BROKEN_DOCUMENTS = 100
"""Broken documents reported per stream before the rest of it is skipped."""
_SEPARATOR = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)
_WINDOW_CHUNK = 4096


class _Window:
    """The text from ``offset`` on, read in small chunks: a resumed parser neither copies the rest
    of a large text up front nor decodes far ahead of a document that may break again."""

    __slots__ = ("offset", "text")

    def __init__(self, text: str, offset: int) -> None:
        self.text = text
        self.offset = offset

    def read(self, size: int = -1) -> str:
        start = self.offset
        end = len(self.text) if size < 0 else start + max(1, min(size, _WINDOW_CHUNK))
        self.offset = min(end, len(self.text))
        return self.text[start:end]


def _resume_point(text: str, offset: int, line_offset: int, error_line: int) -> tuple[int, int]:
    """(offset, 0-based line) of the first separator on or after ``error_line`` and after
    ``offset`` (so each resumption moves forward), or (-1, 0) when there is none."""
    line, counted = line_offset + 1, offset
    for match in _SEPARATOR.finditer(text, offset + 1):
        line += text.count("\n", counted, match.start())
        counted = match.start()
        if line >= error_line:
            return match.start(), line - 1
    return -1, 0


class _StreamBroken(DocumentError):
    """A syntax error: the parser's state is lost, reading goes on only from a new parser."""


@dataclass(slots=True)
class _Shared:
    """What every parser of one stream shares: its alias and merge-key hints and string pool."""

    may_alias: bool
    may_merge: bool
    strings: dict[str, str]


def _documents(text: str, *, recover: bool) -> Iterator[Document | DocumentError]:
    """Documents and errors of a stream; without ``recover``, stop after the first error."""
    shared = _Shared("&" in text and "*" in text, "<<" in text, {})
    offset, line_offset, broken = 0, 0, 0
    while True:
        loader = _LocatedLoader(text if offset == 0 else _Window(text, offset))
        lost_at = 0
        try:
            for item in _segment(loader, line_offset, shared):
                if isinstance(item, DocumentError):
                    broken += 1
                    if broken > MAX_BROKEN_DOCUMENTS:
                        message = f"more than {MAX_BROKEN_DOCUMENTS} broken documents; rest skipped"
                        yield DocumentError(message, item.line)
                        return
                    if isinstance(item, _StreamBroken):
                        lost_at = item.line
                        yield DocumentError(item.message, item.line)
                    else:
                        yield item
                    if not recover:
                        return
                else:
                    yield item
        finally:
            loader.dispose()
        if not lost_at:
            return
        offset, line_offset = _resume_point(text, offset, line_offset, lost_at)
        if offset < 0:
            return


def _segment(
    loader: _LocatedLoader, line_offset: int, shared: _Shared
) -> Iterator[Document | DocumentError]:
    """What one parser reads: documents, errors of documents it read whole, and last (if any) the
    ``_StreamBroken`` it stopped at."""
    while True:
        try:
            if not loader.check_node():
                return
            node = loader.get_node()
        except RecursionError:  # only the pure-Python fallback loader recurses
            yield DocumentError("document nested too deeply", line_offset + 1)
            return  # where the document ends is unknown: nothing to resume from
        except yaml.YAMLError as error:
            line = yaml_error_line(error) + line_offset
            yield _StreamBroken(describe_yaml_error(error, line_offset), line)
            return
        start = (node.start_mark.line + 1 + line_offset, node.start_mark.column + 1)
        builder = _DocumentBuilder(
            loader, shared.may_alias, shared.may_merge, shared.strings, line_offset
        )
        try:
            data = builder.build(node)
            if shared.may_alias:
                check_expansion(data, start[0])
        except yaml.YAMLError as error:
            line = yaml_error_line(error) + line_offset
            yield DocumentError(describe_yaml_error(error, line_offset), line)
        except RecursionError:
            yield DocumentError("document nested too deeply", start[0])
        except DocumentError as error:
            yield error
        else:
            yield Document(data, start, TablePositions(data, builder.table, start))


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

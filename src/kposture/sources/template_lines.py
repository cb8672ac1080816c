"""Mapping a JSON path of a rendered object to a line of its source template (Helm) or file.

Rendered text has no useful line numbers for users, so this walks the *template's* lines looking
for the path's keys in order: each next key on a later line, indented deeper than the previous
match, as ``key:`` or ``- key:``; list indexes count ``- `` items at the next level (and are
skipped when the template builds the list in a loop). The result is the line of the deepest key
found, else the object's first line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from kposture.model import JsonPath

_DOC_SEPARATOR = re.compile(r"^---(\s|$)")
_KIND = re.compile(r"""^kind:\s*["']?([A-Za-z0-9]+)""")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _ignorable(stripped: str) -> bool:
    return not stripped or stripped.startswith(("#", "{{"))


def _key_column(line: str, key: str) -> int | None:
    """0-based column of ``key`` if the line is ``key:``/``- key:`` (maybe quoted), else None."""
    column = _indent(line)
    rest = line[column:]
    while rest.startswith("- "):
        stripped = rest[2:].lstrip(" ")
        column += len(rest) - len(stripped)
        rest = stripped
    for candidate in (key, f'"{key}"', f"'{key}'"):
        if rest.startswith(candidate) and rest[len(candidate) :].lstrip(" ").startswith(":"):
            return column
    return None


@dataclass(frozen=True, slots=True)
class TemplateSection:
    """The lines of one source document inside a template: ``lines[first:end]`` (0-based)."""

    lines: tuple[str, ...]
    first: int
    end: int
    prefix: JsonPath = ()

    @property
    def start(self) -> tuple[int, int]:
        """(line, column) of the object's first content line, 1-based."""
        for index in range(self.first, self.end):
            stripped = self.lines[index].strip()
            if not _ignorable(stripped) and not _DOC_SEPARATOR.match(stripped):
                return (index + 1, _indent(self.lines[index]) + 1)
        return (self.first + 1, 1)

    def position(self, path: JsonPath) -> tuple[int, int] | None:
        return line_of_path(self, self.prefix + path)

    def subtree(self, path: JsonPath) -> TemplateSection:
        return replace(self, prefix=self.prefix + path)


def split_sections(text: str) -> list[TemplateSection]:
    """Split a template into its ``---``-separated documents (sections without content dropped)."""
    lines = tuple(text.splitlines())
    bounds = [i for i, line in enumerate(lines) if _DOC_SEPARATOR.match(line)]
    starts = [0, *(b + 1 for b in bounds)]
    ends = [*bounds, len(lines)]
    sections = []
    for first, end in zip(starts, ends, strict=True):
        if any(not _ignorable(lines[i].strip()) for i in range(first, end)):
            sections.append(TemplateSection(lines, first, end))
    return sections


def section_for(
    sections: list[TemplateSection], kind: str, used: set[int]
) -> TemplateSection | None:
    """The first unused section whose top-level ``kind:`` is ``kind`` (or any unused one)."""
    fallback = None
    for number, section in enumerate(sections):
        if number in used:
            continue
        for index in range(section.first, section.end):
            match = _KIND.match(section.lines[index])
            if match and match.group(1) == kind:
                used.add(number)
                return section
        if fallback is None:
            fallback = number
    if fallback is not None:
        used.add(fallback)
        return sections[fallback]
    return sections[0] if sections else None


def line_of_path(section: TemplateSection, path: JsonPath) -> tuple[int, int]:
    """(line, column) in the template of the deepest key of ``path`` found (see module doc)."""
    lines = section.lines
    best = section.start
    cursor = best[0] - 2  # index of the line before the search starts
    parent_indent = -1
    item_line = -1
    for segment in path:
        if isinstance(segment, int):
            found = _nth_item(lines, cursor, section.end, parent_indent, segment)
            if found == _LOOP:
                continue  # items made by a template loop: keep looking for the following keys
            if found == _MISSING:
                break
            assert isinstance(found, tuple)
            best = (found[0] + 1, found[1] + 3)
            cursor, parent_indent = found[0] - 1, found[1]
            item_line = found[0]
            continue
        match = _find_key(
            lines, cursor + 1, section.end, parent_indent, segment, item_line=item_line
        )
        if match is None:
            break
        index, column = match
        best = (index + 1, column + 1)
        cursor, parent_indent, item_line = index, column, -1
    return best


def _find_key(
    lines: tuple[str, ...], begin: int, end: int, parent_indent: int, key: str, *, item_line: int
) -> tuple[int, int] | None:
    for index in range(begin, end):
        line = lines[index]
        stripped = line.strip()
        if _ignorable(stripped):
            continue
        column = _key_column(line, key)
        if column is not None and column > parent_indent:
            return index, column
        indent = _indent(line)
        # A compact list (``- `` at the key's own indentation) still belongs to the key; inside
        # an item, the next ``- `` at the item's indentation is a sibling item.
        compact_item = item_line < 0 and indent == parent_indent and stripped.startswith("- ")
        left_parent = indent < parent_indent or (indent == parent_indent and index != item_line)
        if left_parent and not compact_item:
            return None
    return None


_LOOP = "loop"
_MISSING = "missing"


def _nth_item(
    lines: tuple[str, ...], cursor: int, end: int, parent_indent: int, wanted: int
) -> tuple[int, int] | str:
    """(line index, dash column) of item ``wanted`` of the block list after ``cursor``.

    Returns ``_LOOP`` when the items cannot be counted in the template, ``_MISSING`` when they
    can and there are fewer.
    """
    level = None
    count = -1
    for index in range(cursor + 1, end):
        line = lines[index]
        stripped = line.strip()
        if _ignorable(stripped):
            loop = stripped.startswith("{{") and ("range" in stripped or "toYaml" in stripped)
            if loop and (
                _indent(line) >= parent_indent if level is None else _indent(line) == level
            ):
                return _LOOP
            continue
        indent = _indent(line)
        if indent <= parent_indent and not (stripped.startswith("- ") and indent == parent_indent):
            return _MISSING if level is not None else _LOOP
        if level is None:
            if not stripped.startswith("-"):
                return _LOOP  # an inline or generated list
            level = indent
        if indent < level:
            return _MISSING if level is not None else _LOOP
        if indent == level:
            if not stripped.startswith("-"):
                return _MISSING if level is not None else _LOOP
            count += 1
            if count == wanted:
                return index, indent
    return _MISSING if level is not None else _LOOP

"""Plain-text tables for the ``rbac`` views: columns fitted to a width, cells wrapped at spaces and
then after separators, no trailing blanks, and linear in the cells (no Rich measure pass, so a
table of 100,000 rows prints in seconds).

The look is Rich's ``box.SIMPLE`` without edges: a header line, a rule under it, a row per entry,
a space of padding each side of a column and one between columns. Columns get their longest line
when the table fits; else each gets at least its longest word (a name is never cut mid-word while
the words fit) and the rest of the width in proportion to what it lacks. When even the words do
not fit, a word folds after ``/``, ``:`` or ``-`` (``big-monolith/`` + ``secret-reader``), and
mid-word only when a piece is still wider than its column.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len

from kposture.cli.listing_tables import cut_after, wrap_name

FOLD_AFTER = "/:-"
"""Where a word wider than its column may break (the separator stays on the first line)."""

_GAP = 3
"""Cells between two columns: a space of padding each side and one separating them."""


def _words(text: str) -> list[str]:
    return text.split()


def column_widths(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """Each column's width in a table at most ``width`` wide (when it can be)."""
    lines = [
        [header, *(line for row in rows for line in row[index].splitlines())]
        for index, header in enumerate(headers)
    ]
    longest = [max(cell_len(line) for line in column) for column in lines]
    room = max(width - _GAP * len(headers) + 1, len(headers))
    if sum(longest) <= room:
        return longest
    words = [
        max((cell_len(w) for line in column for w in _words(line)), default=1) for column in lines
    ]
    if sum(words) > room:
        pieces = [
            max(
                (
                    cell_len(p)
                    for line in column
                    for w in _words(line)
                    for p in cut_after(w, FOLD_AFTER)
                ),
                default=1,
            )
            for column in lines
        ]
        if sum(pieces) > room:
            return _squeezed(pieces, room)
        return shared_out(_fair(pieces, words, room), longest, room)
    return shared_out(words, longest, room)


def _fair(least: list[int], words: list[int], room: int) -> list[int]:
    """When not every longest word fits: each column its longest word up to a fair share of
    ``room`` (never below ``least``, the longest piece after a separator), so short names (a
    namespace, a verb list) stay whole and a long name folds after its separators instead of
    leaving free text a sliver; cut down further while that does not fit."""
    cap = room // len(words)
    while cap > 1 and sum(max(lo, min(w, cap)) for lo, w in zip(least, words, strict=True)) > room:
        cap -= 1
    return [max(lo, min(w, cap)) for lo, w in zip(least, words, strict=True)]


def shared_out(least: list[int], most: list[int], room: int) -> list[int]:
    """``least`` plus shares of what is left of ``room``, in proportion to what each lacks of
    ``most``."""
    widths = list(least)
    spare = room - sum(widths)
    while spare > 0:
        lacking = [m - w for m, w in zip(most, widths, strict=True)]
        total = sum(lacking)
        if not total:
            break
        for index, lack in enumerate(lacking):
            if lack:
                widths[index] += min(max(1, spare * lack // total), lack, room - sum(widths))
        spare = room - sum(widths)
    return widths


def _squeezed(least: list[int], room: int) -> list[int]:
    """Widths in proportion to ``least`` summing to at most ``room``, each at least 1."""
    total = sum(least)
    return [max(1, room * w // total) for w in least]


def wrap_cell(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` cells, broken at spaces, then after ``/``, ``:``,
    ``-``, folded mid-word only as the last resort."""
    lines: list[str] = []
    for line in text.splitlines() or [""]:
        if cell_len(line) <= width:
            lines.append(line)
        else:
            lines.extend(wrap_name(line, width, separators=" ", fallback=FOLD_AFTER))
    return lines


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int,
    widths: Sequence[int] | None = None,
) -> str:
    """The table as text, every line ending in ``\\n`` and none in a blank; ``widths`` when the
    caller chose the columns' widths itself, else ``column_widths`` fits them to ``width``."""
    widths = list(widths) if widths else column_widths(headers, rows, width)
    rule = "─" * (sum(widths) + _GAP * len(widths) - 1)
    out = [_line(headers, widths), rule + "\n"]
    for row in rows:
        cells = [wrap_cell(cell, w) for cell, w in zip(row, widths, strict=True)]
        for index in range(max(len(cell) for cell in cells)):
            out.append(_line([cell[index] if index < len(cell) else "" for cell in cells], widths))
    return "".join(out)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [cell + " " * (w - cell_len(cell)) for cell, w in zip(cells, widths, strict=True)]
    return (" " + "   ".join(padded)).rstrip() + "\n"

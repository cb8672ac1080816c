"""Plain-text tables for the ``rbac`` views: columns fitted to a width, cells wrapped at spaces and
then after separators, no trailing blanks, and linear in the cells (no Rich measure pass, so a
table of 100,000 rows prints in seconds).

The look is Rich's ``box.SIMPLE`` without edges: a header line, a rule under it, a row per entry,
a space of padding each side of a column and one between columns; a header is a word like any
other (wrapped inside its column, never wider). Columns get their longest line when the table
fits; else each gets at least its longest word (a name is never cut mid-word while the words fit),
then the columns that can hold their longest line get it (fewest cells first), and the others
(long free text) share the rest in proportion to what they lack. When even the words do not fit,
each column gets at least its longest unbreakable piece: a word with no place to fold (a kind, a
severity, an id without one, a header) whole, a name up to its longest piece between ``/``, ``:`` or ``-``;
the columns lacking least then get their longest word, and the names that fold after their
separators (``big-monolith/`` + ``secret-reader``) give way first. Only when even those pieces do
not fit does every column keep its piece up to a common cap, the largest that fits, and the
longest pieces fold mid-word.
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


def _column_lines(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[list[str]]:
    return [
        [header, *(line for row in rows for line in row[index].splitlines())]
        for index, header in enumerate(headers)
    ]


def _room(headers: Sequence[str], width: int) -> int:
    return max(width - _GAP * len(headers) + 1, len(headers))


def _longest_words(lines: list[list[str]]) -> list[int]:
    return [
        max((cell_len(w) for line in column for w in _words(line)), default=1) for column in lines
    ]


def _longest_pieces(lines: list[list[str]]) -> list[int]:
    """Each column's widest piece that cannot fold but mid-word: a word without ``/``, ``:`` or
    ``-`` whole, a word with them its widest piece after cutting there."""
    return [
        max(
            (cell_len(piece) for word in _column_words(column) for piece in _pieces(word)),
            default=1,
        )
        for column in lines
    ]


def _longest_unbreakable(lines: list[list[str]]) -> list[int]:
    """Each column's widest word with no ``/``, ``:`` or ``-`` to fold after (a kind, an id, a
    short value, a header): what the column cannot give without cutting a word mid-way."""
    return [
        max(
            (cell_len(word) for word in _column_words(column) if len(_pieces(word)) == 1),
            default=1,
        )
        for column in lines
    ]


def _column_words(column: list[str]) -> list[str]:
    return [word for line in column for word in _words(line)]


def _pieces(word: str) -> list[str]:
    return cut_after(word, FOLD_AFTER)


def shared_widths(
    headers: Sequence[str], rows: Sequence[Sequence[str]], width: int
) -> list[int] | None:
    """``column_widths`` for the rows of several tables printed one after another (a section
    each) so their columns line up, when every word of them fits those widths; None when some
    would fold, so each table is best fitted to its own rows instead."""
    lines = _column_lines(headers, rows)
    if sum(_longest_words(lines)) > _room(headers, width):
        return None
    return column_widths(headers, rows, width)


def column_widths(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """Each column's width in a table at most ``width`` wide (when it can be)."""
    lines = _column_lines(headers, rows)
    longest = [max(cell_len(line) for line in column) for column in lines]
    room = _room(headers, width)
    if sum(longest) <= room:
        return longest
    words = _longest_words(lines)
    if sum(words) <= room:
        return shared_out(words, longest, room)
    pieces = _longest_pieces(lines)
    if sum(pieces) <= room:
        # the names fold after their separators; no word is cut mid-way
        return shared_out(pieces, words, room)
    whole = _longest_unbreakable(lines)
    if sum(whole) <= room:
        # the words without a separator stay whole; the widest pieces of names fold mid-way
        return shared_out(_levelled(pieces, room, whole), pieces, room)
    # even the words without a separator do not fit: the longest fold mid-way
    return shared_out(_levelled(whole, room), whole, room)


def _levelled(least: list[int], room: int, floor: list[int] | None = None) -> list[int]:
    """``least`` where it fits ``room``; else each column its own up to the largest cap that fits
    (never under its ``floor``), so short words (a severity, a kind, a header) stay whole and only
    the longest fold."""
    if sum(least) <= room:
        return list(least)
    low = floor or [0] * len(least)

    def capped(cap: int) -> list[int]:
        return [max(min(lo, cap), f) for lo, f in zip(least, low, strict=True)]

    cap = 0 if floor else max(room // len(least), 1)
    while sum(capped(cap + 1)) <= room:
        cap += 1
    return capped(cap)


def shared_out(least: list[int], most: list[int], room: int) -> list[int]:
    """``least`` plus what is left of ``room``: first each column whose whole lack of ``most``
    still fits gets it, the smallest lack first (a column that can hold its longest line does not
    wrap: a name, a scope, a note), then the columns still lacking (the long free text: a rule,
    what it grants) share the rest in proportion to what they lack."""
    widths = list(least)
    spare = room - sum(widths)
    for index in sorted(range(len(widths)), key=lambda i: most[i] - widths[i]):
        lack = most[index] - widths[index]
        if lack > spare:
            break
        if lack > 0:
            widths[index] = most[index]
            spare -= lack
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
    out = [*_wrapped_row(headers, widths), rule + "\n"]
    for row in rows:
        out.extend(_wrapped_row(row, widths))
    return "".join(out)


def _wrapped_row(row: Sequence[str], widths: Sequence[int]) -> list[str]:
    """A row's lines, each cell wrapped to its column (a header too: never wider than its column)."""
    cells = [wrap_cell(cell, w) for cell, w in zip(row, widths, strict=True)]
    depth = max(len(cell) for cell in cells)
    return [
        _line([cell[i] if i < len(cell) else "" for cell in cells], widths) for i in range(depth)
    ]


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [cell + " " * (w - cell_len(cell)) for cell, w in zip(cells, widths, strict=True)]
    return (" " + "   ".join(padded)).rstrip() + "\n"

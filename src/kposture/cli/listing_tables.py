"""The tables of ``findings`` and ``history``: greppable when piped, readable in a narrow terminal.

- Piped (stdout is not a terminal and no ``COLUMNS`` says how wide to print): one line per row, as
  wide as it needs; nothing is wrapped, folded or cut, so ``grep`` finds whole rows.
- In a terminal wide enough for it, the same table.
- In a narrower one, the compact table the caller also gives: related values stacked in one cell
  (a rule over its resource, say), kinds by kubectl's short names (``deploy/shop/web``). Names break
  only after a separator (a resource after ``/``, a rule id after ``-``), free text at spaces;
  rule ids, times and severities are never cut mid-word unless nothing else is left to give.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len, chop_cells
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from kposture.cli.consoles import stdout_is_piped
from kposture.cli.kind_names import short_kind
from kposture.model import ResourceRef


class Name:
    """A name or id that breaks only after one of ``separators`` when its column is too narrow
    (``deploy/shop/`` + ``web``, never ``Deploymen`` + ``t``); a piece still too long breaks after
    one of ``fallback`` (``big-monolith-`` + ``deployment``) and folds only as the last resort."""

    __slots__ = ("fallback", "pieces", "text")

    def __init__(self, text: str, separators: str = "/", fallback: str = "-.") -> None:
        self.text = text
        self.pieces = cut_after(text, separators)
        self.fallback = fallback

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        smallest = (part for piece in self.pieces for part in cut_after(piece, self.fallback))
        longest = max((cell_len(part) for part in smallest), default=0)
        return Measurement(longest, cell_len(self.text)).clamp(max_width=options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        for line in _packed(self.pieces, width, self.fallback):
            yield Text(line, overflow="fold")


def _packed(pieces: list[str], width: int, fallback: str) -> list[str]:
    """``pieces`` joined into lines of at most ``width`` cells; a piece longer than a line is cut
    after the ``fallback`` separators in it, on a line of its own unless it follows a space."""
    lines: list[str] = []
    line = ""
    queue = list(reversed(pieces))
    while queue:
        piece = queue.pop()
        if cell_len((line + piece).rstrip()) <= width:
            line += piece
        elif cell_len(piece.rstrip()) > width and len(parts := cut_after(piece, fallback)) > 1:
            if line and not line.endswith(" "):
                lines.append(line)
                line = ""
            queue.extend(reversed(parts))
        else:
            if line:
                lines.append(line.rstrip())
            line = piece
    lines.append(line)
    return lines


def wrap_name(text: str, width: int, separators: str = "/", fallback: str = "-.") -> list[str]:
    """``text`` in lines of at most ``width`` cells, as ``Name`` prints it: broken after
    ``separators``, a piece still too long after ``fallback``, folded only as the last resort."""
    lines: list[str] = []
    for packed in _packed(cut_after(text, separators), width, fallback):
        line = packed.rstrip()
        lines.extend(chop_cells(line, width) if cell_len(line) > width else [line])
    return lines


def cut_after(text: str, separators: str) -> list[str]:
    """``text`` cut after each of ``separators`` (a separator stays with the piece before it)."""
    pieces: list[str] = []
    start = 0
    for index, char in enumerate(text):
        if char in separators:
            pieces.append(text[start : index + 1])
            start = index + 1
    if start < len(text) or not pieces:
        pieces.append(text[start:])
    return pieces


def resource_name(ref: ResourceRef) -> Name:
    """A resource for a compact table: kubectl's short kind, breaking after each ``/``."""
    kind = short_kind(ref.kind)
    shown = f"{kind}/{ref.namespace}/{ref.name}" if ref.namespace else f"{kind}/{ref.name}"
    return Name(shown, "/")


def stacked(*cells: RenderableType | str) -> Group:
    """Values shown one under the other in one cell; empty ones left out."""
    return Group(*(Text(cell) if isinstance(cell, str) else cell for cell in cells if cell != ""))


@dataclass(frozen=True, slots=True)
class Listing:
    """A table in two shapes: ``headers``/``rows`` when there is room (and whenever piped), and
    ``compact_headers``/``compact_rows`` for a narrow terminal. Wide cells are plain text; compact
    ones any renderable (``Name``, ``stacked``)."""

    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    compact_headers: Sequence[str]
    compact_rows: Sequence[Sequence[RenderableType]]
    keep: frozenset[str] = frozenset()
    """Compact columns that never wrap (severities, times)."""
    wrap: frozenset[str] = frozenset()
    """Wide columns of free text (a message), wrapped at words in a terminal too narrow for them
    on one line but wide enough for the other columns and ``WRAPPED_WIDTH`` of these."""

    def widths(self) -> list[int]:
        """Each wide column's width on one line."""
        return [
            max([cell_len(header), *(cell_len(row[index]) for row in self.rows)])
            for index, header in enumerate(self.headers)
        ]


WRAPPED_WIDTH = 30
"""The least a wide table leaves a wrapped column of free text before going compact."""


def print_listing(listing: Listing) -> None:
    """Print the table on stdout: whole rows when piped, fitted to the terminal otherwise."""
    if stdout_is_piped():
        sys.stdout.write(piped_text(listing))
    else:
        print_fitted(Console(emoji=False), listing)


def piped_text(listing: Listing) -> str:
    """The wide table as text, each row on one line, without trailing blanks."""
    table = _wide(listing)
    console = Console(width=natural_width(table), color_system=None, emoji=False)
    with console.capture() as captured:
        console.print(table)
    return "".join(f"{line.rstrip()}\n" for line in captured.get().splitlines())


def print_fitted(console: Console, listing: Listing) -> None:
    """The wide table when it fits ``console``; else with its free text wrapped when the rest
    fits on one line; else the compact one."""
    table = _wide(listing)
    natural = natural_width(table)
    if natural > console.width:
        squeezed = sum(
            max(width - WRAPPED_WIDTH, 0)
            for header, width in zip(listing.headers, listing.widths(), strict=True)
            if header in listing.wrap
        )
        if listing.wrap and natural - squeezed <= console.width:
            table = _wide(listing, wrap=listing.wrap)
        else:
            table = _compact(listing)
    console.print(table)


def natural_width(table: Table) -> int:
    """The width ``table`` takes when nothing in it wraps."""
    return Console(width=1_000_000, emoji=False).measure(table).maximum


def _wide(listing: Listing, wrap: frozenset[str] = frozenset()) -> Table:
    table = _table(listing.headers, keep=frozenset(listing.headers) - wrap)
    for row in listing.rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _compact(listing: Listing) -> Table:
    table = _table(listing.compact_headers, keep=listing.keep)
    for row in listing.compact_rows:
        table.add_row(*row)
    return table


def _table(headers: Iterable[str], *, keep: frozenset[str]) -> Table:
    table = Table(box=box.SIMPLE, show_edge=False)
    for header in headers:
        fixed = header in keep
        table.add_column(header, no_wrap=fixed, overflow="ellipsis" if fixed else "fold")
    return table

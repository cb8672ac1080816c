"""Pure renderers over a ``ScanResult``: table (Rich), JSON, SARIF 2.1.0, JUnit XML and Markdown.

The CLI picks a renderer by ``-o`` name through ``render``; every renderer takes the result and a
``ReportContext`` and returns text (the table prints to a Rich console instead). Renderers only
show finding fields, never the scanned objects, so no secret value can reach a report. Grouping and
counting shared by the formats live in ``grouping``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping

from rich.console import Console

from kposture.model import ScanResult
from kposture.reports.context import ReportContext
from kposture.reports.json_report import SCHEMA_ID, render_json
from kposture.reports.junit import render_junit
from kposture.reports.markdown import render_markdown
from kposture.reports.sarif import render_sarif
from kposture.reports.table import render_table

TextRenderer = Callable[[ScanResult, ReportContext], str]

RENDERERS: Mapping[str, TextRenderer] = {
    "json": render_json,
    "sarif": render_sarif,
    "junit": render_junit,
    "markdown": render_markdown,
}
"""Text formats by their ``-o`` name."""

FORMATS: tuple[str, ...] = ("table", *RENDERERS)
"""Every ``-o`` value, the default first."""


def render_table_text(result: ScanResult, ctx: ReportContext, *, width: int = 100) -> str:
    """The table report as plain text (no colour), for writing to a file."""
    console = Console(
        file=io.StringIO(),
        width=width,
        record=True,
        force_terminal=False,
        color_system=None,
        emoji=False,
    )
    render_table(result, ctx, console)
    return console.export_text()


def render(fmt: str, result: ScanResult, ctx: ReportContext) -> str:
    """Render ``result`` as ``fmt`` (one of ``FORMATS``); ``ValueError`` names the valid ones."""
    if fmt == "table":
        return render_table_text(result, ctx)
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        choices = ", ".join(FORMATS)
        raise ValueError(f"unknown output format {fmt!r}; choose one of {choices}") from None
    return renderer(result, ctx)


__all__ = [
    "FORMATS",
    "RENDERERS",
    "SCHEMA_ID",
    "ReportContext",
    "TextRenderer",
    "render",
    "render_json",
    "render_junit",
    "render_markdown",
    "render_sarif",
    "render_table",
    "render_table_text",
]

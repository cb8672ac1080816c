"""Turns a scan outcome into the requested report on stdout or in a file."""

from __future__ import annotations

import enum
from pathlib import Path

from rich.console import Console

from kposture import __version__
from kposture.cli.scanning import ScanOutcome
from kposture.model import Severity
from kposture.reports import ReportContext
from kposture.reports.json_report import render_json
from kposture.reports.junit import render_junit
from kposture.reports.markdown import render_markdown
from kposture.reports.sarif import render_sarif
from kposture.reports.table import render_table


class Format(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    MARKDOWN = "markdown"


_TEXT_RENDERERS = {
    Format.JSON: render_json,
    Format.SARIF: render_sarif,
    Format.JUNIT: render_junit,
    Format.MARKDOWN: render_markdown,
}


def context_for(outcome: ScanOutcome, fail_on: Severity | None) -> ReportContext:
    return ReportContext(
        tool_version=__version__,
        rules={rule.meta.id: rule.meta for rule in outcome.registry},
        fail_on=fail_on,
    )


def render_text(outcome: ScanOutcome, fmt: Format, fail_on: Severity | None) -> str:
    """The report as text, for every format except the interactive table."""
    return _TEXT_RENDERERS[fmt](outcome.result, context_for(outcome, fail_on))


def emit(
    outcome: ScanOutcome,
    fmt: Format,
    output_file: Path | None,
    *,
    fail_on: Severity | None,
    show_suppressed: bool,
) -> None:
    """Print or write the report."""
    ctx = context_for(outcome, fail_on)
    if fmt is Format.TABLE:
        if output_file is None:
            render_table(outcome.result, ctx, Console(), show_suppressed=show_suppressed)
        else:
            with output_file.open("w", encoding="utf-8") as handle:
                console = Console(file=handle, width=120, no_color=True)
                render_table(outcome.result, ctx, console, show_suppressed=show_suppressed)
        return
    text = render_text(outcome, fmt, fail_on)
    if output_file is None:
        print(text, end="" if text.endswith("\n") else "\n")
    else:
        output_file.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")

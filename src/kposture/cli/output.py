"""Turns a scan outcome into the requested report on stdout or in a file, with the optional
framework (``--framework``) and maturity (``--maturity``) views."""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from rich.console import Console

from kposture import __version__
from kposture.cli.consoles import report_console
from kposture.cli.scanning import ScanOutcome
from kposture.model import Severity
from kposture.reports import ReportContext
from kposture.reports.assessment import rule_runs
from kposture.reports.frameworks import CATALOGUES, framework_view
from kposture.reports.json_report import render_json, write_json
from kposture.reports.junit import render_junit
from kposture.reports.markdown import render_markdown
from kposture.reports.maturity import assess_maturity
from kposture.reports.sarif import render_sarif
from kposture.reports.table import render_table
from kposture.reports.views import (
    ReportViews,
    json_blocks,
    render_json_views,
    render_junit_views,
    render_markdown_views,
    render_sarif_views,
    render_views_table,
)


class Format(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    MARKDOWN = "markdown"


FrameworkChoice = enum.StrEnum(  # type: ignore[misc]
    "FrameworkChoice", {key.upper().replace("-", "_"): key for key in CATALOGUES}
)
"""``--framework`` values: one per catalogue."""

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
        policy_file=outcome.policy_file,
    )


MATURITY_FORMATS = (Format.TABLE, Format.JSON, Format.MARKDOWN)
"""Formats that can carry the maturity view."""

_VIEW_RENDERERS = {
    Format.JSON: render_json_views,
    Format.SARIF: render_sarif_views,
    Format.JUNIT: render_junit_views,
    Format.MARKDOWN: render_markdown_views,
}


def build_views(
    outcome: ScanOutcome, ctx: ReportContext, framework: str | None, maturity: bool
) -> ReportViews:
    """The framework and maturity views of ``outcome`` (``framework`` is a ``CATALOGUES`` key)."""
    if framework is None and not maturity:
        return ReportViews()
    runs = rule_runs(
        ctx.rules.values(),
        enabled=outcome.enabled,
        kinds=outcome.kinds,
        findings=outcome.result.findings,
    )
    view = (
        framework_view(CATALOGUES[framework], outcome.result, ctx.rules, runs)
        if framework is not None
        else None
    )
    domains = assess_maturity(outcome.result, ctx.rules, runs) if maturity else None
    return ReportViews(view, domains)


def render_text(
    outcome: ScanOutcome,
    fmt: Format,
    fail_on: Severity | None,
    views: ReportViews | None = None,
) -> str:
    """The report as text, for every format except the interactive table."""
    ctx = context_for(outcome, fail_on)
    if views is not None and (views.framework is not None or views.maturity is not None):
        return _VIEW_RENDERERS[fmt](outcome.result, ctx, views)
    return _TEXT_RENDERERS[fmt](outcome.result, ctx)


@contextmanager
def _destination(output_file: Path | None) -> Iterator[TextIO]:
    if output_file is None:
        yield sys.stdout
        sys.stdout.flush()
    else:
        with output_file.open("w", encoding="utf-8") as handle:
            yield handle


def emit(
    outcome: ScanOutcome,
    fmt: Format,
    output_file: Path | None,
    *,
    fail_on: Severity | None,
    show_suppressed: bool,
    framework: str | None = None,
    maturity: bool = False,
) -> None:
    """Print or write the report (with the framework and maturity views when asked for)."""
    ctx = context_for(outcome, fail_on)
    views = build_views(outcome, ctx, framework, maturity)
    with _destination(output_file) as out:
        if fmt is Format.TABLE:
            console = (
                report_console()
                if output_file is None
                else Console(file=out, width=120, no_color=True, emoji=False)
            )
            render_table(outcome.result, ctx, console, show_suppressed=show_suppressed)
            render_views_table(views, console)
        elif fmt is Format.JSON:
            # Streamed: a large scan's JSON is never held in memory as one string.
            write_json(outcome.result, ctx, out, json_blocks(views))
        else:
            text = render_text(outcome, fmt, fail_on, views)
            out.write(text if text.endswith("\n") else text + "\n")

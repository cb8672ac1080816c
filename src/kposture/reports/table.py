"""The human-readable terminal report (Rich): a section per resource, the framework references of the
rules shown, a summary line, errors last.

Severities are coloured; suppressed findings are hidden behind a count unless ``show_suppressed``.
Fits an 80-column terminal (messages wrap, rule ids and lines don't), and degrades to plain text
with ASCII rules when the console is not a terminal (CI logs, files). Prints only finding fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kposture.model import Finding, InputError, ScanResult, Severity
from kposture.reports.context import ReportContext
from kposture.reports.grouping import (
    SEVERITIES_DESC,
    Summary,
    group_by_resource,
    most_severe,
    summarize,
)

MAX_TABLE_FINDINGS = 1000

SEVERITY_STYLES: dict[Severity, str] = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def _line(finding: Finding) -> str:
    loc = finding.location
    return str(loc.line) if loc is not None and loc.line > 0 else "-"


@dataclass(frozen=True, slots=True)
class _Widths:
    """Column widths shared by every section, so the sections line up under each other."""

    rule: int
    line: int

    @classmethod
    def of(cls, findings: tuple[Finding, ...]) -> _Widths:
        return cls(
            rule=max((len(f.rule_id) for f in findings), default=4),
            line=max((len(_line(f)) for f in findings), default=4),
        )


def _findings_table(
    findings: tuple[Finding, ...], console: Console, widths: _Widths, show_status: bool
) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD if console.is_terminal else box.ASCII2,
        show_edge=False,
        pad_edge=False,
        expand=True,
        header_style="bold",
    )
    # Rule ids can be long; past half the width they fold rather than squeeze the message away.
    rule_width = min(widths.rule, max(console.width // 2 - 10, 12))
    table.add_column("Rule", min_width=rule_width, max_width=rule_width, overflow="fold")
    table.add_column("Severity", min_width=8, no_wrap=True)
    table.add_column("Line", min_width=max(widths.line, 4), justify="right", no_wrap=True)
    table.add_column("Message", overflow="fold", ratio=1)
    for finding in findings:
        message = Text(finding.message)
        if show_status and finding.suppressed_by is not None:
            reason = finding.suppressed_by.reason or "no reason given"
            message.append(f" [suppressed by {finding.suppressed_by.kind}: {reason}]", style="dim")
        table.add_row(
            Text(finding.rule_id),
            Text(finding.severity.value, style=SEVERITY_STYLES[finding.severity]),
            _line(finding),
            message,
        )
    return table


def _header(label: str, file: str) -> Text:
    header = Text(label, style="bold")
    if file:
        header.append(f"  {file}", style="dim")
    return header


def summary_text(summary: Summary) -> Text:
    """Two lines: active findings by severity, then suppressed/error counts and the verdict."""
    text = Text(f"{summary.active} finding{'s' if summary.active != 1 else ''}: ", style="bold")
    for i, severity in enumerate(SEVERITIES_DESC):
        if i:
            text.append(", ")
        count = summary.by_severity[severity]
        text.append(f"{count} {severity.value}", style=SEVERITY_STYLES[severity] if count else "")
    text.append(f"\n{summary.suppressed} suppressed")
    text.append(f" · {summary.errors} error{'s' if summary.errors != 1 else ''}")
    if summary.warnings:
        text.append(f" · {summary.warnings} warning{'s' if summary.warnings != 1 else ''}")
    if summary.fail_on is not None and summary.failed:
        threshold = summary.fail_on.value
        text.append(f" · FAIL: {summary.failing} at or above {threshold}", style="bold red")
    if summary.errors:
        # Exit code 2: some input was not read, so "no findings" would be a false all-clear.
        text.append(" · INCOMPLETE: fix the input errors below", style="bold red")
    elif summary.fail_on is not None and not summary.failed:
        text.append(f" · PASS: none at or above {summary.fail_on.value}", style="bold green")
    return text


def _references(findings: tuple[Finding, ...], console: Console) -> None:
    """A compact legend: each rule shown and the framework controls it maps to."""
    refs = {f.rule_id: f.references for f in findings if f.references}
    if not refs:
        return
    console.print(Text("References", style="bold"))
    for rule_id in sorted(refs):
        line = Text(f"  {rule_id}: ")
        line.append(" · ".join(r.display() for r in refs[rule_id]), style="dim")
        console.print(line)
    console.print()


def _errors(errors: tuple[InputError, ...], console: Console) -> None:
    console.print(Text("Input errors and warnings", style="bold"))
    for error in sorted(errors, key=lambda e: (e.file, e.line, e.message)):
        where = f"{error.file}:{error.line}" if error.line > 0 else (error.file or "(input)")
        style = "yellow" if error.level == "warning" else "red"
        line = Text(f"  {error.level}: ", style=style)
        line.append(f"{where}: {error.message}")
        console.print(line)


def render_table(
    result: ScanResult,
    ctx: ReportContext,
    console: Console,
    *,
    show_suppressed: bool = False,
    max_findings: int = MAX_TABLE_FINDINGS,
) -> None:
    """Print the report to ``console``; suppressed findings appear only with ``show_suppressed``;
    at most ``max_findings`` rows, the most severe kept."""
    summary = summarize(result, ctx.fail_on)
    listed = result.findings if show_suppressed else result.active_findings
    # A terminal report of tens of thousands of rows helps nobody and takes minutes to lay out.
    shown = most_severe(listed, max_findings)
    widths = _Widths.of(shown)
    for i, group in enumerate(group_by_resource(shown)):
        if i:
            console.print()
        console.print(_header(group.resource.display(), group.file))
        console.print(_findings_table(group.findings, console, widths, show_suppressed))
    if not shown:
        console.print("No active findings.")
    console.print()
    if len(listed) > len(shown):
        cut = f"{len(listed) - len(shown)} less severe finding(s) not shown; use -o json for all."
        console.print(Text(cut, style="bold"))
    _references(shown, console)
    if summary.suppressed and not show_suppressed:
        hidden = f"{summary.suppressed} suppressed finding(s) hidden (--show-suppressed to list)."
        console.print(Text(hidden, style="dim"))
    console.print(summary_text(summary))
    policy = ctx.policy_file or "none (built-in defaults)"
    console.print(Text(f"policy: {policy}", style="dim"))
    if result.errors:
        console.print()
        _errors(result.errors, console)

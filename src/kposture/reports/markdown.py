"""GitHub-flavoured Markdown summary for PR comments and ``$GITHUB_STEP_SUMMARY``.

Totals by severity, the fail-on verdict, one findings table per resource, the framework references
of the rules with findings, suppressed findings behind a ``<details>`` block, then input errors.
Every value from a manifest or message is escaped so it can't break a table row or inject markup;
rows are capped (``max_findings``) so a large scan stays within GitHub's 65,536-character comment
limit.
"""

from __future__ import annotations

from kposture.model import Finding, ScanResult
from kposture.reports.context import ReportContext
from kposture.reports.grouping import (
    SEVERITIES_DESC,
    Summary,
    group_by_resource,
    location_text,
    most_severe,
    sort_findings,
    summarize,
)

DEFAULT_MAX_FINDINGS = 200
_ESCAPES = {
    "\\": "\\\\",
    "|": "\\|",
    "`": "\\`",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "]": "\\]",
    "#": "\\#",
    "~": "\\~",
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
}


def escape(text: str) -> str:
    """Make text safe for a table cell: escape Markdown and HTML, turn line breaks into ``<br>``."""
    escaped = "".join(_ESCAPES.get(ch, ch) for ch in text)
    return "<br>".join(escaped.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def _verdict(summary: Summary) -> str:
    incomplete = (
        f"⚠️ **Incomplete**: {summary.errors} input error(s); not everything was scanned."
        if summary.errors
        else ""
    )
    if summary.fail_on is None:
        return incomplete
    threshold = summary.fail_on.value
    if summary.failed:
        failed = f"❌ **Failed**: {summary.failing} finding(s) at or above `{threshold}`."
        return f"{failed} {incomplete}".rstrip()
    return incomplete or f"✅ **Passed**: no active finding at or above `{threshold}`."


def _summary_lines(summary: Summary) -> list[str]:
    lines = [
        "| Severity | Findings |",
        "| --- | ---: |",
        *(f"| {s.value} | {summary.by_severity[s]} |" for s in SEVERITIES_DESC),
        f"| **total** | **{summary.active}** |",
        "",
        f"Suppressed: {summary.suppressed} · Input errors: {summary.errors}"
        f" · Warnings: {summary.warnings}",
    ]
    verdict = _verdict(summary)
    if verdict:
        lines += ["", verdict]
    return lines


def _finding_row(finding: Finding) -> str:
    where = location_text(finding) or "(no location)"
    return (
        f"| {escape(finding.rule_id)} | {finding.severity.value} | {escape(where)} |"
        f" {escape(finding.message)} |"
    )


def _findings_lines(active: tuple[Finding, ...], max_findings: int) -> list[str]:
    if not active:
        return ["No active findings."]
    lines: list[str] = []
    shown = most_severe(active, max_findings)
    for group in group_by_resource(shown):
        title = escape(group.resource.display())
        source = f" — {escape(group.file)}" if group.file else ""
        lines += [
            f"#### {title}{source}",
            "",
            "| Rule | Severity | Location | Message |",
            "| --- | --- | --- | --- |",
            *(_finding_row(f) for f in group.findings),
            "",
        ]
    if len(active) > len(shown):
        lines.append(
            f"_{len(active) - len(shown)} less severe finding(s) not shown; use `-o json` for all._"
        )
        lines.append("")
    return lines


def _references_lines(active: tuple[Finding, ...]) -> list[str]:
    """One row per rule with active findings: the framework controls it maps to."""
    refs = {f.rule_id: f.references for f in active if f.references}
    if not refs:
        return []
    return [
        "### References",
        "",
        *(
            f"- **{escape(rule_id)}**: {escape(', '.join(r.display() for r in refs[rule_id]))}"
            for rule_id in sorted(refs)
        ),
        "",
    ]


def _suppressed_lines(suppressed: tuple[Finding, ...], max_findings: int) -> list[str]:
    if not suppressed:
        return []
    lines = [
        f"<details><summary>{len(suppressed)} suppressed finding(s)</summary>",
        "",
        "| Rule | Resource | Location | Suppressed by | Reason | Expires |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for finding in suppressed[:max_findings]:
        by = finding.suppressed_by
        if by is None:  # pragma: no cover - filtered above
            continue
        lines.append(
            f"| {escape(finding.rule_id)} | {escape(finding.resource.display())} |"
            f" {escape(location_text(finding))} | {escape(by.kind)} | {escape(by.reason)} |"
            f" {escape(by.expires) or 'never'} |"
        )
    return [*lines, "", "</details>", ""]


def render_markdown(
    result: ScanResult, ctx: ReportContext, *, max_findings: int = DEFAULT_MAX_FINDINGS
) -> str:
    summary = summarize(result, ctx.fail_on)
    ordered = sort_findings(result.findings)
    active = tuple(f for f in ordered if f.suppressed_by is None)
    suppressed = tuple(f for f in ordered if f.suppressed_by is not None)
    lines = [
        "## kposture scan",
        "",
        *_summary_lines(summary),
        "",
        "### Findings",
        "",
        *_findings_lines(active, max_findings),
        *_references_lines(active[:max_findings]),
        *_suppressed_lines(suppressed, max_findings),
    ]
    if result.errors:
        lines += [
            "### Input errors and warnings",
            "",
            "| Level | Location | Message |",
            "| --- | --- | --- |",
        ]
        for error in result.errors:
            where = f"{error.file}:{error.line}" if error.line > 0 else error.file
            lines.append(f"| {escape(error.level)} | {escape(where)} | {escape(error.message)} |")
        lines.append("")
    policy = escape(ctx.policy_file) if ctx.policy_file else "built-in defaults"
    lines.append(f"<sub>kposture {escape(ctx.tool_version)} · policy: {policy}</sub>")
    return "\n".join(lines).rstrip("\n") + "\n"

"""The framework and maturity views in every output format.

``ReportViews`` carries the optional views of one run (``--framework``, ``--maturity``); the
functions here add them to the standard reports: extra ``framework`` / ``maturity`` blocks in the
``kposture.scan/v1`` JSON, a control table and a maturity table after the terminal and Markdown
reports, SARIF ``taxonomies`` with a relationship from each rule descriptor to the controls it
covers, and JUnit suites per control instead of per rule. Pure: every function returns text or
prints to the console it is given.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from kposture.model import NOT_OBSERVABLE, ScanResult
from kposture.reports.context import ReportContext
from kposture.reports.frameworks import (
    ControlResult,
    ControlStatus,
    FrameworkView,
    view_summary,
    view_to_dict,
)
from kposture.reports.grouping import (
    RuleGroup,
    group_by_rule_and_resource,
    location_text,
)
from kposture.reports.json_report import JsonBlock, write_json
from kposture.reports.junit import PASSING_CASE, clean_xml, junit_tree, testcase
from kposture.reports.markdown import escape, render_markdown
from kposture.reports.maturity import (
    DomainMaturity,
    maturity_to_dict,
    render_maturity_markdown,
    render_maturity_table,
)
from kposture.reports.sarif import sarif_log

MAX_CONTROL_FINDINGS = 3
"""Findings listed under a failing control in the table and Markdown views (the rest are counted)."""

_STATUS_STYLES = {
    ControlStatus.FAIL: "bold red",
    ControlStatus.PASS: "green",
    ControlStatus.NOT_ASSESSED: "yellow",
    ControlStatus.NOT_COVERED: "dim",
}
_STATUS_MARKS = {
    ControlStatus.FAIL: "❌ fail",
    ControlStatus.PASS: "✅ pass",
    ControlStatus.NOT_ASSESSED: "➖ not assessed",
    ControlStatus.NOT_COVERED: "not covered",
}


@dataclass(frozen=True, slots=True)
class ReportViews:
    """The optional views of one report; both ``None`` means the plain report."""

    framework: FrameworkView | None = None
    maturity: tuple[DomainMaturity, ...] | None = None


# --- JSON -------------------------------------------------------------------------------------------


def json_blocks(views: ReportViews) -> list[JsonBlock]:
    """The optional ``framework`` and ``maturity`` blocks of the JSON document."""
    blocks = []
    if views.framework is not None:
        blocks.append(JsonBlock("framework", view_to_dict(views.framework), "controls"))
    if views.maturity is not None:
        blocks.append(JsonBlock("maturity", maturity_to_dict(views.maturity), "domains"))
    return blocks


def render_json_views(result: ScanResult, ctx: ReportContext, views: ReportViews) -> str:
    """The ``kposture.scan/v1`` document with the view blocks after the standard keys."""
    buffer = io.StringIO()
    write_json(result, ctx, buffer, json_blocks(views))
    return buffer.getvalue()


# --- table ------------------------------------------------------------------------------------------


def _summary_line(view: FrameworkView) -> str:
    s = view_summary(view)
    return (
        f"{s['controls']} controls: {s['failed']} failed, {s['passed']} passed, "
        f"{s['not_assessed']} not assessed, {s['not_covered']} not covered "
        f"(coverage {s['coverage_percent']}%)"
    )


def _finding_line(result: ControlResult, *, with_rule: bool = True) -> list[str]:
    lines = [
        (f"{f.rule_id} " if with_rule else "") + (location_text(f) or f.resource.display())
        for f in result.findings[:MAX_CONTROL_FINDINGS]
    ]
    if len(result.findings) > MAX_CONTROL_FINDINGS:
        lines.append(f"+{len(result.findings) - MAX_CONTROL_FINDINGS} more")
    return lines


def _unique_locations(result: ControlResult) -> list[str]:
    seen = dict.fromkeys(location_text(f) or f.resource.display() for f in result.findings)
    return list(seen)


def render_framework_table(view: FrameworkView, console: Console) -> None:
    """Controls by group, one line each (status, id, title), with the covering rules and the
    distinct file:line locations of their active findings indented below."""
    catalogue = view.catalogue
    console.print(Text(f"{catalogue.name} {catalogue.version}", style="bold"))
    group = None
    for r in view.controls:
        if r.control.group != group:
            group = r.control.group
            console.print(Text(f"\n{group}", style="bold"))
        line = Text("  ")
        line.append(f"{r.status.value:<12}", style=_STATUS_STYLES[r.status])
        line.append(f" {r.control.id}", style="bold")
        marker = "" if r.control.in_catalogue else " *"
        line.append(f"  {r.control.title}{marker}")
        console.print(line)
        if r.rules:
            console.print(Text(f"                 rules: {', '.join(r.rules)}", style="dim"))
        locations = _unique_locations(r)
        if locations:
            shown = ", ".join(locations[:MAX_CONTROL_FINDINGS])
            more = len(locations) - MAX_CONTROL_FINDINGS
            tail = f" (+{more} more)" if more > 0 else ""
            console.print(Text(f"                 at: {shown}{tail}"))
    console.print()
    if any(not r.control.in_catalogue for r in view.controls):
        console.print(Text("* cited by a rule but not in the catalogue", style="dim"))
    console.print(Text(_summary_line(view), style="bold"))


def render_views_table(views: ReportViews, console: Console) -> None:
    if views.framework is not None:
        console.print()
        render_framework_table(views.framework, console)
    if views.maturity is not None:
        console.print()
        render_maturity_table(views.maturity, console)


# --- Markdown ---------------------------------------------------------------------------------------


def framework_markdown(view: FrameworkView) -> list[str]:
    catalogue = view.catalogue
    lines = [
        f"### {escape(catalogue.name)} {escape(catalogue.version)}",
        "",
        escape(_summary_line(view)),
        "",
        "| Control | Title | Status | Rules | Findings |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in view.controls:
        findings = "<br>".join(escape(line) for line in _finding_line(r)) or "—"
        title = escape(r.control.title) + ("" if r.control.in_catalogue else " (not in catalogue)")
        rules = escape(", ".join(r.rules)) or "—"
        lines.append(
            f"| {escape(r.control.id)} | {title} | {_STATUS_MARKS[r.status]} | {rules} |"
            f" {findings} |"
        )
    return [*lines, ""]


def render_markdown_views(result: ScanResult, ctx: ReportContext, views: ReportViews) -> str:
    """The Markdown report with the views appended before its footer."""
    base = render_markdown(result, ctx).rstrip("\n").split("\n")
    footer = base.pop() if base and base[-1].startswith("<sub>") else ""
    extra: list[str] = []
    if views.framework is not None:
        extra += framework_markdown(views.framework)
    if views.maturity is not None:
        extra += render_maturity_markdown(views.maturity, escape)
    lines = [*base, "", *extra, footer] if extra else [*base, footer]
    return "\n".join(lines).rstrip("\n") + "\n"


# --- SARIF ------------------------------------------------------------------------------------------


def _taxon(result: ControlResult) -> dict[str, Any]:
    taxon: dict[str, Any] = {
        "id": result.control.id,
        "name": result.control.id,
        "shortDescription": {"text": result.control.title},
        "properties": {
            "status": result.status.value,
            "rules": list(result.rules),
            "activeFindings": len(result.findings),
            "inCatalogue": result.control.in_catalogue,
        },
    }
    if result.control.group:
        taxon["properties"]["group"] = result.control.group
    return taxon


def sarif_views_log(result: ScanResult, ctx: ReportContext, views: ReportViews) -> dict[str, Any]:
    """The SARIF log with the framework as ``runs[0].taxonomies[0]`` and a ``relevant``
    relationship from each rule descriptor to every control it covers."""
    log = sarif_log(result, ctx)
    view = views.framework
    if view is None:
        return log
    run = log["runs"][0]
    catalogue = view.catalogue
    taxa = [_taxon(r) for r in view.controls]
    run["taxonomies"] = [
        {
            "name": catalogue.name,
            "version": catalogue.version,
            "informationUri": catalogue.information_uri,
            "isComprehensive": True,
            "shortDescription": {"text": f"{catalogue.name} {catalogue.version}"},
            "taxa": taxa,
        }
    ]
    index = {r.control.id: i for i, r in enumerate(view.controls)}
    covers: dict[str, list[str]] = {}
    for r in view.controls:
        for rule_id in r.rules:
            covers.setdefault(rule_id, []).append(r.control.id)
    for descriptor in run["tool"]["driver"]["rules"]:
        targets = covers.get(descriptor["id"], [])
        if targets:
            descriptor["relationships"] = [
                {
                    "target": {
                        "id": control_id,
                        "index": index[control_id],
                        "toolComponent": {"name": catalogue.name, "index": 0},
                    },
                    "kinds": ["relevant"],
                }
                for control_id in targets
            ]
    return log


def render_sarif_views(result: ScanResult, ctx: ReportContext, views: ReportViews) -> str:
    return json.dumps(sarif_views_log(result, ctx, views), indent=2, ensure_ascii=False) + "\n"


# --- JUnit ------------------------------------------------------------------------------------------


def _bears_on(r: ControlResult, group: RuleGroup) -> bool:
    """Whether a (rule, resource) group belongs in the control's suite: one of its findings counts
    for the control and says more than "not observable"."""
    return any(
        NOT_OBSERVABLE not in f.evidence and (r.counted is None or f.fingerprint in r.counted)
        for f in group.findings
    )


def _control_suite(
    r: ControlResult, by_rule: dict[str, tuple[RuleGroup, ...]], ctx: ReportContext, key: str
) -> tuple[ET.Element, list[str]]:
    name = f"{key} {r.control.id}"
    suite = ET.Element("testsuite", {"name": clean_xml(name), "time": "0"})
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", {"name": "title", "value": clean_xml(r.control.title)})
    ET.SubElement(properties, "property", {"name": "status", "value": r.status.value})
    ET.SubElement(properties, "property", {"name": "rules", "value": ", ".join(r.rules)})
    outcomes: list[str] = []
    for rule_id in r.rules:
        for group in by_rule.get(rule_id, ()):
            if not _bears_on(r, group):
                continue
            case, outcome = testcase(
                group, ctx, name=f"{group.rule_id} {group.resource.display()}", classname=name
            )
            suite.append(case)
            outcomes.append(outcome)
    if not outcomes:
        case = ET.SubElement(suite, "testcase", {"name": PASSING_CASE, "classname": name})
        if r.status is ControlStatus.NOT_COVERED:
            ET.SubElement(case, "skipped", {"message": "not covered by any kposture rule"})
            outcomes.append("skipped")
        elif r.status is ControlStatus.NOT_ASSESSED and r.not_observed:
            message = "covering rules could not observe what they judge: " + ", ".join(
                r.not_observed
            )
            ET.SubElement(case, "skipped", {"message": message})
            outcomes.append("skipped")
        elif r.status is ControlStatus.NOT_ASSESSED:
            message = "covering rules did not run: " + ", ".join(r.not_run or r.rules)
            ET.SubElement(case, "skipped", {"message": message})
            outcomes.append("skipped")
        else:
            outcomes.append("passed")
    return suite, outcomes


def junit_views_tree(result: ScanResult, ctx: ReportContext, views: ReportViews) -> ET.Element:
    """The standard report's suites (one per rule, and the inputs) followed by one ``<testsuite>``
    per control (named ``<framework> <control id>``, with the title, status and covering rules as
    properties) and one testcase per (covering rule, resource), judged as the standard JUnit report
    judges them. A control without findings has one ``all scanned resources`` testcase: passed when
    covered and assessed, skipped when not covered or not assessed. The framework view adds to the
    report; it never hides the findings of rules outside the framework."""
    view = views.framework
    if view is None:
        raise ValueError("junit_views_tree needs a framework view")
    by_rule = group_by_rule_and_resource(result.findings)
    root = junit_tree(result, ctx)
    root.set("name", f"kposture + {view.catalogue.name}")
    totals = {key: int(root.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    for r in view.controls:
        suite, outcomes = _control_suite(r, by_rule, ctx, view.catalogue.key)
        counts = {
            "tests": len(outcomes),
            "failures": outcomes.count("failure"),
            "errors": 0,
            "skipped": outcomes.count("skipped"),
        }
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        root.append(suite)
    for key, value in totals.items():
        root.set(key, str(value))
    return root


def render_junit_views(result: ScanResult, ctx: ReportContext, views: ReportViews) -> str:
    root = junit_views_tree(result, ctx, views)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


__all__ = [
    "ReportViews",
    "framework_markdown",
    "json_blocks",
    "junit_views_tree",
    "render_framework_table",
    "render_json_views",
    "render_junit_views",
    "render_markdown_views",
    "render_sarif_views",
    "render_views_table",
    "sarif_views_log",
]

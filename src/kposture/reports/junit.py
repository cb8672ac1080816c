"""JUnit XML output for CI test-report views (GitLab, Jenkins, Azure DevOps, GitHub test reporters).

One ``<testsuite>`` per rule, one ``<testcase>`` per (rule, resource). Suites are rules rather
than resources because CI views list suites with their pass/fail counts ("privileged-container: 3
failed" is what a reviewer asks), the rule set is stable between runs while resources come and go,
and a testcase's identity (rule, resource) stays the same across runs so CI history and flaky-test
tracking work. A rule that ran without findings gets one passing testcase. A testcase fails when an
active finding is at/above ``fail_on`` (any active finding when unset), is skipped when every
finding is suppressed, and passes otherwise. Input errors form a last ``kposture.inputs`` suite.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from kposture.model import Finding, InputError, ScanResult
from kposture.reports.context import ReportContext
from kposture.reports.grouping import (
    RuleGroup,
    group_by_rule_and_resource,
    is_failing,
    location_text,
)

SUITE_PREFIX = "kposture."
PASSING_CASE = "all scanned resources"
# XML 1.0 cannot carry most control characters, even escaped; drop them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean_xml(text: str) -> str:
    """``text`` without the control characters XML 1.0 cannot carry."""
    return _XML_INVALID.sub("", text)


_clean = clean_xml


@dataclass(slots=True)
class _Counts:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    suites: list[ET.Element] = field(default_factory=list)


def _finding_line(finding: Finding) -> str:
    where = location_text(finding) or "(no location)"
    return f"{where}: [{finding.severity.value}] {finding.message}"


def _failure_text(findings: list[Finding]) -> str:
    blocks = []
    for finding in findings:
        lines = [_finding_line(finding)]
        if finding.location is not None and finding.location.path:
            lines.append(f"  field: {finding.location.path}")
        lines.append(f"  remediation: {finding.remediation}")
        if finding.references:
            lines.append(f"  references: {', '.join(r.display() for r in finding.references)}")
        lines.append(f"  fingerprint: {finding.fingerprint}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def testcase(
    group: RuleGroup, ctx: ReportContext, *, name: str = "", classname: str = ""
) -> tuple[ET.Element, str]:
    """The testcase element and its outcome: ``failure``, ``skipped`` or ``passed``. By default
    named after the resource in the rule's suite; views name it after both in their own suites."""
    case = ET.Element(
        "testcase",
        {
            "name": _clean(name or group.resource.display()),
            "classname": _clean(classname or SUITE_PREFIX + group.rule_id),
            "time": "0",
        },
    )
    if (loc := group.findings[0].location) is not None:
        case.set("file", _clean(loc.file))
        if loc.line > 0:
            case.set("line", str(loc.line))
    failing = [f for f in group.findings if is_failing(f, ctx.fail_on)]
    active = [f for f in group.findings if f.suppressed_by is None]
    if failing:
        first = failing[0]
        message = f"{location_text(first) or group.resource.display()}: {first.message}"
        if len(failing) > 1:
            message += f" (+{len(failing) - 1} more)"
        message += f" — remediation: {first.remediation}"
        failure = ET.SubElement(
            case, "failure", {"message": _clean(message), "type": first.severity.value}
        )
        failure.text = _clean(_failure_text(failing))
        return case, "failure"
    if not active:
        reasons = "; ".join(
            f"suppressed by {f.suppressed_by.kind}: {f.suppressed_by.reason or 'no reason given'}"
            for f in group.findings
            if f.suppressed_by is not None
        )
        ET.SubElement(case, "skipped", {"message": _clean(reasons)})
        return case, "skipped"
    below = ET.SubElement(case, "system-out")
    below.text = _clean("Below the fail-on threshold:\n" + _failure_text(active))
    return case, "passed"


def _suite(name: str, counts: _Counts) -> ET.Element:
    suite = ET.Element("testsuite", {"name": _clean(name), "time": "0"})
    counts.suites.append(suite)
    return suite


def _close_suite(suite: ET.Element, outcomes: list[str], counts: _Counts) -> None:
    tests, failures = len(outcomes), outcomes.count("failure")
    errors, skipped = outcomes.count("error"), outcomes.count("skipped")
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    counts.tests += tests
    counts.failures += failures
    counts.errors += errors
    counts.skipped += skipped


def _error_case(error: InputError) -> tuple[ET.Element, str]:
    where = f"{error.file}:{error.line}" if error.line > 0 else (error.file or "(input)")
    case = ET.Element("testcase", {"name": _clean(where), "classname": "kposture.inputs"})
    if error.level == "warning":
        ET.SubElement(case, "skipped", {"message": _clean(error.message)})
        return case, "skipped"
    element = ET.SubElement(
        case, "error", {"message": _clean(f"{where}: {error.message}"), "type": "input-error"}
    )
    element.text = _clean(error.message)
    return case, "error"


def junit_tree(result: ScanResult, ctx: ReportContext) -> ET.Element:
    """The ``<testsuites>`` element (what ``render_junit`` serialises)."""
    counts = _Counts()
    grouped = group_by_rule_and_resource(result.findings)
    for rule_id in sorted(set(grouped) | set(ctx.rules)):
        suite = _suite(SUITE_PREFIX + rule_id, counts)
        outcomes: list[str] = []
        groups = grouped.get(rule_id, ())
        for group in groups:
            case, outcome = testcase(group, ctx)
            suite.append(case)
            outcomes.append(outcome)
        if not groups:
            ET.SubElement(
                suite, "testcase", {"name": PASSING_CASE, "classname": suite.get("name", "")}
            )
            outcomes.append("passed")
        _close_suite(suite, outcomes, counts)
    if result.errors:
        suite = _suite("kposture.inputs", counts)
        outcomes = []
        for error in result.errors:
            case, outcome = _error_case(error)
            suite.append(case)
            outcomes.append(outcome)
        _close_suite(suite, outcomes, counts)
    root = ET.Element(
        "testsuites",
        {
            "name": "kposture",
            "tests": str(counts.tests),
            "failures": str(counts.failures),
            "errors": str(counts.errors),
            "skipped": str(counts.skipped),
            "time": "0",
        },
    )
    root.extend(counts.suites)
    return root


def render_junit(result: ScanResult, ctx: ReportContext) -> str:
    root = junit_tree(result, ctx)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

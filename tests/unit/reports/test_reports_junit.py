"""JUnit XML: one suite per rule, a case per (rule, resource), failures by threshold, skips."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace

from kposture.model import Finding, Location, ResourceRef, ScanResult, Severity
from kposture.reports import ReportContext, render_junit


def _parse(result: ScanResult, ctx: ReportContext) -> ET.Element:
    text = render_junit(result, ctx)
    assert text.startswith("<?xml")
    return ET.fromstring(text)


def _suite(root: ET.Element, name: str) -> ET.Element:
    found = root.find(f"testsuite[@name='{name}']")
    assert found is not None, name
    return found


def test_counts_without_threshold_fail_every_active_finding(
    result: ScanResult, ctx: ReportContext
) -> None:
    root = _parse(result, ctx)
    assert root.tag == "testsuites"
    # 7 rules with findings (7 cases) + 1 passing rule + 2 input cases
    assert root.attrib["tests"] == "10"
    assert root.attrib["failures"] == "5"
    assert root.attrib["skipped"] == "3"  # two suppressed findings, one warning
    assert root.attrib["errors"] == "1"
    assert len(root.findall(".//failure")) == 5
    names = [s.attrib["name"] for s in root.findall("testsuite")]
    assert names[-1] == "kposture.inputs"
    assert names[:-1] == sorted(names[:-1])
    assert "kposture.read-only-root-fs" in names


def test_threshold_limits_failures(result: ScanResult, ctx: ReportContext) -> None:
    root = _parse(result, replace(ctx, fail_on=Severity.CRITICAL))
    assert root.attrib["failures"] == "2"
    medium = _suite(root, "kposture.run-as-root")
    assert medium.attrib["failures"] == "0"
    case = medium.find("testcase")
    assert case is not None
    assert case.find("failure") is None
    out = case.find("system-out")
    assert out is not None
    assert out.text is not None
    assert "Below the fail-on threshold" in out.text


def test_failure_message_has_location_and_remediation(
    result: ScanResult, ctx: ReportContext
) -> None:
    suite = _suite(_parse(result, ctx), "kposture.privileged-container")
    assert suite.attrib == {
        "name": "kposture.privileged-container",
        "time": "0",
        "tests": "1",
        "failures": "1",
        "errors": "0",
        "skipped": "0",
    }
    case = suite.find("testcase")
    assert case is not None
    assert case.attrib["name"] == "Deployment/default/web"
    assert case.attrib["classname"] == "kposture.privileged-container"
    assert case.attrib["file"] == "deploy/web.yaml"
    assert case.attrib["line"] == "27"
    failure = case.find("failure")
    assert failure is not None
    assert failure.attrib["type"] == "critical"
    assert "deploy/web.yaml:27" in failure.attrib["message"]
    assert "Fix privileged-container." in failure.attrib["message"]
    assert failure.text is not None
    assert "remediation: Fix privileged-container." in failure.text
    assert "field: spec.template.spec.containers[0].securityContext" in failure.text


def test_suppressed_cases_are_skipped_with_reason(result: ScanResult, ctx: ReportContext) -> None:
    root = _parse(result, ctx)
    skipped = _suite(root, "kposture.latest-tag").find("testcase/skipped")
    assert skipped is not None
    assert skipped.attrib["message"] == "suppressed by policy: vendor image"
    annotated = _suite(root, "kposture.missing-limits").find("testcase/skipped")
    assert annotated is not None
    assert annotated.attrib["message"] == "suppressed by annotation: sized by VPA"


def test_passing_rule_and_input_suite(result: ScanResult, ctx: ReportContext) -> None:
    root = _parse(result, ctx)
    passing = _suite(root, "kposture.read-only-root-fs")
    assert passing.attrib["tests"] == "1"
    assert passing.attrib["failures"] == "0"
    inputs = _suite(root, "kposture.inputs")
    error = inputs.find("testcase/error")
    assert error is not None
    assert error.attrib["message"] == "broken.yaml:3: mapping values are not allowed here"


def test_several_findings_on_one_resource_make_one_case(
    ctx: ReportContext, make_finding: Callable[..., Finding]
) -> None:
    pod = ResourceRef("v1", "Pod", "default", "p")
    findings = tuple(
        make_finding("run-as-root", pod, Location("p.yaml", line, 3, ""), fingerprint=f"fp{line}")
        for line in (4, 9)
    )
    suite = _suite(_parse(ScanResult(findings=findings), ctx), "kposture.run-as-root")
    assert suite.attrib["tests"] == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None
    assert "(+1 more)" in failure.attrib["message"]
    assert failure.text is not None
    assert "p.yaml:4" in failure.text
    assert "p.yaml:9" in failure.text


def test_control_characters_do_not_break_the_xml(
    ctx: ReportContext, make_finding: Callable[..., Finding]
) -> None:
    pod = ResourceRef("v1", "Pod", "default", "p\x01<&>")
    bad = make_finding("run-as-root", pod, None, message='bell\x07 "quoted" <tag> & \x1b[31m')
    root = _parse(ScanResult(findings=(bad,)), ctx)
    failure = root.find(".//failure")
    assert failure is not None
    assert '"quoted" <tag> &' in failure.attrib["message"]
    assert "(no location)" in (failure.text or "")

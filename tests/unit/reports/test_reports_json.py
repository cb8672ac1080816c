"""The kposture.scan/v1 JSON document: schema validity, exact summary, order, field shapes."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import jsonschema
import pytest

from kposture.model import Finding, Location, ScanResult, Severity
from kposture.reports import ReportContext, render_json


def _validate(document: dict[str, Any], schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(document), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_output_validates_against_the_shipped_schema(
    result: ScanResult, ctx: ReportContext, scan_schema: dict[str, Any]
) -> None:
    _validate(json.loads(render_json(result, ctx)), scan_schema)
    empty = ScanResult(findings=())
    _validate(json.loads(render_json(empty, ctx)), scan_schema)
    with_threshold = replace(ctx, fail_on=Severity.HIGH)
    _validate(json.loads(render_json(result, with_threshold)), scan_schema)


def test_schema_rejects_a_broken_document(
    result: ScanResult, ctx: ReportContext, scan_schema: dict[str, Any]
) -> None:
    document = json.loads(render_json(result, ctx))
    del document["summary"]["by_severity"]["info"]
    active = next(f for f in document["findings"] if not f["suppressed"])
    active["suppressed_by"] = {"kind": "annotation", "reason": "", "expires": None}
    validator = jsonschema.Draft202012Validator(scan_schema)
    messages = [e.message for e in validator.iter_errors(document)]
    assert any("'info' is a required property" in m for m in messages)
    assert len(messages) >= 2  # suppressed: false with a suppressed_by object is rejected too


def test_top_level_shape_and_exact_summary(result: ScanResult, ctx: ReportContext) -> None:
    document = json.loads(render_json(result, replace(ctx, fail_on=Severity.HIGH)))
    assert list(document) == [
        "schema",
        "tool",
        "scanned_at",
        "inputs",
        "summary",
        "findings",
        "errors",
    ]
    assert document["schema"] == "kposture.scan/v1"
    assert document["tool"] == {"name": "kposture", "version": "0.1.0"}
    assert document["scanned_at"] == "2026-11-26T15:00:00Z"
    assert document["inputs"] == ["deploy", "-"]
    assert document["summary"] == {
        "total": 5,
        "by_severity": {"critical": 2, "high": 2, "medium": 1, "low": 0, "info": 0},
        "by_rule": {
            "cluster-admin-binding": 1,
            "host-network": 1,
            "privileged-container": 1,
            "run-as-root": 1,
            "secret-in-env": 1,
        },
        "suppressed": 2,
        "errors": 1,
        "warnings": 1,
        "objects_scanned": 12,
        "rules_run": 8,
        "fail_on": "high",
        "failed": True,
    }
    assert list(document["summary"]["by_severity"]) == ["critical", "high", "medium", "low", "info"]


def test_verdict_without_threshold_is_null_and_passes_below_it(
    result: ScanResult, ctx: ReportContext, make_finding: Callable[..., Finding]
) -> None:
    assert json.loads(render_json(result, ctx))["summary"]["failed"] is None
    low_only = ScanResult(findings=(make_finding("read-only-root-fs", _ref(), None),))
    summary = json.loads(render_json(low_only, replace(ctx, fail_on=Severity.MEDIUM)))["summary"]
    assert summary["failed"] is False
    assert summary["by_severity"]["low"] == 1


def _ref() -> Any:
    from kposture.model import ResourceRef

    return ResourceRef("v1", "Pod", "default", "p")


def test_findings_sorted_by_file_line_rule_fingerprint(
    result: ScanResult, ctx: ReportContext
) -> None:
    findings = json.loads(render_json(result, ctx))["findings"]
    keys = [(f["location"] or {}).get("file") for f in findings]
    assert keys == [
        "deploy/db.yaml",
        "deploy/web.yaml",
        "deploy/web.yaml",
        "deploy/web.yaml",
        "manifests/my app/pod.yaml",
        "rbac.yaml",
        None,  # no location: last
    ]
    web_lines = [f["location"]["line"] for f in findings[1:4]]
    assert web_lines == [12, 27, 30]


def test_output_is_deterministic_whatever_the_input_order(
    result: ScanResult, ctx: ReportContext
) -> None:
    shuffled = list(result.findings)
    random.Random(4).shuffle(shuffled)
    assert render_json(replace(result, findings=tuple(shuffled)), ctx) == render_json(result, ctx)


def test_finding_fields(result: ScanResult, ctx: ReportContext) -> None:
    findings = json.loads(render_json(result, ctx))["findings"]
    by_rule = {f["rule_id"]: f for f in findings}
    privileged = by_rule["privileged-container"]
    assert list(privileged) == [
        "rule_id",
        "title",
        "severity",
        "domain",
        "stage",
        "message",
        "resource",
        "location",
        "evidence",
        "references",
        "remediation",
        "fingerprint",
        "suppressed",
        "suppressed_by",
    ]
    assert privileged["resource"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": "default",
        "name": "web",
    }
    assert privileged["location"] == {
        "file": "deploy/web.yaml",
        "line": 27,
        "column": 11,
        "path": "spec.template.spec.containers[0].securityContext",
    }
    assert privileged["evidence"] == {"container": "web"}
    assert privileged["references"][0] == {
        "framework": "CIS",
        "id": "5.2.2",
        "title": "Minimize the admission of privileged containers",
    }
    assert privileged["suppressed"] is False
    assert privileged["suppressed_by"] is None
    assert by_rule["missing-limits"]["suppressed_by"] == {
        "kind": "annotation",
        "reason": "sized by VPA",
        "expires": None,
    }
    assert by_rule["latest-tag"]["suppressed_by"] == {
        "kind": "policy",
        "reason": "vendor image",
        "expires": "2027-01-01",
    }
    assert by_rule["latest-tag"]["suppressed"] is True
    assert by_rule["secret-in-env"]["location"] is None
    assert by_rule["cluster-admin-binding"]["resource"]["namespace"] == ""


def test_errors_carry_level(result: ScanResult, ctx: ReportContext) -> None:
    errors = json.loads(render_json(result, ctx))["errors"]
    assert errors == [
        {
            "file": "broken.yaml",
            "line": 3,
            "message": "mapping values are not allowed here",
            "level": "error",
        },
        {
            "file": "charts/app",
            "line": 0,
            "message": "Helm chart skipped: no renderer",
            "level": "warning",
        },
    ]


@pytest.mark.parametrize("scanned_at", ["", "2026-11-26T15:00:00+01:00"])
def test_scanned_at_null_or_rfc3339(ctx: ReportContext, scanned_at: str) -> None:
    document = json.loads(render_json(ScanResult(findings=(), scanned_at=scanned_at), ctx))
    assert document["scanned_at"] == (scanned_at or None)


def test_unicode_is_kept_readable(ctx: ReportContext, make_finding: Callable[..., Finding]) -> None:
    loc = Location("déploiement/app.yaml", 1, 1, "")
    text = render_json(ScanResult(findings=(make_finding("run-as-root", _ref(), loc),)), ctx)
    assert "déploiement/app.yaml" in text
    assert text.endswith("}\n")

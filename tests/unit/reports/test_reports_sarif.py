"""SARIF 2.1.0: valid against the OASIS schema; levels, URIs, regions, suppressions, rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from kposture.model import Finding, Location, ResourceRef, ScanResult
from kposture.reports import ReportContext, render_sarif
from kposture.reports.sarif import artifact_location

POD = ResourceRef("v1", "Pod", "default", "p")


def _validate(log: dict[str, Any], schema: dict[str, Any]) -> None:
    jsonschema.Draft4Validator.check_schema(schema)
    validator = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(log), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def _log(result: ScanResult, ctx: ReportContext) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(render_sarif(result, ctx))
    return loaded


def _results_by_rule(log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["ruleId"]: r for r in log["runs"][0]["results"]}


def test_valid_against_the_official_schema(
    result: ScanResult, ctx: ReportContext, sarif_schema: dict[str, Any]
) -> None:
    _validate(_log(result, ctx), sarif_schema)
    _validate(_log(ScanResult(findings=()), ctx), sarif_schema)
    _validate(_log(ScanResult(findings=()), ReportContext("0", rules={})), sarif_schema)


def test_schema_catches_a_broken_log(
    result: ScanResult, ctx: ReportContext, sarif_schema: dict[str, Any]
) -> None:
    log = _log(result, ctx)
    log["runs"][0]["results"][0]["level"] = "critical"
    assert not jsonschema.Draft4Validator(sarif_schema).is_valid(log)


def test_driver_and_rule_descriptors(result: ScanResult, ctx: ReportContext) -> None:
    log = _log(result, ctx)
    assert log["version"] == "2.1.0"
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "kposture"
    assert driver["version"] == "0.1.0"
    assert "informationUri" not in driver  # no public home yet; never a made-up address
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == sorted(ctx.rules)  # every rule that ran, including one without findings
    rule = driver["rules"][ids.index("privileged-container")]
    assert rule["name"] == "PrivilegedContainer"
    assert rule["shortDescription"] == {"text": "Title of privileged-container"}
    assert rule["fullDescription"] == {"text": "Why privileged-container matters."}
    assert rule["help"]["text"].startswith("Fix privileged-container.\n\nsecurityContext:")
    assert "```yaml\nsecurityContext:\n  privileged: false\n```" in rule["help"]["markdown"]
    assert rule["defaultConfiguration"] == {"level": "error"}
    props = rule["properties"]
    assert props["security-severity"] == "9.5"
    assert props["tags"] == ["security", "workload-privileges", "crawl", "CIS 5.2.2", "MITRE T1611"]
    assert props["references"][1] == {"framework": "MITRE", "id": "T1611", "title": ""}
    severities = {r["id"]: r["properties"]["security-severity"] for r in driver["rules"]}
    assert severities["host-network"] == "8.0"
    assert severities["run-as-root"] == "5.5"
    assert severities["missing-limits"] == "3.0"
    assert severities["latest-tag"] == "1.0"
    for value in severities.values():
        float(value)  # GitHub needs a numeric string


def test_levels_and_rule_index(result: ScanResult, ctx: ReportContext) -> None:
    log = _log(result, ctx)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    results = _results_by_rule(log)
    assert {rule_id: r["level"] for rule_id, r in results.items()} == {
        "privileged-container": "error",
        "cluster-admin-binding": "error",
        "host-network": "error",
        "secret-in-env": "error",
        "run-as-root": "warning",
        "missing-limits": "note",
        "latest-tag": "note",
    }
    for rule_id, r in results.items():
        assert rules[r["ruleIndex"]]["id"] == rule_id
        assert r["partialFingerprints"] == {"kposture/v1": f"fp-{rule_id}-" + _name(r)}


def _name(sarif_result: dict[str, Any]) -> str:
    name: str = sarif_result["locations"][0]["logicalLocations"][0]["name"]
    return name


def test_locations_are_relative_encoded_uris_with_regions(
    result: ScanResult, ctx: ReportContext
) -> None:
    results = _results_by_rule(_log(result, ctx))
    physical = results["privileged-container"]["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "deploy/web.yaml", "uriBaseId": "%SRCROOT%"}
    assert physical["region"] == {"startLine": 27, "startColumn": 11}
    spaced = results["run-as-root"]["locations"][0]["physicalLocation"]
    assert spaced["artifactLocation"]["uri"] == "manifests/my%20app/pod.yaml"
    assert spaced["region"]["startLine"] == 5
    logical = results["privileged-container"]["locations"][0]["logicalLocations"][0]
    assert logical["fullyQualifiedName"] == "Deployment/default/web"
    assert logical["kind"] == "resource"


def test_finding_without_location_keeps_a_logical_location(
    result: ScanResult, ctx: ReportContext
) -> None:
    no_loc = _results_by_rule(_log(result, ctx))["secret-in-env"]
    assert no_loc["locations"] == [
        {
            "logicalLocations": [
                {
                    "name": "api",
                    "fullyQualifiedName": "Deployment/default/api",
                    "kind": "resource",
                    "properties": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "namespace": "default",
                    },
                }
            ]
        }
    ]


def test_suppressions(result: ScanResult, ctx: ReportContext) -> None:
    results = _results_by_rule(_log(result, ctx))
    assert results["missing-limits"]["suppressions"] == [
        {"kind": "inSource", "status": "accepted", "justification": "sized by VPA"}
    ]
    assert results["latest-tag"]["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "vendor image",
            "properties": {"expires": "2027-01-01"},
        }
    ]
    assert "suppressions" not in results["privileged-container"]


def test_input_errors_become_notifications(result: ScanResult, ctx: ReportContext) -> None:
    invocation = _log(result, ctx)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    notes = invocation["toolExecutionNotifications"]
    assert notes[0] == {
        "level": "error",
        "message": {"text": "mapping values are not allowed here"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": "broken.yaml", "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": 3},
                }
            }
        ],
    }
    assert notes[1]["level"] == "warning"
    assert "region" not in notes[1]["locations"][0]["physicalLocation"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("deploy/web.yaml", {"uri": "deploy/web.yaml", "uriBaseId": "%SRCROOT%"}),
        ("./deploy/web.yaml", {"uri": "deploy/web.yaml", "uriBaseId": "%SRCROOT%"}),
        ("deploy\\win dows\\a.yaml", {"uri": "deploy/win%20dows/a.yaml", "uriBaseId": "%SRCROOT%"}),
        ("a#b?c%d.yaml", {"uri": "a%23b%3Fc%25d.yaml", "uriBaseId": "%SRCROOT%"}),
        ("c:odd.yaml", {"uri": "./c:odd.yaml", "uriBaseId": "%SRCROOT%"}),
        ("/srv/manifests/a b.yaml", {"uri": "file:///srv/manifests/a%20b.yaml"}),
        ("C:\\repo\\a.yaml", {"uri": "file:///C:/repo/a.yaml"}),
        ("<stdin>", {"uri": "%3Cstdin%3E", "uriBaseId": "%SRCROOT%"}),
    ],
)
def test_artifact_location(path: str, expected: dict[str, str]) -> None:
    location = artifact_location(path)
    assert location == expected
    parts = urlsplit(location["uri"])
    assert " " not in location["uri"]
    assert parts.scheme in ("", "file")


def test_rule_missing_from_context_gets_a_descriptor(
    ctx: ReportContext, make_finding: Callable[..., Finding], sarif_schema: dict[str, Any]
) -> None:
    stray = make_finding("custom-cel-rule", POD, Location("p.yaml", 0, 0, ""))
    log = _log(ScanResult(findings=(stray,)), ReportContext("0.1.0", rules={}))
    _validate(log, sarif_schema)
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["custom-cel-rule"]
    assert run["results"][0]["ruleIndex"] == 0
    assert "region" not in run["results"][0]["locations"][0]["physicalLocation"]


def test_message_names_the_resource(result: ScanResult, ctx: ReportContext) -> None:
    message = _results_by_rule(_log(result, ctx))["host-network"]["message"]["text"]
    assert message == "host-network on web (Deployment/default/web)"


def test_stdin_findings_have_no_physical_location(
    ctx: ReportContext, make_finding: Callable[..., Finding], sarif_schema: dict[str, Any]
) -> None:
    pod = ResourceRef("v1", "Pod", "default", "p")
    stdin = make_finding("run-as-root", pod, Location("<stdin>", 4, 3, "spec"), fingerprint="s")
    log = json.loads(render_sarif(ScanResult(findings=(stdin,)), ctx))
    jsonschema.Draft4Validator(sarif_schema).validate(log)
    (location,) = log["runs"][0]["results"][0]["locations"]
    assert "physicalLocation" not in location
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "Pod/default/p"


def test_cluster_findings_have_no_physical_location(
    ctx: ReportContext, make_finding: Callable[..., Finding], sarif_schema: dict[str, Any]
) -> None:
    pod = ResourceRef("v1", "Pod", "shop", "web")
    live = make_finding("run-as-root", pod, Location("cluster:prod", 0, 0, "spec"), fingerprint="c")
    log = json.loads(render_sarif(ScanResult(findings=(live,)), ctx))
    jsonschema.Draft4Validator(sarif_schema).validate(log)
    (location,) = log["runs"][0]["results"][0]["locations"]
    assert "physicalLocation" not in location

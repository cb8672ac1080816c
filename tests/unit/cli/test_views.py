"""``scan --framework`` / ``--maturity`` and ``rules list --framework`` through the command line."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from kposture.cli import app
from kposture.reports.json_report import scan_schema


def _json(runner: CliRunner, *args: str) -> dict[str, object]:
    result = runner.invoke(app, ["scan", "pod.yaml", "-o", "json", *args])
    assert result.exit_code == 1, result.output
    document: dict[str, object] = json.loads(result.stdout)
    jsonschema.Draft202012Validator(scan_schema()).validate(document)
    return document


def test_framework_json_validates_and_fails_the_privileged_control(
    runner: CliRunner, workdir: Path
) -> None:
    document = _json(runner, "--framework", "cis")
    block = document["framework"]
    assert isinstance(block, dict)
    controls = {c["id"]: c for c in block["controls"]}
    assert controls["5.2.2"]["status"] == "fail"
    assert "privileged-container" in controls["5.2.2"]["rules"]
    assert controls["1.1.1"]["status"] == "not-covered"
    assert block["summary"]["not_covered"] > 0
    assert "maturity" not in document


def test_plain_json_has_no_view_blocks(runner: CliRunner, workdir: Path) -> None:
    document = _json(runner)
    assert "framework" not in document and "maturity" not in document


def test_maturity_json(runner: CliRunner, workdir: Path) -> None:
    document = _json(runner, "--maturity", "--framework", "pss-baseline")
    maturity = document["maturity"]
    assert isinstance(maturity, dict)
    levels = {d["domain"]: d for d in maturity["domains"]}
    workload = levels["workload-privileges"]
    assert workload["level"] == "none"
    assert workload["next_stage"] == "crawl"
    assert any(b["rule_id"] == "privileged-container" for b in workload["blockers"])
    assert all(b["location"].startswith("pod.yaml:") for b in workload["blockers"])
    assert levels["key-config-files"]["level"] == "not-assessed"


def test_rules_disabled_by_policy_are_not_counted_as_passing(
    runner: CliRunner, workdir: Path
) -> None:
    (workdir / "policy.yaml").write_text(
        "apiVersion: kposture.io/v1\nkind: Policy\nrules:\n  disabled: [host-ipc]\n"
    )
    result = runner.invoke(
        app,
        ["scan", "pod.yaml", "-o", "json", "--policy", "policy.yaml", "--framework", "cis"],
    )
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    controls = {c["id"]: c for c in document["framework"]["controls"]}
    assert controls["5.2.4"]["status"] == "not-assessed"
    assert controls["5.2.4"]["rules_not_run"] == ["host-ipc"]


@pytest.mark.parametrize("key", ["cis", "nsa", "pss-baseline", "pss-restricted", "owasp", "mitre"])
def test_every_framework_in_every_format(runner: CliRunner, workdir: Path, key: str) -> None:
    for fmt in ("table", "json", "sarif", "junit", "markdown"):
        result = runner.invoke(app, ["scan", "pod.yaml", "-o", fmt, "--framework", key])
        assert result.exit_code == 1, (fmt, result.output)
        assert result.stdout.strip(), fmt
    sarif = runner.invoke(app, ["scan", "pod.yaml", "-o", "sarif", "--framework", key])
    assert json.loads(sarif.stdout)["runs"][0]["taxonomies"][0]["taxa"]
    junit = runner.invoke(app, ["scan", "pod.yaml", "-o", "junit", "--framework", key])
    assert ET.fromstring(junit.stdout.split("\n", 1)[1]).tag == "testsuites"


def test_table_and_markdown_show_views(runner: CliRunner, workdir: Path) -> None:
    table = runner.invoke(app, ["scan", "pod.yaml", "--framework", "owasp", "--maturity"])
    assert table.exit_code == 1
    assert "OWASP Kubernetes Top 10 2022" in table.stdout
    assert "fail         K01" in table.stdout
    assert "not-covered  K10" in table.stdout
    assert "Maturity (crawl / walk / run)" in table.stdout
    markdown = runner.invoke(app, ["scan", "pod.yaml", "-o", "markdown", "--maturity"])
    assert "### Maturity (crawl / walk / run)" in markdown.stdout


def test_maturity_is_refused_where_it_cannot_be_shown(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(app, ["scan", "pod.yaml", "-o", "sarif", "--maturity"])
    assert result.exit_code == 2
    assert "--maturity works with" in result.stderr


def test_unknown_framework_is_a_usage_error(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(app, ["scan", "pod.yaml", "--framework", "nist"])
    assert result.exit_code == 2


def test_rules_list_framework_json(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "list", "--framework", "cis", "-o", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    controls = {c["id"]: c for c in document["controls"]}
    assert "privileged-container" in controls["5.2.2"]["rules"]
    assert controls["1.1.1"] == {
        "id": "1.1.1",
        "title": controls["1.1.1"]["title"],
        "group": "1.1 Control Plane Node Configuration Files",
        "in_catalogue": True,
        "covered": False,
        "rules": [],
    }
    summary = document["summary"]
    assert summary["controls"] == 130
    assert summary["covered"] + summary["not_covered"] == 130
    assert 0 < summary["coverage_percent"] < 100


def test_rules_list_framework_table(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "list", "--framework", "pss-restricted"])
    assert result.exit_code == 0, result.output
    assert "Pod Security Standards (restricted)" in result.stdout
    assert "HostProcess" in result.stdout
    assert "privileged-container" in result.stdout

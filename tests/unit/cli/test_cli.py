"""The command line in-process: exit codes, formats, policy errors, stdin, and rule commands."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kposture.cli import app


def test_scan_json_points_at_the_privileged_line(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(app, ["scan", "pod.yaml", "-o", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["schema"] == "kposture.scan/v1"
    privileged = [f for f in report["findings"] if f["rule_id"] == "privileged-container"]
    assert len(privileged) == 1
    assert privileged[0]["location"]["file"] == "pod.yaml"
    assert privileged[0]["location"]["line"] == 11
    assert privileged[0]["location"]["path"] == "spec.containers[0].securityContext.privileged"


def test_fail_on_threshold_decides_exit_code(runner: CliRunner, workdir: Path) -> None:
    assert (
        runner.invoke(app, ["scan", "pod.yaml", "--fail-on", "critical", "-o", "json"]).exit_code
        == 1
    )
    assert (
        runner.invoke(app, ["scan", "pod.yaml", "--fail-on", "never", "-o", "json"]).exit_code == 0
    )


def test_clean_manifest_exits_zero(runner: CliRunner, workdir: Path) -> None:
    (workdir / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\n"
    )
    result = runner.invoke(app, ["scan", "cm.yaml", "--fail-on", "low", "-o", "json"])
    assert result.exit_code == 0, result.output


def test_broken_file_exits_two_and_keeps_other_findings(runner: CliRunner, workdir: Path) -> None:
    (workdir / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: [\n")
    result = runner.invoke(app, ["scan", ".", "-o", "json"])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert any(f["rule_id"] == "privileged-container" for f in report["findings"])
    assert any(e["file"] == "broken.yaml" and e["line"] >= 3 for e in report["errors"])


def test_stdin(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(
        app, ["scan", "-", "-o", "json"], input=(workdir / "pod.yaml").read_text()
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert {f["rule_id"] for f in report["findings"]} >= {"privileged-container"}


def test_missing_path_is_an_input_error_and_the_rest_is_reported(
    runner: CliRunner, workdir: Path
) -> None:
    result = runner.invoke(app, ["scan", "./nope.yaml", "pod.yaml", "-o", "json"])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert any(f["rule_id"] == "privileged-container" for f in report["findings"])
    missing = [e for e in report["errors"] if e["file"] == "./nope.yaml"]
    assert [(e["line"], e["message"], e["level"]) for e in missing] == [
        (0, "no such file or directory", "error")
    ]
    # When no path exists at all there is nothing to report: a usage error naming the path.
    alone = runner.invoke(app, ["scan", "nope.yaml"])
    assert alone.exit_code == 2
    assert "nope.yaml: no such file or directory" in alone.stderr


def test_policy_file_error_names_file_and_line(runner: CliRunner, workdir: Path) -> None:
    (workdir / ".kposture.yaml").write_text("rules:\n  disabled: [privileged-containr]\n")
    result = runner.invoke(app, ["scan", "pod.yaml"])
    assert result.exit_code == 2
    assert ".kposture.yaml:2: unknown rule id 'privileged-containr'" in result.stderr


def test_policy_exception_suppresses_and_passes_the_gate(runner: CliRunner, workdir: Path) -> None:
    (workdir / "policy.yaml").write_text(
        "exceptions:\n  - rules: ['*']\n    namespaces: [shop]\n    reason: legacy app\n"
    )
    result = runner.invoke(app, ["scan", "pod.yaml", "--policy", "policy.yaml", "-o", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["findings"]
    assert all(f["suppressed"] for f in report["findings"])
    assert report["findings"][0]["suppressed_by"]["reason"] == "legacy app"


def test_output_file(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(app, ["scan", "pod.yaml", "-o", "sarif", "--output-file", "out.sarif"])
    assert result.exit_code == 1
    sarif = json.loads((workdir / "out.sarif").read_text())
    assert sarif["version"] == "2.1.0"


def test_table_output_groups_by_resource(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(app, ["scan", "pod.yaml"])
    assert result.exit_code == 1
    assert "Pod/shop/web" in result.stdout
    assert "privileged-container" in result.stdout


def test_rules_list_json_and_show(runner: CliRunner) -> None:
    listed = runner.invoke(app, ["rules", "list", "-o", "json"])
    assert listed.exit_code == 0
    ids = [rule["id"] for rule in json.loads(listed.stdout)]
    assert "privileged-container" in ids
    shown = runner.invoke(app, ["rules", "show", "privileged-container"])
    assert shown.exit_code == 0
    assert "CIS 5.2.2" in shown.stdout
    assert "Remediation" in shown.stdout


def test_rules_show_unknown_suggests(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "show", "privileged-containr"])
    assert result.exit_code == 2
    assert "Did you mean: privileged-container" in result.stderr


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("kposture ")


def test_unwritable_output_file_is_a_clean_usage_error(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(app, ["scan", "pod.yaml", "-o", "json", "--output-file", "no/such/x"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot write no/such/x:")
    assert "Traceback" not in result.stderr
    directory = runner.invoke(app, ["scan", "pod.yaml", "-o", "json", "--output-file", "."])
    assert directory.exit_code == 2


def test_table_says_incomplete_rather_than_pass_when_input_failed(
    runner: CliRunner, workdir: Path
) -> None:
    (workdir / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: [\n")
    result = runner.invoke(app, ["scan", "pod.yaml", "--fail-on", "critical"])
    assert result.exit_code == 2
    assert "INCOMPLETE" in result.stdout
    assert "PASS" not in result.stdout


def test_policy_glob_matching_no_rule_is_an_error(runner: CliRunner, workdir: Path) -> None:
    (workdir / ".kposture.yaml").write_text("exceptions:\n  - rules: [hots-*]\n    reason: typo\n")
    result = runner.invoke(app, ["scan", "pod.yaml"])
    assert result.exit_code == 2
    assert ".kposture.yaml:2: rule pattern 'hots-*' matches no rule" in result.stderr


def test_reports_name_the_policy_file_in_force(runner: CliRunner, workdir: Path) -> None:
    table = runner.invoke(app, ["scan", "pod.yaml"])
    assert "policy: none (built-in defaults)" in table.stdout
    (workdir / ".kposture.yaml").write_text("rules:\n  disabled: [host-pid]\n")
    table = runner.invoke(app, ["scan", "pod.yaml"])
    assert "policy: .kposture.yaml" in table.stdout
    markdown = runner.invoke(app, ["scan", "pod.yaml", "-o", "markdown"])
    assert "policy: .kposture.yaml" in markdown.stdout
    sarif = json.loads(runner.invoke(app, ["scan", "pod.yaml", "-o", "sarif"]).stdout)
    invocation = sarif["runs"][0]["invocations"][0]
    assert invocation["properties"]["policyFile"] == ".kposture.yaml"

"""Custom rules on the command line: scan --rules, the policy file's customRules, admission
what-if --rules, and kposture rules test with its exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from kposture.cli import app

FIXTURES = Path(__file__).parents[1] / "policy" / "custom_rules"

POD_RULE = """\
apiVersion: kposture.io/v1
kind: Rule
metadata:
  name: {name}
spec:
  title: Pods name an owner
  severity: high
  domain: namespaces
  stage: crawl
  description: Every pod names its owner.
  remediation: Add an owner label.
  match:
    kinds: [{{apiGroups: [""], kinds: [Pod]}}]
  validations:
    - expression: "{expression}"
      message: the pod has no owner label
      path: metadata.labels
"""


def write_rules(folder: Path) -> None:
    folder.mkdir()
    good = POD_RULE.format(
        name="pod-owner",
        expression="has(object.metadata.labels) && 'owner' in object.metadata.labels",
    )
    bad = POD_RULE.format(name="broken-rule", expression="object.metadata.name ==")
    (folder / "rules.yaml").write_text(good + "---\n" + bad)


def test_scan_runs_valid_custom_rules_and_reports_bad_ones(
    runner: CliRunner, workdir: Path
) -> None:
    write_rules(workdir / "rules")
    result = runner.invoke(app, ["scan", "pod.yaml", "--rules", "rules", "-o", "json"])
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    owner = [f for f in report["findings"] if f["rule_id"] == "pod-owner"]
    assert owner[0]["message"] == "the pod has no owner label"
    assert owner[0]["location"]["line"] == 3  # the metadata line: the pod has no labels
    assert owner[0]["severity"] == "high"
    errors = [e for e in report["errors"] if e["file"] == "rules/rules.yaml"]
    assert errors[0]["line"] == 33
    assert errors[0]["message"].startswith("rule broken-rule: expression does not compile")


def test_policy_file_custom_rules_relative_to_it(runner: CliRunner, workdir: Path) -> None:
    (workdir / "conf").mkdir()
    write_rules(workdir / "conf" / "rules")
    (workdir / "conf" / "policy.yaml").write_text(
        "customRules: [rules, missing]\nrules:\n  severity:\n    pod-owner: low\n"
        "  disabled: [broken-rule]\n"
    )
    result = runner.invoke(app, ["scan", "pod.yaml", "--policy", "conf/policy.yaml", "-o", "json"])
    report = json.loads(result.stdout)
    owner = [f for f in report["findings"] if f["rule_id"] == "pod-owner"]
    assert owner[0]["severity"] == "low"
    messages = [
        (e["file"], e["line"], e["message"]) for e in report["errors"] if e["level"] == "error"
    ]
    assert (
        "conf/policy.yaml",
        1,
        "customRules: no such rule file or directory 'missing'",
    ) in messages
    assert result.exit_code == 2


def test_policy_naming_an_unknown_rule_is_still_refused(runner: CliRunner, workdir: Path) -> None:
    write_rules(workdir / "rules")
    (workdir / "policy.yaml").write_text("rules:\n  disabled: [pod-ownr]\n")
    result = runner.invoke(app, ["scan", "pod.yaml", "--rules", "rules", "--policy", "policy.yaml"])
    assert result.exit_code == 2
    assert "unknown rule id 'pod-ownr'" in result.output


def test_what_if_with_custom_rule_enforced(runner: CliRunner, workdir: Path) -> None:
    (workdir / "rules").mkdir()
    rule = POD_RULE.format(name="pod-owner", expression="has(object.metadata.labels)")
    (workdir / "rules" / "rules.yaml").write_text(rule)
    (workdir / "policy.yaml").write_text(
        "admission:\n  mode: warn\n  rules:\n    pod-owner: enforce\n"
    )
    result = runner.invoke(
        app,
        [
            "admission",
            "what-if",
            "pod.yaml",
            "--rules",
            "rules",
            "--policy",
            "policy.yaml",
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    violations = report["namespaces"][0]["objects"][0]["violations"]
    assert {"pod-owner": "enforce"}.items() <= {v["rule_id"]: v["mode"] for v in violations}.items()


def test_rules_test_exit_codes(runner: CliRunner, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    shutil.copytree(FIXTURES, suite)
    passed = runner.invoke(app, ["rules", "test", str(suite)])
    assert passed.exit_code == 0, passed.output
    assert "2 test files: 2 passed, 0 failed, 0 broken; 7 of 7 results as expected" in passed.output

    test_file = suite / "labels-test" / "kposture-test.yaml"
    test_file.write_text(test_file.read_text().replace("result: skip", "result: fail", 1))
    failed = runner.invoke(app, ["rules", "test", str(suite), "-o", "json"])
    assert failed.exit_code == 1
    report = json.loads(failed.stdout)
    wrong = [r for t in report["tests"] for r in t["results"] if not r["ok"]]
    assert wrong == [
        {
            "rule": "replica-ceiling",
            "resource": "Deployment/dev/api",
            "expected": "fail",
            "actual": "skip",
            "ok": False,
            "detail": "the rule does not select this resource",
        }
    ]

    (suite / "update-test" / "kposture-test.yaml").write_text(
        "apiVersion: kposture.io/v1\nkind: RuleTest\nrules: [nope.yaml]\n"
    )
    broken = runner.invoke(app, ["rules", "test", str(suite)])
    assert broken.exit_code == 2
    assert "BROKEN" in broken.output


def test_rules_test_without_tests_is_broken(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(app, ["rules", "test", str(tmp_path)]).exit_code == 2


def test_rules_list_and_show_custom_rules(runner: CliRunner, workdir: Path) -> None:
    folder = workdir / "rules"
    folder.mkdir()
    good = POD_RULE.format(name="pod-owner", expression="has(object.metadata.labels)")
    (folder / "rules.yaml").write_text(good)
    listed = runner.invoke(app, ["rules", "list", "--rules", "rules", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    ids = [rule["id"] for rule in json.loads(listed.stdout)]
    assert "pod-owner" in ids and "privileged-container" in ids
    shown = runner.invoke(app, ["rules", "show", "pod-owner", "--rules", "rules"])
    assert shown.exit_code == 0, shown.output
    assert "Pods name an owner" in shown.stdout
    assert "rules/rules.yaml:1" in shown.stdout
    (workdir / "policy.yaml").write_text("customRules: [rules]\n")
    by_policy = runner.invoke(app, ["rules", "show", "pod-owner", "--policy", "policy.yaml"])
    assert by_policy.exit_code == 0, by_policy.output


def test_rules_list_checks_a_rules_directory(runner: CliRunner, workdir: Path) -> None:
    write_rules(workdir / "rules")
    (workdir / "rules" / "again.yaml").write_text(
        POD_RULE.format(name="pod-owner", expression="true")
    )
    result = runner.invoke(app, ["rules", "list", "--rules", "rules", "-o", "json"])
    assert result.exit_code == 2
    assert "pod-owner" in [rule["id"] for rule in json.loads(result.stdout)]
    errors = result.stderr
    assert "rules/rules.yaml:33: rule broken-rule: expression does not compile" in errors
    assert (
        "rules/rules.yaml:1: rule pod-owner: duplicate rule id: this rule is dropped, the one "
        "defined first at rules/again.yaml:1 is kept" in errors
    )


DETECTION = """\
apiVersion: kposture.io/v1
kind: Detection
metadata:
  name: prod-configmap-deleted
spec: {}
"""


def test_rules_list_warns_that_detections_belong_to_detect(
    runner: CliRunner, workdir: Path
) -> None:
    (workdir / "dets.yaml").write_text(DETECTION + "---\n" + DETECTION)
    rule_text = POD_RULE.format(name="pod-owner", expression="true") + "---\n"
    (workdir / "mixed.yaml").write_text(rule_text + DETECTION)
    detection_line = rule_text.count("\n") + 1
    result = runner.invoke(app, ["rules", "list", "--rules", "dets.yaml", "--rules", "mixed.yaml"])
    assert result.exit_code == 0, result.output
    assert "pod-owner" in result.stdout
    assert result.stderr.splitlines() == [
        f"warning: {name}: Detection documents are audit-log detections: use kposture detect "
        "--detections"
        for name in ("dets.yaml:1", f"mixed.yaml:{detection_line}")
    ]


def test_what_if_shows_why_a_rule_errored(runner: CliRunner, workdir: Path) -> None:
    (workdir / "rules").mkdir()
    rule = POD_RULE.format(name="pod-owner", expression="object.spec.missing == 1")
    (workdir / "rules" / "rules.yaml").write_text(rule)
    why = (
        "rule pod-owner failed on Pod/shop/web: rules/rules.yaml:15: validation failed: "
        "no such key: missing (guard the read with has())"
    )
    table = runner.invoke(app, ["admission", "what-if", "pod.yaml", "--rules", "rules"])
    assert f"error    {why}" in table.stdout, table.output
    result = runner.invoke(
        app, ["admission", "what-if", "pod.yaml", "--rules", "rules", "-o", "json"]
    )
    entry = json.loads(result.stdout)["namespaces"][0]["objects"][0]
    assert entry["outcome"] == "error"
    assert entry["rule_errors"] == [why]


def test_readme_and_help_point_to_the_examples_and_every_rules_command(
    runner: CliRunner,
) -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    assert "examples/rules/" in readme
    assert "kposture rules test examples/rules" in readme
    examples = Path(__file__).parents[3] / "examples" / "rules"
    count = sum(1 for entry in examples.iterdir() if (entry / "kposture-test.yaml").is_file())
    assert f"{count} example custom rules" in readme
    shown = runner.invoke(app, ["rules", "--help"])
    assert shown.exit_code == 0
    assert "List, show, test and export rules" in " ".join(shown.stdout.split())

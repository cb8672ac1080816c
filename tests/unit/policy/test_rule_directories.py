"""A rules directory may hold fixtures and rule tests beside its rules (as examples/rules does):
those are left out when the directory is loaded, never when a file is named."""

from __future__ import annotations

from pathlib import Path

from kposture.policy.rule_files import load_rule_files

RULE = """\
apiVersion: kposture.io/v1
kind: Rule
metadata: {name: team-label}
spec:
  title: Deployments carry a team label
  severity: low
  domain: workload-privileges
  stage: crawl
  description: Owners are found by the team label.
  remediation: Add a team label.
  match: {kinds: [{apiGroups: [apps], kinds: [Deployment]}]}
  validations:
  - expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
    message: no team label
"""
FIXTURE = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
TEST = "apiVersion: kposture.io/v1\nkind: RuleTest\nrules: [rule.yaml]\nresources: [fixture.yaml]\n"


def _folder(tmp_path: Path, misspelt: str = "") -> Path:
    (tmp_path / "rule.yaml").write_text(RULE + misspelt, encoding="utf-8")
    (tmp_path / "fixture.yaml").write_text(FIXTURE, encoding="utf-8")
    (tmp_path / "kposture-test.yaml").write_text(TEST, encoding="utf-8")
    return tmp_path


def test_a_directory_loads_its_rules_and_leaves_fixtures_and_tests_out(tmp_path: Path) -> None:
    loaded = load_rule_files([_folder(tmp_path)])
    assert [rule.id for rule in loaded.rules] == ["team-label"]
    assert loaded.errors == ()


def test_a_misspelt_kposture_kind_in_a_directory_is_still_an_error(tmp_path: Path) -> None:
    loaded = load_rule_files([_folder(tmp_path, "---\napiVersion: kposture.io/v1\nkind: Rul\n")])
    assert [rule.id for rule in loaded.rules] == ["team-label"]
    assert len(loaded.errors) == 1
    assert "kind must be Rule" in str(loaded.errors[0])


def test_a_named_file_must_hold_only_rules(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    loaded = load_rule_files([folder / "fixture.yaml"])
    assert loaded.rules == ()
    assert "apiVersion must be kposture.io/v1" in str(loaded.errors[0])

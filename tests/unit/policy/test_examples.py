"""The custom rule examples under ``examples/rules/``: their own ``kposture-test.yaml`` tests pass,
each covers a passing and a failing resource, and their ValidatingAdmissionPolicy export is valid
for Kubernetes 1.30 and gives, on every fixture, the verdict kposture's CEL engine gives.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from kposture.inventory import Inventory
from kposture.model import K8sObject
from kposture.policy.cel_rules import CelCheck, CelRuleError
from kposture.policy.rule_files import load_rule_files
from kposture.policy.rule_testing import find_test_files, run_tests
from kposture.policy.vap_export import ExportSettings, custom_export_rule, export_rules
from kposture.rules import builtin_rules
from support import load_objects
from vap_simulation import evaluate_policy

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "rules"
RULE_FILES = sorted(EXAMPLES.glob("*/rule.yaml"))
TODAY = dt.date(2026, 1, 1)


def _loaded() -> Any:
    loaded = load_rule_files(RULE_FILES, taken_ids={rule.id for rule in builtin_rules()})
    assert not loaded.errors, [str(error) for error in loaded.errors]
    return loaded


def test_there_are_at_least_ten_examples_each_with_a_test() -> None:
    assert len(RULE_FILES) >= 10
    for rule_file in RULE_FILES:
        assert (rule_file.parent / "kposture-test.yaml").is_file(), rule_file.parent.name


def test_examples_pass_their_own_tests() -> None:
    run = run_tests(EXAMPLES, TODAY)
    assert len(run.outcomes) == len(RULE_FILES)
    problems = [
        (outcome.file, outcome.problems, [c for c in outcome.cases if not c.ok])
        for outcome in run.outcomes
        if outcome.status != "passed"
    ]
    assert not problems
    assert run.exit_code == 0


@pytest.mark.parametrize("test_file", find_test_files(EXAMPLES), ids=lambda p: p.parent.name)
def test_each_example_covers_pass_and_fail(test_file: Path) -> None:
    spec = yaml.safe_load(test_file.read_text(encoding="utf-8"))
    outcomes = {result["result"] for result in spec["results"]}
    assert {"pass", "fail"} <= outcomes


def _fixtures(test_file: Path) -> tuple[list[K8sObject], list[K8sObject]]:
    spec = yaml.safe_load(test_file.read_text(encoding="utf-8"))
    base = test_file.parent
    resources = load_objects([base / name for name in spec["resources"]])
    namespaces = load_objects([base / name for name in spec.get("namespaces", [])])
    return resources, namespaces


def _engine_verdict(check: CelCheck, obj: K8sObject, inventory: Inventory) -> str:
    if not check.applies(obj, inventory, "CREATE"):
        return "skip"
    try:
        return "fail" if list(check(obj, inventory)) else "pass"
    except CelRuleError:
        return "error"


def test_exported_examples_are_valid_for_kubernetes_1_30() -> None:
    loaded = _loaded()
    exported = export_rules([custom_export_rule(s) for s in loaded.specs], ExportSettings())
    assert not exported.errors
    assert len(exported.manifests) == 2 * len(loaded.specs)
    for manifest in exported.manifests:
        kubernetes_validate.validate(dict(manifest), "1.30.0", strict=True)


@pytest.mark.parametrize("test_file", find_test_files(EXAMPLES), ids=lambda p: p.parent.name)
def test_exported_policy_gives_the_engines_verdicts(test_file: Path) -> None:
    loaded = _loaded()
    resources, namespaces = _fixtures(test_file)
    inventory = Inventory((*resources, *namespaces))
    by_name = {ns.ref.name: ns.raw for ns in namespaces}
    seen: set[str] = set()
    for spec, rule in zip(loaded.specs, loaded.rules, strict=True):
        if spec.file != (test_file.parent / "rule.yaml").as_posix():
            continue
        assert isinstance(rule.check, CelCheck)
        policy = export_rules([custom_export_rule(spec)], ExportSettings()).manifests[0]
        for obj in resources:
            expected = _engine_verdict(rule.check, obj, inventory)
            actual = evaluate_policy(
                dict(policy), obj.raw, namespace_object=by_name.get(obj.ref.namespace)
            )
            assert actual == expected, f"{spec.id} on {obj.ref}"
            seen.add(expected)
    assert {"pass", "fail"} <= seen

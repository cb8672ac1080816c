"""Custom rules running in the engine: violations with messages and paths, matching, bindings
(scan and admission), one shared activation per object, runtime errors and cost refusals as
error results, never crashes or passes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from kposture.engine import Registry, evaluate, evaluate_one
from kposture.inventory import Inventory
from kposture.model import K8sObject, ResourceRef, RunPolicy, SourceLocation
from kposture.model.admission import AdmissionPolicy
from kposture.policy import cel_rules
from kposture.policy.cel_programs import CelExpression, run
from kposture.policy.cel_rules import ACTIVATION_KEY, COST_BUDGET
from kposture.policy.rule_files import load_rule_files
from kposture.rules.base import Rule
from kposture.server.deciding import Decider
from kposture.server.reviews import parse_review
from kposture.sources.manifests import load_manifests

TODAY = dt.date(2026, 1, 15)
FIXTURES = Path(__file__).parent / "custom_rules"


def rules_from(
    tmp_path: Path, body: str, *, kinds: str = "[ConfigMap]", group: str = '""'
) -> tuple[Rule, ...]:
    text = f"""\
apiVersion: kposture.io/v1
kind: Rule
metadata:
  name: custom-check
spec:
  title: A custom check
  severity: medium
  domain: namespaces
  stage: crawl
  description: Why.
  remediation: Fix it.
  match:
    kinds:
      - apiGroups: [{group}]
        kinds: {kinds}
{body}"""
    (tmp_path / "rule.yaml").write_text(text)
    loaded = load_rule_files([tmp_path / "rule.yaml"])
    assert loaded.errors == (), [str(e) for e in loaded.errors]
    return loaded.rules


def config_map(
    data: dict[str, Any], name: str = "cm", namespace: str = "shop", **labels: str
) -> K8sObject:
    raw = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": data,
    }
    return K8sObject(
        ResourceRef("v1", "ConfigMap", namespace, name), raw, SourceLocation("cm.yaml")
    )


def judge(rules: tuple[Rule, ...], *objects: K8sObject) -> Any:
    return evaluate(Inventory(objects), Registry(rules), RunPolicy(), TODAY)


def test_fixture_rules_in_a_scan_point_at_their_lines() -> None:
    loaded = load_rule_files([FIXTURES / "rules"])
    manifests = load_manifests(
        [
            str(FIXTURES / "labels-test" / "resources.yaml"),
            str(FIXTURES / "labels-test" / "namespaces.yaml"),
        ]
    )
    result = evaluate(Inventory(manifests.objects), Registry(loaded.rules), RunPolicy(), TODAY)
    found = sorted(
        (f.rule_id, f.resource.name, f.message, f.location.line if f.location else 0)
        for f in result.findings
    )
    assert found == [
        ("replica-ceiling", "web", "replicas 20 over 10", 8),
        ("require-team-label", "api", "the workload has no team label", 12),
    ]
    assert result.errors == ()


def test_runtime_error_is_an_error_result_naming_rule_file_and_line(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path,
        "  validations:\n    - expression: \"object.data.missing == 'x'\"\n",
    )
    result = judge(rules, config_map({"a": "b"}))
    assert result.findings == ()
    [error] = result.errors
    assert error.level == "error"
    assert "rule custom-check failed on ConfigMap/shop/cm" in error.message
    assert f"{tmp_path.as_posix()}/rule.yaml:17: validation failed: no such key:" in error.message


def test_non_bool_result_at_runtime_is_an_error(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, '  validations:\n    - expression: "object.data.flag"\n')
    result = judge(rules, config_map({"flag": "yes"}))
    assert result.findings == ()
    assert "validation returned str, not a bool" in result.errors[0].message


def test_message_expression_falls_back_to_message_then_expression(tmp_path: Path) -> None:
    body = """\
  validations:
    - expression: "false"
      message: static
      messageExpression: "object.data.nothing"
    - expression: "size(object.data) == 0"
      path: data
"""
    result = judge(rules_from(tmp_path, body), config_map({"a": "b"}))
    assert [f.message for f in result.findings] == [
        "static",
        "failed expression: size(object.data) == 0",
    ]
    assert result.findings[1].location is not None
    assert result.findings[1].location.path == "data"
    assert result.findings[0].fingerprint != result.findings[1].fingerprint


def test_variables_params_and_selectors(tmp_path: Path) -> None:
    body = """\
    namespaces: ["prod-*"]
    objectSelector: {matchLabels: {checked: "yes"}}
  params: {limit: 2}
  variables:
    - name: keys
      expression: "object.data.map(k, k)"
    - name: count
      expression: "size(variables.keys)"
  validations:
    - expression: "variables.count <= params.limit"
      messageExpression: "string(variables.count) + ' keys over ' + string(params.limit)"
"""
    rules = rules_from(tmp_path, body)
    many = {"a": "1", "b": "2", "c": "3"}
    result = judge(
        rules,
        config_map(many, "one", "prod-eu", checked="yes"),
        config_map(many, "two", "dev", checked="yes"),
        config_map(many, "three", "prod-us"),
        config_map({"a": "1"}, "four", "prod-us", checked="yes"),
    )
    assert [(f.resource.name, f.message) for f in result.findings] == [("one", "3 keys over 2")]


def test_namespace_selector_and_namespace_object(tmp_path: Path) -> None:
    body = """\
    namespaceSelector: {matchLabels: {env: prod}}
  validations:
    - expression: "namespaceObject != null && namespaceObject.metadata.name == object.metadata.namespace"
      message: seen without its namespace
"""
    rules = rules_from(tmp_path, body)
    namespace = K8sObject(
        ResourceRef("v1", "Namespace", "", "shop"),
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {"env": "prod"}},
        },
    )
    result = judge(rules, namespace, config_map({}, "in-prod"), config_map({}, "elsewhere", "dev"))
    assert result.findings == () and result.errors == ()
    # the namespace label the API server sets is known without the Namespace object
    by_name = rules_from(
        tmp_path,
        "    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: dev}}\n"
        '  validations:\n    - expression: "namespaceObject == null"\n      message: x\n',
    )
    result = judge(by_name, config_map({}, "a", "dev"), config_map({}, "b", "other"))
    assert result.findings == ()
    assert result.errors == ()


def test_scan_request_is_a_synthesized_create(tmp_path: Path) -> None:
    body = """\
  validations:
    - expression: >-
        request.operation == 'CREATE' && oldObject == null
        && request.userInfo.username == 'kposture:scan' && request.kind.kind == 'ConfigMap'
        && request.namespace == 'shop'
      message: unexpected request
"""
    result = judge(rules_from(tmp_path, body), config_map({}))
    assert result.findings == () and result.errors == ()


def test_api_groups_are_matched(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path, '  validations:\n    - expression: "false"\n      message: m\n', group='"apps"'
    )
    assert judge(rules, config_map({})).findings == ()


def test_rules_share_one_activation_per_object(tmp_path: Path) -> None:
    first = rules_from(tmp_path, '  validations:\n    - expression: "true"\n')
    (tmp_path / "other").mkdir()
    second_text = (tmp_path / "rule.yaml").read_text().replace("custom-check", "second-check")
    (tmp_path / "other" / "rule.yaml").write_text(second_text)
    second = load_rule_files([tmp_path / "other"]).rules
    obj = config_map({"a": "b"})
    judge(first, obj)
    shared = obj.derived[ACTIVATION_KEY]
    judge((*first, *second), obj)
    assert obj.derived[ACTIVATION_KEY] is shared


def test_hostile_expression_is_refused_unevaluated_naming_the_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = """\
  validations:
    - expression: >-
        object.data.items.all(x, object.data.items.all(y,
        object.data.items.all(z, x + y + z != '')))
"""
    rules = rules_from(tmp_path, body)
    evaluated: list[str] = []
    hostile = True

    def counted_run(expression: CelExpression, context: Any) -> Any:
        evaluated.append(expression.source)
        if hostile:  # with the refusal broken, fail here rather than run 2000^3 steps
            raise RuntimeError("evaluated despite its cost")
        return run(expression, context)

    monkeypatch.setattr(cel_rules, "run", counted_run)
    result = judge(rules, config_map({"items": [str(i) for i in range(2000)]}))
    [error] = result.errors
    assert "rule custom-check failed on ConfigMap/shop/cm: " in error.message
    assert f"over the budget of {COST_BUDGET:,}" in error.message
    assert evaluated == [], "the estimate refuses the expression before it is evaluated"
    # the same rule on a small object is evaluated and passes
    hostile = False
    assert judge(rules, config_map({"items": ["a", "b"]})).errors == ()
    assert len(evaluated) == 1


def test_cost_counts_unresolvable_ranges_as_the_largest_collection(tmp_path: Path) -> None:
    body = """\
  validations:
    - expression: >-
        object.data.items.map(i, i).all(x, object.data.items.filter(f, true).all(y,
        object.data.items.map(m, m).all(z, x != '')))
"""
    rules = rules_from(tmp_path, body)
    result = judge(rules, config_map({"items": [str(i) for i in range(200)]}))
    assert "over the budget" in result.errors[0].message


def test_yaml_dates_are_strings_to_cel(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path, "  validations:\n    - expression: \"object.data.when == '2026-01-01'\"\n"
    )
    assert judge(rules, config_map({"when": dt.date(2026, 1, 1)})).errors == ()


def review(obj: dict[str, Any], old: dict[str, Any] | None, operation: str) -> bytes:
    import json

    request = {
        "uid": "u1",
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "operation": operation,
        "namespace": "shop",
        "name": "web",
        "userInfo": {"username": "mallory", "groups": ["devs"]},
        "object": obj,
        "oldObject": old,
        "dryRun": False,
    }
    return json.dumps(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    ).encode()


def test_admission_binds_old_object_and_request_and_modes_apply() -> None:
    loaded = load_rule_files([FIXTURES / "rules"])
    registry = Registry(loaded.rules)
    admission = AdmissionPolicy()
    from kposture.sources.policy_file import parse_policy

    admission = parse_policy(
        "admission:\n  rules:\n    team-label-immutable: enforce\n", "p.yaml"
    ).admission
    decider = Decider(registry, RunPolicy(), admission)

    def deployment(team: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"team": team}},
            "spec": {"replicas": 1},
        }

    now = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    changed = decider.decide(
        parse_review(review(deployment("growth"), deployment("payments"), "UPDATE")), now
    )
    assert not changed.allowed
    assert "[team-label-immutable] team label changed by mallory" in changed.message
    same = decider.decide(
        parse_review(review(deployment("payments"), deployment("payments"), "UPDATE")), now
    )
    assert same.allowed
    created = decider.decide(parse_review(review(deployment("growth"), None, "CREATE")), now)
    assert created.allowed and created.decision.verdicts == ()


def test_evaluate_one_reports_errors_for_admission(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, '  validations:\n    - expression: "object.data.x == 1"\n')
    obj = config_map({})
    result = evaluate_one(obj, Inventory((obj,)), Registry(rules), RunPolicy(), TODAY)
    message = result.errors[0].message
    assert message.startswith("rule custom-check failed on ConfigMap/shop/cm: ")
    assert message.endswith(
        "rule.yaml:17: validation failed: no such key: x (guard the read with has())"
    )

"""The ValidatingAdmissionPolicy export: params inlined as CEL literals with the rule's meaning,
namespace globs, resource rules, bindings per mode and per the policy file's admission block, and
the ``kposture rules export`` command."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import cel
import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from kposture.cli import app
from kposture.model.admission import AdmissionMode
from kposture.policy.cel_literals import cel_literal, inline_params
from kposture.policy.cel_programs import new_context
from kposture.policy.rule_specs import KindMatch
from kposture.policy.vap_export import (
    ExportRule,
    ExportSettings,
    ExportValidation,
    binding_plans,
    export_rules,
    glob_to_re2,
    policy_manifest,
)
from kposture.sources.policy_file import parse_policy

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "rules"
PARAMS: dict[str, Any] = {
    "maxReplicas": 10,
    "negative": -3,
    "ratio": 0.5,
    "name": 'quote " and \\ and\nnewline',
    "registries": {"prod-*": ["a.io/", "b.io/"], "*": []},
    "mixed": [1, "one", True, None],
    "flag": False,
}


@pytest.mark.parametrize(
    "expression",
    [
        "params.maxReplicas + 1",
        "params.negative * 2",
        "params.ratio * 2.0",
        "params.name",
        "params.registries['prod-*']",
        "params.registries.exists(k, k == '*')",
        "params.mixed",
        "!params.flag",
        "has(params.maxReplicas)",
        "has(params.missing)",
        "params['maxReplicas']",
        "params",
        "'params.maxReplicas' + \"params\" + r'params'",
        "{'params': 1}.params + params.maxReplicas",
        "[params.maxReplicas].map(x, x + params . negative)",
    ],
)
def test_inlined_params_evaluate_like_bound_params(expression: str) -> None:
    bound = cel.evaluate(expression, new_context({"params": PARAMS}))
    inlined = inline_params(expression, PARAMS)
    assert cel.evaluate(inlined, new_context({"params": None})) == bound


def test_inlining_keeps_strings_and_selections() -> None:
    text = "object.params.x == 'params.y' && params.maxReplicas > 0"
    assert inline_params(text, PARAMS) == "object.params.x == 'params.y' && 10 > 0"
    assert inline_params(text, None) == text


def test_a_missing_param_is_still_an_error() -> None:
    with pytest.raises(Exception):  # noqa: B017 - the cel module raises KeyError or RuntimeError
        cel.evaluate(inline_params("params.missing == 1", PARAMS), new_context({}))


def test_mixed_literals_are_wrapped_in_dyn() -> None:
    assert cel_literal([1, 2]) == "[1, 2]"
    assert cel_literal([1, "a"]) == '[dyn(1), dyn("a")]'
    assert cel_literal({"a": 1, "b": [2]}) == '{"a": dyn(1), "b": dyn([2])}'


@pytest.mark.parametrize("pattern", ["prod-*", "team-?", "a[bc]d", "x[!y]z", "plain", "*", "a.b"])
def test_globs_become_equivalent_re2_patterns(pattern: str) -> None:
    names = ["prod-eu", "prod", "team-a", "team-ab", "abd", "acd", "aed", "xaz", "xyz", "plain"]
    names += ["aXb", "a.b", ""]
    regex = glob_to_re2(pattern)
    for name in names:
        found = cel.evaluate(f"name.matches({json.dumps(regex)})", {"name": name})
        assert found == fnmatchcase(name, pattern), (pattern, name)


def _rule(**fields: Any) -> ExportRule:
    base: dict[str, Any] = {
        "rule_id": "demo",
        "title": "Demo",
        "severity": "low",
        "kinds": (KindMatch(("apps",), ("Deployment",)), KindMatch(("",), ("Pod", "Service"))),
        "validations": (ExportValidation("object.metadata.name != 'bad'", "bad\nname"),),
    }
    return ExportRule(**{**base, **fields})


def test_resource_rules_and_messages() -> None:
    policy = policy_manifest(_rule())
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rules == [
        {
            "apiGroups": ["apps"],
            "apiVersions": ["v1"],
            "resources": ["deployments"],
            "operations": ["CREATE", "UPDATE"],
        },
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods", "pods/ephemeralcontainers", "services"],
            "operations": ["CREATE", "UPDATE"],
        },
    ]
    assert policy["spec"]["validations"][0]["message"] == "bad name"
    kubernetes_validate.validate(policy, "1.30.0", strict=True)


def test_unknown_kind_is_an_error_and_other_rules_still_export() -> None:
    unknown = _rule(rule_id="crd", kinds=(KindMatch(("example.com",), ("Widget",)),))
    exported = export_rules([unknown, _rule()], ExportSettings())
    assert len(exported.errors) == 1 and "Widget" in exported.errors[0]
    assert [m["metadata"]["name"] for m in exported.manifests] == ["kposture-demo"] * 2


def test_exact_namespaces_become_a_selector_and_globs_a_condition() -> None:
    exact = policy_manifest(
        _rule(namespaces=("prod", "shop"), namespace_selector={"matchLabels": {"tier": "1"}})
    )
    selector = exact["spec"]["matchConstraints"]["namespaceSelector"]
    assert selector == {
        "matchLabels": {"tier": "1"},
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["prod", "shop"]}
        ],
    }
    globbed = policy_manifest(_rule(namespaces=("prod", "team-*")))
    assert "namespaceSelector" not in globbed["spec"]["matchConstraints"]
    [condition] = globbed["spec"]["matchConditions"]
    for namespace, expected in [("prod", True), ("team-a", True), ("shop", False), ("", False)]:
        request = {"namespace": namespace, "name": "x", "kind": {"kind": "Pod"}}
        assert cel.evaluate(condition["expression"], {"request": request}) is expected
    for manifest in (exact, globbed):
        kubernetes_validate.validate(manifest, "1.30.0", strict=True)


POLICY_FILE = """
admission:
  mode: warn
  rules:
    demo: enforce
    other: "off"
  namespaces:
    - namespaces: [legacy, sandbox]
      mode: dry-run
    - namespaces: ["team-*"]
      mode: enforce
  exemptions:
    - namespaces: [break-glass]
      reason: incident response
    - users: [admin]
      reason: admins
"""


def test_bindings_follow_the_policy_files_admission_block() -> None:
    admission = parse_policy(POLICY_FILE, "policy.yaml").admission
    plans, notes = binding_plans("demo", ExportSettings(admission=admission))
    by_suffix = {plan.suffix: plan for plan in plans}
    assert [a.value for a in by_suffix[""].actions] == ["Deny"]
    excluded = by_suffix[""].namespace_selector["matchExpressions"][0]  # type: ignore[index]
    assert excluded["operator"] == "NotIn"
    assert excluded["values"] == ["break-glass", "kposture", "kube-system", "legacy", "sandbox"]
    dry = by_suffix["-dry-run"]
    assert [a.value for a in dry.actions] == ["Warn", "Audit"]
    assert dry.namespace_selector["matchExpressions"][0]["values"] == ["legacy", "sandbox"]  # type: ignore[index]
    assert any("team-*" in note for note in notes)
    assert any("admins" in note for note in notes)
    # Off in the rules: a namespace-wide mode (legacy, sandbox) does not switch it back on.
    assert binding_plans("other", ExportSettings(admission=admission))[0] == []
    off = parse_policy("admission:\n  rules:\n    demo: 'off'\n", "p.yaml").admission
    exported = export_rules([_rule()], ExportSettings(admission=off))
    assert not exported.manifests
    assert exported.warnings == ("demo: off at admission in the policy file, not exported",)


@pytest.mark.parametrize(
    ("mode", "actions"),
    [
        (AdmissionMode.DRY_RUN, ["Warn", "Audit"]),
        (AdmissionMode.WARN, ["Warn"]),
        (AdmissionMode.ENFORCE, ["Deny"]),
    ],
)
def test_mode_sets_the_validation_actions(mode: AdmissionMode, actions: list[str]) -> None:
    exported = export_rules([_rule()], ExportSettings(mode=mode))
    binding = exported.manifests[1]
    assert binding["spec"] == {
        "policyName": "kposture-demo",
        "validationActions": actions,
        "matchResources": {
            "namespaceSelector": {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "NotIn",
                        "values": ["kposture", "kube-system"],
                    }
                ]
            }
        },
    }
    kubernetes_validate.validate(dict(binding), "1.30.0", strict=True)


def test_cli_exports_examples_and_builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    rule_files = [str(p) for p in sorted(EXAMPLES.glob("*/rule.yaml"))]
    args = ["rules", "export", "--format", "vap", "--builtin", "--mode", "enforce"]
    for path in rule_files:
        args += ["--rules", path]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    policies = [d for d in documents if d["kind"] == "ValidatingAdmissionPolicy"]
    bindings = [d for d in documents if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert len(policies) == len(bindings) >= 19 + len(rule_files)
    assert {tuple(b["spec"]["validationActions"]) for b in bindings} == {("Deny",)}
    as_json = runner.invoke(app, ["rules", "export", "--rules", rule_files[0], "-o", "json"])
    assert as_json.exit_code == 0
    listing = json.loads(as_json.stdout)
    assert listing["kind"] == "List" and len(listing["items"]) == 2


def test_cli_needs_something_to_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["rules", "export"])
    assert result.exit_code == 2
    assert "nothing to export" in result.output

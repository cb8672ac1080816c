"""What Kubernetes 1.30 would refuse is refused by the export, rule by rule (functions outside its
base CEL environment, mixed-type literals, non-RE2 regex literals); the default bindings exclude
kposture's own and the system namespaces; a rule file that does not load costs only its rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kposture.cli import app
from kposture.policy.rule_specs import KindMatch
from kposture.policy.vap_export import ExportRule, ExportSettings, ExportValidation, export_rules


def _rule(expression: str, rule_id: str = "demo") -> ExportRule:
    return ExportRule(
        rule_id=rule_id,
        title="Demo",
        severity="low",
        kinds=(KindMatch(("",), ("ConfigMap",)),),
        validations=(ExportValidation(expression, "no"),),
    )


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("object.data.map(k, [k]).flatten().size() > 0", "flatten()"),
        ("[3, 1].sort()[0] == 1", "sort()"),
        ("math.abs(-1) == 1", "math.abs()"),
        ("base64.encode(b'a') != ''", "base64.encode()"),
        ("'abc'.reverse() != ''", "reverse()"),
        ("[1, 'a'].size() == 2", "list literal mixes"),
        ("{'a': 1, 'b': 'x'}.size() == 2", "map literal mixes"),
        ("object.metadata.name.matches('(?!kube-)')", "not RE2 syntax"),
    ],
)
def test_expressions_kubernetes_refuses_are_not_exported(expression: str, reason: str) -> None:
    exported = export_rules(
        [_rule(expression), _rule("size(object.data) > 0", "good")], ExportSettings()
    )
    [error] = exported.errors
    assert error.startswith("demo: ")
    assert reason in error
    assert [m["metadata"]["name"] for m in exported.manifests] == ["kposture-good"] * 2


@pytest.mark.parametrize(
    "expression",
    [
        "dyn([1, 'a']).size() == 2",
        "sets.contains(['a'], ['a'])",
        "object.metadata.name.lowerAscii().split('-').size() > 0",
        "[1, 2].max() == 2 && optional.of(1).hasValue()",
    ],
)
def test_expressions_kubernetes_accepts_are_exported(expression: str) -> None:
    assert export_rules([_rule(expression)], ExportSettings()).errors == ()


def test_default_bindings_exclude_the_system_namespaces() -> None:
    binding = export_rules([_rule("true")], ExportSettings()).manifests[1]
    [requirement] = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert requirement == {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["kposture", "kube-system"],
    }


RULE = """\
apiVersion: kposture.io/v1
kind: Rule
metadata:
  name: {name}
spec:
  title: A check
  severity: low
  domain: namespaces
  stage: crawl
  description: Why.
  remediation: Fix it.
  match:
    kinds: [{{apiGroups: [""], kinds: [ConfigMap]}}]
  validations:
    - expression: "{expression}"
"""


def test_a_rule_file_that_does_not_load_costs_only_its_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.yaml").write_text(RULE.format(name="good-rule", expression="true"))
    (tmp_path / "bad.yaml").write_text(RULE.format(name="bad-rule", expression="objet.x == 1"))
    result = CliRunner().invoke(app, ["rules", "export", "--rules", str(tmp_path)])
    assert result.exit_code == 1
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(result.stdout) if d]
    assert names == ["kposture-good-rule", "kposture-good-rule"]
    assert "bad.yaml:15: " in result.stderr
    assert "InputError(" not in result.stderr

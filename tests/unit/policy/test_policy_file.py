"""The policy file parser: every field, and a file:line error for each kind of mistake."""

from __future__ import annotations

import pytest

from kposture.model import LabelSelector, Severity
from kposture.sources.policy_file import PolicyFileError, parse_policy

FULL = """\
apiVersion: kposture.io/v1
kind: Policy
rules:
  enabled: [privileged-container, host-pid]
  disabled:
    - host-pid
  severity:
    host-ports: high
exceptions:
  - rules: [privileged-*]
    namespaces: [monitoring]
    kinds: [DaemonSet]
    names: ["node-*"]
    selector:
      matchLabels: {team: ops}
      matchExpressions:
        - {key: tier, operator: In, values: [system]}
    reason: Node agent needs device access
    expires: 2027-01-31
annotations:
  allowSelfExemption: false
registries:
  allowed: [registry.example.com/shop/, ghcr.io/org]
"""


def test_full_policy_file() -> None:
    parsed = parse_policy(FULL, ".kposture.yaml")
    policy = parsed.policy
    assert policy.enabled == {"privileged-container", "host-pid"}
    assert policy.disabled == {"host-pid"}
    assert policy.severity_overrides == {"host-ports": Severity.HIGH}
    assert policy.allow_annotation_exceptions is False
    assert policy.allowed_registries == ("registry.example.com/shop/", "ghcr.io/org")
    (entry,) = policy.exceptions
    assert entry.rules == ("privileged-*",)
    assert entry.namespaces == ("monitoring",)
    assert entry.kinds == ("DaemonSet",)
    assert entry.names == ("node-*",)
    assert entry.selector == LabelSelector((("team", "ops"),), (("tier", "In", ("system",)),))
    assert entry.expires == "2027-01-31"
    assert (entry.source, entry.line) == (".kposture.yaml", 10)
    assert ("privileged-container", 4) in parsed.rule_references
    assert ("host-pid", 6) in parsed.rule_references
    assert ("host-ports", 8) in parsed.rule_references
    assert ("privileged-*", 10) in parsed.rule_references


def test_empty_file_is_the_default_policy() -> None:
    parsed = parse_policy("", "p.yaml")
    assert parsed.policy.exceptions == ()
    assert parsed.policy.allow_annotation_exceptions is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n  enabled: [a]\n  colour: red\n", "p.yaml:3: unknown key 'colour' in rules"),
        ("rules:\n  severity:\n    host-pid: severe\n", "p.yaml:3: unknown severity 'severe'"),
        ("exceptions:\n  - rules: ['*']\n", "p.yaml:2: every exception needs a reason"),
        ("exceptions:\n  - reason: x\n", "p.yaml:2: every exception needs rules"),
        (
            "exceptions:\n  - rules: ['*']\n    reason: x\n    expires: next week\n",
            "p.yaml:4: expires must be a date",
        ),
        ("annotations:\n  allowSelfExemption: maybe\n", "p.yaml:2: annotations.allowSelfExemption"),
        ("rules: [\n", "p.yaml:2: invalid YAML"),
        (
            "exceptions:\n  - rules: ['*']\n    reason: x\n    selector:\n      matchExpressions:\n"
            "        - {key: a, operator: Near}\n",
            "p.yaml:6: unknown operator 'Near'",
        ),
        ("- just a list\n", "p.yaml:1: the policy file must be a mapping"),
        ("apiVersion: kposture.io/v2\n", "p.yaml:1: apiVersion must be kposture.io/v1"),
        ("kind: Config\n", "p.yaml:1: kind must be Policy"),
        ("settings: {a: 1}\n", "p.yaml:1: unknown key 'settings'"),
        (
            "registries:\n  allowed:\n    - ok.example.com\n    - https://bad.example.com\n",
            "p.yaml:4: registry 'https://bad.example.com' must be a host",
        ),
    ],
)
def test_mistakes_name_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(PolicyFileError) as info:
        parse_policy(text, "p.yaml")
    assert str(info.value).startswith(expected)

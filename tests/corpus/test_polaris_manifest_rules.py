"""Agreement of the service-account, image and network rules with Polaris's own fixtures.

Each ``polaris/cases/<check>/failure*.yaml`` of a mapped check should make the mapped kposture rule(s)
fire and each ``success*.yaml`` should not. Rules run as the engine runs them (configured by the
default policy, implied namespaces included), each over the whole case file as one inventory, so
the ServiceAccount and NetworkPolicy beside a pod are taken into account. Disagreements kposture makes
on purpose are listed in ``EXPLAINED`` (the same reasons are in ``docs/accuracy.md`` and the rules'
descriptions); an unexplained disagreement, or an explanation that no longer applies, fails the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus.polaris_harness import (
    Case,
    assert_agreement_rate,
    assert_every_disagreement_is_explained,
    assert_every_mapped_check_has_cases,
    assert_no_stale_explanations,
    polaris_cases,
    polaris_root,
)
from kposture.model import K8sObject
from support import violations

CHECKS: dict[str, tuple[str, ...]] = {
    "automountServiceAccountToken": ("service-account-token-automount",),
    "tagNotSpecified": ("image-tag-mutable",),
    "missingNetworkPolicy": ("workload-not-isolated", "workload-egress-unrestricted"),
    "tlsSettingsMissing": ("service-exposed",),
}
"""Polaris check -> kposture rules; the case fails in kposture when any of them fires (for
tlsSettingsMissing: when service-exposed reports an Ingress without TLS)."""

NOT_CORRESPONDING = ("pullPolicyNotAlways",)
"""Polaris checks near these families with no kposture rule: pull policy is a reliability setting
(and ``Always`` does not pin content; a digest does, see image-not-pinned)."""

DENY_ALL = (
    "policyTypes lists {0} and the policy has no {0} rules: that is the documented deny-all {0} "
    "policy, so the pod is isolated for {0}; Polaris wants at least one explicit rule"
)
EXPLAINED: dict[str, str] = {
    "missingNetworkPolicy/failure.netpol_missing_egress_rules.yaml": DENY_ALL.format("egress"),
    "missingNetworkPolicy/failure.netpol_missing_ingress_rules.yaml": DENY_ALL.format("ingress"),
}
"""Polaris case -> why kposture deliberately disagrees with Polaris's label."""


def _fails(check: str, objects: list[K8sObject]) -> bool:
    found = [v for rule_id in CHECKS[check] for v in violations(rule_id, objects)]
    if check == "tlsSettingsMissing":
        return any(("tls", "false") in v.evidence for v in found)
    return bool(found)


@pytest.fixture(scope="module")
def cases(corpus: Path) -> list[Case]:
    return polaris_cases(polaris_root(corpus), CHECKS, _fails)


def test_every_mapped_check_has_cases(cases: list[Case]) -> None:
    assert_every_mapped_check_has_cases(cases, CHECKS)


def test_every_disagreement_is_explained(cases: list[Case]) -> None:
    assert_every_disagreement_is_explained(cases, EXPLAINED)


def test_no_stale_explanations(cases: list[Case]) -> None:
    assert_no_stale_explanations(cases, EXPLAINED)


def test_agreement_rate(cases: list[Case]) -> None:
    # Measured: 17/19 raw (89.5%); both disagreements are deny-all policies (docs/accuracy.md).
    assert_agreement_rate(cases, EXPLAINED, raw_floor=0.89)

"""The admission decision: modes, UPDATE judging only what a change introduces, unjudged operations,
exemptions, controller-created pods, rule errors, and policy precedence."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.unit.server.admission_support import (
    REGISTRY,
    SECRET_VALUE,
    body,
    decider,
    decider_from,
    deployment,
    pod,
    review,
    secret,
)

from kposture.engine import Registry
from kposture.model import Domain, RuleMeta, Severity, Stage
from kposture.model.admission import AdmissionMode, AdmissionPolicy, ModeSetting, Outcome
from kposture.rules.base import Rule
from kposture.server.deciding import Decider, Judged
from kposture.server.reviews import parse_review

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def decide(d: Decider, data: dict[str, Any]) -> Judged:
    return d.decide(parse_review(body(data)), NOW)


def rule_ids(judged: Judged) -> set[str]:
    return {v.rule_id for v in judged.decision.verdicts}


@pytest.mark.parametrize("api_version", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
def test_enforce_denies_with_rule_message_and_fix(api_version: str) -> None:
    judged = decide(
        decider(AdmissionPolicy(mode=AdmissionMode.ENFORCE)),
        review(pod(privileged=True), api_version=api_version),
    )
    assert not judged.allowed
    assert judged.code == 403
    assert judged.decision.outcome is Outcome.DENIED
    assert "[privileged-container] container 'app' runs privileged — fix: " in judged.message
    assert judged.message.startswith("kposture denied Pod/shop/web: 2 violations")
    assert rule_ids(judged) == {"privileged-container", "privilege-escalation-allowed"}


def test_warn_allows_with_short_warnings() -> None:
    judged = decide(decider(), review(pod(privileged=True)))
    assert judged.allowed
    assert judged.decision.outcome is Outcome.WARNED
    assert "[privileged-container] container 'app' runs privileged" in judged.warnings
    assert all(len(w) <= 120 for w in judged.warnings)


def test_dry_run_allows_and_records_would_deny() -> None:
    judged = decide(
        decider(AdmissionPolicy(mode=AdmissionMode.DRY_RUN)), review(pod(privileged=True))
    )
    assert judged.allowed
    assert not judged.warnings
    assert judged.decision.outcome is Outcome.DRY_RUN
    assert {v.mode for v in judged.decision.verdicts} == {AdmissionMode.DRY_RUN}


def test_clean_object_is_allowed_without_verdicts() -> None:
    judged = decide(decider(AdmissionPolicy(mode=AdmissionMode.ENFORCE)), review(pod()))
    assert judged.allowed
    assert judged.decision.outcome is Outcome.ALLOWED
    assert judged.decision.verdicts == ()


def test_request_dry_run_is_judged_and_marked() -> None:
    judged = decide(
        decider(AdmissionPolicy(mode=AdmissionMode.ENFORCE)),
        review(pod(privileged=True), dry_run=True),
    )
    assert not judged.allowed
    assert judged.decision.dry_run


def test_update_with_unchanged_legacy_violation_is_allowed() -> None:
    enforce = decider(AdmissionPolicy(mode=AdmissionMode.ENFORCE))
    old = deployment(1, privileged=True)
    judged = decide(enforce, review(deployment(5, privileged=True), operation="UPDATE", old=old))
    assert judged.allowed
    assert judged.decision.outcome is Outcome.ALLOWED


def test_update_introducing_a_violation_is_denied_for_that_violation_only() -> None:
    enforce = decider(AdmissionPolicy(mode=AdmissionMode.ENFORCE))
    old = deployment(1, privileged=True)
    new = deployment(1, privileged=True, host_pid=True)
    judged = decide(enforce, review(new, operation="UPDATE", old=old))
    assert not judged.allowed
    assert rule_ids(judged) == {"host-pid"}


def test_update_without_old_object_is_judged_whole() -> None:
    judged = decide(
        decider(AdmissionPolicy(mode=AdmissionMode.ENFORCE)),
        review(deployment(privileged=True), operation="UPDATE"),
    )
    assert not judged.allowed


@pytest.mark.parametrize(
    ("operation", "sub_resource", "reason"),
    [
        ("DELETE", "", "DELETE is not judged"),
        ("CONNECT", "", "CONNECT is not judged"),
        ("UPDATE", "status", "subresource status is not judged"),
        ("UPDATE", "scale", "subresource scale is not judged"),
    ],
)
def test_unjudged_requests_are_allowed(operation: str, sub_resource: str, reason: str) -> None:
    bad = pod(privileged=True)
    obj = None if operation == "DELETE" else bad
    judged = decide(
        decider(AdmissionPolicy(mode=AdmissionMode.ENFORCE)),
        review(obj, old=bad, operation=operation, sub_resource=sub_resource),
    )
    assert judged.allowed
    assert judged.decision.outcome is Outcome.ALLOWED
    assert judged.decision.reason == reason
    assert judged.decision.resource.name == "web"


def test_kind_without_rules_is_allowed() -> None:
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "x"}}
    judged = decide(decider(AdmissionPolicy(mode=AdmissionMode.ENFORCE)), review(lease))
    assert judged.allowed
    assert judged.decision.reason == "no rule judges Lease"


ENFORCING_WITH_EXEMPTIONS = """
admission:
  mode: enforce
  exemptions:
    - namespaces: ["sandbox-*"]
      reason: playground
    - selector: {matchLabels: {kposture.io/legacy: "true"}}
      reason: legacy workloads until Q3
    - users: [breakglass@example.com]
      groups: [sre-oncall]
      reason: break-glass
"""


@pytest.mark.parametrize(
    ("obj", "user", "groups", "reason"),
    [
        (pod(namespace="sandbox-1", privileged=True), "alice", (), "playground"),
        (pod(privileged=True, **{"kposture.io/legacy": "true"}), "alice", (), "legacy workloads"),
        (pod(privileged=True), "breakglass@example.com", (), "break-glass"),
        (pod(privileged=True), "bob", ("sre-oncall",), "break-glass"),
        (pod(namespace="kube-system", privileged=True), "alice", (), "system namespace"),
        (pod(namespace="kposture", privileged=True), "alice", (), "kposture's own"),
    ],
)
def test_exemptions(obj: dict[str, Any], user: str, groups: tuple[str, ...], reason: str) -> None:
    judged = decide(decider_from(ENFORCING_WITH_EXEMPTIONS), review(obj, user=user, groups=groups))
    assert judged.allowed
    assert judged.decision.outcome is Outcome.EXEMPT
    assert reason in judged.decision.reason


def test_not_exempt_when_nothing_matches() -> None:
    judged = decide(decider_from(ENFORCING_WITH_EXEMPTIONS), review(pod(privileged=True)))
    assert not judged.allowed


def test_default_exemptions_are_configurable() -> None:
    text = "admission:\n  mode: enforce\n  systemNamespaces: []\n  ownNamespace: security\n"
    d = decider_from(text)
    assert not decide(d, review(pod(namespace="kube-system", privileged=True))).allowed
    assert not decide(d, review(pod(namespace="kposture", privileged=True))).allowed
    assert decide(d, review(pod(namespace="security", privileged=True))).allowed


def test_mode_precedence() -> None:
    d = decider_from(
        """
admission:
  mode: dry-run
  rules:
    privileged-container: enforce
    "privilege-*": warn
  namespaces:
    - namespaces: [legacy]
      mode: warn
    - namespaces: [legacy]
      rules: [privileged-container]
      mode: "off"
"""
    )
    shop = decide(d, review(pod(privileged=True)))
    modes = {v.rule_id: v.mode for v in shop.decision.verdicts}
    assert modes == {
        "privileged-container": AdmissionMode.ENFORCE,
        "privilege-escalation-allowed": AdmissionMode.WARN,
    }
    legacy = decide(d, review(pod(namespace="legacy", privileged=True)))
    assert {v.rule_id: v.mode for v in legacy.decision.verdicts} == {
        "privilege-escalation-allowed": AdmissionMode.WARN
    }
    assert legacy.allowed


def test_cross_object_rules_are_off_unless_named() -> None:
    bare = pod()
    del bare["spec"]["automountServiceAccountToken"]
    assert "service-account-token-automount" not in rule_ids(decide(decider(), review(bare)))
    named = AdmissionPolicy(
        rule_modes=(ModeSetting(AdmissionMode.WARN, ("service-account-token-automount",)),)
    )
    assert "service-account-token-automount" in rule_ids(decide(decider(named), review(bare)))
    everything = AdmissionPolicy(rule_modes=(ModeSetting(AdmissionMode.ENFORCE, ("*",)),))
    assert "workload-not-isolated" not in rule_ids(decide(decider(everything), review(bare)))


def test_controller_created_pods_are_recorded_not_denied() -> None:
    owned = pod(privileged=True)
    owned["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "web-1",
            "uid": "x",
            "controller": True,
        }
    ]
    enforce = decider(AdmissionPolicy(mode=AdmissionMode.ENFORCE))
    controller = "system:serviceaccount:kube-system:replicaset-controller"
    judged = decide(enforce, review(owned, user=controller))
    assert judged.allowed
    assert judged.decision.outcome is Outcome.DRY_RUN
    assert "privileged-container" in rule_ids(judged)
    # The owner reference alone is not trusted: a user claiming one is judged.
    assert not decide(enforce, review(owned, user="alice")).allowed
    judge = decider(AdmissionPolicy(mode=AdmissionMode.ENFORCE, controller_created="judge"))
    assert not decide(judge, review(owned, user=controller)).allowed


def _exploding_registry() -> Registry:
    def check(obj: Any, _inventory: Any) -> Any:
        raise ValueError(f"cannot parse {SECRET_VALUE}")

    meta = RuleMeta(
        id="exploding-rule",
        title="Explodes",
        severity=Severity.HIGH,
        domain=Domain.WORKLOAD_PRIVILEGES,
        stage=Stage.CRAWL,
        kinds=("Pod",),
        remediation="Nothing.",
        description="A rule that raises.",
        references=(),
    )
    return Registry((*REGISTRY, Rule(meta, check)))


def test_rule_error_allows_with_warning_by_default() -> None:
    d = Decider(
        _exploding_registry(), decider().policy, AdmissionPolicy(mode=AdmissionMode.ENFORCE)
    )
    judged = decide(d, review(pod()))
    assert judged.allowed
    assert judged.decision.outcome is Outcome.ERROR
    assert "exploding-rule" in judged.decision.reason
    assert any("exploding-rule failed" in w for w in judged.warnings)
    assert SECRET_VALUE not in repr(judged)


def test_rule_error_denies_when_failing_closed() -> None:
    admission = AdmissionPolicy(mode=AdmissionMode.ENFORCE, fail_closed=True)
    d = Decider(_exploding_registry(), decider().policy, admission)
    judged = decide(d, review(pod()))
    assert not judged.allowed
    assert judged.code == 500
    assert judged.decision.outcome is Outcome.ERROR


def test_violations_still_deny_when_a_rule_errs() -> None:
    d = Decider(
        _exploding_registry(), decider().policy, AdmissionPolicy(mode=AdmissionMode.ENFORCE)
    )
    judged = decide(d, review(pod(privileged=True)))
    assert not judged.allowed
    assert judged.decision.outcome is Outcome.DENIED


def test_secret_values_never_reach_the_decision_or_response() -> None:
    policy = AdmissionPolicy(
        mode=AdmissionMode.ENFORCE,
        rule_modes=(ModeSetting(AdmissionMode.ENFORCE, ("secret-in-manifest",)),),
    )
    judged = decide(decider(policy), review(secret()))
    assert not judged.allowed
    assert "secret-in-manifest" in judged.message
    text = repr(judged)
    assert SECRET_VALUE not in text
    assert "aHVudGVyMi12ZXJ5LXNlY3JldC12YWx1ZQ==" not in text


def test_secret_in_manifest_is_off_at_admission_by_default() -> None:
    judged = decide(decider(AdmissionPolicy(mode=AdmissionMode.ENFORCE)), review(secret()))
    assert judged.allowed


def test_generated_names_and_request_namespace() -> None:
    generated = pod(privileged=True)
    del generated["metadata"]["name"]
    del generated["metadata"]["namespace"]
    generated["metadata"]["generateName"] = "web-7d9c-"
    data = review(generated)
    data["request"]["namespace"] = "shop"
    judged = decide(decider(), data)
    assert judged.decision.resource.name == "web-7d9c-"
    assert judged.decision.resource.namespace == "shop"

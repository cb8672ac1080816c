"""Ways around an enforced admission policy, closed: self-exemption by annotation, label exemptions
on owners, ephemeral debug containers; and suppressions that let a violation through are recorded
and shown to the requester."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.server.admission_support import body, decider_from, pod, review

from kposture.model.admission import AdmissionMode, Outcome
from kposture.server.deciding import Decider, Judged
from kposture.server.reviews import parse_review

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
ENFORCE = "admission:\n  mode: enforce\n"


def decide(d: Decider, data: dict[str, Any]) -> Judged:
    return d.decide(parse_review(body(data)), NOW)


def self_exempt_pod() -> dict[str, Any]:
    obj = pod(privileged=True)
    obj["metadata"]["annotations"] = {
        "kposture.io/ignore": "privileged-container,privilege-escalation-allowed",
        "kposture.io/ignore-reason": "trust me",
    }
    return obj


def test_self_exemption_by_annotation_is_off_at_admission_by_default() -> None:
    judged = decide(decider_from(ENFORCE), review(self_exempt_pod()))
    assert not judged.allowed
    assert judged.decision.outcome is Outcome.DENIED
    assert "[privileged-container]" in judged.message
    # The requester learns why the annotation did not help.
    assert any("allowSelfExemption" in w for w in judged.warnings)


def test_self_exemption_at_admission_is_its_own_setting() -> None:
    # The scan's annotations.allowSelfExemption (default true) does not switch it on.
    text = "annotations:\n  allowSelfExemption: true\n" + ENFORCE
    assert not decide(decider_from(text), review(self_exempt_pod())).allowed
    allowed = decider_from(ENFORCE + "  allowSelfExemption: true\n")
    assert allowed.admission.allow_self_exemption
    # The platform team's top-level "no" still wins.
    forbidden = "annotations:\n  allowSelfExemption: false\n" + ENFORCE
    forbidden += "  allowSelfExemption: true\n"
    assert not decide(decider_from(forbidden), review(self_exempt_pod())).allowed


def test_an_allowed_self_exemption_is_recorded_and_warned() -> None:
    d = decider_from(ENFORCE + "  allowSelfExemption: true\n")
    judged = decide(d, review(self_exempt_pod()))
    assert judged.allowed
    decision = judged.decision
    assert decision.outcome is Outcome.EXEMPT
    modes = {v.rule_id: v.mode for v in decision.verdicts}
    assert modes == {
        "privileged-container": AdmissionMode.EXEMPT,
        "privilege-escalation-allowed": AdmissionMode.EXEMPT,
    }
    verdict = next(v for v in decision.verdicts if v.rule_id == "privileged-container")
    assert "kposture.io/ignore" in verdict.message
    assert "trust me" in verdict.message
    assert "privileged-container" in decision.reason
    assert "trust me" in decision.reason
    assert any(w.startswith("[privileged-container] exempt") for w in judged.warnings)


def test_a_policy_exception_at_admission_is_recorded_and_warned() -> None:
    text = (
        "exceptions:\n"
        "  - rules: [privileged-container, privilege-escalation-allowed]\n"
        "    namespaces: [shop]\n"
        "    reason: GPU driver needs it (OPS-9)\n" + ENFORCE
    )
    judged = decide(decider_from(text), review(pod(privileged=True)))
    assert judged.allowed
    assert judged.decision.outcome is Outcome.EXEMPT
    assert {v.mode for v in judged.decision.verdicts} == {AdmissionMode.EXEMPT}
    assert all("policy exception" in v.message for v in judged.decision.verdicts)
    assert "OPS-9" in judged.decision.reason
    assert any("[privileged-container] exempt" in w for w in judged.warnings)


def test_exempt_verdicts_do_not_hide_other_violations() -> None:
    text = (
        "exceptions:\n"
        "  - rules: [privilege-escalation-allowed]\n"
        "    reason: legacy base image\n" + ENFORCE
    )
    judged = decide(decider_from(text), review(pod(privileged=True)))
    assert not judged.allowed
    assert judged.decision.outcome is Outcome.DENIED
    modes = {v.rule_id: v.mode for v in judged.decision.verdicts}
    assert modes == {
        "privileged-container": AdmissionMode.ENFORCE,
        "privilege-escalation-allowed": AdmissionMode.EXEMPT,
    }
    assert "privilege-escalation-allowed" not in judged.message


LEGACY_EXEMPT = ENFORCE + (
    "  exemptions:\n"
    '    - selector: {matchLabels: {kposture.io/legacy: "true"}}\n'
    "      reason: legacy workloads until MIGR-20\n"
)
CONTROLLER = "system:serviceaccount:kube-system:replicaset-controller"


def legacy_deployment(*, on_template: bool) -> dict[str, Any]:
    template = pod(privileged=True)
    labels = {"app": "web", **({"kposture.io/legacy": "true"} if on_template else {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"kposture.io/legacy": "true"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": labels}, "spec": template["spec"]},
        },
    }


def controller_pod(**labels: str) -> dict[str, Any]:
    owned = pod(privileged=True, **labels)
    owned["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "web-1",
            "uid": "x",
            "controller": True,
        }
    ]
    return owned


def test_a_label_exemption_on_an_owner_alone_does_not_exempt_it() -> None:
    # Its pods would not carry the label: the owner would be exempt while its pods were only
    # capped at dry-run by the controller-created rule, so privileged pods ran in an enforced
    # namespace. The workload is judged instead.
    d = decider_from(LEGACY_EXEMPT)
    judged = decide(d, review(legacy_deployment(on_template=False)))
    assert not judged.allowed
    assert judged.decision.outcome is Outcome.DENIED


def test_a_label_exemption_covering_the_template_exempts_owner_and_pods_alike() -> None:
    d = decider_from(LEGACY_EXEMPT)
    owner = decide(d, review(legacy_deployment(on_template=True)))
    assert owner.allowed
    assert owner.decision.outcome is Outcome.EXEMPT
    created = decide(d, review(controller_pod(**{"kposture.io/legacy": "true"}), user=CONTROLLER))
    assert created.decision.outcome is Outcome.EXEMPT
    assert "MIGR-20" in created.decision.reason


def test_controller_created_pods_of_a_judged_owner_are_still_capped() -> None:
    judged = decide(decider_from(LEGACY_EXEMPT), review(controller_pod(), user=CONTROLLER))
    assert judged.allowed
    assert judged.decision.outcome is Outcome.DRY_RUN
    assert "controller" in judged.decision.reason


def debugger(*, privileged: bool) -> dict[str, Any]:
    return {
        "name": "debugger",
        "image": "registry.example.com/busybox@sha256:" + "b" * 64,
        "securityContext": {
            "privileged": privileged,
            "allowPrivilegeEscalation": privileged,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def ephemeral_review(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    data = review(new, old=old, operation="UPDATE", sub_resource="ephemeralcontainers")
    data["request"]["kind"] = {"group": "", "version": "v1", "kind": new["kind"]}
    return data


def test_a_privileged_ephemeral_container_is_judged_like_an_update() -> None:
    old = pod()
    new = pod()
    new["spec"]["ephemeralContainers"] = [debugger(privileged=True)]
    judged = decide(decider_from(ENFORCE), ephemeral_review(new, old))
    assert not judged.allowed
    ids = {v.rule_id for v in judged.decision.verdicts}
    assert "privileged-container" in ids
    assert "debugger" in judged.message


def test_a_harmless_ephemeral_container_passes_a_legacy_pod() -> None:
    # Only what the update introduces counts: the pod's own legacy violation does not block it.
    old = pod(privileged=True)
    new = pod(privileged=True)
    new["spec"]["ephemeralContainers"] = [debugger(privileged=False)]
    judged = decide(decider_from(ENFORCE), ephemeral_review(new, old))
    assert judged.allowed, judged.message


def _ephemeral_containers_object(containers: list[dict[str, Any]]) -> dict[str, Any]:
    """What API servers before 1.23 send for pods/ephemeralcontainers."""
    return {
        "apiVersion": "v1",
        "kind": "EphemeralContainers",
        "metadata": {"name": "web", "namespace": "shop"},
        "ephemeralContainers": containers,
    }


def test_the_pre_1_23_ephemeral_containers_object_is_judged_too() -> None:
    old = _ephemeral_containers_object([])
    new = _ephemeral_containers_object([debugger(privileged=True)])
    judged = decide(decider_from(ENFORCE), ephemeral_review(new, old))
    assert not judged.allowed
    assert {v.rule_id for v in judged.decision.verdicts} >= {"privileged-container"}
    assert judged.decision.resource.kind == "Pod"
    # The pod's securityContext is not in this request: the debug container must carry what
    # the rules would otherwise accept from the pod.
    container = debugger(privileged=False)
    container["securityContext"] |= {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    harmless = _ephemeral_containers_object([container])
    judged = decide(decider_from(ENFORCE), ephemeral_review(harmless, old))
    assert judged.allowed, judged.message


def test_exec_and_attach_are_not_judged() -> None:
    data = review(None, old=pod(privileged=True), operation="CONNECT", sub_resource="exec")
    judged = decide(decider_from(ENFORCE), data)
    assert judged.allowed
    assert judged.decision.reason == "CONNECT is not judged"

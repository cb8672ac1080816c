"""A finding keeps its fingerprint while the problem stays the same: scaling a Deployment, adding
a container that overrides a pod-level setting or editing an object by hand again changes
messages, never fingerprints (the store would otherwise resolve the finding and open a new one)."""

from __future__ import annotations

import datetime as dt
from copy import deepcopy
from pathlib import Path
from typing import Any

from kposture.engine import Registry, evaluate
from kposture.inventory import Inventory
from kposture.model import Finding, K8sObject, RunPolicy
from kposture.rules import builtin_rules
from support import load_objects, object_from_mapping

FIXTURES = Path(__file__).resolve().parents[2] / "rules" / "fixtures"
TODAY = dt.date(2026, 11, 27)
TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
}


def _findings(objects: list[K8sObject]) -> list[Finding]:
    registry = Registry(builtin_rules())
    return list(evaluate(Inventory(objects), registry, RunPolicy(), TODAY).findings)


def _of(rule_id: str, findings: list[Finding]) -> Finding:
    (found,) = (f for f in findings if f.rule_id == rule_id)
    return found


def _deployment_with(pods: int, *, replica_sets: int = 1) -> list[K8sObject]:
    """Namespace goat with a Deployment, its ReplicaSets and ``pods`` pods of the first one."""
    raw: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "goat"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "goat", "uid": "d"},
            "spec": {"replicas": pods, "template": TEMPLATE},
        },
    ]
    for index in range(replica_sets):
        raw.append(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"web-{index}",
                    "namespace": "goat",
                    "uid": f"rs{index}",
                    "ownerReferences": [
                        {"kind": "Deployment", "name": "web", "uid": "d", "controller": True}
                    ],
                },
                "spec": {"replicas": pods if index == 0 else 0, "template": TEMPLATE},
            }
        )
    for index in range(pods):
        raw.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"web-0-{index}",
                    "namespace": "goat",
                    "labels": {"app": "web"},
                    "ownerReferences": [
                        {"kind": "ReplicaSet", "name": "web-0", "uid": "rs0", "controller": True}
                    ],
                },
                "spec": deepcopy(TEMPLATE["spec"]),
            }
        )
    return [object_from_mapping(item) for item in raw]


def test_namespace_finding_is_stable_when_the_deployment_scales() -> None:
    one = _of("namespace-without-network-policy", _findings(_deployment_with(1)))
    five = _of("namespace-without-network-policy", _findings(_deployment_with(5, replica_sets=3)))
    assert one.fingerprint == five.fingerprint
    assert one.evidence == five.evidence == ()


def test_namespace_message_counts_top_level_workloads_without_plural_brackets() -> None:
    scaled = _of("namespace-without-network-policy", _findings(_deployment_with(5, replica_sets=3)))
    assert "namespace goat holds 1 workload and no NetworkPolicy" in scaled.message
    assert "(s)" not in scaled.message
    lone_pods = [
        object_from_mapping(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "goat"},
                "spec": deepcopy(TEMPLATE["spec"]),
            }
        )
        for name in ("a", "b")
    ]
    found = _findings([*_deployment_with(2), *lone_pods])
    assert "holds 3 workloads and" in _of("namespace-without-network-policy", found).message


def _unconfined_pod(containers: list[dict[str, Any]]) -> list[K8sObject]:
    return [
        object_from_mapping(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "namespace": "shop"},
                "spec": {
                    "securityContext": {"seccompProfile": {"type": "Unconfined"}},
                    "containers": containers,
                },
            }
        )
    ]


def test_pod_level_unconfined_is_stable_when_a_container_overrides_it() -> None:
    plain = [{"name": "a", "image": "x:1"}, {"name": "b", "image": "x:1"}]
    overriding = [
        plain[0],
        {**plain[1], "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}},
    ]
    before = _of("seccomp-unconfined", _findings(_unconfined_pod(plain)))
    after = _of("seccomp-unconfined", _findings(_unconfined_pod(overriding)))
    assert "containers 'a', 'b'" in before.message and "container 'a')" in after.message
    assert before.fingerprint == after.fingerprint


def test_manual_change_is_stable_across_edits_by_hand() -> None:
    (first,) = load_objects(
        [FIXTURES / "manual-change" / "fail-kubectl-edit-in-argo-namespace.yaml"]
    )
    raw = deepcopy(dict(first.raw))
    raw["metadata"]["managedFields"][2]["time"] = "2024-06-01T08:00:00Z"
    again = object_from_mapping(raw)
    before = _of("manual-change", _findings([first]))
    after = _of("manual-change", _findings([again]))
    assert "2024-05-02T17:42:00Z" in before.message and "2024-06-01T08:00:00Z" in after.message
    assert before.fingerprint == after.fingerprint

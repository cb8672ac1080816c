"""Owner coverage: pods and ReplicaSets that a controller in the scan stands for are not judged
twice; ones that differ from the owner's template are."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

from kposture.engine import Registry, evaluate
from kposture.inventory import Inventory
from kposture.inventory.owners import (
    comparable_spec,
    coverage_notes,
    covered,
    owner_coverage,
    standing_owner,
)
from kposture.model import K8sObject, ResourceRef, RunPolicy, SourceLocation
from kposture.rules import builtin_rules

SPEC: dict[str, Any] = {
    "containers": [
        {
            "name": "app",
            "image": "nginx:1.25",
            "securityContext": {"privileged": True},
            "resources": {"limits": {"cpu": "20m"}},
        }
    ]
}


def obj(
    kind: str, name: str, raw_extra: dict[str, Any], owner: K8sObject | None = None
) -> K8sObject:
    api_version = "v1" if kind == "Pod" else "apps/v1"
    meta: dict[str, Any] = {"name": name, "namespace": "shop", "uid": f"uid-{kind}-{name}"}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner.ref.api_version,
                "kind": owner.ref.kind,
                "name": owner.ref.name,
                "uid": owner.metadata["uid"],
                "controller": True,
            }
        ]
    raw = {"apiVersion": api_version, "kind": kind, "metadata": meta, **raw_extra}
    return K8sObject(ResourceRef(api_version, kind, "shop", name), raw)


def template(spec: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}}}


def pod_spec_as_admitted(spec: dict[str, Any]) -> dict[str, Any]:
    """What the API server makes of a template's spec in a pod: node, token volume, tolerations."""
    out = copy.deepcopy(spec)
    out["nodeName"] = "node-1"
    out["volumes"] = [{"name": "kube-api-access-x7k2p", "projected": {"sources": []}}]
    for container in out["containers"]:
        container["volumeMounts"] = [
            {
                "name": "kube-api-access-x7k2p",
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            }
        ]
    out["tolerations"] = [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}
    ]
    out["priority"] = 0
    out["enableServiceLinks"] = True
    out["serviceAccountName"] = out["serviceAccount"] = "default"
    for container in out["containers"]:
        limits = container.get("resources", {}).get("limits")
        if limits:
            container["resources"]["requests"] = dict(limits)
    return out


def deployment_chain(pods: int = 3) -> list[K8sObject]:
    deployment = obj("Deployment", "web", template(SPEC))
    replica_set = obj("ReplicaSet", "web-5d8f", template(SPEC), deployment)
    return [deployment, replica_set] + [
        obj("Pod", f"web-5d8f-{i}", {"spec": pod_spec_as_admitted(SPEC)}, replica_set)
        for i in range(pods)
    ]


def test_pods_and_replicasets_are_covered_by_the_deployment() -> None:
    objects = deployment_chain(3)
    coverage = owner_coverage(objects)
    assert coverage.covered == frozenset(id(o) for o in objects[1:])
    assert coverage_notes(coverage, objects) == (
        "Deployment/shop/web: 1 ReplicaSet and 3 pods with the same pod template are not "
        "reported separately; its findings stand for them",
    )


def test_findings_are_reported_once_on_the_owner() -> None:
    inventory = Inventory(deployment_chain(3))
    result = evaluate(inventory, Registry(builtin_rules()), RunPolicy(), dt.date(2026, 1, 1))
    privileged = [f for f in result.findings if f.rule_id == "privileged-container"]
    assert [f.resource.kind for f in privileged] == ["Deployment"]
    assert result.objects_scanned == 5


def test_a_pod_that_differs_from_the_template_is_judged_itself() -> None:
    deployment, replica_set, *pods = deployment_chain(2)
    debugged = copy.deepcopy(dict(pods[0].raw))
    debugged["spec"]["ephemeralContainers"] = [{"name": "debug", "image": "busybox"}]
    changed = copy.deepcopy(dict(pods[1].raw))
    changed["spec"]["containers"][0]["image"] = "nginx:1.26"
    objects = [
        deployment,
        replica_set,
        K8sObject(pods[0].ref, debugged),
        K8sObject(pods[1].ref, changed),
    ]
    coverage = owner_coverage(objects)
    assert coverage.covered == frozenset({id(replica_set)})
    assert coverage.note(deployment).startswith(
        "Deployment/shop/web: 1 ReplicaSet with the same pod template is not reported"
    )


def test_owner_not_in_the_scan_leaves_the_pod_judged() -> None:
    deployment, replica_set, pod = deployment_chain(1)
    assert owner_coverage([pod]).covered == frozenset()
    assert owner_coverage([replica_set, pod]).covered == frozenset({id(pod)})
    assert owner_coverage([deployment, pod]).covered == frozenset()


def test_non_controller_owner_references_do_not_cover() -> None:
    _deployment, replica_set, pod = deployment_chain(1)
    raw = copy.deepcopy(dict(pod.raw))
    raw["metadata"]["ownerReferences"][0]["controller"] = False
    loose = K8sObject(pod.ref, raw)
    assert id(loose) not in owner_coverage([replica_set, loose]).covered


def test_comparable_spec_drops_only_admission_additions() -> None:
    assert comparable_spec(pod_spec_as_admitted(SPEC)) == comparable_spec(SPEC)
    with_host_path = pod_spec_as_admitted(SPEC)
    with_host_path["volumes"].append({"name": "root", "hostPath": {"path": "/"}})
    assert comparable_spec(with_host_path)["volumes"] == [
        {"name": "root", "hostPath": {"path": "/"}}
    ]


def test_a_named_service_account_or_other_requests_still_differ() -> None:
    named = pod_spec_as_admitted(SPEC)
    named["serviceAccountName"] = named["serviceAccount"] = "builder"
    assert comparable_spec(named) != comparable_spec(SPEC)
    other = pod_spec_as_admitted(SPEC)
    other["containers"][0]["resources"]["requests"] = {"cpu": "10m"}
    assert comparable_spec(other) != comparable_spec(SPEC)


# --- DaemonSet and StatefulSet pods, as their controllers create them -----------------------------

DS_TEMPLATE_SPEC: dict[str, Any] = {
    "hostNetwork": True,
    "containers": [
        {
            "name": "agent",
            "image": "fluent/fluent-bit:2.2",
            "securityContext": {"privileged": True},
            "volumeMounts": [{"name": "varlog", "mountPath": "/var/log"}],
        }
    ],
    "volumes": [{"name": "varlog", "hostPath": {"path": "/var/log", "type": ""}}],
    "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
    "restartPolicy": "Always",
    "dnsPolicy": "ClusterFirst",
    "schedulerName": "default-scheduler",
}

NODE_PIN = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["worker-1"]}]}

DS_ADDED_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"},
]


def daemon_pod_spec(template_spec: dict[str, Any]) -> dict[str, Any]:
    """A DaemonSet pod as the controller and the API server make it (1.20): the node pin in the
    required node affinity, the node-condition tolerations, the token volume, defaults."""
    out = pod_spec_as_admitted(template_spec)
    out["volumes"] = [*template_spec.get("volumes", []), *out["volumes"]]
    for pod_container, container in zip(
        out["containers"], template_spec["containers"], strict=True
    ):
        pod_container["volumeMounts"] = [
            *container.get("volumeMounts", []),
            *pod_container["volumeMounts"],
        ]
    out["tolerations"] = [*template_spec.get("tolerations", []), *DS_ADDED_TOLERATIONS]
    affinity = copy.deepcopy(template_spec.get("affinity", {}))
    node = affinity.setdefault("nodeAffinity", {})
    required = node.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    required["nodeSelectorTerms"] = [NODE_PIN]  # 1.13+: replaces the template's required terms
    out["affinity"] = affinity
    return out


def daemon_set_and_pod(
    template_spec: dict[str, Any], pod_spec: dict[str, Any] | None = None
) -> tuple[K8sObject, K8sObject]:
    daemon_set = obj("DaemonSet", "logs", template(template_spec))
    spec = pod_spec if pod_spec is not None else daemon_pod_spec(template_spec)
    return daemon_set, obj("Pod", "logs-8xk2q", {"spec": spec}, daemon_set)


def test_daemon_set_pods_are_covered_by_the_daemon_set() -> None:
    daemon_set, pod = daemon_set_and_pod(DS_TEMPLATE_SPEC)
    coverage = owner_coverage([daemon_set, pod])
    assert coverage.covered == frozenset({id(pod)})
    inventory = Inventory([daemon_set, pod])
    result = evaluate(inventory, Registry(builtin_rules()), RunPolicy(), dt.date(2026, 1, 1))
    privileged = [f for f in result.findings if f.rule_id == "privileged-container"]
    assert [f.resource.kind for f in privileged] == ["DaemonSet"]


def test_daemon_set_pod_keeps_user_affinity_around_the_node_pin() -> None:
    user_term = {
        "matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]
    }
    spec = copy.deepcopy(DS_TEMPLATE_SPEC)
    spec["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [user_term]}
        },
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []},
    }
    # Replaced (1.13+): the pod holds only the pin; the rest of the affinity stays.
    daemon_set, replaced = daemon_set_and_pod(spec)
    assert owner_coverage([daemon_set, replaced]).covered == frozenset({id(replaced)})
    # Merged (older controllers): the pin joins each user term.
    merged_spec = daemon_pod_spec(spec)
    merged_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [{**user_term, **NODE_PIN}]
    }
    daemon_set, merged = daemon_set_and_pod(spec, merged_spec)
    assert owner_coverage([daemon_set, merged]).covered == frozenset({id(merged)})
    assert comparable_spec(merged_spec)["affinity"] == spec["affinity"]


def test_daemon_set_pod_that_differs_is_judged_itself() -> None:
    changed = daemon_pod_spec(DS_TEMPLATE_SPEC)
    changed["containers"][0]["image"] = "fluent/fluent-bit:2.1"
    daemon_set, pod = daemon_set_and_pod(DS_TEMPLATE_SPEC, changed)
    assert owner_coverage([daemon_set, pod]).covered == frozenset()
    # A user's own toleration with a value, or of another key, is not set aside.
    own = daemon_pod_spec(DS_TEMPLATE_SPEC)
    own["tolerations"].append({"key": "dedicated", "operator": "Equal", "value": "logs"})
    assert comparable_spec(own)["tolerations"] == [
        *DS_TEMPLATE_SPEC["tolerations"],
        {"key": "dedicated", "operator": "Equal", "value": "logs"},
    ]


STS_TEMPLATE_SPEC: dict[str, Any] = {
    "containers": [
        {
            "name": "db",
            "image": "postgres:16",
            "securityContext": {"privileged": True},
            "volumeMounts": [
                {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                {"name": "config", "mountPath": "/etc/postgresql"},
            ],
        }
    ],
    "volumes": [{"name": "config", "configMap": {"name": "db-config", "defaultMode": 420}}],
}


def test_stateful_set_pods_are_covered_by_the_stateful_set() -> None:
    stateful_set = obj(
        "StatefulSet",
        "db",
        {
            "spec": {
                "serviceName": "db",
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": STS_TEMPLATE_SPEC},
                "volumeClaimTemplates": [
                    {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
                ],
            }
        },
    )
    pods = []
    for ordinal in range(2):
        spec = pod_spec_as_admitted(STS_TEMPLATE_SPEC)
        spec["hostname"] = f"db-{ordinal}"
        spec["subdomain"] = "db"
        # The controller puts the claim volumes first, then the template's; the token volume last.
        spec["volumes"] = [
            {"name": "data", "persistentVolumeClaim": {"claimName": f"data-db-{ordinal}"}},
            *STS_TEMPLATE_SPEC["volumes"],
            *spec["volumes"],
        ]
        mounts = STS_TEMPLATE_SPEC["containers"][0]["volumeMounts"]
        spec["containers"][0]["volumeMounts"] = [*mounts, *spec["containers"][0]["volumeMounts"]]
        pods.append(obj("Pod", f"db-{ordinal}", {"spec": spec}, stateful_set))
    coverage = owner_coverage([stateful_set, *pods])
    assert coverage.covered == frozenset(id(p) for p in pods)
    assert coverage.note(stateful_set).startswith("StatefulSet/shop/db: 2 pods with the same")
    # A PersistentVolumeClaim volume of the template itself is still compared.
    own_claim = {"name": "cache", "persistentVolumeClaim": {"claimName": "shared-cache"}}
    assert comparable_spec({"volumes": [own_claim]}) == {"volumes": [own_claim]}


FIXED: dict[str, Any] = {
    "containers": [{**SPEC["containers"][0], "securityContext": {"privileged": False}}]
}


def rolled_out(old_status: dict[str, Any] | None, old_replicas: int = 0) -> list[K8sObject]:
    """A Deployment fixed since its first revision: the old ReplicaSet (privileged) at
    ``old_replicas`` with ``old_status``, the new one and its pod."""
    deployment = obj("Deployment", "web", template(FIXED))
    old_raw = template(SPEC)
    old_raw["spec"]["replicas"] = old_replicas
    if old_status is not None:
        old_raw["status"] = old_status
    old = obj("ReplicaSet", "web-old", old_raw, deployment)
    new = obj("ReplicaSet", "web-new", template(FIXED), deployment)
    pod = obj("Pod", "web-new-1", {"spec": pod_spec_as_admitted(FIXED)}, new)
    return [deployment, old, new, pod]


def _judged(objects: list[K8sObject]) -> set[tuple[str, str]]:
    inventory = Inventory(objects)
    result = evaluate(inventory, Registry(builtin_rules()), RunPolicy(), dt.date(2026, 1, 1))
    return {(f.resource.name, f.rule_id) for f in result.findings}


def test_a_replicaset_scaled_to_zero_is_rollout_history() -> None:
    for status in ({"replicas": 0, "observedGeneration": 2}, {}, None):
        objects = rolled_out(status)
        deployment, old, _new, _pod = objects
        coverage = owner_coverage(objects)
        assert coverage.covered == frozenset(id(o) for o in objects[1:])
        assert coverage.note(deployment) == (
            "Deployment/shop/web: 1 ReplicaSet and 1 pod with the same pod template are not "
            "reported separately; its findings stand for them; 1 ReplicaSet of an earlier "
            "template is its rollout history, not judged (kubectl rollout undo would bring one "
            "back into the Deployment, judged then)"
        )
        assert standing_owner(old, _by_uid(objects), _by_name(objects)) is deployment
        assert {name for name, _rule in _judged(objects)} <= {"web", "shop"}  # no ReplicaSet


def test_an_earlier_revision_with_pods_left_is_not_judged_either() -> None:
    # mid-rollout the old ReplicaSet still runs pods: judging it would open its findings on every
    # fix and resolve them as "fixed" on every re-break; the rollout replaces those pods
    draining = rolled_out({"replicas": 1})
    scaled_up = rolled_out({"replicas": 2}, old_replicas=2)
    for objects in (draining, scaled_up):
        assert {name for name, _rule in _judged(objects)} <= {"web", "shop"}
        assert standing_owner(objects[1], _by_uid(objects), _by_name(objects)) is objects[0]


def test_rollout_history_of_a_deleted_deployment_is_not_judged() -> None:
    # the Deployment was deleted and the garbage collector has not removed its ReplicaSets yet:
    # judging them meanwhile would reopen old findings only to resolve them a moment later
    _deployment, old, *_ = rolled_out({"replicas": 1}, old_replicas=1)
    live = K8sObject(old.ref, old.raw, SourceLocation("cluster:test", 0, 0, "cluster"))
    assert covered(live, _by_uid([live]), _by_name([live]))
    assert standing_owner(live, _by_uid([live]), _by_name([live])) is None
    assert owner_coverage([live]).covered == frozenset({id(live)})
    assert {name for name, _rule in _judged([live])} <= {"shop"}
    # read from files, the Deployment may simply not be among them: judged
    assert not covered(old, _by_uid([old]), _by_name([old]))
    assert ("web-old", "privileged-container") in _judged([old])


def test_a_replicaset_at_zero_without_an_owner_reference_is_judged() -> None:
    _deployment, old, *_ = rolled_out({})
    del old.raw["metadata"]["ownerReferences"]
    assert ("web-old", "privileged-container") in _judged([old])
    stateful = obj("StatefulSet", "db", {**template(FIXED)})
    kept = obj("ReplicaSet", "db-x", {"spec": {"replicas": 0, **template(SPEC)["spec"]}}, stateful)
    assert ("db-x", "privileged-container") in _judged([stateful, kept])


def test_a_deployment_scaled_to_zero_still_covers_its_current_replicaset() -> None:
    deployment = obj("Deployment", "web", template(SPEC))
    current_raw = template(SPEC)
    current_raw["spec"]["replicas"] = 0
    current = obj("ReplicaSet", "web-5d8f", current_raw, deployment)
    coverage = owner_coverage([deployment, current])
    assert coverage.covered == frozenset({id(current)})
    assert coverage.note(deployment).startswith(
        "Deployment/shop/web: 1 ReplicaSet with the same pod template is not reported"
    )
    assert "rollout history" not in coverage.note(deployment)


def _by_uid(objects: list[K8sObject]) -> Callable[[str], K8sObject | None]:
    return {o.metadata["uid"]: o for o in objects}.get


def _by_name(objects: list[K8sObject]) -> Callable[[str, str, str], K8sObject | None]:
    index = {(o.ref.kind, o.ref.namespace, o.ref.name): o for o in objects}
    return lambda kind, namespace, name: index.get((kind, namespace, name))

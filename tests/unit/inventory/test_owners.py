"""Owner coverage: pods and ReplicaSets that a controller in the scan stands for are not judged
twice; ones that differ from the owner's template are."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from kposture.engine import Registry, evaluate
from kposture.inventory import Inventory
from kposture.inventory.owners import comparable_spec, coverage_notes, owner_coverage
from kposture.model import K8sObject, ResourceRef, RunPolicy
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
    assert owner_coverage([replica_set, K8sObject(pod.ref, raw)]).covered == frozenset()


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

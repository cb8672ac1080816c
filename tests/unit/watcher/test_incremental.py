"""Incremental evaluation equals a full scan: random changes applied one batch at a time, the
affected objects judged again, and the findings kept per object must equal ``evaluate`` of the
whole new state after every batch (the dependents table is what is under test, with the views
carried from one inventory to the next and owner coverage decided per judged object, as the
watcher does). Objects carry GitOps tracking labels and field managers at random (the
``manual-change`` rule), and Deployments sometimes run a kube-apiserver container (the control
plane the cluster rules read)."""

from __future__ import annotations

import copy
import datetime as dt
import random
from typing import Any

import pytest

from kposture.cli.scanning import default_registry
from kposture.engine import evaluate
from kposture.model import Finding, RunPolicy, SourceLocation
from kposture.sources.objects import resource_ref
from kposture.watcher.carrying import carry_views
from kposture.watcher.dependents import affected
from kposture.watcher.evaluating import judge, judge_all
from kposture.watcher.state import ClusterState, Delta, Key, key_of

TODAY = dt.date(2026, 11, 27)
NAMESPACES = ("shop", "pay")


def _uid(kind: str, namespace: str, name: str) -> str:
    return f"uid-{kind}-{namespace}-{name}"


def _meta(kind: str, namespace: str, name: str, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": _uid(kind, namespace, name), **extra}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _pod_spec(rng: random.Random, account: str) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app",
        "image": rng.choice(["nginx:1.25", "registry.example.com/app@sha256:" + "a" * 64]),
        "securityContext": {"privileged": rng.random() < 0.4},
    }
    spec: dict[str, Any] = {"containers": [container], "serviceAccountName": account}
    if rng.random() < 0.05:  # rare, so the cluster gains and loses its control plane
        spec["containers"].append(
            {
                "name": "kube-apiserver",
                "image": "registry.k8s.io/kube-apiserver:v1.20.2",
                "command": ["kube-apiserver", f"--anonymous-auth={rng.random() < 0.5}".lower()],
            }
        )
    if rng.random() < 0.3:
        spec["automountServiceAccountToken"] = False
    return spec


def _deployment(rng: random.Random, namespace: str, name: str) -> dict[str, Any]:
    app = rng.choice(["web", "api"])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("Deployment", namespace, name),
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": _pod_spec(rng, rng.choice(["default", "builder"])),
            },
        },
    }


def _replica_set(deployment: dict[str, Any], same: bool, rng: random.Random) -> dict[str, Any]:
    namespace = deployment["metadata"]["namespace"]
    name = deployment["metadata"]["name"] + "-rs"
    template = copy.deepcopy(deployment["spec"]["template"])
    if not same:
        template["spec"] = _pod_spec(rng, "default")
    owner = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
        "uid": deployment["metadata"]["uid"],
        "controller": True,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": _meta("ReplicaSet", namespace, name, ownerReferences=[owner]),
        "spec": {"selector": deployment["spec"]["selector"], "template": template},
    }


def _role(rng: random.Random, kind: str, namespace: str, name: str) -> dict[str, Any]:
    resources = rng.choice(
        [["pods"], ["secrets"], ["*"], ["deployments"], ["serviceaccounts/token"]]
    )
    verbs = rng.choice([["get"], ["create"], ["*"], ["list", "get"]])
    doc: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": _meta(
            kind, namespace, name, labels={"agg": "yes"} if rng.random() < 0.3 else {}
        ),
        "rules": [{"apiGroups": ["", "apps"], "resources": resources, "verbs": verbs}],
    }
    return doc


def _binding(rng: random.Random, kind: str, namespace: str, name: str) -> dict[str, Any]:
    role_kind = "ClusterRole" if kind == "ClusterRoleBinding" or rng.random() < 0.5 else "Role"
    role_name = rng.choice(["reader", "writer", "aggregate", "cluster-admin"])
    subject_ns = rng.choice(NAMESPACES)
    subject = rng.choice(
        [
            {
                "kind": "ServiceAccount",
                "name": rng.choice(["default", "builder"]),
                "namespace": subject_ns,
            },
            {"kind": "User", "name": "alice"},
            {"kind": "Group", "name": f"system:serviceaccounts:{subject_ns}"},
        ]
    )
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": _meta(kind, namespace, name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": [subject],
    }


def _generate(rng: random.Random, kind: str, namespace: str, name: str) -> dict[str, Any]:
    doc = _object(rng, kind, namespace, name)
    meta = doc["metadata"]
    if rng.random() < 0.05:  # rare, so namespaces become GitOps-managed and stop being
        meta.setdefault("labels", {})["kustomize.toolkit.fluxcd.io/name"] = "apps"
    if rng.random() < 0.5:
        manager = rng.choice(["kubectl-edit", "helm"])
        meta["managedFields"] = [
            {"manager": manager, "operation": "Update", "time": "2026-11-27T00:00:00Z"}
        ]
    return doc


def _object(rng: random.Random, kind: str, namespace: str, name: str) -> dict[str, Any]:
    if kind == "Deployment":
        return _deployment(rng, namespace, name)
    if kind in ("Role", "ClusterRole"):
        doc = _role(rng, kind, namespace, name)
        if kind == "ClusterRole" and name == "aggregate":
            doc["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"agg": "yes"}}]}
        return doc
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        return _binding(rng, kind, namespace, name)
    if kind == "ServiceAccount":
        doc = {"apiVersion": "v1", "kind": kind, "metadata": _meta(kind, namespace, name)}
        if rng.random() < 0.5:
            doc["automountServiceAccountToken"] = False
        return doc
    if kind == "NetworkPolicy":
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": kind,
            "metadata": _meta(kind, namespace, name),
            "spec": {
                "podSelector": rng.choice([{}, {"matchLabels": {"app": "web"}}]),
                "policyTypes": rng.choice([["Ingress"], ["Ingress", "Egress"]]),
            },
        }
    if kind == "Service":
        return {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": _meta(kind, namespace, name),
            "spec": {
                "type": rng.choice(["ClusterIP", "LoadBalancer", "NodePort"]),
                "selector": {"app": rng.choice(["web", "api"])},
                "ports": [{"port": 80}],
            },
        }
    if kind == "Secret":
        doc = {"apiVersion": "v1", "kind": kind, "metadata": _meta(kind, namespace, name)}
        if rng.random() < 0.5:
            doc["type"] = "kubernetes.io/service-account-token"
            doc["metadata"]["annotations"] = {
                "kubernetes.io/service-account.name": rng.choice(["default", "builder"])
            }
        return doc
    if kind == "Namespace":
        labels = {"pod-security.kubernetes.io/enforce": "restricted"} if rng.random() < 0.5 else {}
        return {"apiVersion": "v1", "kind": kind, "metadata": _meta(kind, "", name, labels=labels)}
    raise AssertionError(kind)


NAMESPACED = (
    "Deployment",
    "Role",
    "RoleBinding",
    "ServiceAccount",
    "NetworkPolicy",
    "Service",
    "Secret",
)
CLUSTER = ("ClusterRole", "ClusterRoleBinding", "Namespace")
NAMES = {
    "Role": ("reader", "writer"),
    "ClusterRole": ("reader", "writer", "aggregate", "cluster-admin", "part"),
    "ServiceAccount": ("default", "builder"),
    "Namespace": NAMESPACES,
}


def _random_change(rng: random.Random, state: ClusterState) -> dict[str, Any] | tuple[str, Key]:
    kind = rng.choice(NAMESPACED + CLUSTER + ("Deployment", "Deployment", "ReplicaSet"))
    if kind == "ReplicaSet":
        deployments = [o for k, o in state.objects.items() if k[0] == "Deployment"]
        if not deployments:
            return _generate(rng, "Deployment", "shop", "web")
        owner = rng.choice(deployments)
        return _replica_set(dict(owner.raw), rng.random() < 0.6, rng)
    namespace = "" if kind in CLUSTER else rng.choice(NAMESPACES)
    name = rng.choice(NAMES.get(kind, ("a", "b", "c")))
    key = (kind, namespace, name)
    if key in state.objects and rng.random() < 0.2:
        return ("delete", key)
    return _generate(rng, kind, namespace, name)


def _fingerprints(findings: list[Finding] | tuple[Finding, ...]) -> set[tuple[str, str, str]]:
    return {(f.fingerprint, f.severity.value, f.message) for f in findings}


@pytest.mark.parametrize("seed", range(12))
def test_incremental_findings_equal_a_full_scan_after_every_batch(seed: int) -> None:
    rng = random.Random(seed)
    registry, policy = default_registry(), RunPolicy()
    state = ClusterState(SourceLocation("cluster:test", 0, 0, "cluster"), resource_ref)
    for _ in range(25):
        change = _random_change(rng, state)
        if isinstance(change, dict):
            state.upsert(change)
    inventory = state.inventory()
    whole = judge_all(inventory, registry, policy, TODAY)
    by_key: dict[Key, list[Finding]] = {}
    for finding in whole.findings:
        by_key.setdefault(key_of(finding.resource), []).append(finding)
    paths = None
    for _batch in range(30):
        deltas: list[Delta] = []
        for _ in range(rng.randint(1, 4)):
            change = _random_change(rng, state)
            if isinstance(change, tuple):
                gone = state.objects[change[1]]
                delta = state.delete(dict(gone.raw))
            else:
                delta = state.upsert(change)
            if delta is not None:
                deltas.append(delta)
        new_inventory = state.inventory()
        carry_views(inventory, new_inventory, deltas)
        found = affected(
            deltas, inventory, new_inventory, state.children, state.in_namespace, paths
        )
        paths = found.paths if found.paths is not None else paths
        if found.everything:
            judged = judge_all(new_inventory, registry, policy, TODAY)
            by_key = {}
        else:
            judged = judge(found.keys, new_inventory, registry, policy, TODAY, by_uid=state.by_uid)
            for key in judged.scope:
                by_key.pop(key, None)
        for finding in judged.findings:
            by_key.setdefault(key_of(finding.resource), []).append(finding)
        inventory = new_inventory
        incremental = [f for findings in by_key.values() for f in findings]
        # A fresh inventory: views carried over to ``inventory`` must not decide both sides.
        full = evaluate(state.inventory(), registry, policy, TODAY).findings
        assert _fingerprints(incremental) == _fingerprints(full), (seed, _batch, deltas)
        assert judged.evaluations < whole.evaluations * 10

"""``who_can`` against the API server's own RBAC authorizer (SubjectAccessReview).

A seeded generator writes Roles, ClusterRoles (some aggregated, one into the default ``edit``) and
bindings with wildcards, resourceNames, subresources, groups and ServiceAccounts (with and without a
namespace) into the test cluster, next to its default RBAC. kposture snapshots the cluster with its
cluster source, then a few hundred seeded random questions (requester, verb, resource[/subresource],
namespace, name) are put to both: ``inventory.rbac_graph.allowed`` and a SubjectAccessReview POSTed
with the admin token. Every disagreement is listed; there must be none. The seed is printed
(``KPOSTURE_RBAC_SEED`` replays one; ``KPOSTURE_RBAC_QUESTIONS`` sets how many questions).
"""

from __future__ import annotations

import json
import os
import random
import ssl
import time
import urllib.request
from typing import Any

import pytest
import yaml

from e2e.cluster.harness import KubeCluster
from kposture.inventory import Inventory
from kposture.inventory.rbac import effective_rules
from kposture.inventory.rbac_graph import Principal, Request, allowed
from kposture.inventory.rbac_scope import is_cluster_scoped

pytestmark = pytest.mark.e2e

NAMESPACES = ("rbac-a", "rbac-b", "rbac-c")
USERS = ("alice", "bob", "carol", "dave")
GROUPS = ("devs", "ops", "auditors")
SERVICE_ACCOUNTS = ("runner", "deployer")
NAMES = ("one", "two", "three")
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
RESOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("", "pods", ("exec", "log", "status")),
    ("", "secrets", ()),
    ("", "configmaps", ()),
    ("", "serviceaccounts", ("token",)),
    ("apps", "deployments", ("scale", "status")),
    ("batch", "jobs", ()),
    ("", "nodes", ("proxy", "status")),
    ("rbac.authorization.k8s.io", "clusterroles", ()),
    ("example.io", "widgets", ()),
)
AGGREGATE_LABEL = "kposture.io/aggregate-to-team"


def _rule(rng: random.Random) -> dict[str, Any]:
    group, resource, subs = rng.choice(RESOURCES)
    verbs = ["*"] if rng.random() < 0.1 else sorted(rng.sample(VERBS, rng.randint(1, 3)))
    groups = ["*"] if rng.random() < 0.1 else [group]
    entries = []
    for _ in range(rng.randint(1, 2)):
        roll = rng.random()
        if roll < 0.08:
            entries.append("*")
        elif roll < 0.14 and subs:
            entries.append(f"*/{rng.choice(subs)}")
        elif roll < 0.45 and subs:
            entries.append(f"{resource}/{rng.choice(subs)}")
        else:
            entries.append(resource)
    rule: dict[str, Any] = {
        "apiGroups": groups,
        "resources": sorted(set(entries)),
        "verbs": verbs,
    }
    if rng.random() < 0.3:
        rule["resourceNames"] = sorted(rng.sample(NAMES, rng.randint(1, 2)))
    return rule


def _subject(rng: random.Random, binding_namespace: str) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.3:
        return {"kind": "User", "name": rng.choice(USERS), "apiGroup": "rbac.authorization.k8s.io"}
    if roll < 0.55:
        name = rng.choice(
            (*GROUPS, "system:serviceaccounts", f"system:serviceaccounts:{rng.choice(NAMESPACES)}")
        )
        return {"kind": "Group", "name": name, "apiGroup": "rbac.authorization.k8s.io"}
    subject = {"kind": "ServiceAccount", "name": rng.choice(SERVICE_ACCOUNTS)}
    if binding_namespace and rng.random() < 0.4:
        return subject  # defaults to the RoleBinding's namespace
    subject["namespace"] = rng.choice(NAMESPACES)
    return subject


def generate(rng: random.Random) -> list[dict[str, Any]]:
    """Roles, ClusterRoles (aggregated ones too) and bindings naming them."""
    docs: list[dict[str, Any]] = []
    cluster_roles: list[str] = []
    roles: dict[str, list[str]] = {ns: [] for ns in NAMESPACES}

    def meta(name: str, namespace: str = "", labels: dict[str, str] | None = None) -> Any:
        out: dict[str, Any] = {"name": name}
        if namespace:
            out["namespace"] = namespace
        if labels:
            out["labels"] = labels
        return out

    for i in range(8):
        labels = {}
        if i % 3 == 0:
            labels[AGGREGATE_LABEL] = "true"
        if i == 4:
            labels["rbac.authorization.k8s.io/aggregate-to-edit"] = "true"
        name = f"kp-cr-{i}"
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": meta(name, labels=labels),
                "rules": [_rule(rng) for _ in range(rng.randint(1, 3))],
            }
        )
        cluster_roles.append(name)
    docs.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": meta("kp-aggregated", labels={"kposture.io/aggregate-to-top": "true"}),
            "aggregationRule": {
                "clusterRoleSelectors": [{"matchLabels": {AGGREGATE_LABEL: "true"}}]
            },
            "rules": [],
        }
    )
    docs.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": meta("kp-aggregated-top"),
            "aggregationRule": {
                "clusterRoleSelectors": [{"matchLabels": {"kposture.io/aggregate-to-top": "true"}}]
            },
            "rules": [],
        }
    )
    cluster_roles += ["kp-aggregated", "kp-aggregated-top", "edit", "view", "admin"]
    for ns in NAMESPACES:
        for i in range(3):
            name = f"kp-role-{i}"
            docs.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "Role",
                    "metadata": meta(name, ns),
                    "rules": [_rule(rng) for _ in range(rng.randint(1, 3))],
                }
            )
            roles[ns].append(name)
        for sa in SERVICE_ACCOUNTS:
            docs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(sa, ns)})
    for i in range(16):
        ns = rng.choice(NAMESPACES)
        if rng.random() < 0.5:
            ref = {"kind": "Role", "name": rng.choice(roles[ns])}
        else:
            ref = {"kind": "ClusterRole", "name": rng.choice(cluster_roles)}
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": meta(f"kp-rb-{i}", ns),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", **ref},
                "subjects": [_subject(rng, ns) for _ in range(rng.randint(1, 3))],
            }
        )
    for i in range(5):
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": meta(f"kp-crb-{i}"),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": rng.choice(cluster_roles),
                },
                "subjects": [_subject(rng, "") for _ in range(rng.randint(1, 2))],
            }
        )
    return docs


def question(rng: random.Random) -> tuple[Principal, Request]:
    if rng.random() < 0.5:
        groups = rng.sample(GROUPS, rng.randint(0, 2))
        principal = Principal.of_user(rng.choice(USERS), groups)
    else:
        principal = Principal.of_service_account(
            rng.choice(NAMESPACES), rng.choice(SERVICE_ACCOUNTS)
        )
    group, resource, subs = rng.choice(RESOURCES)
    subresource = rng.choice(subs) if subs and rng.random() < 0.4 else ""
    if is_cluster_scoped(group, resource):
        namespace = ""
    else:
        namespace = "" if rng.random() < 0.15 else rng.choice(NAMESPACES)
    name = rng.choice(NAMES) if rng.random() < 0.6 else ""
    request = Request(
        verb=rng.choice(VERBS),
        resource=resource,
        group=group,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )
    return principal, request


def server_allows(cluster: KubeCluster, context: ssl.SSLContext, p: Principal, r: Request) -> bool:
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": p.user,
            "groups": sorted(p.groups),
            "resourceAttributes": {
                "namespace": r.namespace,
                "verb": r.verb,
                "group": r.group,
                "resource": r.resource,
                "subresource": r.subresource,
                "name": r.name,
            },
        },
    }
    req = urllib.request.Request(
        f"{cluster.server}/apis/authorization.k8s.io/v1/subjectaccessreviews",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {cluster.admin_token}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(req, context=context, timeout=30) as response:
        status = json.load(response).get("status", {})
    return bool(status.get("allowed"))


def snapshot(cluster: KubeCluster) -> Inventory:
    """The cluster as kposture's cluster source lists it, once aggregation has settled (the
    controller writes aggregated rules asynchronously; the authorizer reads what is stored)."""
    from kposture.sources.cluster import load_cluster

    deadline = time.monotonic() + 60
    while True:
        read = load_cluster(str(cluster.kubeconfig), cluster.admin_context, None, None)
        inventory = Inventory(read.loaded.objects)
        pending = [
            role.ref.name
            for role in inventory.of_kind("ClusterRole")
            if role.raw.get("aggregationRule")
            and any(rule.path[:1] != ("rules",) for rule in effective_rules(role, inventory))
        ]
        if not pending:
            return inventory
        if time.monotonic() > deadline:
            pytest.fail(f"aggregation did not settle: {pending}")
        time.sleep(0.5)


def test_who_can_agrees_with_subject_access_review(kube_cluster: KubeCluster) -> None:
    seed = int(os.environ.get("KPOSTURE_RBAC_SEED", random.SystemRandom().randrange(2**32)))
    count = int(os.environ.get("KPOSTURE_RBAC_QUESTIONS", "400"))
    print(f"rbac who-can SAR comparison: seed={seed} questions={count}")
    rng = random.Random(seed)
    docs = generate(rng)
    manifest = yaml.safe_dump_all(docs)
    kube_cluster.ensure_namespaces(*NAMESPACES)
    kube_cluster.apply(manifest)
    disagreements = []
    allowed_count = 0
    try:
        inventory = snapshot(kube_cluster)
        context = ssl.create_default_context(cafile=str(kube_cluster.ca_file))
        for _ in range(count):
            principal, request = question(rng)
            ours = allowed(inventory, principal, request)
            theirs = server_allows(kube_cluster, context, principal, request)
            allowed_count += theirs
            if ours != theirs:
                disagreements.append((principal, request, ours, theirs))
    finally:
        # The cluster is shared by the session: leave its RBAC as it was.
        kube_cluster.kubectl("delete", "--wait=false", "-f", "-", input=manifest, check=False)
        kube_cluster.kubectl("delete", "namespace", "--wait=false", *NAMESPACES, check=False)
    print(f"allowed by the server: {allowed_count}/{count}; disagreements: {len(disagreements)}")
    assert not disagreements, f"seed {seed}: " + "\n".join(
        f"{p.user} {sorted(p.groups)} {r}: kposture={ours} server={theirs}"
        for p, r, ours, theirs in disagreements
    )


def test_who_can_cli_on_the_live_cluster(kube_cluster: KubeCluster) -> None:
    import subprocess
    import sys
    from pathlib import Path

    kposture = Path(sys.executable).parent / "kposture"
    done = subprocess.run(
        [
            str(kposture),
            "rbac",
            "who-can",
            "escalate",
            "clusterroles.rbac.authorization.k8s.io",
            "--cluster",
            f"--kubeconfig={kube_cluster.kubeconfig}",
            f"--context={kube_cluster.admin_context}",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)["subjects"]
    assert {
        "subject": ("Group", "system:masters"),
        "binding": "cluster-admin",
        "role": "cluster-admin",
    } in [
        {
            "subject": (s["subject"]["kind"], s["subject"]["name"]),
            "binding": s["binding"]["name"],
            "role": s["role"]["name"],
        }
        for s in found
    ]

"""``who_can`` and ``allowed`` against the API server's own RBAC authorizer (SubjectAccessReview).

The seeded generator of ``rbac_generator`` writes Roles, ClusterRoles (aggregated ones, one into the
default ``edit``; non-resource URLs too) and bindings (to users, groups, ServiceAccounts, the
anonymous user and groups, missing roles) into the test cluster, next to its default RBAC, and tries
the bindings the server should refuse. kposture snapshots the cluster with its cluster source. Then
thousands of seeded random questions are put to both sides: each random request (resource requests,
Namespace objects, cluster-scoped resources with and without a namespace, non-resource URLs,
impersonate, bind, escalate, approve) is asked for several requesters of ``PRINCIPALS``. kposture
answers from ``rbac_graph.who_can`` (a requester is allowed when one of the listed subjects matches
it) and ``rbac_graph.allowed`` must say the same; the server answers SubjectAccessReviews POSTed over
keep-alive connections by a small thread pool. Every subject ``who_can`` lists for a request is also
asked about on its own (a user without groups, a group with a user of no binding, a ServiceAccount's
username), up to two per request: the server must allow each. Every disagreement is listed; there
must be none. The seed and the counts are printed (``pytest -s``): ``KPOSTURE_RBAC_SEED`` replays a
seed, ``KPOSTURE_RBAC_QUESTIONS`` sets how many requester questions are asked (3,000 by default).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import ssl
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from e2e.cluster import rbac_generator as gen
from e2e.cluster.harness import KubeCluster
from kposture.cli.rbac_commands import parse_request
from kposture.inventory import Inventory
from kposture.inventory.rbac import Subject, effective_rules
from kposture.inventory.rbac_graph import Principal, Request, allowed, service_account_user, who_can

pytestmark = pytest.mark.e2e

PRINCIPALS_PER_REQUEST = 5
PROBES_PER_REQUEST = 2
WORKERS = 4
SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


class Reviewer:
    """POSTs SubjectAccessReviews with the admin token, one keep-alive HTTPS connection per worker
    thread."""

    def __init__(self, cluster: KubeCluster, workers: int = WORKERS) -> None:
        url = urllib.parse.urlsplit(cluster.server)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 443
        self.context = ssl.create_default_context(cafile=str(cluster.ca_file))
        self.headers = {
            "Authorization": f"Bearer {cluster.admin_token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.workers = workers
        self.local = threading.local()
        self.connections: list[http.client.HTTPSConnection] = []
        self.lock = threading.Lock()

    def _connection(self) -> http.client.HTTPSConnection:
        conn: http.client.HTTPSConnection | None = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                self.host, self.port, context=self.context, timeout=30
            )
            self.local.conn = conn
            with self.lock:
                self.connections.append(conn)
        return conn

    def allows(self, body: dict[str, Any]) -> bool:
        payload = json.dumps(body).encode()
        for attempt in range(3):
            conn = self._connection()
            try:
                conn.request("POST", SAR_PATH, body=payload, headers=self.headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
                continue
            assert response.status == 201, f"SubjectAccessReview {response.status}: {data!r}"
            return bool(json.loads(data).get("status", {}).get("allowed"))
        raise AssertionError("unreachable")

    def decide(self, bodies: Sequence[dict[str, Any]]) -> list[bool]:
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(self.allows, bodies))

    def close(self) -> None:
        for conn in self.connections:
            conn.close()


@dataclass(frozen=True)
class Asked:
    """One SubjectAccessReview to make, with kposture's answer."""

    label: str
    principal: Principal
    request: Request
    ours: bool
    probe: Subject | None = None  # set for a who_can subject asked about on its own


def probe_principal(subject: Subject) -> Principal:
    """The smallest requester a subject stands for: nothing but its own identity."""
    if subject.kind == "User":
        return Principal(subject.name)
    if subject.kind == "Group":
        return Principal("kposture-probe", frozenset({subject.name}))
    return Principal(service_account_user(subject.namespace, subject.name))


def cli_asks_the_same(request: Request) -> bool:
    """Whether ``rbac who-can VERB namespaces[/SUB] --name NAME`` asks what the API server is
    asked for that Namespace (it carries its own name as namespace); other requests: True."""
    if request.resource != "namespaces" or request.group or not request.name:
        return True
    if request.namespace != request.name or request.verb != request.verb.lower():
        return True
    resource = f"namespaces/{request.subresource}" if request.subresource else "namespaces"
    return parse_request(request.verb, resource, "", request.name) == request


def questions(
    inventory: Inventory,
    docs: list[dict[str, Any]],
    rng: random.Random,
    probe_rng: random.Random,
    count: int,
) -> tuple[list[Asked], list[str]]:
    """``count`` requester questions (``PRINCIPALS_PER_REQUEST`` per random request) and the probes
    of the subjects ``who_can`` lists, each with kposture's answer."""
    out: list[Asked] = []
    inconsistent: list[str] = []
    asked = 0
    while asked < count:
        drawn = gen.question(rng, docs, PRINCIPALS_PER_REQUEST)
        label, request = drawn.label, drawn.request
        accesses = who_can(inventory, request)
        if not cli_asks_the_same(request):
            inconsistent.append(f"'kposture rbac who-can' asks another question than {request}")
        for principal in drawn.principals:
            ours = any(principal.matches(access.subject) for access in accesses)
            if allowed(inventory, principal, request) != ours:
                inconsistent.append(f"allowed() and who_can() differ: {principal} {request}")
            out.append(Asked(label, principal, request, ours))
            asked += 1
        listed = sorted({(a.subject.kind, a.subject.name, a.subject.namespace) for a in accesses})
        for kind, name, namespace in probe_rng.sample(listed, min(PROBES_PER_REQUEST, len(listed))):
            subject = Subject(kind, name, namespace, 0)
            out.append(Asked(label, probe_principal(subject), request, True, subject))
    return out, inconsistent


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


def describe(question: Asked, theirs: bool) -> str:
    p, r = question.principal, question.request
    what = (
        f"{r.verb} {r.path}"
        if r.path
        else (
            f"{r.verb} {r.group or 'core'}/{r.combined_resource} ns={r.namespace!r} name={r.name!r}"
        )
    )
    who = f"{p.user} {sorted(p.groups)}"
    if question.probe is not None:
        who = f"who_can subject {question.probe.display()} (as {who})"
    return f"[{question.label}] {who}: {what}: kposture={question.ours} server={theirs}"


def report(seed: int, asked: list[Asked], answers: list[bool], seconds: dict[str, float]) -> str:
    by_label: Counter[tuple[str, bool]] = Counter()
    for question, theirs in zip(asked, answers, strict=True):
        if question.probe is None:
            by_label[question.label, theirs] += 1
    requesters = [a for q, a in zip(asked, answers, strict=True) if q.probe is None]
    lines = [
        f"rbac who-can SAR comparison: seed={seed} (KPOSTURE_RBAC_SEED={seed} replays it)",
        f"  requester questions: {len(requesters)} (allowed {sum(requesters)}, "
        f"denied {len(requesters) - sum(requesters)}); who_can subject probes: "
        f"{len(asked) - len(requesters)}; SubjectAccessReviews: {len(asked)}",
    ]
    for label in sorted({label for label, _ in by_label}):
        yes, no = by_label[label, True], by_label[label, False]
        lines.append(f"  {label:34} {yes + no:5}  allowed {yes:5}  denied {no:5}")
    lines.append("  time: " + ", ".join(f"{name} {value:.1f}s" for name, value in seconds.items()))
    return "\n".join(lines)


def apply_invalid(cluster: KubeCluster) -> list[dict[str, Any]]:
    """Apply each binding the server should refuse; return those it stored anyway."""
    stored = []
    for doc in gen.invalid_objects():
        done = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc), check=False)
        if done.returncode == 0:
            stored.append(doc)
        else:
            print(f"refused by the server, as expected: {doc['kind']} {doc['metadata']['name']}")
    return stored


def test_who_can_agrees_with_subject_access_review(kube_cluster: KubeCluster) -> None:
    seed = int(os.environ.get("KPOSTURE_RBAC_SEED", random.SystemRandom().randrange(2**32)))
    count = int(os.environ.get("KPOSTURE_RBAC_QUESTIONS", "3000"))
    print(f"rbac who-can SAR comparison: seed={seed} questions={count}")
    rng = random.Random(seed)
    docs = gen.objects(rng)
    manifest = yaml.safe_dump_all(docs)
    kube_cluster.ensure_namespaces(*gen.NAMESPACES)
    kube_cluster.apply(manifest)
    stored = apply_invalid(kube_cluster)
    seconds: dict[str, float] = {}
    reviewer = Reviewer(kube_cluster)
    try:
        start = time.monotonic()
        inventory = snapshot(kube_cluster)
        seconds["snapshot"] = time.monotonic() - start
        start = time.monotonic()
        asked, inconsistent = questions(
            inventory, docs, rng, random.Random(f"{seed}-probes"), count
        )
        seconds["kposture"] = time.monotonic() - start
        start = time.monotonic()
        answers = reviewer.decide([gen.sar_body(q.principal, q.request) for q in asked])
        seconds["server"] = time.monotonic() - start
    finally:
        reviewer.close()
        # The cluster is shared by the session: leave its RBAC as it was.
        cleanup = yaml.safe_dump_all([*docs, *stored])
        kube_cluster.kubectl("delete", "--wait=false", "-f", "-", input=cleanup, check=False)
        kube_cluster.kubectl("delete", "namespace", "--wait=false", *gen.NAMESPACES, check=False)
    summary = report(seed, asked, answers, seconds)
    print(summary)
    disagreements = [
        describe(q, theirs) for q, theirs in zip(asked, answers, strict=True) if q.ours != theirs
    ]
    problems = [*inconsistent, *disagreements]
    print(f"disagreements: {len(problems)}")
    assert not problems, f"seed {seed}: {len(problems)} disagreements\n" + "\n".join(problems[:200])


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

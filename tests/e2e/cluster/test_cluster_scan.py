"""``kposture scan --cluster`` and ``kposture snapshot`` against the real kube-apiserver.

The goat manifests are applied (the two Helm charts are left out: the offline side would render
them, the cluster side would need them rendered first) and scanned twice: offline, from the files,
and live, from the API server. For namespaced workload, service-account and RBAC rules both scans
must report the same (rule id, resource) pairs on the applied objects. Expected differences, kept
out of the comparison on purpose:

- objects the API server does not serve on 1.20 (a Kyverno ClusterPolicy without its CRD, a kind
  cluster config) are never applied, so only files that applied are compared;
- the live side also sees what the cluster itself holds (default RBAC, kube-system, ServiceAccount
  token Secrets, ReplicaSets and Pods that kube-controller-manager creates); those are compared
  only through the owner rule: no finding may be reported on a Pod or ReplicaSet whose controller
  is scanned too;
- a manifest without a namespace lands in ``default`` (the offline side reports it as such too).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster.harness import KubeCluster

pytestmark = pytest.mark.e2e

KPOSTURE = Path(sys.executable).parent / "kposture"
LIMIT = 300
COMPARED_DOMAINS = frozenset({"workload-privileges", "service-accounts", "rbac", "secrets"})
WORKLOAD_AND_RBAC_KINDS = frozenset(
    {
        "Pod",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "ReplicationController",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "ServiceAccount",
    }
)


def kposture(*args: str, timeout: float = LIMIT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KPOSTURE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode in (0, 1, 2), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def goat_files(corpus: Path) -> list[Path]:
    root = corpus / "goat"
    charts = {p.parent for p in root.rglob("Chart.yaml")}
    return sorted(
        p
        for p in root.rglob("*.yaml")
        if not any(chart in p.parents for chart in charts) and "platforms" not in p.parts
    )


@pytest.fixture(scope="module")
def applied_goat(kube_cluster: KubeCluster, corpus: Path) -> list[Path]:
    """Apply each goat file on its own; the ones the 1.20 server rejects are left out."""
    applied = []
    for path in goat_files(corpus):
        try:
            kube_cluster.apply(path)
        except (AssertionError, RuntimeError):
            continue
        applied.append(path)
    assert len(applied) >= 10, applied
    # kube-controller-manager creates ReplicaSets and Pods; give it a moment to catch up.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pods = kube_cluster.kubectl("get", "pods", "-A", "-o", "name").stdout.split()
        if len(pods) >= 5 or not kube_cluster.controller_manager:
            break
        time.sleep(1)
    return applied


def keys(document: dict[str, Any], names: set[tuple[str, str, str]]) -> set[tuple[str, ...]]:
    out = set()
    for finding in document["findings"]:
        resource = finding["resource"]
        key = (
            resource["kind"],
            resource["namespace"] or _default(resource["kind"]),
            resource["name"],
        )
        if (
            finding["domain"] in COMPARED_DOMAINS
            and resource["kind"] in WORKLOAD_AND_RBAC_KINDS
            and key in names
            and not finding["suppressed"]
        ):
            out.add((finding["rule_id"], *key))
    return out


def _default(kind: str) -> str:
    return "" if kind.startswith("Cluster") else "default"


def offline_objects(files: list[Path]) -> set[tuple[str, str, str]]:
    from kposture.sources.manifests import load_manifests

    loaded = load_manifests([str(p) for p in files])
    return {
        (o.ref.kind, o.ref.namespace or _default(o.ref.kind), o.ref.name) for o in loaded.objects
    }


def test_cluster_scan_matches_the_offline_scan(
    kube_cluster: KubeCluster, applied_goat: list[Path]
) -> None:
    offline = report(kposture("scan", *map(str, applied_goat), "-o", "json"))
    live = report(
        kposture("scan", "--cluster", "--kubeconfig", str(kube_cluster.kubeconfig), "-o", "json")
    )
    assert live["inputs"] == [f"cluster:{kube_cluster.admin_context}"]
    assert not [e for e in live["errors"] if e["level"] == "error"], live["errors"]
    names = offline_objects(applied_goat)
    expected, got = keys(offline, names), keys(live, names)
    assert len(expected) >= 20
    assert got == expected, {"only offline": expected - got, "only live": got - expected}
    for finding in live["findings"]:
        assert finding["location"]["file"] == f"cluster:{kube_cluster.admin_context}"
        assert finding["location"]["line"] == 0


def test_controller_pods_are_not_reported_twice(
    kube_cluster: KubeCluster, applied_goat: list[Path]
) -> None:
    if not kube_cluster.controller_manager:
        pytest.skip("no kube-controller-manager: no ReplicaSets or Pods are created")
    pods = json.loads(kube_cluster.kubectl("get", "pods,replicasets", "-A", "-o", "json").stdout)
    owned = {
        (item["kind"], item["metadata"]["namespace"], item["metadata"]["name"])
        for item in pods["items"]
        if any(ref.get("controller") for ref in item["metadata"].get("ownerReferences", []))
    }
    assert owned, "kube-controller-manager created no ReplicaSets or Pods"
    live = report(
        kposture("scan", "--cluster", "--kubeconfig", str(kube_cluster.kubeconfig), "-o", "json")
    )
    reported = {
        (f["resource"]["kind"], f["resource"]["namespace"], f["resource"]["name"])
        for f in live["findings"]
    }
    assert not owned & reported


def test_low_privilege_token_gets_warnings_and_a_result(kube_cluster: KubeCluster) -> None:
    done = kposture(
        "scan",
        "--cluster",
        "--kubeconfig",
        str(kube_cluster.kubeconfig),
        "--context",
        kube_cluster.user_context,
        "-o",
        "json",
    )
    live = report(done)
    warnings = [e["message"] for e in live["errors"] if e["level"] == "warning"]
    assert any(
        m == "cannot list secrets: forbidden; rules about Secrets did not run on the cluster"
        for m in warnings
    ), warnings
    assert all(e["level"] == "warning" for e in live["errors"] if "cannot list" in e["message"])
    assert live["summary"]["rules_run"] > 0


def test_snapshot_scans_like_the_cluster(kube_cluster: KubeCluster, tmp_path: Path) -> None:
    target = tmp_path / "snapshot.json"
    done = kposture("snapshot", "-o", str(target), "--kubeconfig", str(kube_cluster.kubeconfig))
    assert done.returncode == 0, done.stderr
    document = json.loads(target.read_text())
    info = json.loads(document["metadata"]["annotations"]["kposture.io/snapshot"])
    assert info["server"] == kube_cluster.server
    assert {k["kind"] for k in info["kinds"]} >= {"Pod", "Secret", "ClusterRole", "Node"}
    secrets = [i for i in document["items"] if i["kind"] == "Secret"]
    assert secrets, "the cluster holds ServiceAccount token Secrets"
    assert all("data" not in s and "stringData" not in s for s in secrets)
    live = report(
        kposture("scan", "--cluster", "--kubeconfig", str(kube_cluster.kubeconfig), "-o", "json")
    )
    offline = report(kposture("scan", str(target), "-o", "json"))
    assert sorted(f["fingerprint"] for f in offline["findings"]) == sorted(
        f["fingerprint"] for f in live["findings"]
    )


def test_kubectl_json_dump_scans(kube_cluster: KubeCluster, applied_goat: list[Path]) -> None:
    dump = kube_cluster.kubectl("get", "deployments,jobs,roles,rolebindings", "-A", "-o", "json")
    done = subprocess.run(
        [str(KPOSTURE), "scan", "-", "-o", "json"],
        input=dump.stdout,
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
    )
    scanned = report(done)
    assert scanned["errors"] == [] or all(e["level"] != "error" for e in scanned["errors"])
    assert any(f["rule_id"] == "privileged-container" for f in scanned["findings"])


@pytest.fixture
def restarted(kube_cluster: KubeCluster) -> Iterator[KubeCluster]:
    try:
        yield kube_cluster
    finally:
        if not kube_cluster.is_running():
            kube_cluster.start()


def test_stopped_server_is_a_clean_error(restarted: KubeCluster) -> None:
    with restarted.stopped("kube-apiserver"):
        done = kposture("scan", "--cluster", "--kubeconfig", str(restarted.kubeconfig))
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot reach the API server")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_closed_port_is_a_clean_error(kube_cluster: KubeCluster, tmp_path: Path) -> None:
    config = tmp_path / "config"
    text = kube_cluster.kubeconfig.read_text().replace(kube_cluster.server, "https://127.0.0.1:1")
    config.write_text(text)
    done = kposture("scan", "--cluster", "--kubeconfig", str(config), timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot reach the API server"), done.stderr


def test_server_stopping_mid_scan_is_an_error_not_a_crash(restarted: KubeCluster) -> None:
    """Listing under way when the API server stops: each interrupted kind is an error (exit 2) or,
    if the stop lands before discovery, the one-line start-up error. Never a traceback."""
    from kposture.sources.cluster import load_cluster

    seen = threading.Event()

    def progress(kind: str, count: int, finished: bool) -> None:
        if not seen.is_set():
            seen.set()
            restarted.stop("kube-apiserver")

    # One worker: the kinds after the first page are all listed after the stop.
    read = load_cluster(str(restarted.kubeconfig), None, None, progress, workers=1)
    lost = [e for e in read.loaded.errors if "connection lost" in e.message]
    assert lost and all(e.level == "error" for e in lost), read.loaded.errors


def test_hung_server_times_out_with_one_retry(restarted: KubeCluster) -> None:
    """A server that accepts connections but never answers (SIGSTOP): the read times out, is retried
    once, and the scan fails with the one-line start-up error instead of hanging."""
    import dataclasses
    from collections.abc import Sequence

    from kposture.sources.cluster import load_cluster
    from kposture.sources.cluster_config import Response, TransportError, connect
    from kposture.sources.cluster_listing import ClusterUnreachable

    connection = connect(str(restarted.kubeconfig), timeout=(2.0, 2.0))
    attempts: list[tuple[str, str]] = []  # (path, "answered" or "timed out")

    class CountedTransport:
        def get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Response:
            try:
                response = connection.transport.get(path, query)
            except TransportError:
                attempts.append((path, "timed out"))
                raise
            attempts.append((path, "answered"))
            return response

    counted = dataclasses.replace(connection, transport=CountedTransport())
    failures: list[Exception] = []

    def scan() -> None:
        try:
            load_cluster(connection=counted)
        except Exception as exc:
            failures.append(exc)

    with restarted.paused("kube-apiserver"):
        scanning = threading.Thread(target=scan, daemon=True)
        scanning.start()
        # a hang detector, not a bound: two 2 s read timeouts end the scan long before
        scanning.join(120)
        hung = scanning.is_alive()
    assert not hung, "the scan still waits on a server that never answers"
    [failure] = failures
    assert isinstance(failure, ClusterUnreachable) and "timed out" in str(failure), failure
    assert attempts == [("/api/v1", "timed out")] * 2  # the first request and its one retry

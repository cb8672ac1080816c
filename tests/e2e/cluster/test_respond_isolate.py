"""``kposture respond isolate --cluster`` against the real kube-apiserver: the pod's namespace found
without ``-n``, the allow policy that would defeat the deny-all named, and every command it prints
(the quarantine label, the policy, the patch that makes the allow policy skip quarantined pods)
accepted by the API server with the selection it promises; a responder who may read only pods,
their controllers, NetworkPolicies and the Namespace runs it without a warning, and the audit log
shows it read the pod and the policies and nothing else (no Secrets)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.cluster.harness import KubeCluster
from e2e.cluster.test_watch_access import _sa_token

pytestmark = pytest.mark.e2e

KPOSTURE = Path(sys.executable).parent / "kposture"
NS = "kposture-respond"
MANIFESTS = f"""\
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web-1, namespace: {NS}, labels: {{app: web}}}}
spec: {{containers: [{{name: c, image: nginx:1.27}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web-2, namespace: {NS}, labels: {{app: web}}}}
spec: {{containers: [{{name: c, image: nginx:1.27}}]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: allow-web, namespace: {NS}}}
spec:
  podSelector: {{matchLabels: {{app: web}}}}
  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: front}}}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: deny-in, namespace: {NS}}}
spec: {{podSelector: {{}}, policyTypes: [Ingress]}}
"""


@pytest.fixture(scope="module", autouse=True)
def _namespace(kube_cluster: KubeCluster) -> Iterator[None]:
    kube_cluster.apply(MANIFESTS)
    yield
    if kube_cluster.is_running():
        kube_cluster.kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false")


def isolate(
    cluster: KubeCluster, pod: str, *args: str, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(KPOSTURE),
            "respond",
            "isolate",
            pod,
            *args,
            "--cluster",
            "--kubeconfig",
            str(kubeconfig or cluster.kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def run_printed(cluster: KubeCluster, line: str) -> None:
    """Run a ``kubectl ...`` command as printed (shell quoting), against the test cluster."""
    words = shlex.split(line[line.index("kubectl ") :])
    cluster.kubectl(*words[1:])


def names(cluster: KubeCluster, selector: str) -> list[str]:
    listed = cluster.kubectl("get", "pods", "-n", NS, "-l", selector, "-o", "name").stdout
    return sorted(listed.split())


def test_the_printed_commands_isolate_one_pod_and_disarm_the_allow_policy(
    kube_cluster: KubeCluster,
) -> None:
    done = isolate(kube_cluster, "web-1")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == f"namespace {NS}: where the input has pod web-1 (no -n given)"
    warning = next(line for line in lines if "add up" in line)
    assert "1 other policy" in warning and "allow-web (ingress)" in warning
    assert "deny-in" not in done.stderr  # allows nothing
    label = next(line for line in lines if "kubectl label pod" in line)
    patches = [line for line in lines if "kubectl patch networkpolicy" in line]
    assert len(patches) == 1

    run_printed(kube_cluster, label)
    kube_cluster.kubectl("apply", "-f", "-", input=done.stdout)  # the YAML, comments and all
    run_printed(kube_cluster, patches[0])

    assert names(kube_cluster, "kposture.io/quarantine=web-1") == ["pod/web-1"]
    isolating = json.loads(
        kube_cluster.kubectl(
            "get", "networkpolicy", "kposture-isolate-web-1", "-n", NS, "-o", "json"
        ).stdout
    )
    assert isolating["spec"]["podSelector"] == {"matchLabels": {"kposture.io/quarantine": "web-1"}}
    assert isolating["spec"]["policyTypes"] == ["Ingress", "Egress"]
    allow = json.loads(
        kube_cluster.kubectl("get", "networkpolicy", "allow-web", "-n", NS, "-o", "json").stdout
    )
    selector = allow["spec"]["podSelector"]
    assert selector["matchExpressions"] == [
        {"key": "kposture.io/quarantine", "operator": "DoesNotExist"}
    ]
    assert names(kube_cluster, "app=web,!kposture.io/quarantine") == ["pod/web-2"]

    again = isolate(kube_cluster, "web-1")
    assert again.returncode == 0, again.stderr
    assert "add up" not in again.stderr  # allow-web no longer selects the quarantined pod


RESPONDER = f"system:serviceaccount:{NS}:responder"


def _responder_kubeconfig(cluster: KubeCluster, tmp_path: Path) -> Path:
    """A kubeconfig whose context ``responder`` may get and list pods, ReplicaSets, Deployments,
    NetworkPolicies and the Namespace in NS, and nothing else (no Secrets, no other namespace)."""
    cluster.kubectl("create", "serviceaccount", "responder", "-n", NS, check=False)
    cluster.kubectl(
        "create",
        "role",
        "responder",
        "-n",
        NS,
        "--verb=get,list",
        "--resource=pods,replicasets.apps,deployments.apps,networkpolicies.networking.k8s.io,"
        "namespaces",
        check=False,
    )
    cluster.kubectl(
        "create",
        "rolebinding",
        "responder",
        "-n",
        NS,
        "--role=responder",
        f"--serviceaccount={NS}:responder",
        check=False,
    )
    token = _sa_token(cluster, NS, "responder")
    kubeconfig = tmp_path / "responder.kubeconfig"
    shutil.copy(cluster.kubeconfig, kubeconfig)
    config = ["kubectl", f"--kubeconfig={kubeconfig}", "config"]
    subprocess.run([*config, "set-credentials", "responder", f"--token={token}"], check=True)
    subprocess.run(
        [*config, "set-context", "responder", "--cluster=kposture", "--user=responder"],
        check=True,
    )
    subprocess.run([*config, "use-context", "responder"], check=True)
    return kubeconfig


def _responder_reads(cluster: KubeCluster, after: int) -> set[tuple[str, str]]:
    """(verb, resource) of the responder's requests in the audit log past byte ``after``, once the
    log holds one (the log backend writes each event as its request completes)."""
    deadline = time.monotonic() + 30
    while True:
        with cluster.log("audit").open("rb") as log:
            log.seek(after)
            events = [json.loads(line) for line in log if line.strip()]
        reads = {
            (event["verb"], event.get("objectRef", {}).get("resource", ""))
            for event in events
            if event.get("user", {}).get("username") == RESPONDER
        }
        if reads or time.monotonic() > deadline:
            return reads
        time.sleep(0.5)


def test_a_responder_who_may_read_only_pods_and_policies_isolates_a_pod_without_warnings(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    kubeconfig = _responder_kubeconfig(kube_cluster, tmp_path)
    start = kube_cluster.log("audit").stat().st_size
    done = isolate(kube_cluster, "web-2", "-n", NS, kubeconfig=kubeconfig)
    assert done.returncode == 0, done.stderr
    assert "warning: cluster" not in done.stderr and "error:" not in done.stderr
    assert "kposture-isolate-web-2" in done.stdout
    assert _responder_reads(kube_cluster, start) == {("get", "pods"), ("list", "networkpolicies")}

    start = kube_cluster.log("audit").stat().st_size
    labels = isolate(kube_cluster, "web-2", "-n", NS, "--pod-labels", kubeconfig=kubeconfig)
    assert labels.returncode == 0, labels.stderr
    assert "warning: cluster" not in labels.stderr
    assert "also isolates 1 other pod with the same labels: web-1" in labels.stderr
    assert _responder_reads(kube_cluster, start) == {
        ("get", "pods"),
        ("list", "networkpolicies"),
        ("list", "pods"),
    }

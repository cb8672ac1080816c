"""``kposture respond isolate --cluster`` against the real kube-apiserver: the pod's namespace found
without ``-n``, the allow policy that would defeat the deny-all named, and every command it prints
(the quarantine label, the policy, the patch that makes the allow policy skip quarantined pods)
accepted by the API server with the selection it promises."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.cluster.harness import KubeCluster

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


def isolate(cluster: KubeCluster, pod: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(KPOSTURE),
            "respond",
            "isolate",
            pod,
            "--cluster",
            "--kubeconfig",
            str(cluster.kubeconfig),
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

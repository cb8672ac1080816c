"""A fixed Deployment keeps no findings in its rollout history, against the real kube-apiserver and
kube-controller-manager: the old ReplicaSet the Deployment scaled to zero is not judged by
``scan --cluster`` (nor saved by ``--save``), and ``kubectl rollout undo`` brings the problem back
on the Deployment itself."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster.harness import KubeCluster

pytestmark = pytest.mark.e2e

KPOSTURE = Path(sys.executable).parent / "kposture"
NAMESPACE = "rollout-history"
DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NAMESPACE}}}
spec:
  replicas: 1
  strategy: {{type: Recreate}}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        securityContext: {{privileged: true}}
"""
UNPRIVILEGED = json.dumps(
    [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/securityContext/privileged",
            "value": False,
        }
    ]
)


def _kposture(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(KPOSTURE), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def _replica_sets(cluster: KubeCluster) -> list[dict[str, Any]]:
    listed = cluster.kubectl("get", "replicasets", "-n", NAMESPACE, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(listed)["items"]
    return items


def _wait(what: str, ready: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _scaled_to_zero(replica_set: dict[str, Any]) -> bool:
    return replica_set["spec"].get("replicas") == 0 and not replica_set["status"].get("replicas")


def test_the_old_replicaset_of_a_fixed_deployment_reports_nothing(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    if not kube_cluster.controller_manager:
        pytest.skip("no kube-controller-manager: no ReplicaSets are created")
    kubeconfig = f"--kubeconfig={kube_cluster.kubeconfig}"
    db = f"--db=sqlite:///{tmp_path / 'kposture.db'}"
    scan = ("scan", "--cluster", kubeconfig, "-n", NAMESPACE, "-o", "json", "--fail-on=never")

    def privileged() -> set[tuple[str, str]]:
        return {
            (f["resource"]["kind"], f["resource"]["name"])
            for f in _kposture(*scan, "--save", db)["findings"]
            if f["rule_id"] == "privileged-container"
        }

    kube_cluster.apply(DEPLOYMENT)
    _wait("the first ReplicaSet", lambda: len(_replica_sets(kube_cluster)) == 1)
    assert privileged() == {("Deployment", "web")}

    kube_cluster.kubectl(
        "patch", "deployment", "web", "-n", NAMESPACE, "--type=json", "-p", UNPRIVILEGED
    )
    _wait(
        "the old ReplicaSet at zero",
        lambda: (
            sum(map(_scaled_to_zero, _replica_sets(kube_cluster))) == 1
            and len(_replica_sets(kube_cluster)) == 2
        ),
    )
    found = _kposture(*scan, "--save", db)["findings"]
    assert not [f for f in found if f["resource"]["kind"] == "ReplicaSet"]
    assert not [f for f in found if f["rule_id"] == "privileged-container"]
    stored = _kposture("findings", db, "-n", NAMESPACE, "--kind", "rs", "-o", "json")
    assert stored["findings"] == []
    changes = _kposture("history", db, "--rule", "privileged-container", "-o", "json")
    assert [t["change"] for t in changes["transitions"]] == ["resolved", "opened"]

    # Rolled back, the old template is the Deployment's again: judged there.
    kube_cluster.kubectl("rollout", "undo", "deployment/web", "-n", NAMESPACE)
    _wait("the rollback", lambda: privileged() == {("Deployment", "web")})

"""``kposture rbac who-can --cluster`` with a resource named without its group, against the real
API server: resolved through discovery to the one group serving it, as ``kubectl auth can-i``
does, and said so."""

from __future__ import annotations

import json
import subprocess

import pytest

from e2e.cluster.harness import KubeCluster
from e2e.cluster.test_watch import KPOSTURE

pytestmark = pytest.mark.e2e


def test_who_can_bind_clusterroles_asks_the_rbac_group(kube_cluster: KubeCluster) -> None:
    done = subprocess.run(
        [
            str(KPOSTURE),
            "rbac",
            "who-can",
            "bind",
            "clusterroles",
            "--name",
            "cluster-admin",
            "--cluster",
            f"--kubeconfig={kube_cluster.kubeconfig}",
            f"--context={kube_cluster.admin_context}",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["request"]["group"] == "rbac.authorization.k8s.io"
    assert "answered for clusterroles.rbac.authorization.k8s.io" in done.stderr
    assert "did you mean" not in done.stderr
    subjects = {(s["subject"]["kind"], s["subject"]["name"]) for s in doc["subjects"]}
    assert ("Group", "system:masters") in subjects

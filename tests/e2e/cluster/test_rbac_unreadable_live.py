"""``kposture rbac ... --cluster`` as an identity that may not list RBAC, against the real API
server: no "nothing found" headline but one ``Cannot answer: ...`` line, exit 2, and warnings only
about the kinds the view reads."""

from __future__ import annotations

import subprocess

import pytest

from e2e.cluster.harness import KubeCluster
from e2e.cluster.test_watch import KPOSTURE

pytestmark = pytest.mark.e2e

VIEWS = [
    ["who-can", "get", "secrets", "-n", "default"],
    ["can", "alice"],
    ["risky"],
    ["paths"],
    ["workloads"],
]


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v[0])
def test_an_identity_that_may_not_list_rbac_cannot_answer(
    kube_cluster: KubeCluster, view: list[str]
) -> None:
    done = subprocess.run(
        [
            str(KPOSTURE),
            "rbac",
            *view,
            "--cluster",
            f"--kubeconfig={kube_cluster.kubeconfig}",
            "--context=kposture-user",
        ],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    answer = [line for line in done.stdout.splitlines() if line.strip()]
    cannot = [line for line in answer if line.startswith("Cannot answer: ")]
    assert len(cannot) == 1, done.stdout
    for plural in ("roles", "clusterroles", "rolebindings", "clusterrolebindings"):
        assert plural in cannot[0]
    assert not any(line.startswith("No ") for line in answer), done.stdout
    assert "could not be listed" not in done.stderr
    for unread in ("webhook", "CustomResourceDefinition", "Nodes", "ConfigMaps"):
        assert unread not in done.stderr, done.stderr

"""Fixtures for end-to-end tests against a real Kubernetes API server (etcd + kube-apiserver 1.20.2).

``kube_cluster`` (session scope) yields a :class:`e2e.cluster.harness.KubeCluster`: see that module and
docs/testing.md. Tests that need the cluster live in this folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from e2e.cluster.harness import BUILD_SH, KubeCluster, binaries_missing


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """A running etcd + kube-apiserver 1.20.2 (+ kube-controller-manager) for the whole session."""
    want_kcm = os.environ.get("KPOSTURE_CLUSTER_CONTROLLER_MANAGER", "1") != "0"
    if missing := binaries_missing(want_kcm):
        if os.environ.get("KPOSTURE_BUILD_CLUSTER") not in {"1", "true", "yes"}:
            pytest.skip(
                f"test cluster not built ({missing}): run scripts/test-cluster/build.sh "
                "or set KPOSTURE_BUILD_CLUSTER=1"
            )
        subprocess.run(["bash", str(BUILD_SH)], check=True, stdin=subprocess.DEVNULL, timeout=3600)
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH")
    cluster = KubeCluster(tmp_path_factory.mktemp("kube-cluster") / "state", want_kcm)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()

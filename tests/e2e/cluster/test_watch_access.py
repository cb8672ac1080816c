"""``kposture watch`` with what it may read and how it is set up, against the real API server: an
identity that may list nothing exits 2 and creates no store; one that may list a few kinds warns
once per other kind, in ``scan --cluster``'s words, and watches the rest; ``-n`` keeps only the
Namespace objects asked for and warns about one that does not exist; the policy file's ``alerts:``
block configures the sinks; CHANGED BY names who made each change (``kubectl patch`` of a
template, a NetworkPolicy resolving a workload's isolation findings via itself).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from e2e.cluster.harness import KubeCluster
from e2e.cluster.test_watch import KPOSTURE, WatchProcess, _deployment, _history, _privileged

pytestmark = pytest.mark.e2e

NS = "kp-watch-access"
READER = "kp-watch-access-reader"


def test_an_identity_that_may_list_nothing_exits_2_and_creates_no_store(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    db = tmp_path / "never" / "store.db"
    done = subprocess.run(
        [
            str(KPOSTURE),
            "watch",
            f"--kubeconfig={kube_cluster.kubeconfig}",
            "--context=kposture-user",
            f"--db=sqlite:///{db}",
            "--metrics-port=0",
        ],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "nothing kposture judges can be listed" in done.stderr
    assert "were forbidden (403)" in done.stderr
    assert not db.parent.exists()


def _sa_token(cluster: KubeCluster, namespace: str, name: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        secret = cluster.kubectl(
            "get", "serviceaccount", name, "-n", namespace, "-o", "jsonpath={.secrets[0].name}"
        ).stdout.strip()
        if secret:
            data = cluster.kubectl(
                "get", "secret", secret, "-n", namespace, "-o", "jsonpath={.data.token}"
            ).stdout.strip()
            if data:
                return base64.b64decode(data).decode()
        time.sleep(0.5)
    raise AssertionError(f"no token Secret for {namespace}/{name}")


def _reader_kubeconfig(cluster: KubeCluster, tmp_path: Path) -> Path:
    """A kubeconfig whose context ``reader`` may list and watch Namespaces, Deployments,
    ReplicaSets, Pods and NetworkPolicies, and nothing else."""
    cluster.ensure_namespaces(NS)
    cluster.kubectl("create", "serviceaccount", "reader", "-n", NS, check=False)
    cluster.kubectl(
        "create",
        "clusterrole",
        READER,
        "--verb=list,watch",
        "--resource=namespaces,deployments.apps,replicasets.apps,pods,"
        "networkpolicies.networking.k8s.io",
    )
    cluster.kubectl(
        "create",
        "clusterrolebinding",
        READER,
        f"--clusterrole={READER}",
        f"--serviceaccount={NS}:reader",
    )
    token = _sa_token(cluster, NS, "reader")
    kubeconfig = tmp_path / "reader.kubeconfig"
    shutil.copy(cluster.kubeconfig, kubeconfig)
    config = ["kubectl", f"--kubeconfig={kubeconfig}", "config"]
    subprocess.run([*config, "set-credentials", "reader", f"--token={token}"], check=True)
    subprocess.run(
        [*config, "set-context", "reader", "--cluster=kposture", "--user=reader"], check=True
    )
    return kubeconfig


def test_what_the_identity_may_not_list_is_told_per_kind_and_the_rest_is_watched(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: kposture.io/v1\nkind: Policy\nalerts:\n  sinks:\n    - type: stdout\n"
    )
    try:
        kubeconfig = _reader_kubeconfig(kube_cluster, tmp_path)
        log = tmp_path / "watch.log"
        watch = WatchProcess(
            kube_cluster,
            tmp_path / "store.db",
            log,
            "--context=reader",
            f"--namespace={NS}",
            "--namespace=kp-no-such-namespace",
            f"--policy={policy}",
            kubeconfig=kubeconfig,
            alerts=(),  # the policy file's sink
        )
        try:
            watch.wait_started()
            text = log.read_text()
            assert (
                f"cannot list secrets in namespaces {NS}, kp-no-such-namespace: forbidden; "
                "rules about Secrets did not run on the cluster (tried again every 5 minutes)"
            ) in text
            assert (
                "cannot list clusterroles: forbidden; RBAC rules did not see ClusterRoles" in text
            )
            assert "cannot list deployments" not in text
            assert "namespace kp-no-such-namespace does not exist or cannot be read" in text
            assert watch.metric("kposture_watched_objects", 'kind="Namespace"') == 1
            # The policy file's stdout sink takes the alerts; CHANGED BY is who made each change.
            kube_cluster.apply(_deployment(NS, "web", True))
            watch.wait_alert(_privileged(NS, "web", "opened"))
            kube_cluster.kubectl(
                "patch",
                "deployment",
                "web",
                "-n",
                NS,
                "--type=json",
                "-p",
                json.dumps(
                    [
                        {
                            "op": "replace",
                            "path": "/spec/template/spec/containers/0/securityContext/privileged",
                            "value": False,
                        }
                    ]
                ),
            )
            _, fixed = watch.wait_alert(_privileged(NS, "web", "resolved"))
            assert (fixed["reason"], fixed["changed_by"]) == ("fixed", "kubectl-patch")
            kube_cluster.apply(
                json.dumps(
                    {
                        "apiVersion": "networking.k8s.io/v1",
                        "kind": "NetworkPolicy",
                        "metadata": {"name": "deny-all", "namespace": NS},
                        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
                    }
                )
            )
            _, isolated = watch.wait_alert(
                lambda a: (
                    a["rule_id"] == "workload-not-isolated"
                    and a["change"] == "resolved"
                    and (a.get("resource") or {}).get("name") == "web"
                )
            )
            assert isolated["changed_by"] == f"kposture-tests via NetworkPolicy/{NS}/deny-all"
        finally:
            assert watch.stop() == 0
        history = _history(tmp_path / "store.db", f"Deployment/{NS}/web")
        by = {(t["rule_id"], t["change"]): t["changed_by"] for t in history}
        assert by[("privileged-container", "resolved")] == "kubectl-patch"
        assert by[("workload-not-isolated", "resolved")] == (
            f"kposture-tests via NetworkPolicy/{NS}/deny-all"
        )
        assert not re.search(r"Traceback", log.read_text())
    finally:
        kube_cluster.kubectl("delete", "clusterrolebinding", READER, check=False)
        kube_cluster.kubectl("delete", "clusterrole", READER, check=False)
        kube_cluster.kubectl("delete", "namespace", NS, "--wait=false", check=False)

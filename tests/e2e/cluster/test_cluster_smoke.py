"""The test cluster itself works: the API answers, RBAC is on, manifests apply, it stops and restarts."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from e2e.cluster.harness import KubeCluster

pytestmark = pytest.mark.e2e

# The cluster is shared by the whole session (other tests compare a cluster scan with an offline scan of
# the goat manifests): what these tests create lives in this namespace or is deleted right away.
SMOKE_NS = "kposture-smoke"


@pytest.fixture(scope="module", autouse=True)
def _clean_up(kube_cluster: KubeCluster) -> Iterator[None]:
    yield
    if kube_cluster.is_running():
        kube_cluster.kubectl("delete", "namespace", SMOKE_NS, "--ignore-not-found", "--wait=false")


def get_json(cluster: KubeCluster, *args: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads(
        cluster.kubectl("get", *args, "-o", "json", "--show-managed-fields").stdout
    )
    return doc


def http_status(cluster: KubeCluster, path: str, token: str | None = None) -> int:
    request = urllib.request.Request(cluster.server + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cafile=str(cluster.ca_file))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        err.close()
        return err.code


def test_namespaces_are_listed(kube_cluster: KubeCluster) -> None:
    out = kube_cluster.kubectl("get", "ns", "-o", "name").stdout.split()
    assert {"namespace/default", "namespace/kube-system"} <= set(out)


def test_server_is_1_20_with_token_auth_and_rbac(kube_cluster: KubeCluster) -> None:
    assert kube_cluster.server == f"https://127.0.0.1:{kube_cluster.ports['apiserver_port']}"
    assert http_status(kube_cluster, "/version", kube_cluster.admin_token) == 200
    # --anonymous-auth=false: an unauthenticated request is rejected, not answered.
    assert http_status(kube_cluster, "/version") == 401
    args = kube_cluster.apiserver_args
    assert "--authorization-mode=Node,RBAC" in args
    assert "--anonymous-auth=false" in args
    assert any(a.startswith("--token-auth-file=") for a in args)
    version = json.loads(kube_cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.20.2"


def test_flags_are_recorded_as_a_static_pod_manifest(kube_cluster: KubeCluster) -> None:
    pod = yaml.safe_load(kube_cluster.static_pod_manifest().read_text())
    assert pod["metadata"]["labels"]["component"] == "kube-apiserver"
    assert pod["spec"]["containers"][0]["command"] == [
        "kube-apiserver",
        *kube_cluster.apiserver_args,
    ]
    cmdline = (kube_cluster.state_dir / "kube-apiserver.cmdline").read_text()
    assert "--secure-port=" in cmdline
    # The manifest is a valid Pod (the server accepts it; a test may apply it to kube-system to show the
    # flags as a control-plane pod would).
    manifest = kube_cluster.static_pod_manifest()
    kube_cluster.kubectl("create", "--dry-run=server", "-f", str(manifest))


def test_default_rbac_is_bootstrapped(kube_cluster: KubeCluster) -> None:
    role = get_json(kube_cluster, "clusterrole", "cluster-admin")
    assert role["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"  # type: ignore[index]
    names = kube_cluster.kubectl("get", "clusterroles", "-o", "name").stdout.split()
    assert {
        "clusterrole.rbac.authorization.k8s.io/view",
        "clusterrole.rbac.authorization.k8s.io/edit",
    } <= set(names)


def test_goat_deployments_apply(kube_cluster: KubeCluster, corpus: Path) -> None:
    manifests = sorted((corpus / "goat" / "scenarios").glob("*/deployment.yaml"))
    assert manifests
    kube_cluster.apply(*manifests)
    expected = set()
    for path in manifests:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Deployment":
                expected.add(doc["metadata"]["name"])
    listed = get_json(kube_cluster, "deployments", "-A")
    names = {item["metadata"]["name"] for item in listed["items"]}  # type: ignore[attr-defined]
    assert expected <= names
    # Server-side apply recorded our field manager.
    managers = {
        entry["manager"]
        for item in listed["items"]  # type: ignore[attr-defined]
        for entry in item["metadata"].get("managedFields", [])
    }
    assert "kposture-tests" in managers


def test_manifest_text_applies_client_side(kube_cluster: KubeCluster) -> None:
    kube_cluster.apply(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: smoke-text\n  namespace: {SMOKE_NS}\n"
        "data:\n  k: v\n",
        server_side=False,
    )
    cm = get_json(kube_cluster, "configmap", "smoke-text", "-n", SMOKE_NS)
    managers = {e["manager"] for e in cm["metadata"]["managedFields"]}  # type: ignore[index]
    assert "kubectl-client-side-apply" in managers


def test_low_privilege_user_is_forbidden_secrets(kube_cluster: KubeCluster) -> None:
    ctx = kube_cluster.user_context
    denied = kube_cluster.kubectl("get", "secrets", "-A", context=ctx, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    assert http_status(kube_cluster, "/api/v1/secrets", kube_cluster.user_token) == 403
    # Authenticated, though: discovery is allowed to every authenticated user.
    assert http_status(kube_cluster, "/api", kube_cluster.user_token) == 200
    whoami = kube_cluster.kubectl("auth", "can-i", "list", "secrets", context=ctx, check=False)
    assert whoami.stdout.strip() == "no"


def test_client_certificate_context(kube_cluster: KubeCluster) -> None:
    ctx = kube_cluster.admin_cert_context
    out = kube_cluster.kubectl("auth", "can-i", "list", "secrets", "-A", context=ctx).stdout
    assert out.strip() == "yes"


def test_controller_manager_runs_controllers(kube_cluster: KubeCluster) -> None:
    if not kube_cluster.controller_manager:
        pytest.skip("kube-controller-manager not started")
    kube_cluster.apply(
        "apiVersion: apps/v1\nkind: Deployment\n"
        f"metadata: {{name: kcm-smoke, namespace: {SMOKE_NS}}}\n"
        "spec:\n  replicas: 1\n  selector: {matchLabels: {app: kcm-smoke}}\n"
        "  template:\n    metadata: {labels: {app: kcm-smoke}}\n"
        "    spec: {containers: [{name: c, image: nginx:1.25}]}\n"
    )
    deadline = time.monotonic() + 60
    pods: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        pods = get_json(kube_cluster, "pods", "-n", SMOKE_NS, "-l", "app=kcm-smoke")["items"]  # type: ignore[assignment]
        if pods:
            break
        time.sleep(0.5)
    assert pods, "the Deployment got no Pod from the ReplicaSet controller"
    owner = pods[0]["metadata"]["ownerReferences"][0]  # type: ignore[index]
    assert owner["kind"] == "ReplicaSet"
    # The token controller gives the default ServiceAccount a long-lived token Secret (1.20 behaviour).
    secrets = get_json(kube_cluster, "secrets", "-n", SMOKE_NS)["items"]
    assert any(s["type"] == "kubernetes.io/service-account-token" for s in secrets)  # type: ignore[attr-defined,index]


def test_paused_server_times_out(kube_cluster: KubeCluster) -> None:
    with kube_cluster.paused():
        hung = kube_cluster.kubectl("get", "ns", "--request-timeout=1s", check=False)
        assert hung.returncode != 0
    kube_cluster.kubectl("get", "ns")


def test_stop_and_start_keeps_state(kube_cluster: KubeCluster) -> None:
    kube_cluster.apply(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: survives, namespace: {SMOKE_NS}}}\n"
    )
    server, token = kube_cluster.server, kube_cluster.admin_token
    with kube_cluster.stopped():
        assert not kube_cluster.is_running("kube-apiserver")
        assert not kube_cluster.is_running("etcd")
        down = kube_cluster.kubectl("get", "ns", "--request-timeout=5s", check=False)
        assert down.returncode != 0
    assert (kube_cluster.server, kube_cluster.admin_token) == (server, token)
    kube_cluster.kubectl("get", "configmap", "survives", "-n", SMOKE_NS)


def test_apiserver_alone_restarts(kube_cluster: KubeCluster) -> None:
    with kube_cluster.stopped("kube-apiserver", kill=True):  # a crash, not a shutdown
        assert kube_cluster.is_running("etcd")
        assert not kube_cluster.is_running("kube-apiserver")
        refused = kube_cluster.kubectl("get", "ns", "--request-timeout=5s", check=False)
        assert "refused" in refused.stderr
    kube_cluster.kubectl("get", "ns")

"""The manifests of ``kposture admission install`` against the real API server (1.20.2): every
document passes kubectl's schema validation and the server's own validation and admission in a
server-side dry run, so nothing is stored (a stored webhook configuration with failurePolicy Fail and
no running webhook would reject the other tests' requests).

1.20 serves PodDisruptionBudget only as policy/v1beta1: the manifests are rendered with
``--kubernetes-version 1.20``, as docs/admission.md tells users of such clusters to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from e2e.cluster.harness import KubeCluster
from kposture.cli.app import app

pytestmark = pytest.mark.e2e

NAMESPACE = "kposture-install-e2e"
SERVICE = "kposture-install-check"
"""Unique names: another test may register a real ``kposture-webhook``."""


@pytest.fixture(scope="module")
def namespace(kube_cluster: KubeCluster) -> Iterator[str]:
    kube_cluster.ensure_namespaces(NAMESPACE)
    yield NAMESPACE
    if kube_cluster.is_running():
        kube_cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")


def _render(tmp_path: Path, namespace: str, *extra: str) -> str:
    runner = CliRunner()
    certs = tmp_path / "certs"
    made = runner.invoke(
        app, ["admission", "certs", "--out", str(certs), "-n", namespace, "--service", SERVICE]
    )
    assert made.exit_code == 0, made.output
    result = runner.invoke(
        app,
        [
            *("admission", "install", "-n", namespace, "--service", SERVICE),
            *("--certs-dir", str(certs), "--image", "registry.example.com/kposture:0.1.0", *extra),
            *("--kubernetes-version", "1.20"),
        ],
    )
    assert result.exit_code == 0, result.output
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert any(doc["apiVersion"] == "policy/v1beta1" for doc in docs)
    return yaml.safe_dump_all(docs, sort_keys=False)


@pytest.mark.parametrize(
    "extra", [(), ("--include-secret", "--failure-policy", "Ignore", "--replicas", "3")]
)
def test_install_manifests_pass_server_validation(
    kube_cluster: KubeCluster, namespace: str, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    manifests = _render(tmp_path, namespace, *extra)
    proc = kube_cluster.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-f", "-", input=manifests
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    kinds = [doc["kind"] for doc in yaml.safe_load_all(manifests) if doc]
    assert len(lines) == len(kinds), proc.stdout + proc.stderr
    assert all("(server dry run)" in line for line in lines), proc.stdout
    webhook = f"validatingwebhookconfiguration.admissionregistration.k8s.io/{SERVICE}"
    assert webhook in proc.stdout
    assert (f"secret/{SERVICE}-tls" in proc.stdout) == ("--include-secret" in extra)
    stored = kube_cluster.kubectl("get", "validatingwebhookconfigurations", "-o", "name").stdout
    assert SERVICE not in stored

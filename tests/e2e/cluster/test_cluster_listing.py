"""What a live scan could not see is said, live and offline, against the real kube-apiserver: the
ClusterFacts ``listing`` block, the exit code and errors of a snapshot taken with a low-privilege
user, a requested namespace that does not exist, connection errors with their whole reason, and a
live scan combined with the server's own static pod manifest."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster.harness import KubeCluster
from e2e.cluster.test_cluster_scan import kposture, report

pytestmark = pytest.mark.e2e


def facts_of(snapshot: Path) -> dict[str, Any]:
    items = json.loads(snapshot.read_text())["items"]
    [facts] = [i for i in items if i["kind"] == "ClusterFacts"]
    return dict(facts)


def test_low_privilege_snapshot_exits_2_and_scans_offline_like_live(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    target = tmp_path / "user.json"
    config = str(kube_cluster.kubeconfig)
    user = ("--kubeconfig", config, "--context", kube_cluster.user_context)
    done = kposture("snapshot", "-o", str(target), *user)
    assert done.returncode == 2, done.stderr
    assert target.exists()
    assert "could not list" in done.stderr and "Secret" in done.stderr, done.stderr
    unlisted = facts_of(target)["listing"]["unlisted"]
    assert {"Secret", "DaemonSet", "Pod"} <= set(unlisted), unlisted
    assert facts_of(target)["listing"]["namespaces"] is None
    live = report(kposture("scan", "--cluster", *user, "-o", "json", "--fail-on", "never"))
    offline = report(kposture("scan", str(target), "-o", "json", "--fail-on", "never"))

    def listing_problems(document: dict[str, Any]) -> list[tuple[str, str]]:
        return sorted(
            (e["message"], e["level"])
            for e in document["errors"]
            if e["message"].startswith("cannot list")
        )

    assert listing_problems(live), live["errors"]
    assert listing_problems(offline) == listing_problems(live)


def test_namespace_limited_listing_and_a_missing_namespace(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    target = tmp_path / "ns.json"
    config = str(kube_cluster.kubeconfig)
    done = kposture(
        "snapshot", "-o", str(target), "--kubeconfig", config, "-n", "default", "-n", "nosuchns"
    )
    assert done.returncode == 0, done.stderr
    assert "warning: namespace nosuchns does not exist or cannot be read" in done.stderr
    assert facts_of(target)["listing"] == {"namespaces": ["default", "nosuchns"], "unlisted": []}
    full = tmp_path / "full.json"
    assert kposture("snapshot", "-o", str(full), "--kubeconfig", config).returncode == 0
    assert facts_of(full)["listing"] == {"namespaces": None, "unlisted": []}


def test_live_scan_with_the_servers_static_pod_manifest(kube_cluster: KubeCluster) -> None:
    manifest = kube_cluster.static_pod_manifest()
    live = report(
        kposture(
            "scan",
            "--cluster",
            str(manifest),
            "--kubeconfig",
            str(kube_cluster.kubeconfig),
            "-o",
            "json",
            "--fail-on",
            "never",
        )
    )
    assert live["inputs"] == [f"cluster:{kube_cluster.admin_context}", str(manifest)]
    on_file = {f["rule_id"] for f in live["findings"] if f["location"]["file"] == str(manifest)}
    # The server runs with the default --profiling and a static token file (docs/testing.md).
    assert {"api-server-profiling", "api-server-static-token-file"} <= on_file, on_file


def test_tls_and_name_errors_are_whole_and_name_the_server(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=other",
            "-days",
            "1",
            "-keyout",
            f"{other}.key",
            "-out",
            f"{other}.crt",
        ],
        check=True,
        capture_output=True,
    )
    text = kube_cluster.kubeconfig.read_text()
    ca = base64.b64encode(Path(f"{other}.crt").read_bytes()).decode()
    lines = [
        f"    certificate-authority-data: {ca}" if "certificate-authority-data:" in line else line
        for line in text.splitlines()
    ]
    wrong_ca = tmp_path / "wrong-ca"
    wrong_ca.write_text("\n".join(lines) + "\n")
    done = kposture("scan", "--cluster", "--kubeconfig", str(wrong_ca), timeout=60)
    assert done.returncode == 2
    message = done.stderr.strip()
    assert message.startswith(f"error: cannot reach the API server {kube_cluster.server}: "), (
        message
    )
    assert "CERTIFICATE_VERIFY_FAILED" in message and message.endswith(")"), message
    unknown = tmp_path / "unknown-host"
    unknown.write_text(text.replace(kube_cluster.server, "https://nosuchhost.invalid:6443"))
    done = kposture("scan", "--cluster", "--kubeconfig", str(unknown), timeout=60)
    message = done.stderr.strip()
    assert message.startswith(
        "error: cannot reach the API server https://nosuchhost.invalid:6443: "
    )
    assert "nosuchhost.invalid" in message.split(": ", 2)[2] and message.endswith(")"), message

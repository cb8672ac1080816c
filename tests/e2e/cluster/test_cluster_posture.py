"""Cluster-scope results for the test server itself: the ``ClusterFacts`` the live source observes
(anonymous access probe, API endpoint, server version) and the control-plane rules judged from the
flags the fixture really started kube-apiserver with.

Every expectation is derived from ``kube_cluster.apiserver_args`` (the server's exact command line)
with a small flag reader of this module's own, not from kposture's parser, so the tests follow the
fixture if its flags change. The anonymous status is also checked against a raw unauthenticated
request made here with urllib.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.cluster.harness import K8S_VERSION, KubeCluster

pytestmark = pytest.mark.e2e

KPOSTURE = Path(sys.executable).parent / "kposture"
LIMIT = 300
FACTS = ("ClusterFacts", "", "cluster")
STATIC_POD = "kube-apiserver-kposture-e2e"
NOT_OBSERVABLE = {"coverage": "not-observable"}


# --- helpers --------------------------------------------------------------------------------------


def kposture(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KPOSTURE), *args],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def flags_of(args: Sequence[str]) -> dict[str, str]:
    """``--name=value`` / ``--name value`` / bare ``--name`` (true); the last occurrence wins."""
    out: dict[str, str] = {}
    for index, arg in enumerate(args):
        if not arg.startswith("--"):
            continue
        name, sep, value = arg[2:].partition("=")
        if not sep:
            following = args[index + 1] if index + 1 < len(args) else "--"
            value = "true" if following.startswith("--") else following
        out[name] = value
    return out


def is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1", "t", "yes")


def listed(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def unauthenticated_status(cluster: KubeCluster, path: str) -> int:
    """The status of a GET without any credential, made here independently of kposture."""
    context = ssl.create_default_context(cafile=str(cluster.ca_file))
    try:
        with urllib.request.urlopen(cluster.server + path, timeout=10, context=context) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        err.close()
        return err.code


def rule_hits(
    document: dict[str, Any], key: tuple[str, str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Active findings on one resource (kind, namespace, name), by rule id."""
    out: dict[str, list[dict[str, Any]]] = {}
    for finding in document["findings"]:
        resource = finding["resource"]
        if (resource["kind"], resource["namespace"], resource["name"]) == key and not finding[
            "suppressed"
        ]:
            out.setdefault(finding["rule_id"], []).append(finding)
    return out


def expected_apiserver_findings(args: Sequence[str]) -> dict[str, bool]:
    """Whether each kube-apiserver rule must fire on a static pod running with ``args``, per the
    documented catalogue (docs/cluster-posture.md) and Kubernetes' defaults for absent flags."""
    flags = flags_of(args)
    modes = listed(flags.get("authorization-mode"))
    enabled = listed(flags.get("enable-admission-plugins")) + listed(flags.get("admission-control"))
    disabled = listed(flags.get("disable-admission-plugins"))
    anonymous = flags.get("anonymous-auth", "true")  # kube-apiserver's default
    profiling = flags.get("profiling", "true")
    authorization_unsafe = "authorization-config" not in flags and (
        not modes or "AlwaysAllow" in modes or "RBAC" not in modes or "Node" not in modes
    )
    audit_off = "audit-policy-file" not in flags or (
        "audit-log-path" not in flags and "audit-webhook-config-file" not in flags
    )
    admission_weak = (
        "NodeRestriction" not in enabled
        or "NodeRestriction" in disabled
        or "AlwaysAdmit" in enabled
        or bool({"ServiceAccount", "NamespaceLifecycle"} & set(disabled))
    )
    return {
        "api-server-anonymous-auth": is_true(anonymous),
        "api-server-static-token-file": flags.get("token-auth-file", "") not in ("", "true"),
        "api-server-authorization-unsafe": authorization_unsafe,
        "api-server-no-oidc": not ({"oidc-issuer-url", "authentication-config"} & set(flags)),
        "audit-logging-disabled": audit_off,
        "api-server-profiling": is_true(profiling),
        "admission-plugins-weak": admission_weak,
        "secrets-not-encrypted-at-rest": "encryption-provider-config" not in flags,
    }


def expected_probe(args: Sequence[str]) -> dict[str, int]:
    """What an unauthenticated GET gets from this server: 401 when anonymous authentication is
    off; when on, /version is public (system:public-info-viewer) and /api is discovery, which 1.14+
    grants only to authenticated users (403)."""
    if not is_true(flags_of(args).get("anonymous-auth", "true")):
        return {"version": 401, "api": 401}
    return {"version": 200, "api": 403}


def static_pod_manifest(cluster: KubeCluster, target: Path) -> Path:
    """A kubeadm-style static pod whose command is the fixture's real kube-apiserver command."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": STATIC_POD,
            "namespace": "kube-system",
            "labels": {"component": "kube-apiserver", "tier": "control-plane"},
        },
        "spec": {
            "hostNetwork": True,
            "priorityClassName": "system-node-critical",
            "containers": [
                {
                    "name": "kube-apiserver",
                    "image": f"k8s.gcr.io/kube-apiserver:v{K8S_VERSION}",
                    "command": ["kube-apiserver", *cluster.apiserver_args],
                }
            ],
        },
    }
    target.write_text(yaml.safe_dump(pod, sort_keys=False))
    return target


@pytest.fixture(scope="module")
def snapshot(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("posture") / "snapshot.json"
    done = kposture("snapshot", "-o", str(target), "--kubeconfig", str(kube_cluster.kubeconfig))
    assert done.returncode == 0, done.stderr
    return target


def facts_in(snapshot: Path) -> dict[str, Any]:
    items = json.loads(snapshot.read_text())["items"]
    [facts] = [item for item in items if item["kind"] == "ClusterFacts"]
    assert isinstance(facts, dict)
    return facts


# --- (a) ClusterFacts from the live server --------------------------------------------------------


def test_cluster_facts_describe_this_server(kube_cluster: KubeCluster, snapshot: Path) -> None:
    facts = facts_in(snapshot)
    assert facts["apiVersion"] == "kposture.io/v1"
    assert facts["metadata"] == {"name": "cluster"}
    assert facts["context"] == kube_cluster.admin_context
    assert facts["serverVersion"].startswith(f"v{K8S_VERSION}")
    probe = expected_probe(kube_cluster.apiserver_args)
    assert facts["anonymousAccess"] == probe
    # The same answers a raw request without credentials gets.
    assert probe == {
        "version": unauthenticated_status(kube_cluster, "/version"),
        "api": unauthenticated_status(kube_cluster, "/api"),
    }
    assert facts["endpoint"] == {"host": "127.0.0.1", "address": "127.0.0.1", "public": False}
    nodes = kube_cluster.kubectl("get", "nodes", "-o", "name").stdout.split()
    if not nodes:  # no kubelet runs here: nothing to read through the node proxy
        assert "kubelets" not in facts


def test_snapshot_facts_hold_no_credentials(kube_cluster: KubeCluster, snapshot: Path) -> None:
    text = json.dumps(facts_in(snapshot))
    for secret in (kube_cluster.admin_token, kube_cluster.user_token):
        assert secret not in text
    assert "BEGIN" not in text  # no certificate or key material


def test_cluster_scan_judges_the_facts(kube_cluster: KubeCluster) -> None:
    live = report(
        kposture("scan", "--cluster", "--kubeconfig", str(kube_cluster.kubeconfig), "-o", "json")
    )
    on_facts = rule_hits(live, FACTS)
    # 127.0.0.1 is loopback: not public, so no endpoint finding anywhere in the scan.
    assert not any(f["rule_id"] == "api-server-public-endpoint" for f in live["findings"])
    # The probe decides anonymous access on the anchor: never "not observable" here.
    anonymous = on_facts.get("api-server-anonymous-auth", [])
    expected = {
        ("anonymousAccess." + key, "high" if code == 200 else "medium")
        for key, code in expected_probe(kube_cluster.apiserver_args).items()
        if code in (200, 403)
    }
    assert {(f["location"]["path"], f["severity"]) for f in anonymous} == expected, anonymous
    assert all(f["evidence"] != NOT_OBSERVABLE for f in anonymous)
    # No kube-apiserver Pod is listed (the server runs outside the cluster, like a managed control
    # plane): rules that need its flags say "not observable" at info, never pass silently.
    for rule_id in (
        "api-server-static-token-file",
        "api-server-profiling",
        "audit-logging-disabled",
    ):
        [finding] = on_facts[rule_id]
        assert finding["severity"] == "info" and finding["evidence"] == NOT_OBSERVABLE, finding
    for finding in live["findings"]:
        assert finding["location"]["file"] == f"cluster:{kube_cluster.admin_context}"


@pytest.mark.parametrize("which", ["user_context", "admin_cert_context"])
def test_probe_carries_no_credentials_of_the_context(
    kube_cluster: KubeCluster, tmp_path: Path, which: str
) -> None:
    """Whatever the context authenticates with (the low-privilege token, or an admin client
    certificate), the probe sends none of it: it gets what a bare request gets. The probe needs no
    permission either (the user may not list Secrets or use nodes/proxy)."""
    context = getattr(kube_cluster, which)
    target = tmp_path / "snapshot.json"
    done = kposture(
        "snapshot",
        "-o",
        str(target),
        "--kubeconfig",
        str(kube_cluster.kubeconfig),
        "--context",
        context,
    )
    assert "Traceback" not in done.stderr, done.stderr
    facts = facts_in(target)
    assert facts["context"] == context
    assert facts["serverVersion"].startswith(f"v{K8S_VERSION}")  # the authenticated request
    assert facts["anonymousAccess"] == expected_probe(kube_cluster.apiserver_args)
    assert facts["endpoint"]["public"] is False


# --- (b) the control-plane rules on this server's own flags ---------------------------------------


def test_static_pod_with_the_real_flags(
    kube_cluster: KubeCluster, snapshot: Path, tmp_path: Path
) -> None:
    args = kube_cluster.apiserver_args
    flags = flags_of(args)
    # The fixture is documented to run token authentication with Node,RBAC (docs/testing.md); the
    # expectations below are derived from the args either way, this only keeps them non-trivial.
    assert "token-auth-file" in flags and listed(flags["authorization-mode"]) == ["Node", "RBAC"]
    manifest = static_pod_manifest(kube_cluster, tmp_path / "kube-apiserver.yaml")
    scanned = report(kposture("scan", str(snapshot), str(manifest), "-o", "json"))
    on_pod = rule_hits(scanned, ("Pod", "kube-system", STATIC_POD))
    expected = expected_apiserver_findings(args)
    got = {rule_id: rule_id in on_pod for rule_id in expected}
    assert got == expected, {rule: on_pod.get(rule) for rule in expected}

    # A flag that is set is pointed at: command[0] is the binary, so args[i] is command[i + 1].
    for rule_id, flag in (
        ("api-server-static-token-file", "token-auth-file"),
        ("api-server-anonymous-auth", "anonymous-auth"),
        ("api-server-profiling", "profiling"),
    ):
        if not expected[rule_id] or flag not in flags:
            continue
        index = max(i for i, a in enumerate(args) if a.startswith(f"--{flag}"))
        [finding] = on_pod[rule_id]
        assert finding["location"]["file"].endswith("kube-apiserver.yaml")
        assert finding["location"]["path"].endswith(f"command[{index + 1}]"), finding

    # With the apiserver visible, the anchor no longer reports its rules as not observable; the
    # anonymous probe recorded in the snapshot still decides that rule on the anchor.
    on_facts = rule_hits(scanned, FACTS)
    for rule_id in expected:
        assert all(f["evidence"] != NOT_OBSERVABLE for f in on_facts.get(rule_id, [])), rule_id
    probe = expected_probe(args)
    assert ("api-server-anonymous-auth" in on_facts) == any(
        code in (200, 403) for code in probe.values()
    )

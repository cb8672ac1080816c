"""kube-apiserver, etcd and kubelet rules: flag defaults, exact paths, ClusterFacts, "not
observable" on managed clusters, and silence on plain manifest folders (the shared corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kposture.model import NOT_OBSERVABLE, Severity
from support import load_objects, objects_from_text, violations

FIXTURES = Path(__file__).resolve().parents[2] / "rules" / "fixtures"
API_RULES = (
    "api-server-anonymous-auth",
    "api-server-static-token-file",
    "api-server-authorization-unsafe",
    "api-server-no-oidc",
    "audit-logging-disabled",
    "api-server-profiling",
    "admission-plugins-weak",
    "secrets-not-encrypted-at-rest",
)
CLUSTER_RULES = (
    *API_RULES,
    "api-server-public-endpoint",
    "etcd-client-auth-disabled",
    "kubelet-anonymous-auth",
    "kubelet-authorization-always-allow",
    "kubelet-read-only-port",
    "policy-engine-absent",
    "logging-agent-absent",
    "runtime-detection-absent",
    "gitops-operator-absent",
    "external-secret-store-absent",
    "manual-change",
)
BARE = """
apiVersion: v1
kind: Pod
metadata: {name: kube-apiserver-cp, namespace: kube-system}
spec:
  containers:
  - name: kube-apiserver
    image: registry.k8s.io/kube-apiserver:v1.30.2
    command: [kube-apiserver, --etcd-servers=https://127.0.0.1:2379]
"""


def test_absent_flags_take_the_unsafe_kubernetes_defaults() -> None:
    objs = objects_from_text(BARE)
    for rule_id in API_RULES:
        if rule_id == "api-server-static-token-file":
            continue  # no token file is the default and the safe setting
        found = violations(rule_id, objs)
        assert found, rule_id
        assert found[0].path == ("spec", "containers", 0, "command"), rule_id
    assert (
        "defaults to AlwaysAllow" in violations("api-server-authorization-unsafe", objs)[0].message
    )


def test_findings_point_at_the_flag_element() -> None:
    objs = load_objects([FIXTURES / "api-server-profiling" / "fail-kubeadm-static-pod.yaml"])
    (found,) = violations("api-server-profiling", objs)
    assert found.path == ("spec", "containers", 0, "command", 6)
    authz = violations("api-server-authorization-unsafe", objs)
    assert {v.path[-1] for v in authz} == {3}
    assert {v.evidence for v in authz} >= {(("mode", "AlwaysAllow"),), (("missing", "RBAC"),)}


def _with(flag: str) -> str:
    return BARE.replace("--etcd-servers=https://127.0.0.1:2379", flag)


def test_missing_node_authorizer_alone_is_high() -> None:
    text = _with("--authorization-mode=RBAC")
    (found,) = violations("api-server-authorization-unsafe", objects_from_text(text))
    assert found.severity is Severity.HIGH and "Node" in found.message


def test_audit_policy_without_a_destination_fails() -> None:
    objs = objects_from_text(_with("--audit-policy-file=/etc/k/audit.yaml"))
    (found,) = violations("audit-logging-disabled", objs)
    assert "go nowhere" in found.message and found.path == ("spec", "containers", 0, "command", 1)


def test_managed_cluster_is_not_observable_never_a_pass() -> None:
    objs = load_objects(
        [FIXTURES / "api-server-anonymous-auth" / "fail-managed-not-observable.yaml"]
    )
    for rule_id in (*API_RULES, "etcd-client-auth-disabled", "kubelet-read-only-port"):
        (found,) = violations(rule_id, objs)
        assert found.severity is Severity.INFO and NOT_OBSERVABLE in found.evidence, rule_id
        assert found.message.startswith("not observable")


def test_probe_decides_anonymous_auth_on_managed_clusters() -> None:
    refused = load_objects([FIXTURES / "api-server-anonymous-auth" / "pass-probe-refused.yaml"])
    assert violations("api-server-anonymous-auth", refused) == []
    answered = load_objects([FIXTURES / "api-server-anonymous-auth" / "fail-probe-answered.yaml"])
    found = violations("api-server-anonymous-auth", answered)
    assert [v.path for v in found] == [("anonymousAccess", "version"), ("anonymousAccess", "api")]
    assert found[1].severity is Severity.MEDIUM  # 403: anonymous authenticated but denied
    # With facts but no probe results, the rule is "not observable".
    facts = objects_from_text(
        "apiVersion: kposture.io/v1\nkind: ClusterFacts\nmetadata: {name: cluster}\n"
    )
    (unseen,) = violations("api-server-anonymous-auth", facts)
    assert NOT_OBSERVABLE in unseen.evidence


def test_embedded_encryption_configuration_points_at_its_configmap_key() -> None:
    path = FIXTURES / "secrets-not-encrypted-at-rest" / "fail-configmap-identity.yaml"
    (found,) = violations("secrets-not-encrypted-at-rest", load_objects([path]))
    assert found.path == ("data", "encryption.yaml") and "identity" in found.message


def test_kubelet_fields_paths() -> None:
    path = FIXTURES / "kubelet-read-only-port" / "fail-insecure-config.yaml"
    (found,) = violations("kubelet-read-only-port", load_objects([path]))
    assert found.path == ("readOnlyPort",)
    (anonymous,) = violations("kubelet-anonymous-auth", load_objects([path]))
    assert anonymous.path == ("authentication", "anonymous", "enabled")


def test_kubelet_config_from_cluster_facts() -> None:
    objs = objects_from_text(
        """
apiVersion: kposture.io/v1
kind: ClusterFacts
metadata: {name: cluster}
kubelets:
- node: worker-1
  config: {authorization: {mode: AlwaysAllow}, readOnlyPort: 0}
"""
    )
    (found,) = violations("kubelet-authorization-always-allow", objs)
    assert found.path == ("kubelets", 0, "config", "authorization", "mode")
    assert "worker-1" in found.message
    assert violations("kubelet-read-only-port", objs) == []


@pytest.mark.parametrize("rule_id", CLUSTER_RULES)
def test_plain_manifest_folders_get_no_cluster_scope_findings(corpus: Path, rule_id: str) -> None:
    """The goat scenarios and the bootstrap RBAC dump are manifest folders, not clusters: no
    control-plane, tooling or drift result at all (the kind cluster config is not a cluster)."""
    for folder in ("goat", "rbac"):
        assert violations(rule_id, load_objects([corpus / folder])) == [], (rule_id, folder)


@pytest.mark.parametrize(
    "listing",
    ["{namespaces: [default]}", "{namespaces: null, unlisted: [Pod]}"],
)
def test_static_pods_hidden_by_the_listing_are_not_observable(listing: str) -> None:
    objs = objects_from_text(
        "apiVersion: kposture.io/v1\nkind: ClusterFacts\nmetadata: {name: cluster}\n"
        f"listing: {listing}\n"
    )
    for rule_id in (
        "api-server-authorization-unsafe",
        "audit-logging-disabled",
        "etcd-client-auth-disabled",
    ):
        (found,) = violations(rule_id, objs)
        assert found.severity is Severity.INFO and NOT_OBSERVABLE in found.evidence, rule_id
        assert "kube-system" in found.message and "managed" not in found.message, rule_id
        assert dict(found.evidence)["listing"], rule_id


def test_a_listing_that_shows_kube_system_keeps_the_static_pod_verdicts() -> None:
    objs = objects_from_text(
        "apiVersion: kposture.io/v1\nkind: ClusterFacts\nmetadata: {name: cluster}\n"
        "listing: {namespaces: [default, kube-system]}\n---\n" + BARE
    )
    found = violations("api-server-authorization-unsafe", objs)
    assert found and all(NOT_OBSERVABLE not in v.evidence for v in found)

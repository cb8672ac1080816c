"""The audit policy the detections are written for (examples/audit-policy.yaml), judged with the API
server's own rule matching (first matching rule wins): every write a detection judges by its body
is logged with it, every event a detection reads is logged, the policy stays cheap (reads, Secrets
and the rest at Metadata, noisy traffic not at all), and the docs and the test clusters use the
same file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO_ROOT
from kposture.detections import builtin_detections

POLICY_FILE = REPO_ROOT / "examples" / "audit-policy.yaml"
LEVELS = ("None", "Metadata", "Request", "RequestResponse")
GROUPS = {
    "configmaps": "",
    "services": "",
    "pods": "",
    "secrets": "",
    "serviceaccounts": "",
    "replicationcontrollers": "",
    "podtemplates": "",
    "nodes": "",
    "namespaces": "",
    "events": "",
    "deployments": "apps",
    "replicasets": "apps",
    "statefulsets": "apps",
    "daemonsets": "apps",
    "jobs": "batch",
    "cronjobs": "batch",
    "roles": "rbac.authorization.k8s.io",
    "clusterroles": "rbac.authorization.k8s.io",
    "rolebindings": "rbac.authorization.k8s.io",
    "clusterrolebindings": "rbac.authorization.k8s.io",
    "certificatesigningrequests": "certificates.k8s.io",
    "ingresses": "networking.k8s.io",
    "validatingwebhookconfigurations": "admissionregistration.k8s.io",
    "leases": "coordination.k8s.io",
}


def _policy() -> list[dict[str, Any]]:
    document = yaml.safe_load(POLICY_FILE.read_text())
    assert document["apiVersion"] == "audit.k8s.io/v1" and document["kind"] == "Policy"
    assert document["omitStages"] == ["RequestReceived"]
    rules: list[dict[str, Any]] = document["rules"]
    return rules


def _resource_matches(rule: dict[str, Any], group: str, resource: str, sub: str) -> bool:
    """kube-apiserver's ruleMatchesResource (no namespaces or resourceNames in this policy)."""
    if not rule.get("resources"):
        return True
    combined = f"{resource}/{sub}" if sub else resource
    for entry in rule["resources"]:
        if entry.get("group", "") != group:
            continue
        names = entry.get("resources") or []
        if not names:
            return True
        for name in names:
            if name in (combined, "*"):
                return True
            if sub and name.startswith("*/") and name[2:] == sub:
                return True
            if name.endswith("/*") and name[:-2] == resource:
                return True
    return False


def _url_matches(patterns: list[str], url: str) -> bool:
    """kube-apiserver's ruleMatchesNonResource: exact, or a prefix before a final ``*``."""
    return bool(url) and any(
        url == pattern or (pattern.endswith("*") and url.startswith(pattern[:-1]))
        for pattern in patterns
    )


def level(verb: str, resource: str, sub: str = "", *, url: str = "") -> str:
    """The level the policy gives a request: a resource request, or a non-resource ``url``."""
    for rule in _policy():
        assert not rule.get("users") and not rule.get("userGroups") and not rule.get("namespaces")
        if rule.get("verbs") and verb not in rule["verbs"]:
            continue
        if rule.get("resources"):
            if url or not _resource_matches(rule, GROUPS[resource], resource, sub):
                continue
        elif rule.get("nonResourceURLs") and not _url_matches(rule["nonResourceURLs"], url):
            continue
        found: str = rule["level"]
        return found
    return "None"


def at_least(found: str, wanted: str) -> bool:
    return LEVELS.index(found) >= LEVELS.index(wanted)


def test_every_write_a_detection_judges_by_its_body_is_logged_with_it() -> None:
    checked = 0
    for detection in builtin_detections():
        need = detection.needs_body
        if need is None:
            continue
        for resource in sorted(need.resources):
            for verb in sorted(need.verbs):
                found = level(verb, resource)
                assert at_least(found, need.level), (detection.id, verb, resource, found)
                checked += 1
    assert checked >= 40
    assert level("create", "configmaps") == "Request"
    assert level("patch", "configmaps") == "Request"


@pytest.mark.parametrize(
    ("verb", "resource", "sub", "wanted"),
    [
        ("update", "certificatesigningrequests", "approval", "Request"),
        ("create", "certificatesigningrequests", "", "Request"),
        ("patch", "deployments", "scale", "Request"),
        ("update", "statefulsets", "scale", "Request"),
        ("patch", "pods", "ephemeralcontainers", "Request"),
        ("create", "pods", "exec", "Metadata"),
        ("get", "pods", "attach", "Metadata"),
        ("create", "pods", "portforward", "Metadata"),
        ("get", "nodes", "proxy", "Metadata"),
        ("create", "serviceaccounts", "token", "Metadata"),
        ("delete", "clusterrolebindings", "", "Metadata"),
        ("delete", "validatingwebhookconfigurations", "", "Metadata"),
        ("delete", "daemonsets", "", "Metadata"),
        ("delete", "namespaces", "", "Metadata"),
        ("create", "secrets", "", "Metadata"),
        ("delete", "secrets", "", "Metadata"),
    ],
)
def test_events_detections_read_without_a_body_are_logged(
    verb: str, resource: str, sub: str, wanted: str
) -> None:
    assert at_least(level(verb, resource, sub), wanted)


def test_the_policy_stays_cheap_and_never_logs_secret_values() -> None:
    for resource in GROUPS:
        for verb in ("get", "list"):
            assert level(verb, resource) in ("None", "Metadata"), (verb, resource)
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
        assert level(verb, "secrets") == "Metadata", verb
    assert level("create", "serviceaccounts", "token") == "Metadata"
    assert level("watch", "pods") == level("watch", "configmaps") == "None"
    assert level("update", "leases") == level("create", "events") == "None"
    assert level("update", "pods", "status") == "Metadata"
    assert level("update", "deployments", "status") == "Metadata"
    for url in ("/healthz", "/readyz/etcd", "/livez", "/version", "/openapi/v2", "/apis/apps"):
        assert level("get", "", url=url) == "None", url
    assert level("get", "", url="/metrics") == "Metadata"


def test_docs_and_test_clusters_use_the_same_policy() -> None:
    text = POLICY_FILE.read_text()
    body = text[text.index("apiVersion:") :]
    docs = (REPO_ROOT / "docs" / "detections.md").read_text()
    assert f"```yaml\n{body}```" in docs, "copy examples/audit-policy.yaml into docs/detections.md"
    for user in (
        Path("tests/e2e/cluster/test_audit_webhook.py"),
        Path("scripts/test-cluster/cluster.sh"),
    ):
        assert "examples/audit-policy.yaml" in (REPO_ROOT / user).read_text(), user


def test_docs_name_the_audit_level_each_detection_needs() -> None:
    docs = (REPO_ROOT / "docs" / "detections.md").read_text()
    section = docs[docs.index("### What each detection needs") :]
    for detection in builtin_detections():
        need = detection.needs_body
        if need is not None:
            row = next(line for line in section.splitlines() if f"`{detection.id}`" in line)
            assert f"| {need.level} |" in row, row

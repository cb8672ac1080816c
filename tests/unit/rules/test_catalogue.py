"""The rule library against the catalogue: every catalogued id exists with its severity and stage,
ids are unique kebab-case, metadata is complete.

``CATALOGUE`` restates the catalogue's manifest-level and cluster-scope rows (ids are public names:
users' exceptions and dashboards depend on them). Where the catalogue file itself is available
(``RULES.md`` beside the shared corpus), the restatement is checked against it too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kposture.engine.registry import RULE_ID_PATTERN, metadata_problems
from kposture.model import Severity, Stage
from kposture.rules import builtin_rules

CATALOGUE: dict[str, tuple[str, str]] = {
    # Workload privileges
    "privileged-container": ("critical", "crawl"),
    "privilege-escalation-allowed": ("high", "crawl"),
    "runs-as-root": ("high", "crawl"),
    "host-pid": ("critical", "crawl"),
    "host-ipc": ("high", "crawl"),
    "host-network": ("high", "crawl"),
    "host-ports": ("medium", "crawl"),
    "host-path-volume": ("high", "crawl"),
    "sensitive-host-path": ("critical", "crawl"),
    "container-runtime-socket": ("critical", "crawl"),
    "added-capabilities": ("medium", "walk"),
    "dangerous-capabilities": ("critical", "crawl"),
    "capabilities-not-dropped": ("medium", "walk"),
    "seccomp-unconfined": ("high", "crawl"),
    "seccomp-profile-missing": ("medium", "walk"),
    "apparmor-unconfined": ("high", "crawl"),
    "selinux-custom-options": ("medium", "walk"),
    "proc-mount-unmasked": ("high", "crawl"),
    "unsafe-sysctls": ("high", "crawl"),
    "writable-root-filesystem": ("low", "walk"),
    "restricted-volume-types": ("medium", "run"),
    "windows-host-process": ("critical", "crawl"),
    "resource-limits-missing": ("low", "walk"),
    # Service accounts and namespaces
    "default-service-account": ("medium", "crawl"),
    "service-account-token-automount": ("medium", "walk"),
    "default-service-account-bound": ("high", "crawl"),
    "long-lived-token-secret": ("medium", "walk"),
    "default-namespace": ("low", "crawl"),
    # RBAC
    "cluster-admin-binding": ("high", "crawl"),
    "system-masters-group": ("critical", "crawl"),
    "wildcard-rbac": ("medium", "crawl"),
    "rbac-secrets-read": ("high", "crawl"),
    "rbac-pod-exec": ("high", "crawl"),
    "rbac-workload-create": ("medium", "walk"),
    "rbac-escalate-bind-impersonate": ("critical", "crawl"),
    "rbac-nodes-proxy": ("high", "walk"),
    "rbac-csr-approve": ("high", "walk"),
    "rbac-webhook-modify": ("high", "walk"),
    "rbac-token-create": ("high", "walk"),
    "rbac-pv-create": ("medium", "walk"),
    "anonymous-access-binding": ("critical", "crawl"),
    # Secrets (manifest-level)
    "secret-in-env": ("high", "crawl"),
    "secret-in-configmap": ("high", "crawl"),
    "secret-env-reference": ("low", "walk"),
    # Images and supply chain
    "untrusted-registry": ("high", "run"),
    "image-tag-mutable": ("medium", "crawl"),
    "image-not-pinned": ("low", "walk"),
    # East-west traffic
    "namespace-without-network-policy": ("medium", "crawl"),
    "workload-not-isolated": ("medium", "walk"),
    "mesh-mtls-not-strict": ("medium", "run"),
    "service-exposed": ("info", "crawl"),
    # Secrets (cluster scope)
    "secrets-not-encrypted-at-rest": ("high", "walk"),
    "external-secret-store-absent": ("info", "run"),
    # Control plane, authentication, logging, monitoring, admission, GitOps (cluster scope)
    "api-server-public-endpoint": ("high", "crawl"),
    "api-server-anonymous-auth": ("high", "crawl"),
    "api-server-static-token-file": ("high", "crawl"),
    "api-server-authorization-unsafe": ("critical", "crawl"),
    "api-server-no-oidc": ("info", "walk"),
    "audit-logging-disabled": ("high", "crawl"),
    "api-server-profiling": ("low", "walk"),
    "admission-plugins-weak": ("medium", "walk"),
    "kubelet-anonymous-auth": ("high", "crawl"),
    "kubelet-authorization-always-allow": ("high", "crawl"),
    "kubelet-read-only-port": ("high", "crawl"),
    "policy-engine-absent": ("medium", "crawl"),
    "logging-agent-absent": ("medium", "walk"),
    "runtime-detection-absent": ("medium", "walk"),
    "gitops-operator-absent": ("info", "walk"),
    "manual-change": ("medium", "run"),
}
MANIFEST_SECTIONS = (
    "Workload privileges",
    "Service accounts and namespaces",
    "RBAC",
    "Secrets",
    "Images and supply chain",
    "East-west traffic",
)
CLUSTER_SECTIONS = ("Control plane, authentication",)
"""Sections whose table has no scope column; a row may list several ids joined by `` / ``."""
RULES = {rule.meta.id: rule.meta for rule in builtin_rules()}


@pytest.mark.parametrize("rule_id", sorted(CATALOGUE))
def test_catalogue_rule_is_registered_with_its_defaults(rule_id: str) -> None:
    assert rule_id in RULES, f"catalogue rule {rule_id} is missing"
    severity, stage = CATALOGUE[rule_id]
    assert RULES[rule_id].severity is Severity(severity)
    assert RULES[rule_id].stage is Stage(stage)


def test_ids_are_unique_kebab_case_and_metadata_complete() -> None:
    ids = [rule.meta.id for rule in builtin_rules()]
    assert len(ids) == len(set(ids))
    for meta in RULES.values():
        assert RULE_ID_PATTERN.match(meta.id), meta.id
        assert metadata_problems(meta) == [], meta.id
        assert meta.remediation.rstrip().endswith("."), meta.id
        assert meta.references or meta.domain.value == "gitops", f"{meta.id} has no references"
        assert meta.fix_snippet.strip(), f"{meta.id} has no fix snippet"


def _catalogue_file() -> Path | None:
    from conftest import corpus_root

    candidate = corpus_root().parent / "RULES.md"
    return candidate if candidate.is_file() else None


def test_restated_catalogue_matches_the_catalogue_file() -> None:
    path = _catalogue_file()
    if path is None:
        pytest.skip("RULES.md not found beside the corpus (set KPOSTURE_CORPUS)")
    rows: dict[str, tuple[str, str]] = {}
    section = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:]
        elif line.startswith("| ") and any(section.startswith(s) for s in MANIFEST_SECTIONS):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rule_id = cells[0]
            if re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)+", rule_id):
                rows[rule_id] = (cells[2], cells[3])
        elif line.startswith("| ") and any(section.startswith(s) for s in CLUSTER_SECTIONS):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            for rule_id in cells[0].split(" / "):
                if re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)+", rule_id):
                    rows[rule_id] = (cells[1], cells[2])
    assert rows == CATALOGUE

"""Hand-built scan results for the renderer tests.

The sample covers every severity, a suppression by annotation and one by policy, an input error
and a warning, a finding without a location (stdin), a file path with a space, and table-breaking
characters in messages. Its active findings: 2 critical, 2 high, 1 medium, 0 low, 0 info;
2 suppressed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kposture.model import (
    Domain,
    Finding,
    Framework,
    InputError,
    Location,
    Reference,
    ResourceRef,
    RuleMeta,
    ScanResult,
    Severity,
    Stage,
    Suppression,
)
from kposture.reports import ReportContext, json_report

DATA = Path(__file__).parent / "data"

WEB = ResourceRef("apps/v1", "Deployment", "default", "web")
API = ResourceRef("apps/v1", "Deployment", "default", "api")
AGENT = ResourceRef("v1", "Pod", "kube-system", "agent")
DB = ResourceRef("apps/v1", "StatefulSet", "default", "db")
OPS = ResourceRef("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "ops|admins")

CIS = Reference(Framework.CIS, "5.2.2", "Minimize the admission of privileged containers")


def meta(rule_id: str, severity: Severity, domain: Domain = Domain.WORKLOAD_PRIVILEGES) -> RuleMeta:
    return RuleMeta(
        id=rule_id,
        title=f"Title of {rule_id}",
        severity=severity,
        domain=domain,
        stage=Stage.CRAWL,
        kinds=("Deployment", "Pod"),
        remediation=f"Fix {rule_id}.",
        description=f"Why {rule_id} matters.",
        references=(CIS, Reference(Framework.MITRE, "T1611")),
        fix_snippet="securityContext:\n  privileged: false\n",
    )


RULES: dict[str, RuleMeta] = {
    m.id: m
    for m in (
        meta("privileged-container", Severity.CRITICAL),
        meta("host-network", Severity.HIGH),
        meta("run-as-root", Severity.MEDIUM),
        meta("missing-limits", Severity.LOW),
        meta("latest-tag", Severity.INFO, Domain.SUPPLY_CHAIN),
        meta("secret-in-env", Severity.HIGH, Domain.SECRETS),
        meta("cluster-admin-binding", Severity.CRITICAL, Domain.RBAC),
        meta("read-only-root-fs", Severity.LOW),
    )
}


def finding(
    rule_id: str,
    resource: ResourceRef,
    location: Location | None,
    *,
    message: str = "",
    severity: Severity | None = None,
    suppressed_by: Suppression | None = None,
    evidence: tuple[tuple[str, str], ...] = (),
    fingerprint: str = "",
) -> Finding:
    rule = RULES.get(rule_id) or meta(rule_id, severity or Severity.MEDIUM)
    return Finding(
        rule_id=rule_id,
        title=rule.title,
        severity=severity or rule.severity,
        domain=rule.domain,
        stage=rule.stage,
        message=message or f"{rule_id} on {resource.name}",
        resource=resource,
        location=location,
        references=rule.references,
        remediation=rule.remediation,
        fingerprint=fingerprint or f"fp-{rule_id}-{resource.name}",
        evidence=evidence,
        suppressed_by=suppressed_by,
    )


SPACE_FILE = "manifests/my app/pod.yaml"


def sample_findings() -> tuple[Finding, ...]:
    return (
        finding(
            "privileged-container",
            WEB,
            Location("deploy/web.yaml", 27, 11, "spec.template.spec.containers[0].securityContext"),
            message="Container web runs privileged",
            evidence=(("container", "web"),),
        ),
        finding("host-network", WEB, Location("deploy/web.yaml", 12, 7, "spec.hostNetwork")),
        finding("run-as-root", AGENT, Location(SPACE_FILE, 5, 3, "spec.securityContext")),
        finding(
            "missing-limits",
            WEB,
            Location("deploy/web.yaml", 30, 11, "spec.template.spec.containers[0].resources"),
            suppressed_by=Suppression("annotation", "sized by VPA"),
        ),
        finding(
            "latest-tag",
            DB,
            Location("deploy/db.yaml", 8, 16, "spec.template.spec.containers[0].image"),
            suppressed_by=Suppression("policy", "vendor image", "2027-01-01"),
        ),
        finding(
            "secret-in-env",
            API,
            None,
            message="Env var | DB_PASSWORD\nholds a credential",
            evidence=(("key", "DB_PASSWORD"),),
        ),
        finding(
            "cluster-admin-binding",
            OPS,
            Location("rbac.yaml", 3, 1, "roleRef.name"),
            message="Binds <b>cluster-admin</b> to group `ops`",
        ),
    )


def sample_result() -> ScanResult:
    return ScanResult(
        findings=sample_findings(),
        errors=(
            InputError("broken.yaml", 3, "mapping values are not allowed here"),
            InputError("charts/app", 0, "Helm chart skipped: no renderer", "warning"),
        ),
        inputs=("deploy", "-"),
        scanned_at="2026-11-26T15:00:00Z",
        objects_scanned=12,
        rules_run=len(RULES),
    )


@pytest.fixture
def result() -> ScanResult:
    return sample_result()


@pytest.fixture
def ctx() -> ReportContext:
    return ReportContext(tool_version="0.1.0", rules=RULES)


@pytest.fixture
def make_finding() -> Callable[..., Finding]:
    return finding


@pytest.fixture(scope="session")
def sarif_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8")
    )
    return loaded


@pytest.fixture(scope="session")
def scan_schema() -> dict[str, Any]:
    return json_report.scan_schema()

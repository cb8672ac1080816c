"""Findings for store and CLI tests: built directly, with the engine's fingerprint shape, at fixed
times."""

from __future__ import annotations

import datetime as dt
import hashlib

from kposture.model import Domain, Finding, Location, ResourceRef, Severity, Stage
from kposture.model.findings import Suppression

T0 = dt.datetime(2026, 11, 20, 8, 0, 0, tzinfo=dt.UTC)


def ref(kind: str = "Deployment", namespace: str = "shop", name: str = "web") -> ResourceRef:
    api_version = "v1" if kind in {"Pod", "Secret", "ServiceAccount", "Namespace"} else "apps/v1"
    if kind in {"ClusterRole", "ClusterRoleBinding", "RoleBinding", "Role"}:
        api_version = "rbac.authorization.k8s.io/v1"
    return ResourceRef(api_version, kind, namespace, name)


def finding(
    rule_id: str = "privileged-container",
    resource: ResourceRef | None = None,
    *,
    path: str = "spec.template.spec.containers[0].securityContext.privileged",
    severity: Severity = Severity.CRITICAL,
    message: str = "container 'app' runs privileged",
    suppressed: str = "",
) -> Finding:
    target = resource or ref()
    parts = [rule_id, target.group, target.kind, target.namespace, target.name, path]
    return Finding(
        rule_id=rule_id,
        title=rule_id.replace("-", " "),
        severity=severity,
        domain=Domain.WORKLOAD_PRIVILEGES,
        stage=Stage.CRAWL,
        message=message,
        resource=target,
        location=Location(f"cluster:{'dev'}", 0, 0, path),
        references=(),
        remediation="Do not.",
        fingerprint=hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20],
        suppressed_by=Suppression("annotation", suppressed) if suppressed else None,
    )


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)

"""Renderers for audit-log detection alerts: the alert document (the scan finding shape with
``detection_id`` and an ``event`` block instead of ``location``), ECS-style JSON lines for SIEMs, and
the table people read. Pure: values in, text or a Rich table out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich.table import Table

from kposture.model import Severity
from kposture.model.incidents import DetectionMeta, IncidentAlert

ALERT_SCHEMA = "kposture.detection/v1"
ECS_VERSION = "8.11.0"
ECS_SEVERITY = {
    Severity.INFO: 1,
    Severity.LOW: 21,
    Severity.MEDIUM: 47,
    Severity.HIGH: 73,
    Severity.CRITICAL: 99,
}
"""``event.severity`` numbers as Elastic's detection rules use them."""
_ECS_CATEGORY = {
    "credential-access": "iam",
    "privilege-escalation": "iam",
    "initial-access": "authentication",
    "execution": "process",
    "discovery": "iam",
}
"""``event.category`` by the detection's tactic."""
_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def alert_resource(alert: IncidentAlert) -> dict[str, str]:
    ref = alert.event.ref
    return {
        "apiGroup": ref.api_group,
        "apiVersion": ref.api_version,
        "resource": ref.resource,
        "subresource": ref.subresource,
        "namespace": ref.namespace,
        "name": ref.name,
    }


def alert_document(alert: IncidentAlert) -> dict[str, Any]:
    """One alert as the finding-shaped document (schema ``kposture.detection/v1``; the alert
    sinks send their own ``kposture.alert/v1``)."""
    meta = alert.meta
    return {
        "schema": ALERT_SCHEMA,
        "detection_id": meta.id,
        "title": meta.title,
        "severity": alert.severity.value,
        "message": alert.message,
        "resource": alert_resource(alert),
        "event": alert.event_context(),
        "references": [
            {
                "framework": meta.technique.framework.value,
                "id": meta.technique.id,
                "title": meta.technique.title,
            }
        ],
        "tactic": meta.tactic,
        "remediation": meta.response,
        "containment": alert.containment,
        "evidence": dict(alert.hit.evidence),
        "fingerprint": alert.fingerprint,
    }


def _drop_empty(value: Any) -> Any:
    if isinstance(value, Mapping):
        cleaned = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, "", [], {})}
    return value


def ecs_document(alert: IncidentAlert) -> dict[str, Any]:
    """One alert with Elastic Common Schema field names (``@timestamp``, ``event.*``, ``user.*``,
    ``source.ip``, ``user_agent.original``, ``rule.*``, ``threat.*``), the Kubernetes request under
    ``kubernetes.audit`` and the kposture alert document under ``kposture``."""
    event = alert.event
    meta = alert.meta
    ref = event.ref
    impersonated = event.impersonated_user
    document = {
        "@timestamp": alert.event_context().get("time", ""),
        "ecs": {"version": ECS_VERSION},
        "message": alert.message,
        "event": {
            "kind": "alert",
            "category": [_ECS_CATEGORY.get(meta.tactic, "configuration")],
            "type": ["info"],
            "action": event.verb,
            "outcome": "success" if event.allowed else "failure",
            "id": event.audit_id,
            "severity": ECS_SEVERITY[alert.severity],
            "dataset": "kubernetes.audit",
            "module": "kposture",
            "provider": event.origin.envelope,
            "reason": alert.message,
        },
        "rule": {
            "id": meta.id,
            "name": meta.title,
            "description": meta.description,
            "category": meta.tactic,
            "ruleset": "kposture",
        },
        "threat": {
            "framework": "MITRE ATT&CK",
            "technique": {"id": [meta.technique.id], "name": [meta.technique.title]},
            "tactic": {"name": [meta.tactic]},
        },
        "user": {
            "name": event.user.username,
            "roles": list(event.user.groups),
            "target": {"name": impersonated.username} if impersonated is not None else {},
        },
        "source": {"ip": event.source_ip},
        "user_agent": {"original": event.user_agent},
        "url": {"original": event.request_uri},
        "http": {"response": {"status_code": event.response_code}},
        "kubernetes": {
            "namespace": ref.namespace,
            "audit": {
                "auditID": event.audit_id,
                "stage": event.stage,
                "verb": event.verb,
                "level": event.level,
                "sourceIPs": list(event.source_ips),
                "objectRef": {
                    "resource": ref.resource,
                    "subresource": ref.subresource,
                    "namespace": ref.namespace,
                    "name": ref.name,
                    "apiGroup": ref.api_group,
                    "apiVersion": ref.api_version,
                },
                "annotations": {
                    "authorization.k8s.io/decision": event.decision,
                    "authorization.k8s.io/reason": event.reason,
                },
            },
        },
        "kposture": alert_document(alert),
    }
    cleaned: dict[str, Any] = _drop_empty(document)
    cleaned["kposture"] = alert_document(alert)
    return cleaned


def render_alert_lines(alerts: Iterable[IncidentAlert]) -> str:
    """ECS JSON lines, one alert per line."""
    return "".join(json.dumps(ecs_document(alert), sort_keys=False) + "\n" for alert in alerts)


def alert_table(alerts: Iterable[IncidentAlert]) -> Table:
    """Alerts for people: time, severity, detection, who, what and the containment step."""
    table = Table(show_lines=True, expand=True)
    table.add_column("time", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("detection")
    table.add_column("who / from")
    table.add_column("alert and containment", ratio=3)
    for alert in alerts:
        context = alert.event_context()
        who = context.get("user", "?")
        if context.get("source_ip"):
            who += f"\n{context['source_ip']}"
        table.add_row(
            context.get("time", ""),
            f"[{_SEVERITY_STYLE[alert.severity]}]{alert.severity.value}[/]",
            alert.detection_id,
            who,
            f"{alert.message}\n[dim]→ {alert.containment}[/]",
        )
    return table


def detection_catalogue(metas: Iterable[DetectionMeta]) -> str:
    """The Markdown table of detections kept in docs/detections.md (a test checks it is current)."""
    rows = [
        "| id | title | severity | MITRE ATT&CK | tactic | response |",
        "|---|---|---|---|---|---|",
    ]
    for meta in metas:
        technique = f"{meta.technique.id} {meta.technique.title}"
        state = " (stateful)" if meta.stateful else ""
        rows.append(
            f"| `{meta.id}` | {meta.title}{state} | {meta.severity.value} | {technique} | "
            f"{meta.tactic} | {meta.response} |"
        )
    return "\n".join(rows) + "\n"

"""The fields a detection adds to the alert document, from the incident it came from: the detection
(``rule.name``, ``rule.description``, ``threat.*`` with the ATT&CK tactic's id, name and page and
each technique's page), the audit event under Elastic Common Schema names (``user.*``, the groups
as ``user.group.name``, the impersonated user and groups, whom the request acted as, as
``user.effective.name`` and ``user.effective.group.name``, ``url.original``,
``http.response.status_code``, ``event.outcome``) and under ``kubernetes.audit`` in the audit log's
own names (``objectRef.resource`` is the plural resource, ``secrets``; ``requestURI``,
``responseStatus.code``, ``requestReceivedTimestamp``; never a request or response body), and
under ``kposture`` what the scan's finding shape has for it (references, remediation, containment,
evidence, fingerprint). Pure; empty values are left out of the ECS blocks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from kposture.model.incidents import IncidentAlert

TACTIC_CATEGORIES = {
    "credential-access": "iam",
    "privilege-escalation": "iam",
    "initial-access": "authentication",
    "execution": "process",
    "discovery": "iam",
}
"""The ECS ``event.category`` a detection's tactic adds to ``intrusion_detection``."""

ATTACK_TACTICS = {
    "reconnaissance": ("TA0043", "Reconnaissance"),
    "resource-development": ("TA0042", "Resource Development"),
    "initial-access": ("TA0001", "Initial Access"),
    "execution": ("TA0002", "Execution"),
    "persistence": ("TA0003", "Persistence"),
    "privilege-escalation": ("TA0004", "Privilege Escalation"),
    "defense-evasion": ("TA0005", "Defense Evasion"),
    "credential-access": ("TA0006", "Credential Access"),
    "discovery": ("TA0007", "Discovery"),
    "lateral-movement": ("TA0008", "Lateral Movement"),
    "collection": ("TA0009", "Collection"),
    "command-and-control": ("TA0011", "Command and Control"),
    "exfiltration": ("TA0010", "Exfiltration"),
    "impact": ("TA0040", "Impact"),
}
"""MITRE ATT&CK Enterprise tactics by the short name detections use: their id and name (ECS
``threat.tactic.id`` and ``threat.tactic.name``)."""
ATTACK_SITE = "https://attack.mitre.org"


def technique_url(technique: str) -> str:
    """``T1552.007`` → ``https://attack.mitre.org/techniques/T1552/007/``."""
    return f"{ATTACK_SITE}/techniques/{technique.replace('.', '/')}/"


def _tactic(short_name: str) -> dict[str, list[str]]:
    """ECS ``threat.tactic``; a tactic outside the table (a custom detection's) keeps its name."""
    known = ATTACK_TACTICS.get(short_name)
    if known is None:
        return {"name": [short_name]}
    tactic_id, name = known
    return {
        "id": [tactic_id],
        "name": [name],
        "reference": [f"{ATTACK_SITE}/tactics/{tactic_id}/"],
    }


def detection_fields(incident: IncidentAlert) -> dict[str, Any]:
    """The detection's part of the alert document, to merge into the shared fields."""
    event = incident.event
    meta = incident.meta
    ref = event.ref
    impersonated = event.impersonated_user
    ecs = {
        "event": {
            "category": [TACTIC_CATEGORIES.get(meta.tactic, "")],
            "outcome": "success" if event.allowed else "failure",
        },
        "rule": {"name": meta.title, "description": meta.description, "category": meta.tactic},
        "threat": {
            "framework": "MITRE ATT&CK",
            "technique": {
                "id": [ref.id for ref in meta.references],
                "name": [ref.title for ref in meta.references],
                "reference": [technique_url(ref.id) for ref in meta.references],
            },
            "tactic": _tactic(meta.tactic),
        },
        "user": {
            "group": {"name": list(event.user.groups)},
            "effective": {
                "name": impersonated.username if impersonated is not None else "",
                "group": {"name": list(impersonated.groups) if impersonated is not None else []},
            },
        },
        "url": {"original": event.request_uri},
        "kubernetes": {
            "audit": {
                "auditID": event.audit_id,
                "stage": event.stage,
                "level": event.level,
                "verb": event.verb,
                "requestURI": event.request_uri,
                "sourceIPs": list(event.source_ips),
                "objectRef": ref.as_audit_json(),
                "responseStatus": {"code": event.response_code},
                "requestReceivedTimestamp": _received(event.received_at),
                "annotations": {
                    "authorization.k8s.io/decision": event.decision,
                    "authorization.k8s.io/reason": event.reason,
                },
            }
        },
    }
    fields: dict[str, Any] = _drop_empty(ecs)
    fields["kposture"] = {
        "title": meta.title,
        "tactic": meta.tactic,
        "references": [
            {"framework": ref.framework.value, "id": ref.id, "title": ref.title}
            for ref in meta.references
        ],
        "remediation": meta.response,
        "containment": incident.containment,
        "evidence": dict(incident.hit.evidence),
        "fingerprint": incident.fingerprint,
        "envelope": event.origin.envelope,
    }
    return fields


def _received(at: dt.datetime | None) -> str:
    """``requestReceivedTimestamp`` as the audit log writes it: RFC 3339, microseconds, UTC."""
    if at is None:
        return ""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _drop_empty(value: Any) -> Any:
    if isinstance(value, Mapping):
        cleaned = {key: _drop_empty(item) for key, item in value.items()}
        return {key: item for key, item in cleaned.items() if item not in ("", [], {}, None)}
    if isinstance(value, list):
        return [item for item in value if item not in ("", None)]
    return value

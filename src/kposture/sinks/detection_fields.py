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

DETECTION_CATEGORIES: dict[str, tuple[str, ...]] = {
    # a process started in a container, or files copied through one
    "pod-exec": ("process",),
    "kubectl-cp": ("process", "file"),
    "ephemeral-container-added": ("process",),
    # a node or a network path opened
    "node-proxy-access": ("host", "network"),
    "pod-portforward": ("network",),
    "nodeport-service-created": ("network", "configuration"),
    "ingress-without-tls": ("network", "configuration"),
    # workloads and objects written: settings of the cluster (a pod with its node's rights: host)
    "privileged-pod-created": ("host", "configuration"),
    "cronjob-created": ("configuration",),
    "daemonset-created": ("configuration",),
    "pod-in-system-namespace": ("configuration",),
    "system-namespace-object-changed": ("configuration",),
    "system-namespace-foreign-image": ("configuration",),
    "system-namespace-secret-changed": ("configuration",),
    "configmap-credentials-written": ("configuration",),
    "admission-webhook-changed": ("configuration",),
    "security-tool-tampered": ("configuration",),
    # identities and their rights: roles, bindings, ServiceAccounts and their credentials
    "cluster-admin-granted": ("iam",),
    "sensitive-role-created": ("iam",),
    "system-role-modified": ("iam",),
    "serviceaccount-in-system-namespace": ("iam",),
    "sa-token-created": ("iam",),
    "client-certificate-created": ("iam", "authentication"),
    "impersonation-used": ("iam",),
    # who authenticated, and from where
    "anonymous-request-allowed": ("authentication",),
    "system-identity-from-public-ip": ("authentication", "network"),
    "first-seen-source": ("authentication", "network"),
    # Secret reads and denied requests: intrusion_detection alone (no ECS category is about
    # reading stored credentials or being refused, and they change no identity)
    "secret-enumeration": (),
    "secret-access-denied": (),
    "secret-read-cross-namespace": (),
    "secret-read-by-person": (),
    "forbidden-burst": (),
}
"""The ECS ``event.category`` values each built-in detection adds to ``intrusion_detection``, by
what it is about (not its ATT&CK tactic: a privileged pod escalates privileges but touches a host,
not an identity). ``iam`` is for the detections of identities and their rights only. A custom
detection adds none."""

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
            "category": ["intrusion_detection", *DETECTION_CATEGORIES.get(meta.id, ())],
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

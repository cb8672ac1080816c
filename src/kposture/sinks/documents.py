"""The alert document: one JSON object per alert, the contract for SIEMs and webhook receivers.

Schema ``kposture.alert/v1`` (documented in docs/alerts.md). Field names follow the Elastic Common
Schema where one exists (``@timestamp``, ``event.*``, ``rule.*``, ``orchestrator.*``, ``user.name``,
``source.ip``, ``user_agent.original``); what ECS has no name for lives under ``kposture``, in the
shapes of the scan report (``resource`` is the scan's ``resource``). Keys are stable: an absent value
is an empty string or ``null``, never a missing key, except the detection-only fields (``user``,
``source``, ``user_agent``, ``kposture.event``), present only when the alert carries an event.
Adding a field is compatible; renaming or removing one makes ``kposture.alert/v2``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from kposture.model.lifecycle import Alert
from kposture.model.resources import ResourceRef
from kposture.model.rules import Severity

ALERT_SCHEMA = "kposture.alert/v1"
ECS_VERSION = "8.11.0"

SEVERITY_SCORES = {
    Severity.INFO: 0,
    Severity.LOW: 21,
    Severity.MEDIUM: 47,
    Severity.HIGH: 73,
    Severity.CRITICAL: 99,
}
"""``event.severity``: the numeric scale SIEM detection rules use for low/medium/high/critical."""

_EVENT_TYPES = {
    "opened": "creation",
    "reopened": "creation",
    "resolved": "deletion",
    "suppressed": "change",
    "unsuppressed": "change",
}


def timestamp(at: dt.datetime) -> str:
    """RFC 3339 in UTC with milliseconds and a ``Z``; a naive time is taken as UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def resource_document(ref: ResourceRef | None) -> dict[str, str] | None:
    if ref is None:
        return None
    return {
        "apiVersion": ref.api_version,
        "kind": ref.kind,
        "namespace": ref.namespace,
        "name": ref.name,
    }


def alert_document(alert: Alert) -> dict[str, Any]:
    """The ``kposture.alert/v1`` object for ``alert``."""
    ref = alert.resource
    event = dict(alert.event) if alert.event is not None else None
    is_detection = alert.source == "detection"
    action = (event or {}).get("verb", "") if is_detection else alert.change
    document: dict[str, Any] = {
        "@timestamp": timestamp(alert.at),
        "schema": ALERT_SCHEMA,
        "ecs": {"version": ECS_VERSION},
        "message": alert.message,
        "event": {
            "kind": "alert",
            "category": ["intrusion_detection"] if is_detection else ["configuration"],
            "type": ["info"] if is_detection else [_EVENT_TYPES.get(alert.change, "info")],
            "action": action or alert.source,
            "dataset": f"kposture.{alert.source}" if alert.source else "kposture",
            "provider": "kposture",
            "severity": SEVERITY_SCORES[alert.severity],
        },
        "rule": {"id": alert.rule_id, "ruleset": f"kposture-{alert.source or 'alert'}s"},
        "orchestrator": {
            "type": "kubernetes",
            "cluster": {"name": alert.cluster},
            "namespace": ref.namespace if ref else "",
            "api_version": ref.api_version if ref else "",
            "resource": {"type": ref.kind if ref else "", "name": ref.name if ref else ""},
        },
        "kposture": {
            "source": alert.source,
            "rule_id": alert.rule_id,
            "severity": alert.severity.value,
            "change": alert.change,
            "cluster": alert.cluster,
            "resource": resource_document(ref),
            "dedup_key": alert.dedup_key,
        },
    }
    if event is not None:
        document["kposture"]["event"] = event
        if event.get("user"):
            document["user"] = {"name": event["user"]}
        if event.get("source_ip"):
            document["source"] = {"ip": event["source_ip"]}
        if event.get("user_agent"):
            document["user_agent"] = {"original": event["user_agent"]}
        if event.get("audit_id"):
            document["event"]["id"] = event["audit_id"]
    return document


def alert_json(alert: Alert) -> bytes:
    """The document as compact UTF-8 JSON (no newline inside: safe as one JSON line)."""
    return json.dumps(
        alert_document(alert), ensure_ascii=False, separators=(",", ":"), sort_keys=False
    ).encode()

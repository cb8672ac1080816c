"""The alert document: one JSON object per alert, the contract for SIEMs and webhook receivers, and
what ``kposture detect -o json`` prints: every path that renders an alert as JSON calls
``alert_document``.

Schema ``kposture.alert/v4`` (documented in docs/alerts.md). Field names follow the Elastic Common
Schema where one exists (``@timestamp``, ``event.*``, ``rule.*``, ``orchestrator.*``, ``user.*``,
``source.ip``, ``user_agent.original``, ``http.response.status_code``, ``threat.*``); what ECS has no
name for lives under ``kposture``, in the shapes of the scan report (``resource`` is the scan's
``resource``: its ``kind`` is the Kind, never the plural resource). Keys are stable: an absent value
is an empty string or ``null``, never a missing key, except ``orchestrator.cluster`` (present when
the cluster is known) and the detection-only fields, present only
when the alert carries an audit event (``user``, ``source``, ``user_agent``, ``http``, ``kposture.event``)
or its incident (``threat``, ``url``, ``kubernetes.audit``, and ``kposture``'s detection fields), and
left out of the ECS blocks when the event has no value for them; a finding's transition adds its
``kposture`` fields (fingerprint, path, reason, changed_by, suppressed_by) always and
``event.reason`` when it has a reason (``finding_fields``). Adding a field is compatible;
renaming or removing one, or changing its type, makes the next version.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from kposture.model.incidents import DetectionAlert, typed_event
from kposture.model.lifecycle import Alert, FindingAlert
from kposture.model.resources import ResourceRef
from kposture.model.rules import Severity
from kposture.sinks.detection_fields import detection_fields
from kposture.sinks.finding_fields import finding_fields

ALERT_SCHEMA = "kposture.alert/v4"
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
    """The ``kposture.alert/v4`` object for ``alert``: a finding's transition (with the transition's
    reason and author when it is a ``FindingAlert``) or a detection's alert (with its incident's
    fields when it is a ``DetectionAlert``)."""
    ref = alert.resource
    is_detection = alert.source == "detection"
    event = typed_event(alert.event) if alert.event is not None else None
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
    if alert.cluster:
        document["orchestrator"]["cluster"] = {"name": alert.cluster}
    if event is not None:
        _add_event(document, event)
    if isinstance(alert, DetectionAlert):
        _merge(document, detection_fields(alert.incident))
    elif isinstance(alert, FindingAlert):
        _merge(document, finding_fields(alert.transition))
    return document


def _add_event(document: dict[str, Any], event: Mapping[str, str | int]) -> None:
    document["kposture"]["event"] = dict(event)
    if event.get("user"):
        document["user"] = {"name": event["user"]}
    if event.get("source_ip"):
        document["source"] = {"ip": event["source_ip"]}
    if event.get("user_agent"):
        document["user_agent"] = {"original": event["user_agent"]}
    if event.get("audit_id"):
        document["event"]["id"] = event["audit_id"]
    if isinstance(event.get("response_code"), int):
        document["http"] = {"response": {"status_code": event["response_code"]}}


def _merge(into: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Deep-merge ``extra`` into ``into``: mappings merge, lists join (``event.category``), other
    values replace."""
    for key, value in extra.items():
        current = into.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            _merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            into[key] = list(dict.fromkeys([*current, *value]))
        else:
            into[key] = value


def alert_json(alert: Alert) -> bytes:
    """The document as compact UTF-8 JSON (no newline inside: safe as one JSON line)."""
    return json.dumps(
        alert_document(alert), ensure_ascii=False, separators=(",", ":"), sort_keys=False
    ).encode()

"""What audit-log detections are and what they raise: ``DetectionMeta``, ``Hit`` and ``IncidentAlert``.

A detection (in ``kposture.detections``) is metadata plus a pure ``detect(event, state)`` that yields
``Hit``s; the detector turns each hit into an ``IncidentAlert`` carrying the detection's metadata, the
full event context and the containment step. Reports render alerts; sinks receive them as
``lifecycle.Alert`` (see ``IncidentAlert.event_context``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from types import MappingProxyType

from kposture.model.audit import AuditEvent
from kposture.model.lifecycle import Alert
from kposture.model.resources import ResourceRef
from kposture.model.rules import Reference, Severity

Evidence = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class DetectionMeta:
    """A detection's stable description.

    ``id`` is kebab-case and never reused; ``technique`` is the MITRE ATT&CK technique the detected
    behaviour belongs to (with its tactic); ``response`` is the response guidance, one or more
    sentences ending with a period.
    """

    id: str
    title: str
    severity: Severity
    technique: Reference
    tactic: str
    description: str
    response: str
    stateful: bool = False


@dataclass(frozen=True, slots=True)
class Hit:
    """What a detection reports on one event: a message, the containment step for this case (the
    binding to delete, the pod to isolate), an optional severity of its own and evidence pairs."""

    message: str
    containment: str
    severity: Severity | None = None
    evidence: Evidence = ()


@dataclass(frozen=True, slots=True)
class IncidentAlert:
    """One alert from one detection on one event."""

    meta: DetectionMeta
    hit: Hit
    event: AuditEvent

    @property
    def detection_id(self) -> str:
        return self.meta.id

    @property
    def severity(self) -> Severity:
        return self.hit.severity if self.hit.severity is not None else self.meta.severity

    @property
    def message(self) -> str:
        return self.hit.message

    @property
    def containment(self) -> str:
        return self.hit.containment

    @property
    def fingerprint(self) -> str:
        """Stable across reruns of the same log: detection, audit ID and message."""
        text = f"{self.meta.id}\0{self.event.audit_id}\0{self.hit.message}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def event_context(self) -> dict[str, str]:
        """The event block of an alert: who, verb, resource, namespace, source IP, user agent, time,
        audit ID (keys of ``lifecycle.Alert.event``), plus the object name, response code and the
        impersonated user when known."""
        event = self.event
        ref = event.ref
        context = {
            "user": event.user.username,
            "verb": event.verb,
            "resource": ref.resource_path,
            "namespace": ref.namespace,
            "name": ref.name,
            "source_ip": event.source_ip,
            "user_agent": event.user_agent,
            "time": event.received_at.isoformat().replace("+00:00", "Z")
            if event.received_at is not None
            else "",
            "audit_id": event.audit_id,
            "response_code": "" if event.response_code is None else str(event.response_code),
            "decision": event.decision,
        }
        if event.impersonated_user is not None:
            context["impersonated_user"] = event.impersonated_user.username
        return {key: value for key, value in context.items() if value}


def sink_alert(alert: IncidentAlert, received: dt.datetime) -> Alert:
    """``alert`` as the alert sinks take it: the containment step joins the message, the event
    context becomes ``event``, and the fingerprint is the de-duplication key. ``received`` stands in
    for an event without a time."""
    ref = alert.event.ref
    resource = (
        ResourceRef(ref.api_version, ref.resource_path, ref.namespace, ref.name)
        if ref.resource
        else None
    )
    return Alert(
        source="detection",
        rule_id=alert.detection_id,
        severity=alert.severity,
        message=f"{alert.message}. Containment: {alert.containment}",
        at=alert.event.received_at or received,
        resource=resource,
        dedup_key=alert.fingerprint,
        event=MappingProxyType(alert.event_context()),
    )

"""Helpers for the detection tests: run the built-in detections over ``audit_samples`` events and
read what fired."""

from __future__ import annotations

from typing import Any

from kposture.detections import DetectionSettings, Detector
from kposture.model.audit import AuditEvent
from kposture.model.incidents import IncidentAlert


def fired(*events: AuditEvent, settings: DetectionSettings | None = None) -> list[IncidentAlert]:
    return Detector(settings=settings).process_all(events)


def ids(*events: AuditEvent, **kwargs: Any) -> set[str]:
    return {alert.detection_id for alert in fired(*events, **kwargs)}


def pod(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **meta}, "spec": spec}


def at(minute: int, second: int = 0, hour: int = 10) -> str:
    return f"2024-05-01T{hour:02d}:{minute:02d}:{second:02d}Z"

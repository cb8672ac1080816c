"""Alerts for the sink tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from kposture.model.lifecycle import Alert, Change, FindingAlert, Transition
from kposture.model.lifecycle import finding_alert as alert_of
from kposture.model.resources import ResourceRef
from kposture.model.rules import Severity

AT = dt.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC)
WEB = ResourceRef("apps/v1", "Deployment", "shop", "web")


def finding_alert(
    message: str = "container web is privileged",
    *,
    severity: Severity = Severity.HIGH,
    rule_id: str = "privileged-container",
    change: str = "opened",
    dedup_key: str = "",
    resource: ResourceRef | None = WEB,
) -> Alert:
    return Alert(
        source="finding",
        rule_id=rule_id,
        severity=severity,
        message=message,
        at=AT,
        resource=resource,
        cluster="prod-eu",
        change=change,
        dedup_key=dedup_key,
    )


def transition_alert(
    change: Change,
    *,
    reason: str = "",
    changed_by: str = "kubectl-patch",
    fingerprint: str = "af8236b72c2cb2388332",
    severity: Severity = Severity.CRITICAL,
    at: dt.datetime = AT,
) -> FindingAlert:
    """The watcher's alert for one stored transition of the privileged Deployment shop/web."""
    transition = Transition(
        fingerprint,
        "privileged-container",
        severity,
        WEB,
        "spec.template.spec.containers[0].securityContext.privileged",
        "container web is privileged",
        change,
        at,
        changed_by,
        reason,
    )
    return alert_of(transition, "prod-eu")


def detection_alert(event: Mapping[str, str] | None = None) -> Alert:
    return Alert(
        source="detection",
        rule_id="exec-into-pod",
        severity=Severity.CRITICAL,
        message="alice opened a shell in pod shop/web-1",
        at=AT,
        resource=ResourceRef("v1", "Pod", "shop", "web-1"),
        cluster="prod-eu",
        dedup_key="exec|alice|shop/web-1",
        event=event
        if event is not None
        else {
            "user": "alice@example.com",
            "verb": "create",
            "resource": "pods/exec",
            "namespace": "shop",
            "source_ip": "203.0.113.7",
            "user_agent": "kubectl/v1.30.0",
            "time": "2026-03-04T05:06:07Z",
            "audit_id": "5d2c6a55-8f0e-4c1d-9d5a-2b6f1c3e0a11",
        },
    )

"""Minimal audit events for tests: one function builds an ``audit.k8s.io/v1`` event mapping, another
turns it into an ``AuditEvent`` through the real parser."""

from __future__ import annotations

from typing import Any

from kposture.model.audit import AuditEvent, EventOrigin
from kposture.sources.audit_logs import event_from_k8s

_counter = iter(range(1, 10**9))


def raw_event(
    verb: str = "get",
    resource: str = "pods",
    *,
    namespace: str = "default",
    name: str = "web",
    subresource: str = "",
    user: str = "alice",
    groups: tuple[str, ...] = ("system:authenticated",),
    code: int = 200,
    stage: str = "ResponseComplete",
    ip: str = "10.0.0.1",
    agent: str = "kubectl/v1.30.0 (linux/amd64) kubernetes/abc",
    time: str = "2024-05-01T10:00:00.000000Z",
    request: Any = None,
    response: Any = None,
    impersonated: dict[str, Any] | None = None,
    uri: str = "",
    api_group: str = "",
    audit_id: str = "",
    decision: str = "allow",
) -> dict[str, Any]:
    ref: dict[str, Any] = {"resource": resource, "namespace": namespace, "name": name}
    if subresource:
        ref["subresource"] = subresource
    if api_group:
        ref["apiGroup"] = api_group
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": audit_id or f"id-{next(_counter)}",
        "stage": stage,
        "requestURI": uri or f"/api/v1/namespaces/{namespace}/{resource}/{name}",
        "verb": verb,
        "user": {"username": user, "groups": list(groups)},
        "sourceIPs": [ip],
        "userAgent": agent,
        "objectRef": {k: v for k, v in ref.items() if v},
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": time,
        "annotations": {"authorization.k8s.io/decision": decision},
    }
    if request is not None:
        event["requestObject"] = request
    if response is not None:
        event["responseObject"] = response
    if impersonated is not None:
        event["impersonatedUser"] = impersonated
    return event


def audit_event(**kwargs: Any) -> AuditEvent:
    return event_from_k8s(raw_event(**kwargs), EventOrigin("test.jsonl", 1))

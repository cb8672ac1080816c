"""Detections about who is asking: anonymous (unauthenticated) requests the API server allowed, and
impersonation (a requester acting as another user, group or ServiceAccount).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from kposture.detections._events import mitre
from kposture.detections.base import Detection
from kposture.model import Severity
from kposture.model.audit import ANONYMOUS_USER, UNAUTHENTICATED_GROUP, AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/livez",
        "/readyz",
        "/version",
        "/version/",
        "/.well-known/openid-configuration",
        "/openid/v1/jwks",
    }
)
"""Non-resource paths Kubernetes opens to anonymous users by default (system:public-info-viewer and
service-account-issuer-discovery)."""


def _anonymous(event: AuditEvent, _state: object) -> Iterator[Hit]:
    if not event.user.is_anonymous or not event.allowed:
        return
    path = urlsplit(event.request_uri).path
    if event.object_ref is None and (
        path in PUBLIC_PATHS or path.startswith(("/healthz/", "/livez/", "/readyz/"))
    ):
        return
    target = event.ref.display() or path
    yield Hit(
        f"anonymous request from {event.source_ip or 'an unknown address'} was allowed: "
        f"{event.verb} {target}",
        (
            "Find the binding that grants system:anonymous or system:unauthenticated "
            "(kposture rbac who-can "
            f"{event.verb} {event.ref.resource_path or path}) and delete it; set "
            "--anonymous-auth=false on the API server if nothing needs anonymous access."
        ),
        Severity.CRITICAL if event.verb not in ("get", "list", "watch") else None,
        (("path", path), ("object", target)),
    )


def _anonymous_gate(raw: Mapping[str, Any], _state: object) -> bool:
    user = raw.get("user")
    if not isinstance(user, dict):
        return True
    groups = user.get("groups")
    return user.get("username") == ANONYMOUS_USER or (
        isinstance(groups, list) and UNAUTHENTICATED_GROUP in groups
    )


ANONYMOUS = Detection(
    DetectionMeta(
        id="anonymous-request-allowed",
        title="Anonymous request allowed",
        severity=Severity.HIGH,
        technique=mitre("T1078.001", "Valid Accounts: Default Accounts"),
        tactic="initial-access",
        description=(
            "The API server allowed a request by system:anonymous (or the system:unauthenticated "
            "group) beyond the health, version and service-account issuer discovery endpoints that "
            "are public by default. Some binding grants unauthenticated users real access; an "
            "allowed write is critical."
        ),
        response=(
            "Delete the binding that grants anonymous access and consider disabling anonymous "
            "authentication."
        ),
    ),
    _anonymous,
    gate=_anonymous_gate,
)

_POWERFUL = ("system:masters", "system:admin", "cluster-admin")


def _impersonation(event: AuditEvent, _state: object) -> Iterator[Hit]:
    target = event.impersonated_user
    if target is None or not event.allowed:
        return
    powerful = target.username in _POWERFUL or any(g in _POWERFUL for g in target.groups)
    account = target.service_account
    if account is not None and account[0] == "kube-system":
        powerful = True
    groups = f" with groups {', '.join(target.groups)}" if target.groups else ""
    yield Hit(
        f"{event.user.username or '<unknown user>'} from {event.source_ip or 'an unknown address'} "
        f"acted as {target.username}{groups}: {event.verb} {event.ref.display() or event.request_uri}",
        (
            f"Confirm with {event.user.username} that acting as {target.username} was intended; "
            "if not, remove impersonate from them (kposture rbac who-can impersonate users) and "
            "revoke their credentials."
        ),
        Severity.HIGH if powerful else None,
        (("impersonator", event.user.username), ("impersonated", target.username)),
    )


def _impersonation_gate(raw: Mapping[str, Any], _state: object) -> bool:
    return raw.get("impersonatedUser") is not None


IMPERSONATION = Detection(
    DetectionMeta(
        id="impersonation",
        title="Request made by impersonating another identity",
        severity=Severity.MEDIUM,
        technique=mitre("T1134", "Access Token Manipulation"),
        tactic="privilege-escalation",
        description=(
            "A requester used Impersonate-User or Impersonate-Group headers and the API server "
            "allowed it. Impersonation is an administrator's debugging tool and an escalation "
            "path; acting as system:masters or a kube-system ServiceAccount is high severity."
        ),
        response="Confirm the impersonation; remove impersonate rights from those who do not need them.",
    ),
    _impersonation,
    gate=_impersonation_gate,
)

DETECTIONS: tuple[Detection, ...] = (ANONYMOUS, IMPERSONATION)

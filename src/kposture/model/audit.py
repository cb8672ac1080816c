"""Kubernetes audit events as kposture keeps them: ``AuditEvent`` and its parts.

Sources build these from ``audit.k8s.io`` events (and from managed-cloud envelopes that carry one);
detections only read them. The request and response objects are read-only mappings from which
Secret values have already been removed (``without_secret_values``): an event is never a way for a
Secret value to reach a log, a store or an alert.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
ANONYMOUS_USER = "system:anonymous"
UNAUTHENTICATED_GROUP = "system:unauthenticated"
NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
SECRET_FIELDS = ("data", "stringData")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
REDACTED = "<redacted>"


@dataclass(frozen=True, slots=True)
class AuditUser:
    """Who made (or was impersonated in) a request: the user name, groups and only the *keys* of
    ``extra`` (their values may be credentials' claims and are not kept)."""

    username: str
    groups: tuple[str, ...] = ()
    extra_keys: tuple[str, ...] = ()

    @property
    def service_account(self) -> tuple[str, str] | None:
        """``(namespace, name)`` when the user is a ServiceAccount, else None."""
        if not self.username.startswith(SERVICE_ACCOUNT_PREFIX):
            return None
        namespace, _, name = self.username[len(SERVICE_ACCOUNT_PREFIX) :].partition(":")
        return (namespace, name) if namespace and name else None

    @property
    def is_anonymous(self) -> bool:
        return self.username == ANONYMOUS_USER or UNAUTHENTICATED_GROUP in self.groups

    @property
    def is_node(self) -> bool:
        return self.username.startswith(NODE_PREFIX) or NODES_GROUP in self.groups

    @property
    def is_system(self) -> bool:
        """A Kubernetes component, node or ServiceAccount: any ``system:`` user but the anonymous one."""
        return self.username.startswith("system:") and not self.is_anonymous

    @property
    def is_human(self) -> bool:
        """Neither a ServiceAccount, a node, a component nor anonymous: a person (or a credential
        issued to one, such as a client certificate or an OIDC token)."""
        return bool(self.username) and not self.is_system and not self.is_anonymous


@dataclass(frozen=True, slots=True)
class AuditObjectRef:
    """The object a request addressed (``objectRef``)."""

    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    api_group: str = ""
    api_version: str = ""

    @property
    def resource_path(self) -> str:
        """``pods/exec`` style: the resource, with its subresource when there is one."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    def as_audit_json(self) -> dict[str, str]:
        """The ``objectRef`` block as ``audit.k8s.io`` spells its fields."""
        return {
            "resource": self.resource,
            "subresource": self.subresource,
            "namespace": self.namespace,
            "name": self.name,
            "apiGroup": self.api_group,
            "apiVersion": self.api_version,
        }

    def display(self) -> str:
        scope = f"{self.namespace}/" if self.namespace else ""
        name = self.name or "*"
        return f"{self.resource_path}/{scope}{name}" if self.resource else ""


@dataclass(frozen=True, slots=True)
class EventOrigin:
    """Where an event was read: the file (``-`` for stdin, ``webhook`` for the sink), its 1-based
    line, the envelope it came in (``k8s``, ``eks``, ``gke``, ``aks``), and the cluster when the
    envelope names it (GKE's ``resource.labels.cluster_name``, an EKS log group, an AKS
    ``resourceId``)."""

    file: str = ""
    line: int = 0
    envelope: str = "k8s"
    cluster: str = ""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit event (``audit.k8s.io/v1``; v1beta1 and cloud envelopes map to the same fields)."""

    audit_id: str
    stage: str
    verb: str
    request_uri: str
    user: AuditUser
    impersonated_user: AuditUser | None = None
    source_ips: tuple[str, ...] = ()
    user_agent: str = ""
    object_ref: AuditObjectRef | None = None
    response_code: int | None = None
    response_reason: str = ""
    received_at: dt.datetime | None = None
    decision: str = ""
    """``authorization.k8s.io/decision``: ``allow``, ``forbid`` or empty when not annotated."""
    reason: str = ""
    """``authorization.k8s.io/reason``."""
    request_object: Mapping[str, Any] | None = None
    response_object: Mapping[str, Any] | None = None
    level: str = ""
    origin: EventOrigin = EventOrigin()

    @property
    def source_ip(self) -> str:
        """The address the API server saw the request come from: the last of ``sourceIPs``, which
        lists the client's ``X-Forwarded-For`` addresses, then ``X-Real-Ip``, then the connection's
        remote address (behind a trusted proxy, that proxy's address)."""
        return self.source_ips[-1] if self.source_ips else ""

    @property
    def claimed_source_ips(self) -> tuple[str, ...]:
        """The addresses before the peer: set by the client (``X-Forwarded-For``, ``X-Real-Ip``)
        or by proxies on the way, and not to be trusted as the origin."""
        return self.source_ips[:-1]

    @property
    def ref(self) -> AuditObjectRef:
        return self.object_ref if self.object_ref is not None else _NO_REF

    @property
    def allowed(self) -> bool:
        """Whether the request went through: a 1xx-3xx response, or, with no response code, an
        ``allow`` decision."""
        if self.response_code is not None:
            return 100 <= self.response_code < 400
        return self.decision == "allow"

    @property
    def forbidden(self) -> bool:
        return self.response_code == 403 or (
            self.response_code is None and self.decision == "forbid"
        )

    @property
    def object(self) -> Mapping[str, Any] | None:
        """The object as it ended up: the response object when it is a full object of the addressed
        kind (not a ``Status``), else the request object."""
        response = self.response_object
        if response is not None and response.get("kind") not in (None, "Status"):
            return response
        return self.request_object


_NO_REF = AuditObjectRef()


def _strip(value: Any, *, secret: bool) -> Any:
    """A copy of ``value`` without Secret values: ``data``/``stringData`` of every Secret (and of
    every mapping when the request addressed Secrets), and the last-applied annotation that copies
    them."""
    if isinstance(value, list):
        return [_strip(item, secret=secret) for item in value]
    if not isinstance(value, Mapping):
        return value
    is_secret = secret or value.get("kind") == "Secret"
    out: dict[str, Any] = {}
    for key, item in value.items():
        if is_secret and key in SECRET_FIELDS:
            continue
        if is_secret and key == "metadata" and isinstance(item, Mapping):
            out[key] = _without_last_applied(item)
            continue
        out[key] = _strip(item, secret=secret)
    return out


def _without_last_applied(metadata: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(metadata)
    annotations = out.get("annotations")
    if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
        out["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return out


def without_secret_values(value: object, *, secret_request: bool) -> Mapping[str, Any] | None:
    """The read-only mapping kept for a request or response object, Secret values removed.

    ``secret_request`` says the request addressed the ``secrets`` resource, whose patch bodies carry
    no ``kind``: every ``data``/``stringData`` key in them is then dropped.
    """
    if not isinstance(value, Mapping):
        return None
    stripped = _strip(value, secret=secret_request)
    return MappingProxyType(stripped)

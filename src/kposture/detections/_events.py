"""Shared readings of an audit event for the detection families: what kind of change it is, the object
it carries as a ``K8sObject`` (so the inventory's pod-spec accessors apply), name patterns, and how
the people and objects involved are named in messages and containment steps.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from kposture.detections.settings import DetectionSettings
from kposture.model import K8sObject, Reference, ResourceRef
from kposture.model.audit import ANONYMOUS_USER, SERVICE_ACCOUNT_PREFIX, AuditEvent, AuditUser
from kposture.model.rules import Framework

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
CHANGE_VERBS = frozenset({"create", "update", "patch"})
READ_VERBS = frozenset({"get", "list", "watch"})

_KINDS = {
    "pods": "Pod",
    "deployments": "Deployment",
    "replicasets": "ReplicaSet",
    "statefulsets": "StatefulSet",
    "daemonsets": "DaemonSet",
    "replicationcontrollers": "ReplicationController",
    "jobs": "Job",
    "cronjobs": "CronJob",
    "podtemplates": "PodTemplate",
    "roles": "Role",
    "clusterroles": "ClusterRole",
    "rolebindings": "RoleBinding",
    "clusterrolebindings": "ClusterRoleBinding",
    "configmaps": "ConfigMap",
    "services": "Service",
    "secrets": "Secret",
    "serviceaccounts": "ServiceAccount",
    "namespaces": "Namespace",
    "ingresses": "Ingress",
    "networkpolicies": "NetworkPolicy",
    "endpoints": "Endpoints",
}


def mitre(technique: str, title: str) -> Reference:
    return Reference(Framework.MITRE, technique, title)


def kind_of(resource: str) -> str:
    """The kind a (core or well-known) resource name stands for; the resource itself otherwise."""
    return _KINDS.get(resource, resource)


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def changed_object(event: AuditEvent, resources: Iterable[str]) -> K8sObject | None:
    """The object a successful create/update/patch of one of ``resources`` left, as a ``K8sObject``
    (kind from the addressed resource); None for other requests or when the log level kept no body."""
    ref = event.ref
    if event.verb not in CHANGE_VERBS or ref.subresource or ref.resource not in resources:
        return None
    if not event.allowed:
        return None
    body = event.object
    if body is None:
        return None
    metadata = mapping(body.get("metadata"))
    kind = str(body.get("kind") or kind_of(ref.resource))
    api_version = str(body.get("apiVersion") or "")
    name = str(metadata.get("name") or ref.name or metadata.get("generateName") or "")
    namespace = str(metadata.get("namespace") or ref.namespace or "")
    return K8sObject(ResourceRef(api_version, kind, namespace, name), body)


def matches_any(name: str, patterns: Iterable[str]) -> bool:
    """Whether ``name`` matches one of ``patterns`` (shell-style globs, exact otherwise)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def is_kubernetes_identity(user: AuditUser, protected: Iterable[str]) -> bool:
    """Whether ``user`` is one of the identities Kubernetes itself uses: a component or a node (a
    ``system:`` user that is neither a ServiceAccount nor anonymous), or a ServiceAccount of a
    ``protected`` namespace (the controllers and add-ons of kube-system). Workloads'
    ServiceAccounts, people and anonymous requests are not."""
    if not user.is_system:
        return False
    account = user.service_account
    return account is None or account[0] in protected


def by_kubernetes(event: AuditEvent, protected: Iterable[str]) -> bool:
    """Whether Kubernetes itself made the request: the requester and the identity it impersonates
    (if any) are both Kubernetes' own (``is_kubernetes_identity``). Detections that are not about
    those identities do not alert on such requests."""
    if not is_kubernetes_identity(event.user, protected):
        return False
    acting = event.impersonated_user
    return acting is None or is_kubernetes_identity(acting, protected)


def raw_username(raw: Mapping[str, Any]) -> object:
    user = raw.get("user")
    return user.get("username") if isinstance(user, dict) else None  # json gives dicts


def raw_by_person(raw: Mapping[str, Any]) -> bool:
    """Whether the raw event's requester (or the user it impersonates) may be other than a
    component, node or ServiceAccount."""
    if raw.get("impersonatedUser") is not None:
        return True
    name = raw_username(raw)
    return not isinstance(name, str) or not name.startswith("system:") or name == ANONYMOUS_USER


def raw_by_outsider(raw: Mapping[str, Any], protected: Iterable[str]) -> bool:
    """Whether the raw event's requester may be a person or a ServiceAccount of a namespace other
    than ``protected``: neither a component nor a node nor one of the protected namespaces' own
    ServiceAccounts."""
    if raw_by_person(raw):
        return True
    name = raw_username(raw)
    if not isinstance(name, str) or not name.startswith(SERVICE_ACCOUNT_PREFIX):
        return False
    namespace = name[len(SERVICE_ACCOUNT_PREFIX) :].partition(":")[0]
    return namespace not in protected


def outsider_gate(raw: Mapping[str, Any], settings: DetectionSettings) -> bool:
    """The gate of a stateless detection that does not judge Kubernetes' own identities: one
    function for all of them, so the detector calls it once per event (``raw_by_outsider``)."""
    return raw_by_outsider(raw, settings.protected_namespaces)


def made(event: AuditEvent) -> str:
    """``created`` for a create, ``changed`` for the other writes."""
    return "created" if event.verb == "create" else "changed"


def who(event: AuditEvent) -> str:
    """The requester as a message names it, with the impersonated user when there is one."""
    name = event.user.username or "<unknown user>"
    if event.impersonated_user is not None:
        name = f"{name} (as {event.impersonated_user.username})"
    source = f" from {event.source_ip}" if event.source_ip else ""
    return f"{name}{source}"


def acting_user(event: AuditEvent) -> str:
    """The identity whose rights the request used: the impersonated one when present."""
    user = event.impersonated_user or event.user
    return user.username


def requested(event: AuditEvent, uri: str = "") -> str:
    """The request in words: ``get secrets shop/db``, ``list pods in namespace dev``,
    ``list nodes``, or the verb and URI (``uri``, else the request's) of a request that addressed
    no resource."""
    ref = event.ref
    if not ref.resource:
        return f"{event.verb} {uri or event.request_uri}"
    if ref.name:
        return f"{event.verb} {ref.resource_path} {scoped(ref.namespace, ref.name)}"
    where = f" in namespace {ref.namespace}" if ref.namespace else ""
    return f"{event.verb} {ref.resource_path}{where}"


def scoped(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name

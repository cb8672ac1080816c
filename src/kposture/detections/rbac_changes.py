"""Detections of RBAC changes that grant power: bindings that grant cluster-admin or a role with
``*`` verbs on ``*`` resources, roles written with sensitive rights (exec, Secrets, the node proxy,
wildcards, broad writes, impersonation, escalation), and Kubernetes' own ``system:`` roles and
bindings changed or deleted.

Writes by Kubernetes' own identities (the API server reconciling the bootstrap policy, the
aggregation controller, kube-system's ServiceAccounts) are not judged. ``cluster-admin-granted``
learns from every role write it sees, whoever made it, which roles hold a ``*``/``*`` rule
(cluster-admin always does), bounded in how many it remembers.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from kposture.detections._bounded import BoundedTable
from kposture.detections._containment import bindings_command
from kposture.detections._events import (
    CHANGE_VERBS,
    WRITE_VERBS,
    by_kubernetes,
    changed_object,
    kind_of,
    made,
    mapping,
    mitre,
    scoped,
    who,
)
from kposture.detections.base import BodyNeed, Detection, Interest
from kposture.detections.settings import DetectionSettings
from kposture.inventory import PolicyRule, policy_rule
from kposture.model import K8sObject, Severity
from kposture.model.audit import AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

_ROLES = frozenset({"roles", "clusterroles"})
_BINDINGS = frozenset({"rolebindings", "clusterrolebindings"})
_RBAC = "rbac.authorization.k8s.io"
_ACCOUNT_MANIPULATION = mitre("T1098", "Account Manipulation")
_WRITES = ("create", "update", "patch", "delete", "deletecollection")
_SENSITIVE: tuple[tuple[str, tuple[str, ...], str, str, bool], ...] = (
    # (what it allows, verbs, API group, resource, cluster-scoped)
    ("exec into pods", ("create", "get"), "", "pods/exec", False),
    ("attach to pods", ("create", "get"), "", "pods/attach", False),
    ("read Secrets", ("get", "list", "watch"), "", "secrets", False),
    ("use the node proxy", ("get", "create"), "", "nodes/proxy", True),
    ("impersonate users", ("impersonate",), "", "users", True),
    ("impersonate groups", ("impersonate",), "", "groups", True),
    ("impersonate ServiceAccounts", ("impersonate",), "", "serviceaccounts", False),
    ("mint ServiceAccount tokens", ("create",), "", "serviceaccounts/token", False),
    ("escalate roles", ("escalate",), _RBAC, "clusterroles", True),
    ("bind roles", ("bind",), _RBAC, "clusterroles", True),
    ("approve certificates", ("approve",), "certificates.k8s.io", "signers", True),
    # broad writes: objects that run code, grant rights, hold credentials or steer admission
    ("create pods", ("create",), "", "pods", False),
    ("add debug containers to pods", ("update", "patch"), "", "pods/ephemeralcontainers", False),
    ("write Deployments", ("create", "update", "patch"), "apps", "deployments", False),
    ("write DaemonSets", ("create", "update", "patch"), "apps", "daemonsets", False),
    ("write StatefulSets", ("create", "update", "patch"), "apps", "statefulsets", False),
    ("write Jobs", ("create", "update", "patch"), "batch", "jobs", False),
    ("write CronJobs", ("create", "update", "patch"), "batch", "cronjobs", False),
    ("write Secrets", ("create", "update", "patch"), "", "secrets", False),
    ("write Roles", ("create", "update", "patch"), _RBAC, "roles", False),
    ("write RoleBindings", ("create", "update", "patch"), _RBAC, "rolebindings", False),
    ("write ClusterRoles", ("create", "update", "patch"), _RBAC, "clusterroles", True),
    (
        "write ClusterRoleBindings",
        ("create", "update", "patch"),
        _RBAC,
        "clusterrolebindings",
        True,
    ),
    (
        "write admission webhooks",
        ("create", "update", "patch", "delete"),
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        True,
    ),
    (
        "write mutating admission webhooks",
        ("create", "update", "patch", "delete"),
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        True,
    ),
    ("create PersistentVolumes", ("create",), "", "persistentvolumes", True),
    ("change or delete nodes", ("update", "patch", "delete"), "", "nodes", True),
    ("delete namespaces", ("delete",), "", "namespaces", True),
)
"""What makes a role sensitive besides wildcards. A Role (namespaced) grants nothing on
cluster-scoped resources, so those rows are skipped for it."""
_UNNAMED = {"bind roles": "bind any role"}
"""How a right reads when no ``resourceNames`` limit it, where that differs from its label."""


def _rules(obj: K8sObject) -> list[PolicyRule]:
    raw = obj.raw.get("rules")
    found = [policy_rule(item) for item in raw] if isinstance(raw, list) else []
    return [rule for rule in found if rule is not None]


def _full_wildcard(rules: list[PolicyRule]) -> bool:
    """A rule with ``*`` verbs on ``*`` resources: everything of its API groups, present and
    future."""
    return any("*" in rule.verbs and "*" in rule.resources for rule in rules)


def _wildcards(rules: list[PolicyRule]) -> list[str]:
    found = []
    for rule in rules:
        parts = [
            label
            for label, values in (
                ("verbs", rule.verbs),
                ("resources", rule.resources),
                ("apiGroups", rule.api_groups),
                ("nonResourceURLs", rule.non_resource_urls),
            )
            if "*" in values
        ]
        if parts:
            found.append("'*' in " + ", ".join(parts))
    return found


def _url_writes(rules: list[PolicyRule]) -> list[str]:
    """Write verbs granted on a wildcard non-resource URL (``/api/*``, ``/apis/*``)."""
    found = []
    for rule in rules:
        writes = [verb for verb in rule.verbs if verb in _WRITES]
        urls = [url for url in rule.non_resource_urls if url.endswith("*") and url != "*"]
        if writes and urls:
            found.append(f"{'/'.join(writes)} on non-resource URLs {', '.join(urls)}")
    return found


def sensitive_rights(rules: list[PolicyRule], namespaced: bool) -> list[str]:
    """What sensitive rights the rules grant, as phrases ("exec into pods", "'*' in verbs")."""
    found = _wildcards(rules)
    for label, verbs, group, resource, cluster_scoped in _SENSITIVE:
        if namespaced and cluster_scoped:
            continue  # a Role grants nothing on cluster-scoped resources
        granting = [rule for rule in rules if rule.grants_any(verbs, group, resource)]
        if granting:
            found.append(_limited(label, granting))
    if not namespaced:
        found.extend(_url_writes(rules))
    return found


def _limited(label: str, granting: list[PolicyRule]) -> str:
    """The right as granted: limited to the objects its rules name in ``resourceNames`` when every
    granting rule names some ("bind roles named cluster-admin"), else unlimited."""
    if not all(rule.resource_names for rule in granting):
        return _UNNAMED.get(label, label)
    names = sorted({name for rule in granting for name in rule.resource_names})
    return f"{label} named {', '.join(names)}"


def _role_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}" if kind == "Role" else f"ClusterRole//{name}"


class AdminRoles:
    """The roles seen written with a ``*``/``*`` rule (keys ``ClusterRole//name``,
    ``Role/namespace/name``), the most recently written kept."""

    __slots__ = ("roles", "settings")

    def __init__(self, settings: DetectionSettings) -> None:
        self.settings = settings
        self.roles: BoundedTable[str, bool] = BoundedTable(settings.max_tracked_identities)

    def is_admin(self, key: str) -> bool:
        return key == "ClusterRole//cluster-admin" or bool(self.roles.get(key))


def _learn(event: AuditEvent, state: AdminRoles) -> None:
    """Remember whether the role an allowed write left holds a ``*``/``*`` rule."""
    ref = event.ref
    if ref.subresource or not event.allowed:
        return
    kind = kind_of(ref.resource)
    if event.verb in ("delete", "deletecollection"):
        if ref.name:
            state.roles.put(_role_key(kind, ref.namespace, ref.name), False)
        return
    role = changed_object(event, _ROLES)
    if role is not None and (role.ref.name or ref.name):
        key = _role_key(kind, role.ref.namespace, role.ref.name or ref.name)
        state.roles.put(key, _full_wildcard(_rules(role)))


def _admin_granted(event: AuditEvent, state: AdminRoles) -> Iterator[Hit]:
    if event.ref.resource in _ROLES:
        _learn(event, state)
        return
    binding = changed_object(event, _BINDINGS)
    if binding is None or by_kubernetes(event, state.settings.protected_namespaces):
        return
    role_ref = mapping(binding.raw.get("roleRef"))
    role_kind = str(role_ref.get("kind", "ClusterRole") or "ClusterRole")
    role = str(role_ref.get("name", ""))
    if not role or not state.is_admin(_role_key(role_kind, binding.ref.namespace, role)):
        return
    subjects = [
        f"{mapping(s).get('kind', '')} "
        f"{scoped(str(mapping(s).get('namespace', '')), str(mapping(s).get('name', '')))}"
        for s in binding.raw.get("subjects") or ()
    ]
    kind = binding.ref.kind
    name = scoped(binding.ref.namespace, binding.ref.name)
    namespace_flag = f" -n {binding.ref.namespace}" if binding.ref.namespace else ""
    scope = f"in namespace {binding.ref.namespace}" if binding.ref.namespace else "cluster-wide"
    what = role if role == "cluster-admin" else f"{role} (a '*' verbs on '*' resources role)"
    yield Hit(
        f"{who(event)} bound {role_kind} {what} {scope} to "
        f"{', '.join(subjects) or 'no subject'} through {kind} {name}",
        f"Delete {kind} {name} (kubectl delete {kind.lower()} {shlex.quote(binding.ref.name)}"
        f"{namespace_flag}) unless the grant is approved, then review what its subjects did.",
        None,
        (
            ("binding", f"{kind}/{name}"),
            ("role", f"{role_kind}/{role}"),
            ("subjects", "; ".join(subjects)),
        ),
    )


ADMIN_GRANTED = Detection(
    DetectionMeta(
        id="cluster-admin-granted",
        title="cluster-admin or a '*'/'*' role bound",
        severity=Severity.CRITICAL,
        technique=_ACCOUNT_MANIPULATION,
        tactic="privilege-escalation",
        description=(
            "A ClusterRoleBinding or RoleBinding was created or changed to grant cluster-admin, or "
            "a role seen written in the same log with '*' verbs on '*' resources (everything, "
            "present and future). Needs the audit level RequestResponse for role and binding "
            "writes (a patch carries no roleRef)."
        ),
        response=(
            "Delete the binding unless the grant was approved, and review what the subjects did "
            "with it."
        ),
        stateful=True,
    ),
    _admin_granted,
    AdminRoles,
    interest=Interest(WRITE_VERBS, _ROLES | _BINDINGS),
    needs_body=BodyNeed(CHANGE_VERBS, _ROLES | _BINDINGS, "RequestResponse"),
)


def _sensitive_role(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    role_obj = changed_object(event, _ROLES)
    if role_obj is None or by_kubernetes(event, settings.protected_namespaces):
        return
    rights = sensitive_rights(_rules(role_obj), role_obj.ref.kind == "Role")
    if not rights:
        return
    kind = role_obj.ref.kind
    name = scoped(role_obj.ref.namespace, role_obj.ref.name)
    yield Hit(
        f"{who(event)} {made(event)} {kind} {name} allowing to {', '.join(rights)}",
        f"Remove those rights from {kind} {name} unless approved, and check who is bound to it "
        f"({bindings_command(kind, role_obj.ref.namespace, role_obj.ref.name)}) before anyone "
        "uses them.",
        None,
        (("role", f"{kind}/{name}"), ("rights", ", ".join(rights))),
    )


SENSITIVE_ROLE = Detection(
    DetectionMeta(
        id="sensitive-role-created",
        title="Role written with sensitive rights",
        severity=Severity.HIGH,
        technique=_ACCOUNT_MANIPULATION,
        tactic="privilege-escalation",
        description=(
            "A Role or ClusterRole was created or changed to allow exec or attach into pods, "
            "reading Secrets, the node proxy, wildcards ('*' verbs, resources, API groups or URLs), "
            "broad writes (pods and workloads, Secrets, RBAC objects, admission webhooks, nodes, "
            "PersistentVolumes, namespace deletion, any non-resource URL), impersonation, minting "
            "tokens, escalate/bind or approving certificates: rights that lead to other "
            "identities' power. Needs the audit level RequestResponse for role writes."
        ),
        response="Narrow the role unless the rights were approved, and check who is bound to it.",
    ),
    _sensitive_role,
    interest=Interest(CHANGE_VERBS, _ROLES),
    needs_body=BodyNeed(CHANGE_VERBS, _ROLES, "RequestResponse"),
)


def _is_default(name: str, event: AuditEvent) -> bool:
    if name.startswith("system:") or name in ("cluster-admin", "admin", "edit", "view"):
        return True
    body = event.object or {}
    labels = mapping(mapping(body.get("metadata")).get("labels"))
    return labels.get("kubernetes.io/bootstrapping") == "rbac-defaults" and event.verb != "create"


def _system_role(event: AuditEvent, settings: DetectionSettings) -> Iterator[Hit]:
    ref = event.ref
    if ref.resource not in _ROLES | _BINDINGS:
        return
    if event.verb not in WRITE_VERBS - {"create"} or ref.subresource or not event.allowed:
        return
    if by_kubernetes(event, settings.protected_namespaces):
        return
    if not ref.name or not _is_default(ref.name, event):
        return
    kind = kind_of(ref.resource)
    name = scoped(ref.namespace, ref.name)
    action = "deleted" if event.verb.startswith("delete") else "changed"
    scope = f" -n {shlex.quote(ref.namespace)}" if ref.namespace else ""
    export = f"kubectl get {kind.lower()} {shlex.quote(ref.name)}{scope} -o yaml"
    yield Hit(
        f"{who(event)} {action} Kubernetes default {kind} {name}",
        (
            f"Restore {kind} {name}: the API server re-creates missing defaults and reconciles "
            "their rules at start-up unless annotated rbac.authorization.kubernetes.io/autoupdate: "
            "'false' (check that annotation), or re-apply it from another cluster of the same "
            f"version: export it there ({export} > default-rbac.yaml) and reconcile it here "
            "(kubectl auth reconcile -f default-rbac.yaml)."
        ),
        None,
        (("object", f"{kind}/{name}"), ("action", action)),
    )


SYSTEM_ROLE = Detection(
    DetectionMeta(
        id="system-role-modified",
        title="Kubernetes default role or binding changed or deleted",
        severity=Severity.HIGH,
        technique=_ACCOUNT_MANIPULATION,
        tactic="persistence",
        description=(
            "A person or a workload's ServiceAccount changed or deleted one of Kubernetes' default "
            "roles or bindings (system:*, cluster-admin, admin, edit, view). Widening a default "
            "role reaches every component bound to it and hides among defaults; deleting one "
            "breaks a component or removes a restriction. Judged at audit level Metadata."
        ),
        response="Restore the default and find out why it was changed.",
    ),
    _system_role,
    interest=Interest(WRITE_VERBS, _ROLES | _BINDINGS),
)

DETECTIONS: tuple[Detection, ...] = (ADMIN_GRANTED, SENSITIVE_ROLE, SYSTEM_ROLE)

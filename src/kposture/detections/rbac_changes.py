"""Detections of RBAC changes that grant power: cluster-admin bound or wildcard roles written, roles
written with exec, Secret, impersonation or escalation rights, roles written with write access, and
Kubernetes' own ``system:`` roles and bindings changed or deleted.

Roles and bindings written by the API server itself (``system:apiserver`` reconciling the bootstrap
policy at start-up) are not judged.
"""

from __future__ import annotations

from collections.abc import Iterator

from kposture.detections._events import (
    CHANGE_VERBS,
    WRITE_VERBS,
    changed_object,
    mapping,
    mitre,
    scoped,
    who,
)
from kposture.detections.base import BodyNeed, Detection, Interest
from kposture.inventory import PolicyRule, policy_rule
from kposture.model import K8sObject, Severity
from kposture.model.audit import AuditEvent
from kposture.model.incidents import DetectionMeta, Hit

_ROLES = ("roles", "clusterroles")
_BINDINGS = ("rolebindings", "clusterrolebindings")
_ADMIN_ROLES = frozenset({"cluster-admin"})
_MUTATING = ("create", "update", "patch", "delete", "deletecollection", "escalate", "bind")
_ROLE_BODIES = BodyNeed(CHANGE_VERBS, frozenset(_ROLES), "RequestResponse")
"""A patch of a role or binding carries only what changed (never the immutable roleRef): the
object as stored (RequestResponse) is what these detections judge."""
_RISKY: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("exec into pods", ("create", "get"), "", "pods/exec"),
    ("attach to pods", ("create", "get"), "", "pods/attach"),
    ("read Secrets", ("get", "list", "watch"), "", "secrets"),
    ("impersonate users", ("impersonate",), "", "users"),
    ("impersonate groups", ("impersonate",), "", "groups"),
    ("impersonate ServiceAccounts", ("impersonate",), "", "serviceaccounts"),
    ("mint ServiceAccount tokens", ("create",), "", "serviceaccounts/token"),
    ("use the node proxy", ("get", "create"), "", "nodes/proxy"),
    ("escalate roles", ("escalate",), "rbac.authorization.k8s.io", "clusterroles"),
    ("bind any role", ("bind",), "rbac.authorization.k8s.io", "clusterroles"),
    ("approve certificates", ("approve",), "certificates.k8s.io", "signers"),
)


def _rules(obj: K8sObject) -> list[PolicyRule]:
    raw = obj.raw.get("rules")
    found = [policy_rule(item) for item in raw] if isinstance(raw, list) else []
    return [rule for rule in found if rule is not None]


def _by_apiserver(event: AuditEvent) -> bool:
    return event.user.username == "system:apiserver"


def _role_write(event: AuditEvent) -> K8sObject | None:
    if _by_apiserver(event):
        return None
    return changed_object(event, _ROLES)


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


def _admin_granted(event: AuditEvent, _state: object) -> Iterator[Hit]:
    binding = None if _by_apiserver(event) else changed_object(event, _BINDINGS)
    if binding is not None:
        role_ref = mapping(binding.raw.get("roleRef"))
        role = str(role_ref.get("name", ""))
        if role not in _ADMIN_ROLES:
            return
        subjects = [
            f"{mapping(s).get('kind', '')} "
            f"{scoped(str(mapping(s).get('namespace', '')), str(mapping(s).get('name', '')))}"
            for s in binding.raw.get("subjects") or ()
        ]
        kind = binding.ref.kind
        name = scoped(binding.ref.namespace, binding.ref.name)
        namespace_flag = f" -n {binding.ref.namespace}" if binding.ref.namespace else ""
        yield Hit(
            f"{who(event)} bound {role_ref.get('kind', 'ClusterRole')} {role} to "
            f"{', '.join(subjects) or 'no subject'} through {kind} {name}",
            f"Delete {kind} {name} (kubectl delete {kind.lower()} {binding.ref.name}"
            f"{namespace_flag}) unless the grant is approved, then review what its subjects did.",
            Severity.CRITICAL,
            (("binding", f"{kind}/{name}"), ("role", role), ("subjects", "; ".join(subjects))),
        )
        return
    role_obj = _role_write(event)
    if role_obj is None:
        return
    wildcards = _wildcards(_rules(role_obj))
    if not wildcards:
        return
    kind = role_obj.ref.kind
    name = scoped(role_obj.ref.namespace, role_obj.ref.name)
    yield Hit(
        f"{who(event)} wrote {kind} {name} with wildcard rules ({'; '.join(wildcards)})",
        f"Replace the wildcards of {kind} {name} with the verbs and resources it needs, or delete "
        "it, and list who is bound to it (kposture rbac who-can).",
        None,
        (("role", f"{kind}/{name}"), ("wildcards", "; ".join(wildcards))),
    )


ADMIN_GRANTED = Detection(
    DetectionMeta(
        id="cluster-admin-granted",
        title="cluster-admin bound or a wildcard role written",
        severity=Severity.HIGH,
        technique=mitre("T1098", "Account Manipulation"),
        tactic="privilege-escalation",
        description=(
            "A ClusterRoleBinding or RoleBinding to cluster-admin was created or changed (critical), "
            "or a Role or ClusterRole was written with '*' in its verbs, resources, API groups or "
            "non-resource URLs, which grants everything present and future. Needs the audit "
            "level RequestResponse for role and binding writes."
        ),
        response=(
            "Delete the binding or narrow the role unless the grant was approved, and review what "
            "the subjects did with it."
        ),
    ),
    _admin_granted,
    interest=Interest(CHANGE_VERBS, frozenset(_ROLES + _BINDINGS)),
    needs_body=BodyNeed(CHANGE_VERBS, frozenset(_ROLES + _BINDINGS), "RequestResponse"),
)


def _risky_rights(rules: list[PolicyRule], namespaced: bool) -> list[str]:
    found = []
    for label, verbs, group, resource in _RISKY:
        if namespaced and resource.startswith(("nodes", "users", "groups", "signers")):
            continue  # cluster-scoped: a Role grants nothing on them
        if any(rule.grants_any(verbs, group, resource) for rule in rules):
            found.append(label)
    return found


def _risky_role(event: AuditEvent, _state: object) -> Iterator[Hit]:
    role_obj = _role_write(event)
    if role_obj is None:
        return
    rules = _rules(role_obj)
    if _wildcards(rules):
        return  # cluster-admin-granted reports wildcard roles
    rights = _risky_rights(rules, role_obj.ref.kind == "Role")
    if not rights:
        return
    kind = role_obj.ref.kind
    name = scoped(role_obj.ref.namespace, role_obj.ref.name)
    yield Hit(
        f"{who(event)} wrote {kind} {name} allowing to {', '.join(rights)}",
        f"Remove those rights from {kind} {name} unless approved, and check its bindings "
        f"(kposture rbac who-can) before anyone uses them.",
        None,
        (("role", f"{kind}/{name}"), ("rights", ", ".join(rights))),
    )


RISKY_ROLE = Detection(
    DetectionMeta(
        id="risky-role-written",
        title="Role written with exec, Secret, impersonation or escalation rights",
        severity=Severity.HIGH,
        technique=mitre("T1098", "Account Manipulation"),
        tactic="privilege-escalation",
        description=(
            "A Role or ClusterRole was created or changed to allow exec or attach into pods, "
            "reading Secrets, impersonation, minting tokens, the node proxy, escalate/bind or "
            "approving certificates: rights that lead to other identities' power. Needs the "
            "audit level RequestResponse for role writes."
        ),
        response="Narrow the role unless the rights were approved, and check who is bound to it.",
    ),
    _risky_role,
    interest=Interest(CHANGE_VERBS, frozenset(_ROLES)),
    needs_body=_ROLE_BODIES,
)


def _write_role(event: AuditEvent, _state: object) -> Iterator[Hit]:
    role_obj = _role_write(event)
    if role_obj is None:
        return
    rules = _rules(role_obj)
    if _wildcards(rules) or _risky_rights(rules, role_obj.ref.kind == "Role"):
        return  # reported, at a higher severity, by cluster-admin-granted or risky-role-written
    writes = sorted(
        {
            verb
            for rule in rules
            for verb in rule.verbs
            if verb in _MUTATING and (rule.resources or rule.non_resource_urls)
        }
    )
    if not writes:
        return
    kind = role_obj.ref.kind
    name = scoped(role_obj.ref.namespace, role_obj.ref.name)
    yield Hit(
        f"{who(event)} wrote {kind} {name} with write verbs ({', '.join(writes)})",
        f"Check that {kind} {name} and its bindings are expected; remove the write verbs it "
        "does not need.",
        None,
        (("role", f"{kind}/{name}"), ("verbs", ",".join(writes))),
    )


WRITE_ROLE = Detection(
    DetectionMeta(
        id="write-role-written",
        title="Role written with write access",
        severity=Severity.LOW,
        technique=mitre("T1098", "Account Manipulation"),
        tactic="persistence",
        description=(
            "A Role or ClusterRole was created or changed with verbs that modify objects (create, "
            "update, patch, delete, deletecollection, escalate, bind). Low severity: worth a look "
            "when it was not part of a deployment. Needs the audit level RequestResponse for "
            "role writes."
        ),
        response="Confirm the role belongs to an approved deployment.",
    ),
    _write_role,
    interest=Interest(CHANGE_VERBS, frozenset(_ROLES)),
    needs_body=_ROLE_BODIES,
)


def _is_default(name: str, event: AuditEvent) -> bool:
    if name.startswith("system:") or name in ("cluster-admin", "admin", "edit", "view"):
        return True
    body = event.object or {}
    labels = mapping(mapping(body.get("metadata")).get("labels"))
    return labels.get("kubernetes.io/bootstrapping") == "rbac-defaults" and event.verb != "create"


def _system_rbac(event: AuditEvent, _state: object) -> Iterator[Hit]:
    ref = event.ref
    if ref.resource not in ("clusterroles", "clusterrolebindings", "roles", "rolebindings"):
        return
    if event.verb not in WRITE_VERBS - {"create"} or ref.subresource or not event.allowed:
        return
    if event.user.is_system or not ref.name or not _is_default(ref.name, event):
        return
    kind = {
        "clusterroles": "ClusterRole",
        "clusterrolebindings": "ClusterRoleBinding",
        "roles": "Role",
        "rolebindings": "RoleBinding",
    }[ref.resource]
    name = scoped(ref.namespace, ref.name)
    action = "deleted" if event.verb.startswith("delete") else "changed"
    yield Hit(
        f"{who(event)} {action} Kubernetes default {kind} {name}",
        (
            f"Restore {kind} {name}: the API server re-creates missing defaults and reconciles "
            "their rules at start-up unless annotated rbac.authorization.kubernetes.io/autoupdate: "
            "'false' (check that annotation), or re-apply it from another cluster of the same "
            "version (kubectl auth reconcile)."
        ),
        Severity.HIGH if action == "changed" else None,
        (("object", f"{kind}/{name}"), ("action", action)),
    )


SYSTEM_RBAC = Detection(
    DetectionMeta(
        id="system-rbac-modified",
        title="Kubernetes default role or binding changed or deleted",
        severity=Severity.MEDIUM,
        technique=mitre("T1098", "Account Manipulation"),
        tactic="persistence",
        description=(
            "A person changed or deleted one of Kubernetes' default roles or bindings (system:*, "
            "cluster-admin, admin, edit, view). Widening a default role reaches every component "
            "bound to it and hides among defaults; deleting one breaks a component or removes a "
            "restriction."
        ),
        response="Restore the default and find out why it was changed.",
    ),
    _system_rbac,
    interest=Interest(WRITE_VERBS, frozenset(_ROLES + _BINDINGS)),
)

DETECTIONS: tuple[Detection, ...] = (ADMIN_GRANTED, RISKY_ROLE, WRITE_ROLE, SYSTEM_RBAC)

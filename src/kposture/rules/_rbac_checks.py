"""The checks of the RBAC rule family (metadata lives in ``rbac``): role checks that report each
PolicyRule in force granting a target permission, the wildcard check, and the binding checks
(cluster-admin, system:masters, anonymous and all-users subjects).

Role checks judge ``inventory.effective_rules`` (aggregation included), one violation per offending
PolicyRule; binding checks one per offending subject. A violation is capped at info when it comes
from Kubernetes' own defaults: the judged object and the rule's origin (or, for bindings, the
subject) are both defaults.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from kposture.inventory import (
    EVERYONE,
    EffectiveRule,
    Grant,
    Inventory,
    Target,
    bound_role,
    csr_subject,
    describe_grant,
    effective_rules,
    find_grant,
    full_access,
    is_default_subject,
    is_kubernetes_default,
    subjects,
)
from kposture.model import JsonPath, K8sObject, Severity, Violation
from kposture.rules.base import Check

SYSTEM_MASTERS = "system:masters"
CORE = ""
RBAC_GROUP = "rbac.authorization.k8s.io"
ADMISSION_GROUP = "admissionregistration.k8s.io"
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def _where(obj: K8sObject, effective: EffectiveRule) -> str:
    """How the judged role comes to hold the rule: ``rules[2]``, or through aggregation."""
    own = f"rules[{effective.index}]"
    if effective.origin == obj.ref:
        return own
    origin = f"{effective.origin.kind} {effective.origin.name}"
    if effective.aggregated:
        selector = effective.path[-1]
        return (
            f"aggregates {origin} (aggregationRule.clusterRoleSelectors[{selector}]), whose {own}"
        )
    return f"rules[{effective.path[1]}] (aggregated from {origin} {own})"


def _cap(obj_is_default: bool, effective: EffectiveRule) -> Severity | None:
    return Severity.INFO if obj_is_default and effective.default else None


def _default_note(severity: Severity | None) -> str:
    return " [Kubernetes default, reported as info]" if severity is Severity.INFO else ""


def _path(effective: EffectiveRule, field: str, indexes: tuple[int, ...]) -> JsonPath:
    if effective.aggregated or not indexes:
        return effective.path
    return (*effective.path, field, indexes[0])


# --- role checks ------------------------------------------------------------------------------------


def grant_check(
    targets: tuple[Target, ...], *, point_at_verb: bool = False, note: str = ""
) -> Check:
    """A check reporting each PolicyRule in force for a role that grants any of ``targets``."""

    def check(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
        obj_default = is_kubernetes_default(obj)
        for effective in effective_rules(obj, inventory):
            grant = find_grant(effective.rule, targets)
            if grant is None:
                continue
            severity = _cap(obj_default, effective)
            path = (
                _path(effective, "verbs", grant.verbs)
                if point_at_verb
                else _path(effective, "resources", grant.resources)
            )
            extra = note if note and _needs_note(grant) else ""
            yield Violation(
                f"{obj.ref.display()} {_where(obj, effective)} grants "
                f"{describe_grant(effective.rule, grant)}{extra}{_default_note(severity)}",
                path,
                (("rule", f"{effective.origin.display()} rules[{effective.index}]"),),
                severity,
            )

    return check


def _needs_note(grant: Grant) -> bool:
    """Exec/attach granted through ``get`` only: the WebSocket note applies."""
    verbs = {verb for verb, resource in grant.covered if resource in ("pods/exec", "pods/attach")}
    return verbs == {"get"}


def _is_wildcard(entry: str) -> bool:
    """``*``, or ``*/sub`` (a subresource of every resource)."""
    return entry == "*" or entry.startswith("*/")


def wildcard_rbac(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    obj_default = is_kubernetes_default(obj)
    for effective in effective_rules(obj, inventory):
        rule = effective.rule
        fields = (
            ("verbs", rule.verbs),
            ("apiGroups", rule.api_groups),
            ("resources", rule.resources),
        )
        hits = [
            (name, i) for name, values in fields for i, v in enumerate(values) if _is_wildcard(v)
        ]
        if not hits:
            continue
        severity = _cap(obj_default, effective)
        field, index = hits[0]
        named = sorted({name for name, _ in hits}, key=["verbs", "apiGroups", "resources"].index)
        groups = " ".join(f'"{g}"' for g in rule.api_groups)
        target = (
            f"[{' '.join(rule.resources)}] in apiGroups [{groups}]"
            if rule.resources or not rule.non_resource_urls
            else f"nonResourceURLs [{' '.join(rule.non_resource_urls)}]"
        )
        yield Violation(
            f"{obj.ref.display()} {_where(obj, effective)} uses * in {' and '.join(named)}: "
            f"verbs [{' '.join(rule.verbs)}] on {target}{_default_note(severity)}",
            effective.path if effective.aggregated else (*effective.path, field, index),
            (("rule", f"{effective.origin.display()} rules[{effective.index}]"),),
            severity,
        )


# --- binding checks ---------------------------------------------------------------------------------


def _scope(binding: K8sObject) -> str:
    if binding.ref.kind == "RoleBinding":
        return f" in namespace {binding.ref.namespace or '<unset>'}"
    return " cluster-wide"


def cluster_admin_binding(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    role = bound_role(obj, inventory)
    if role is None:
        return
    rule = full_access(role.rules)
    if rule is None:
        return
    if rule.path == ("roleRef", "name"):
        why = "the Kubernetes default cluster-admin role: all verbs on all resources"
    else:
        why = f"its {_where_in_role(rule)} grants verbs [{' '.join(rule.rule.verbs)}] on * in all apiGroups"
    for subject in subjects(obj):
        if subject.kind == "Group" and subject.name == SYSTEM_MASTERS:
            continue  # the group bypasses authorization anyway: system-masters-group reports it
        severity = Severity.INFO if is_default_subject(obj, subject) else None
        yield Violation(
            f"{obj.ref.display()} binds {subject.display()} to {role.display()}{_scope(obj)} "
            f"({why}){_default_note(severity)}",
            ("subjects", subject.index, "name"),
            (("subject", subject.display()), ("role", role.display())),
            severity,
        )


def _where_in_role(effective: EffectiveRule) -> str:
    if effective.aggregated:
        return (
            f"aggregated {effective.origin.kind} {effective.origin.name} rules[{effective.index}]"
        )
    return f"rules[{effective.index}]"


def system_masters(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    if obj.ref.kind == "CertificateSigningRequest":
        spec = obj.raw.get("spec")
        request = spec.get("request") if isinstance(spec, Mapping) else None
        asked = csr_subject(request)
        if asked is not None and SYSTEM_MASTERS in asked.organizations:
            yield Violation(
                f"{obj.ref.display()} asks for a client certificate in group {SYSTEM_MASTERS} "
                f"(subject CN={asked.common_name or '<none>'}, "
                f"O={','.join(asked.organizations)}); once signed it bypasses RBAC and cannot "
                "be revoked",
                ("spec", "request"),
                (("common_name", asked.common_name),),
            )
        return
    for subject in subjects(obj):
        if subject.kind == "Group" and subject.name == SYSTEM_MASTERS:
            severity = Severity.INFO if is_default_subject(obj, subject) else None
            yield Violation(
                f"{obj.ref.display()} names group {SYSTEM_MASTERS} (subjects[{subject.index}]), "
                f"whose members bypass all authorization{_default_note(severity)}",
                ("subjects", subject.index, "name"),
                (("subject", subject.display()),),
                severity,
            )


def anonymous_access(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    role = bound_role(obj, inventory)
    role_text = role.display() if role is not None else "an unnamed role"
    for subject in subjects(obj):
        if subject.kind not in ("User", "Group") or subject.name not in EVERYONE:
            continue
        who = (
            "every authenticated user (any ServiceAccount token or client certificate)"
            if subject.name == "system:authenticated"
            else "anonymous, unauthenticated requests"
        )
        severity = Severity.INFO if is_default_subject(obj, subject) else None
        yield Violation(
            f"{obj.ref.display()} grants {role_text}{_scope(obj)} to {subject.display()}: "
            f"{who}{_default_note(severity)}",
            ("subjects", subject.index, "name"),
            (("subject", subject.display()),),
            severity,
        )

"""The checks of the RBAC rule family (metadata lives in ``rbac``): role checks that report each
PolicyRule in force granting a target permission, the wildcard check, and the binding checks
(cluster-admin, system:masters, anonymous and all-users subjects), and the escalation-path check
on the binding that grants a path's first hop.

Role checks judge ``inventory.effective_rules`` (aggregation included), one violation per offending
PolicyRule; binding checks one per offending subject. A rule a ClusterRole holds through
aggregation is reported once, on the source role that states it, not again on each role that
aggregates it; only a default's rule pulled into a role that is not a default is judged there.
A violation is capped at info when it comes
from Kubernetes' own defaults: the judged object and the rule's origin (or, for bindings, the
subject) are both defaults. Grants are scope-aware: a Role is judged as in force in its namespace
only, so it never grants cluster-scoped resources; a ClusterRole as if bound cluster-wide.

The role checks also judge bindings, for the one case the role finding cannot carry: a binding
that hands a default role (scanned with the bootstrap markers, or a built-in known by name) to
subjects that are not Kubernetes' own. The role's findings are capped at info, so the grant is
reported on the binding, once per binding, at the rule's severity, within the binding's scope
(a RoleBinding grants nothing cluster-scoped). Bindings of non-default roles are not reported
(the role finding covers them), nor bindings of all-powerful roles (cluster-admin-binding does).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

from kposture.inventory import (
    BINDING_KINDS,
    EVERYONE,
    BoundRole,
    EffectiveRule,
    Inventory,
    PolicyRule,
    Subject,
    Target,
    bound_role,
    csr_subject,
    describe_grant,
    effective_rules,
    find_grant,
    full_access,
    is_default_subject,
    is_full_access,
    is_kubernetes_default,
    subjects,
)
from kposture.inventory.rbac import BUILTIN_PATH
from kposture.inventory.rbac_capabilities import (
    CAPABILITIES,
    FULL_ACCESS,
    SERVICEACCOUNT_IMPERSONATION,
    folds_serviceaccount_impersonation,
    without_serviceaccount_impersonation,
)
from kposture.inventory.rbac_paths import reported_paths_by_binding
from kposture.inventory.rbac_scope import Scope, reaches_anything, role_scope
from kposture.model import JsonPath, K8sObject, Severity, Violation
from kposture.rules._rbac_holders import reach
from kposture.rules.base import Check

SYSTEM_MASTERS = "system:masters"


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


def _judged_here(obj: K8sObject, obj_default: bool, effective: EffectiveRule) -> bool:
    """Whether a rule in force for the role ``obj`` is reported on it: its own rules are; a rule it
    holds through aggregation (pulled in, or copied inline as the API server fills it in) is
    reported on the source role that states it, once, not again on ``view``, ``edit``, ``admin``
    or a user's aggregating role; except a Kubernetes default's rule pulled into a role that is not
    a default: its source is capped at info, the user's choice to aggregate it is judged here."""
    if effective.origin == obj.ref:
        return True
    return effective.default and not obj_default


def _cap(obj_is_default: bool, effective: EffectiveRule) -> Severity | None:
    return Severity.INFO if obj_is_default and effective.default else None


def _default_note(severity: Severity | None) -> str:
    return " [Kubernetes default, reported as info]" if severity is Severity.INFO else ""


def _path(effective: EffectiveRule, field: str, indexes: tuple[int, ...]) -> JsonPath:
    if effective.aggregated or not indexes:
        return effective.path
    return (*effective.path, field, indexes[0])


# --- description wording shared with ``rbac`` (it says what these checks do) ------------------------


def binding_note(
    what: str = "such a grant of a default role (admin, edit, a system:controller: role)",
) -> str:
    """The description note of a role rule on the bindings it also judges."""
    return (
        " Kubernetes' default roles are reported at info on the role itself. A binding that hands "
        f"{what} to a subject that is not Kubernetes' own (a user's binding, or a user added to a "
        "default binding) is reported once, on the binding, at this rule's severity, naming the "
        "subjects and the scope: cluster-wide for a ClusterRoleBinding, the namespace for a "
        "RoleBinding. Bindings of other roles are not reported again (the role's finding covers "
        "them), nor bindings of cluster-admin (cluster-admin-binding reports them)."
    )


BINDING_NOTE = binding_note()

FULL_ACCESS_NOTE = (
    " A role with full access (every verb, or every read and write verb, on every resource of "
    "every API group) is not reported by this rule: wildcard-rbac reports it once, naming every "
    "risky capability it holds, and cluster-admin-binding each subject bound to it."
)
"""The description note of a capability rule on roles with full access."""


def cluster_scoped(what: str) -> str:
    """The description note of a rule about a cluster-scoped resource."""
    return (
        f" {what} cluster-scoped, so only a ClusterRole bound by a ClusterRoleBinding grants it: "
        "the authorizer uses a RoleBinding's rules only for requests in its namespace, and these "
        "requests carry none, so a Role (whatever its resources say, * included) or a ClusterRole "
        "in a RoleBinding is not reported. A ClusterRole is judged as if bound cluster-wide, "
        "whether or not a binding is scanned: whoever may bind it can do so later."
    )


# --- role checks ------------------------------------------------------------------------------------


def grant_check(
    targets: tuple[Target, ...],
    *,
    point_at_verb: bool = False,
    note: str = "",
    names_folded: bool = False,
) -> Check:
    """A check reporting each PolicyRule in force for a role that grants any of ``targets``, and
    each non-default binding that hands such a grant of a default role to someone else.

    Impersonating ServiceAccounts in a namespace where the role also creates pods is folded
    (``rbac_capabilities.folds_serviceaccount_impersonation``): not reported among ``targets``;
    with ``names_folded`` (the pod-creation check) the finding names it in evidence ``folded``."""
    folded_targets = without_serviceaccount_impersonation(targets)

    def check(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
        if obj.ref.kind in BINDING_KINDS:
            yield from _binding_grant(obj, inventory, targets, folded_targets, note, names_folded)
            return
        rules = effective_rules(obj, inventory)
        if full_access(rules) is not None:
            return  # wildcard-rbac reports full access once, for every capability
        obj_default = is_kubernetes_default(obj)
        scope = role_scope(obj.ref.kind)
        folds = _role_folds(obj, inventory, rules, scope)
        judged = folded_targets if folds else targets
        folded = (
            _folded_evidence(_folded_refs(rules, scope), f" in namespace {obj.ref.namespace}")
            if folds and names_folded
            else ()
        )
        for effective in rules:
            if not _judged_here(obj, obj_default, effective):
                continue
            grant = find_grant(effective.rule, judged, scope)
            if grant is None:
                continue
            severity = _cap(obj_default, effective)
            path = (
                _path(effective, "verbs", grant.verbs)
                if point_at_verb
                else _path(effective, "resources", grant.resources)
            )
            extra = note if note and _needs_note(grant.covered) else ""
            reached = reach(
                obj, inventory, in_namespace=_held_in_namespace(effective.rule, judged, scope)
            )
            yield Violation(
                f"{obj.ref.display()} {_where(obj, effective)} grants "
                f"{describe_grant(effective.rule, grant)}{extra}{reached.text()}"
                f"{_default_note(severity)}",
                path,
                (("rule", _rule_ref(effective)), *folded),
                severity,
                context=reached.evidence(),
            )

    return check


def _held_in_namespace(rule: PolicyRule, targets: tuple[Target, ...], scope: Scope) -> bool:
    """Whether a RoleBinding's subjects hold what ``rule`` grants of ``targets``: the rule grants
    some of them in a namespace (``find_grant``, as the who-can views ask it). Not for
    cluster-scoped targets (nodes/proxy, webhook configurations, CSR approval, PersistentVolumes),
    which no RoleBinding grants."""
    return scope is Scope.NAMESPACE or find_grant(rule, targets, Scope.NAMESPACE) is not None


_ROLE_FOLDS = "rbac_checks.role_folds"


def _role_folds(
    obj: K8sObject, inventory: Inventory, rules: tuple[EffectiveRule, ...], scope: Scope
) -> bool:
    """``folds_serviceaccount_impersonation`` for a role judged on its own, once per inventory
    (every capability rule asks it)."""
    memo: dict[int, bool] = inventory.derived.setdefault(_ROLE_FOLDS, {})
    folds = memo.get(id(obj))
    if folds is None:
        folds = folds_serviceaccount_impersonation((e.rule for e in rules), scope)
        memo[id(obj)] = folds
    return folds


def _folded_refs(rules: Iterable[EffectiveRule], scope: Scope) -> tuple[str, ...]:
    """The rules granting ServiceAccount impersonation in ``scope`` (each named once)."""
    return tuple(
        dict.fromkeys(
            _rule_ref(effective)
            for effective in rules
            if find_grant(effective.rule, SERVICEACCOUNT_IMPERSONATION, scope) is not None
        )
    )


def _folded_evidence(refs: tuple[str, ...], where: str) -> tuple[tuple[str, str], ...]:
    """The evidence naming ServiceAccount impersonation by ``refs`` folded into pod creation
    ``where``; nothing without ``refs``."""
    if not refs:
        return ()
    return (
        (
            "folded",
            f"also impersonate serviceaccounts{where} ({'; '.join(refs)}), no more than creating "
            "a pod there gives: a pod runs as any ServiceAccount of its namespace",
        ),
    )


def _rule_ref(effective: EffectiveRule) -> str:
    """``ClusterRole/reader rules[2]``; a built-in role known by name has no rules to point at."""
    if effective.path == BUILTIN_PATH:
        return f"{effective.origin.display()} (built-in rules, not scanned)"
    return f"{effective.origin.display()} rules[{effective.index}]"


def _needs_note(covered: tuple[tuple[str, str], ...]) -> bool:
    """Exec/attach granted through ``get`` only: the WebSocket note applies."""
    verbs = {verb for verb, resource in covered if resource in ("pods/exec", "pods/attach")}
    return verbs == {"get"}


def _is_wildcard(entry: str) -> bool:
    """``*``, or ``*/sub`` (a subresource of every resource)."""
    return entry == "*" or entry.startswith("*/")


_WILDCARD_FIELDS = ("verbs", "apiGroups", "resources")


def _wildcard_hits(rule: PolicyRule) -> list[tuple[str, int]]:
    """(field, index) of every wildcard entry of ``rule``, verbs first."""
    fields = (rule.verbs, rule.api_groups, rule.resources)
    return [
        (name, i)
        for name, values in zip(_WILDCARD_FIELDS, fields, strict=True)
        for i, v in enumerate(values)
        if _is_wildcard(v)
    ]


def _wildcard_text(rule: PolicyRule, hits: list[tuple[str, int]]) -> str:
    """``* in verbs and apiGroups: verbs [*] on [pods] in apiGroups ["*"]``."""
    named = sorted({name for name, _ in hits}, key=_WILDCARD_FIELDS.index)
    groups = " ".join(f'"{g}"' for g in rule.api_groups)
    target = (
        f"[{' '.join(rule.resources)}] in apiGroups [{groups}]"
        if rule.resources or not rule.non_resource_urls
        else f"nonResourceURLs [{' '.join(rule.non_resource_urls)}]"
    )
    return f"* in {' and '.join(named)}: verbs [{' '.join(rule.verbs)}] on {target}"


def _full_access_text(obj: K8sObject, rule: PolicyRule, scope: Scope) -> tuple[str, str]:
    """``grants full access (<what that means>), and with it <the risky capabilities it holds in
    the role's scope>``, and the ids of those capabilities (every one the catalogue lists, for
    ``* * *`` in a ClusterRole)."""
    held = [
        capability
        for capability in CAPABILITIES
        if capability is not FULL_ACCESS and capability.grant(rule, scope) is not None
    ]
    namespaced = scope is Scope.NAMESPACE
    where = f" in namespace {obj.ref.namespace or '<unset>'}" if namespaced else ""
    if "*" in rule.verbs:
        what = "every verb on every resource " + (
            "of the namespace" if namespaced else "of every API group"
        )
        which = "every risky capability" + (" there" if namespaced else "")
    else:
        what = "every read and write verb on every resource, as good as cluster-admin"
        which = "these risky capabilities"
    titles = "; ".join(capability.title for capability in held)
    text = (
        f"grants full access{where} ({what}), and with it {which}: {titles} (one finding for "
        "them all)"
    )
    return text, ", ".join(capability.id for capability in held)


def wildcard_rbac(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    """Each rule in force with a wildcard; a rule with full access is reported as such, once,
    naming the risky capabilities it holds (their rules leave such a role to this one)."""
    if obj.ref.kind in BINDING_KINDS:
        yield from _binding_wildcards(obj, inventory)
        return
    obj_default = is_kubernetes_default(obj)
    scope = role_scope(obj.ref.kind)
    rules = effective_rules(obj, inventory)
    full = full_access(rules)
    for effective in rules:
        if not _judged_here(obj, obj_default, effective):
            continue
        hits = _wildcard_hits(effective.rule)
        if not hits or not reaches_anything(effective.rule, scope):
            continue
        if full is not None and effective is not full and is_full_access(effective.rule):
            continue  # a second full-access rule: full access is reported once
        severity = _cap(obj_default, effective)
        field, index = hits[0]
        uses = f"uses {_wildcard_text(effective.rule, hits)}"
        evidence: tuple[tuple[str, str], ...] = (("rule", _rule_ref(effective)),)
        if effective is full:
            text, held = _full_access_text(obj, effective.rule, scope)
            uses = f"{uses}, which {text}"
            evidence = (*evidence, ("capabilities", held))
        in_namespace = scope is Scope.NAMESPACE or reaches_anything(effective.rule, Scope.NAMESPACE)
        reached = reach(obj, inventory, in_namespace=in_namespace)
        yield Violation(
            f"{obj.ref.display()} {_where(obj, effective)} {uses}{reached.text()}"
            f"{_default_note(severity)}",
            effective.path if effective.aggregated else (*effective.path, field, index),
            evidence,
            severity,
            context=reached.evidence(),
        )


# --- bindings of default roles ------------------------------------------------------------------


_HANDED_OUT = "rbac_checks.handed_out"
_ROLE_GRANTS = "rbac_checks.role_grants"


def _handed_out(obj: K8sObject, inventory: Inventory) -> tuple[BoundRole, list[Subject]] | None:
    """The default role a binding hands to subjects that are not Kubernetes' own, and those
    subjects; None when the binding is judged elsewhere or not at all: a non-default or unknown
    role (reported on the role), an all-powerful one (cluster-admin-binding), or only default
    subjects (Kubernetes' own binding, reported at info on the role). Memoised per inventory:
    every role rule asks it of every binding."""
    memo: dict[int, tuple[BoundRole, list[Subject]] | None] = inventory.derived.setdefault(
        _HANDED_OUT, {}
    )
    key = id(obj)
    if key in memo:
        return memo[key]
    role = bound_role(obj, inventory)
    handed: tuple[BoundRole, list[Subject]] | None = None
    if role is not None and role.default and full_access(role.rules) is None:
        who = [subject for subject in subjects(obj) if not is_default_subject(obj, subject)]
        handed = (role, who) if who else None
    memo[key] = handed
    return handed


def _who(who: list[Subject]) -> str:
    """``User alice``, ``User alice and Group devs``, ``A, B and C``."""
    names = [subject.display() for subject in who]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _evidence(
    role: BoundRole, who: list[Subject], rules: list[EffectiveRule]
) -> tuple[tuple[str, str], ...]:
    return (
        ("subjects", _who(who)),
        ("role", role.display()),
        ("rules", "; ".join(dict.fromkeys(_rule_ref(effective) for effective in rules))),
    )


def _describe_pairs(covered: list[tuple[str, str]]) -> str:
    """``get/list/watch secrets; create pods, deployments``: verbs per resource, resources that
    share their verbs grouped."""
    by_resource: dict[str, list[str]] = {}
    for verb, resource in covered:
        verbs = by_resource.setdefault(resource, [])
        if verb not in verbs:
            verbs.append(verb)
    by_verbs: dict[tuple[str, ...], list[str]] = {}
    for resource, verbs in by_resource.items():
        by_verbs.setdefault(tuple(verbs), []).append(resource)
    return "; ".join(f"{'/'.join(verbs)} {', '.join(res)}" for verbs, res in by_verbs.items())


def _binding_grant(
    obj: K8sObject,
    inventory: Inventory,
    targets: tuple[Target, ...],
    folded_targets: tuple[Target, ...],
    note: str,
    names_folded: bool,
) -> Iterator[Violation]:
    handed = _handed_out(obj, inventory)
    if handed is None:
        return
    role, who = handed
    granted = _role_grant(inventory, role, targets, folded_targets)
    if granted is None:
        return
    extra = note if note and _needs_note(granted.covered) else ""
    folded = (
        _folded_evidence(granted.folded, _scope(obj)) if granted.folded and names_folded else ()
    )
    yield Violation(
        f"{obj.ref.display()}: {_who(who)} can {granted.text}{_scope(obj)} through the built-in "
        f"{role.display()}{extra}",
        BUILTIN_PATH,
        (*_evidence(role, who, list(granted.sources)), *folded),
    )


class _RoleGrant(NamedTuple):
    """What a bound default role grants of a rule's targets: the text, the (verb, resource) pairs
    not limited by resourceNames, the rules that grant them, and the rules whose ServiceAccount
    impersonation is folded into pod creation."""

    text: str
    covered: tuple[tuple[str, str], ...]
    sources: tuple[EffectiveRule, ...]
    folded: tuple[str, ...]


def _role_grant(
    inventory: Inventory,
    role: BoundRole,
    targets: tuple[Target, ...],
    folded_targets: tuple[Target, ...],
) -> _RoleGrant | None:
    """The grant of ``targets`` by ``role`` in its scope, the same for every binding of the role
    in that scope, so computed once per inventory for each."""
    memo: dict[tuple[object, ...], _RoleGrant | None] = inventory.derived.setdefault(
        _ROLE_GRANTS, {}
    )
    key = (id(role.obj), role.kind, role.namespace, role.name, role.scope, id(targets))
    if key in memo:
        return memo[key]
    folds = folds_serviceaccount_impersonation((e.rule for e in role.rules), role.scope)
    judged = folded_targets if folds else targets
    covered: list[tuple[str, str]] = []
    named: list[str] = []
    sources: list[EffectiveRule] = []
    for effective in role.default_rules():
        grant = find_grant(effective.rule, judged, role.scope)
        if grant is None:
            continue
        sources.append(effective)
        if effective.rule.names_only:
            names = " ".join(effective.rule.resource_names)
            named.append(f"{_describe_pairs(list(grant.covered))} named [{names}]")
        else:
            covered.extend(grant.covered)
    result = None
    if sources:
        text = "; ".join(([_describe_pairs(covered)] if covered else []) + named)
        folded = _folded_refs(role.default_rules(), role.scope) if folds else ()
        result = _RoleGrant(text, tuple(covered), tuple(sources), folded)
    memo[key] = result
    return result


def _binding_wildcards(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    handed = _handed_out(obj, inventory)
    if handed is None:
        return
    role, who = handed
    found = [
        (effective, hits)
        for effective in role.default_rules()
        if (hits := _wildcard_hits(effective.rule)) and reaches_anything(effective.rule, role.scope)
    ]
    if not found:
        return
    text = "; ".join(_wildcard_text(effective.rule, hits) for effective, hits in found)
    yield Violation(
        f"{obj.ref.display()} hands {_who(who)} the built-in {role.display()}{_scope(obj)}; "
        f"its rules use {text}",
        BUILTIN_PATH,
        _evidence(role, who, [effective for effective, _ in found]),
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


# --- escalation paths -------------------------------------------------------------------------------


def escalation_path(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    """Each escalation path whose first hop this binding grants (``inventory.rbac_paths``), from a
    subject that is not one of Kubernetes' own."""
    for path in reported_paths_by_binding(inventory).get(id(obj), ()):
        holding = path.first.holding
        if holding is None or holding.binding is not obj:
            continue
        severity = Severity.CRITICAL if path.goal is FULL_ACCESS else Severity.HIGH
        yield Violation(
            path.describe(),
            ("subjects", holding.subject.index),
            (
                ("subject", path.start.display()),
                ("goal", path.goal.id),
                ("hops", str(path.hop_count)),
            ),
            severity,
        )

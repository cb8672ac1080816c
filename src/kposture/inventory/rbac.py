"""RBAC semantics: what a Role or ClusterRole grants, what a binding hands out, and which RBAC objects
are Kubernetes' own defaults.

Owns the PolicyRule matcher (the exact decision of the Kubernetes RBAC authorizer for verbs, API
groups, resources and subresources, resource names and non-resource URLs), ClusterRole aggregation
(``aggregationRule.clusterRoleSelectors`` resolved against the ClusterRoles of the inventory, to a
fixpoint as the aggregation controller does), roleRef resolution for bindings (falling back to the
built-in default roles of ``rbac_defaults`` when the role is not scanned) and the recognition of the
bootstrap defaults. Rule families and the later who-can and escalation-path views build on these
functions; nothing here holds state between calls. Derived values are memoised in ``obj.derived``:
own rules per role (they depend on ``raw`` only) and aggregated rules per ClusterRole, the latter
keyed by the identity of the inventory's ClusterRole tuple so another inventory never sees them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kposture.inventory.objects import Inventory
from kposture.inventory.rbac_defaults import (
    BUILTIN_AGGREGATION,
    BUILTIN_CLUSTER_ROLES,
    BUILTIN_REF,
)
from kposture.inventory.rbac_rules import PolicyRule, policy_rule
from kposture.inventory.rbac_scope import Scope, binding_scope
from kposture.model import JsonPath, K8sObject, LabelSelector, ResourceRef

ROLE_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")

BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping"
BOOTSTRAP_VALUE = "rbac-defaults"
AUTOUPDATE_ANNOTATION = "rbac.authorization.kubernetes.io/autoupdate"
DEFAULT_NAMES = frozenset({"cluster-admin", "admin", "edit", "view"})
"""Default names without the ``system:`` prefix (``extension-apiserver-authentication-reader`` too)."""
_OTHER_DEFAULT_NAMES = frozenset({"extension-apiserver-authentication-reader"})
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})

FULL_ACCESS_VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete"})
"""A rule on every resource of every group with all of these verbs is as good as ``*``: it can read
every Secret (and so every ServiceAccount token) and create pods running as any ServiceAccount."""

BUILTIN_PATH: JsonPath = ("roleRef", "name")
"""The path of a rule a bound role holds as a built-in default (known by name, not scanned)."""
BUILTIN_AGGREGATION_PATH: JsonPath = ("aggregationRule",)
"""The path of a rule a built-in default role (``admin``, ``edit``, ``view``) holds because a
scanned ClusterRole carries one of its ``aggregate-to-`` labels; ``origin`` names that role."""

_OWN = "rbac.own_rules"
_SELECTED = "rbac.selected"
_EFFECTIVE = "rbac.effective_rules"
_OWN_EFFECTIVE = "rbac.own_effective_rules"
_BUILTIN_AGGREGATED = "rbac.builtin_aggregated"


@dataclass(frozen=True, slots=True)
class EffectiveRule:
    """One PolicyRule in force for a role, and where it comes from.

    ``origin`` is the role whose ``rules[index]`` holds it (the judged role itself, a ClusterRole it
    aggregates, or a built-in default known by name); ``path`` is where a finding on the judged object
    should point (``rules[i]`` or the aggregation selector that pulled it in); ``default`` says whether
    the origin is a Kubernetes default.
    """

    rule: PolicyRule
    index: int
    origin: ResourceRef
    path: JsonPath
    default: bool

    @property
    def aggregated(self) -> bool:
        return self.path[:1] != ("rules",)


@dataclass(frozen=True, slots=True)
class Subject:
    """One subject of a binding: ``kind`` (User, Group, ServiceAccount), name, namespace, list index."""

    kind: str
    name: str
    namespace: str
    index: int

    def display(self) -> str:
        if self.kind == "ServiceAccount":
            return (
                f"ServiceAccount {self.namespace}/{self.name}"
                if self.namespace
                else (f"ServiceAccount {self.name}")
            )
        return f"{self.kind} {self.name}"

    @property
    def is_system_identity(self) -> bool:
        """A control-plane identity: a ``system:`` user or group (but not the anonymous or
        all-users groups) or a ServiceAccount of a system namespace."""
        if self.kind == "ServiceAccount":
            return self.namespace in SYSTEM_NAMESPACES
        return self.name.startswith("system:") and self.name not in EVERYONE


EVERYONE = frozenset({"system:anonymous", "system:unauthenticated", "system:authenticated"})
"""Subjects that stand for users nobody vetted: anonymous requests, or every authenticated user."""


@dataclass(frozen=True, slots=True)
class BoundRole:
    """What a binding's ``roleRef`` points at.

    ``obj`` is the scanned role, if any. ``rules`` are its effective rules plus, for a default
    ClusterRole the API server reconciles (``cluster-admin``, ``admin``, ``edit``, ``view``), the
    built-in rules it re-adds at start-up unless the scanned copy opts out with
    ``autoupdate: "false"``, and for ``admin``, ``edit`` and ``view`` the rules of the scanned
    ClusterRoles their bootstrap aggregation selects (``builtin_aggregated``). ``known`` is False
    when the role is neither scanned nor a built-in default: the binding can then only be judged
    by name. ``scope`` is how far the binding hands
    the rules out: cluster-wide for a ClusterRoleBinding, one namespace for a RoleBinding.
    """

    kind: str
    name: str
    namespace: str
    obj: K8sObject | None
    rules: tuple[EffectiveRule, ...]
    known: bool
    scope: Scope = Scope.CLUSTER

    def display(self) -> str:
        scope = f"{self.namespace}/" if self.kind == "Role" and self.namespace else ""
        return f"{self.kind} {scope}{self.name}"

    @property
    def default(self) -> bool:
        """Whether the role is a Kubernetes default: scanned with the bootstrap markers, or not
        scanned but one of the built-in ClusterRoles known by name."""
        if self.obj is None:
            return self.known
        return is_kubernetes_default(self.obj)

    def default_rules(self) -> tuple[EffectiveRule, ...]:
        """The rules the role holds as a Kubernetes default, which findings on the role itself
        report at most as info: a default role's rules that come from defaults (a user ClusterRole
        aggregated into it is judged on the role), and the built-in rules the API server re-adds
        to a reconciled role (never on the scanned object, so never reported on it)."""
        role_default = self.default
        return tuple(
            rule
            for rule in self.rules
            if rule.path == BUILTIN_PATH or (role_default and rule.default)
        )


# --- reading objects --------------------------------------------------------------------------------


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def own_rules(role: K8sObject) -> tuple[tuple[int, PolicyRule], ...]:
    """The role's own ``rules`` as (index, PolicyRule); malformed entries are skipped."""
    memo = role.derived
    cached: tuple[tuple[int, PolicyRule], ...] | None = memo.get(_OWN)
    if cached is not None:
        return cached
    items = role.raw.get("rules")
    found = []
    if isinstance(items, list):
        for index, item in enumerate(items):
            parsed = policy_rule(item)
            if parsed is not None:
                found.append((index, parsed))
    result = tuple(found)
    memo[_OWN] = result
    return result


def label_selector(raw: object) -> LabelSelector | None:
    """A Kubernetes label selector as a ``LabelSelector``; None when malformed. An empty selector
    matches every object, as ``metav1.LabelSelectorAsSelector`` decides."""
    if not isinstance(raw, Mapping):
        return None
    labels = _mapping(raw.get("matchLabels"))
    expressions = []
    items = raw.get("matchExpressions")
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, Mapping):
            return None
        values = item.get("values")
        expressions.append(
            (
                str(item.get("key", "")),
                str(item.get("operator", "")),
                tuple(str(v) for v in values) if isinstance(values, list) else (),
            )
        )
    return LabelSelector(
        tuple((str(k), str(v)) for k, v in labels.items()),
        tuple(expressions),
    )


def aggregation_selectors(cluster_role: K8sObject) -> tuple[tuple[int, LabelSelector], ...]:
    """The (index, selector) pairs of a ClusterRole's ``aggregationRule.clusterRoleSelectors``."""
    if cluster_role.ref.kind != "ClusterRole":
        return ()
    items = _mapping(cluster_role.raw.get("aggregationRule")).get("clusterRoleSelectors")
    if not isinstance(items, list):
        return ()
    found = []
    for index, item in enumerate(items):
        selector = label_selector(item)
        if selector is not None:
            found.append((index, selector))
    return tuple(found)


# --- defaults ---------------------------------------------------------------------------------------


def has_default_name(obj: K8sObject) -> bool:
    """Whether the name is one Kubernetes uses for its bootstrap RBAC objects."""
    name = obj.ref.name
    return name.startswith("system:") or name in DEFAULT_NAMES or name in _OTHER_DEFAULT_NAMES


def is_kubernetes_default(obj: K8sObject) -> bool:
    """A bootstrap RBAC object: a default name and the bootstrap markers (the
    ``kubernetes.io/bootstrapping: rbac-defaults`` label or the autoupdate annotation set to
    ``"true"``), not opted out of reconciliation with ``autoupdate: "false"``. A defaults-named
    object without the markers is someone's own object and is judged like any other."""
    if obj.ref.kind not in ROLE_KINDS and obj.ref.kind not in BINDING_KINDS:
        return False
    if not has_default_name(obj):
        return False
    autoupdate = str(obj.annotations.get(AUTOUPDATE_ANNOTATION, "")).lower()
    if autoupdate == "false":
        return False
    return obj.labels.get(BOOTSTRAP_LABEL) == BOOTSTRAP_VALUE or autoupdate == "true"


DEFAULT_EVERYONE_SUBJECTS: Mapping[str, frozenset[str]] = {
    "system:basic-user": frozenset({"system:authenticated"}),
    "system:discovery": frozenset({"system:authenticated"}),
    "system:public-info-viewer": frozenset({"system:authenticated", "system:unauthenticated"}),
}
"""The default bindings that name everyone, and whom (Kubernetes 1.14 and later)."""


def is_default_subject(binding: K8sObject, subject: Subject) -> bool:
    """A subject a default binding names for Kubernetes itself: a control-plane identity, or one of
    the all-users groups the default discovery bindings name. Anyone added to a default binding is
    not covered: the binding is changed for that subject."""
    if not is_kubernetes_default(binding):
        return False
    if subject.name in EVERYONE:
        return subject.name in DEFAULT_EVERYONE_SUBJECTS.get(binding.ref.name, frozenset())
    return subject.is_system_identity


# --- aggregation ------------------------------------------------------------------------------------


def _selected(
    role: K8sObject, cluster_roles: Sequence[K8sObject]
) -> tuple[tuple[int, K8sObject], ...]:
    memo = role.derived.get(_SELECTED)
    if memo is not None and memo[0] is cluster_roles:
        cached: tuple[tuple[int, K8sObject], ...] = memo[1]
        return cached
    found = []
    for index, selector in aggregation_selectors(role):
        for other in cluster_roles:
            if other.ref.name != role.ref.name and selector.matches(other.labels):
                found.append((index, other))
    result = tuple(found)
    role.derived[_SELECTED] = (cluster_roles, result)
    return result


def aggregated_roles(
    cluster_role: K8sObject, inventory: Inventory
) -> tuple[tuple[int, K8sObject], ...]:
    """Every ClusterRole whose rules flow into ``cluster_role`` through aggregation, directly or
    through another aggregated ClusterRole, with the index of the first-hop selector."""
    cluster_roles = inventory.of_kind("ClusterRole")
    reached: dict[str, tuple[int, K8sObject]] = {}
    queue = [(index, other) for index, other in _selected(cluster_role, cluster_roles)]
    while queue:
        index, other = queue.pop(0)
        if other.ref.name in reached or other.ref.name == cluster_role.ref.name:
            continue
        reached[other.ref.name] = (index, other)
        queue.extend((index, nested) for _, nested in _selected(other, cluster_roles))
    return tuple(reached.values())


def effective_rules(role: K8sObject, inventory: Inventory) -> tuple[EffectiveRule, ...]:
    """Every PolicyRule in force for a Role or ClusterRole: its own rules, plus for an aggregating
    ClusterRole the rules of every ClusterRole its selectors reach (duplicates dropped, as the
    aggregation controller does). An own rule that copies an aggregated one (a live cluster's
    controller-written rules) keeps its ``rules[i]`` path but is attributed to the aggregated role."""
    if not aggregation_selectors(role):
        return _own_effective(role)
    cluster_roles = inventory.of_kind("ClusterRole")
    memo = role.derived.get(_EFFECTIVE)
    if memo is not None and memo[0] is cluster_roles:
        cached: tuple[EffectiveRule, ...] = memo[1]
        return cached
    pulled: dict[PolicyRule, EffectiveRule] = {}
    for selector_index, other in aggregated_roles(role, inventory):
        default = is_kubernetes_default(other)
        path = ("aggregationRule", "clusterRoleSelectors", selector_index)
        for index, rule in own_rules(other):
            pulled.setdefault(rule, EffectiveRule(rule, index, other.ref, path, default))
    result: list[EffectiveRule] = []
    own_default = is_kubernetes_default(role)
    for index, rule in own_rules(role):
        source = pulled.pop(rule, None)
        if source is None:
            result.append(EffectiveRule(rule, index, role.ref, ("rules", index), own_default))
        else:
            result.append(
                EffectiveRule(rule, source.index, source.origin, ("rules", index), source.default)
            )
    result.extend(pulled.values())
    effective = tuple(result)
    role.derived[_EFFECTIVE] = (cluster_roles, effective)
    return effective


def _own_effective(role: K8sObject) -> tuple[EffectiveRule, ...]:
    cached: tuple[EffectiveRule, ...] | None = role.derived.get(_OWN_EFFECTIVE)
    if cached is None:
        default = is_kubernetes_default(role)
        cached = tuple(
            EffectiveRule(rule, index, role.ref, ("rules", index), default)
            for index, rule in own_rules(role)
        )
        role.derived[_OWN_EFFECTIVE] = cached
    return cached


# --- bindings ---------------------------------------------------------------------------------------


def subjects(binding: K8sObject) -> Iterator[Subject]:
    """The subjects of a RoleBinding or ClusterRoleBinding, each with its list index."""
    items = binding.raw.get("subjects")
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            yield Subject(
                str(item.get("kind", "")),
                str(item.get("name", "")),
                str(item.get("namespace", "") or ""),
                index,
            )


def bound_role(
    binding: K8sObject, inventory: Inventory, *, builtin: bool = True
) -> BoundRole | None:
    """The role a binding's ``roleRef`` names, with the rules it grants; None without a roleRef.

    A RoleBinding may name a Role of its own namespace or a ClusterRole; a ClusterRoleBinding only a
    ClusterRole. The role is looked up in the inventory; a reconciled default ClusterRole
    (``cluster-admin``, ``admin``, ``edit``, ``view``) also grants its built-in rules and what its
    bootstrap aggregationRule pulls in from the scanned ClusterRoles, unless
    ``builtin`` is False (objects read from a live API server: it has already reconciled them, with
    the built-in rules of its own version, and its authorizer reads only what is stored).
    """
    ref = _mapping(binding.raw.get("roleRef"))
    kind = str(ref.get("kind", ""))
    name = str(ref.get("name", ""))
    if kind not in ROLE_KINDS or not name:
        return None
    namespace = binding.ref.namespace if kind == "Role" else ""
    scope = binding_scope(binding.ref.kind)
    if binding.ref.kind == "ClusterRoleBinding" and kind == "Role":
        return BoundRole(kind, name, namespace, None, (), False, scope)
    role = inventory.get(kind, namespace, name)
    if role is None and kind == "ClusterRole" and binding.ref.namespace:
        # A manifest may give a ClusterRole a namespace; the API server drops it on creation.
        role = inventory.get(kind, binding.ref.namespace, name)
    rules = effective_rules(role, inventory) if role is not None else ()
    defaults = BUILTIN_CLUSTER_ROLES.get(name) if kind == "ClusterRole" and builtin else None
    if defaults is not None and not _opted_out(role):
        present = {effective.rule for effective in rules}
        origin = ResourceRef(BUILTIN_REF.api_version, "ClusterRole", "", name)
        extra = tuple(
            EffectiveRule(rule, index, origin, BUILTIN_PATH, True)
            for index, rule in enumerate(defaults)
            if rule not in present
        )
        present.update(effective.rule for effective in extra)
        pulled = []
        for effective in builtin_aggregated(name, inventory):
            if effective.rule not in present:
                present.add(effective.rule)
                pulled.append(effective)
        rules = rules + extra + tuple(pulled)
    known = role is not None or defaults is not None
    return BoundRole(kind, name, namespace, role, rules, known, scope)


def builtin_aggregated(name: str, inventory: Inventory) -> tuple[EffectiveRule, ...]:
    """The rules the default ClusterRole ``name`` (``admin``, ``edit``, ``view``) aggregates from
    the scanned ClusterRoles, as its bootstrap ``aggregationRule`` selects them
    (``rbac_defaults.BUILTIN_AGGREGATION``: ``admin`` takes the ``aggregate-to-admin``,
    ``aggregate-to-edit`` and ``aggregate-to-view`` roles), each with its own effective rules
    (its own aggregation included), attributed to the role that holds them and pathed
    ``BUILTIN_AGGREGATION_PATH``. Only for manifests: a live cluster's stored role is already
    aggregated. Memoised per inventory."""
    labels = BUILTIN_AGGREGATION.get(name)
    if not labels:
        return ()
    memo: dict[str, tuple[EffectiveRule, ...]] = inventory.derived.setdefault(
        _BUILTIN_AGGREGATED, {}
    )
    cached = memo.get(name)
    if cached is not None:
        return cached
    found: dict[PolicyRule, EffectiveRule] = {}
    for other in inventory.of_kind("ClusterRole"):
        if other.ref.name == name or not any(other.labels.get(k) == "true" for k in labels):
            continue
        for effective in effective_rules(other, inventory):
            found.setdefault(
                effective.rule,
                EffectiveRule(
                    effective.rule,
                    effective.index,
                    effective.origin,
                    BUILTIN_AGGREGATION_PATH,
                    effective.default,
                ),
            )
    result = tuple(found.values())
    memo[name] = result
    return result


def _opted_out(role: K8sObject | None) -> bool:
    return (
        role is not None and str(role.annotations.get(AUTOUPDATE_ANNOTATION, "")).lower() == "false"
    )


def full_access(rules: Sequence[EffectiveRule]) -> EffectiveRule | None:
    """The first rule that grants everything (``*`` or every read and write verb on every resource of
    every API group, no resourceNames), i.e. what makes a role equivalent to cluster-admin."""
    for effective in rules:
        if is_full_access(effective.rule):
            return effective
    return None


def is_full_access(rule: PolicyRule) -> bool:
    """Whether one PolicyRule is cluster-admin's resource rule, or equivalent to it."""
    if rule.resource_names or "*" not in rule.api_groups or "*" not in rule.resources:
        return False
    return "*" in rule.verbs or FULL_ACCESS_VERBS.issubset(rule.verbs)

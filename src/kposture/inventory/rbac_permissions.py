"""What one requester can do: every permission and every risky capability a ``Principal`` holds.

``permissions`` lists the effective rules of every binding in force whose subjects the principal
matches (``Principal.matches``, the authorizer's ``appliesTo``: by user name, by group — the implicit
groups included — or as a ServiceAccount), each with the binding, the matching subject, the bound
role and the scope the binding gives it (``cluster`` for a ClusterRoleBinding, the namespace for a
RoleBinding). A rule that can allow nothing in its scope (a non-resource URL or only cluster-scoped
resources through a RoleBinding) is left out, as the authorizer never applies it.
``capabilities_of`` is ``rbac_capabilities.holders`` narrowed to the principal. Both can be limited to
the permissions in force in one namespace (cluster-wide ones included), as ``kubectl auth can-i
--list -n NS`` is. Used by ``kposture rbac can`` and ``kposture rbac workloads``; pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from kposture.inventory.objects import Inventory
from kposture.inventory.rbac import BoundRole, EffectiveRule, Subject
from kposture.inventory.rbac_capabilities import CLUSTER, FULL_ACCESS, Holding, all_holdings
from kposture.inventory.rbac_graph import (
    Principal,
    binding_subjects,
    bindings_by_role,
    service_account_user,
)
from kposture.inventory.rbac_scope import Scope, reaches_anything
from kposture.model import K8sObject


@dataclass(frozen=True, slots=True)
class Permission:
    """``rule`` of ``role`` is in force for the principal in ``scope`` (``cluster`` or a namespace)
    because ``binding`` names ``subject``, which the principal matches."""

    subject: Subject
    binding: K8sObject
    role: BoundRole
    rule: EffectiveRule

    @property
    def scope(self) -> str:
        return self.binding.ref.namespace if self.binding.ref.kind == "RoleBinding" else CLUSTER


def in_force(scope: str, namespace: str) -> bool:
    """Whether a grant with ``scope`` applies to requests in ``namespace`` ("" means anywhere)."""
    return not namespace or scope in (CLUSTER, namespace)


def _matches(principal: Principal, subject: Subject) -> bool:
    # A subject without a name is malformed: no authenticated requester has an empty name.
    return bool(subject.name) and principal.matches(subject)


def _matching_subject(principal: Principal, binding: K8sObject) -> Subject | None:
    return next((s for s in binding_subjects(binding) if _matches(principal, s)), None)


def permissions(
    inventory: Inventory, principal: Principal, namespace: str = ""
) -> tuple[Permission, ...]:
    """Every effective rule in force for ``principal`` (only those in force in ``namespace`` when
    given), cluster-wide first, then by namespace, binding name and rule order. A binding naming
    the principal twice (as a user and through a group) counts once, with its first subject."""
    cluster: list[Permission] = []
    namespaced: list[Permission] = []
    for entry in bindings_by_role(inventory):
        bindings = list(entry.cluster)
        if namespace:
            bindings.extend(entry.by_namespace.get(namespace, ()))
        else:
            bindings.extend(b for group in entry.by_namespace.values() for b in group)
        for binding in bindings:
            subject = _matching_subject(principal, binding)
            if subject is None:
                continue
            is_cluster = binding.ref.kind == "ClusterRoleBinding"
            scope = Scope.CLUSTER if is_cluster else Scope.NAMESPACE
            found = cluster if is_cluster else namespaced
            found.extend(
                Permission(subject, binding, entry.role, rule)
                for rule in entry.role.rules
                if reaches_anything(rule.rule, scope)
            )
    cluster.sort(key=lambda p: p.binding.ref.name)
    namespaced.sort(key=lambda p: (p.binding.ref.namespace, p.binding.ref.name))
    return (*cluster, *namespaced)


_HOLDINGS_MEMO = "rbac_permissions.holdings_by_subject"


def _holdings_by_subject(
    inventory: Inventory,
) -> dict[tuple[str, str], list[tuple[int, Holding]]]:
    """``all_holdings`` (with their positions) by the name a requester matches them with:
    ``("User", user name)`` (a ServiceAccount subject by its username) or ``("Group", group)``;
    holdings no requester matches (no name, a ServiceAccount without a namespace, another kind)
    left out. Built once per inventory: ``Principal.matches`` as a lookup."""
    cached: dict[tuple[str, str], list[tuple[int, Holding]]] | None = inventory.derived.get(
        _HOLDINGS_MEMO
    )
    if cached is not None:
        return cached
    index: dict[tuple[str, str], list[tuple[int, Holding]]] = {}
    for position, holding in enumerate(all_holdings(inventory)):
        key = _match_key(holding.subject)
        if key is not None:
            index.setdefault(key, []).append((position, holding))
    inventory.derived[_HOLDINGS_MEMO] = index
    return index


def _match_key(subject: Subject) -> tuple[str, str] | None:
    """The key ``Principal.matches`` compares ``subject`` with, None when nothing matches it."""
    if not subject.name:
        return None
    if subject.kind in ("User", "Group"):
        return subject.kind, subject.name
    if subject.kind == "ServiceAccount" and subject.namespace:
        return "User", service_account_user(subject.namespace, subject.name)
    return None


def capabilities_of(
    inventory: Inventory, principal: Principal, namespace: str = ""
) -> tuple[Holding, ...]:
    """The risky capabilities ``principal`` holds (in catalogue order, cluster-wide holdings of
    each first), one holding per capability and binding (only those in force in ``namespace``
    when given)."""
    index = _holdings_by_subject(inventory)
    keys = [("User", principal.user), *(("Group", group) for group in principal.groups)]
    matching = sorted(entry for key in keys for entry in index.get(key, ()))
    seen: set[tuple[str, int]] = set()
    found: list[Holding] = []
    for _position, holding in matching:
        if not in_force(holding.scope, namespace):
            continue
        key = (holding.capability.id, id(holding.binding))
        if key in seen:
            continue
        seen.add(key)
        found.append(holding)
    return tuple(found)


def collapse_full_access(holdings: tuple[Holding, ...]) -> tuple[Holding, ...]:
    """``holdings`` without the capabilities a binding also grants as full access (cluster-admin
    implies them all): one line for a cluster-admin binding instead of eleven."""
    full = {id(h.binding) for h in holdings if h.capability.id == FULL_ACCESS.id}
    return tuple(
        h for h in holdings if h.capability.id == FULL_ACCESS.id or id(h.binding) not in full
    )

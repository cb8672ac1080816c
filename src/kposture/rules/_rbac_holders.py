"""Who a role's findings reach: the ClusterRoles that aggregate a role, and the subjects that hold
it (through its own bindings or those of a ClusterRole aggregating it).

A role grants nothing until bound, and a ClusterRole carrying an ``aggregate-to-view`` label
grants its rules to everyone bound to ``view``, ``edit`` and ``admin``: the role findings of the
RBAC family name both, in the message and the evidence. Both answers are the same for every
finding on a role, so each is computed once per role and inventory, from the binding index of
``inventory.rbac_graph`` (bindings grouped by role, built once per inventory) and a reverse
aggregation index built once. Neither goes into a fingerprint: a binding gaining a subject must
not churn the finding.

A RoleBinding hands out its role's rules only in its namespace, so its subjects hold what a
finding is about only when that can be held in a namespace (the caller says, from the same
``find_grant`` and ``rbac_scope`` answers the who-can views use): ``get nodes/proxy`` aggregated
into ``edit`` is held by ``edit``'s ClusterRoleBindings, not by a RoleBinding handing ``edit`` out
in one namespace. A RoleBinding holder is named with its namespace. The aggregating roles are
listed in one order whatever the source: ``view``, ``edit``, ``admin``, then the others by name.
"""

from __future__ import annotations

from typing import NamedTuple

from kposture.inventory import Inventory, aggregated_roles
from kposture.inventory.components import CLUSTER_FACTS_KIND
from kposture.inventory.rbac import AUTOUPDATE_ANNOTATION, aggregation_selectors
from kposture.inventory.rbac_defaults import BUILTIN_AGGREGATION
from kposture.inventory.rbac_graph import bindings_of, build
from kposture.model import K8sObject

SHOWN_HOLDERS = 3
"""How many holders a finding names before ``and N more``."""
BUILTIN_ORDER = ("view", "edit", "admin")
"""The default aggregating ClusterRoles, narrowest first (``view`` flows into ``edit`` and
``admin``)."""

_AGGREGATORS = "rbac_holders.aggregators"
_HOLDERS = "rbac_holders.holders"
_BOUND = "rbac_holders.bound"


class Reach(NamedTuple):
    """What a finding on a role says about its reach: the ClusterRoles aggregating it (names, in
    order) and its holders, as text."""

    aggregated_into: tuple[str, ...]
    holders: str

    def text(self) -> str:
        """``; aggregated into view, edit, admin; held by ...`` for a message."""
        into = (
            f"; aggregated into {', '.join(self.aggregated_into)} (through its labels)"
            if self.aggregated_into
            else ""
        )
        return f"{into}; {self.holders}"

    def evidence(self) -> tuple[tuple[str, str], ...]:
        into = (
            (("aggregated_into", ", ".join(self.aggregated_into)),) if self.aggregated_into else ()
        )
        return (*into, ("holders", self.holders))


def reach(role: K8sObject, inventory: Inventory, *, in_namespace: bool = True) -> Reach:
    """The aggregating ClusterRoles and the holders of ``role``, for a finding that can be held in
    a namespace (``in_namespace``: subjects of RoleBindings count) or only cluster-wide (only
    subjects of ClusterRoleBindings do). Memoised per inventory."""
    memo: dict[tuple[int, bool], Reach] = inventory.derived.setdefault(_HOLDERS, {})
    key = (id(role), in_namespace)
    found = memo.get(key)
    if found is None:
        into = aggregators(role, inventory)
        found = memo[key] = Reach(into, _holders_text(role, into, inventory, in_namespace))
    return found


def aggregators(role: K8sObject, inventory: Inventory) -> tuple[str, ...]:
    """The ClusterRoles ``role`` is aggregated into, directly or through another aggregated role:
    scanned ClusterRoles whose aggregationRule reaches it, and for manifests the default ``view``,
    ``edit`` and ``admin`` when it carries a label their bootstrap aggregationRule selects."""
    if role.ref.kind != "ClusterRole":
        return ()
    return _aggregator_index(inventory).get(role.ref.name, ())


def _aggregator_index(inventory: Inventory) -> dict[str, tuple[str, ...]]:
    """ClusterRole name -> the names of the ClusterRoles aggregating it, built once."""
    cached: dict[str, tuple[str, ...]] | None = inventory.derived.get(_AGGREGATORS)
    if cached is not None:
        return cached
    index: dict[str, dict[str, None]] = {}
    cluster_roles = inventory.of_kind("ClusterRole")
    for aggregating in cluster_roles:
        if aggregation_selectors(aggregating):
            for _, source in aggregated_roles(aggregating, inventory):
                index.setdefault(source.ref.name, {})[aggregating.ref.name] = None
    if not inventory.of_kind(CLUSTER_FACTS_KIND):
        # Manifests: the API server's own view, edit and admin aggregate by label (a live
        # cluster's stored copies carry their aggregationRule, read above).
        for name in BUILTIN_ORDER:
            if _opted_out(inventory.get("ClusterRole", "", name)):
                continue
            labels = BUILTIN_AGGREGATION[name]
            for source in cluster_roles:
                if source.ref.name == name:
                    continue
                if any(source.labels.get(label) == "true" for label in labels):
                    index.setdefault(source.ref.name, {})[name] = None
                    for _, nested in aggregated_roles(source, inventory):
                        index.setdefault(nested.ref.name, {})[name] = None
    result = {name: tuple(sorted(names, key=_aggregator_order)) for name, names in index.items()}
    inventory.derived[_AGGREGATORS] = result
    return result


def _aggregator_order(name: str) -> tuple[int, str]:
    """``view``, ``edit``, ``admin`` first, narrowest first, then the other names alphabetically:
    the same on manifests and live clusters, whatever order the ClusterRoles come in."""
    rank = BUILTIN_ORDER.index(name) if name in BUILTIN_ORDER else len(BUILTIN_ORDER)
    return rank, name


def _opted_out(role: K8sObject | None) -> bool:
    return (
        role is not None and str(role.annotations.get(AUTOUPDATE_ANNOTATION, "")).lower() == "false"
    )


def _holders_text(
    role: K8sObject, into: tuple[str, ...], inventory: Inventory, in_namespace: bool
) -> str:
    """``held by A (RoleBinding/ns/b in namespace ns), B (ClusterRoleBinding/c, through
    ClusterRole view) and 4 more``; ``not bound`` when no binding reaches the role; ``not held``
    when only RoleBindings do and the finding cannot be held in a namespace."""
    namespace = role.ref.namespace if role.ref.kind == "Role" else ""
    targets = [(role.ref.kind, namespace, role.ref.name, "")]
    targets.extend(("ClusterRole", "", name, f", through ClusterRole {name}") for name in into)
    shown: list[str] = []
    total = 0
    left_out = 0
    for kind, ns, name, through in targets:
        for namespaced in (False, True):
            first, count = _bound(inventory, kind, ns, name, namespaced)
            if namespaced and not in_namespace:
                left_out += count
                continue
            left = SHOWN_HOLDERS - len(shown)
            shown.extend(f"{who} ({binding}{through})" for who, binding in first[:left])
            total += count
    if not total:
        if left_out:
            return "not held: only RoleBindings bind it, and a RoleBinding grants nothing cluster-scoped"
        return "not bound"
    more = f" and {total - len(shown)} more" if total > len(shown) else ""
    return f"held by {', '.join(shown)}{more}"


def _bound(
    inventory: Inventory, kind: str, namespace: str, name: str, namespaced: bool
) -> tuple[tuple[tuple[str, str], ...], int]:
    """The first few (subject, binding) of the role ``kind`` ``namespace``/``name`` as text, and
    how many subjects its bindings name: of its RoleBindings (``namespaced``, the binding named
    with its namespace) or its ClusterRoleBindings. Once per role and inventory (an aggregating
    role such as ``view`` is asked for every role it aggregates)."""
    memo: dict[tuple[str, str, str, bool], tuple[tuple[tuple[str, str], ...], int]]
    memo = inventory.derived.setdefault(_BOUND, {})
    key = (kind, namespace, name, namespaced)
    found = memo.get(key)
    if found is None:
        entry = bindings_of(inventory, kind, namespace, name)
        first: list[tuple[str, str]] = []
        total = 0
        if entry is not None:
            graph = build(inventory)
            bindings = (
                (b for group in entry.by_namespace.values() for b in group)
                if namespaced
                else entry.cluster
            )
            for binding in bindings:
                subjects = graph.subjects(binding)
                total += len(subjects)
                where = f" in namespace {binding.ref.namespace}" if namespaced else ""
                first.extend(
                    (subject.display(), f"{binding.ref.display()}{where}")
                    for subject in subjects[: SHOWN_HOLDERS - len(first)]
                )
        found = memo[key] = (tuple(first), total)
    return found

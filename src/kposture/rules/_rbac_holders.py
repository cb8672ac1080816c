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

from kposture.inventory import Inventory
from kposture.inventory.rbac_aggregators import aggregators
from kposture.inventory.rbac_graph import bindings_of, build
from kposture.model import K8sObject

SHOWN_HOLDERS = 3
"""How many holders a finding names before ``and N more``."""

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

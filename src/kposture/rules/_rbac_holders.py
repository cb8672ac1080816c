"""Who a role's findings reach: the ClusterRoles that aggregate a role, and the subjects that hold
it (through its own bindings or those of a ClusterRole aggregating it).

A role grants nothing until bound, and a ClusterRole carrying an ``aggregate-to-view`` label
grants its rules to everyone bound to ``view``, ``edit`` and ``admin``: the role findings of the
RBAC family name both, in the message and the evidence. Both answers are the same for every
finding on a role, so each is computed once per role and inventory, from the binding index of
``inventory.rbac_graph`` (bindings grouped by role, built once per inventory) and a reverse
aggregation index built once. Neither goes into a fingerprint: a binding gaining a subject must
not churn the finding.
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


def reach(role: K8sObject, inventory: Inventory) -> Reach:
    """The aggregating ClusterRoles and the holders of ``role`` (memoised per inventory)."""
    memo: dict[int, Reach] = inventory.derived.setdefault(_HOLDERS, {})
    found = memo.get(id(role))
    if found is None:
        into = aggregators(role, inventory)
        found = memo[id(role)] = Reach(into, _holders_text(role, into, inventory))
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
    result = {name: tuple(names) for name, names in index.items()}
    inventory.derived[_AGGREGATORS] = result
    return result


def _opted_out(role: K8sObject | None) -> bool:
    return (
        role is not None and str(role.annotations.get(AUTOUPDATE_ANNOTATION, "")).lower() == "false"
    )


def _holders_text(role: K8sObject, into: tuple[str, ...], inventory: Inventory) -> str:
    """``held by A (RoleBinding/ns/b), B (ClusterRoleBinding/c, through ClusterRole view) and 4
    more``; ``not bound`` when no binding reaches the role."""
    namespace = role.ref.namespace if role.ref.kind == "Role" else ""
    targets = [(role.ref.kind, namespace, role.ref.name, "")]
    targets.extend(("ClusterRole", "", name, f", through ClusterRole {name}") for name in into)
    shown: list[str] = []
    total = 0
    for kind, ns, name, through in targets:
        first, count = _bound(inventory, kind, ns, name)
        left = SHOWN_HOLDERS - len(shown)
        shown.extend(f"{who} ({binding}{through})" for who, binding in first[:left])
        total += count
    if not total:
        return "not bound"
    more = f" and {total - len(shown)} more" if total > len(shown) else ""
    return f"held by {', '.join(shown)}{more}"


def _bound(
    inventory: Inventory, kind: str, namespace: str, name: str
) -> tuple[tuple[tuple[str, str], ...], int]:
    """The first few (subject, binding) of the role ``kind`` ``namespace``/``name``, as text, and
    how many subjects its bindings name; once per role and inventory (an aggregating role such as
    ``view`` is asked for every role it aggregates)."""
    memo: dict[tuple[str, str, str], tuple[tuple[tuple[str, str], ...], int]]
    memo = inventory.derived.setdefault(_BOUND, {})
    key = (kind, namespace, name)
    found = memo.get(key)
    if found is None:
        entry = bindings_of(inventory, kind, namespace, name)
        first: list[tuple[str, str]] = []
        total = 0
        if entry is not None:
            graph = build(inventory)
            for binding in (*entry.cluster, *(b for g in entry.by_namespace.values() for b in g)):
                subjects = graph.subjects(binding)
                total += len(subjects)
                first.extend(
                    (subject.display(), binding.ref.display())
                    for subject in subjects[: SHOWN_HOLDERS - len(first)]
                )
        found = memo[key] = (tuple(first), total)
    return found

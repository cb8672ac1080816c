"""Which ClusterRoles aggregate a ClusterRole: the reverse of aggregation, built once per inventory.

A ClusterRole whose labels an aggregating ClusterRole's ``aggregationRule`` selects grants its rules
to everyone bound to the aggregating one (``view``, ``edit``, ``admin`` or a user's). The RBAC
rules name the aggregating roles on a source role's findings, and the watcher re-judges the source
roles when a binding to an aggregating role changes; both ask here. The aggregating roles are
listed in one order whatever the source: ``view``, ``edit``, ``admin``, then the others by name.
"""

from __future__ import annotations

from kposture.inventory import Inventory, aggregated_roles
from kposture.inventory.components import CLUSTER_FACTS_KIND
from kposture.inventory.rbac import AUTOUPDATE_ANNOTATION, aggregation_selectors
from kposture.inventory.rbac_defaults import BUILTIN_AGGREGATION
from kposture.model import K8sObject

BUILTIN_ORDER = ("view", "edit", "admin")
"""The default aggregating ClusterRoles, narrowest first (``view`` flows into ``edit`` and
``admin``)."""

_AGGREGATORS = "rbac_aggregators.index"
_SOURCES = "rbac_aggregators.sources"


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


def aggregated_sources(name: str, inventory: Inventory) -> tuple[str, ...]:
    """The names of the ClusterRoles aggregated into the ClusterRole ``name``, directly or through
    another aggregated role (the reverse of ``aggregators``)."""
    sources: dict[str, list[str]] | None = inventory.derived.get(_SOURCES)
    if sources is None:
        sources = {}
        for source, into in _aggregator_index(inventory).items():
            for aggregating in into:
                sources.setdefault(aggregating, []).append(source)
        inventory.derived[_SOURCES] = sources
    return tuple(sources.get(name, ()))

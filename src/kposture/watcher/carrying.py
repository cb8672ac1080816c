"""Memoised inventory views that a batch leaves valid, carried from one inventory to the next.

Owns which whole-inventory views the watcher does not rebuild after a batch. An ``Inventory``
memoises views computed over all its objects (``Inventory.derived``); the watcher builds a new
inventory per batch, and rebuilding such a view costs a pass over every object although most
batches cannot change it: the GitOps-managed namespaces, which the ``manual-change`` rule reads for
every object it judges, took about 25 ms per batch with 10,000 objects, more than judging the
changed objects. A view is carried over when no delta of the batch shows in what it reads:

- GitOps-managed namespaces (``inventory.tools.gitops_namespaces``): Argo CD and Flux tracking
  metadata (``dependents.gitops_tracking_changed``), Applications, Kustomizations, HelmReleases;
- the control plane (``inventory.components.control_plane``), which every workload's
  control-plane rules consult: workloads that run (or ran) control-plane containers, ConfigMaps and
  kubelet or encryption configuration, and the ClusterFacts object.

Owner coverage is not carried: the watcher decides it per judged object (``evaluating``).

Any other view is built again on first use. Pure: the caller gives both inventories and the
deltas between them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kposture.inventory import Inventory
from kposture.inventory.components import (
    CLUSTER_FACTS_KIND,
    ENCRYPTION_CONFIG_KIND,
    KUBELET_CONFIG_KIND,
    components_of,
)
from kposture.watcher.dependents import GITOPS_KINDS, WORKLOADS, gitops_tracking_changed
from kposture.watcher.state import Delta

GITOPS_NAMESPACES = "gitops_namespaces"
"""``Inventory.derived`` key of ``inventory.tools.gitops_namespaces``."""
CONTROL_PLANE = "control_plane"
"""``Inventory.derived`` key of ``inventory.components.control_plane``."""
CONFIG_KINDS = frozenset(
    {"ConfigMap", KUBELET_CONFIG_KIND, ENCRYPTION_CONFIG_KIND, CLUSTER_FACTS_KIND}
)
"""Kinds the control plane reads configuration documents or facts from."""

Unchanged = Callable[[Inventory, Inventory, Sequence[Delta]], bool]


def _gitops_unchanged(_old: Inventory, _new: Inventory, deltas: Sequence[Delta]) -> bool:
    return not any(
        delta.key[0] in GITOPS_KINDS or gitops_tracking_changed(delta) for delta in deltas
    )


def _control_plane_unchanged(old: Inventory, new: Inventory, deltas: Sequence[Delta]) -> bool:
    for delta in deltas:
        kind = delta.key[0]
        if kind in CONFIG_KINDS:
            return False
        if kind in WORKLOADS and any(
            components_of(obj) for obj in (delta.old, delta.new) if obj is not None
        ):
            return False
    return _anchor(old) == _anchor(new)


def _anchor(inventory: Inventory) -> tuple[Any, ...]:
    """The ClusterFacts objects (by identity) and the signs of the cluster anchor."""
    anchor = inventory.cluster_anchor
    signs = anchor.raw.get("signs") if anchor is not None else None
    return tuple(id(obj) for obj in inventory.of_kind(CLUSTER_FACTS_KIND)), signs


VIEWS: dict[str, Unchanged] = {
    GITOPS_NAMESPACES: _gitops_unchanged,
    CONTROL_PLANE: _control_plane_unchanged,
}
"""Each carried view and the test that a batch leaves it as it was."""


def carry_views(old: Inventory, new: Inventory, deltas: Sequence[Delta]) -> list[str]:
    """Give ``new`` the views of ``old`` that ``deltas`` cannot change (those ``old`` has built);
    returns the keys carried."""
    carried = []
    for key, unchanged in VIEWS.items():
        view = old.derived.get(key)
        if view is not None and key not in new.derived and unchanged(old, new, deltas):
            new.derived[key] = view
            carried.append(key)
    return carried

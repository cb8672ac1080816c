"""``kposture scan --cluster --save``: record a live cluster scan's findings in the store, as the
watcher does, so ``findings`` and ``history`` show them.

The scan covers the whole cluster: every finding recorded for it that this scan no longer finds
resolves, as ``deleted`` when its object was not listed and ``fixed`` otherwise; findings on kinds
that could not be listed, in namespaces outside ``-n``, or of rules that did not run stay as they
were. ``changed_by`` is each object's last field manager (``inventory.managers``). Only a cluster
scan is saved: manifests are what someone may deploy, not the state of a cluster.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

from kposture import __version__
from kposture.cli.scanning import ScanOutcome, unlisted_kinds
from kposture.inventory.managers import last_manager
from kposture.model import ResourceRef
from kposture.model.lifecycle import Change, Transition
from kposture.sources.cluster import ClusterRead
from kposture.store.connecting import Store
from kposture.store.findings import Scope, reconcile

CLUSTER_SOURCE = "cluster"
"""The ``source`` of a scan row written by ``scan --cluster --save``."""


def save_cluster_scan(
    store: Store,
    outcome: ScanOutcome,
    read: ClusterRead,
    *,
    cluster_name: str | None,
    namespaces: Sequence[str] | None,
    at: dt.datetime,
) -> list[Transition]:
    """Reconcile the scan's findings with the store under ``cluster_name`` (default: the context)."""
    managers: dict[ResourceRef, str] = {}
    for obj in read.loaded.objects:
        manager = last_manager(obj)
        if manager:
            managers[obj.ref] = manager
    findings = outcome.result.findings
    present = {obj.ref for obj in read.loaded.objects} | {f.resource for f in findings}
    scope = Scope.cluster(
        present=present,
        namespaces=namespaces,
        skip_kinds=unlisted_kinds(read),
        rules=outcome.result.rule_ids_run,
    )
    return reconcile(
        store,
        cluster_name or read.context,
        findings,
        scope,
        at,
        changed_by_of=lambda ref: managers.get(ref, ""),
        source=CLUSTER_SOURCE,
        server=read.server,
        tool_version=__version__,
        objects=outcome.result.objects_scanned,
    )


def summary(transitions: Sequence[Transition], cluster: str, store_url: str) -> str:
    """One line for stderr: ``saved cluster dev to URL: 2 opened, 1 resolved, 0 reopened``."""
    counts = Counter(t.change for t in transitions)
    parts = [f"{counts[change]} {change.value}" for change in _ALWAYS]
    parts.extend(f"{counts[change]} {change.value}" for change in _IF_ANY if counts[change])
    return f"saved cluster {cluster} to {store_url}: {', '.join(parts)}"


_ALWAYS = (Change.OPENED, Change.RESOLVED, Change.REOPENED)
_IF_ANY = (Change.SUPPRESSED, Change.UNSUPPRESSED)

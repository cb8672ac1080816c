"""Who made the change behind a transition: the ``changed_by`` the store keeps on each transition
and finding, and the alert carries.

An object's own change is attributed to the field manager whose ``metadata.managedFields`` entry
the batch changed (an entry that is new, or whose time or fields moved, between the object before
the batch and after it). Of several, the one that manages more than metadata and status wins (the
``spec`` of a Deployment, a ConfigMap's ``data``, a Role's ``rules``), then metadata, and a
status-only entry (``subresource: status``, or an entry managing nothing but ``status``, as on
servers before 1.22) comes last; then the latest time, then the later entry. So ``kubectl patch``
of a Deployment's template is ``kubectl-patch`` even when the controller manager's status update
(which also sets the revision annotation) landed in the same batch. An object seen for the first
time (the start, a relist) is judged the same way over every entry. When no entry changed (two
edits in the same second, or ``kubectl annotate ... key-``: removing a field does not move its
manager's time), the most recent entry is the best guess, not the one that changes the most: an
8-minute-old ``kubectl apply`` did not remove the annotation the later ``kubectl-annotate`` set; a
status-only entry is taken only when there is no other.

A finding that changed because another object did (a NetworkPolicy created resolves the
namespace's ``workload-not-isolated`` findings) is attributed to that object's change:
``kubectl-client-side-apply via NetworkPolicy/shop/deny-all`` (``deletion of
NetworkPolicy/shop/deny-all`` when it was deleted: a deletion leaves no managedFields to name who
did it). A deleted object's own findings have no author (``""``): who deleted it is in the audit
log, not in the object. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kposture.inventory import Inventory
from kposture.model import K8sObject, ResourceRef
from kposture.sources.cluster_watch import FIELDS
from kposture.watcher.state import Delta, Key, key_of

_OWN, _METADATA, _STATUS = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Entry:
    manager: str
    operation: str
    subresource: str
    time: str
    fields: str | None

    @property
    def rank(self) -> int:
        """0: changes the object itself; 1: only its metadata; 2: only reports status."""
        if self.subresource == "status":
            return _STATUS
        if self.fields is None:
            return _OWN  # not summarised (a scan's object): assume a change
        tops = set(self.fields.split(",")) - {""}
        if tops - {"metadata", "status"}:
            return _OWN
        return _METADATA if "metadata" in tops else _STATUS


def _entries(obj: K8sObject | None) -> list[_Entry]:
    if obj is None:
        return []
    meta = obj.raw.get("metadata")
    raw = meta.get("managedFields") if isinstance(meta, Mapping) else None
    entries: list[_Entry] = []
    for entry in raw if isinstance(raw, list) else ():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("manager"), str):
            continue
        fields = entry.get(FIELDS)
        entries.append(
            _Entry(
                entry["manager"],
                str(entry.get("operation") or ""),
                str(entry.get("subresource") or ""),
                str(entry.get("time") or ""),
                fields if isinstance(fields, str) else None,
            )
        )
    return entries


def _best(entries: Iterable[tuple[int, _Entry]]) -> str:
    """The manager of the entry that changes the most of the object, latest, last in the list."""
    candidates = [(index, entry) for index, entry in entries if entry.manager]
    if not candidates:
        return ""
    _, entry = max(candidates, key=lambda item: (-item[1].rank, item[1].time, item[0]))
    return entry.manager


def _latest(entries: Iterable[tuple[int, _Entry]]) -> str:
    """The manager of the most recent entry that is not status-only (a status-only one when
    there is no other), then the one that changes the most, then the later in the list."""
    candidates = [(index, entry) for index, entry in entries if entry.manager]
    if not candidates:
        return ""
    _, entry = max(
        candidates,
        key=lambda item: (item[1].rank != _STATUS, item[1].time, -item[1].rank, item[0]),
    )
    return entry.manager


def author(before: K8sObject | None, after: K8sObject) -> str:
    """The field manager who made the change from ``before`` (None: not seen before) to
    ``after``; ``""`` when the object names none."""
    entries = list(enumerate(_entries(after)))
    if before is None:
        return _best(entries)
    known = set(_entries(before))
    changed = [(index, entry) for index, entry in entries if entry not in known]
    return _best(changed) or _latest(entries)


def _display(key: Key) -> str:
    kind, namespace, name = key
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


class Attribution:
    """``changed_by_of`` for one reconcile: objects changed in the batch (``deltas``, in order),
    objects re-evaluated because of another's change (``causes``: dependent to changed object),
    and, for everything else, the object's own managedFields in ``inventory``."""

    def __init__(
        self,
        inventory: Inventory,
        deltas: Iterable[Delta] = (),
        causes: Mapping[Key, Key] | None = None,
    ) -> None:
        self.inventory = inventory
        self.causes = causes or {}
        self.before: dict[Key, K8sObject | None] = {}
        for delta in deltas:
            self.before.setdefault(delta.key, delta.old)

    def __call__(self, ref: ResourceRef) -> str:
        key = key_of(ref)
        cause = self.causes.get(key)
        if key not in self.before and cause is not None:
            if self.inventory.get(*cause) is None:
                return f"deletion of {_display(cause)}"
            who = self._own(cause)
            return f"{who} via {_display(cause)}" if who else f"a change to {_display(cause)}"
        return self._own(key)

    def _own(self, key: Key) -> str:
        obj = self.inventory.get(*key)
        if obj is None:
            return ""
        return author(self.before.get(key), obj)

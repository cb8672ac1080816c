"""Who last changed an object, from its ``metadata.managedFields``: the field manager
(``kubectl-client-side-apply``, ``helm``, ``argocd-controller``...), the operation (``Apply`` or
``Update``) and the time of the most recent entry.

The cluster source keeps these three of every entry (not the field sets), so ``scan --cluster
--save`` and the watcher both record the same ``changed_by`` on finding transitions. Entries for
the ``status`` (or another) subresource are controllers reporting state, not someone changing the
object: they count only when no entry for the object itself exists. Entries without a time sort
first; of entries at the same time (times have second resolution), the later in the list wins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kposture.model import K8sObject


@dataclass(frozen=True, slots=True)
class ManagedChange:
    """One managedFields entry: who, how and when."""

    manager: str
    operation: str
    time: dt.datetime | None
    subresource: str = ""


def _time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed


def managed_changes(obj: K8sObject | Mapping[str, Any]) -> list[ManagedChange]:
    """The object's managedFields entries that name a manager, in list order."""
    raw = obj.raw if isinstance(obj, K8sObject) else obj
    meta = raw.get("metadata")
    entries = meta.get("managedFields") if isinstance(meta, Mapping) else None
    changes: list[ManagedChange] = []
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, Mapping):
            continue
        manager = entry.get("manager")
        if not isinstance(manager, str) or not manager:
            continue
        operation = entry.get("operation")
        subresource = entry.get("subresource")
        changes.append(
            ManagedChange(
                manager,
                operation if isinstance(operation, str) else "",
                _time(entry.get("time")),
                subresource if isinstance(subresource, str) else "",
            )
        )
    return changes


_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


def last_change(obj: K8sObject | Mapping[str, Any]) -> ManagedChange | None:
    """The most recent managedFields entry (for the object itself when there is one)."""
    changes = managed_changes(obj)
    own = [change for change in changes if not change.subresource]
    candidates = own or changes
    if not candidates:
        return None
    # max() keeps the first of equal keys: the position breaks ties towards the later entry.
    latest = max(enumerate(candidates), key=lambda item: (item[1].time or _EPOCH, item[0]))
    return latest[1]


def last_manager(obj: K8sObject | Mapping[str, Any]) -> str:
    """The field manager of the most recent change, ``""`` when the object carries none."""
    change = last_change(obj)
    return change.manager if change is not None else ""

"""The watcher's picture of the cluster: every watched object by key, changed one event at a time.

Owns the object set behind incremental evaluation. ``apply`` takes a watch event (or a relist
snapshot of one kind, whose absent objects are deletions missed while away) and returns the
``Delta``s it made: the object before and after, by key ``(kind, namespace, name)``; what a delta
affects is for ``dependents`` to decide. A relisted object whose resourceVersion did not change is
not a delta.

``inventory()`` builds an ``Inventory`` of the current objects (plus the ClusterFacts object). The
``Inventory`` memoises derived views (RBAC graph, NetworkPolicy index, owner coverage, tools) and
may not change, so a new one is built after each batch of changes: about 4 ms for 10,000 objects,
while its views are carried over when the batch cannot change them (``carrying``) or rebuilt when
a rule asks for them. Objects that did not change keep their ``K8sObject`` (and its per-object
memo) across inventories. The uid index lets the judge find a workload's owner without indexing
the whole inventory; the counts per kind feed ``kposture_watched_objects``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kposture.inventory import Inventory
from kposture.model import K8sObject, ResourceRef, SourceLocation

Key = tuple[str, str, str]
"""(kind, namespace, name): one object; a kind is served in one version per watch."""


def key_of(ref: ResourceRef) -> Key:
    return (ref.kind, ref.namespace, ref.name)


@dataclass(frozen=True, slots=True)
class Delta:
    """One object's change: ``old`` None when it was added, ``new`` None when it was deleted."""

    key: Key
    old: K8sObject | None
    new: K8sObject | None


def _uid(obj: K8sObject | None) -> str:
    if obj is None:
        return ""
    meta = obj.raw.get("metadata")
    uid = meta.get("uid") if isinstance(meta, Mapping) else None
    return uid if isinstance(uid, str) else ""


def owner_uids(obj: K8sObject) -> tuple[str, ...]:
    meta = obj.raw.get("metadata")
    refs = meta.get("ownerReferences") if isinstance(meta, Mapping) else None
    if not isinstance(refs, list):
        return ()
    return tuple(str(r["uid"]) for r in refs if isinstance(r, Mapping) and r.get("uid"))


class ClusterState:
    """The current objects, indexes of objects by uid and of children by owner uid, the count of
    objects per kind, and the ClusterFacts object."""

    def __init__(self, location: SourceLocation | None, make_ref: Any) -> None:
        self._location = location
        self._make_ref = make_ref
        self.objects: dict[Key, K8sObject] = {}
        self._children: defaultdict[str, set[Key]] = defaultdict(set)
        self._by_uid: dict[str, Key] = {}
        self.kinds: Counter[str] = Counter()
        """Objects held per kind, kept up to date with every change."""
        self.facts: K8sObject | None = None

    def __len__(self) -> int:
        return len(self.objects)

    def wrap(self, raw: dict[str, Any]) -> K8sObject:
        return K8sObject(self._make_ref(raw), raw, self._location)

    def set_facts(self, raw: dict[str, Any] | None) -> Delta | None:
        old = self.facts
        self.facts = None if raw is None else self.wrap(raw)
        if old is None and self.facts is None:
            return None
        ref = (self.facts or old).ref  # type: ignore[union-attr]
        return Delta(key_of(ref), old, self.facts)

    # -- changes ---------------------------------------------------------------------------------

    def upsert(self, raw: dict[str, Any]) -> Delta:
        new = self.wrap(raw)
        key = key_of(new.ref)
        old = self.objects.get(key)
        self._unindex(key, old)
        self.objects[key] = new
        self._index(key, new)
        return Delta(key, old, new)

    def delete(self, raw: dict[str, Any]) -> Delta | None:
        gone = self.wrap(raw)
        key = key_of(gone.ref)
        old = self.objects.pop(key, None)
        if old is None:
            return None
        self._unindex(key, old)
        return Delta(key, old, None)

    def replace_kind(
        self, kind: str, namespace: str | None, items: Iterable[dict[str, Any]]
    ) -> list[Delta]:
        """A relist of ``kind`` (in ``namespace``, or everywhere): objects that are not in it any
        more are deleted; the others are upserted when their resourceVersion differs."""
        deltas: list[Delta] = []
        seen: set[Key] = set()
        for raw in items:
            new = self.wrap(raw)
            key = key_of(new.ref)
            seen.add(key)
            old = self.objects.get(key)
            if old is not None and _version(old) == _version(new) and _version(new):
                continue
            deltas.append(self.upsert(raw))
        for key in [
            k
            for k in self.objects
            if k[0] == kind and (namespace is None or k[1] == namespace) and k not in seen
        ]:
            old = self.objects.pop(key)
            self._unindex(key, old)
            deltas.append(Delta(key, old, None))
        return deltas

    def _index(self, key: Key, new: K8sObject) -> None:
        self.kinds[key[0]] += 1
        uid = _uid(new)
        if uid:
            self._by_uid[uid] = key
        for owner in owner_uids(new):
            self._children[owner].add(key)

    def _unindex(self, key: Key, old: K8sObject | None) -> None:
        if old is None:
            return
        self.kinds[key[0]] -= 1
        if not self.kinds[key[0]]:
            del self.kinds[key[0]]
        uid = _uid(old)
        if uid and self._by_uid.get(uid) == key:
            del self._by_uid[uid]
        for uid in owner_uids(old):
            children = self._children.get(uid)
            if children is not None:
                children.discard(key)
                if not children:
                    del self._children[uid]

    # -- reads -----------------------------------------------------------------------------------

    def by_uid(self, uid: str) -> K8sObject | None:
        """The object with this ``metadata.uid``, if held."""
        key = self._by_uid.get(uid)
        return self.objects.get(key) if key is not None else None

    def children(self, obj: K8sObject | None) -> set[Key]:
        uid = _uid(obj)
        return set(self._children.get(uid, ())) if uid else set()

    def in_namespace(self, namespace: str) -> Iterator[Key]:
        return (key for key in self.objects if key[1] == namespace)

    def inventory(self) -> Inventory:
        objects: list[K8sObject] = list(self.objects.values())
        if self.facts is not None:
            objects.append(self.facts)
        return Inventory(objects)


def _version(obj: K8sObject) -> str:
    meta = obj.raw.get("metadata")
    version = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
    return version if isinstance(version, str) else ""

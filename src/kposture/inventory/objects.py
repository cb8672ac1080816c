"""The inventory: every object of one scan, indexed by kind, namespace and name.

Built once per scan by the driver and read (never changed) by rules and the engine.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

from kposture.model import K8sObject


class Inventory:
    """An immutable collection of objects with the lookups rules need."""

    __slots__ = ("_by_key", "_by_kind", "_objects")

    def __init__(self, objects: Iterable[K8sObject]) -> None:
        self._objects: tuple[K8sObject, ...] = tuple(objects)
        by_kind: defaultdict[str, list[K8sObject]] = defaultdict(list)
        by_key: dict[tuple[str, str, str], K8sObject] = {}
        for obj in self._objects:
            by_kind[obj.ref.kind].append(obj)
            by_key.setdefault((obj.ref.kind, obj.ref.namespace, obj.ref.name), obj)
        self._by_kind = {kind: tuple(objs) for kind, objs in by_kind.items()}
        self._by_key = by_key

    def __iter__(self) -> Iterator[K8sObject]:
        return iter(self._objects)

    def __len__(self) -> int:
        return len(self._objects)

    @property
    def objects(self) -> Sequence[K8sObject]:
        return self._objects

    def of_kind(self, kind: str, namespace: str | None = None) -> Sequence[K8sObject]:
        """Objects of ``kind``, optionally only those in ``namespace``."""
        objs = self._by_kind.get(kind, ())
        if namespace is None:
            return objs
        return tuple(obj for obj in objs if obj.ref.namespace == namespace)

    def get(self, kind: str, namespace: str, name: str) -> K8sObject | None:
        """The object with this kind, namespace ('' for cluster scope) and name, if scanned."""
        return self._by_key.get((kind, namespace, name))

    def namespaces(self) -> frozenset[str]:
        """Every namespace that holds a scanned object or is declared as a Namespace object."""
        names = {obj.ref.namespace for obj in self._objects if obj.ref.namespace}
        names.update(obj.ref.name for obj in self._by_kind.get("Namespace", ()))
        return frozenset(names)

"""The inventory: every object of one scan, indexed by kind, namespace and name.

Built once per scan by the driver and read (never changed) by rules and the engine.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from kposture.model import K8sObject, ResourceRef, SourceLocation


class Inventory:
    """An immutable collection of objects with the lookups rules need."""

    __slots__ = ("_by_key", "_by_kind", "_implied_namespaces", "_objects", "derived")

    def __init__(self, objects: Iterable[K8sObject]) -> None:
        self._objects: tuple[K8sObject, ...] = tuple(objects)
        by_kind: defaultdict[str, list[K8sObject]] = defaultdict(list)
        by_key: dict[tuple[str, str, str], K8sObject] = {}
        for obj in self._objects:
            by_kind[obj.ref.kind].append(obj)
            by_key.setdefault((obj.ref.kind, obj.ref.namespace, obj.ref.name), obj)
        self._by_kind = {kind: tuple(objs) for kind, objs in by_kind.items()}
        self._by_key = by_key
        self._implied_namespaces = _implied_namespaces(self._objects, by_key)
        self.derived: dict[str, Any] = {}
        """Memo of views computed from the objects (e.g. NetworkPolicies by namespace), built on
        first use by ``inventory`` modules; the objects never change, so a view stays valid."""

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

    @property
    def implied_namespaces(self) -> Sequence[K8sObject]:
        """A stand-in Namespace object for each namespace that objects use but no Namespace object
        declares, located at the first object in it. Namespace-scope rules judge these too."""
        return self._implied_namespaces

    def evaluation_order(self) -> Iterator[K8sObject]:
        """Every object to evaluate: the scanned ones, then the implied namespaces."""
        yield from self._objects
        yield from self._implied_namespaces

    def namespaces(self) -> frozenset[str]:
        """Every namespace that holds a scanned object or is declared as a Namespace object."""
        names = {obj.ref.namespace for obj in self._objects if obj.ref.namespace}
        names.update(obj.ref.name for obj in self._by_kind.get("Namespace", ()))
        return frozenset(names)


IMPLIED_ORIGIN = "implied"
"""``SourceLocation.origin`` of a Namespace that no scanned object declares."""


def _implied_namespaces(
    objects: Sequence[K8sObject], by_key: Mapping[tuple[str, str, str], K8sObject]
) -> tuple[K8sObject, ...]:
    first_seen: dict[str, K8sObject] = {}
    for obj in objects:
        namespace = obj.ref.namespace
        if namespace and namespace not in first_seen and ("Namespace", "", namespace) not in by_key:
            first_seen[namespace] = obj
    implied = []
    for namespace, first in first_seen.items():
        where = first.location
        location = (
            SourceLocation(where.file, where.line, where.column, IMPLIED_ORIGIN)
            if where is not None
            else None
        )
        raw = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        implied.append(K8sObject(ResourceRef("v1", "Namespace", "", namespace), raw, location))
    return tuple(implied)


CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)
"""Well-known cluster-scoped kinds; anything else is treated as namespaced."""


def namespace_of(obj: K8sObject) -> str:
    """The namespace an object lands in: its own; ``default`` for a namespaced object whose manifest
    names none (kubectl applies it to the current namespace, usually ``default``); ``""`` for
    cluster-scoped kinds."""
    if obj.ref.namespace or obj.ref.kind in CLUSTER_SCOPED_KINDS:
        return obj.ref.namespace
    return "default"

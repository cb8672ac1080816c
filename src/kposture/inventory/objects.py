"""The inventory: every object of one scan, indexed by kind, namespace and name.

Built once per scan by the driver and read (never changed) by rules and the engine.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from kposture.inventory.components import (
    CLUSTER_ANCHOR_NAME,
    CLUSTER_FACTS_API_VERSION,
    CLUSTER_FACTS_KIND,
    ENCRYPTION_CONFIG_KIND,
    KUBELET_CONFIG_KIND,
    cluster_signs,
)
from kposture.model import K8sObject, ResourceRef, SourceLocation


class Inventory:
    """An immutable collection of objects with the lookups rules need."""

    __slots__ = ("_by_key", "_by_kind", "_implied", "_implied_namespaces", "_objects", "derived")

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
        self._implied = (*self._implied_namespaces, *_implied_cluster(self._objects, by_kind))
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

    @property
    def cluster_anchor(self) -> K8sObject | None:
        """The ClusterFacts object cluster-wide findings attach to: the scanned one (a live source
        adds it), else one implied when the scan looks like a cluster (``components.cluster_signs``),
        else None (an application repository)."""
        facts = self._by_kind.get(CLUSTER_FACTS_KIND)
        if facts:
            return facts[0]
        implied = self._implied[len(self._implied_namespaces) :]
        return implied[0] if implied else None

    def evaluation_order(self) -> Iterator[K8sObject]:
        """Every object to evaluate: the scanned ones, then the implied namespaces and the implied
        cluster anchor."""
        yield from self._objects
        yield from self._implied

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
        # Anchored where the namespace is named: the first user's ``metadata.namespace`` (for a
        # Kustomize object whose namespace a kustomization set, that kustomization's line).
        where = first.locate(("metadata", "namespace"))
        location = SourceLocation(*where, IMPLIED_ORIGIN) if where is not None else None
        raw = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        implied.append(K8sObject(ResourceRef("v1", "Namespace", "", namespace), raw, location))
    return tuple(implied)


def _implied_cluster(
    objects: Sequence[K8sObject], by_kind: Mapping[str, list[K8sObject]]
) -> tuple[K8sObject, ...]:
    if CLUSTER_FACTS_KIND in by_kind:
        return ()
    signs = cluster_signs(objects)
    if not signs:
        return ()
    first = next((o for o in objects if o.location is not None), None)
    where = first.location if first is not None else None
    location = (
        SourceLocation(where.file, where.line, where.column, IMPLIED_ORIGIN)
        if where is not None
        else None
    )
    raw = {
        "apiVersion": CLUSTER_FACTS_API_VERSION,
        "kind": CLUSTER_FACTS_KIND,
        "metadata": {"name": CLUSTER_ANCHOR_NAME},
        "signs": list(signs),
    }
    ref = ResourceRef(CLUSTER_FACTS_API_VERSION, CLUSTER_FACTS_KIND, "", CLUSTER_ANCHOR_NAME)
    return (K8sObject(ref, raw, location),)


CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        CLUSTER_FACTS_KIND,
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        ENCRYPTION_CONFIG_KIND,
        "FlowSchema",
        "IngressClass",
        KUBELET_CONFIG_KIND,
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

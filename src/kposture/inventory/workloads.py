"""Pod-spec accessors for every workload kind, so rules never walk a pod template themselves.

``pod_spec`` finds the pod spec of a Pod, a controller with a pod template, a CronJob (batch/v1 and
v1beta1) or a PodTemplate; ``containers`` yields every container (init and ephemeral included) with the
JSON path of each, so findings point at the exact field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kposture.model import JsonPath, K8sObject

_TEMPLATE_PATHS: Mapping[str, JsonPath] = {
    "Pod": (),
    "PodTemplate": ("template",),
    "Deployment": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}

WORKLOAD_KINDS: tuple[str, ...] = tuple(_TEMPLATE_PATHS)
"""Kinds that carry a pod spec."""

CONTAINER_FIELDS: tuple[str, ...] = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True, slots=True)
class PodSpecRef:
    """A pod spec and its JSON path inside the object."""

    spec: Mapping[str, Any]
    path: JsonPath


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """One container, the list it belongs to (``containers``, ``initContainers``, ``ephemeralContainers``)
    and its JSON path inside the object."""

    container: Mapping[str, Any]
    path: JsonPath
    list_name: str

    @property
    def name(self) -> str:
        name = self.container.get("name")
        return name if isinstance(name, str) else f"#{self.path[-1]}"


def _walk(raw: Mapping[str, Any], path: JsonPath) -> Mapping[str, Any] | None:
    node: Any = raw
    for key in path:
        # Parsed objects are plain dicts: the exact type test is much cheaper than an ABC check.
        if type(node) is not dict and not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node if type(node) is dict or isinstance(node, Mapping) else None


def pod_template_metadata(obj: K8sObject) -> PodSpecRef | None:
    """The metadata of the pod (for a Pod) or of its template (for a controller), with its path."""
    base = _TEMPLATE_PATHS.get(obj.ref.kind)
    if base is None:
        return None
    path = (*base, "metadata")
    meta = _walk(obj.raw, path)
    return PodSpecRef(meta if meta is not None else {}, path)


def pod_spec(obj: K8sObject) -> PodSpecRef | None:
    """The pod spec of a workload with its path, or None when the object has none."""
    memo = obj.derived
    if "pod_spec" in memo:
        cached: PodSpecRef | None = memo["pod_spec"]
        return cached
    base = _TEMPLATE_PATHS.get(obj.ref.kind)
    ref = None
    if base is not None:
        path = (*base, "spec")
        spec = _walk(obj.raw, path)
        ref = PodSpecRef(spec, path) if spec is not None else None
    memo["pod_spec"] = ref
    return ref


def containers(obj: K8sObject) -> tuple[ContainerRef, ...]:
    """Every container of a workload (init, regular, ephemeral), each with its JSON path."""
    memo = obj.derived
    if "containers" in memo:
        cached: tuple[ContainerRef, ...] = memo["containers"]
        return cached
    found: list[ContainerRef] = []
    ref = pod_spec(obj)
    if ref is not None:
        for list_name in CONTAINER_FIELDS:
            items = ref.spec.get(list_name)
            if not isinstance(items, list):
                continue
            for index, container in enumerate(items):
                if type(container) is dict or isinstance(container, Mapping):
                    found.append(ContainerRef(container, (*ref.path, list_name, index), list_name))
    result = tuple(found)
    memo["containers"] = result
    return result

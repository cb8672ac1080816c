"""Pure indexes and derived views over a set of Kubernetes objects.

Rules read objects through here: lookups by kind, namespace and name, and the pod-spec accessors that
hide the differences between workload kinds.
"""

from kposture.inventory.objects import IMPLIED_ORIGIN, Inventory
from kposture.inventory.workloads import (
    WORKLOAD_KINDS,
    ContainerRef,
    PodSpecRef,
    containers,
    pod_spec,
    pod_template_metadata,
)

__all__ = [
    "IMPLIED_ORIGIN",
    "WORKLOAD_KINDS",
    "ContainerRef",
    "Inventory",
    "PodSpecRef",
    "containers",
    "pod_spec",
    "pod_template_metadata",
]

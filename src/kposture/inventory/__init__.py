"""Pure indexes and derived views over a set of Kubernetes objects.

Rules read objects through here: lookups by kind, namespace and name, and the pod-spec accessors that
hide the differences between workload kinds.
"""

from kposture.inventory.images import ImageRef, parse_image, registry_allowed
from kposture.inventory.network import (
    Coverage,
    PolicyView,
    coverage,
    effective_namespace,
    pod_labels,
    policies_in,
    selected_workloads,
    service_type,
    services_exposing,
    workloads_by_namespace,
)
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
    "Coverage",
    "ImageRef",
    "Inventory",
    "PodSpecRef",
    "PolicyView",
    "containers",
    "coverage",
    "effective_namespace",
    "parse_image",
    "pod_labels",
    "pod_spec",
    "pod_template_metadata",
    "policies_in",
    "registry_allowed",
    "selected_workloads",
    "service_type",
    "services_exposing",
    "workloads_by_namespace",
]

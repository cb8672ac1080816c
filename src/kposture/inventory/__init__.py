"""Pure indexes and derived views over a set of Kubernetes objects.

Rules read objects through here: lookups by kind, namespace and name, and the pod-spec accessors that
hide the differences between workload kinds.
"""

from kposture.inventory.credentials import (
    CredentialMatch,
    find_credentials,
    find_credentials_in_base64,
)
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
from kposture.inventory.objects import (
    CLUSTER_SCOPED_KINDS,
    IMPLIED_ORIGIN,
    Inventory,
    namespace_of,
)
from kposture.inventory.rbac import (
    BINDING_KINDS,
    EVERYONE,
    ROLE_KINDS,
    BoundRole,
    EffectiveRule,
    Subject,
    aggregated_roles,
    bound_role,
    effective_rules,
    full_access,
    is_default_subject,
    is_full_access,
    is_kubernetes_default,
    subjects,
)
from kposture.inventory.rbac_csr import CsrSubject, csr_subject
from kposture.inventory.rbac_grants import Grant, Target, describe_grant, find_grant
from kposture.inventory.rbac_rules import PolicyRule, policy_rule
from kposture.inventory.workloads import (
    WORKLOAD_KINDS,
    ContainerRef,
    PodSpecRef,
    containers,
    pod_spec,
    pod_template_metadata,
)

__all__ = [
    "BINDING_KINDS",
    "CLUSTER_SCOPED_KINDS",
    "EVERYONE",
    "IMPLIED_ORIGIN",
    "ROLE_KINDS",
    "WORKLOAD_KINDS",
    "BoundRole",
    "ContainerRef",
    "Coverage",
    "CredentialMatch",
    "CsrSubject",
    "EffectiveRule",
    "Grant",
    "ImageRef",
    "Inventory",
    "PodSpecRef",
    "PolicyRule",
    "PolicyView",
    "Subject",
    "Target",
    "aggregated_roles",
    "bound_role",
    "containers",
    "coverage",
    "csr_subject",
    "describe_grant",
    "effective_namespace",
    "effective_rules",
    "find_credentials",
    "find_credentials_in_base64",
    "find_grant",
    "full_access",
    "is_default_subject",
    "is_full_access",
    "is_kubernetes_default",
    "namespace_of",
    "parse_image",
    "pod_labels",
    "pod_spec",
    "pod_template_metadata",
    "policies_in",
    "policy_rule",
    "registry_allowed",
    "selected_workloads",
    "service_type",
    "services_exposing",
    "subjects",
    "workloads_by_namespace",
]

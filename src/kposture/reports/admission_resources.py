"""The API resource (group, versions, plural) of every kind a built-in rule judges, for the admission
webhook's ``rules``; and the kinds rules judge that never pass through admission.

Pure data beside ``admission_manifests``, its only user: reports may not import the rules, so the CLI
asks the registry for its kinds and maps them here (``resources_for_kinds``). A unit test fails when
a rule judges a kind that is in neither table, so a new kind cannot silently escape admission.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiResource:
    """How the API serves one kind: group ('' for core), versions, plural resource name."""

    group: str
    versions: tuple[str, ...]
    plural: str


def _r(group: str, versions: str, plural: str) -> ApiResource:
    return ApiResource(group, tuple(versions.split()), plural)


API_RESOURCES: Mapping[str, ApiResource] = {
    "Pod": _r("", "v1", "pods"),
    "PodTemplate": _r("", "v1", "podtemplates"),
    "ReplicationController": _r("", "v1", "replicationcontrollers"),
    "Service": _r("", "v1", "services"),
    "Endpoints": _r("", "v1", "endpoints"),
    "ConfigMap": _r("", "v1", "configmaps"),
    "Secret": _r("", "v1", "secrets"),
    "ServiceAccount": _r("", "v1", "serviceaccounts"),
    "Namespace": _r("", "v1", "namespaces"),
    "PersistentVolumeClaim": _r("", "v1", "persistentvolumeclaims"),
    "LimitRange": _r("", "v1", "limitranges"),
    "ResourceQuota": _r("", "v1", "resourcequotas"),
    "Deployment": _r("apps", "v1", "deployments"),
    "ReplicaSet": _r("apps", "v1", "replicasets"),
    "StatefulSet": _r("apps", "v1", "statefulsets"),
    "DaemonSet": _r("apps", "v1", "daemonsets"),
    "Job": _r("batch", "v1", "jobs"),
    "CronJob": _r("batch", "v1 v1beta1", "cronjobs"),
    "HorizontalPodAutoscaler": _r("autoscaling", "v2 v1", "horizontalpodautoscalers"),
    "PodDisruptionBudget": _r("policy", "v1 v1beta1", "poddisruptionbudgets"),
    "Ingress": _r("networking.k8s.io", "v1 v1beta1", "ingresses"),
    "NetworkPolicy": _r("networking.k8s.io", "v1", "networkpolicies"),
    "Role": _r("rbac.authorization.k8s.io", "v1", "roles"),
    "RoleBinding": _r("rbac.authorization.k8s.io", "v1", "rolebindings"),
    "ClusterRole": _r("rbac.authorization.k8s.io", "v1", "clusterroles"),
    "ClusterRoleBinding": _r("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
    "CertificateSigningRequest": _r(
        "certificates.k8s.io", "v1 v1beta1", "certificatesigningrequests"
    ),
    "PeerAuthentication": _r("security.istio.io", "v1 v1beta1", "peerauthentications"),
    "DestinationRule": _r("networking.istio.io", "v1 v1beta1 v1alpha3", "destinationrules"),
    "Route": _r("route.openshift.io", "v1", "routes"),
}
"""Every kind a built-in rule judges that the API server admits (a test keeps it complete)."""

NOT_ADMITTED_KINDS: Mapping[str, str] = {
    "ClusterFacts": "facts kposture gathers about a live cluster, not an API object",
    "KubeletConfiguration": "a node's kubelet configuration file, not an API object",
    "EncryptionConfiguration": "the API server's encryption configuration file, not an API object",
}
"""Kinds rules judge that never pass through admission, with the reason."""


def resources_for_kinds(kinds: Iterable[str]) -> tuple[tuple[ApiResource, ...], tuple[str, ...]]:
    """The API resources for ``kinds`` (sorted, deduplicated) and the kinds with no entry in
    either table (the caller reports them: a new rule kind needs an ``API_RESOURCES`` entry)."""
    wanted = sorted(set(kinds))
    unknown = tuple(k for k in wanted if k not in API_RESOURCES and k not in NOT_ADMITTED_KINDS)
    resources = {API_RESOURCES[k] for k in wanted if k in API_RESOURCES}
    return tuple(sorted(resources, key=lambda r: (r.group, r.plural))), unknown

"""The kinds a cluster scan lists, and which API versions may serve each one.

Owns the catalogue: for every kind the rules need, its API group, the versions to try in order of
preference (discovery picks the first one the server serves), its plural resource name, whether it
is namespaced, and the sentence a report shows when the kind cannot be listed (which rules lose
coverage). Custom resources of well-known tools are in the catalogue too; discovery decides whether
their CRDs exist. Pure data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One kind to list: ``versions`` in preference order; ``coverage`` names what a failure costs."""

    kind: str
    group: str
    versions: tuple[str, ...]
    plural: str
    namespaced: bool
    coverage: str = ""
    optional: bool = False
    """A custom resource: absent from discovery means the tool is not installed, not a problem."""

    def lost_coverage(self) -> str:
        return self.coverage or f"rules about {kinds(self.kind)} did not run on the cluster"


def kinds(kind: str) -> str:
    """The plural of a kind for messages: Ingresses, NetworkPolicies, Pods."""
    if kind.endswith("s"):
        return kind + "es"
    if kind.endswith("y"):
        return kind[:-1] + "ies"
    return kind + "s"


@dataclass(frozen=True, slots=True)
class ServedKind:
    """A catalogue kind as this server serves it: the spec and the chosen version."""

    spec: KindSpec
    version: str

    @property
    def api_version(self) -> str:
        return f"{self.spec.group}/{self.version}" if self.spec.group else self.version

    @property
    def kind(self) -> str:
        return self.spec.kind

    def path(self, namespace: str | None = None) -> str:
        """The list path, for one namespace when given (namespaced kinds only)."""
        base = f"/apis/{self.spec.group}/{self.version}" if self.spec.group else "/api/v1"
        if namespace is not None and self.spec.namespaced:
            return f"{base}/namespaces/{namespace}/{self.spec.plural}"
        return f"{base}/{self.spec.plural}"


_WORKLOAD = "workload rules did not see {0}"
_RBAC = "RBAC rules did not see {0}, so permissions may be under-reported"


def _k(
    kind: str,
    group: str,
    versions: str,
    plural: str,
    *,
    namespaced: bool = True,
    coverage: str = "",
    optional: bool = False,
) -> KindSpec:
    return KindSpec(
        kind,
        group,
        tuple(versions.split()),
        plural,
        namespaced,
        coverage.format(kinds(kind)),
        optional,
    )


CATALOGUE: tuple[KindSpec, ...] = (
    # Workloads first: they are the most numerous, so they start listing first.
    _k("Pod", "", "v1", "pods", coverage=_WORKLOAD),
    _k("ReplicaSet", "apps", "v1", "replicasets", coverage=_WORKLOAD),
    _k("Deployment", "apps", "v1", "deployments", coverage=_WORKLOAD),
    _k("StatefulSet", "apps", "v1", "statefulsets", coverage=_WORKLOAD),
    _k("DaemonSet", "apps", "v1", "daemonsets", coverage=_WORKLOAD),
    _k("Job", "batch", "v1", "jobs", coverage=_WORKLOAD),
    _k("CronJob", "batch", "v1 v1beta1", "cronjobs", coverage=_WORKLOAD),
    _k("ReplicationController", "", "v1", "replicationcontrollers", coverage=_WORKLOAD),
    _k("Secret", "", "v1", "secrets"),
    _k("ConfigMap", "", "v1", "configmaps"),
    _k("Service", "", "v1", "services"),
    _k("ServiceAccount", "", "v1", "serviceaccounts"),
    _k("Ingress", "networking.k8s.io", "v1 v1beta1", "ingresses"),
    _k("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies"),
    _k("Role", "rbac.authorization.k8s.io", "v1", "roles", coverage=_RBAC),
    _k("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings", coverage=_RBAC),
    _k(
        "ClusterRole",
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        namespaced=False,
        coverage=_RBAC,
    ),
    _k(
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        namespaced=False,
        coverage=_RBAC,
    ),
    _k("Namespace", "", "v1", "namespaces", namespaced=False),
    _k("Node", "", "v1", "nodes", namespaced=False),
    _k(
        "ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        "v1 v1beta1",
        "validatingwebhookconfigurations",
        namespaced=False,
    ),
    _k(
        "MutatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        "v1 v1beta1",
        "mutatingwebhookconfigurations",
        namespaced=False,
    ),
    _k(
        "ValidatingAdmissionPolicy",
        "admissionregistration.k8s.io",
        "v1 v1beta1",
        "validatingadmissionpolicies",
        namespaced=False,
        optional=True,
    ),
    _k(
        "ValidatingAdmissionPolicyBinding",
        "admissionregistration.k8s.io",
        "v1 v1beta1",
        "validatingadmissionpolicybindings",
        namespaced=False,
        optional=True,
    ),
    _k(
        "CustomResourceDefinition",
        "apiextensions.k8s.io",
        "v1 v1beta1",
        "customresourcedefinitions",
        namespaced=False,
    ),
    # Custom resources of well-known tools (listed only when their CRDs exist).
    _k(
        "PeerAuthentication",
        "security.istio.io",
        "v1 v1beta1",
        "peerauthentications",
        optional=True,
    ),
    _k(
        "DestinationRule",
        "networking.istio.io",
        "v1 v1beta1 v1alpha3",
        "destinationrules",
        optional=True,
    ),
    _k("Application", "argoproj.io", "v1alpha1", "applications", optional=True),
    _k(
        "Kustomization",
        "kustomize.toolkit.fluxcd.io",
        "v1 v1beta2 v1beta1",
        "kustomizations",
        optional=True,
    ),
    _k(
        "HelmRelease",
        "helm.toolkit.fluxcd.io",
        "v2 v2beta2 v2beta1",
        "helmreleases",
        optional=True,
    ),
    _k("ClusterPolicy", "kyverno.io", "v1", "clusterpolicies", namespaced=False, optional=True),
    _k("Policy", "kyverno.io", "v1", "policies", optional=True),
    _k(
        "ConstraintTemplate",
        "templates.gatekeeper.sh",
        "v1 v1beta1",
        "constrainttemplates",
        namespaced=False,
        optional=True,
    ),
    _k(
        "ExternalSecret",
        "external-secrets.io",
        "v1 v1beta1 v1alpha1",
        "externalsecrets",
        optional=True,
    ),
)
"""Every kind a cluster scan lists, in the order listing starts."""


def group_versions(catalogue: tuple[KindSpec, ...] = CATALOGUE) -> tuple[str, ...]:
    """Every ``group/version`` some catalogue kind may be served under (core is ``v1``)."""
    seen: dict[str, None] = {}
    for spec in catalogue:
        for version in spec.versions:
            seen[f"{spec.group}/{version}" if spec.group else version] = None
    return tuple(seen)


def choose_versions(
    resources: dict[str, frozenset[str]], catalogue: tuple[KindSpec, ...] = CATALOGUE
) -> tuple[list[ServedKind], list[KindSpec]]:
    """Pick each kind's version from discovery: ``resources`` maps a served group/version to the
    plural names it serves. Returns the served kinds and the required kinds no version serves."""
    served: list[ServedKind] = []
    missing: list[KindSpec] = []
    for spec in catalogue:
        for version in spec.versions:
            group_version = f"{spec.group}/{version}" if spec.group else version
            if spec.plural in resources.get(group_version, frozenset()):
                served.append(ServedKind(spec, version))
                break
        else:
            if not spec.optional:
                missing.append(spec)
    return served, missing

"""Where an RBAC grant can take effect: cluster-wide, or only inside one namespace.

The RBAC authorizer applies a ClusterRoleBinding's rules to every request and a RoleBinding's rules
(whether it names a Role or a ClusterRole) only to requests *in the binding's namespace*. A request
for a cluster-scoped resource (nodes, persistentvolumes, certificatesigningrequests, webhook
configurations, clusterroles...) carries no namespace, so a Role, or a ClusterRole bound by a
RoleBinding, never grants it, whatever its ``resources`` say (``*`` included). ``reachable`` is that
decision for one (verb, group, resource) request, with the two places where the authorizer does see
a namespace on a cluster-scoped resource:

- ``namespaces``: a request for one named namespace (``GET /api/v1/namespaces/shop``) is attributed
  to that namespace (``request_namespace``), so a RoleBinding in ``shop`` can allow
  get/update/patch/delete (and the status and finalize subresources) on the Namespace ``shop``
  itself, but never list, create or deletecollection;
- ``bind`` on ``clusterroles``: the API server checks it in the namespace of the RoleBinding being
  written, so a Role holding it lets its holder bind that ClusterRole (cluster-admin included) in
  RoleBindings of its namespace.

Impersonation of users, groups, UIDs and user extras is checked without a namespace too (of
ServiceAccounts, in the ServiceAccount's namespace). Resources of API groups not listed here
(custom resources included) are taken as namespaced. ``reaches_anything`` says whether a whole
PolicyRule can allow anything in a scope. Used by ``rbac_grants.find_grant`` and the RBAC rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType

from kposture.inventory.rbac_rules import ALL, PolicyRule


class Scope(Enum):
    """How far the rules of a role reach: through a ClusterRoleBinding, or a RoleBinding."""

    CLUSTER = "cluster"
    NAMESPACE = "namespace"


CLUSTER_SCOPED_RESOURCES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "": frozenset(
            {"componentstatuses", "namespaces", "nodes", "persistentvolumes", "users", "groups"}
        ),
        "admissionregistration.k8s.io": frozenset(
            {
                "mutatingwebhookconfigurations",
                "validatingwebhookconfigurations",
                "validatingadmissionpolicies",
                "validatingadmissionpolicybindings",
                "mutatingadmissionpolicies",
                "mutatingadmissionpolicybindings",
            }
        ),
        "apiextensions.k8s.io": frozenset({"customresourcedefinitions"}),
        "apiregistration.k8s.io": frozenset({"apiservices"}),
        "authentication.k8s.io": frozenset(
            {"tokenreviews", "selfsubjectreviews", "uids", "userextras"}
        ),
        "authorization.k8s.io": frozenset(
            {"selfsubjectaccessreviews", "selfsubjectrulesreviews", "subjectaccessreviews"}
        ),
        "certificates.k8s.io": frozenset(
            {"certificatesigningrequests", "clustertrustbundles", "signers"}
        ),
        "flowcontrol.apiserver.k8s.io": frozenset({"flowschemas", "prioritylevelconfigurations"}),
        "internal.apiserver.k8s.io": frozenset({"storageversions"}),
        "networking.k8s.io": frozenset({"ingressclasses", "ipaddresses", "servicecidrs"}),
        "node.k8s.io": frozenset({"runtimeclasses"}),
        "policy": frozenset({"podsecuritypolicies"}),
        "extensions": frozenset({"podsecuritypolicies"}),
        "rbac.authorization.k8s.io": frozenset({"clusterroles", "clusterrolebindings"}),
        "resource.k8s.io": frozenset({"deviceclasses", "resourceslices"}),
        "scheduling.k8s.io": frozenset({"priorityclasses"}),
        "storage.k8s.io": frozenset(
            {
                "csidrivers",
                "csinodes",
                "storageclasses",
                "volumeattachments",
                "volumeattributesclasses",
            }
        ),
        "storagemigration.k8s.io": frozenset({"storageversionmigrations"}),
    }
)
"""API group -> its cluster-scoped resources (subresources share their resource's scope), with the
pseudo-resources that impersonation and CSR signing are authorized against (users, groups, uids,
userextras, signers)."""

_NAMESPACE_LIST_VERBS = frozenset({"list", "create", "deletecollection"})
"""Requests on ``namespaces`` that name no namespace, so no RoleBinding can allow them."""


def is_cluster_scoped(group: str, resource: str) -> bool:
    """Whether ``resource`` (``resource`` or ``resource/subresource``) of ``group`` is
    cluster-scoped: requests for it carry no namespace."""
    base = resource.partition("/")[0]
    return base in CLUSTER_SCOPED_RESOURCES.get(group, frozenset())


def request_namespace(group: str, resource: str, namespace: str, name: str) -> str:
    """The namespace attribute the API server gives a request (its ``RequestInfo``): a named
    request on a Namespace (``/api/v1/namespaces/NAME``, its ``status`` and ``finalize`` too)
    carries NAME, whatever it is asked with; any other request the ``namespace`` it is made in."""
    if group == "" and name and resource.partition("/")[0] == "namespaces":
        return name
    return namespace


def reachable(scope: Scope, verb: str, group: str, resource: str) -> bool:
    """Whether rules in force with ``scope`` can allow some ``verb`` request on ``group``/
    ``resource``: always cluster-wide; in a namespace, only for namespaced resources, a named
    request on the namespace itself, or ``bind`` on ``clusterroles``."""
    if scope is Scope.CLUSTER or not is_cluster_scoped(group, resource):
        return True
    base = resource.partition("/")[0]
    if group == "" and base == "namespaces":
        return verb not in _NAMESPACE_LIST_VERBS
    return group == "rbac.authorization.k8s.io" and resource == "clusterroles" and verb == "bind"


def role_scope(kind: str) -> Scope:
    """How far a role's rules reach when judged on their own: a Role only in its namespace; a
    ClusterRole as if a ClusterRoleBinding granted it (anyone allowed to bind it can do so)."""
    return Scope.NAMESPACE if kind == "Role" else Scope.CLUSTER


def binding_scope(kind: str) -> Scope:
    """How far a binding hands out its role's rules: a RoleBinding only in its namespace (even for
    a ClusterRole), a ClusterRoleBinding everywhere."""
    return Scope.NAMESPACE if kind == "RoleBinding" else Scope.CLUSTER


def reaches_anything(rule: PolicyRule, scope: Scope) -> bool:
    """Whether ``rule`` can allow any request at all when in force with ``scope``. Cluster-wide
    always; in a namespace, not when every resource it names is cluster-scoped (``verbs: ["*"]``
    on ``nodes/proxy`` in a Role grants nothing), nor for non-resource URLs, which the authorizer
    only takes from ClusterRoleBindings. A wildcard or unknown resource is taken to reach some
    namespaced resource."""
    if scope is Scope.CLUSTER:
        return True
    verbs = _PROBE_VERBS if ALL in rule.verbs else rule.verbs
    for group in rule.api_groups:
        for resource in rule.resources:
            if resource == ALL or resource.startswith(f"{ALL}/"):
                return True
            groups = _groups_naming(resource) if group == ALL else (group,)
            if not groups or any(reachable(scope, v, g, resource) for v in verbs for g in groups):
                return True
    return False


_PROBE_VERBS = ("get", "bind")
"""Verbs enough to decide whether ``*`` reaches a cluster-scoped resource from a namespace (a named
get on the namespace itself, bind on clusterroles)."""


def _groups_naming(resource: str) -> tuple[str, ...]:
    """The known groups in which ``resource`` is cluster-scoped."""
    base = resource.partition("/")[0]
    return tuple(group for group, names in CLUSTER_SCOPED_RESOURCES.items() if base in names)

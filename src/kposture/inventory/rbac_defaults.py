"""The rules of the default ClusterRoles the API server reconciles by name: ``cluster-admin``,
``admin``, ``edit`` and ``view``, with aggregation resolved.

Copied from the Kubernetes bootstrap policy (the ``rbac/kubernetes-bootstrap`` corpus; a test keeps the
two in step). ``inventory.rbac`` uses them to judge a binding whose role is not in the scan, and adds
them to a scanned copy that does not opt out of reconciliation: at start-up the API server re-adds any
missing default permission unless the role is annotated ``autoupdate: "false"``. ``admin``, ``edit``
and ``view`` also grant whatever other ClusterRoles aggregate into them: ``BUILTIN_AGGREGATION``
gives the labels their bootstrap ``aggregationRule`` selects, the chain resolved (``edit`` carries
``aggregate-to-admin``, ``view`` carries ``aggregate-to-edit``), so ``inventory.rbac`` can pull in the
scanned ClusterRoles carrying them even when the defaults themselves are not scanned.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kposture.inventory.rbac_rules import PolicyRule
from kposture.model import ResourceRef

BUILTIN_REF = ResourceRef("rbac.authorization.k8s.io/v1", "ClusterRole", "", "")
"""The apiVersion and kind of the built-in roles (the name is the role's)."""

READ = ("get", "list", "watch")
WRITE = ("create", "delete", "deletecollection", "patch", "update")
READ_WRITE = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


def _rule(
    groups: tuple[str, ...], resources: tuple[str, ...], verbs: tuple[str, ...]
) -> PolicyRule:
    return PolicyRule(verbs=verbs, api_groups=groups, resources=resources)


_VIEW: tuple[PolicyRule, ...] = (
    _rule(
        ("",),
        (
            "configmaps",
            "endpoints",
            "persistentvolumeclaims",
            "persistentvolumeclaims/status",
            "pods",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "serviceaccounts",
            "services",
            "services/status",
        ),
        READ,
    ),
    _rule(
        ("",),
        (
            "bindings",
            "events",
            "limitranges",
            "namespaces/status",
            "pods/log",
            "pods/status",
            "replicationcontrollers/status",
            "resourcequotas",
            "resourcequotas/status",
        ),
        READ,
    ),
    _rule(("",), ("namespaces",), READ),
    _rule(("discovery.k8s.io",), ("endpointslices",), READ),
    _rule(
        ("apps",),
        (
            "controllerrevisions",
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
            "replicasets",
            "replicasets/scale",
            "replicasets/status",
            "statefulsets",
            "statefulsets/scale",
            "statefulsets/status",
        ),
        READ,
    ),
    _rule(("autoscaling",), ("horizontalpodautoscalers", "horizontalpodautoscalers/status"), READ),
    _rule(("batch",), ("cronjobs", "cronjobs/status", "jobs", "jobs/status"), READ),
    _rule(
        ("extensions",),
        (
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
            "ingresses",
            "ingresses/status",
            "networkpolicies",
            "replicasets",
            "replicasets/scale",
            "replicasets/status",
            "replicationcontrollers/scale",
        ),
        READ,
    ),
    _rule(("policy",), ("poddisruptionbudgets", "poddisruptionbudgets/status"), READ),
    _rule(("networking.k8s.io",), ("ingresses", "ingresses/status", "networkpolicies"), READ),
)

_EDIT_ONLY: tuple[PolicyRule, ...] = (
    _rule(
        ("",),
        ("pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"),
        READ,
    ),
    _rule(("",), ("serviceaccounts",), ("impersonate",)),
    _rule(("",), ("pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"), WRITE),
    _rule(("",), ("pods/eviction",), ("create",)),
    _rule(
        ("",),
        (
            "configmaps",
            "events",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "secrets",
            "serviceaccounts",
            "services",
            "services/proxy",
        ),
        WRITE,
    ),
    _rule(("",), ("serviceaccounts/token",), ("create",)),
    _rule(
        ("apps",),
        (
            "daemonsets",
            "deployments",
            "deployments/rollback",
            "deployments/scale",
            "replicasets",
            "replicasets/scale",
            "statefulsets",
            "statefulsets/scale",
        ),
        WRITE,
    ),
    _rule(("autoscaling",), ("horizontalpodautoscalers",), WRITE),
    _rule(("batch",), ("cronjobs", "jobs"), WRITE),
    _rule(
        ("extensions",),
        (
            "daemonsets",
            "deployments",
            "deployments/rollback",
            "deployments/scale",
            "ingresses",
            "networkpolicies",
            "replicasets",
            "replicasets/scale",
            "replicationcontrollers/scale",
        ),
        WRITE,
    ),
    _rule(("policy",), ("poddisruptionbudgets",), WRITE),
    _rule(("networking.k8s.io",), ("ingresses", "networkpolicies"), WRITE),
    _rule(("coordination.k8s.io",), ("leases",), READ_WRITE),
)

_ADMIN_ONLY: tuple[PolicyRule, ...] = (
    _rule(("authorization.k8s.io",), ("localsubjectaccessreviews",), ("create",)),
    _rule(("rbac.authorization.k8s.io",), ("rolebindings", "roles"), READ_WRITE),
)

_CLUSTER_ADMIN: tuple[PolicyRule, ...] = (
    PolicyRule(verbs=("*",), api_groups=("*",), resources=("*",)),
    PolicyRule(verbs=("*",), non_resource_urls=("*",)),
)

BUILTIN_CLUSTER_ROLES: Mapping[str, tuple[PolicyRule, ...]] = MappingProxyType(
    {
        "cluster-admin": _CLUSTER_ADMIN,
        "admin": _ADMIN_ONLY + _EDIT_ONLY + _VIEW,
        "edit": _EDIT_ONLY + _VIEW,
        "view": _VIEW,
    }
)
"""Default ClusterRole name -> the rules it grants (aggregation of the built-in parts resolved)."""

AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"
"""The label prefix of the bootstrap aggregation selectors (``aggregate-to-admin: "true"``...)."""

_SELECTS = {"admin": "admin", "edit": "edit", "view": "view"}
"""Default ClusterRole -> the ``aggregate-to-`` label its bootstrap aggregationRule selects."""
_CARRIES = {"edit": "admin", "view": "edit"}
"""Default ClusterRole -> the ``aggregate-to-`` label it carries itself (the aggregation chain)."""


def _chain(name: str) -> tuple[str, ...]:
    labels: list[str] = []
    todo = [name]
    while todo:
        label = _SELECTS[todo.pop()]
        labels.append(f"{AGGREGATE_TO}{label}")
        todo.extend(role for role, carried in _CARRIES.items() if carried == label)
    return tuple(labels)


BUILTIN_AGGREGATION: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {name: _chain(name) for name in _SELECTS}
)
"""Default ClusterRole -> the labels (set to ``"true"``) of the ClusterRoles the aggregation
controller folds into it, directly or through the default roles it aggregates: ``admin`` takes
``aggregate-to-admin``, ``aggregate-to-edit`` and ``aggregate-to-view``; ``edit`` the last two;
``view`` only ``aggregate-to-view``. ``cluster-admin`` has no aggregationRule."""

"""Service accounts and namespaces: default ServiceAccounts, token automounting, long-lived tokens
and objects left in the ``default`` namespace (CIS Kubernetes Benchmark 5.1.5, 5.1.6, 5.1.13, 5.7.4).

Owns the rules about which identity a pod runs as and whether its API token is mounted (the pod's
``automountServiceAccountToken`` wins; when unset, the ServiceAccount object in the scan decides;
static pods, which run without a ServiceAccount, are skipped),
bindings that grant the ``default`` ServiceAccount permissions, ``kubernetes.io/service-account-token``
Secrets (reported by name and type only, never their data), and use of the ``default`` namespace.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from kposture.inventory import WORKLOAD_KINDS, Inventory, pod_spec
from kposture.inventory.components import is_static_pod
from kposture.inventory.service_accounts import lookup_service_account, service_account_of
from kposture.model import (
    Domain,
    K8sObject,
    Reference,
    Severity,
    Stage,
    Violation,
)
from kposture.rules._references import (
    CIS,
    CONTAINER_API_CREDENTIALS,
    NSA,
    OWASP,
    POD_SECURITY,
)
from kposture.rules._templates import rule_meta
from kposture.rules.base import Rule

DEFAULT = "default"
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
TOKEN_REFERENCES = Reference(NSA, "Protecting Pod service account tokens")
NAMESPACES_REFERENCE = Reference(NSA, "Namespaces")

DEFAULT_NAMESPACE_KINDS: tuple[str, ...] = (
    *WORKLOAD_KINDS,
    "Role",
    "RoleBinding",
    "Service",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Ingress",
    "PersistentVolumeClaim",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Endpoints",
)
"""Namespaced kinds judged by default-namespace. Cluster-scoped kinds never are; NetworkPolicy,
LimitRange and ResourceQuota neither, since they defend the namespace they sit in."""

SYSTEM_DEFAULT_OBJECTS = frozenset(
    {
        ("Service", "kubernetes"),
        ("Endpoints", "kubernetes"),
        ("ConfigMap", "kube-root-ca.crt"),
        ("ServiceAccount", DEFAULT),
    }
)
"""Objects Kubernetes itself creates in ``default`` (CIS 5.7.4 expects only these there)."""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# --- checks ---------------------------------------------------------------------------------------


_SERVED_ORIGINS = frozenset({"cluster", "admission"})


def _served(obj: K8sObject) -> bool:
    """Whether ``obj`` comes from the API server (listed, admitted, or a dump with a uid) rather
    than a manifest someone wrote."""
    origin = obj.location.origin if obj.location is not None else ""
    return origin in _SERVED_ORIGINS or "uid" in obj.metadata


def _default_service_account(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    ref = pod_spec(obj)
    if ref is None or is_static_pod(obj):
        return
    name, field = service_account_of(ref.spec)
    if name != DEFAULT:
        return
    if not isinstance(ref.spec.get(field), str):
        message = "the pod sets no serviceAccountName, so it runs as the default ServiceAccount"
    elif _served(obj):
        # The API server fills serviceAccountName in: its author may never have written it.
        message = f"the pod runs as the default ServiceAccount ({field}: default)"
    else:
        message = f"the pod explicitly runs as the default ServiceAccount ({field}: default)"
    yield Violation(message, (*ref.path, field))


def _token_automount(obj: K8sObject, inventory: Inventory) -> Iterator[Violation]:
    ref = pod_spec(obj)
    if ref is None or is_static_pod(obj):
        return
    path = (*ref.path, "automountServiceAccountToken")
    pod_value = ref.spec.get("automountServiceAccountToken")
    if pod_value is False:
        return
    if pod_value is True:
        yield Violation("the pod sets automountServiceAccountToken: true", path)
        return
    name, _field = service_account_of(ref.spec)
    namespace = obj.ref.namespace or DEFAULT
    account = lookup_service_account(inventory, obj.ref.namespace, name)
    evidence = (("service_account", f"{namespace}/{name}"),)
    if account is None:
        yield Violation(
            f"the pod leaves automountServiceAccountToken unset and ServiceAccount "
            f"{namespace}/{name} is not in the scan, so the token is automounted (the API default)",
            path,
            evidence,
        )
        return
    account_value = account.raw.get("automountServiceAccountToken")
    if account_value is False:
        return
    state = "sets it to true" if account_value is True else "leaves it unset"
    yield Violation(
        f"the pod leaves automountServiceAccountToken unset and ServiceAccount {namespace}/{name} "
        f"{state}, so the token is automounted",
        path,
        evidence,
    )


def _default_service_account_bound(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    subjects = obj.raw.get("subjects")
    if not isinstance(subjects, list):
        return
    role_ref = _mapping(obj.raw.get("roleRef"))
    role = f"{role_ref.get('kind', 'role')} {role_ref.get('name', '?')}"
    for index, raw_subject in enumerate(subjects):
        subject = _mapping(raw_subject)
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "ServiceAccount" and name == DEFAULT:
            namespace = subject.get("namespace") or obj.ref.namespace or DEFAULT
        elif (
            kind == "User"
            and isinstance(name, str)
            and name.startswith("system:serviceaccount:")
            and name.endswith(":default")
            and name.count(":") == 3
        ):
            namespace = name.split(":")[2]
        else:
            continue
        yield Violation(
            f"binds {role} to the default ServiceAccount of "
            f"namespace {namespace}, which every pod without a serviceAccountName runs as",
            ("subjects", index),
            (("service_account", f"{namespace}/default"), ("role", role)),
        )


def _long_lived_token_secret(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    if obj.raw.get("type") != TOKEN_SECRET_TYPE:
        return
    account = obj.annotations.get("kubernetes.io/service-account.name", "")
    target = f" for ServiceAccount {account}" if isinstance(account, str) and account else ""
    # Only the name and type are reported: a token Secret's data is a live credential.
    yield Violation(
        f"Secret of type {TOKEN_SECRET_TYPE}{target}: a non-expiring API token",
        ("type",),
        (("service_account", str(account)),) if target else (),
    )


def _default_namespace(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    namespace = obj.metadata.get("namespace")
    if namespace not in (None, "", DEFAULT):
        return
    if (obj.ref.kind, obj.ref.name) in SYSTEM_DEFAULT_OBJECTS:
        return
    if namespace == DEFAULT:
        yield Violation("the object is in the default namespace", ("metadata", "namespace"))
    else:
        yield Violation(
            "the object names no namespace, so it lands in the current kubectl namespace "
            "(usually default)",
            ("metadata", "namespace"),
        )


# --- metadata -------------------------------------------------------------------------------------


_meta = partial(rule_meta, domain=Domain.SERVICE_ACCOUNTS)


RULES: tuple[Rule, ...] = (
    Rule(
        _meta(
            "default-service-account",
            "Workload runs as the default ServiceAccount",
            Severity.MEDIUM,
            Stage.CRAWL,
            WORKLOAD_KINDS,
            remediation=(
                "Create a dedicated ServiceAccount per workload and set serviceAccountName to it."
            ),
            description=(
                "Every pod that names no ServiceAccount runs as its namespace's default one, so "
                "any permission granted to default is shared by all of them and a compromise of "
                "one pod yields the identity of every other. Unset, serviceAccountName: default "
                "and the deprecated serviceAccount field all count. Static (mirror) pods are "
                "skipped: the kubelet runs them without a ServiceAccount (owned by a Node, "
                "annotated kubernetes.io/config.mirror or config.source: file, or a control-plane "
                "static pod manifest)."
            ),
            references=(Reference(CIS, "5.1.5"), Reference(OWASP, "K03"), POD_SECURITY),
            fix_snippet=(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n"
                "automountServiceAccountToken: false\n---\n"
                "# in the pod template\nspec:\n  serviceAccountName: web\n"
            ),
        ),
        _default_service_account,
    ),
    Rule(
        _meta(
            "service-account-token-automount",
            "ServiceAccount token automounted into the pod",
            Severity.MEDIUM,
            Stage.WALK,
            WORKLOAD_KINDS,
            remediation=(
                "Set automountServiceAccountToken: false on the pod (or its ServiceAccount) "
                "unless it calls the Kubernetes API."
            ),
            description=(
                "An automounted token lets anyone who runs code in the container call the API "
                "server as the pod's ServiceAccount, the usual first step from an application "
                "bug to the cluster. The pod's automountServiceAccountToken wins; when it is "
                "unset the ServiceAccount's setting decides, and a ServiceAccount missing from "
                "the scan is assumed to leave it unset (automounted), as Polaris also assumes. "
                "Static (mirror) pods are skipped: they cannot use ServiceAccounts, so no token "
                "is mounted."
            ),
            references=(
                Reference(CIS, "5.1.6"),
                CONTAINER_API_CREDENTIALS,
                TOKEN_REFERENCES,
            ),
            fix_snippet="spec:\n  automountServiceAccountToken: false\n",
        ),
        _token_automount,
    ),
    Rule(
        _meta(
            "default-service-account-bound",
            "Role bound to a namespace's default ServiceAccount",
            Severity.HIGH,
            Stage.CRAWL,
            ("RoleBinding", "ClusterRoleBinding"),
            remediation=(
                "Bind the role to a dedicated ServiceAccount instead of the namespace's default one."
            ),
            description=(
                "Every pod that names no ServiceAccount runs as default, so permissions bound to "
                "it reach every such pod in the namespace, including ones deployed later by "
                "anyone who may create pods there. A subject of kind ServiceAccount named default "
                "and the equivalent user system:serviceaccount:<namespace>:default both count."
            ),
            references=(
                Reference(CIS, "5.1.5"),
                Reference(OWASP, "K03"),
                Reference(NSA, "Authentication and authorization"),
            ),
            fix_snippet=("subjects:\n- kind: ServiceAccount\n  name: web\n  namespace: shop\n"),
        ),
        _default_service_account_bound,
    ),
    Rule(
        _meta(
            "long-lived-token-secret",
            "Long-lived ServiceAccount token Secret",
            Severity.MEDIUM,
            Stage.WALK,
            ("Secret",),
            remediation=(
                "Delete the Secret and request short-lived tokens with the TokenRequest API "
                "(projected volumes or kubectl create token)."
            ),
            description=(
                "A Secret of type kubernetes.io/service-account-token holds a token that never "
                "expires and stays valid until the Secret is deleted, so one leak (a backup, a "
                "log, a Secret read) is permanent access as that ServiceAccount. Anyone who may "
                "create Secrets in a namespace can also mint one for any ServiceAccount there. "
                "kposture reports the Secret's name and type, never its data."
            ),
            references=(
                Reference(CIS, "5.1.13"),
                Reference(OWASP, "K06"),
                CONTAINER_API_CREDENTIALS,
                TOKEN_REFERENCES,
            ),
            fix_snippet="kubectl create token web --duration=1h\n",
        ),
        _long_lived_token_secret,
    ),
    Rule(
        _meta(
            "default-namespace",
            "Object in the default namespace",
            Severity.LOW,
            Stage.CRAWL,
            DEFAULT_NAMESPACE_KINDS,
            remediation="Create a namespace per application and set metadata.namespace to it.",
            description=(
                "Objects in the default namespace (or with no namespace in a manifest, which "
                "kubectl puts in the current namespace, usually default) share one RBAC, quota "
                "and NetworkPolicy boundary with everything else deployed carelessly, so a "
                "compromise there reaches them all. Cluster-scoped kinds are never reported, "
                "nor the objects Kubernetes itself keeps in default (the kubernetes Service, "
                "kube-root-ca.crt, the default ServiceAccount) or NetworkPolicies, LimitRanges "
                "and ResourceQuotas, which defend the namespace."
            ),
            references=(Reference(CIS, "5.7.4"), NAMESPACES_REFERENCE),
            fix_snippet="metadata:\n  namespace: shop\n",
            domain=Domain.NAMESPACES,
        ),
        _default_namespace,
    ),
)

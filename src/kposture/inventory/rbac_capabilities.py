"""Risky RBAC capabilities, and who holds them.

A capability is one permission an attacker wants (read Secrets, exec into pods, create workloads,
escalate/bind/impersonate, the kubelet API through nodes/proxy, CSR approval, webhook changes,
token creation, PersistentVolume creation), written as the ``Target`` permissions that grant it.
The catalogue is shared: each RBAC rule of the rule library judges roles against its capability's
targets, and the explorer views (``kposture rbac risky|can|workloads|paths``) ask who holds it.
``full-access`` (cluster-admin or equal) stands above them all.

``holders`` answers "who holds this capability, where": for every binding in force, every subject
(ServiceAccount namespaces resolved as the authorizer does) and the scope the binding gives the
role's rules (``cluster`` for a ClusterRoleBinding, the namespace for a RoleBinding; a RoleBinding
never grants a cluster-scoped capability). It walks each bound role once per capability through
``rbac_graph.bindings_by_role`` and ``rbac_grants.find_grant`` — the same matcher the authorizer
comparison test checks — and is memoised per inventory. A holding names every rule of the role
that grants the capability, the strongest first: one not limited by ``resourceNames`` before one
that is, then the verb a capability's targets list first (create on ``pods/exec``, which exec needs
on every server version, before get, which only WebSocket exec on servers before 1.30 needs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kposture.inventory.objects import Inventory
from kposture.inventory.rbac import (
    BoundRole,
    EffectiveRule,
    Subject,
    is_default_subject,
    is_full_access,
)
from kposture.inventory.rbac_grants import Grant, Target, describe_grant, find_grant
from kposture.inventory.rbac_graph import RoleBindings, binding_subjects, bindings_by_role
from kposture.inventory.rbac_rules import ALL, PolicyRule
from kposture.inventory.rbac_scope import Scope
from kposture.model import K8sObject, Severity

CORE = ""
RBAC_GROUP = "rbac.authorization.k8s.io"
ADMISSION_GROUP = "admissionregistration.k8s.io"
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
CLUSTER = "cluster"
"""The scope of a holding through a ClusterRoleBinding."""
_RANKS = 100
"""Ranks per target in ``Capability.rank`` (more than any target has verbs)."""


@dataclass(frozen=True, slots=True)
class Capability:
    """A risky permission: ``targets`` grant it (none: full access, every verb on every resource),
    each target's verbs strongest first; ``rule_id`` is the rule of the library that judges roles
    and bindings for it; ``verb_notes`` say what a verb is used for when that is not obvious
    (exec's create and get)."""

    id: str
    title: str
    severity: Severity
    targets: tuple[Target, ...]
    impact: str
    rule_id: str = ""
    verb_notes: tuple[tuple[str, str], ...] = ()

    def grant(self, rule: PolicyRule, scope: Scope) -> Grant | None:
        """What of ``rule`` grants this capability when in force with ``scope``."""
        if not self.targets:
            if scope is not Scope.CLUSTER or not is_full_access(rule):
                return None
            return Grant((0,), (0,), (0,), ((ALL, ALL),))
        return find_grant(rule, self.targets, scope)

    def describe(self, rule: PolicyRule, grant: Grant) -> str:
        if not self.targets:
            return "every verb on every resource of every API group"
        text = describe_grant(rule, grant)
        granted = {verb for verb, _ in grant.covered}
        notes = [note for verb, note in self.verb_notes if verb in granted]
        return f"{text} ({'; '.join(notes)})" if notes else text

    def rank(self, grant: Grant) -> int:
        """How strong a grant is, 0 strongest: the place of the first verb it covers in the
        targets' order (each target's verbs, strongest first)."""
        best = len(self.targets) * _RANKS
        for verb, resource in grant.covered:
            for t, target in enumerate(self.targets):
                if resource in target.resources and verb in target.verbs:
                    best = min(best, t * _RANKS + target.verbs.index(verb))
        return best


FULL_ACCESS = Capability(
    "full-access",
    "full access (cluster-admin)",
    Severity.CRITICAL,
    (),
    "Every verb on every resource: the cluster is theirs.",
    "cluster-admin-binding",
)
READ_SECRETS = Capability(
    "read-secrets",
    "read Secrets",
    Severity.HIGH,
    (Target(("get", "list", "watch"), CORE, ("secrets",)),),
    "Secrets hold passwords, API keys and, on older clusters, ServiceAccount tokens.",
    "rbac-secrets-read",
)
EXEC_PODS = Capability(
    "exec-pods",
    "exec, attach or debug in pods",
    Severity.HIGH,
    (
        Target(("create", "get"), CORE, ("pods/exec", "pods/attach")),
        Target(("update", "patch"), CORE, ("pods/ephemeralcontainers",)),
    ),
    "Run commands inside running pods with their tokens, Secrets and network position.",
    "rbac-pod-exec",
    (
        ("create", "create: exec and attach on every server version"),
        ("get", "get: WebSocket exec and attach on servers before Kubernetes 1.30"),
    ),
)
CREATE_WORKLOADS = Capability(
    "create-workloads",
    "create pods or pod controllers",
    Severity.MEDIUM,
    (
        Target(("create",), CORE, ("pods", "replicationcontrollers")),
        Target(("create",), "apps", ("deployments", "replicasets", "statefulsets", "daemonsets")),
        Target(("create",), "batch", ("jobs", "cronjobs")),
    ),
    "Run a pod as any ServiceAccount of the namespace and mount any of its Secrets.",
    "rbac-workload-create",
)
ESCALATE_BIND = Capability(
    "escalate-bind",
    "escalate or bind roles",
    Severity.CRITICAL,
    (Target(("escalate", "bind"), RBAC_GROUP, ("roles", "clusterroles")),),
    "Grant roles beyond their own rights, cluster-admin included.",
    "rbac-escalate-bind-impersonate",
)
IMPERSONATE = Capability(
    "impersonate",
    "impersonate users, groups or ServiceAccounts",
    Severity.CRITICAL,
    (Target(("impersonate",), CORE, ("users", "groups", "serviceaccounts")),),
    "Act as any identity they may impersonate, with all of its rights.",
    "rbac-escalate-bind-impersonate",
)
NODES_PROXY = Capability(
    "nodes-proxy",
    "use the kubelet API (nodes/proxy)",
    Severity.HIGH,
    (Target(("get", "create"), CORE, ("nodes/proxy",)),),
    "Run commands in every pod of a node, bypassing admission and pod exec auditing.",
    "rbac-nodes-proxy",
)
APPROVE_CSRS = Capability(
    "approve-csrs",
    "approve certificate signing requests",
    Severity.HIGH,
    (Target(("update", "patch"), "certificates.k8s.io", ("certificatesigningrequests/approval",)),),
    "Mint client certificates for other users and groups, which cannot be revoked.",
    "rbac-csr-approve",
)
MODIFY_WEBHOOKS = Capability(
    "modify-webhooks",
    "change admission webhooks or policies",
    Severity.HIGH,
    (
        Target(
            WRITE_VERBS,
            ADMISSION_GROUP,
            (
                "validatingwebhookconfigurations",
                "mutatingwebhookconfigurations",
                "validatingadmissionpolicies",
                "validatingadmissionpolicybindings",
                "mutatingadmissionpolicies",
                "mutatingadmissionpolicybindings",
            ),
        ),
    ),
    "Switch off admission policy, or see and change every object written to the cluster.",
    "rbac-webhook-modify",
)
CREATE_TOKENS = Capability(
    "create-tokens",
    "create ServiceAccount tokens",
    Severity.HIGH,
    (Target(("create",), CORE, ("serviceaccounts/token",)),),
    "Issue tokens for ServiceAccounts and act with their rights.",
    "rbac-token-create",
)
CREATE_PERSISTENT_VOLUMES = Capability(
    "create-persistentvolumes",
    "create PersistentVolumes",
    Severity.MEDIUM,
    (Target(("create",), CORE, ("persistentvolumes",)),),
    "A hostPath PersistentVolume mounts any directory of a node.",
    "rbac-pv-create",
)

IMPERSONATED_BY_POD_CREATION = "serviceaccounts"
"""What impersonation a namespace's pod creators already have: a pod runs as any ServiceAccount of
its namespace, so impersonating those ServiceAccounts adds nothing to ``create-workloads`` there."""


def folds_serviceaccount_impersonation(rules: Iterable[PolicyRule], scope: Scope) -> bool:
    """Whether impersonating ServiceAccounts, in force with ``scope``, is no more than ``rules``
    already give: in a namespace (a RoleBinding, or a Role), where some rule not limited by
    ``resourceNames`` creates pods or pod controllers. Cluster-wide it is not folded (it reaches
    every namespace, the system ones included), nor is impersonating users or groups."""
    return scope is Scope.NAMESPACE and any(
        not rule.names_only and CREATE_WORKLOADS.grant(rule, scope) is not None for rule in rules
    )


def without_serviceaccount_impersonation(targets: tuple[Target, ...]) -> tuple[Target, ...]:
    """``targets`` with impersonation of ServiceAccounts left out (users and groups kept)."""
    kept = []
    for target in targets:
        if "impersonate" not in target.verbs:
            kept.append(target)
            continue
        resources = tuple(r for r in target.resources if r != IMPERSONATED_BY_POD_CREATION)
        if resources:
            kept.append(Target(target.verbs, target.group, resources))
    return tuple(kept)


SERVICEACCOUNT_IMPERSONATION = (Target(("impersonate",), CORE, (IMPERSONATED_BY_POD_CREATION,)),)
"""The target folded into ``create-workloads`` in a namespace."""


CAPABILITIES: tuple[Capability, ...] = (
    FULL_ACCESS,
    READ_SECRETS,
    EXEC_PODS,
    CREATE_WORKLOADS,
    ESCALATE_BIND,
    IMPERSONATE,
    NODES_PROXY,
    APPROVE_CSRS,
    MODIFY_WEBHOOKS,
    CREATE_TOKENS,
    CREATE_PERSISTENT_VOLUMES,
)
BY_ID = {capability.id: capability for capability in CAPABILITIES}


@dataclass(frozen=True, slots=True)
class Holding:
    """``subject`` holds ``capability`` in ``scope`` (``cluster`` or a namespace) through
    ``binding`` of ``role``, whose effective rules in ``grants`` grant it, the strongest first
    (see ``_grants``): ``rule`` and ``grant`` are that first one, ``others`` the rest. The
    ``grants`` tuple is shared by every holding of the same role and scope."""

    capability: Capability
    subject: Subject
    binding: K8sObject
    role: BoundRole
    grants: tuple[tuple[EffectiveRule, Grant], ...]

    @property
    def rule(self) -> EffectiveRule:
        return self.grants[0][0]

    @property
    def grant(self) -> Grant:
        return self.grants[0][1]

    @property
    def others(self) -> tuple[tuple[EffectiveRule, Grant], ...]:
        return self.grants[1:]

    @property
    def scope(self) -> str:
        return self.binding.ref.namespace if self.binding.ref.kind == "RoleBinding" else CLUSTER

    @property
    def default(self) -> bool:
        """Kubernetes' own: a default binding naming one of Kubernetes' own subjects."""
        return is_default_subject(self.binding, self.subject)

    @property
    def names_only(self) -> bool:
        """Limited to the objects the rules list in ``resourceNames`` (the strongest rule is, so
        every other one is too)."""
        return self.rule.rule.names_only

    def only(self, rule: EffectiveRule, grant: Grant) -> Holding:
        """The same holding through ``rule`` alone (what one move of a path relies on)."""
        return Holding(self.capability, self.subject, self.binding, self.role, ((rule, grant),))

    def describe(self) -> str:
        """What the strongest rule grants, then each other rule that grants another verb:
        ``verbs [create] on pods/exec in apiGroup "" (...); also verbs [get] on pods/exec in
        apiGroup "" (...)``. Rules that only repeat a verb (create on deployments after create
        on pods) are left to ``grants``."""
        texts: list[str] = []
        verbs: set[str] = set()
        for rule, grant in self.grants:
            granted = {verb for verb, _ in grant.covered}
            if texts and granted <= verbs:
                continue
            verbs |= granted
            texts.append(self.capability.describe(rule.rule, grant))
        return "; also ".join(texts)


def _grants(
    entry: RoleBindings, capability: Capability, scope: Scope
) -> list[tuple[EffectiveRule, Grant]]:
    """Every rule of the bound role that grants ``capability`` in ``scope``, the strongest first:
    not limited by resourceNames, then by ``Capability.rank``, then in rule order."""
    found = []
    for effective in entry.role.rules:
        grant = capability.grant(effective.rule, scope)
        if grant is not None:
            found.append((effective, grant))
    if len(found) > 1:
        found.sort(key=lambda pair: (pair[0].rule.names_only, capability.rank(pair[1])))
    return found


def _holdings(
    capability: Capability, entry: RoleBindings, bindings: Iterable[K8sObject], scope: Scope
) -> list[Holding]:
    found = _grants(entry, capability, scope)
    if not found:
        return []
    grants = tuple(found)
    return [
        Holding(capability, subject, binding, entry.role, grants)
        for binding in bindings
        for subject in binding_subjects(binding)
    ]


def holders(inventory: Inventory, capability: Capability) -> tuple[Holding, ...]:
    """Every subject holding ``capability``, each with the binding, role and rule that grant it,
    ClusterRoleBindings first."""
    key = f"rbac_capabilities.holders.{capability.id}"
    cached: tuple[Holding, ...] | None = inventory.derived.get(key)
    if cached is not None:
        return cached
    cluster: list[Holding] = []
    namespaced: list[Holding] = []
    for entry in bindings_by_role(inventory):
        cluster.extend(_holdings(capability, entry, entry.cluster, Scope.CLUSTER))
        if entry.by_namespace:
            in_namespace = (b for bindings in entry.by_namespace.values() for b in bindings)
            namespaced.extend(_holdings(capability, entry, in_namespace, Scope.NAMESPACE))
    namespaced.sort(key=lambda h: (h.binding.ref.namespace, h.binding.ref.name))
    result = (*cluster, *namespaced)
    inventory.derived[key] = result
    return result


def all_holdings(inventory: Inventory) -> tuple[Holding, ...]:
    """``holders`` of every capability of the catalogue, in catalogue order."""
    return tuple(h for capability in CAPABILITIES for h in holders(inventory, capability))

"""The "can become" graph behind escalation paths: which identities a holder of a risky capability
can act as, and through what.

Nodes are identities — ``User``, ``Group``, ``ServiceAccount`` — and a few stand-ins for "every
identity of a kind in a namespace" that keep the graph linear in size: ``AnyServiceAccount`` (any
ServiceAccount of the namespace, or of every namespace for ``*``), ``RunningPods`` (the
ServiceAccounts whose tokens are mounted in the namespace's workloads) and ``TokenSecrets`` (the
ServiceAccounts with a legacy token Secret there). Moves, each with the holding that makes it
possible, every other permission it relies on (``Requirement``: create on RoleBindings besides
bind, create on CSRs and approve on the signer besides approval...) and the objects that make the
target reachable:

- membership: a ServiceAccount is in ``system:serviceaccounts``, ``system:serviceaccounts:<ns>``
  and ``system:authenticated``; a user in ``system:authenticated`` (anonymous in
  ``system:unauthenticated``); other group memberships are not in RBAC objects and not assumed;
- create pods or pod controllers in a namespace → run a pod as any ServiceAccount of that namespace;
- create ServiceAccount tokens → act as those ServiceAccounts (only the ``resourceNames`` ones when
  restricted);
- exec/attach into pods, or the kubelet API through nodes/proxy → the tokens mounted in running
  pods;
- read Secrets → the ServiceAccounts whose legacy token Secrets are there;
- impersonate → the users, groups or ServiceAccounts allowed (any group: ``system:masters``,
  but only for a holder that may also impersonate some user or ServiceAccount: the API server
  refuses group impersonation without a user to impersonate);
- bind in a namespace a role that creates pods there (``admin``, ``edit``, or one of its own),
  with create on RoleBindings there, or escalate with update on a Role it holds there → grant itself pod
  creation there → any ServiceAccount of it; bind on ClusterRoles with create on ClusterRoleBindings, or
  escalate with update on a ClusterRole it holds → cluster-admin. "Holds" is checked: escalate lets
  a role be written beyond its writer's rights, but the writer gains them only through a binding
  it already has (a ClusterRoleBinding for a ClusterRole, a RoleBinding of the namespace for a
  Role), so the role updated must be one bound to it (directly or through its groups);
- approve CSRs, with create on CSRs and approve on the kube-apiserver-client signer → a client
  certificate for any user (CN, a ServiceAccount's username too) or group (O) but
  ``system:masters``, which the ``CertificateSubjectRestriction`` admission plugin (on by default
  since Kubernetes 1.19) refuses.

``system:masters`` is the superuser group the API server lets through before RBAC, so it holds
every goal. Everything here is derived from the inventory and memoised on it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from kposture.inventory.network import workloads_by_namespace
from kposture.inventory.objects import Inventory
from kposture.inventory.rbac import BoundRole, Subject, aggregation_selectors, effective_rules
from kposture.inventory.rbac_capabilities import (
    APPROVE_CSRS,
    CREATE_TOKENS,
    CREATE_WORKLOADS,
    ESCALATE_BIND,
    EXEC_PODS,
    IMPERSONATE,
    NODES_PROXY,
    READ_SECRETS,
    Holding,
    all_holdings,
    holders,
)
from kposture.inventory.rbac_defaults import BUILTIN_AGGREGATION
from kposture.inventory.rbac_grants import Target, describe_grant, find_grant
from kposture.inventory.rbac_graph import (
    ANONYMOUS,
    AUTHENTICATED,
    SERVICE_ACCOUNTS,
    UNAUTHENTICATED,
    Access,
    Principal,
    Request,
    allowing,
    build,
)
from kposture.inventory.rbac_scope import Scope, binding_scope
from kposture.inventory.service_accounts import (
    lookup_service_account,
    service_account_of,
    token_mount,
)
from kposture.inventory.workloads import pod_spec
from kposture.model import K8sObject, ResourceRef

ANY = "*"
SYSTEM_MASTERS = "system:masters"
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
TOKEN_OWNER_ANNOTATION = "kubernetes.io/service-account.name"
RBAC_GROUP = "rbac.authorization.k8s.io"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
POD_CREATING_DEFAULTS = ("admin", "edit", "cluster-admin")
"""Default ClusterRoles that grant pod creation where bound (the API server recreates them)."""
_ROLE_KINDS = {"roles": "Role", "clusterroles": "ClusterRole"}
_SOME = "kposture-any"
"""A name standing for "any name" in a request checked against rules without resourceNames."""
_ANY_NAME_KINDS = {"users": "User", "serviceaccounts": "ServiceAccount", "groups": "Group"}
"""How a request on ``_SOME`` reads: ``impersonate any ServiceAccount``, never the stand-in."""
IDENTITY_KINDS = frozenset({"User", "Group", "ServiceAccount"})

_MEMO = "rbac_moves.graph"


class Node(NamedTuple):
    """An identity (``User``, ``Group``, ``ServiceAccount``) or a stand-in for a set of them. A
    named tuple: graphs of millions of moves hash and order nodes as plain tuples, in C."""

    kind: str
    namespace: str
    name: str

    @property
    def is_identity(self) -> bool:
        return self.kind in IDENTITY_KINDS

    @property
    def is_kubernetes_own(self) -> bool:
        """A control-plane identity: ``system:`` users and groups (not the all-users groups) and
        the ServiceAccounts of the system namespaces."""
        return Subject(self.kind, self.name, self.namespace, 0).is_system_identity

    def principal(self) -> Principal:
        """The requester this identity is when it sends a request."""
        if self.kind == "ServiceAccount":
            return Principal.of_service_account(self.namespace, self.name)
        if self.kind == "Group":
            return Principal("", frozenset({self.name}))
        return Principal.of_user(self.name)

    def display(self) -> str:
        where = "every namespace" if self.namespace == ANY else f"namespace {self.namespace}"
        if self.kind == "AnyServiceAccount":
            return f"any ServiceAccount of {where}"
        if self.kind == "RunningPods":
            return f"the ServiceAccount tokens mounted in running pods of {where}"
        if self.kind == "TokenSecrets":
            return f"the ServiceAccounts with token Secrets in {where}"
        if self.kind == "SelfBoundAdmin":
            return "cluster-admin"
        if self.kind == "AnyUser":
            return "any user"
        if self.kind == "AnyGroup":
            return f"any group but {SYSTEM_MASTERS}"
        if self.kind == "ServiceAccount":
            return f"ServiceAccount {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


MASTERS = Node("Group", "", SYSTEM_MASTERS)
ANY_USER = Node("AnyUser", "", "")
ANY_GROUP = Node("AnyGroup", "", "")
"""Every group but ``system:masters`` (what a client certificate may still name)."""
SELF_BOUND_ADMIN = Node("SelfBoundAdmin", "", "cluster-admin")
"""What a holder of bind or escalate on ClusterRoles becomes: cluster-admin, granted by itself."""


def identity(subject: Subject) -> Node:
    namespace = subject.namespace if subject.kind == "ServiceAccount" else ""
    return Node(subject.kind, namespace, subject.name)


@dataclass(frozen=True, slots=True)
class Requirement:
    """Another permission a move relies on besides its holding: ``request`` (create on
    RoleBindings of the namespace, approve on a signer...) and the binding, role and rule that
    allow it (``access``)."""

    request: Request
    access: Access

    def what(self) -> str:
        """``create rolebindings in ci``, ``bind clusterroles edit``, ``impersonate any User``."""
        request = self.request
        if request.name == _SOME:
            kind = _ANY_NAME_KINDS.get(request.combined_resource, request.combined_resource)
            text = f"{request.verb} any {kind}"
        else:
            text = f"{request.verb} {request.combined_resource}"
            text += f" {request.name}" if request.name else ""
        if request.namespace == _SOME:
            return f"{text} in any namespace"
        return text + (f" in {request.namespace}" if request.namespace else "")

    def describe(self) -> str:
        """``create rolebindings in ci: RoleBinding ci/binder → Role ci/binder: verbs [create] on
        rolebindings in apiGroup "rbac.authorization.k8s.io"``."""
        access = self.access
        request = self.request
        rule = access.rule.rule
        target = Target((request.verb,), request.group, (request.combined_resource,))
        scope = binding_scope(access.binding.ref.kind)
        grant = find_grant(rule, (target,), scope)
        granted = describe_grant(rule, grant) if grant is not None else f"{request.verb} allowed"
        binding = access.binding.ref
        where = f"{binding.namespace}/" if binding.namespace else ""
        return (
            f"{self.what()}: {binding.kind} {where}{binding.name} → {access.role.display()}: "
            f"{granted}"
        )


@dataclass(frozen=True, slots=True)
class Move:
    """One edge: ``source`` can act as (or reach) ``target`` by ``action``; ``holding`` is the
    permission that allows it (None for membership and stand-in expansion) and ``needs`` the
    other permissions the move relies on (create on RoleBindings besides bind...), ``evidence``
    the objects that make the target reachable (a ServiceAccount's workload, its token Secret,
    the binding of a role it edits)."""

    source: Node
    target: Node
    action: str
    holding: Holding | None = None
    evidence: tuple[ResourceRef, ...] = ()
    needs: tuple[Requirement, ...] = ()

    @property
    def membership(self) -> bool:
        return self.action == "is a member of"


@dataclass(frozen=True, slots=True)
class MoveGraph:
    """Moves by target (for the backward search from the goal holders), and the identities."""

    into: Mapping[Node, tuple[Move, ...]]
    identities: frozenset[Node]


def _where(scope: str) -> str:
    return "every namespace" if scope == ANY else scope


def _scope(holding: Holding) -> str:
    return ANY if holding.scope == "cluster" else holding.scope


class _Builder:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.moves: list[Move] = []
        self.identities: set[Node] = set()
        self.service_accounts: dict[str, set[str]] = defaultdict(set)
        self.running: dict[str, dict[str, list[ResourceRef]]] = defaultdict(dict)
        self.token_secrets: dict[str, dict[str, list[ResourceRef]]] = defaultdict(dict)
        self.pod_roles: dict[str, list[tuple[str, str]]] | None = None
        self.impersonators: dict[Node, Requirement | None] = {}

    def add(self, move: Move) -> None:
        self.moves.append(move)
        for node in (move.source, move.target):
            if node.is_identity:
                self.identities.add(node)

    # --- what exists ------------------------------------------------------------------------------

    def collect(self, holdings: Iterable[Holding]) -> None:
        for obj in self.inventory.of_kind("ServiceAccount"):
            self.service_accounts[obj.ref.namespace].add(obj.ref.name)
        for namespace, workloads in workloads_by_namespace(self.inventory).items():
            for workload in workloads:
                account = _mounted_account(workload, self.inventory)
                if account:
                    self.service_accounts[namespace].add(account)
                    self.running[namespace].setdefault(account, []).append(workload.ref)
        for secret in self.inventory.of_kind("Secret"):
            if secret.raw.get("type") != TOKEN_SECRET_TYPE:
                continue
            owner = str(secret.annotations.get(TOKEN_OWNER_ANNOTATION, ""))
            if owner:
                namespace = secret.ref.namespace
                self.token_secrets[namespace].setdefault(owner, []).append(secret.ref)
        for holding in holdings:
            node = identity(holding.subject)
            self.identities.add(node)
            if node.kind == "ServiceAccount":
                self.service_accounts[node.namespace].add(node.name)

    # --- moves --------------------------------------------------------------------------------------

    def memberships(self) -> None:
        for node in sorted(self.identities):
            groups: tuple[str, ...]
            if node.kind == "ServiceAccount":
                groups = (SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{node.namespace}", AUTHENTICATED)
            elif node.kind == "User":
                groups = (UNAUTHENTICATED if node.name == ANONYMOUS else AUTHENTICATED,)
            else:
                continue
            for group in groups:
                self.add(Move(node, Node("Group", "", group), "is a member of"))

    def stand_ins(self) -> None:
        for user in sorted(n for n in self.identities if n.kind == "User"):
            self.add(Move(ANY_USER, user, "includes"))
        for group in sorted(n for n in self.identities if n.kind == "Group" and n != MASTERS):
            self.add(Move(ANY_GROUP, group, "includes"))
        namespaces = sorted(
            set(self.service_accounts) | set(self.running) | set(self.token_secrets)
        )
        for namespace in namespaces:
            accounts = Node("AnyServiceAccount", namespace, "")
            self.add(Move(Node("AnyServiceAccount", ANY, ""), accounts, "includes"))
            for name in sorted(self.service_accounts.get(namespace, ())):
                self.add(Move(accounts, Node("ServiceAccount", namespace, name), "includes"))
            running = Node("RunningPods", namespace, "")
            self.add(Move(Node("RunningPods", ANY, ""), running, "includes"))
            for name, refs in sorted(self.running.get(namespace, {}).items()):
                target = Node("ServiceAccount", namespace, name)
                self.add(Move(running, target, "reads the mounted token of", None, tuple(refs)))
            secrets = Node("TokenSecrets", namespace, "")
            self.add(Move(Node("TokenSecrets", ANY, ""), secrets, "includes"))
            for name, refs in sorted(self.token_secrets.get(namespace, {}).items()):
                target = Node("ServiceAccount", namespace, name)
                self.add(Move(secrets, target, "reads the token Secret of", None, tuple(refs)))

    def from_holding(self, holding: Holding) -> None:
        source = identity(holding.subject)
        scope = _scope(holding)
        capability = holding.capability
        if capability is CREATE_WORKLOADS:
            accounts = "any namespace" if scope == ANY else f"namespace {scope}"
            action = f"creates pods in {_where(scope)}, which may run as any ServiceAccount of {accounts}"
            self.add(Move(source, Node("AnyServiceAccount", scope, ""), action, holding))
        elif capability is CREATE_TOKENS:
            for one in _separately(holding):
                self._named_or_any(one, source, scope, "creates a token for")
        elif capability is EXEC_PODS and not holding.names_only:
            action = f"execs into pods of {_where(scope)}"
            self.add(Move(source, Node("RunningPods", scope, ""), action, holding))
        elif capability is NODES_PROXY:
            action = "runs commands in any pod through the kubelet API (nodes/proxy)"
            self.add(Move(source, Node("RunningPods", ANY, ""), action, holding))
        elif capability is READ_SECRETS:
            for one in _separately(holding):
                self._secrets(one, source, scope)
        elif capability is IMPERSONATE:
            for one in _separately(holding, every=True):
                self._impersonate(one, source, scope)
        elif capability is ESCALATE_BIND:
            for one in _separately(holding, every=True):
                done = (
                    self._bind_cluster_admin(one, source)
                    if scope == ANY
                    else self._bind_in_namespace(one, source, scope)
                )
                if done:
                    break
        elif capability is APPROVE_CSRS:
            self._approve(holding, source)

    def _named_or_any(self, holding: Holding, source: Node, scope: str, action: str) -> None:
        names = holding.rule.rule.resource_names
        if not names:
            every = f"{action} any ServiceAccount of {_where(scope)}"
            self.add(Move(source, Node("AnyServiceAccount", scope, ""), every, holding))
            return
        namespaces = sorted(self.service_accounts) if scope == ANY else [scope]
        for namespace in namespaces:
            for name in names:
                self.add(Move(source, Node("ServiceAccount", namespace, name), action, holding))

    def _secrets(self, holding: Holding, source: Node, scope: str) -> None:
        action = f"reads Secrets in {_where(scope)}"
        names = holding.rule.rule.resource_names
        if not names:
            self.add(Move(source, Node("TokenSecrets", scope, ""), action, holding))
            return
        namespaces = sorted(self.token_secrets) if scope == ANY else [scope]
        for namespace in namespaces:
            for owner, refs in self.token_secrets.get(namespace, {}).items():
                named = tuple(ref for ref in refs if ref.name in names)
                if named:
                    target = Node("ServiceAccount", namespace, owner)
                    self.add(Move(source, target, action, holding, named))

    def _impersonate(self, holding: Holding, source: Node, scope: str) -> None:
        resources = {resource for _, resource in holding.grant.covered}
        names = holding.rule.rule.resource_names
        action = "impersonates"
        if "serviceaccounts" in resources:
            self._named_or_any(holding, source, scope, action)
        if scope != ANY:
            return  # users and groups are impersonated without a namespace
        if "groups" in resources:
            user = self._impersonated_user(source)
            if user is not None:
                targets = [Node("Group", "", n) for n in names] if names else [MASTERS]
                for target in targets:
                    self.add(Move(source, target, action, holding, needs=(user,)))
        if "users" in resources:
            for target in [Node("User", "", n) for n in names] if names else [ANY_USER]:
                self.add(Move(source, target, action, holding))

    def _impersonated_user(self, source: Node) -> Requirement | None:
        """How ``source`` may impersonate at least one user or ServiceAccount, which the API
        server requires before it lets ``Impersonate-Group`` through; None when it may not."""
        if source not in self.impersonators:
            self.impersonators[source] = self._some_impersonation(source)
        return self.impersonators[source]

    def _some_impersonation(self, source: Node) -> Requirement | None:
        principal = source.principal()
        for holding in holders(self.inventory, IMPERSONATE):
            scope = _scope(holding)
            rule_scope = Scope.CLUSTER if scope == ANY else Scope.NAMESPACE
            for effective in holding.role.rules:
                grant = IMPERSONATE.grant(effective.rule, rule_scope)
                resources = {r for _, r in grant.covered} if grant else set()
                for resource in sorted(resources & {"users", "serviceaccounts"}):
                    namespace = "" if resource == "users" else (_SOME if scope == ANY else scope)
                    for name in effective.rule.resource_names or (_SOME,):
                        request = Request("impersonate", resource, namespace=namespace, name=name)
                        found = self._allowing(principal, request)
                        if found is not None:
                            return found
        return None

    def _allowing(self, principal: Principal, request: Request) -> Requirement | None:
        access = allowing(self.inventory, principal, request)
        return Requirement(request, access) if access is not None else None

    def _pod_creating_roles(self, namespace: str) -> list[tuple[str, str]]:
        """(resource, name) of the roles whose binding in ``namespace`` grants pod creation there:
        the reconciled defaults, and the ClusterRoles and the namespace's Roles that grant it."""
        if self.pod_roles is None:
            self.pod_roles = defaultdict(list)
            self.pod_roles[ANY] = [("clusterroles", name) for name in POD_CREATING_DEFAULTS]
            for role in [*self.inventory.of_kind("ClusterRole"), *self.inventory.of_kind("Role")]:
                if any(
                    CREATE_WORKLOADS.grant(rule.rule, Scope.NAMESPACE)
                    for rule in effective_rules(role, self.inventory)
                ):
                    where = role.ref.namespace if role.ref.kind == "Role" else ANY
                    self.pod_roles[where].append((f"{role.ref.kind.lower()}s", role.ref.name))
        return [*self.pod_roles[ANY], *self.pod_roles.get(namespace, ())]

    def _bind_in_namespace(self, holding: Holding, source: Node, namespace: str) -> bool:
        """A move to every ServiceAccount of ``namespace`` by binding a pod-creating role there
        or editing a held Role to create pods; whether one was added."""
        principal = source.principal()
        covered = {verb for verb, _ in holding.grant.covered}
        if "bind" in covered:
            create = self._allowing(
                principal, Request("create", "rolebindings", RBAC_GROUP, namespace=namespace)
            )
            # The server checks bind on the role a new RoleBinding names: one that creates pods.
            bind = None
            if create is not None:
                bind = next(
                    (
                        found
                        for resource, name in self._pod_creating_roles(namespace)
                        if (
                            found := self._allowing(
                                principal,
                                Request(
                                    "bind", resource, RBAC_GROUP, namespace=namespace, name=name
                                ),
                            )
                        )
                        is not None
                    ),
                    None,
                )
            if create is not None and bind is not None:
                role = f"{_ROLE_KINDS[bind.request.resource]} {bind.request.name}"
                action = (
                    f"binds itself {role}, a role that creates pods in {namespace} (bind on "
                    "roles, create on rolebindings), then runs pods as any ServiceAccount there"
                )
                target = Node("AnyServiceAccount", namespace, "")
                self.add(Move(source, target, action, holding, needs=_needs(holding, bind, create)))
                return True
        names = holding.rule.rule.resource_names
        if "escalate" in covered:
            edited = self._editable_held_role(principal, "Role", namespace, names)
            if edited is not None:
                update, binding = edited
                action = (
                    f"edits Role {update.request.name}, which it holds in {namespace}, to create "
                    "pods (escalate, update on roles), then runs pods as any ServiceAccount there"
                )
                target = Node("AnyServiceAccount", namespace, "")
                self.add(Move(source, target, action, holding, (binding,), _needs(holding, update)))
                return True
        return False

    def _editable_held_role(
        self, principal: Principal, kind: str, namespace: str, names: tuple[str, ...]
    ) -> tuple[Requirement, ResourceRef] | None:
        """A role of ``kind`` the principal is bound to (a Role through a RoleBinding of
        ``namespace``; a ClusterRole through a ClusterRoleBinding, cluster-wide) and may update
        or patch, within ``names`` when the escalate grant lists some: how it may update it, and
        the binding that binds it; None when there is none. escalate only lets a role be written
        beyond its writer's rights: the writer gains them only through a binding it already has
        (a new one needs bind or the rights themselves). A role whose rules an aggregationRule
        writes (the controller overwrites them) is no use."""
        resource = "roles" if kind == "Role" else "clusterroles"
        for name, binding in self._held_roles(principal, kind, namespace):
            if names and name not in names:
                continue
            for verb in ("update", "patch"):
                request = Request(verb, resource, RBAC_GROUP, namespace=namespace, name=name)
                found = self._allowing(principal, request)
                if found is not None:
                    return found, binding
        return None

    def _held_roles(
        self, principal: Principal, kind: str, namespace: str
    ) -> list[tuple[str, ResourceRef]]:
        """The roles of ``kind`` bound to ``principal`` (directly or through its groups) by a
        RoleBinding of ``namespace`` (a Role) or a ClusterRoleBinding (a ClusterRole), that
        exist (scanned, or a default the API server recreates) and aggregate nothing, in the
        order of the binding index, each with a binding that binds it to the principal."""
        graph = build(self.inventory)
        found: dict[int, tuple[str, ResourceRef]] = {}
        for position, scope, binding in graph.bound(principal):
            if position in found or scope != (namespace if kind == "Role" else None):
                continue
            role = graph.entries[position].role
            if role.kind == kind and self._editable(role):
                found[position] = (role.name, binding.ref)
        held: dict[str, ResourceRef] = {}
        for position in sorted(found):
            name, ref = found[position]
            held.setdefault(name, ref)
        return list(held.items())

    def _editable(self, role: BoundRole) -> bool:
        """Whether updating the role changes what its bindings grant: it exists (scanned, or a
        default the API server recreates) and no aggregationRule rewrites its rules."""
        if not role.known:
            return False
        if role.obj is not None:
            return not aggregation_selectors(role.obj)
        return role.name not in BUILTIN_AGGREGATION  # admin, edit, view: the controller writes them

    def _bind_cluster_admin(self, holding: Holding, source: Node) -> bool:
        """A move to cluster-admin by binding it (bind on ClusterRoles, create on
        ClusterRoleBindings) or editing a held ClusterRole (escalate); whether one was added."""
        verbs = {verb for verb, resource in holding.grant.covered if resource == "clusterroles"}
        principal = source.principal()
        names = holding.rule.rule.resource_names
        if "bind" in verbs and (not names or "cluster-admin" in names):
            create = self._allowing(principal, Request("create", "clusterrolebindings", RBAC_GROUP))
            if create is not None:
                action = "binds cluster-admin to itself (bind on ClusterRoles, create on ClusterRoleBindings)"
                needs = _needs(holding, create)
                self.add(Move(source, SELF_BOUND_ADMIN, action, holding, needs=needs))
                return True
        if "escalate" in verbs:
            edited = self._editable_held_role(principal, "ClusterRole", "", names)
            if edited is not None:
                update, binding = edited
                action = (
                    f"edits ClusterRole {update.request.name}, bound to it cluster-wide, into "
                    "cluster-admin (escalate, update on ClusterRoles)"
                )
                self.add(
                    Move(
                        source,
                        SELF_BOUND_ADMIN,
                        action,
                        holding,
                        (binding,),
                        _needs(holding, update),
                    )
                )
                return True
        return False

    def _approve(self, holding: Holding, source: Node) -> None:
        principal = source.principal()
        create = self._allowing(
            principal, Request("create", "certificatesigningrequests", "certificates.k8s.io")
        )
        if create is None:
            return
        signer = next(
            (
                found
                for name in (CLIENT_SIGNER, "kubernetes.io/*")
                if (
                    found := self._allowing(
                        principal, Request("approve", "signers", "certificates.k8s.io", name=name)
                    )
                )
                is not None
            ),
            None,
        )
        if signer is None:
            return
        # CertificateSubjectRestriction (on by default since 1.19) refuses kube-apiserver-client
        # requests for system:masters: any other user name (CN, a ServiceAccount's username
        # included) or group (O) is fair game.
        action = f"creates and approves a client certificate (signer {CLIENT_SIGNER}) for"
        needs = _needs(holding, create, signer)
        for target in (ANY_USER, ANY_GROUP, Node("AnyServiceAccount", ANY, "")):
            self.add(Move(source, target, f"{action} {target.display()}", holding, needs=needs))


def _separately(holding: Holding, *, every: bool = False) -> tuple[Holding, ...]:
    """The holding narrowed to each rule a move may use on its own: with ``every``, each rule
    (they may grant different resources or verbs); else the holding itself when its strongest
    rule is not limited by resourceNames (it reaches everything the others do), or each named
    rule."""
    if not holding.others or (not every and not holding.names_only):
        return (holding,)
    return tuple(holding.only(rule, grant) for rule, grant in holding.grants)


def _needs(holding: Holding, *found: Requirement) -> tuple[Requirement, ...]:
    """The requirements a move names besides its holding: each once, and not when the holding's
    own binding and rule allow it (the holding already names that rule)."""
    needs: dict[tuple[int, int, str], Requirement] = {}
    for requirement in found:
        access = requirement.access
        if access.binding is holding.binding and access.rule == holding.rule:
            continue
        key = (id(access.binding), id(access.rule), requirement.what())
        needs.setdefault(key, requirement)
    return tuple(needs.values())


def _mounted_account(workload: K8sObject, inventory: Inventory) -> str:
    """The ServiceAccount whose token the workload's pods mount, or "" when none is mounted."""
    spec_ref = pod_spec(workload)
    if spec_ref is None:
        return ""
    name = service_account_of(spec_ref.spec)[0]
    account = lookup_service_account(inventory, workload.ref.namespace, name)
    return name if token_mount(spec_ref.spec, account)[0] else ""


def move_graph(inventory: Inventory) -> MoveGraph:
    """The can-become graph of the inventory (memoised)."""
    cached: MoveGraph | None = inventory.derived.get(_MEMO)
    if cached is not None:
        return cached
    builder = _Builder(inventory)
    holdings = all_holdings(inventory)
    builder.collect(holdings)
    for holding in holdings:
        builder.from_holding(holding)
    builder.memberships()
    builder.stand_ins()
    into: dict[Node, list[Move]] = defaultdict(list)
    for move in builder.moves:
        into[move.target].append(move)
    graph = MoveGraph(
        {node: tuple(moves) for node, moves in into.items()}, frozenset(builder.identities)
    )
    inventory.derived[_MEMO] = graph
    return graph

"""The RBAC graph: which subjects a request is allowed for, decided as the Kubernetes RBAC authorizer
decides it (``rbac.(*RBACAuthorizer).Authorize`` and ``VisitRulesFor``).

A request is allowed when some binding in force for it names a subject the requester matches and
the bound role holds a rule that allows it (``PolicyRule.allows``, the one matcher of the code
base). In force: every ClusterRoleBinding; the RoleBindings of the request's namespace when it
carries one (the namespace attribute as the authorizer sees it: a request for a cluster-scoped
resource carries none, except a named request on a Namespace, which carries that name).
Non-resource requests (``/healthz``...) only through ClusterRoleBindings. Roles are resolved by
``inventory.rbac.bound_role`` (aggregation; the built-in rules of the reconciled default
ClusterRoles only for manifests: when the inventory was read from an API server, a ``ClusterFacts``
object present, the stored roles are what its authorizer reads, already reconciled for its own
version); a ClusterRoleBinding that names a Role grants nothing.

Subjects as the authorizer's ``appliesTo`` matches them: a ``User`` by name, a ``Group`` by
membership (the implicit ``system:authenticated``, ``system:unauthenticated``,
``system:serviceaccounts`` and ``system:serviceaccounts:<ns>`` groups included, see ``Principal``),
a ``ServiceAccount`` by its username ``system:serviceaccount:<ns>:<name>``, its namespace defaulting
to the RoleBinding's; any other kind never matches. The binding index (bindings grouped by the role
they resolve to) is built once per inventory and memoised in ``inventory.derived``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from kposture.inventory.components import CLUSTER_FACTS_KIND
from kposture.inventory.objects import Inventory
from kposture.inventory.rbac import BoundRole, EffectiveRule, Subject, bound_role, subjects
from kposture.model import K8sObject

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
SERVICE_ACCOUNTS = "system:serviceaccounts"
SUBJECT_KINDS = frozenset({"User", "Group", "ServiceAccount"})

_INDEX = "rbac_graph.index"


@dataclass(frozen=True, slots=True)
class Request:
    """The attributes the authorizer decides on. ``namespace`` empty for a request that carries
    none; ``path`` set (and ``resource`` empty) for a non-resource request."""

    verb: str
    resource: str = ""
    group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def combined_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    def allowed_by(self, rule: EffectiveRule) -> bool:
        if self.path:
            return rule.rule.allows_url(self.verb, self.path)
        return rule.rule.allows(self.verb, self.group, self.combined_resource, self.name)


@dataclass(frozen=True, slots=True)
class Access:
    """One way a request is allowed: ``subject`` of ``binding`` (a ServiceAccount's namespace filled
    in from a RoleBinding) holds ``role``, whose effective ``rule`` allows it."""

    subject: Subject
    binding: K8sObject
    role: BoundRole
    rule: EffectiveRule

    @property
    def scope(self) -> str:
        """``cluster`` for a ClusterRoleBinding, else the RoleBinding's namespace."""
        return self.binding.ref.namespace if self.binding.ref.kind == "RoleBinding" else "cluster"


@dataclass(frozen=True, slots=True)
class Principal:
    """A requester as the authorizer sees it: a username and its groups."""

    user: str
    groups: frozenset[str] = field(default_factory=frozenset)

    @staticmethod
    def of_user(name: str, groups: Iterable[str] = ()) -> Principal:
        """A user with its groups plus the implicit ``system:authenticated``
        (``system:unauthenticated`` for ``system:anonymous``)."""
        implicit = UNAUTHENTICATED if name == ANONYMOUS else AUTHENTICATED
        return Principal(name, frozenset((*groups, implicit)))

    @staticmethod
    def of_service_account(namespace: str, name: str) -> Principal:
        """A ServiceAccount's username and the groups its tokens authenticate with."""
        return Principal(
            service_account_user(namespace, name),
            frozenset({SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{namespace}", AUTHENTICATED}),
        )

    def matches(self, subject: Subject) -> bool:
        """The authorizer's ``appliesTo`` for a subject whose ServiceAccount namespace is resolved."""
        if subject.kind == "User":
            return subject.name == self.user
        if subject.kind == "Group":
            return subject.name in self.groups
        if subject.kind == "ServiceAccount":
            return bool(subject.namespace) and (
                service_account_user(subject.namespace, subject.name) == self.user
            )
        return False


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


@dataclass(frozen=True, slots=True)
class RoleBindings:
    """Bindings that resolve to the same role: ClusterRoleBindings, and RoleBindings by namespace.
    ``bindings_by_role`` lists them for an inventory (roles granting nothing left out)."""

    role: BoundRole
    cluster: tuple[K8sObject, ...]
    by_namespace: dict[str, tuple[K8sObject, ...]]


def bindings_by_role(inventory: Inventory) -> tuple[RoleBindings, ...]:
    cached: tuple[RoleBindings, ...] | None = inventory.derived.get(_INDEX)
    if cached is not None:
        return cached
    groups: dict[tuple[object, ...], tuple[BoundRole, list[K8sObject], dict[str, list[K8sObject]]]]
    groups = {}
    live = bool(inventory.of_kind(CLUSTER_FACTS_KIND))
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        for binding in inventory.of_kind(kind):
            role = bound_role(binding, inventory, builtin=not live)
            if role is None or not role.rules:
                continue
            key = (role.kind, role.namespace, role.name, id(role.obj))
            entry = groups.setdefault(key, (role, [], {}))
            if kind == "ClusterRoleBinding":
                entry[1].append(binding)
            else:
                entry[2].setdefault(binding.ref.namespace, []).append(binding)
    result = tuple(
        RoleBindings(role, tuple(cluster), {ns: tuple(b) for ns, b in by_ns.items()})
        for role, cluster, by_ns in groups.values()
    )
    inventory.derived[_INDEX] = result
    return result


def binding_subjects(binding: K8sObject) -> Iterator[Subject]:
    """The binding's subjects that can match anyone, a ServiceAccount's namespace defaulted to the
    RoleBinding's (a ClusterRoleBinding's ServiceAccount without one matches nobody)."""
    for subject in subjects(binding):
        if subject.kind not in SUBJECT_KINDS:
            continue
        if subject.kind == "ServiceAccount" and not subject.namespace:
            if binding.ref.kind != "RoleBinding" or not binding.ref.namespace:
                continue
            yield Subject(subject.kind, subject.name, binding.ref.namespace, subject.index)
            continue
        yield subject


def who_can(inventory: Inventory, request: Request) -> list[Access]:
    """Every (subject, binding, role, first allowing rule) by which ``request`` is allowed, ordered
    ClusterRoleBindings first, then by binding and subject."""
    found: list[Access] = []
    for entry in bindings_by_role(inventory):
        rule = next((r for r in entry.role.rules if request.allowed_by(r)), None)
        if rule is None:
            continue
        bindings = list(entry.cluster)
        if request.namespace and not request.path:
            bindings.extend(entry.by_namespace.get(request.namespace, ()))
        for binding in bindings:
            found.extend(
                Access(subject, binding, entry.role, rule)
                for subject in binding_subjects(binding)
            )
    found.sort(
        key=lambda a: (
            a.binding.ref.kind != "ClusterRoleBinding",
            a.binding.ref.namespace,
            a.binding.ref.name,
            a.subject.index,
        )
    )
    return found


def allowed(inventory: Inventory, principal: Principal, request: Request) -> bool:
    """The authorizer's decision for one requester: some ``who_can`` subject matches it."""
    return any(principal.matches(access.subject) for access in who_can(inventory, request))

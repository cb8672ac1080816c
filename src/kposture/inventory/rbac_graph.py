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

from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from kposture.inventory.components import CLUSTER_FACTS_KIND
from kposture.inventory.objects import Inventory
from kposture.inventory.rbac import BoundRole, EffectiveRule, Subject, bound_role, subjects
from kposture.inventory.rbac_rules import ALL
from kposture.model import K8sObject

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
SERVICE_ACCOUNTS = "system:serviceaccounts"
SUBJECT_KINDS = frozenset({"User", "Group", "ServiceAccount"})

_INDEX = "rbac_graph.index"
_GRAPH = "rbac_graph.graph"
_FIRST_RULES_MEMO = 500_000
"""How many (entry, rule) answers ``Graph.first_rules`` keeps (about 40 MB) before starting over."""


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


class Graph:
    """The who-can index over ``bindings_by_role``: each bound role's rules filed under every
    (resource entry, verb entry) they hold, so a request only tries the rules that can match it
    (``*``, its ``resource[/subresource]`` and ``*/subresource``, its verb and ``*``), each then
    decided by the one matcher. Each binding's subjects are resolved once, and its place in the
    answer order ranked once. ``allowed`` looks a requester's bindings up by subject instead of
    listing every allowed subject. Built by ``build``, memoised per inventory."""

    __slots__ = (
        "_by_resource",
        "_by_subject",
        "_by_url_verb",
        "_first",
        "_first_size",
        "_rank",
        "_subjects",
        "entries",
    )

    def __init__(self, entries: tuple[RoleBindings, ...]) -> None:
        self.entries = entries
        by_resource: dict[tuple[str, str], list[tuple[int, int]]] = {}
        by_url_verb: dict[str, list[tuple[int, int]]] = {}
        for position, entry in enumerate(entries):
            for index, effective in enumerate(entry.role.rules):
                rule = effective.rule
                verbs = dict.fromkeys(rule.verbs)
                for resource in dict.fromkeys(rule.resources):
                    for verb in verbs:
                        by_resource.setdefault((resource, verb), []).append((position, index))
                if rule.non_resource_urls:
                    for verb in verbs:
                        by_url_verb.setdefault(verb, []).append((position, index))
        self._by_resource = by_resource
        self._by_url_verb = by_url_verb
        self._subjects: dict[int, tuple[Subject, ...]] = {}
        self._rank = _ranks(entries)
        # Both memos of first_rules share one size bound; their keys differ in length: (verb,
        # path), (verb, group, resource) for _matching, (verb, group, resource, name).
        self._first: dict[tuple[str, ...], Any] = {}
        self._first_size = 0
        self._by_subject: dict[tuple[str, str], list[tuple[int, str | None]]] | None = None

    def first_rules(self, request: Request) -> dict[int, EffectiveRule]:
        """Entry position -> the first of its role's rules that allows ``request``, in entry order.
        The answer depends on neither the namespace nor (but for ``resourceNames``) the name, and
        is memoised: views such as escalation paths ask the same request for many requesters."""
        key: tuple[str, ...] = (
            (request.verb, request.path)
            if request.path
            else (request.verb, request.group, request.combined_resource, request.name)
        )
        found: dict[int, EffectiveRule] | None = self._first.get(key)
        if found is None:
            if request.path:
                found = self._first_url_rules(request)
            else:
                found = {}
                name = request.name
                rules = self._rules_of
                for position, index, names in self._matching(request):
                    if position not in found and (not names or name in names):
                        found[position] = rules(position, index)
            self._remember(key, found)
        return found

    def _rules_of(self, position: int, index: int) -> EffectiveRule:
        return self.entries[position].role.rules[index]

    def _matching(self, request: Request) -> tuple[tuple[int, int, tuple[str, ...]], ...]:
        """(entry position, rule index, resourceNames) of every rule matching the request's verb,
        group and ``resource[/subresource]``, ordered; the name is left to the caller."""
        verb, group, combined = request.verb, request.group, request.combined_resource
        key = (verb, group, combined)
        found: tuple[tuple[int, int, tuple[str, ...]], ...] | None = self._first.get(key)
        if found is None:
            verbs = (verb, ALL) if verb != ALL else (ALL,)
            _, slash, subresource = combined.partition("/")
            resources = [combined, ALL] if combined != ALL else [ALL]
            if slash:
                resources.append(f"*/{subresource}")
            matching = set()
            for resource in resources:
                for each in verbs:
                    for position, index in self._by_resource.get((resource, each), ()):
                        rule = self._rules_of(position, index).rule
                        if (
                            rule.matches_verb(verb)
                            and rule.matches_group(group)
                            and rule.matches_resource(combined)
                        ):
                            matching.add((position, index, rule.resource_names))
            found = tuple(sorted(matching))
            self._remember(key, found)
        return found

    def _first_url_rules(self, request: Request) -> dict[int, EffectiveRule]:
        verbs = (request.verb, ALL) if request.verb != ALL else (ALL,)
        first: dict[int, int] = {}
        for verb in verbs:
            for position, index in self._by_url_verb.get(verb, ()):
                if index < first.get(position, index + 1) and request.allowed_by(
                    self._rules_of(position, index)
                ):
                    first[position] = index
        return {p: self._rules_of(p, first[p]) for p in sorted(first)}

    def _remember(self, key: tuple[str, ...], value: Sized) -> None:
        if self._first_size + len(value) > _FIRST_RULES_MEMO:
            self._first.clear()
            self._first_size = 0
        self._first[key] = value
        self._first_size += len(value)

    def subjects(self, binding: K8sObject) -> tuple[Subject, ...]:
        found = self._subjects.get(id(binding))
        if found is None:
            found = self._subjects[id(binding)] = tuple(binding_subjects(binding))
        return found

    def who_can(self, request: Request, *, any_namespace: bool = False) -> list[Access]:
        """Every way ``request`` is allowed; with ``any_namespace`` (a request that names no
        namespace) the RoleBindings of every namespace count too, as if it were asked in each."""
        matched: list[tuple[int, RoleBindings, EffectiveRule, K8sObject]] = []
        namespaced = bool(request.namespace) and not request.path
        every = any_namespace and not request.namespace and not request.path
        rank = self._rank
        for position, rule in self.first_rules(request).items():
            entry = self.entries[position]
            bindings: Iterable[K8sObject] = entry.cluster
            if namespaced:
                bindings = (*entry.cluster, *entry.by_namespace.get(request.namespace, ()))
            elif every:
                bindings = (*entry.cluster, *(b for g in entry.by_namespace.values() for b in g))
            matched.extend((rank.get(id(b), 0), entry, rule, b) for b in bindings)
        if self._rank:
            # Every binding's sort key is distinct: ordering the bindings orders the answer.
            matched.sort(key=_first)
        found = [
            Access(subject, binding, entry.role, rule)
            for _, entry, rule, binding in matched
            for subject in self.subjects(binding)
        ]
        if not self._rank:
            found.sort(key=_answer_order)
        return found

    def allowed(self, principal: Principal, request: Request) -> bool:
        """Whether some binding in force for ``request`` whose role allows it names a subject
        ``principal`` matches (``Principal.matches``, looked up by user, group and the
        ServiceAccount username)."""
        return self.allowing(principal, request) is not None

    def allowing(self, principal: Principal, request: Request) -> Access | None:
        """The first way ``request`` is allowed for ``principal`` — through a binding naming its
        user or ServiceAccount, then one naming a group it is in (groups in name order), each in
        the index's order — or None when it is denied."""
        rules = self.first_rules(request)
        if not rules:
            return None
        namespace = request.namespace if request.namespace and not request.path else None
        index = self._subject_index()
        for key in _principal_keys(principal):
            for position, scope in index.get(key, ()):
                # scope: None for a ClusterRoleBinding, else the RoleBinding's namespace.
                if position in rules and (scope is None or scope == namespace):
                    binding, subject = self._naming(position, scope, key)
                    return Access(subject, binding, self.entries[position].role, rules[position])
        return None

    def bound(self, principal: Principal) -> Iterator[tuple[int, str | None, K8sObject]]:
        """(entry position, scope, binding) of the bindings naming a subject ``principal``
        matches — its user or ServiceAccount, then the groups it is in, in name order — scope
        None for a ClusterRoleBinding, else the RoleBinding's namespace; one binding per entry
        and scope. Looked up by subject, not by walking every binding."""
        index = self._subject_index()
        for key in _principal_keys(principal):
            for position, scope in index.get(key, ()):
                yield position, scope, self._naming(position, scope, key)[0]

    def _naming(
        self, position: int, scope: str | None, key: tuple[str, str]
    ) -> tuple[K8sObject, Subject]:
        """The first binding of entry ``position`` in ``scope`` naming the subject ``key``, and
        that subject (the index keeps positions only, to stay small)."""
        entry = self.entries[position]
        bindings = entry.cluster if scope is None else entry.by_namespace[scope]
        for binding in bindings:
            for found, subject in _subject_keys(self.subjects(binding)):
                if found == key:
                    return binding, subject
        raise LookupError(f"no binding of entry {position} in {scope} names {key}")

    def _subject_index(self) -> dict[tuple[str, str], list[tuple[int, str | None]]]:
        if self._by_subject is None:
            index: dict[tuple[str, str], list[tuple[int, str | None]]] = {}
            for position, entry in enumerate(self.entries):
                for binding in entry.cluster:
                    for key, _ in _subject_keys(self.subjects(binding)):
                        index.setdefault(key, []).append((position, None))
                for namespace, bindings in entry.by_namespace.items():
                    for binding in bindings:
                        for key, _ in _subject_keys(self.subjects(binding)):
                            index.setdefault(key, []).append((position, namespace))
            self._by_subject = index
        return self._by_subject


def _principal_keys(principal: Principal) -> list[tuple[str, str]]:
    """The subject keys a principal matches: its user, its ServiceAccount username, its groups."""
    keys = [("User", principal.user), ("ServiceAccount", principal.user)]
    keys.extend(("Group", group) for group in sorted(principal.groups))
    return keys


def _subject_keys(found: Iterable[Subject]) -> Iterator[tuple[tuple[str, str], Subject]]:
    """What a ``Principal`` is matched on — a User's or Group's name, a ServiceAccount's username
    (``binding_subjects`` has resolved its namespace) — with the subject."""
    for subject in found:
        if subject.kind == "ServiceAccount":
            if subject.namespace:
                key = service_account_user(subject.namespace, subject.name)
                yield (subject.kind, key), subject
        else:
            yield (subject.kind, subject.name), subject


def _first(item: tuple[int, RoleBindings, EffectiveRule, K8sObject]) -> int:
    return item[0]


def _binding_order(binding: K8sObject) -> tuple[bool, str, str]:
    return (binding.ref.kind != "ClusterRoleBinding", binding.ref.namespace, binding.ref.name)


def _answer_order(access: Access) -> tuple[bool, str, str, int]:
    return (*_binding_order(access.binding), access.subject.index)


def _ranks(entries: tuple[RoleBindings, ...]) -> dict[int, int]:
    """Each binding's place in the answer order, by identity; empty when two bindings share a sort
    key (the same object twice in the inputs): their subjects then interleave by index."""
    bindings = [
        b for e in entries for group in (e.cluster, *e.by_namespace.values()) for b in group
    ]
    bindings.sort(key=_binding_order)
    keys = [_binding_order(b) for b in bindings]
    if any(a == b for a, b in pairwise(keys)):
        return {}
    return {id(binding): rank for rank, binding in enumerate(bindings)}


def build(inventory: Inventory) -> Graph:
    """The who-can index of ``inventory`` (``bindings_by_role`` included), built on first use."""
    graph: Graph | None = inventory.derived.get(_GRAPH)
    if graph is None:
        graph = inventory.derived[_GRAPH] = Graph(bindings_by_role(inventory))
    return graph


def who_can(inventory: Inventory, request: Request, *, any_namespace: bool = False) -> list[Access]:
    """Every (subject, binding, role, first allowing rule) by which ``request`` is allowed, ordered
    ClusterRoleBindings first, then by binding and subject. ``any_namespace``: for a request on
    a namespaced resource that names no namespace, the RoleBindings of every namespace too (who
    may do it in some namespace, ``who-can -A``)."""
    return build(inventory).who_can(request, any_namespace=any_namespace)


def allowed(inventory: Inventory, principal: Principal, request: Request) -> bool:
    """The authorizer's decision for one requester: some ``who_can`` subject matches it."""
    return build(inventory).allowed(principal, request)


def allowing(inventory: Inventory, principal: Principal, request: Request) -> Access | None:
    """The binding, role and rule by which ``request`` is allowed for one requester (the first
    found, see ``Graph.allowing``), or None when the authorizer would deny it."""
    return build(inventory).allowing(principal, request)


_BY_ROLE_NAME = "rbac_graph.by_role_name"


def bindings_of(inventory: Inventory, kind: str, namespace: str, name: str) -> RoleBindings | None:
    """The bindings resolving to the role ``kind`` ``namespace``/``name`` (namespace empty for a
    ClusterRole), looked up in ``bindings_by_role``; None when no binding grants it anything."""
    index: dict[tuple[str, str, str], RoleBindings] | None = inventory.derived.get(_BY_ROLE_NAME)
    if index is None:
        index = {}
        for entry in bindings_by_role(inventory):
            role = entry.role
            index.setdefault((role.kind, role.namespace, role.name), entry)
        inventory.derived[_BY_ROLE_NAME] = index
    return index.get((kind, namespace, name))

"""Seeded random RBAC objects and authorization questions for the SubjectAccessReview comparison
(``test_rbac_who_can.py``).

``objects(rng)`` writes Roles, ClusterRoles (aggregated ones, one aggregated into the default
``edit``), RoleBindings, ClusterRoleBindings and ServiceAccounts into three namespaces. Rules mix
``*`` verbs, groups and resources, ``resource/subresource``, ``*/subresource`` and ``resource/*``
entries, ``resourceNames``, upper- and mixed-case entries, the special verbs (``impersonate`` on
users, groups, ServiceAccounts and user extras; ``bind`` and ``escalate`` on roles; ``approve`` and
``sign`` on signers) and, in ClusterRoles, ``nonResourceURLs`` with exact, prefix (``/logs/*``) and
``*`` entries. Subjects are users (``system:anonymous`` too), groups (``system:unauthenticated``,
``system:authenticated``, ``system:serviceaccounts[:<ns>]`` too) and ServiceAccounts with and
without a namespace; some bindings name a missing role. ``invalid_objects()`` are the shapes the API
server should refuse (a ClusterRoleBinding naming a Role, a ClusterRoleBinding ServiceAccount
without a namespace, a subject of an unknown kind): the test applies them one by one and compares
whatever the server stored.

``requests(rng)`` asks resource requests (namespaced resources with and without a namespace,
cluster-scoped ones with and without one, the Namespace object itself: named requests carry its
name as namespace, list and create carry none), non-resource URLs, and the special verbs, with and
without a name; ``PRINCIPALS`` are the requesters put to each request (users with extra groups,
``system:anonymous``, ServiceAccounts with and without their groups). Every request has a ``kind``
label, for the counts the test prints.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from kposture.inventory.rbac_graph import Principal, Request

NAMESPACES = ("rbac-a", "rbac-b", "rbac-c")
USERS = ("alice", "bob", "carol", "dave")
ANONYMOUS = "system:anonymous"
GROUPS = ("devs", "ops", "auditors")
SERVICE_ACCOUNTS = ("runner", "deployer")
NAMES = ("one", "two", "three", "One")
SIGNERS = ("kubernetes.io/kube-apiserver-client", "example.com/signer", "example.com/*")
EXTRA_KEYS = ("scopes", "example.com/reason")  # an extra key may hold a slash
RBAC = "rbac.authorization.k8s.io"
AGGREGATE_LABEL = "kposture.io/aggregate-to-team"
OBJECT_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
URL_VERBS = ("get", "post", "put", "patch", "delete", "head")
URL_ENTRIES = (
    "/healthz",
    "/healthz/*",
    "/metrics",
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/logs/*",
    "/logs",
    "/version",
    "/Metrics",
    "/apis/*/v1",  # a star inside is literal
    "/api**",
    "*",
)
URLS = (
    "/healthz",
    "/healthz/etcd",
    "/metrics",
    "/Metrics",
    "/api",
    "/api/v1",
    "/apis",
    "/apis/apps/v1",
    "/apis/*/v1",
    "/logs",
    "/logs/",
    "/logs/kube-apiserver.log",
    "/version",
    "/livez",
    "/readyz",
    "/openapi/v2",
    "/unknown",
)


@dataclass(frozen=True)
class Kind:
    """One resource of the catalogue: its group, subresources, the verbs asked about it, the names
    of its objects, and whether it is cluster-scoped."""

    group: str
    resource: str
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = OBJECT_VERBS
    names: tuple[str, ...] = NAMES
    cluster: bool = False


IMPERSONATE = ("impersonate",)
CATALOGUE: tuple[Kind, ...] = (
    Kind("", "pods", ("exec", "log", "status")),
    Kind("", "secrets"),
    Kind("", "configmaps"),
    Kind("", "serviceaccounts", ("token",), (*OBJECT_VERBS, "impersonate"), SERVICE_ACCOUNTS),
    Kind("apps", "deployments", ("scale", "status")),
    Kind("batch", "jobs"),
    Kind("example.io", "widgets"),
    Kind("", "nodes", ("proxy", "status"), cluster=True),
    Kind("", "persistentvolumes", cluster=True),
    Kind("", "namespaces", ("status", "finalize"), names=(*NAMESPACES, "default"), cluster=True),
    Kind("", "users", (), IMPERSONATE, (*USERS, ANONYMOUS), cluster=True),
    Kind("", "groups", (), IMPERSONATE, (*GROUPS, "system:masters"), cluster=True),
    Kind("authentication.k8s.io", "userextras", EXTRA_KEYS, IMPERSONATE, ("admin", "x"), True),
    Kind(RBAC, "roles", (), (*OBJECT_VERBS, "bind", "escalate")),
    Kind(RBAC, "rolebindings"),
    Kind(RBAC, "clusterroles", (), (*OBJECT_VERBS, "bind", "escalate"), cluster=True),
    Kind(RBAC, "clusterrolebindings", cluster=True),
    Kind("certificates.k8s.io", "signers", (), ("approve", "sign"), SIGNERS, True),
    Kind("certificates.k8s.io", "certificatesigningrequests", ("approval", "status"), cluster=True),
)
SPECIAL_VERBS = frozenset({"impersonate", "bind", "escalate", "approve", "sign"})


def _case(rng: random.Random, value: str) -> str:
    """Now and then an upper- or mixed-case spelling (the authorizer compares exactly)."""
    roll = rng.random()
    if roll < 0.03:
        return value.upper()
    if roll < 0.05:
        return value.capitalize()
    return value


# --- objects ------------------------------------------------------------------------------------


def resource_rule(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(CATALOGUE)
    if rng.random() < 0.08:
        verbs = ["*"]
    else:
        pool = kind.verbs if rng.random() < 0.8 else OBJECT_VERBS
        verbs = [_case(rng, v) for v in rng.sample(pool, rng.randint(1, min(3, len(pool))))]
    roll = rng.random()
    if roll < 0.1:
        groups = ["*"]
    elif roll < 0.15:
        groups = [kind.group, rng.choice(CATALOGUE).group]
    else:
        groups = [_case(rng, kind.group)]
    entries = []
    for _ in range(rng.randint(1, 2)):
        roll = rng.random()
        sub = rng.choice(kind.subresources) if kind.subresources else ""
        if roll < 0.07:
            entries.append("*")
        elif roll < 0.14 and sub:
            entries.append(f"*/{sub}")
        elif roll < 0.17:
            entries.append(f"{kind.resource}/*")
        elif roll < 0.45 and sub:
            entries.append(f"{kind.resource}/{sub}")
        else:
            entries.append(_case(rng, kind.resource))
    rule: dict[str, Any] = {
        "apiGroups": sorted(set(groups)),
        "resources": sorted(set(entries)),
        "verbs": sorted(set(verbs)),
    }
    if rng.random() < 0.3:
        names = rng.sample(kind.names, rng.randint(1, min(2, len(kind.names))))
        rule["resourceNames"] = sorted(set(names))
    return rule


def url_rule(rng: random.Random) -> dict[str, Any]:
    verbs = ["*"] if rng.random() < 0.15 else rng.sample(URL_VERBS, rng.randint(1, 2))
    return {
        "nonResourceURLs": sorted(set(rng.sample(URL_ENTRIES, rng.randint(1, 2)))),
        "verbs": sorted({_case(rng, v) for v in verbs}),
    }


def _meta(name: str, namespace: str = "", labels: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if namespace:
        out["namespace"] = namespace
    if labels:
        out["labels"] = labels
    return out


def _binding(kind: str, name: str, namespace: str, ref_kind: str, ref_name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": kind,
        "metadata": _meta(name, namespace),
        "roleRef": {"apiGroup": RBAC, "kind": ref_kind, "name": ref_name},
        "subjects": [],
    }


def subject(rng: random.Random, binding_namespace: str) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.3:
        name = ANONYMOUS if rng.random() < 0.08 else rng.choice(USERS)
        user = {"kind": "User", "name": name, "apiGroup": RBAC}
        if rng.random() < 0.05:
            user["namespace"] = rng.choice(NAMESPACES)  # ignored for users
        return user
    if roll < 0.55:
        special = rng.random()
        if special < 0.08:
            name = "system:unauthenticated"
        elif special < 0.1:
            name = "system:authenticated"
        elif special < 0.3:
            name = f"system:serviceaccounts:{rng.choice(NAMESPACES)}"
        elif special < 0.38:
            name = "system:serviceaccounts"
        else:
            name = rng.choice(GROUPS)
        return {"kind": "Group", "name": name, "apiGroup": RBAC}
    out = {"kind": "ServiceAccount", "name": rng.choice(SERVICE_ACCOUNTS)}
    if binding_namespace and rng.random() < 0.4:
        return out  # defaults to the RoleBinding's namespace
    out["namespace"] = rng.choice(NAMESPACES)
    return out


def objects(rng: random.Random) -> list[dict[str, Any]]:
    """Roles, ClusterRoles (aggregated ones too), ServiceAccounts and bindings naming them."""
    docs: list[dict[str, Any]] = []
    cluster_roles: list[str] = []
    roles: dict[str, list[str]] = {ns: [] for ns in NAMESPACES}
    for i in range(10):
        labels = {}
        if i % 3 == 0:
            labels[AGGREGATE_LABEL] = "true"
        if i == 4:
            labels["rbac.authorization.k8s.io/aggregate-to-edit"] = "true"
        rules = [
            url_rule(rng) if rng.random() < 0.25 else resource_rule(rng)
            for _ in range(rng.randint(1, 4))
        ]
        name = f"kp-cr-{i}"
        docs.append(
            {
                "apiVersion": f"{RBAC}/v1",
                "kind": "ClusterRole",
                "metadata": _meta(name, labels=labels),
                "rules": rules,
            }
        )
        cluster_roles.append(name)
    for name, label, selected in (
        ("kp-aggregated", {"kposture.io/aggregate-to-top": "true"}, AGGREGATE_LABEL),
        ("kp-aggregated-top", {}, "kposture.io/aggregate-to-top"),
    ):
        docs.append(
            {
                "apiVersion": f"{RBAC}/v1",
                "kind": "ClusterRole",
                "metadata": _meta(name, labels=label),
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {selected: "true"}}]},
                "rules": [],
            }
        )
    # Non-resource URLs for sure: exact, prefix and every URL.
    docs.append(
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": _meta("kp-urls"),
            "rules": [
                {"nonResourceURLs": ["/healthz", "/logs/*", "/apis/*"], "verbs": ["get"]},
                {"nonResourceURLs": ["*"], "verbs": [rng.choice(URL_VERBS)]},
            ],
        }
    )
    cluster_roles += ["kp-aggregated", "kp-aggregated-top", "kp-urls", "edit", "view", "admin"]
    missing = ["kp-missing"]
    for ns in NAMESPACES:
        for i in range(3):
            name = f"kp-role-{i}"
            docs.append(
                {
                    "apiVersion": f"{RBAC}/v1",
                    "kind": "Role",
                    "metadata": _meta(name, ns),
                    "rules": [resource_rule(rng) for _ in range(rng.randint(1, 4))],
                }
            )
            roles[ns].append(name)
        for sa in SERVICE_ACCOUNTS:
            docs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(sa, ns)})
    for i in range(30):
        ns = rng.choice(NAMESPACES)
        roll = rng.random()
        if roll < 0.45:
            ref = ("Role", rng.choice([*roles[ns], *missing]))
        else:
            ref = ("ClusterRole", rng.choice([*cluster_roles, *missing]))
        binding = _binding("RoleBinding", f"kp-rb-{i}", ns, *ref)
        binding["subjects"] = [subject(rng, ns) for _ in range(rng.randint(1, 3))]
        docs.append(binding)
    # A RoleBinding of the URL role: it must not grant non-resource URLs.
    binding = _binding(
        "RoleBinding", "kp-rb-urls", rng.choice(NAMESPACES), "ClusterRole", "kp-urls"
    )
    binding["subjects"] = [{"kind": "Group", "name": rng.choice(GROUPS), "apiGroup": RBAC}]
    docs.append(binding)
    for i in range(10):
        ref_name = rng.choice([*cluster_roles, *missing])
        binding = _binding("ClusterRoleBinding", f"kp-crb-{i}", "", "ClusterRole", ref_name)
        binding["subjects"] = [subject(rng, "") for _ in range(rng.randint(1, 2))]
        docs.append(binding)
    return docs


def invalid_objects() -> list[dict[str, Any]]:
    """Bindings the API server is expected to refuse; applied one by one, kept if it stores them."""
    role_ref = _binding("ClusterRoleBinding", "kp-invalid-role-ref", "", "Role", "kp-role-0")
    role_ref["subjects"] = [{"kind": "User", "name": "mallory", "apiGroup": RBAC}]
    no_namespace = _binding("ClusterRoleBinding", "kp-invalid-sa", "", "ClusterRole", "edit")
    no_namespace["subjects"] = [{"kind": "ServiceAccount", "name": "runner"}]
    robot = _binding("RoleBinding", "kp-invalid-kind", NAMESPACES[0], "ClusterRole", "edit")
    robot["subjects"] = [{"kind": "Robot", "name": "r2"}]
    return [role_ref, no_namespace, robot]


# --- questions ----------------------------------------------------------------------------------


def _principals() -> tuple[Principal, ...]:
    found = [
        Principal.of_user("alice"),
        Principal.of_user("bob", ["devs"]),
        Principal.of_user("carol", ["ops", "auditors"]),
        Principal.of_user("dave", ["system:serviceaccounts:rbac-b"]),
        Principal.of_user("erin"),
        Principal.of_user("frank", ["devs", "system:serviceaccounts"]),
        Principal.of_user(ANONYMOUS),
        Principal("system:serviceaccount:rbac-a:runner"),  # without its groups
    ]
    found += [Principal.of_service_account(ns, sa) for ns in NAMESPACES for sa in SERVICE_ACCOUNTS]
    return tuple(found)


PRINCIPALS = _principals()


_KINDS = {(kind.group, kind.resource): kind for kind in CATALOGUE}
ROLE_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")


@dataclass(frozen=True)
class Question:
    """A labelled request and the requesters it is put to."""

    label: str
    request: Request
    principals: tuple[Principal, ...]


def question(rng: random.Random, docs: list[dict[str, Any]], principals: int) -> Question:
    """A random request put to ``principals`` requesters. Half of the requests are aimed at one of
    the generated bindings: at one of its role's rules (its verbs, groups, resources, names and
    URLs, at and around their edges), in its namespace, and one requester is one of its subjects
    (with other groups); the rest are drawn from the catalogue, for random requesters."""
    bindings = [doc for doc in docs if doc["kind"] in BINDING_KINDS]
    if rng.random() < 0.5:
        label, request = _request(rng, None, "")
        return Question(label, request, tuple(rng.sample(PRINCIPALS, principals)))
    binding = rng.choice(bindings)
    namespace = binding["metadata"].get("namespace", "")
    rules = _rules_of(docs, binding) or [
        r for d in docs if d["kind"] in ROLE_KINDS for r in d["rules"]
    ]
    label, request = _request(rng, rng.choice(rules), namespace)
    found = list(rng.sample(PRINCIPALS, principals - 1))
    found.insert(
        rng.randrange(principals), _member(rng, rng.choice(binding["subjects"]), namespace)
    )
    return Question(label, request, tuple(found))


def _rules_of(docs: list[dict[str, Any]], binding: dict[str, Any]) -> list[dict[str, Any]]:
    ref = binding["roleRef"]
    namespace = binding["metadata"].get("namespace", "") if ref["kind"] == "Role" else ""
    for doc in docs:
        meta = doc["metadata"]
        if (doc["kind"], meta.get("namespace", ""), meta["name"]) == (
            ref["kind"],
            namespace,
            ref["name"],
        ):
            return list(doc["rules"])
    return []


def _member(rng: random.Random, subject: dict[str, Any], namespace: str) -> Principal:
    """A requester a binding subject stands for, with groups of its own."""
    kind, name = subject["kind"], subject["name"]
    if kind == "ServiceAccount":
        return Principal.of_service_account(subject.get("namespace") or namespace, name)
    if kind == "User":
        return Principal.of_user(name, rng.sample(GROUPS, rng.randint(0, 1)))
    if name == "system:unauthenticated":
        return Principal.of_user(ANONYMOUS)
    if name.startswith("system:serviceaccounts"):
        sa_namespace = name.rpartition(":")[2] if name.count(":") == 2 else rng.choice(NAMESPACES)
        return Principal.of_service_account(sa_namespace, rng.choice(SERVICE_ACCOUNTS))
    return Principal.of_user(rng.choice((*USERS, "erin")), [name])


def _request(rng: random.Random, rule: dict[str, Any] | None, near: str) -> tuple[str, Request]:
    """A labelled request, aimed at ``rule`` and namespace ``near`` when given."""
    if rule is not None and "nonResourceURLs" in rule:
        return "non-resource URL", Request(verb=_verb(rng, rule), path=_url(rng, rule))
    if rule is None and rng.random() < 0.15:
        verb = rng.choice(URL_VERBS) if rng.random() < 0.95 else rng.choice(("GET", "*"))
        return "non-resource URL", Request(verb=verb, path=rng.choice(URLS))
    kind, resource, subresource = _resource(rng, rule)
    verb = _verb(rng, rule) if rule is not None else ""
    if not verb or (verb == "*" and rng.random() < 0.9):
        verb = rng.choice(kind.verbs) if rng.random() < 0.9 else rng.choice(OBJECT_VERBS)
        roll = rng.random()
        if roll < 0.02:
            verb = verb.upper()
        elif roll < 0.03:
            verb = "*"
    group = kind.group
    if rule is not None and rng.random() < 0.8:
        group = rng.choice(rule["apiGroups"])
        if group == "*":
            group = kind.group
    names = kind.names
    if rule is not None and rule.get("resourceNames") and rng.random() < 0.7:
        names = rule["resourceNames"]
    name = rng.choice(names) if rng.random() < 0.6 else ""
    if kind.resource == "namespaces":
        # A named request on a Namespace carries its name as namespace; list and create none.
        if near and name and rng.random() < 0.5:
            name = near
        namespace = name if rng.random() < 0.9 else rng.choice(("", *NAMESPACES))
        label = "namespace object"
    elif kind.cluster:
        with_namespace = rng.random() < (0.5 if near else 0.2)
        namespace = (near or rng.choice(NAMESPACES)) if with_namespace else ""
        label = "cluster-scoped, with a namespace" if with_namespace else "cluster-scoped"
    else:
        namespace = "" if rng.random() < 0.15 else near or rng.choice(NAMESPACES)
        label = "namespaced" if namespace else "namespaced, all namespaces"
    if verb.lower() in SPECIAL_VERBS:
        label = verb.lower()
    return label, Request(
        verb=verb,
        resource=resource,
        group=group,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )


def _verb(rng: random.Random, rule: dict[str, Any]) -> str:
    verb = str(rng.choice(rule["verbs"]))
    return verb.lower() if rng.random() < 0.2 else verb


def _url(rng: random.Random, rule: dict[str, Any]) -> str:
    entry = str(rng.choice(rule["nonResourceURLs"]))
    if entry == "*" or rng.random() < 0.2:
        return rng.choice(URLS)
    if entry.endswith("*"):
        return entry.rstrip("*") + rng.choice(("", "x", "v1/x", "*"))
    return entry if rng.random() < 0.8 else entry + rng.choice(("/", "x"))


def _resource(rng: random.Random, rule: dict[str, Any] | None) -> tuple[Kind, str, str]:
    """A catalogue kind and the request's resource and subresource, from one of the rule's
    resource entries when there is a rule (``*/sub``: some resource with that subresource;
    ``res/*``: a real subresource or one literally named ``*``)."""
    entry = str(rng.choice(rule["resources"])) if rule is not None else "*"
    base, slash, sub = entry.partition("/")
    groups = [g for g in rule["apiGroups"] if g != "*"] if rule is not None else []
    candidates = [
        kind
        for kind in CATALOGUE
        if (base in ("*", kind.resource) or base.lower() == kind.resource)
        and (not groups or kind.group in groups or rng.random() < 0.2)
        and (not slash or sub == "*" or sub in kind.subresources)
    ]
    kind = rng.choice(candidates or CATALOGUE)
    resource = base if base not in ("*", "") and rng.random() < 0.8 else kind.resource
    if rng.random() < 0.02:
        resource = resource.capitalize()
    subresource = ""
    if slash and rng.random() < 0.85:
        subresource = sub if sub != "*" or rng.random() < 0.3 else ""
        if not subresource and kind.subresources:
            subresource = rng.choice(kind.subresources)
    elif kind.subresources and rng.random() < 0.3:
        subresource = rng.choice(kind.subresources)
    return kind, resource, subresource


def sar_body(principal: Principal, req: Request) -> dict[str, Any]:
    """A SubjectAccessReview asking the API server the same question."""
    spec: dict[str, Any] = {"user": principal.user, "groups": sorted(principal.groups)}
    if req.path:
        spec["nonResourceAttributes"] = {"path": req.path, "verb": req.verb}
    else:
        spec["resourceAttributes"] = {
            "namespace": req.namespace,
            "verb": req.verb,
            "group": req.group,
            "resource": req.resource,
            "subresource": req.subresource,
            "name": req.name,
        }
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}

"""The authorizer cases the SubjectAccessReview comparison (tests/e2e/cluster/test_rbac_who_can.py)
checks against a real API server, kept here so the unit suite holds them without a cluster: the
namespace a request on a Namespace carries, non-resource URLs (RoleBindings never grant them), user
extras whose key holds a slash, case, anonymous requests, resourceNames on requests of any verb,
cluster-scoped resources asked in a namespace, missing roles and subjects that match nobody."""

from __future__ import annotations

import pytest

from kposture.inventory import Inventory
from kposture.inventory.rbac_graph import Principal, Request, allowed, who_can
from kposture.inventory.rbac_scope import request_namespace
from support import objects_from_text

RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ns-admin, namespace: shop}
rules:
- {apiGroups: [""], resources: [namespaces, namespaces/finalize, nodes], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ns-admin, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ns-admin}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: urls}
rules:
- {nonResourceURLs: [/healthz, /logs/*, /api**, /apis/*/v1], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: urls}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: urls}
subjects: [{kind: Group, name: system:unauthenticated, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: urls, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: urls}
subjects: [{kind: User, name: bob, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: odd}
rules:
- apiGroups: [authentication.k8s.io]
  resources: ["*/example.com/reason", userextras/scopes]
  verbs: [impersonate]
- {apiGroups: [""], resources: [Pods], verbs: [GET]}
- {apiGroups: [""], resources: [secrets], verbs: [list, create, deletecollection],
   resourceNames: [db]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: odd}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: odd}
subjects:
- {kind: User, name: system:anonymous, apiGroup: rbac.authorization.k8s.io}
- {kind: Group, name: system:serviceaccounts:shop, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: missing, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: not-there}
subjects: [{kind: Group, name: system:authenticated, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: nobody}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: odd}
subjects:
- {kind: ServiceAccount, name: runner}
- {kind: Robot, name: r2}
"""

ALICE = Principal.of_user("alice")
BOB = Principal.of_user("bob")
ANONYMOUS = Principal.of_user("system:anonymous")
SHOP_SA = Principal.of_service_account("shop", "runner")


def inventory() -> Inventory:
    return Inventory(objects_from_text(RBAC))


@pytest.mark.parametrize(
    ("group", "resource", "namespace", "name", "carried"),
    [
        ("", "namespaces", "", "shop", "shop"),
        ("", "namespaces/finalize", "", "shop", "shop"),
        ("", "namespaces", "other", "shop", "shop"),  # GET /api/v1/namespaces/shop
        ("", "namespaces", "", "", ""),  # list and create carry none
        ("", "pods", "shop", "web", "shop"),
        ("", "nodes", "", "n1", ""),
        ("example.io", "namespaces", "", "shop", ""),
    ],
)
def test_request_namespace_as_the_api_server_sets_it(
    group: str, resource: str, namespace: str, name: str, carried: str
) -> None:
    assert request_namespace(group, resource, namespace, name) == carried


def test_a_role_binding_reaches_its_own_namespace_object_only_by_name() -> None:
    inv = inventory()
    for verb in ("get", "update", "delete"):
        named = Request(verb, "namespaces", namespace="shop", name="shop")
        assert allowed(inv, ALICE, named)
    finalize = Request(
        "update", "namespaces", subresource="finalize", namespace="shop", name="shop"
    )
    assert allowed(inv, ALICE, finalize)
    assert not allowed(inv, ALICE, Request("get", "namespaces", namespace="other", name="other"))
    assert not allowed(inv, ALICE, Request("list", "namespaces"))
    # The authorizer takes the namespace attribute as it is, for any resource.
    assert allowed(inv, ALICE, Request("get", "nodes", namespace="shop", name="n1"))
    assert not allowed(inv, ALICE, Request("get", "nodes", name="n1"))


@pytest.mark.parametrize(
    ("path", "granted"),
    [
        ("/healthz", True),
        ("/healthz/etcd", False),
        ("/logs/", True),
        ("/logs/kube-apiserver.log", True),
        ("/logs", False),
        ("/api", True),  # "/api**": every trailing star is trimmed, then a prefix
        ("/apis/apps/v1", True),
        ("/apis/*/v1", True),  # a star inside an entry is literal
        ("/metrics", False),
    ],
)
def test_non_resource_urls_through_cluster_role_bindings_only(path: str, granted: bool) -> None:
    inv = inventory()
    assert allowed(inv, ANONYMOUS, Request("get", path=path)) is granted
    assert not allowed(inv, ANONYMOUS, Request("post", path=path))
    # bob's RoleBinding of the same ClusterRole grants no URL: URLs carry no namespace.
    assert not allowed(inv, BOB, Request("get", path=path))
    assert all(
        a.binding.ref.kind == "ClusterRoleBinding" for a in who_can(inv, Request("get", path=path))
    )


def test_user_extras_with_a_slash_in_the_key() -> None:
    inv = inventory()

    def extra(key: str) -> Request:
        return Request("impersonate", "userextras", "authentication.k8s.io", key, name="x")

    assert allowed(inv, SHOP_SA, extra("example.com/reason"))
    assert allowed(inv, SHOP_SA, extra("scopes"))
    assert not allowed(inv, SHOP_SA, extra("reason"))
    assert not allowed(inv, SHOP_SA, extra("example.com/scopes"))


def test_entries_are_compared_exactly_case_included() -> None:
    inv = inventory()
    assert allowed(inv, ANONYMOUS, Request("GET", "Pods", namespace="a"))
    assert not allowed(inv, ANONYMOUS, Request("get", "pods", namespace="a"))
    assert not allowed(inv, ANONYMOUS, Request("GET", "pods", namespace="a"))


def test_resource_names_decide_on_the_name_a_request_carries_whatever_the_verb() -> None:
    inv = inventory()
    for verb in ("list", "create", "deletecollection"):
        assert allowed(inv, ANONYMOUS, Request(verb, "secrets", namespace="a", name="db"))
        assert not allowed(inv, ANONYMOUS, Request(verb, "secrets", namespace="a"))


def test_anonymous_requests_match_their_user_and_group_only() -> None:
    inv = inventory()
    healthz = Request("get", path="/healthz")
    assert allowed(inv, ANONYMOUS, healthz)
    assert not allowed(inv, ALICE, healthz)  # system:authenticated, not system:unauthenticated
    assert not allowed(inv, Principal("system:anonymous"), healthz)  # the user, not the group


def test_missing_roles_and_unmatchable_subjects_grant_nothing() -> None:
    inv = inventory()
    assert not allowed(inv, ALICE, Request("get", "configmaps", namespace="shop"))
    names = {a.binding.ref.name for a in who_can(inv, Request("GET", "Pods", namespace="a"))}
    assert names == {"odd"}
    # A ServiceAccount without a namespace in a ClusterRoleBinding, and a Robot, match nobody.
    subjects = {a.subject.kind for a in who_can(inv, Request("GET", "Pods", namespace="a"))}
    assert subjects == {"User", "Group"}

"""The RBAC graph: who_can and allowed, decided as the Kubernetes RBAC authorizer decides."""

from __future__ import annotations

import pytest

from kposture.inventory import Inventory, rbac_graph
from kposture.inventory.rbac_graph import Principal, Request, allowed, build, who_can
from support import objects_from_text

RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get], resourceNames: [db]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: exec, labels: {team/aggregate: "true"}}
rules:
- {apiGroups: [""], resources: ["*/exec"], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: team}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {team/aggregate: "true"}}]
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: metrics}
rules:
- {nonResourceURLs: ["/metrics"], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: shop}
rules:
- {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects:
- {kind: ServiceAccount, name: ci}
- {kind: Group, name: "system:serviceaccounts:build"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: readers, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects:
- {kind: User, name: bob}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: team}
subjects:
- {kind: Group, name: devs}
- {kind: ServiceAccount, name: no-namespace}
- {kind: Robot, name: r2}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: metrics}
subjects:
- {kind: Group, name: "system:authenticated"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: role-ref}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects:
- {kind: User, name: mallory}
"""


def inventory() -> Inventory:
    return Inventory(objects_from_text(RBAC))


def names(request: Request) -> list[str]:
    return [
        f"{a.subject.kind}:{a.subject.namespace}/{a.subject.name}@{a.binding.ref.name}"
        for a in who_can(inventory(), request)
    ]


def test_role_binding_applies_only_in_its_namespace() -> None:
    shop = Request("delete", "deployments", "apps", namespace="shop", name="web")
    assert names(shop) == [
        "ServiceAccount:shop/ci@deployer",
        "Group:/system:serviceaccounts:build@deployer",
    ]
    assert names(Request("delete", "deployments", "apps", namespace="other")) == []
    # A request across namespaces carries none: only ClusterRoleBindings apply.
    assert names(Request("list", "deployments", "apps")) == []


def test_resource_names_need_a_matching_name() -> None:
    assert names(Request("get", "secrets", namespace="shop", name="db")) == [
        "ServiceAccount:shop/ci@deployer",
        "Group:/system:serviceaccounts:build@deployer",
        "User:/bob@readers",
    ]
    assert "User:/bob@readers" not in names(Request("get", "secrets", namespace="shop"))
    assert "User:/bob@readers" not in names(Request("get", "secrets", namespace="shop", name="x"))


def test_aggregated_wildcard_subresource_through_a_cluster_role_binding() -> None:
    found = who_can(inventory(), Request("create", "pods", subresource="exec", namespace="any"))
    assert [(a.subject.kind, a.subject.name) for a in found] == [("Group", "devs")]
    assert found[0].role.name == "team" and found[0].rule.origin.name == "exec"
    assert found[0].scope == "cluster"
    assert who_can(inventory(), Request("create", "pods", namespace="any")) == []


def test_non_resource_urls_only_through_cluster_role_bindings() -> None:
    assert names(Request("get", path="/metrics")) == ["Group:/system:authenticated@metrics"]
    assert names(Request("get", path="/healthz")) == []


def test_cluster_role_binding_to_a_role_grants_nothing() -> None:
    assert all(
        a.subject.name != "mallory"
        for a in who_can(inventory(), Request("get", "pods", namespace="shop"))
    )


def test_principals_match_subjects_like_the_authorizer() -> None:
    inv = inventory()
    exec_anywhere = Request("create", "pods", subresource="exec", namespace="x")
    assert allowed(inv, Principal.of_user("carol", ["devs"]), exec_anywhere)
    assert not allowed(inv, Principal.of_user("carol"), exec_anywhere)
    shop = Request("create", "pods", namespace="shop")
    assert allowed(inv, Principal.of_service_account("shop", "ci"), shop)
    assert allowed(inv, Principal.of_service_account("build", "anything"), shop)
    assert not allowed(inv, Principal.of_service_account("other", "ci"), shop)
    # A ServiceAccount subject without a namespace in a ClusterRoleBinding matches nobody.
    assert not allowed(inv, Principal.of_service_account("", "no-namespace"), exec_anywhere)
    assert Principal.of_user("system:anonymous").groups == {"system:unauthenticated"}
    assert allowed(inv, Principal.of_user("x"), Request("get", path="/metrics"))
    assert not allowed(inv, Principal.of_user("system:anonymous"), Request("get", path="/metrics"))


def test_built_in_default_rules_for_manifests_not_for_a_live_cluster() -> None:
    binding = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: editors}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: User, name: eve}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edit}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
"""
    token = Request("create", "serviceaccounts", subresource="token", namespace="a", name="s")
    manifests = Inventory(objects_from_text(binding))
    assert [a.rule.origin.name for a in who_can(manifests, token)] == ["edit"]
    facts = "apiVersion: kposture.io/v1\nkind: ClusterFacts\nmetadata: {name: cluster}\n"
    live = Inventory(objects_from_text(binding + "---\n" + facts))
    assert who_can(live, token) == []
    assert len(who_can(live, Request("get", "configmaps", namespace="a"))) == 1


def test_binding_index_is_built_once_per_inventory() -> None:
    inv = inventory()
    who_can(inv, Request("get", "pods", namespace="shop"))
    index = inv.derived["rbac_graph.index"]
    who_can(inv, Request("list", "pods", namespace="shop"))
    assert inv.derived["rbac_graph.index"] is index


def test_build_memoises_the_index_and_picks_the_first_allowing_rule() -> None:
    text = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: mixed}
rules:
- {apiGroups: [""], resources: ["pods/exec"], verbs: [create]}
- {apiGroups: ["*"], resources: ["*/exec"], verbs: ["*"]}
- {apiGroups: [""], resources: ["*"], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: mixed}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: mixed}
subjects: [{kind: User, name: u}]
"""
    inv = Inventory(objects_from_text(text))
    graph = build(inv)
    assert build(inv) is graph
    exec_ = Request("create", "pods", subresource="exec", namespace="a")
    assert [a.rule.index for a in who_can(inv, exec_)] == [0]
    assert [a.rule.index for a in who_can(inv, Request("get", "nodes", subresource="exec"))] == [1]
    assert [a.rule.index for a in who_can(inv, Request("create", "secrets", namespace="a"))] == [2]
    assert who_can(inv, Request("get", "secrets", namespace="a")) == []


def test_the_same_binding_twice_interleaves_its_subjects_by_index() -> None:
    binding = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: twice, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects: [{kind: User, name: %s}, {kind: User, name: %s}]
"""
    text = RBAC + "---\n" + binding % ("a1", "a2") + "---\n" + binding % ("b1", "b2")
    found = who_can(Inventory(objects_from_text(text)), Request("get", "pods", namespace="shop"))
    assert [a.subject.name for a in found if a.binding.ref.name == "twice"] == [
        "a1",
        "b1",
        "a2",
        "b2",
    ]


def test_allowed_answers_the_same_when_the_request_memo_starts_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requests = [
        Request("create", "pods", subresource="exec", namespace="x"),
        Request("create", "pods", namespace="shop"),
        Request("get", path="/metrics"),
    ]
    principals = [
        Principal.of_user("carol", ["devs"]),
        Principal.of_service_account("shop", "ci"),
        Principal.of_user("x"),
    ]
    expected = [[allowed(inventory(), p, r) for p in principals] for r in requests]
    monkeypatch.setattr(rbac_graph, "_FIRST_RULES_MEMO", 1)
    inv = inventory()
    for _ in range(2):
        assert [[allowed(inv, p, r) for p in principals] for r in requests] == expected
    assert expected == [[True, False, False], [False, True, False], [True, True, True]]

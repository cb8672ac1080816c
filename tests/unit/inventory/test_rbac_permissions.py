"""What one requester can do: rules in force by binding and scope, capabilities narrowed to it."""

from __future__ import annotations

from kposture.inventory import Inventory
from kposture.inventory.rbac_capabilities import all_holdings
from kposture.inventory.rbac_graph import Principal
from kposture.inventory.rbac_permissions import (
    capabilities_of,
    collapse_full_access,
    in_force,
    permissions,
)
from support import objects_from_text

RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
- {apiGroups: [""], resources: [secrets, configmaps], verbs: [get, list]}
- {nonResourceURLs: [/metrics], verbs: [get]}
- {apiGroups: [""], resources: [nodes], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: readers, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects:
- {kind: Group, name: devs}
- {kind: User, name: alice}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: everyone-reads}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects: [{kind: Group, name: system:serviceaccounts:ci}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: exec, namespace: ci}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: exec}
subjects: [{kind: ServiceAccount, name: builder}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: exec, namespace: ci}
rules:
- {apiGroups: [""], resources: [pods/exec], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: root}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, name: root}]
"""


def _inventory() -> Inventory:
    return Inventory(objects_from_text(RBAC))


def test_rule_of_a_rolebinding_that_reaches_nothing_in_its_namespace_is_left_out() -> None:
    found = permissions(_inventory(), Principal.of_user("alice"))
    # /metrics and nodes are not reachable through a RoleBinding: only the secrets rule is in force.
    assert [(p.scope, p.rule.index, p.subject.kind) for p in found] == [("shop", 0, "User")]


def test_binding_naming_the_principal_twice_counts_once() -> None:
    found = permissions(_inventory(), Principal.of_user("alice", ["devs"]))
    assert len(found) == 1 and found[0].subject.kind == "Group"


def test_service_account_matches_through_its_implicit_namespace_group_cluster_first() -> None:
    principal = Principal.of_service_account("ci", "builder")
    found = permissions(_inventory(), principal)
    assert [(p.scope, p.binding.ref.name, p.rule.index) for p in found] == [
        ("cluster", "everyone-reads", 0),
        ("cluster", "everyone-reads", 1),
        ("cluster", "everyone-reads", 2),
        ("ci", "exec", 0),
    ]
    held = capabilities_of(_inventory(), principal)
    assert [(h.capability.id, h.scope) for h in held] == [
        ("read-secrets", "cluster"),
        ("exec-pods", "ci"),
    ]


def test_namespace_limits_to_grants_in_force_there() -> None:
    principal = Principal.of_service_account("ci", "builder")
    assert [p.scope for p in permissions(_inventory(), principal, "shop")] == ["cluster"] * 3
    assert [h.capability.id for h in capabilities_of(_inventory(), principal, "shop")] == [
        "read-secrets"
    ]
    assert in_force("cluster", "x") and in_force("x", "") and not in_force("y", "x")


def test_built_in_cluster_admin_holds_everything_and_collapses_to_full_access() -> None:
    principal = Principal.of_user("root")
    held = capabilities_of(_inventory(), principal)
    assert len(held) == 11 and held[0].capability.id == "full-access"
    assert [h.capability.id for h in collapse_full_access(held)] == ["full-access"]
    assert permissions(_inventory(), principal)[0].rule.path == ("roleRef", "name")


def test_group_alone_and_unknown_requester() -> None:
    assert [
        p.binding.ref.name for p in permissions(_inventory(), Principal("", frozenset({"devs"})))
    ] == ["readers"]
    assert permissions(_inventory(), Principal.of_user("mallory")) == ()


ODD_SUBJECTS = """\
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: odd}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: Group, name: ""}
- {kind: ServiceAccount, name: lost}
- {kind: Robot, name: alice}
- {kind: User, name: system:serviceaccount:ci:builder}
"""


def test_capabilities_of_is_every_matching_holding_in_order_once_per_binding() -> None:
    inventory = Inventory(objects_from_text(RBAC + ODD_SUBJECTS))
    principals = (
        Principal.of_user("alice", ["devs"]),
        Principal.of_user("root"),
        Principal.of_user("lost"),
        Principal.of_service_account("ci", "builder"),
        Principal.of_service_account("shop", "default"),
        Principal("", frozenset({""})),
    )
    for principal in principals:
        for namespace in ("", "ci", "shop"):
            expected: list[object] = []
            seen: set[tuple[str, int]] = set()
            for holding in all_holdings(inventory):
                key = (holding.capability.id, id(holding.binding))
                if (
                    in_force(holding.scope, namespace)
                    and holding.subject.name
                    and principal.matches(holding.subject)
                    and key not in seen
                ):
                    seen.add(key)
                    expected.append(holding)
            assert list(capabilities_of(inventory, principal, namespace)) == expected
    builder = capabilities_of(inventory, Principal.of_service_account("ci", "builder"))
    assert {h.binding.ref.name for h in builder} >= {"odd", "exec", "everyone-reads"}

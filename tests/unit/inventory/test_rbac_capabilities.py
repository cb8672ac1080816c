"""Risky capabilities and their holders: scope, ServiceAccount namespaces, defaults, full access."""

from __future__ import annotations

from kposture.inventory import Inventory
from kposture.inventory.rbac_capabilities import (
    CAPABILITIES,
    CREATE_PERSISTENT_VOLUMES,
    CREATE_TOKENS,
    CREATE_WORKLOADS,
    EXEC_PODS,
    FULL_ACCESS,
    READ_SECRETS,
    Capability,
    holders,
)
from support import objects_from_text

RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ops}
rules:
- {apiGroups: [""], resources: [secrets, persistentvolumes], verbs: [get, create]}
- {apiGroups: [""], resources: ["pods/exec"], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ops}
subjects:
- {kind: Group, name: ops}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ops-in-shop, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ops}
subjects:
- {kind: ServiceAccount, name: ci}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: tokens, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: tokens}
subjects:
- {kind: User, name: alice}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: tokens, namespace: shop}
rules:
- {apiGroups: [""], resources: ["serviceaccounts/token"], verbs: [create], resourceNames: [builder]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: root}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: User, name: root}
"""


def _inventory() -> Inventory:
    return Inventory(objects_from_text(RBAC))


def _who(inventory: Inventory, capability: Capability) -> list[tuple[str, str, str, str]]:
    return [
        (h.subject.kind, h.subject.namespace, h.subject.name, h.scope)
        for h in holders(inventory, capability)
    ]


def test_cluster_and_namespace_holders_with_service_account_namespace_resolved() -> None:
    inventory = _inventory()
    assert _who(inventory, READ_SECRETS) == [
        ("Group", "", "ops", "cluster"),
        ("User", "", "root", "cluster"),
        ("ServiceAccount", "shop", "ci", "shop"),
    ]


def test_a_rolebinding_never_grants_a_cluster_scoped_capability() -> None:
    inventory = _inventory()
    assert ("ServiceAccount", "shop", "ci", "shop") not in _who(
        inventory, CREATE_PERSISTENT_VOLUMES
    )
    assert ("Group", "", "ops", "cluster") in _who(inventory, CREATE_PERSISTENT_VOLUMES)


def test_full_access_only_through_cluster_admin_or_equal() -> None:
    inventory = _inventory()
    assert _who(inventory, FULL_ACCESS) == [("User", "", "root", "cluster")]
    holding = holders(inventory, FULL_ACCESS)[0]
    assert holding.role.name == "cluster-admin"
    assert holding.describe() == "every verb on every resource of every API group"


def test_resource_names_restriction_is_kept_on_the_holding() -> None:
    (holding,) = [h for h in holders(_inventory(), CREATE_TOKENS) if h.subject.name == "alice"]
    assert holding.scope == "shop"
    assert holding.names_only
    assert holding.rule.rule.resource_names == ("builder",)
    assert "resourceNames [builder]" in holding.describe()


def test_each_capability_names_a_rule_and_holders_are_memoised() -> None:
    inventory = _inventory()
    assert all(c.rule_id for c in CAPABILITIES)
    assert holders(inventory, EXEC_PODS) is holders(inventory, EXEC_PODS)


def test_kubernetes_default_holdings_are_marked() -> None:
    text = (
        RBAC
        + """\
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:controller:generic-garbage-collector
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: generic-garbage-collector, namespace: kube-system}
"""
    )
    found = {
        h.subject.name: h.default for h in holders(Inventory(objects_from_text(text)), FULL_ACCESS)
    }
    assert found == {"root": False, "generic-garbage-collector": True}


EDIT_BINDING = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dev-edit, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {kind: User, name: alice}
"""
EXEC_ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: debugger, namespace: shop}
rules:
- {apiGroups: [""], resources: [pods/exec, pods/log], verbs: [get, list]}
- {apiGroups: [""], resources: [pods/exec], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: debugger, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: debugger}
subjects:
- {kind: User, name: alice}
"""


def test_exec_evidence_is_the_create_rule_and_names_the_get_rule_too() -> None:
    """The built-in edit lists get on pods/exec before create: the holding shows create (what
    exec needs on every server version) and mentions get (WebSocket exec before 1.30)."""
    for text in (EDIT_BINDING, EXEC_ROLE):
        (holding,) = holders(Inventory(objects_from_text(text)), EXEC_PODS)
        assert "create" in holding.rule.rule.verbs
        assert [rule.index for rule, _ in holding.grants] == (
            [2, 0] if text is EDIT_BINDING else [1, 0]
        )
        described = holding.describe()
        assert described.startswith("verbs [create] on ")
        assert (
            "(create: exec and attach on every server version); also verbs [get] on " in described
        )
        assert described.endswith(
            "(get: WebSocket exec and attach on servers before Kubernetes 1.30)"
        )


def test_a_holding_lists_only_the_rules_that_add_a_verb() -> None:
    (holding,) = [
        h
        for h in holders(Inventory(objects_from_text(EDIT_BINDING)), CREATE_WORKLOADS)
        if h.subject.name == "alice"
    ]
    assert len(holding.grants) > 1  # pods, replicationcontrollers, deployments, jobs...
    assert holding.describe() == 'verbs [create] on pods in apiGroup ""'

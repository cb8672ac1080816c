"""Risky capabilities and their holders: scope, ServiceAccount namespaces, defaults, full access."""

from __future__ import annotations

from kposture.inventory import Inventory
from kposture.inventory.rbac_capabilities import (
    CAPABILITIES,
    CREATE_PERSISTENT_VOLUMES,
    CREATE_TOKENS,
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

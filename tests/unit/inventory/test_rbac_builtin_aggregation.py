"""The built-in ``admin``, ``edit`` and ``view`` aggregate the scanned ClusterRoles carrying their
``aggregate-to-`` labels (admin ⊃ edit ⊃ view, as the bootstrap aggregationRules chain them), even
when the bootstrap RBAC is not in the inputs; a live inventory's stored roles are taken as they are."""

from __future__ import annotations

import pytest

from kposture.inventory import Inventory, bound_role
from kposture.inventory.rbac_capabilities import NODES_PROXY, holders
from kposture.inventory.rbac_graph import Principal, Request, allowed, who_can
from kposture.inventory.rbac_moves import Node
from kposture.inventory.rbac_paths import escalation_paths
from kposture.model import Severity
from support import objects_from_text, violations

AGGREGATED = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: node-proxy
  labels: {rbac.authorization.k8s.io/aggregate-to-LABEL: "true"}
rules:
- {apiGroups: [""], resources: [nodes/proxy], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: platform}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ROLE}
subjects:
- {kind: Group, name: platform, apiGroup: rbac.authorization.k8s.io}
"""

NODES_PROXY_REQUEST = Request("get", "nodes", subresource="proxy", name="node-1")
PLATFORM = Principal("", frozenset({"platform"}))


@pytest.mark.parametrize(
    ("label", "role", "granted"),
    [
        ("admin", "admin", True),
        ("edit", "admin", True),
        ("view", "admin", True),
        ("edit", "edit", True),
        ("view", "edit", True),
        ("admin", "edit", False),
        ("view", "view", True),
        ("edit", "view", False),
        ("view", "cluster-admin", True),  # cluster-admin's own * grants it anyway
        ("view", "someone-else", False),
    ],
)
def test_builtin_roles_aggregate_labelled_cluster_roles(
    label: str, role: str, granted: bool
) -> None:
    objects = objects_from_text(AGGREGATED.replace("LABEL", label).replace("ROLE", role))
    inventory = Inventory(objects)
    assert allowed(inventory, PLATFORM, NODES_PROXY_REQUEST) is granted


def test_aggregated_rule_is_attributed_to_the_labelled_role() -> None:
    objects = objects_from_text(AGGREGATED.replace("LABEL", "view").replace("ROLE", "admin"))
    inventory = Inventory(objects)
    (access,) = who_can(inventory, NODES_PROXY_REQUEST)
    assert access.subject.name == "platform"
    assert access.rule.origin.name == "node-proxy" and access.rule.index == 0
    role = bound_role(objects[1], inventory)
    assert role is not None and role.default and role.obj is None
    assert access.rule not in role.default_rules()  # a user role: judged on itself, not on admin
    (holding,) = holders(inventory, NODES_PROXY)
    assert holding.subject.name == "platform"


def test_aggregation_is_transitive_through_a_labelled_aggregating_role() -> None:
    text = AGGREGATED.replace("LABEL", "edit").replace("ROLE", "admin")
    text = text.replace(
        'labels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}',
        "labels: {team: ops}",
    )
    text += """---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ops-bundle
  labels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {team: ops}
"""
    assert allowed(Inventory(objects_from_text(text)), PLATFORM, NODES_PROXY_REQUEST)


def test_live_inventory_takes_stored_roles_as_aggregated() -> None:
    facts = "apiVersion: kposture.io/v1\nkind: ClusterFacts\nmetadata: {name: cluster}\n---\n"
    objects = objects_from_text(facts + AGGREGATED.replace("LABEL", "view").replace("ROLE", "view"))
    assert not allowed(Inventory(objects), PLATFORM, NODES_PROXY_REQUEST)


def test_opted_out_default_does_not_aggregate_by_builtin_selector() -> None:
    text = (
        AGGREGATED.replace("LABEL", "view").replace("ROLE", "view")
        + """---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: view, annotations: {rbac.authorization.kubernetes.io/autoupdate: "false"}}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get]}
"""
    )
    assert not allowed(Inventory(objects_from_text(text)), PLATFORM, NODES_PROXY_REQUEST)


def test_rules_and_paths_see_the_aggregated_grant() -> None:
    text = (
        AGGREGATED.replace("LABEL", "admin")
        .replace("ROLE", "admin")
        .replace(
            '- {apiGroups: [""], resources: [nodes/proxy], verbs: [get]}',
            '- {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}',
        )
    )
    found = violations("cluster-admin-binding", objects_from_text(text))
    assert len(found) == 1
    assert "aggregated ClusterRole node-proxy rules[0]" in found[0].message
    assert found[0].severity is not Severity.INFO

    tokens = (
        AGGREGATED.replace("LABEL", "view")
        .replace("ROLE", "view")
        .replace(
            '- {apiGroups: [""], resources: [nodes/proxy], verbs: [get]}',
            '- {apiGroups: [""], resources: [serviceaccounts/token], verbs: [create]}',
        )
        + """---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: builder-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: builder, namespace: ci}
"""
    )
    paths = escalation_paths(Inventory(objects_from_text(tokens)))
    starts = {(p.start, p.goal.id) for p in paths}
    assert (Node("Group", "", "platform"), "full-access") in starts

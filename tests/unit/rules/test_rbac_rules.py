"""RBAC rules: messages name the object, the rule index and the exact grant; paths point at the
offending entry; one violation per offending PolicyRule (roles) or subject (bindings); Kubernetes
defaults are capped at info and nothing else is."""

from __future__ import annotations

from kposture.model import Severity
from support import RULES_BY_ID, objects_from_text, violations

RBAC = [rule_id for rule_id, rule in RULES_BY_ID.items() if rule.meta.domain.value == "rbac"]

ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: app, namespace: shop}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get]}
- {apiGroups: [""], resources: [configmaps, secrets], verbs: [get, list, update]}
- {apiGroups: [""], resources: [secrets], resourceNames: [db], verbs: [get]}
- {apiGroups: [""], resources: [pods/exec, pods/attach], verbs: [get]}
"""


def test_catalogue_is_complete() -> None:
    assert sorted(RBAC) == sorted(
        [
            "cluster-admin-binding",
            "system-masters-group",
            "wildcard-rbac",
            "rbac-secrets-read",
            "rbac-pod-exec",
            "rbac-workload-create",
            "rbac-escalate-bind-impersonate",
            "rbac-nodes-proxy",
            "rbac-csr-approve",
            "rbac-webhook-modify",
            "rbac-token-create",
            "rbac-pv-create",
            "anonymous-access-binding",
        ]
    )
    for rule_id in RBAC:
        meta = RULES_BY_ID[rule_id].meta
        assert len(meta.title) < 80 and meta.remediation.endswith(".")
        assert meta.fix_snippet and meta.references


def test_one_violation_per_policy_rule_with_path_and_exact_grant() -> None:
    found = violations("rbac-secrets-read", objects_from_text(ROLE))
    assert [v.path for v in found] == [("rules", 1, "resources", 1), ("rules", 2, "resources", 0)]
    assert found[0].message == (
        'Role/shop/app rules[1] grants verbs [get list] on secrets in apiGroup ""'
    )
    assert found[1].message.endswith("(only on resourceNames [db])")
    assert all(v.severity is None for v in found)


def test_exec_through_get_says_why() -> None:
    (found,) = violations("rbac-pod-exec", objects_from_text(ROLE))
    assert found.path == ("rules", 3, "resources", 0)
    assert "get alone is enough: a WebSocket exec/attach" in found.message


def test_wildcard_points_at_the_first_wildcard_entry() -> None:
    text = ROLE + '- {apiGroups: ["*"], resources: [deployments], verbs: ["*"]}\n'
    (found,) = violations("wildcard-rbac", objects_from_text(text))
    assert found.path == ("rules", 4, "verbs", 0)
    assert found.message.startswith("Role/shop/app rules[4] uses * in verbs and apiGroups")


def test_escalation_points_at_the_verb() -> None:
    text = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: rbac-manager}
rules:
- {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [get, bind]}
"""
    (found,) = violations("rbac-escalate-bind-impersonate", objects_from_text(text))
    assert found.path == ("rules", 0, "verbs", 1)
    assert "verbs [bind] on clusterroles" in found.message


BINDING = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: User, name: alice}
- {kind: Group, name: system:masters}
- {kind: Group, name: system:unauthenticated}
- {kind: ServiceAccount, name: ci, namespace: tools}
"""


def test_bindings_report_per_subject() -> None:
    objects = objects_from_text(BINDING)
    admin = violations("cluster-admin-binding", objects)
    assert [v.path for v in admin] == [
        ("subjects", 0, "name"),
        ("subjects", 2, "name"),
        ("subjects", 3, "name"),
    ]
    assert admin[0].message.startswith(
        "ClusterRoleBinding/ops binds User alice to ClusterRole cluster-admin cluster-wide"
    )
    (masters,) = violations("system-masters-group", objects)
    assert masters.path == ("subjects", 1, "name") and masters.severity is None
    (anonymous,) = violations("anonymous-access-binding", objects)
    assert anonymous.path == ("subjects", 2, "name")


def test_rolebinding_to_equivalent_role_in_namespace() -> None:
    text = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: all, namespace: shop}
rules:
- {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: all, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: all}
subjects:
- {kind: User, name: bob}
"""
    (found,) = violations("cluster-admin-binding", objects_from_text(text))
    assert "to Role shop/all in namespace shop (its rules[0] grants verbs [*]" in found.message


def test_defaults_are_info_but_a_lookalike_is_not() -> None:
    default = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:node
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
  annotations: {rbac.authorization.kubernetes.io/autoupdate: "true"}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list, watch]}
"""
    (capped,) = violations("rbac-secrets-read", objects_from_text(default))
    assert capped.severity is Severity.INFO
    assert capped.message.endswith("[Kubernetes default, reported as info]")
    lookalike = default.split("  labels", 1)[0] + default.split('"true"}\n', 1)[1]
    (judged,) = violations("rbac-secrets-read", objects_from_text(lookalike))
    assert judged.severity is None

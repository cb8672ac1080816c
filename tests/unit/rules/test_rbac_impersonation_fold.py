"""Impersonating the ServiceAccounts of a namespace gives no more than creating a pod there (a pod
runs as any ServiceAccount of its namespace), so where a role grants both in a namespace the
impersonation is folded into the rbac-workload-create finding (named in its evidence) instead of a
critical finding of its own. Cluster-wide impersonation, and impersonation of users and groups,
are still reported."""

from __future__ import annotations

from kposture.model import K8sObject, Violation
from support import objects_from_text, violations

IMPERSONATION = "rbac-escalate-bind-impersonate"
WORKLOADS = "rbac-workload-create"


def _binding(kind: str, role: str, subject: str = "User") -> str:
    namespace = "\n  namespace: shop" if kind == "RoleBinding" else ""
    return (
        f"apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: devs{namespace}\n"
        f"roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}\n"
        f"subjects:\n- {{apiGroup: rbac.authorization.k8s.io, kind: {subject}, name: alice}}\n"
    )


def _role(kind: str, *rules: str) -> str:
    namespace = ", namespace: shop" if kind == "Role" else ""
    listed = "".join(f"\n- {rule}" for rule in rules)
    return (
        f"apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\n"
        f"metadata: {{name: r{namespace}}}\nrules:{listed}\n"
    )


IMPERSONATE_SAS = '{apiGroups: [""], resources: [serviceaccounts], verbs: [impersonate]}'
IMPERSONATE_ALL = (
    '{apiGroups: [""], resources: [users, groups, serviceaccounts], verbs: [impersonate]}'
)
CREATE_PODS = '{apiGroups: [""], resources: [pods], verbs: [create]}'


def _found(rule_id: str, objects: list[K8sObject]) -> list[Violation]:
    return [v for v in violations(rule_id, objects) if v.severity is None]


def test_developer_rolebinding_of_edit_folds_namespace_serviceaccount_impersonation() -> None:
    for role in ("edit", "admin"):
        objects = objects_from_text(_binding("RoleBinding", role))
        assert _found(IMPERSONATION, objects) == [], role
        (workloads,) = _found(WORKLOADS, objects)
        folded = dict(workloads.evidence)["folded"]
        assert "impersonate serviceaccounts in namespace shop" in folded
        assert "Group" not in folded


def test_cluster_wide_binding_of_edit_still_reports_impersonation() -> None:
    objects = objects_from_text(_binding("ClusterRoleBinding", "edit"))
    (found,) = _found(IMPERSONATION, objects)
    assert "impersonate serviceaccounts cluster-wide" in found.message


def test_role_with_pod_creation_folds_its_serviceaccount_impersonation() -> None:
    objects = objects_from_text(_role("Role", IMPERSONATE_SAS, CREATE_PODS))
    assert _found(IMPERSONATION, objects) == []
    (workloads,) = _found(WORKLOADS, objects)
    assert "rules[0]" in dict(workloads.evidence)["folded"]


def test_impersonation_without_pod_creation_is_still_reported() -> None:
    objects = objects_from_text(_role("Role", IMPERSONATE_SAS))
    assert len(_found(IMPERSONATION, objects)) == 1


def test_cluster_role_impersonation_is_cluster_wide_and_still_reported() -> None:
    objects = objects_from_text(_role("ClusterRole", IMPERSONATE_ALL, CREATE_PODS))
    assert len(_found(IMPERSONATION, objects)) == 1
    assert "folded" not in dict(_found(WORKLOADS, objects)[0].evidence)

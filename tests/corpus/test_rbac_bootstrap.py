"""Kubernetes' own bootstrap RBAC objects are reported at most as info, unless changed.

Scans all of ``rbac/kubernetes-bootstrap/`` (``kind: List`` dumps of the default ClusterRoles,
ClusterRoleBindings, Roles and RoleBindings) with every RBAC rule: nothing above info may come from
them. A copy of a default without the bootstrap markers, a user binding to cluster-admin, a user
added to a default binding, or a user ClusterRole aggregated into a default one (on that role, not
again on the defaults aggregating it) is judged normally, and so is a user binding of a default
role (``admin``, ``edit``, a ``system:controller:`` role), on the binding. Also checks that the
built-in rules of ``inventory.rbac_defaults`` match the corpus.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from kposture.inventory import Inventory, effective_rules
from kposture.inventory.rbac_defaults import BUILTIN_CLUSTER_ROLES
from kposture.model import K8sObject, Severity, Violation
from support import RULES_BY_ID, load_objects, object_from_mapping, objects_from_text

RBAC_RULES = {
    rule_id: rule for rule_id, rule in RULES_BY_ID.items() if rule.meta.domain.value == "rbac"
}


@pytest.fixture(scope="module")
def bootstrap(corpus: Path) -> list[K8sObject]:
    root = corpus / "rbac" / "kubernetes-bootstrap"
    if not root.is_dir():
        pytest.skip(f"bootstrap RBAC corpus not found under {root}")
    return load_objects([root])


def _findings(
    objects: list[K8sObject], only: K8sObject | None = None
) -> list[tuple[str, Violation]]:
    inventory = Inventory(objects)
    found = []
    for obj in objects if only is None else [only]:
        for rule_id, rule in RBAC_RULES.items():
            if obj.ref.kind in rule.meta.kinds:
                found.extend((rule_id, violation) for violation in rule.check(obj, inventory))
    return found


def _above_info(found: list[tuple[str, Violation]]) -> list[tuple[str, str]]:
    return [(rule_id, v.message) for rule_id, v in found if v.severity is not Severity.INFO]


def test_bootstrap_loads_every_default(bootstrap: list[K8sObject]) -> None:
    assert len(bootstrap) == 57


def test_no_finding_above_info_from_the_defaults(bootstrap: list[K8sObject]) -> None:
    found = _findings(bootstrap)
    assert found, "the defaults are risky: they must still be reported, at info"
    assert not _above_info(found)
    fired = {rule_id for rule_id, _ in found}
    assert {"rbac-secrets-read", "rbac-pod-exec", "system-masters-group", "wildcard-rbac"} <= fired


def _default(bootstrap: list[K8sObject], kind: str, name: str) -> K8sObject:
    return next(obj for obj in bootstrap if obj.ref.kind == kind and obj.ref.name == name)


def test_unmarked_copy_of_admin_is_judged_normally(bootstrap: list[K8sObject]) -> None:
    raw = copy.deepcopy(dict(_default(bootstrap, "ClusterRole", "system:aggregate-to-edit").raw))
    del raw["metadata"]["labels"]["kubernetes.io/bootstrapping"]
    del raw["metadata"]["annotations"]
    raw["metadata"]["name"] = "admin"
    raw["metadata"]["labels"] = {}
    copied = object_from_mapping(raw)
    others = [obj for obj in bootstrap if obj.ref.name != "admin"]
    above = _above_info(_findings([*others, copied], copied))
    assert {"rbac-secrets-read", "rbac-pod-exec", "rbac-escalate-bind-impersonate"} <= {
        rule_id for rule_id, _ in above
    }


def test_opted_out_default_is_judged_normally(bootstrap: list[K8sObject]) -> None:
    raw = copy.deepcopy(dict(_default(bootstrap, "ClusterRole", "cluster-admin").raw))
    raw["metadata"]["annotations"] = {"rbac.authorization.kubernetes.io/autoupdate": "false"}
    changed = object_from_mapping(raw)
    above = _above_info(_findings([changed], changed))
    assert "wildcard-rbac" in {rule_id for rule_id, _ in above}


def test_user_binding_to_cluster_admin_is_high(bootstrap: list[K8sObject]) -> None:
    (binding,) = objects_from_text(
        """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: ops, namespace: tools}
"""
    )
    above = _above_info(_findings([*bootstrap, binding], binding))
    assert [rule_id for rule_id, _ in above] == ["cluster-admin-binding"]


def test_user_added_to_default_binding_is_judged(bootstrap: list[K8sObject]) -> None:
    raw = copy.deepcopy(dict(_default(bootstrap, "ClusterRoleBinding", "cluster-admin").raw))
    raw["subjects"].append(
        {"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}
    )
    changed = object_from_mapping(raw)
    found = _findings([*bootstrap, changed], changed)
    above = _above_info(found)
    assert [rule_id for rule_id, _ in above] == ["cluster-admin-binding"]
    assert "User mallory" in above[0][1]
    # The default subject stays at info.
    assert any(
        v.severity is Severity.INFO for rule_id, v in found if rule_id == "system-masters-group"
    )


def test_user_role_aggregated_into_view_is_judged_once_on_itself(
    bootstrap: list[K8sObject],
) -> None:
    (user_role,) = objects_from_text(
        """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: read-secrets
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
"""
    )
    objects = [*bootstrap, user_role]
    above = _above_info(_findings(objects, user_role))
    assert [rule_id for rule_id, _ in above] == ["rbac-secrets-read"]
    assert above[0][1].startswith("ClusterRole/read-secrets rules[0] grants")
    # ... not again on view, nor on edit and admin, which aggregate it through view.
    for name in ("view", "edit", "admin"):
        role = _default(bootstrap, "ClusterRole", name)
        assert _above_info(_findings(objects, role)) == [], name


def test_user_bindings_of_default_roles_are_reported_on_the_binding(
    bootstrap: list[K8sObject],
) -> None:
    binding, local, controller = objects_from_text(
        """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ci-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects:
- {kind: ServiceAccount, name: ci, namespace: tools}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dev-edit, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {kind: User, name: alice}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: borrowed-controller}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:kube-controller-manager
subjects:
- {kind: User, name: mallory}
"""
    )
    objects = [*bootstrap, binding, local, controller]
    risky = {"rbac-secrets-read", "rbac-pod-exec", "rbac-workload-create", "rbac-token-create"}
    above = _above_info(_findings(objects, binding))
    assert risky | {"rbac-escalate-bind-impersonate"} == {rule_id for rule_id, _ in above}
    assert len(above) == len(risky) + 1  # one finding per rule on the binding
    secrets = dict(above)["rbac-secrets-read"]
    assert secrets == (
        "ClusterRoleBinding/ci-admin: ServiceAccount tools/ci can get/list/watch secrets "
        "cluster-wide through the built-in ClusterRole admin"
    )
    local_above = dict(_above_info(_findings(objects, local)))
    assert (
        "in namespace shop through the built-in ClusterRole edit"
        in (local_above["rbac-secrets-read"])
    )
    # edit in one namespace: its ServiceAccount impersonation is folded into workload creation.
    assert set(local_above) == risky
    borrowed = dict(_above_info(_findings(objects, controller)))
    assert set(borrowed) == {"rbac-secrets-read", "rbac-token-create", "wildcard-rbac"}
    assert borrowed["rbac-secrets-read"].startswith(
        "ClusterRoleBinding/borrowed-controller: User mallory can get/list/watch secrets "
        "cluster-wide through the built-in ClusterRole system:kube-controller-manager"
    )
    # The same roles alone, and Kubernetes' own bindings of them, stay at info.
    assert not _above_info(_findings(bootstrap))


@pytest.mark.parametrize("name", sorted(BUILTIN_CLUSTER_ROLES))
def test_builtin_rules_match_the_corpus(bootstrap: list[K8sObject], name: str) -> None:
    role = _default(bootstrap, "ClusterRole", name)
    corpus_rules = {effective.rule for effective in effective_rules(role, Inventory(bootstrap))}
    assert corpus_rules == set(BUILTIN_CLUSTER_ROLES[name])

"""A role finding names who it reaches: the ClusterRoles that aggregate the role through its labels
(``view``, ``edit``, ``admin``), and the subjects holding it with their binding, directly or
through aggregation ("and N more" past the first few, "not bound" when nobody holds it), in the
message and the evidence, without changing the fingerprint path."""

from __future__ import annotations

from kposture.model import Violation
from support import objects_from_text, violations

EXTRA_VIEW = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: extra-view
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
rules:
- {apiGroups: [""], resources: [nodes/proxy], verbs: [get]}
"""

VIEWERS = """
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: viewers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: Group, name: auditors, apiGroup: rbac.authorization.k8s.io}
"""

SECRET_LISTER = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-lister}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: sas-secret-list, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-lister}
subjects:
- {kind: Group, name: "system:serviceaccounts:team", apiGroup: rbac.authorization.k8s.io}
"""


def _only(rule_id: str, text: str) -> Violation:
    found = violations(rule_id, objects_from_text(text))
    assert len(found) == 1, found
    return found[0]


def test_a_role_aggregated_by_label_names_view_edit_and_admin() -> None:
    found = _only("rbac-nodes-proxy", EXTRA_VIEW)
    assert "aggregated into view, edit, admin" in found.message
    assert dict(found.evidence)["aggregated_into"] == "view, edit, admin"


def test_a_scanned_aggregating_role_is_named() -> None:
    aggregator = """
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {team: ops}
"""
    text = EXTRA_VIEW.replace("labels: {", "labels: {team: ops, ") + aggregator
    found = _only("rbac-nodes-proxy", text)
    assert dict(found.evidence)["aggregated_into"] == "monitoring, view, edit, admin"


def test_holders_through_aggregation_are_named_with_their_binding() -> None:
    found = _only("rbac-nodes-proxy", EXTRA_VIEW + VIEWERS)
    holders = "held by Group auditors (ClusterRoleBinding/viewers, through ClusterRole view)"
    assert holders in found.message
    assert dict(found.evidence)["holders"] == holders


def test_a_direct_holder_is_named_with_its_binding() -> None:
    found = _only("rbac-secrets-read", SECRET_LISTER)
    expected = "held by Group system:serviceaccounts:team (RoleBinding/shop/sas-secret-list)"
    assert expected in found.message
    assert dict(found.evidence)["holders"] == expected
    assert "aggregated_into" not in dict(found.evidence)


def test_an_unbound_role_says_so() -> None:
    found = _only("rbac-secrets-read", SECRET_LISTER.split("---", maxsplit=1)[0])
    assert found.message.endswith("; not bound")
    assert dict(found.evidence)["holders"] == "not bound"


def test_past_the_first_three_holders_the_rest_are_counted() -> None:
    many = "".join(
        f"- {{kind: User, name: user{i}, apiGroup: rbac.authorization.k8s.io}}\n" for i in range(5)
    )
    found = _only("rbac-secrets-read", SECRET_LISTER + many)
    holders = dict(found.evidence)["holders"]
    assert holders.startswith("held by Group system:serviceaccounts:team (RoleBinding/shop/")
    assert "User user0" in holders and "User user1" in holders
    assert "user2" not in holders
    assert holders.endswith(" and 3 more")  # six subjects, three shown


def test_a_namespaced_role_names_its_rolebinding_holder() -> None:
    text = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: shop}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: app-reader, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
- {kind: ServiceAccount, name: app}
"""
    found = _only("rbac-secrets-read", text)
    assert dict(found.evidence)["holders"] == (
        "held by ServiceAccount shop/app (RoleBinding/shop/app-reader)"
    )


def test_wildcard_findings_name_holders_too() -> None:
    text = SECRET_LISTER.replace("verbs: [list]", "verbs: ['*']")
    found = _only("wildcard-rbac", text)
    assert "held by Group system:serviceaccounts:team" in found.message


def test_the_path_does_not_depend_on_the_holders() -> None:
    alone = _only("rbac-secrets-read", SECRET_LISTER.split("---", maxsplit=1)[0])
    bound = _only("rbac-secrets-read", SECRET_LISTER)
    assert alone.path == bound.path

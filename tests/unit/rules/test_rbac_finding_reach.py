"""A role finding names who it reaches: the ClusterRoles that aggregate the role through its labels
(``view``, ``edit``, ``admin``), and the subjects holding it with their binding, directly or
through aggregation ("and N more" past the first few, "not bound" when nobody holds it), in the
message and the context reported with the evidence, without changing the fingerprint."""

from __future__ import annotations

from kposture.engine.evaluating import fingerprint
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
    assert dict(found.context)["aggregated_into"] == "view, edit, admin"


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
    assert dict(found.context)["aggregated_into"] == "view, edit, admin, monitoring"


def test_holders_through_aggregation_are_named_with_their_binding() -> None:
    found = _only("rbac-nodes-proxy", EXTRA_VIEW + VIEWERS)
    holders = "held by Group auditors (ClusterRoleBinding/viewers, through ClusterRole view)"
    assert holders in found.message
    assert dict(found.context)["holders"] == holders


def test_a_direct_holder_is_named_with_its_binding() -> None:
    found = _only("rbac-secrets-read", SECRET_LISTER)
    expected = (
        "held by Group system:serviceaccounts:team "
        "(RoleBinding/shop/sas-secret-list in namespace shop)"
    )
    assert expected in found.message
    assert dict(found.context)["holders"] == expected
    assert "aggregated_into" not in dict(found.context)


def test_an_unbound_role_says_so() -> None:
    found = _only("rbac-secrets-read", SECRET_LISTER.split("---", maxsplit=1)[0])
    assert found.message.endswith("; not bound")
    assert dict(found.context)["holders"] == "not bound"


def test_past_the_first_three_holders_the_rest_are_counted() -> None:
    many = "".join(
        f"- {{kind: User, name: user{i}, apiGroup: rbac.authorization.k8s.io}}\n" for i in range(5)
    )
    found = _only("rbac-secrets-read", SECRET_LISTER + many)
    holders = dict(found.context)["holders"]
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
    assert dict(found.context)["holders"] == (
        "held by ServiceAccount shop/app (RoleBinding/shop/app-reader in namespace shop)"
    )


def test_wildcard_findings_name_holders_too() -> None:
    text = SECRET_LISTER.replace("verbs: [list]", "verbs: ['*']")
    found = _only("wildcard-rbac", text)
    assert "held by Group system:serviceaccounts:team" in found.message


def test_the_path_does_not_depend_on_the_holders() -> None:
    alone = _only("rbac-secrets-read", SECRET_LISTER.split("---", maxsplit=1)[0])
    bound = _only("rbac-secrets-read", SECRET_LISTER)
    assert alone.path == bound.path


def test_the_fingerprint_does_not_depend_on_the_holders() -> None:
    """A binding gaining or losing a subject changes the message, not the finding: the watcher
    and the store keep one finding (no resolved-then-opened pair) and a suppression keyed on the
    fingerprint still holds."""
    text = SECRET_LISTER.split("---", maxsplit=1)[0]
    role = objects_from_text(text)[0]
    alone, bound = _only("rbac-secrets-read", text), _only("rbac-secrets-read", SECRET_LISTER)
    assert dict(alone.context)["holders"] != dict(bound.context)["holders"]
    assert alone.message != bound.message
    rule = "rbac-secrets-read"
    assert fingerprint(rule, role, alone) == fingerprint(rule, role, bound)


# --- a RoleBinding holds only what a namespace can hold (issue 5 review) -------------------------

ROLEBINDINGS = """
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-admin, namespace: payments}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects:
- {kind: User, name: bob, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-edit, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}
"""


def _holders(found: Violation) -> str:
    return dict(found.context)["holders"]


def test_rolebinding_holders_of_an_aggregated_cluster_scoped_capability_are_left_out() -> None:
    found = _only("rbac-nodes-proxy", EXTRA_VIEW + ROLEBINDINGS + VIEWERS)
    expected = "held by Group auditors (ClusterRoleBinding/viewers, through ClusterRole view)"
    assert _holders(found) == expected
    assert "alice" not in found.message and "bob" not in found.message


def test_the_holders_named_are_those_who_can_reports() -> None:
    from kposture.inventory import Inventory
    from kposture.inventory.rbac_capabilities import NODES_PROXY, holders

    objects = objects_from_text(EXTRA_VIEW + ROLEBINDINGS + VIEWERS)
    who_can = {holding.subject.display() for holding in holders(Inventory(objects), NODES_PROXY)}
    assert who_can == {"Group auditors"}
    assert _holders(_only("rbac-nodes-proxy", EXTRA_VIEW + ROLEBINDINGS + VIEWERS)).startswith(
        "held by Group auditors ("
    )


def test_only_rolebindings_reaching_a_cluster_scoped_capability_hold_nothing() -> None:
    found = _only("rbac-nodes-proxy", EXTRA_VIEW + ROLEBINDINGS)
    assert _holders(found) == (
        "not held: only RoleBindings bind it, and a RoleBinding grants nothing cluster-scoped"
    )


def test_rolebinding_holders_of_a_namespaced_capability_stay_with_their_namespace() -> None:
    text = EXTRA_VIEW.replace("nodes/proxy", "secrets") + ROLEBINDINGS + VIEWERS
    on_role = [
        v
        for v in violations("rbac-secrets-read", objects_from_text(text))
        if v.message.startswith("ClusterRole/extra-view ")
    ]  # the RoleBindings of the built-in edit and admin are reported too, on themselves
    assert len(on_role) == 1, on_role
    found = on_role[0]
    assert _holders(found) == (
        "held by Group auditors (ClusterRoleBinding/viewers, through ClusterRole view), "
        "User alice (RoleBinding/shop/alice-edit in namespace shop, through ClusterRole edit), "
        "User bob (RoleBinding/payments/bob-admin in namespace payments, through ClusterRole "
        "admin)"
    )


CLUSTER_SCOPED_GRANTS = {
    "rbac-webhook-modify": (
        '{apiGroups: ["admissionregistration.k8s.io"], '
        "resources: [validatingwebhookconfigurations], verbs: [delete]}"
    ),
    "rbac-csr-approve": (
        '{apiGroups: ["certificates.k8s.io"], '
        "resources: [certificatesigningrequests/approval], verbs: [update]}"
    ),
    "rbac-pv-create": '{apiGroups: [""], resources: [persistentvolumes], verbs: [create]}',
}


def _directly_bound(rule: str) -> str:
    return f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: platform}}
rules:
- {rule}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: dev-platform, namespace: shop}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: platform}}
subjects:
- {{kind: User, name: dev, apiGroup: rbac.authorization.k8s.io}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: ops-platform}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: platform}}
subjects:
- {{kind: Group, name: ops, apiGroup: rbac.authorization.k8s.io}}
"""


def test_webhook_csr_and_pv_findings_leave_out_rolebinding_holders() -> None:
    for rule_id, rule in CLUSTER_SCOPED_GRANTS.items():
        found = _only(rule_id, _directly_bound(rule))
        assert _holders(found) == "held by Group ops (ClusterRoleBinding/ops-platform)", rule_id


def test_a_wildcard_finding_keeps_rolebinding_holders_when_it_reaches_a_namespace() -> None:
    text = _directly_bound("{apiGroups: [''], resources: ['*'], verbs: [get]}")
    found = _only("wildcard-rbac", text)
    assert "User dev (RoleBinding/shop/dev-platform in namespace shop)" in _holders(found)


def test_a_wildcard_finding_on_cluster_scoped_resources_leaves_rolebinding_holders_out() -> None:
    text = _directly_bound("{apiGroups: [''], resources: [nodes, persistentvolumes], verbs: ['*']}")
    found = _only("wildcard-rbac", text)
    assert _holders(found) == "held by Group ops (ClusterRoleBinding/ops-platform)"


# --- the aggregating roles in one order, on manifests and live clusters ---------------------------

LIVE_DEFAULTS = """
---
apiVersion: kposture.io/v1
kind: ClusterFacts
metadata: {name: cluster}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: admin}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {rbac.authorization.k8s.io/aggregate-to-admin: "true"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edit, labels: {rbac.authorization.k8s.io/aggregate-to-admin: "true"}}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: view, labels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
"""

ZEBRA_AND_MONITORING = """
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: zebra}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {team: ops}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {team: ops}
"""


def test_aggregating_roles_are_the_defaults_narrowest_first_then_by_name() -> None:
    labelled = EXTRA_VIEW.replace("labels: {", "labels: {team: ops, ")
    on_manifests = _only("rbac-nodes-proxy", labelled + ZEBRA_AND_MONITORING)
    live = _only("rbac-nodes-proxy", labelled + ZEBRA_AND_MONITORING + LIVE_DEFAULTS)
    expected = "view, edit, admin, monitoring, zebra"
    assert dict(on_manifests.context)["aggregated_into"] == expected
    assert dict(live.context)["aggregated_into"] == expected

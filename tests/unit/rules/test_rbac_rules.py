"""RBAC rules: messages name the object, the rule index and the exact grant; paths point at the
offending entry; one violation per offending PolicyRule (roles) or subject (bindings); Kubernetes
defaults are capped at info and nothing else is. A binding that hands a default role to someone
else is reported once on the binding, within its scope; a Role grants nothing cluster-scoped."""

from __future__ import annotations

from pathlib import Path

import pytest

from kposture.inventory.rbac_capabilities import CAPABILITIES
from kposture.model import Severity
from support import RULES_BY_ID, load_objects, objects_from_text, violations

RBAC = [rule_id for rule_id, rule in RULES_BY_ID.items() if rule.meta.domain.value == "rbac"]
FIXTURES = Path(__file__).resolve().parents[2] / "rules" / "fixtures"

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
            "rbac-escalation-path",
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
            "rbac-role-malformed",
            "rbac-binding-invalid",
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
        'Role/shop/app rules[1] grants verbs [get list] on secrets in apiGroup ""; not bound'
    )
    assert found[1].message.endswith("(only on resourceNames [db]); not bound")
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


# --- bindings of default roles ------------------------------------------------------------------

MARKERS = """
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
  annotations: {rbac.authorization.kubernetes.io/autoupdate: "true"}"""


def _binding(
    kind: str, name: str, role_kind: str, role: str, *subjects: str, marked: bool = False
) -> str:
    namespace = "\n  namespace: shop" if kind == "RoleBinding" else ""
    listed = "".join(f"\n- {subject}" for subject in subjects)
    return (
        f"apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n  name: {name}"
        f"{namespace}{MARKERS if marked else ''}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, "
        f"kind: {role_kind}, name: {role}}}\nsubjects:{listed}\n"
    )


CI = "{kind: ServiceAccount, name: ci, namespace: tools}"
ALICE = "{kind: User, name: alice}"
CONTROLLER = "{kind: ServiceAccount, name: gc, namespace: kube-system}"

NODE_PROXIER = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:kubelet-api-admin{MARKERS}
rules:
- {{apiGroups: [""], resources: [nodes/proxy, nodes/log], verbs: [get, create]}}
- {{apiGroups: [""], resources: [secrets], verbs: [get]}}
"""


def _above_info(rule_id: str, text: str) -> list[str]:
    return [v.message for v in violations(rule_id, objects_from_text(text)) if v.severity is None]


def test_user_clusterrolebinding_of_builtin_admin_is_reported_on_the_binding() -> None:
    text = _binding("ClusterRoleBinding", "ci-admin", "ClusterRole", "admin", CI)
    (found,) = violations("rbac-secrets-read", objects_from_text(text))
    assert found.severity is None and found.path == ("roleRef", "name")
    assert found.message == (
        "ClusterRoleBinding/ci-admin: ServiceAccount tools/ci can get/list/watch secrets "
        "cluster-wide through the built-in ClusterRole admin"
    )
    assert ("subjects", "ServiceAccount tools/ci") in found.evidence
    for rule_id in ("rbac-pod-exec", "rbac-workload-create", "rbac-token-create"):
        assert len(violations(rule_id, objects_from_text(text))) == 1, rule_id
    (impersonate,) = violations("rbac-escalate-bind-impersonate", objects_from_text(text))
    assert "can impersonate serviceaccounts cluster-wide" in impersonate.message
    for rule_id in ("rbac-nodes-proxy", "rbac-pv-create", "wildcard-rbac"):
        assert not violations(rule_id, objects_from_text(text)), rule_id


def test_user_rolebinding_of_edit_names_the_namespace_and_every_subject() -> None:
    text = _binding("RoleBinding", "dev-edit", "ClusterRole", "edit", ALICE, CI)
    (found,) = violations("rbac-pod-exec", objects_from_text(text))
    assert found.message.startswith(
        "RoleBinding/shop/dev-edit: User alice and ServiceAccount tools/ci can "
    )
    assert "pods/exec, pods/attach in namespace shop through the built-in ClusterRole edit" in (
        found.message
    )


def test_default_binding_of_default_role_stays_on_the_role_at_info() -> None:
    binding = _binding(
        "ClusterRoleBinding",
        "system:kubelet-api-admin",
        "ClusterRole",
        "system:kubelet-api-admin",
        "{kind: User, name: system:kube-apiserver}",
        marked=True,
    )
    found = violations("rbac-nodes-proxy", objects_from_text(NODE_PROXIER + "---\n" + binding))
    assert [v.path[0] for v in found] == ["rules"]
    assert found[0].severity is Severity.INFO
    # The default role alone: info, and nothing else.
    assert [
        v.severity for v in violations("rbac-nodes-proxy", objects_from_text(NODE_PROXIER))
    ] == [Severity.INFO]


def test_user_added_to_a_default_binding_is_named_alone() -> None:
    binding = _binding(
        "ClusterRoleBinding",
        "system:kubelet-api-admin",
        "ClusterRole",
        "system:kubelet-api-admin",
        "{kind: User, name: system:kube-apiserver}",
        ALICE,
        marked=True,
    )
    (found,) = _above_info("rbac-nodes-proxy", NODE_PROXIER + "---\n" + binding)
    assert found.startswith(
        "ClusterRoleBinding/system:kubelet-api-admin: User alice can get/create"
    )
    assert "nodes/proxy" in found and "cluster-wide" in found


def test_rolebinding_of_a_default_clusterrole_grants_nothing_cluster_scoped() -> None:
    cluster = _binding(
        "ClusterRoleBinding", "proxy", "ClusterRole", "system:kubelet-api-admin", ALICE
    )
    local = _binding("RoleBinding", "proxy", "ClusterRole", "system:kubelet-api-admin", ALICE)
    assert len(_above_info("rbac-nodes-proxy", NODE_PROXIER + "---\n" + cluster)) == 1
    assert _above_info("rbac-nodes-proxy", NODE_PROXIER + "---\n" + local) == []
    # ... but the namespaced part of the grant still counts, in the namespace.
    (secrets,) = _above_info("rbac-secrets-read", NODE_PROXIER + "---\n" + local)
    assert "User alice can get secrets in namespace shop" in secrets


def test_user_role_is_reported_on_the_role_only() -> None:
    role = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [list]}
"""
    binding = _binding("ClusterRoleBinding", "reader", "ClusterRole", "reader", CI)
    found = violations("rbac-secrets-read", objects_from_text(role + "---\n" + binding))
    assert [v.message.split(" ", 1)[0] for v in found] == ["ClusterRole/reader"]


def test_cluster_admin_is_left_to_cluster_admin_binding() -> None:
    text = _binding("ClusterRoleBinding", "ops", "ClusterRole", "cluster-admin", CI)
    objects = objects_from_text(text)
    fired = {rule_id for rule_id in RBAC if violations(rule_id, objects)}
    assert fired == {"cluster-admin-binding"}


def test_user_binding_of_a_wildcard_controller_role() -> None:
    role = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:controller:generic-garbage-collector{MARKERS}
rules:
- {{apiGroups: ["*"], resources: ["*"], verbs: [delete, get, list, patch, update, watch]}}
"""
    name = "system:controller:generic-garbage-collector"
    default = _binding("ClusterRoleBinding", name, "ClusterRole", name, CONTROLLER, marked=True)
    user = _binding("ClusterRoleBinding", "gc-for-alice", "ClusterRole", name, ALICE)
    assert _above_info("wildcard-rbac", role + "---\n" + default) == []
    (wildcard,) = _above_info("wildcard-rbac", role + "---\n" + user)
    assert wildcard.startswith(
        f"ClusterRoleBinding/gc-for-alice hands User alice the built-in ClusterRole {name} "
        "cluster-wide; its rules use * in apiGroups and resources"
    )
    (secrets,) = _above_info("rbac-secrets-read", role + "---\n" + user)
    assert "User alice can get/list/watch secrets cluster-wide" in secrets


# --- scope: a Role grants nothing cluster-scoped --------------------------------------------------


def _role(kind: str, *rules: str) -> str:
    namespace = ", namespace: shop" if kind == "Role" else ""
    listed = "".join(f"\n- {rule}" for rule in rules)
    return (
        f"apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\n"
        f"metadata: {{name: r{namespace}}}\nrules:{listed}\n"
    )


SCOPED = {
    "rbac-nodes-proxy": '{apiGroups: [""], resources: [nodes/proxy], verbs: [get]}',
    "rbac-pv-create": '{apiGroups: [""], resources: [persistentvolumes], verbs: [create]}',
    "rbac-csr-approve": (
        "{apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval], "
        "verbs: [update]}"
    ),
    "rbac-webhook-modify": (
        "{apiGroups: [admissionregistration.k8s.io], "
        "resources: [mutatingwebhookconfigurations], verbs: [patch]}"
    ),
}


@pytest.mark.parametrize("rule_id", sorted(SCOPED))
def test_cluster_scoped_grants_need_a_cluster_role(rule_id: str) -> None:
    everything = '{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}'
    capability = next(c for c in CAPABILITIES if c.rule_id == rule_id)
    assert violations(rule_id, objects_from_text(_role("ClusterRole", SCOPED[rule_id])))
    assert not violations(rule_id, objects_from_text(_role("Role", SCOPED[rule_id])))
    for kind, held in (("ClusterRole", True), ("Role", False)):
        # Full access is reported once, by wildcard-rbac, naming the capabilities held in scope.
        assert not violations(rule_id, objects_from_text(_role(kind, everything)))
        (found,) = violations("wildcard-rbac", objects_from_text(_role(kind, everything)))
        assert (capability.id in dict(found.evidence)["capabilities"].split(", ")) is held


def test_goat_secret_reader_role_is_not_a_nodes_proxy_grant() -> None:
    text = _role("Role", '{apiGroups: [""], resources: ["*"], verbs: [get, watch, list]}')
    assert not violations("rbac-nodes-proxy", objects_from_text(text))
    assert violations("rbac-secrets-read", objects_from_text(text))


def test_escalation_in_a_role_counts_bind_on_clusterroles_only() -> None:
    bind = "{apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind]}"
    escalate = bind.replace("[bind]", "[escalate]")
    users = '{apiGroups: [""], resources: [users, groups], verbs: [impersonate]}'
    sas = '{apiGroups: [""], resources: [serviceaccounts], verbs: [impersonate]}'
    rule_id = "rbac-escalate-bind-impersonate"
    found = violations(rule_id, objects_from_text(_role("Role", bind, escalate, users, sas)))
    assert [v.path for v in found] == [("rules", 0, "verbs", 0), ("rules", 3, "verbs", 0)]
    assert len(violations(rule_id, objects_from_text(_role("ClusterRole", escalate, users)))) == 2


def test_wildcards_that_reach_nothing_in_a_namespace_are_not_reported() -> None:
    nodes = '{apiGroups: [""], resources: [nodes/proxy, nodes/log], verbs: ["*"]}'
    assert not violations("wildcard-rbac", objects_from_text(_role("Role", nodes)))
    assert violations("wildcard-rbac", objects_from_text(_role("ClusterRole", nodes)))
    local = _binding("RoleBinding", "proxy", "ClusterRole", "system:kubelet-api-admin", ALICE)
    wildcard_role = NODE_PROXIER.replace("verbs: [get, create]", 'verbs: ["*"]')
    assert _above_info("wildcard-rbac", wildcard_role + "---\n" + local) == []
    cluster = local.replace("kind: RoleBinding", "kind: ClusterRoleBinding")
    assert len(_above_info("wildcard-rbac", wildcard_role + "---\n" + cluster)) == 1


MALFORMED = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: shop}
rules:
- {apiGroups: [""], resources: "secrets", verbs: get}
- {apiGroups: [""], resources: [pods], verbs: [get], nonResourceURLs: [/metrics]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
- {kind: Usr, name: alice}
- {kind: ServiceAccount, name: app}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dangling}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: later}
subjects:
- {kind: ServiceAccount, name: app}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: no-ref, namespace: shop}
subjects:
- {kind: User, name: bob}
"""


def test_malformed_role_fields_are_reported_at_the_field() -> None:
    found = violations("rbac-role-malformed", objects_from_text(MALFORMED))
    assert [v.path for v in found] == [
        ("rules", 0, "verbs"),
        ("rules", 0, "resources"),
        ("rules", 1, "nonResourceURLs"),
        ("rules", 1, "nonResourceURLs"),
    ]
    assert found[1].message.startswith(
        'Role/shop/reader rules[0] resources is "secrets", not a list'
    )


def test_invalid_bindings_are_reported_and_a_missing_role_is_a_dormant_grant() -> None:
    found = violations("rbac-binding-invalid", objects_from_text(MALFORMED))
    by_path = {(v.message.split(" ")[0], v.path): v.message for v in found}
    assert set(by_path) == {
        ("RoleBinding/shop/reader", ("subjects", 0, "kind")),
        ("ClusterRoleBinding/dangling", ("roleRef", "name")),
        ("ClusterRoleBinding/dangling", ("subjects", 0)),
        ("RoleBinding/shop/no-ref", ("roleRef",)),
    }
    assert "(did you mean User?)" in by_path[("RoleBinding/shop/reader", ("subjects", 0, "kind"))]
    dangling = by_path[("ClusterRoleBinding/dangling", ("roleRef", "name"))]
    assert "whoever creates a ClusterRole named later later grants its rules" in dangling


# --- full access: one finding, not one per capability ------------------------------------------------

FULL = '{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}'
ROLE_RULE_IDS = [r for r in RBAC if "ClusterRole" in RULES_BY_ID[r].meta.kinds]


def _role_findings(text: str) -> dict[str, list[str]]:
    objects = objects_from_text(text)
    found = {rule_id: [v.message for v in violations(rule_id, objects)] for rule_id in RBAC}
    return {rule_id: messages for rule_id, messages in found.items() if messages}


def test_full_access_cluster_role_is_one_finding_naming_every_capability() -> None:
    text = _role("ClusterRole", FULL)
    assert list(_role_findings(text)) == ["wildcard-rbac"]
    (found,) = violations("wildcard-rbac", objects_from_text(text))
    assert found.path == ("rules", 0, "verbs", 0)
    assert "grants full access (every verb on every resource of every API group)" in found.message
    assert "every risky capability: read Secrets;" in found.message
    held = dict(found.evidence)["capabilities"].split(", ")
    assert held == [c.id for c in CAPABILITIES if c.id != "full-access"]
    assert all(c.title in found.message for c in CAPABILITIES if c.id != "full-access")


def test_full_access_role_names_only_what_its_namespace_allows() -> None:
    text = _role("Role", FULL)
    assert list(_role_findings(text)) == ["wildcard-rbac"]
    (found,) = violations("wildcard-rbac", objects_from_text(text))
    assert "grants full access in namespace shop" in found.message
    held = dict(found.evidence)["capabilities"].split(", ")
    assert "read-secrets" in held and "exec-pods" in held
    assert not {"nodes-proxy", "create-persistentvolumes", "approve-csrs"} & set(held)


def test_full_access_equivalent_verbs_name_what_they_hold() -> None:
    verbs = '{apiGroups: ["*"], resources: ["*"], verbs: [get, list, watch, create, update, patch, delete]}'
    (found,) = violations("wildcard-rbac", objects_from_text(_role("ClusterRole", verbs)))
    assert "as good as cluster-admin), and with it these risky capabilities" in found.message
    assert "escalate-bind" not in dict(found.evidence)["capabilities"]
    assert list(_role_findings(_role("ClusterRole", verbs))) == ["wildcard-rbac"]


def test_full_access_pulled_in_by_aggregation_is_reported_once_on_its_source() -> None:
    text = (
        _role("ClusterRole", FULL).replace(
            "metadata: {name: r}", "metadata: {name: r, labels: {root: 'yes'}}"
        )
        + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
        "metadata: {name: aggregator}\naggregationRule:\n  clusterRoleSelectors:\n"
        "  - matchLabels: {root: 'yes'}\n"
    )
    objects = objects_from_text(text)
    for rule_id in ROLE_RULE_IDS:
        found = violations(rule_id, objects)
        assert not [v for v in found if v.message.startswith("ClusterRole/aggregator")], rule_id
        assert len(found) == (1 if rule_id == "wildcard-rbac" else 0), rule_id
        if found:
            assert found[0].message.startswith("ClusterRole/r rules[0]")
            assert "grants full access" in found[0].message
            assert dict(found[0].context)["aggregated_into"] == "aggregator"


def test_a_role_short_of_full_access_keeps_one_finding_per_capability() -> None:
    core = '{apiGroups: [""], resources: ["*"], verbs: ["*"]}'
    found = _role_findings(_role("ClusterRole", core))
    assert {"rbac-secrets-read", "rbac-pod-exec", "rbac-token-create"} <= set(found)
    assert not any("full access" in m for m in found["wildcard-rbac"])


def test_an_unbound_full_access_role_is_not_rated_above_the_binding_that_grants_it() -> None:
    binding = _binding("ClusterRoleBinding", "root", "ClusterRole", "r", ALICE)
    objects = objects_from_text(_role("ClusterRole", FULL) + "---\n" + binding)

    def severities(kind: str) -> list[Severity]:
        return [
            v.severity or RULES_BY_ID[rule_id].meta.severity
            for rule_id in RBAC
            for v in violations(rule_id, objects)
            if v.message.startswith(kind)
        ]

    assert severities("ClusterRole/") == [Severity.MEDIUM]  # wildcard-rbac, once
    assert severities("ClusterRoleBinding/") == [Severity.HIGH]  # cluster-admin-binding
    assert max(severities("ClusterRole/")) < max(severities("ClusterRoleBinding/"))


@pytest.mark.parametrize(
    "rule_id", [r for r in ROLE_RULE_IDS if r not in ("wildcard-rbac", "rbac-role-malformed")]
)
def test_full_access_fixtures_are_reported_by_wildcard_rbac(rule_id: str) -> None:
    fixture = FIXTURES / rule_id / "pass-full-access-reported-elsewhere.yaml"
    objects = load_objects([fixture])
    assert not violations(rule_id, objects)
    (found,) = violations("wildcard-rbac", objects)
    capability = next(c for c in CAPABILITIES if c.rule_id == rule_id)
    assert capability.id in dict(found.evidence)["capabilities"].split(", ")


def test_escalation_path_hops_count_as_rbac_paths_does() -> None:
    """A ServiceAccount stand-in step is not a hop: ``rbac paths`` says 1 hop, so does the scan."""
    fixture = FIXTURES / "rbac-escalation-path" / "fail-deployer-reaches-cluster-admin.yaml"
    (violation,) = violations("rbac-escalation-path", load_objects([fixture]))
    assert ("hops", "1") in violation.evidence

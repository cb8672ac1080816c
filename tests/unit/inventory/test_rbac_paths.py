"""Escalation paths over the can-become graph: each move kind, goals, membership, defaults."""

from __future__ import annotations

from kposture.inventory import Inventory
from kposture.inventory.rbac_moves import Node
from kposture.inventory.rbac_paths import (
    EscalationPath,
    escalation_paths,
    reported_paths_by_binding,
)
from support import objects_from_text

RBAC = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: ci}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: builder-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: builder, namespace: ci}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: ci}
rules:
- {apiGroups: [apps], resources: [deployments], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: ci}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects:
- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: tokens, namespace: ci}
rules:
- {apiGroups: [""], resources: [serviceaccounts/token], verbs: [create], resourceNames: [builder]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: tokens, namespace: ci}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: tokens}
subjects:
- {kind: User, name: bob, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: builder-token-abcde
  namespace: ci
  annotations: {kubernetes.io/service-account.name: builder}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secrets, namespace: ci}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: secrets, namespace: ci}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secrets}
subjects:
- {kind: User, name: carol, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-groups}
rules:
- {apiGroups: [""], resources: [groups], verbs: [impersonate]}
- {apiGroups: [""], resources: [users], verbs: [impersonate], resourceNames: [stand-in]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: devs-impersonate}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-groups}
subjects:
- {kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: rbac-manager}
rules:
- {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind]}
- {apiGroups: [rbac.authorization.k8s.io], resources: [clusterrolebindings], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: rbac-manager}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: rbac-manager}
subjects:
- {kind: User, name: dave, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: exec, namespace: web}
rules:
- {apiGroups: [""], resources: [pods/exec], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: exec, namespace: web}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: exec}
subjects:
- {kind: User, name: erin, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: app
      containers: [{name: app, image: nginx:1.27}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: read-all-secrets}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: app-secrets}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: read-all-secrets}
subjects:
- {kind: ServiceAccount, name: app, namespace: web}
"""


def _paths(text: str = RBAC) -> dict[tuple[str, str], EscalationPath]:
    return {
        (p.start.name, p.goal.id): p for p in escalation_paths(Inventory(objects_from_text(text)))
    }


def test_create_workloads_runs_a_pod_as_a_powerful_service_account() -> None:
    path = _paths()[("alice", "full-access")]
    assert path.start == Node("User", "", "alice")
    assert path.end == Node("ServiceAccount", "ci", "builder")
    hops = list(path.hops())
    assert hops[0].startswith(
        "creates pods in ci, which may run as any ServiceAccount of namespace ci"
    )
    assert "RoleBinding ci/deployer → Role ci/deployer" in hops[0]
    assert hops[1] == "→ ServiceAccount ci/builder"
    assert "ClusterRoleBinding builder-admin → ClusterRole cluster-admin" in hops[2]
    assert path.first.holding is not None
    assert path.first.holding.binding.ref.name == "deployer"


def test_token_creation_limited_by_resource_names_still_reaches_the_named_account() -> None:
    path = _paths()[("bob", "full-access")]
    assert [m.target for m in path.moves] == [Node("ServiceAccount", "ci", "builder")]


def test_reading_secrets_reaches_accounts_with_legacy_token_secrets() -> None:
    path = _paths()[("carol", "full-access")]
    assert path.end == Node("ServiceAccount", "ci", "builder")
    assert any("Secret/ci/builder-token-abcde" in hop for hop in path.hops())


def test_impersonating_groups_reaches_system_masters() -> None:
    path = _paths()[("devs", "full-access")]
    assert path.end == Node("Group", "", "system:masters")
    assert "bypasses RBAC" in path.held.text


def test_exec_reads_tokens_mounted_in_running_pods_and_paths_chain() -> None:
    paths = _paths()
    # erin execs into web/app's pod; web/app reads every Secret, among them ci/builder's token
    # Secret; ci/builder is cluster-admin. Full access implies the other goals.
    path = paths[("erin", "full-access")]
    assert [m.target for m in path.moves] == [
        Node("RunningPods", "web", ""),
        Node("ServiceAccount", "web", "app"),
        Node("TokenSecrets", "*", ""),
        Node("TokenSecrets", "ci", ""),
        Node("ServiceAccount", "ci", "builder"),
    ]
    assert any("Deployment/web/app" in hop for hop in path.hops())
    assert ("erin", "read-secrets") not in paths
    assert paths[("app", "full-access")].end == Node("ServiceAccount", "ci", "builder")


def test_direct_holders_have_no_path() -> None:
    assert not [key for key in _paths() if key[0] == "builder"]


def test_bind_with_create_clusterrolebindings_binds_cluster_admin_to_itself() -> None:
    path = _paths()[("dave", "full-access")]
    assert [m.target.display() for m in path.moves] == ["cluster-admin"]
    assert path.first.action.startswith("binds cluster-admin to itself")


def test_bind_without_create_on_bindings_or_escalate_without_update_goes_nowhere() -> None:
    text = RBAC.replace(
        "- {apiGroups: [rbac.authorization.k8s.io], resources: [clusterrolebindings], verbs: [create]}\n",
        "",
    )
    assert ("dave", "full-access") not in _paths(text)
    escalate = text.replace(
        "resources: [clusterroles], verbs: [bind]", "resources: [clusterroles], verbs: [escalate]"
    )
    assert ("dave", "full-access") not in _paths(escalate)
    editable = escalate.replace("verbs: [escalate]", "verbs: [escalate, update]")
    assert _paths(editable)[("dave", "full-access")].first.action.startswith("edits ClusterRole")


def test_a_token_not_mounted_is_no_foothold() -> None:
    text = RBAC.replace(
        "serviceAccountName: app\n",
        "serviceAccountName: app\n      automountServiceAccountToken: false\n",
    )
    paths = _paths(text)
    assert ("erin", "full-access") not in paths
    assert ("erin", "read-secrets") not in paths


def test_group_paths_are_reported_once_for_the_group() -> None:
    text = RBAC.replace(
        "{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}",
        "{kind: Group, name: system:authenticated, apiGroup: rbac.authorization.k8s.io}",
    )
    paths = _paths(text)
    assert ("system:authenticated", "full-access") in paths
    # Users and ServiceAccounts reach it through membership: the group's path covers them.
    assert ("bob", "full-access") in paths  # bob has his own path (his token binding)
    assert all(not p.first.membership for p in paths.values())


def test_kubernetes_own_identities_are_flagged_default() -> None:
    text = RBAC.replace("name: alice, apiGroup", "name: system:kube-scheduler, apiGroup")
    path = _paths(text)[("system:kube-scheduler", "full-access")]
    assert path.default


def test_impersonating_groups_needs_a_user_to_impersonate_too() -> None:
    # The API server refuses Impersonate-Group without Impersonate-User (checked on 1.20 by
    # tests/e2e/cluster/test_rbac_paths_live.py): groups alone go nowhere.
    users_rule = (
        '- {apiGroups: [""], resources: [users], verbs: [impersonate], resourceNames: [stand-in]}\n'
    )
    groups_only = RBAC.replace(users_rule, "")
    assert ("devs", "full-access") not in _paths(groups_only)
    service_account = groups_only.replace(
        '- {apiGroups: [""], resources: [groups], verbs: [impersonate]}\n',
        '- {apiGroups: [""], resources: [groups, serviceaccounts], verbs: [impersonate]}\n',
    )
    path = _paths(service_account)[("devs", "full-access")]
    assert path.end == Node("Group", "", "system:masters")


NAMESPACE_BIND = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: boss, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: boss-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: boss, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: binder, namespace: team}
rules:
- {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind], resourceNames: [admin]}
- {apiGroups: [rbac.authorization.k8s.io], resources: [rolebindings], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: binder, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: binder}
subjects:
- {kind: User, name: vic, apiGroup: rbac.authorization.k8s.io}
"""


def test_namespace_bind_needs_bind_on_a_role_that_creates_pods() -> None:
    path = _paths(NAMESPACE_BIND)[("vic", "full-access")]
    assert path.first.action.startswith("binds itself ClusterRole admin, a role that creates pods")
    assert path.end == Node("ServiceAccount", "team", "boss")
    # The server checks bind on the role the new RoleBinding names: view creates no pods.
    assert ("vic", "full-access") not in _paths(NAMESPACE_BIND.replace("[admin]", "[view]"))
    own_role = (
        NAMESPACE_BIND.replace(
            "[clusterroles], verbs: [bind], resourceNames: [admin]",
            "[roles], verbs: [bind], resourceNames: [deployer]",
        )
        + """\
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: team}
rules:
- {apiGroups: [batch], resources: [jobs], verbs: [create]}
"""
    )
    assert ("vic", "full-access") in _paths(own_role)
    no_create = NAMESPACE_BIND.replace(
        "resources: [rolebindings], verbs: [create]", "resources: [rolebindings], verbs: [get]"
    )
    assert ("vic", "full-access") not in _paths(no_create)


def test_namespace_escalate_needs_update_on_roles_not_create_on_rolebindings() -> None:
    escalate = NAMESPACE_BIND.replace(
        "resources: [clusterroles], verbs: [bind], resourceNames: [admin]",
        "resources: [roles], verbs: [escalate]",
    )
    assert ("vic", "full-access") not in _paths(escalate)
    editable = escalate.replace("verbs: [escalate]", "verbs: [escalate, update]")
    path = _paths(editable)[("vic", "full-access")]
    assert path.first.action.startswith("edits Role binder, which it holds in team")


def test_escalate_needs_a_binding_to_the_role_it_may_update() -> None:
    """escalate lets a ClusterRole be written beyond the writer's rights; the writer gains them
    only if a ClusterRoleBinding already binds it to that role."""
    text = RBAC.replace(
        "- {apiGroups: [rbac.authorization.k8s.io], resources: [clusterrolebindings], verbs: [create]}\n",
        "",
    ).replace(
        "resources: [clusterroles], verbs: [bind]",
        "resources: [clusterroles], verbs: [escalate, update], resourceNames: [NAMES]",
    )
    for unbound in ("impersonate-groups", "does-not-exist"):
        assert ("dave", "full-access") not in _paths(text.replace("NAMES", unbound))
    path = _paths(text.replace("NAMES", "rbac-manager"))[("dave", "full-access")]
    assert path.first.action.startswith("edits ClusterRole rbac-manager, bound to it cluster-wide")
    # Bound only through a RoleBinding: the edited role never reaches cluster-wide.
    namespaced = text.replace("NAMES", "rbac-manager").replace(
        "kind: ClusterRoleBinding\nmetadata: {name: rbac-manager}",
        "kind: RoleBinding\nmetadata: {name: rbac-manager, namespace: web}",
    )
    assert ("dave", "full-access") not in _paths(namespaced)


def test_escalate_through_a_group_binding_counts() -> None:
    text = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: editor}
rules:
- apiGroups: [rbac.authorization.k8s.io]
  resources: [clusterroles]
  verbs: [escalate, update]
  resourceNames: [team]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: editor}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: editor}
subjects:
- {kind: User, name: zed, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: team}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: team}
subjects:
- {kind: Group, name: GROUP, apiGroup: rbac.authorization.k8s.io}
"""
    path = _paths(text.replace("GROUP", "system:authenticated"))[("zed", "full-access")]
    assert path.first.action.startswith("edits ClusterRole team")
    assert ("zed", "full-access") not in _paths(text.replace("GROUP", "devs"))


def test_namespace_escalate_needs_a_binding_to_the_role_it_may_update() -> None:
    escalate = NAMESPACE_BIND.replace(
        "resources: [clusterroles], verbs: [bind], resourceNames: [admin]",
        "resources: [roles], verbs: [escalate, update], resourceNames: [NAMES]",
    )
    assert ("vic", "full-access") not in _paths(escalate.replace("NAMES", "other"))
    assert ("vic", "full-access") in _paths(escalate.replace("NAMES", "binder"))


CSR = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: csr-approver}
rules:
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests], verbs: [create]}
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval], verbs: [update]}
- apiGroups: [certificates.k8s.io]
  resources: [signers]
  verbs: [approve]
  resourceNames: [kubernetes.io/kube-apiserver-client]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: csr-approver}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: csr-approver}
subjects:
- {kind: User, name: quinn, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: Group, name: ops, apiGroup: rbac.authorization.k8s.io}
"""


def test_csr_approval_mints_a_certificate_for_any_group_but_system_masters() -> None:
    path = _paths(CSR)[("quinn", "full-access")]
    assert path.end == Node("Group", "", "ops")
    hops = list(path.hops())
    assert hops[0].startswith(
        "creates and approves a client certificate (signer kubernetes.io/kube-apiserver-client) "
        "for any group but system:masters ["
    )
    assert hops[1] == "→ Group ops"
    assert "Group Group" not in path.describe()
    # CertificateSubjectRestriction refuses system:masters: with nobody else powerful, no path.
    alone = CSR.split("metadata: {name: ops-admin}", maxsplit=1)[0].rpartition("---")[0]
    assert ("quinn", "full-access") not in _paths(alone)


def test_csr_approval_reaches_users_and_service_account_usernames() -> None:
    user = CSR.replace("kind: Group, name: ops", "kind: User, name: ops")
    assert _paths(user)[("quinn", "full-access")].end == Node("User", "", "ops")
    account = CSR.replace("kind: Group, name: ops", "kind: ServiceAccount, name: ops, namespace: x")
    assert _paths(account)[("quinn", "full-access")].end == Node("ServiceAccount", "x", "ops")


def _chain(namespaces: int) -> str:
    """Each namespace's ServiceAccount may create pods in the next; the last is cluster-admin."""
    docs = []
    for i in range(namespaces):
        subject = (
            f"{{kind: ServiceAccount, name: sa, namespace: chain-{i - 1}}}"
            if i
            else "{kind: User, name: head}"
        )
        docs.append(
            f"""apiVersion: v1
kind: ServiceAccount
metadata: {{name: sa, namespace: chain-{i}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: deployer, namespace: chain-{i}}}
rules:
- {{apiGroups: [""], resources: [pods], verbs: [create]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: deployer, namespace: chain-{i}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}}
subjects:
- {subject}
"""
        )
    docs.append(
        f"""apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: end}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}
subjects:
- {{kind: ServiceAccount, name: sa, namespace: chain-{namespaces - 1}}}
"""
    )
    return "---\n".join(docs)


def test_a_long_path_is_rendered_capped_with_its_hop_count() -> None:
    paths = _paths(_chain(10))
    head = paths[("head", "full-access")]
    assert head.hop_count == 10 and head.capped
    lines = list(head.hops())
    assert "… 4 more hops …" in lines
    assert sum("creates pods in" in line for line in lines) == 6
    assert lines[0].startswith("creates pods in chain-0,")
    assert any(line.startswith("creates pods in chain-9,") for line in lines)
    assert lines[-1].startswith("holds full access")
    full = list(head.hops(full=True))
    assert sum("creates pods in" in line for line in full) == 10
    assert len(head.moves) == head.move_count
    assert head.end == Node("ServiceAccount", "chain-9", "sa")


def test_long_chains_render_in_linear_size() -> None:
    """Every path of a 300-namespace chain, rendered capped: the text grows with the number of
    paths, not with the square of the chain's length."""
    for namespaces in (100, 300):
        paths = escalation_paths(Inventory(objects_from_text(_chain(namespaces))))
        assert len(paths) == namespaces  # the head user and every ServiceAccount but the last
        longest = max(len(p.describe()) for p in paths)
        assert longest < 3_000
        assert max(p.hop_count for p in paths) == namespaces


# --- every rule a move relies on is named -------------------------------------------------------

RBAC_GROUP = "apiGroups: [rbac.authorization.k8s.io]"
CREATE_CRB = f"- {{{RBAC_GROUP}, resources: [clusterrolebindings], verbs: [create]}}\n"
BINDING_WRITER = f"""\
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: binding-writer}}
rules:
{CREATE_CRB}---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: binding-writer}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: binding-writer}}
subjects:
- {{kind: User, name: dave, apiGroup: rbac.authorization.k8s.io}}
"""


def test_bind_names_the_rule_for_create_on_bindings_too() -> None:
    split = RBAC.replace(CREATE_CRB, "") + BINDING_WRITER
    path = _paths(split)[("dave", "full-access")]
    (need,) = path.first.needs
    assert need.access.binding.ref.name == "binding-writer"
    (hop, _) = path.hops()
    assert "[ClusterRoleBinding rbac-manager → ClusterRole rbac-manager: verbs [bind]" in hop
    assert (
        "[and create clusterrolebindings: ClusterRoleBinding binding-writer → ClusterRole "
        "binding-writer: verbs [create] on clusterrolebindings in apiGroup "
        '"rbac.authorization.k8s.io"]'
    ) in hop


def test_csr_approval_names_the_create_and_signer_rules() -> None:
    path = _paths(CSR)[("quinn", "full-access")]
    assert [need.what() for need in path.first.needs] == [
        "create certificatesigningrequests",
        "approve signers kubernetes.io/kube-apiserver-client",
    ]
    assert [need.access.rule.index for need in path.first.needs] == [0, 2]
    assert "[and approve signers kubernetes.io/kube-apiserver-client: " in path.describe()


def test_group_impersonation_names_the_user_impersonation_it_needs() -> None:
    path = _paths()[("devs", "full-access")]
    (need,) = path.first.needs
    assert need.what() == "impersonate users stand-in"
    assert "[and impersonate users stand-in: ClusterRoleBinding devs-impersonate" in path.describe()


def test_a_rule_the_holding_already_names_is_not_repeated() -> None:
    two_rules = (
        f"- {{{RBAC_GROUP}, resources: [clusterroles], verbs: [bind], resourceNames: [admin]}}\n"
        f"- {{{RBAC_GROUP}, resources: [rolebindings], verbs: [create]}}\n"
    )
    one_rule = (
        f"- {{{RBAC_GROUP}, resources: [clusterroles, rolebindings], verbs: [bind, create]}}\n"
    )
    assert two_rules in NAMESPACE_BIND
    assert len(_paths(NAMESPACE_BIND)[("vic", "full-access")].first.needs) == 1
    path = _paths(NAMESPACE_BIND.replace(two_rules, one_rule))[("vic", "full-access")]
    assert path.first.needs == ()


def test_an_unrestricted_rule_is_used_even_after_a_named_one() -> None:
    """A role whose first Secret rule is limited by resourceNames still reads every token Secret
    through its second rule: the path uses the second."""
    rule = '- {apiGroups: [""], resources: [secrets], verbs: [get, list]}\n'
    named_first = (
        '- {apiGroups: [""], resources: [secrets], verbs: [get], resourceNames: [unrelated]}\n'
        '- {apiGroups: [""], resources: [secrets], verbs: [list]}\n'
    )
    owner = "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: secrets,"
    assert rule + owner in RBAC
    path = _paths(RBAC.replace(rule + owner, named_first + owner))[("carol", "full-access")]
    holding = path.first.holding
    assert holding is not None and holding.rule.index == 1
    assert "verbs [list] on secrets" in path.describe()


def test_a_need_on_any_name_or_namespace_says_any() -> None:
    """The stand-in for "any name" never shows: ``rbac paths``, its JSON and the scan say
    "any ServiceAccount in any namespace"."""
    service_account = RBAC.replace(
        '- {apiGroups: [""], resources: [users], verbs: [impersonate], resourceNames: [stand-in]}\n',
        '- {apiGroups: [""], resources: [serviceaccounts], verbs: [impersonate]}\n',
    )
    path = _paths(service_account)[("devs", "full-access")]
    (need,) = [need for move in path.moves for need in move.needs]
    assert need.what() == "impersonate any ServiceAccount in any namespace"
    assert "kposture-any" not in path.describe(full=True)
    assert "impersonate any ServiceAccount in any namespace: " in path.describe(full=True)


def test_reported_paths_by_binding_groups_every_non_default_path_by_its_first_binding() -> None:
    text = RBAC.replace("name: alice, apiGroup", "name: system:kube-scheduler, apiGroup")
    inventory = Inventory(objects_from_text(text))
    every = escalation_paths(inventory)
    grouped = reported_paths_by_binding(inventory)
    assert any(p.default for p in every)
    bindings = [*inventory.of_kind("ClusterRoleBinding"), *inventory.of_kind("RoleBinding")]
    for binding in bindings:
        expected = tuple(
            p
            for p in every
            if not p.default and p.first.holding is not None and p.first.holding.binding is binding
        )
        assert grouped.get(id(binding), ()) == expected
    reported = [p for paths in grouped.values() for p in paths]
    assert len(reported) == sum(1 for p in every if not p.default and p.first.holding)
    assert reported_paths_by_binding(inventory) is grouped


def test_a_members_own_path_is_reported_beside_a_shorter_group_path() -> None:
    # system:authenticated creates deployments in ci (2 moves to builder's cluster-admin); erin,
    # a member, also has her own, longer path: exec in web -> app's token -> deployments in ci.
    text = RBAC.replace(
        "{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}",
        "{kind: Group, name: system:authenticated, apiGroup: rbac.authorization.k8s.io}",
    ) + (
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
        "metadata: {name: app-deployer, namespace: ci}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}\n"
        "subjects:\n- {kind: ServiceAccount, name: app, namespace: web}\n"
    )
    inventory = Inventory(objects_from_text(text))
    paths = {(p.start.name, p.goal.id): p for p in escalation_paths(inventory)}
    group = paths[("system:authenticated", "full-access")]
    own = paths[("erin", "full-access")]
    assert not own.first.membership
    assert own.first.holding is not None
    assert own.first.holding.binding.ref.name == "exec"
    assert own.hop_count > group.hop_count
    assert own.end == Node("ServiceAccount", "ci", "builder")
    assert own in reported_paths_by_binding(inventory)[id(own.first.holding.binding)]
    # the ServiceAccount on the way has its own path too, not hidden by its groups'
    assert not paths[("app", "full-access")].first.membership

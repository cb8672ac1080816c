"""``kposture rbac who-can``: inputs like ``scan``, table and JSON output, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kposture.cli.app import app

RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: exec, namespace: shop}
rules:
- {apiGroups: [""], resources: [pods/exec], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: exec, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: exec}
subjects: [{kind: ServiceAccount, name: ci}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: scalers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: scaler}
subjects: [{kind: Group, name: ops}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: scaler}
rules:
- {apiGroups: [apps], resources: [deployments/scale], verbs: [update]}
"""


def test_table_names_subject_binding_role_and_scope(runner: CliRunner, workdir: Path) -> None:
    (workdir / "rbac.yaml").write_text(RBAC)
    result = runner.invoke(
        app, ["rbac", "who-can", "create", "pods/exec", "-n", "shop", "rbac.yaml"]
    )
    assert result.exit_code == 0, result.output
    assert "shop/ci" in result.output
    assert "RoleBinding shop/exec → Role shop/exec" in result.output
    other = runner.invoke(app, ["rbac", "who-can", "create", "pods/exec", "-n", "x", "rbac.yaml"])
    assert other.exit_code == 0 and "No subject" in other.output


def test_json_from_stdin_with_group_and_subresource(runner: CliRunner, workdir: Path) -> None:
    result = runner.invoke(
        app,
        ["rbac", "who-can", "update", "deployments.apps/scale", "-n", "a", "-", "-o", "json"],
        input=RBAC,
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "kposture.who-can/v1"
    assert doc["request"]["group"] == "apps" and doc["request"]["subresource"] == "scale"
    assert [s["subject"]["name"] for s in doc["subjects"]] == ["ops"]
    assert doc["subjects"][0]["binding"]["kind"] == "ClusterRoleBinding"
    assert doc["subjects"][0]["scope"] == "cluster"


def test_usage_errors_exit_2(runner: CliRunner, workdir: Path) -> None:
    (workdir / "rbac.yaml").write_text(RBAC)
    assert runner.invoke(app, ["rbac", "who-can", "get", "pods"]).exit_code == 2
    assert (
        runner.invoke(app, ["rbac", "who-can", "get", "nodes", "-n", "a", "rbac.yaml"]).exit_code
        == 2
    )
    assert runner.invoke(app, ["rbac", "who-can", "get", "a/b/c", "rbac.yaml"]).exit_code == 2
    assert runner.invoke(app, ["rbac", "who-can", "get", "pods", "missing.yaml"]).exit_code == 2
    assert (
        runner.invoke(
            app, ["rbac", "who-can", "get", "pods", "--context", "x", "rbac.yaml"]
        ).exit_code
        == 2
    )


def test_unreadable_input_still_answers_but_exits_2(runner: CliRunner, workdir: Path) -> None:
    (workdir / "rbac.yaml").write_text(RBAC)
    (workdir / "broken.yaml").write_text("kind: [\n")
    result = runner.invoke(
        app, ["rbac", "who-can", "create", "pods/exec", "-n", "shop", "rbac.yaml", "broken.yaml"]
    )
    assert result.exit_code == 2
    assert "shop/ci" in result.stdout


def test_a_named_namespace_request_carries_its_name_as_namespace(
    runner: CliRunner, workdir: Path
) -> None:
    # GET /api/v1/namespaces/shop is in namespace shop: RoleBindings of shop apply to it.
    (workdir / "ns.yaml").write_text(
        """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ns-reader, namespace: shop}
rules: [{apiGroups: [""], resources: [namespaces], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ns-reader, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ns-reader}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
"""
    )
    named = ["rbac", "who-can", "get", "namespaces", "--name", "shop", "ns.yaml", "-o", "json"]
    result = runner.invoke(app, named)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["request"]["namespace"] == "shop"
    assert [s["subject"]["name"] for s in doc["subjects"]] == ["alice"]
    listing = runner.invoke(app, ["rbac", "who-can", "list", "namespaces", "ns.yaml", "-o", "json"])
    assert json.loads(listing.stdout)["subjects"] == []
    other = runner.invoke(app, [*named[:6], "-n", "other", "ns.yaml"])
    assert other.exit_code == 2 and "drop -n" in other.output


EDIT = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dev-edit, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
"""


def test_all_namespaces_adds_every_rolebinding(runner: CliRunner, workdir: Path) -> None:
    (workdir / "rbac.yaml").write_text(RBAC)
    ask = ["rbac", "who-can", "create", "pods/exec", "rbac.yaml", "-o", "json"]
    cluster_wide = json.loads(runner.invoke(app, ask).stdout)
    assert cluster_wide["subjects"] == []  # no namespace: ClusterRoleBindings only
    every = runner.invoke(app, [*ask, "-A"])
    assert every.exit_code == 0, every.output
    found = json.loads(every.stdout)["subjects"]
    assert [(s["subject"]["name"], s["scope"]) for s in found] == [("ci", "shop")]
    # RoleBindings never grant a cluster-scoped resource: -A adds nothing for nodes.
    nodes = runner.invoke(app, ["rbac", "who-can", "get", "nodes", "-A", "rbac.yaml"])
    assert nodes.exit_code == 0 and "No subject" in nodes.stdout
    both = runner.invoke(app, ["rbac", "who-can", "get", "pods", "-n", "a", "-A", "rbac.yaml"])
    assert both.exit_code == 2 and "exclude each other" in both.stderr


def test_bind_on_clusterroles_may_be_asked_in_a_namespace(runner: CliRunner, workdir: Path) -> None:
    # bind on clusterroles is checked in the namespace of the RoleBinding being written.
    (workdir / "bind.yaml").write_text(
        RBAC.replace(
            "resources: [pods/exec], verbs: [create]", "resources: [clusterroles], verbs: [bind]"
        ).replace(
            'apiGroups: [""], resources: [clusterroles]',
            "apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles]",
        )
    )
    ask = ["rbac", "who-can", "bind", "clusterroles.rbac.authorization.k8s.io", "bind.yaml"]
    result = runner.invoke(app, [*ask, "-n", "shop", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert [s["subject"]["name"] for s in json.loads(result.stdout)["subjects"]] == ["ci"]
    every = json.loads(runner.invoke(app, [*ask, "-A", "-o", "json"]).stdout)
    assert [s["scope"] for s in every["subjects"]] == ["shop"]


def test_exec_evidence_is_the_create_rule_of_the_builtin_edit(
    runner: CliRunner, workdir: Path
) -> None:
    (workdir / "edit.yaml").write_text(EDIT)
    who = runner.invoke(app, ["rbac", "who-can", "create", "pods/exec", "-n", "shop", "edit.yaml"])
    assert who.exit_code == 0, who.output
    assert "built-in edit: verbs [create delete" in " ".join(who.stdout.split())
    get = runner.invoke(app, ["rbac", "who-can", "get", "pods/exec", "-n", "shop", "edit.yaml"])
    assert "built-in edit: verbs [get list watch]" in " ".join(get.stdout.split())
    can = runner.invoke(app, ["rbac", "can", "alice", "edit.yaml", "-o", "json"])
    (execs,) = [
        c for c in json.loads(can.stdout)["capabilities"] if c["capability"]["id"] == "exec-pods"
    ]
    assert "create" in execs["rule"]["verbs"]
    assert execs["grants"].startswith("verbs [create] on [pods/attach pods/exec]")
    assert "; also verbs [get] on [pods/attach pods/exec]" in execs["grants"]
    assert [(r["index"], r["verbs"]) for r in execs["other_rules"]] == [
        (0, ["get", "list", "watch"])
    ]


def test_resource_hints_name_the_lowercase_plural(runner: CliRunner, workdir: Path) -> None:
    (workdir / "edit.yaml").write_text(EDIT)

    def hint(resource: str) -> str:
        result = runner.invoke(app, ["rbac", "who-can", "get", resource, "-n", "shop", "edit.yaml"])
        assert result.exit_code == 0, result.output
        assert "hint:" not in result.stdout
        return result.stderr

    assert hint("secrets") == ""
    assert "answered for secrets" in hint("Secrets")
    assert "no rule names secret; " in hint("secret") and "did you mean secrets?" in hint("secret")
    assert "answered for pods/exec" in hint("Pods/exec")
    assert "did you mean deployments.apps?" in hint("Deployment")
    assert "did you mean networkpolicies.networking.k8s.io?" in hint("networkpolicy")
    # A JSON answer stays JSON: the hint is on stderr.
    result = runner.invoke(app, ["rbac", "who-can", "get", "secret", "edit.yaml", "-o", "json"])
    assert json.loads(result.stdout)["request"]["resource"] == "secret"


def test_names_are_shown_as_written_never_as_emoji_or_markup(
    runner: CliRunner, workdir: Path
) -> None:
    """A security tool shows an identity exactly as it is written: ``:fire:`` stays text."""
    names = "[{kind: User, name: 'oidc:fire:alice'}, {kind: Group, name: '[bold]:smile:ops'}]"
    (workdir / "rbac.yaml").write_text(RBAC.replace("[{kind: ServiceAccount, name: ci}]", names))
    for command in (
        ["who-can", "create", "pods/exec", "-n", "shop"],
        ["risky"],
        ["can", "user:oidc:fire:alice"],
    ):
        result = runner.invoke(app, ["rbac", *command, "rbac.yaml"], env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        assert "oidc:fire:alice" in result.stdout, command
        assert "🔥" not in result.stdout and "😄" not in result.stdout
        if command[0] != "can":
            assert "[bold]:smile:ops" in result.stdout, command


def test_a_group_named_as_a_user_gets_a_hint(runner: CliRunner, workdir: Path) -> None:
    (workdir / "rbac.yaml").write_text(RBAC)
    for name in ("system:masters", "system:serviceaccounts:dev", "user:system:authenticated"):
        shown = name.removeprefix("user:")
        result = runner.invoke(app, ["rbac", "can", name, "rbac.yaml"])
        assert result.exit_code == 0, result.output
        assert f"hint: {shown} is a group: kposture rbac can group:{shown}" in result.stderr
    group = runner.invoke(app, ["rbac", "can", "group:ops", "rbac.yaml"])
    assert "is a group" not in group.stderr and "no binding names" not in group.stderr
    paths = runner.invoke(app, ["rbac", "paths", "system:masters", "rbac.yaml"])
    assert "kposture rbac paths group:system:masters" in paths.stderr


def test_a_subject_no_binding_names_gets_a_note(runner: CliRunner, workdir: Path) -> None:
    (workdir / "rbac.yaml").write_text(
        RBAC.replace("ServiceAccount, name: ci", "User, name: alice")
    )
    typo = runner.invoke(app, ["rbac", "can", "alcie", "rbac.yaml"])
    assert typo.exit_code == 0, typo.output
    assert (
        "note: no binding names User alcie; only groups it would belong to grant anything"
        in typo.stderr
    )
    assert (
        "no binding names" not in runner.invoke(app, ["rbac", "can", "alice", "rbac.yaml"]).stderr
    )
    group = runner.invoke(app, ["rbac", "can", "group:opz", "rbac.yaml"])
    assert "note: no binding names Group opz" in group.stderr
    account = runner.invoke(app, ["rbac", "can", "sa:shop/cj", "rbac.yaml"])
    assert "no binding names ServiceAccount shop/cj;" in account.stderr


def test_a_service_account_named_by_a_binding_of_its_namespace_gets_no_note(
    runner: CliRunner, workdir: Path
) -> None:
    (workdir / "rbac.yaml").write_text(RBAC)
    named = runner.invoke(app, ["rbac", "can", "sa:shop/ci", "rbac.yaml"])
    assert named.exit_code == 0, named.output
    assert "no binding names" not in named.stderr


OWN_READERS = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: secret-readers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secret-reader}
subjects:
- {kind: User, name: zoe}
- {kind: Group, name: zz-auditors}
- {kind: ServiceAccount, name: app, namespace: zz}
"""


def test_who_can_lists_the_users_own_subjects_before_kubernetes_defaults(
    runner: CliRunner, workdir: Path, corpus: Path
) -> None:
    (workdir / "own.yaml").write_text(OWN_READERS)
    given = ["rbac", "who-can", "get", "secrets", "-A", "own.yaml"]
    given.append(str(corpus / "rbac" / "kubernetes-bootstrap"))
    doc = json.loads(runner.invoke(app, [*given, "-o", "json"]).stdout)
    defaults = [entry["default"] for entry in doc["subjects"]]
    assert defaults == sorted(defaults) and True in defaults and False in defaults
    names = [entry["subject"]["name"] for entry in doc["subjects"]]
    assert names[:3] == ["zoe", "zz-auditors", "app"]
    table = runner.invoke(app, given, env={"COLUMNS": "250"}).stdout.splitlines()[2:]
    rows = [line.split()[1] for line in table if line[1:2].strip()]  # a row's first line
    assert rows[:3] == ["zoe", "zz-auditors", "zz/app"]


SHOP = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: default}
"""

MISTYPED = [
    ["who-can", "get", "secrets", "-n", "shp"],
    ["can", "sa:shop/ci", "-n", "shp"],
    ["risky", "-n", "shp"],
    ["workloads", "-n", "shp"],
    ["paths", "sa:ci", "-n", "shp"],
]


@pytest.mark.parametrize("view", MISTYPED, ids=lambda v: v[0])
def test_a_namespace_the_inputs_do_not_define_is_warned_with_the_closest(
    runner: CliRunner, workdir: Path, view: list[str]
) -> None:
    (workdir / "rbac.yaml").write_text(RBAC + "---\n" + SHOP)
    result = runner.invoke(app, ["rbac", *view, "rbac.yaml"])
    assert result.exit_code == 0, result.output
    assert (
        "warning: -n shp: the inputs define no Namespace shp (they define default, shop); "
        "did you mean shop?"
    ) in result.stderr
    assert "Namespace shp" not in result.stdout


def test_a_namespace_in_capitals_is_matched_ignoring_case(runner: CliRunner, workdir: Path) -> None:
    (workdir / "rbac.yaml").write_text(RBAC + "---\n" + SHOP)
    result = runner.invoke(app, ["rbac", "who-can", "get", "secrets", "-n", "SHOP", "rbac.yaml"])
    assert result.exit_code == 0, result.output
    assert "-n SHOP: the inputs define no Namespace SHOP" in result.stderr
    assert "did you mean shop?" in result.stderr


@pytest.mark.parametrize("subject", ["frank", "group:ops", "sa:shop/ci"])
def test_paths_warns_about_n_only_where_it_names_the_namespace(
    runner: CliRunner, workdir: Path, subject: str
) -> None:
    (workdir / "rbac.yaml").write_text(RBAC + "---\n" + SHOP)
    result = runner.invoke(app, ["rbac", "paths", subject, "-n", "shp", "rbac.yaml"])
    assert result.exit_code == 0, result.output
    assert "Namespace shp" not in result.stderr


def test_no_namespace_warning_when_it_exists_or_the_inputs_define_none(
    runner: CliRunner, workdir: Path
) -> None:
    (workdir / "rbac.yaml").write_text(RBAC)
    (workdir / "ns.yaml").write_text(SHOP)
    for given in (["rbac.yaml"], ["rbac.yaml", "ns.yaml"]):
        namespace = "shp" if given == ["rbac.yaml"] else "shop"
        result = runner.invoke(app, ["rbac", "who-can", "get", "secrets", "-n", namespace, *given])
        assert result.exit_code == 0, result.output
        assert "Namespace" not in result.stderr


def test_who_can_dot_marks_kubernetes_default_subjects(runner: CliRunner, corpus: Path) -> None:
    bootstrap = str(corpus / "rbac" / "kubernetes-bootstrap")
    given = ["rbac", "who-can", "escalate", "clusterroles.rbac.authorization.k8s.io", bootstrap]
    result = runner.invoke(app, [*given, "-o", "dot"])
    assert result.exit_code == 0, result.output
    nodes = [line for line in result.stdout.splitlines() if line.lstrip().startswith('"subject:')]
    masters = [line for line in nodes if "system:masters" in line and "->" not in line]
    assert masters and 'label="Group system:masters\\n(Kubernetes default)"' in masters[0]

"""``kposture rbac who-can``: Kubernetes' own grants marked, and the hints and notes on stderr that
say what the answer leaves out or what a mistyped question probably meant."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from kposture.cli.app import app

DEFAULTS = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:kube-controller-manager
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:kube-controller-manager
  labels: {kubernetes.io/bootstrapping: rbac-defaults}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:kube-controller-manager}
subjects:
- {kind: User, name: system:kube-controller-manager, apiGroup: rbac.authorization.k8s.io}
- {kind: User, name: mallory, apiGroup: rbac.authorization.k8s.io}
"""


def _who_can(runner: CliRunner, *args: str) -> tuple[str, str]:
    result = runner.invoke(app, ["rbac", "who-can", *args], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def test_kubernetes_defaults_are_marked_in_table_json_and_yaml(
    runner: CliRunner, workdir: Path
) -> None:
    (workdir / "rbac.yaml").write_text(DEFAULTS)
    table, _ = _who_can(runner, "get", "secrets", "rbac.yaml")
    assert "system:kube-controller-manager (Kubernetes default)" in table
    assert "mallory (Kubernetes default)" not in table and "mallory" in table
    for output, load in (("json", json.loads), ("yaml", yaml.safe_load)):
        doc = load(_who_can(runner, "get", "secrets", "rbac.yaml", "-o", output)[0])
        marked = {s["subject"]["name"]: s["default"] for s in doc["subjects"]}
        assert marked == {"system:kube-controller-manager": True, "mallory": False}, output


SCOPED = """\
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
subjects: [{kind: ServiceAccount, name: ci}, {kind: User, name: root}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: root}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, name: root}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: db-password}
rules:
- {apiGroups: [""], resources: [secrets], resourceNames: [db-password], verbs: [get]}
- {apiGroups: [""], resources: [configmaps], resourceNames: [settings], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: db-password}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: db-password}
subjects: [{kind: User, name: bob}, {kind: User, name: root}]
"""


def test_a_namespaced_question_without_a_namespace_says_how_many_more_can_in_one(
    runner: CliRunner, workdir: Path
) -> None:
    (workdir / "rbac.yaml").write_text(SCOPED)
    _, hint = _who_can(runner, "create", "pods/exec", "rbac.yaml")
    # root is in the answer already (cluster-admin): only ci is more.
    assert "note: 1 more subject can in some namespace: use -A" in hint
    for asked in (["-A"], ["-n", "shop"], ["-n", "other"]):
        assert (
            "some namespace" not in _who_can(runner, "create", "pods/exec", "rbac.yaml", *asked)[1]
        )
    # Nodes are cluster-scoped: no RoleBinding can grant them.
    assert "some namespace" not in _who_can(runner, "get", "nodes", "rbac.yaml")[1]
    (workdir / "two.yaml").write_text(SCOPED.replace("name: cluster-admin", "name: nothing"))
    _, two = _who_can(runner, "create", "pods/exec", "two.yaml", "-o", "json")
    assert "note: 2 more subjects can in some namespace: use -A" in two


def test_grants_limited_to_named_objects_are_said_without_name(
    runner: CliRunner, workdir: Path
) -> None:
    (workdir / "rbac.yaml").write_text(SCOPED)
    out, hint = _who_can(runner, "get", "secrets", "rbac.yaml")
    assert "bob" not in out
    assert "note: 1 subject can for specific names only: use --name NAME" in hint
    named, quiet = _who_can(runner, "get", "secrets", "rbac.yaml", "--name", "db-password")
    assert "bob" in named and "specific names" not in quiet
    # Other verbs and resources than the named grant's get no note.
    assert "specific names" not in _who_can(runner, "list", "secrets", "rbac.yaml")[1]
    assert "specific names" not in _who_can(runner, "get", "pods", "rbac.yaml")[1]
    assert "specific names" in _who_can(runner, "get", "configmaps", "rbac.yaml", "-A")[1]


def test_mistyped_verbs_and_resources_get_a_hint_and_the_answer_for_what_was_typed(
    runner: CliRunner, workdir: Path
) -> None:
    (workdir / "rbac.yaml").write_text(SCOPED)

    def hint(*question: str) -> str:
        out, err = _who_can(runner, *question, "-n", "shop", "rbac.yaml", "-o", "json")
        assert json.loads(out)["request"]["verb"] == question[0].lower()
        return err

    assert "did you mean get?" in hint("gett", "secrets")
    assert "RBAC verbs are lowercase: answered for get" in hint("GET", "secrets")
    assert "did you mean create pods/exec?" in hint("exec", "pods")
    assert "did you mean pods/exec?" in hint("create", "pods/exc")
    assert "did you mean secrets?" in hint("get", "v1/secrets")
    frob = hint("frobnicate", "secrets")
    assert "frobnicate is not a Kubernetes verb (answered as written" in frob
    assert "did you mean" not in frob
    # Valid but unusual questions get no hint.
    for question in (
        ("escalate", "roles.rbac.authorization.k8s.io"),
        ("bind", "roles.rbac.authorization.k8s.io"),
        ("*", "secrets"),
        ("get", "widgets.example.com"),
        ("get", "widgets.example.com/status"),
    ):
        assert "hint:" not in hint(*question), question
    # Cluster-wide questions.
    _, url = _who_can(runner, "get", "metrics", "rbac.yaml")
    assert "hint: a non-resource URL starts with /: did you mean /metrics?" in url
    for question in (
        ("impersonate", "users"),
        ("use", "podsecuritypolicies.policy"),
        ("approve", "certificatesigningrequests.certificates.k8s.io"),
        ("post", "/healthz"),
    ):
        assert "hint:" not in _who_can(runner, *question, "rbac.yaml")[1], question
    versioned = runner.invoke(app, ["rbac", "who-can", "get", "apps/v1/deployments", "rbac.yaml"])
    assert versioned.exit_code == 2
    assert "(the API group, not the apiVersion: deployments.apps)" in versioned.stderr


def test_table_has_no_trailing_blanks_and_shows_control_characters_escaped(
    runner: CliRunner, workdir: Path
) -> None:
    forged = DEFAULTS.replace("name: mallory,", 'name: "mallory\\e[2J\\nKIND forged",')
    (workdir / "rbac.yaml").write_text(forged)
    table, _ = _who_can(runner, "get", "secrets", "rbac.yaml")
    assert "\x1b" not in table and "mallory\\x1b[2J\\nKIND forged" in table
    assert all(line == line.rstrip() for line in table.splitlines())

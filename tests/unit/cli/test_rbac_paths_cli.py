"""``kposture rbac paths``: SUBJECT first or by option, group paths of a member, goals, defaults,
every output format, and the rule's fixtures as inputs."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from kposture.cli.app import app
from unit.cli.test_rbac_views_cli import check_dot

FIXTURES = Path(__file__).resolve().parents[2] / "rules" / "fixtures" / "rbac-escalation-path"
DEPLOYER = str(FIXTURES / "fail-deployer-reaches-cluster-admin.yaml")
SECRETS = str(FIXTURES / "fail-token-secret-reader.yaml")
SAFE = str(FIXTURES / "pass-deployer-namespace-holds-nothing-more.yaml")


def _run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["rbac", "paths", *args])
    assert result.exit_code == code, result.output
    return result.stdout


def _doc(runner: CliRunner, *args: str) -> dict[str, object]:
    doc = json.loads(_run(runner, *args, "-o", "json"))
    assert doc["schema"] == "kposture.rbac-paths/v1"
    return doc


def test_every_path_with_each_hop_in_the_table(runner: CliRunner) -> None:
    out = _run(runner, DEPLOYER, SECRETS)
    assert "User alice → full access (cluster-admin) (critical, 1 hop)" in out
    assert "Group support → change admission webhooks or policies (high, 2 hops)" in out
    assert "RoleBinding ci/deployer → Role ci/deployer" in out
    assert "Secret/kube-tools/webhook-manager-token-x7k2p" in out
    assert "2 escalation paths." in out


def test_subject_first_or_by_option(runner: CliRunner) -> None:
    first = _doc(runner, "alice", DEPLOYER, SECRETS)
    by_option = _doc(runner, DEPLOYER, SECRETS, "--subject", "user:alice")
    assert [p["start"]["name"] for p in first["paths"]] == ["alice"]  # type: ignore[index]
    assert first["paths"] == by_option["paths"]
    assert "No escalation path from User bob." in _run(runner, "bob", DEPLOYER)


def test_a_member_sees_the_paths_of_its_groups(runner: CliRunner) -> None:
    doc = _doc(runner, "carol", SECRETS, "--group", "support")
    (path,) = doc["paths"]  # type: ignore[misc]
    assert path["start"] == {"kind": "Group", "namespace": "", "name": "support"}
    assert path["reached"]["name"] == "webhook-manager"
    assert path["hops"][0]["via"]["binding"]["name"] == "config-reader"
    assert path["hops"][1]["evidence"] == [
        {"kind": "Secret", "namespace": "kube-tools", "name": "webhook-manager-token-x7k2p"}
    ]


def test_goal_filter_and_unknown_goal(runner: CliRunner) -> None:
    doc = _doc(runner, DEPLOYER, SECRETS, "--goal", "modify-webhooks")
    assert [p["goal"]["id"] for p in doc["paths"]] == ["modify-webhooks"]  # type: ignore[index]
    result = CliRunner().invoke(app, ["rbac", "paths", DEPLOYER, "--goal", "root"])
    assert result.exit_code == 2
    assert "unknown goal root" in result.output


def test_no_path_where_the_namespace_holds_nothing_more(runner: CliRunner) -> None:
    assert _doc(runner, SAFE)["paths"] == []


def test_yaml_and_dot(runner: CliRunner) -> None:
    doc = yaml.safe_load(_run(runner, DEPLOYER, "-o", "yaml"))
    assert doc["paths"][0]["held"]["via"]["role"]["name"] == "cluster-admin"
    dot = _run(runner, DEPLOYER, SECRETS, "-o", "dot")
    check_dot(dot)
    assert '"node:User::alice"' in dot and '"capability:full-access"' in dot


def test_kubernetes_own_paths_hidden_and_counted(runner: CliRunner, tmp_path: Path) -> None:
    text = (
        Path(DEPLOYER)
        .read_text(encoding="utf-8")
        .replace("name: alice", "name: system:kube-scheduler")
    )
    manifest = tmp_path / "rbac.yaml"
    manifest.write_text(text, encoding="utf-8")
    assert "1 of Kubernetes' own identities hidden" in _run(runner, str(manifest))
    doc = _doc(runner, str(manifest), "--include-defaults")
    assert [p["default"] for p in doc["paths"]] == [True]  # type: ignore[index]


def test_a_subject_holding_the_goal_is_told_so_instead_of_group_paths(runner: CliRunner) -> None:
    out = _run(runner, "sa:ci/builder", DEPLOYER)
    assert "ServiceAccount ci/builder already holds full access (cluster-admin)" in out
    assert "system:authenticated" not in out and "1." not in out
    doc = _doc(runner, "sa:ci/builder", DEPLOYER)
    assert doc["paths"] == []
    held = doc["already_held"]
    assert [h["goal"]["id"] for h in held] == ["full-access", "modify-webhooks", "read-secrets"]  # type: ignore[index,union-attr]


EVERYONE_CREATES_PODS = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: everyone-deploys, namespace: ci}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {kind: Group, name: system:authenticated, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: builder-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: builder, namespace: ci}
"""


def test_a_group_path_is_shown_as_walked_by_the_member(runner: CliRunner, tmp_path: Path) -> None:
    manifest = tmp_path / "rbac.yaml"
    manifest.write_text(EVERYONE_CREATES_PODS)
    out = _run(runner, "alice", str(manifest))
    assert (
        "1. User alice (as a member of group system:authenticated) → full access (cluster-admin)"
        in out
    )


def test_a_missing_file_is_not_taken_for_a_subject(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["rbac", "paths", "esc.yml", "esc.yaml"])
    assert result.exit_code == 2
    assert "no such file: esc.yml" in result.stderr
    result = runner.invoke(app, ["rbac", "paths", "alice"])
    assert result.exit_code == 2
    assert "alice was read as the SUBJECT" in result.stderr
    # SUBJECT forms with a slash are still subjects.
    assert "No escalation path from ServiceAccount ci/nobody" in _run(
        runner, "sa:ci/nobody", DEPLOYER
    )


def test_long_paths_are_capped_unless_full(runner: CliRunner, tmp_path: Path) -> None:
    from unit.inventory.test_rbac_paths import _chain

    manifest = tmp_path / "chain.yaml"
    manifest.write_text(_chain(12))
    out = _run(runner, "head", str(manifest))
    assert "(critical, 12 hops)" in out and "… 6 more hops …" in out
    capped = _doc(runner, "head", str(manifest))["paths"][0]  # type: ignore[index]
    assert capped["hop_count"] == 12 and capped["hops_omitted"] == 6
    assert len(capped["hops"]) == 6
    full = _doc(runner, "head", str(manifest), "--full")["paths"][0]  # type: ignore[index]
    assert full["hops_omitted"] == 0 and len(full["hops"]) == 12
    assert "more hops" in _run(runner, "head", str(manifest), "-o", "dot")


def test_the_answer_names_the_subject_as_resolved(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rbac", "paths", "sa:foo", "-n", "x", DEPLOYER])
    assert result.exit_code == 0, result.output
    assert "No escalation path from ServiceAccount x/foo." in result.stdout
    assert "sa:foo" not in result.stdout


def test_n_without_a_serviceaccount_subject_is_said_to_apply_to_nothing(
    runner: CliRunner,
) -> None:
    for args in (["-n", "x", DEPLOYER], ["alice", "-n", "x", DEPLOYER]):
        result = runner.invoke(app, ["rbac", "paths", *args])
        assert result.exit_code == 0, result.output
        assert "-n only applies to a ServiceAccount SUBJECT" in result.stderr
    quiet = runner.invoke(app, ["rbac", "paths", "sa:foo", "-n", "x", DEPLOYER])
    assert "-n only applies" not in quiet.stderr

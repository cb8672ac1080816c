"""``kposture rbac ... --cluster`` over an in-memory API server that forbids listing some kinds:
an answer without an RBAC kind is marked incomplete and exits 2, in RBAC wording."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from fake_kube_api import FakeApi
from kposture.cli import app
from kposture.sources import cluster as cluster_source
from kposture.sources.cluster_listing import list_kind

READER = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "reader", "uid": "r1"},
    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
}
READERS = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "readers", "uid": "b1"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
    "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}],
}


def _cluster(monkeypatch: pytest.MonkeyPatch, statuses: dict[str, int]) -> None:
    api = FakeApi(statuses=statuses).add(READER, READERS)
    real = cluster_source.load_cluster

    def load(*args: Any, **kwargs: Any) -> Any:
        return real(*args, connection=api.connection("dev"), **kwargs)

    monkeypatch.setattr("kposture.cli.scanning.load_cluster", load)
    monkeypatch.setattr(
        "kposture.cli.rbac_discovery.connect", lambda *_, **__: api.connection("dev")
    )


COMMANDS = [
    ["who-can", "get", "pods"],
    ["can", "alice"],
    ["risky"],
    ["paths"],
    ["workloads"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_unlisted_rbac_kind_marks_the_answer_incomplete(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    _cluster(monkeypatch, {"roles": 403, "serviceaccounts": 403})
    done = CliRunner().invoke(app, ["rbac", *command, "--cluster"])
    assert done.exit_code == 2, done.output
    # under an answer, or instead of one when the view found nothing
    assert done.stdout.count("roles could not be listed (forbidden)") == 1
    assert "roles could not be listed" not in done.stderr
    assert "did not run" not in done.stderr and "under-reported" not in done.stderr
    assert (
        "cannot list serviceaccounts: forbidden; the answer did not see ServiceAccounts"
        in done.stderr
    )
    doc = json.loads(CliRunner().invoke(app, ["rbac", *command, "--cluster", "-o", "json"]).stdout)
    messages = [error["message"] for error in doc["errors"]]
    assert "incomplete: roles could not be listed (forbidden)" in messages


def test_a_complete_listing_answers_with_exit_0(monkeypatch: pytest.MonkeyPatch) -> None:
    _cluster(monkeypatch, {"nodes": 403})
    done = CliRunner().invoke(app, ["rbac", "who-can", "get", "pods", "--cluster"])
    assert done.exit_code == 0, done.output
    assert "alice" in done.stdout and "incomplete" not in done.stdout


UNREADABLE_RBAC = {
    "roles": 403,
    "clusterroles": 403,
    "rolebindings": 403,
    "clusterrolebindings": 403,
    "validatingwebhookconfigurations": 403,
    "pods": 403,
    "customresourcedefinitions": 403,
}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_unreadable_rbac_cannot_answer_once_and_warns_only_about_kinds_read(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    _cluster(monkeypatch, UNREADABLE_RBAC)
    done = CliRunner().invoke(app, ["rbac", *command, "--cluster"])
    assert done.exit_code == 2, done.output
    every = "roles, rolebindings, clusterroles, clusterrolebindings could not be listed (forbidden)"
    assert f"Cannot answer: {every}" in done.stdout.splitlines()
    assert done.stdout.count("could not be listed") == 1
    assert not any(line.startswith("No ") for line in done.stdout.splitlines())
    assert "could not be listed" not in done.stderr
    assert "webhook" not in done.stderr and "CustomResourceDefinition" not in done.stderr
    pods_read = command[0] in ("paths", "workloads")
    assert ("cannot list pods" in done.stderr) is pods_read


def test_who_can_lists_only_the_kinds_it_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    listed: list[str] = []
    real = list_kind

    def spy(transport: Any, kind: Any, *args: Any) -> Any:
        listed.append(kind.kind)
        return real(transport, kind, *args)

    monkeypatch.setattr("kposture.sources.cluster.list_kind", spy)
    _cluster(monkeypatch, {})
    done = CliRunner().invoke(app, ["rbac", "who-can", "get", "pods", "--cluster"])
    assert done.exit_code == 0, done.output
    assert sorted(listed) == sorted(
        ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "Namespace", "ServiceAccount"]
    )


def test_a_resource_without_its_group_is_resolved_through_discovery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _cluster(monkeypatch, {})
    given = ["rbac", "who-can", "bind", "clusterroles", "--name", "cluster-admin", "--cluster"]
    done = CliRunner().invoke(app, [*given, "-o", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["request"]["group"] == "rbac.authorization.k8s.io"
    assert (
        "note: clusterroles is served by the API group rbac.authorization.k8s.io (the cluster's "
        "discovery): answered for clusterroles.rbac.authorization.k8s.io"
    ) in done.stderr
    assert "did you mean" not in done.stderr
    core = CliRunner().invoke(app, ["rbac", "who-can", "get", "pods", "--cluster", "-o", "json"])
    assert json.loads(core.stdout)["request"]["group"] == ""
    assert "served by the API group" not in core.stderr


@pytest.mark.parametrize("forbidden", ["rolebindings", "clusterrolebindings"])
@pytest.mark.parametrize("command", [["can", "bob"], ["paths", "bob"]], ids=lambda c: c[0])
def test_no_subject_note_when_bindings_could_not_be_read(
    monkeypatch: pytest.MonkeyPatch, forbidden: str, command: list[str]
) -> None:
    # bob is named by no binding that could be read; an unread one might name him
    _cluster(monkeypatch, {forbidden: 403})
    done = CliRunner().invoke(app, ["rbac", *command, "--cluster"])
    assert done.exit_code == 2, done.output
    assert f"{forbidden} could not be listed (forbidden)" in done.stdout
    assert "no binding names" not in done.stderr


def test_the_subject_note_stays_when_every_binding_was_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _cluster(monkeypatch, {"roles": 403})
    done = CliRunner().invoke(app, ["rbac", "can", "bob", "--cluster"])
    assert done.exit_code == 2, done.output
    assert "note: no binding names User bob" in done.stderr

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


COMMANDS = [
    ["who-can", "delete", "pods"],
    ["can", "alice"],
    ["risky"],
    ["paths"],
    ["workloads"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_unlisted_rbac_kind_marks_the_answer_incomplete(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    _cluster(monkeypatch, {"roles": 403, "nodes": 403})
    done = CliRunner().invoke(app, ["rbac", *command, "--cluster"])
    assert done.exit_code == 2, done.output
    assert "incomplete: roles could not be listed (forbidden)" in done.stdout
    assert "did not run" not in done.stderr and "under-reported" not in done.stderr
    assert "cannot list nodes: forbidden; the answer did not see Nodes" in done.stderr
    doc = json.loads(CliRunner().invoke(app, ["rbac", *command, "--cluster", "-o", "json"]).stdout)
    messages = [error["message"] for error in doc["errors"]]
    assert "incomplete: roles could not be listed (forbidden)" in messages


def test_a_complete_listing_answers_with_exit_0(monkeypatch: pytest.MonkeyPatch) -> None:
    _cluster(monkeypatch, {"nodes": 403})
    done = CliRunner().invoke(app, ["rbac", "who-can", "get", "pods", "--cluster"])
    assert done.exit_code == 0, done.output
    assert "alice" in done.stdout and "incomplete" not in done.stdout

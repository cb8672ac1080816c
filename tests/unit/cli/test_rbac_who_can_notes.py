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

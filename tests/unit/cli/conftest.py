"""Fixtures for command-line tests: a CLI runner and a working folder holding a privileged Pod."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

PRIVILEGED = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
spec:
  containers:
    - name: app
      image: nginx:1.27
      securityContext:
        privileged: true
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder for the test, with ``pod.yaml`` (privileged, on line 11)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pod.yaml").write_text(PRIVILEGED)
    return tmp_path

"""The Kubernetes bootstrap RBAC policy (``kind: List`` dumps) from the shared corpus."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from kposture.sources import load_manifests

REPO_ROOT = Path(__file__).resolve().parents[3]


def corpus_dir(*parts: str) -> Path:
    configured = Path(os.environ.get("KPOSTURE_CORPUS", "../shared/corpus"))
    root = configured if configured.is_absolute() else (REPO_ROOT / configured).resolve()
    path = root.joinpath(*parts)
    if not path.is_dir():
        pytest.skip(f"corpus folder {path} not found (set KPOSTURE_CORPUS to the shared corpus)")
    return path


def test_bootstrap_rbac_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    rbac = corpus_dir("rbac", "kubernetes-bootstrap")
    monkeypatch.chdir(rbac)
    loaded = load_manifests(["."])
    assert loaded.errors == ()
    assert loaded.notes == ()
    assert Counter(o.ref.kind for o in loaded.objects) == {
        "ClusterRole": 31,
        "ClusterRoleBinding": 12,
        "Role": 7,
        "RoleBinding": 7,
    }
    (admin,) = [
        o for o in loaded.objects if o.ref.kind == "ClusterRole" and o.ref.name == "cluster-admin"
    ]
    assert admin.location is not None
    assert (admin.location.file, admin.location.line, admin.location.column) == (
        "cluster-roles.yaml",
        17,
        3,
    )
    assert admin.position(("metadata", "name")) == (25, 5)
    assert admin.position(("rules", 0, "verbs", 0)) == (32, 7)
    assert admin.position(("rules", 1, "nonResourceURLs")) == (33, 5)
    roles = [o for o in loaded.objects if o.ref.kind == "Role"]
    assert roles[0].ref.namespace == "kube-public"
    assert roles[0].location.line == 3  # type: ignore[union-attr]

"""The Kubernetes bootstrap RBAC policy (``kind: List`` dumps) from the shared corpus."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from kposture.sources import load_manifests


def test_bootstrap_rbac_lists(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rbac = corpus / "rbac" / "kubernetes-bootstrap"
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

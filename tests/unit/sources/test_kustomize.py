"""Kustomize helpers that need no kubectl: error text and patch declarations."""

from __future__ import annotations

from pathlib import Path

from kposture.sources.kustomize import error_text
from kposture.sources.kustomize_patches import KustomizePositions, patch_entries
from kposture.sources.yaml_documents import TablePositions, parse_yaml

KLOG = (
    "# Warning: 'patchesJson6902' is deprecated. Please use 'patches' instead."
    ' E1126 15:23:59.881146   28467 run.go:72] "command failed" err="accumulating resources:'
    " accumulation err='accumulating resources from 'missing.yaml': lstat"
    ' /k/missing.yaml: no such file or directory\': must build at \\"directory\\""\n'
)


def test_klog_header_is_dropped_from_kustomize_errors() -> None:
    assert error_text(KLOG) == (
        "accumulating resources: accumulation err='accumulating resources from 'missing.yaml':"
        ' lstat /k/missing.yaml: no such file or directory\': must build at "directory"'
    )
    assert error_text('E0101 00:00:00.000001 1 run.go:72] "command failed"\n') == (
        '"command failed"'
    )
    assert error_text("# Warning: deprecated\nError: plain message\n") == "Error: plain message"
    assert error_text("") == ""


KUSTOMIZATION = """\
resources: [../base]
patchesStrategicMerge:
- smp.yaml
patches:
- path: ops.yaml
  target: {kind: Deployment, name: web}
- patch: |-
    - op: add
      path: /spec/hostPID
      value: true
patchesJson6902:
- path: legacy.yaml
  target: {kind: Deployment, name: other}
"""


def test_patch_entries_in_application_order(tmp_path: Path) -> None:
    file = tmp_path / "kustomization.yaml"
    entries = patch_entries(file, list(parse_yaml(KUSTOMIZATION)))
    assert [(e.file, e.entry, e.kind, e.targeted) for e in entries] == [
        (tmp_path / "smp.yaml", (3, 1), None, False),
        (tmp_path / "ops.yaml", (5, 1), "Deployment", True),
        (None, (7, 1), None, False),
        (tmp_path / "legacy.yaml", (12, 1), "Deployment", True),
    ]
    rendered = {"apiVersion": "v1", "kind": "Deployment", "metadata": {"name": "prod-web"}}
    patches = [p for e in entries for p in e.patches(rendered, "k.yaml", lambda _: [], str)]
    assert len(patches) == 1  # only the inline one has documents here; "other" does not apply
    base = next(parse_yaml("apiVersion: v1\nkind: Deployment\nspec:\n  x: 1\n"))
    assert isinstance(base.positions, TablePositions)
    positions = KustomizePositions("base.yaml", base.positions, (1, 1), rendered, tuple(patches))
    assert positions.locate(("spec", "hostPID")) == ("k.yaml", 7, 1)
    assert positions.locate(("spec", "x")) == ("base.yaml", 4, 3)
    assert positions.locate(("spec", "y")) == ("base.yaml", 3, 1)
    assert positions.position(("spec", "hostPID")) == (3, 1)

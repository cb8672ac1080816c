"""Kustomize helpers that need no kubectl: error text and patch declarations."""

from __future__ import annotations

from pathlib import Path

from kposture.sources.kustomize import error_text
from kposture.sources.kustomize_patches import (
    KustomizePositions,
    StrategicPatch,
    json_patch,
    patch_entries,
    targets,
)
from kposture.sources.kustomize_transformers import TransformerFields, image_name
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


BASE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25
        securityContext:
          allowPrivilegeEscalation: false
          runAsNonRoot: true
"""
SMP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        securityContext:
          allowPrivilegeEscalation: true
"""
OVERLAY_KUSTOMIZATION = """\
resources: [../base]
namespace: prod
namePrefix: prod-
commonLabels:
  team: a
labels:
- pairs: {tier: web}
images:
- name: redis
  newTag: "7"
- name: nginx
  newTag: latest
"""


def document(text: str) -> TablePositions:
    positions = next(parse_yaml(text)).positions
    assert isinstance(positions, TablePositions)
    return positions


def test_a_field_the_patch_set_points_at_the_patch_even_when_the_base_has_it() -> None:
    rendered = next(parse_yaml(BASE)).data
    container = rendered["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["allowPrivilegeEscalation"] = True
    patch = StrategicPatch("patch.yaml", document(SMP))
    positions = KustomizePositions("base.yaml", document(BASE), (1, 1), rendered, (patch,))
    path = ("spec", "template", "spec", "containers", 0, "securityContext")
    assert positions.locate((*path, "allowPrivilegeEscalation")) == ("patch.yaml", 11, 11)
    # What the patch only names or merges into stays with the base...
    assert positions.locate(("metadata", "name")) == ("base.yaml", 4, 3)
    assert positions.locate(("spec", "template", "spec", "containers", 0, "name")) == (
        "base.yaml",
        9,
        9,
    )
    assert positions.locate(path) == ("base.yaml", 11, 9)
    assert positions.locate((*path, "runAsNonRoot")) == ("base.yaml", 13, 11)
    # ...and what only the patch has points at the patch.
    assert positions.locate(("spec", "template", "spec", "containers", 0, "image")) == (
        "base.yaml",
        10,
        9,
    )


def test_built_in_transformers_point_at_their_kustomization_lines() -> None:
    rendered = next(parse_yaml(BASE)).data
    rendered["metadata"].update(
        name="prod-web", namespace="prod", labels={"team": "a", "tier": "web"}
    )
    rendered["spec"]["template"]["metadata"] = {"labels": {"team": "a", "tier": "web"}}
    rendered["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:latest"
    kustomization = document(OVERLAY_KUSTOMIZATION)
    steps = [
        TransformerFields("k.yaml", kind, kustomization)
        for kind in (
            "NamespaceTransformer",
            "PrefixTransformer",
            "LabelTransformer",
            "ImageTagTransformer",
        )
    ]
    positions = KustomizePositions(
        "base.yaml", document(BASE), (1, 1), rendered, tuple(reversed(steps))
    )
    image = ("spec", "template", "spec", "containers", 0, "image")
    assert positions.locate(image) == ("k.yaml", 11, 1), "the nginx entry, not redis's"
    assert positions.locate(("metadata", "namespace")) == ("k.yaml", 2, 1)
    assert positions.locate(("metadata", "name")) == ("k.yaml", 3, 1)
    assert positions.locate(("metadata", "labels", "team")) == ("k.yaml", 5, 3)
    assert positions.locate(("metadata", "labels", "tier")) == ("k.yaml", 7, 11)
    # A `labels` entry reaches pod templates only with includeTemplates; commonLabels does.
    template = ("spec", "template", "metadata", "labels")
    assert positions.locate((*template, "team")) == ("k.yaml", 5, 3)
    assert positions.locate((*template, "tier")) == ("base.yaml", 6, 3)
    # An image the kustomization did not produce keeps its origin line.
    rendered["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.25"
    assert positions.locate(image) == ("base.yaml", 10, 9)
    assert image_name("registry:5000/team/app:1.2@sha256:abc") == "registry:5000/team/app"


def test_patch_targets_prefer_the_original_name() -> None:
    rendered = {"kind": "Deployment", "metadata": {"name": "prod-web-api"}}
    assert targets(rendered, "Deployment", "web-api", "web-api")
    assert targets(rendered, "Deployment", "prod-web-api", "web-api")
    assert targets(rendered, "Deployment", "web-a.*", "web-api")
    assert not targets(rendered, "Deployment", "web", "web-api"), "another object's patch"
    assert not targets(rendered, "Service", "web-api", "web-api")
    assert targets(rendered, "Deployment", "web", ""), "without an origin, any part matches"


def test_an_appended_item_is_matched_by_its_merge_key() -> None:
    ops = next(
        parse_yaml(
            "- op: add\n  path: /spec/containers/-\n  value:\n    name: side\n    image: busybox\n"
        )
    )
    patch = json_patch("ops.yaml", ops)
    assert patch is not None
    rendered = {"spec": {"containers": [{"name": "web", "image": "a"}, {"name": "side"}]}}
    assert patch.locate(rendered, ("spec", "containers", 0, "image")) is None
    assert patch.locate(rendered, ("spec", "containers", 1, "image")) == ("ops.yaml", 5, 5)

"""Rendering with real programs: Helm charts (helm_python or helm) and Kustomize via kubectl."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path

import pytest

from kposture.cli.scanning import EXIT_USAGE, exit_code, scan_manifests
from kposture.model import InputError
from kposture.sources import load_manifests

pytestmark = pytest.mark.e2e


def test_goat_corpus_with_helm_charts(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    goat = corpus / "goat"
    monkeypatch.chdir(goat.parent)
    loaded = load_manifests(["goat"])
    assert loaded.errors == ()
    assert loaded.notes == (
        "goat/expected.json:1: document without apiVersion/kind skipped",
        "goat/reference_scanner_reports/checkov_report.json:1: document without apiVersion/kind"
        " skipped",
        "goat/reference_scanner_reports/kubescape_summary.json:1: document without apiVersion/kind"
        " skipped",
    )
    assert len(loaded.objects) == 40
    assert Counter(o.ref.kind for o in loaded.objects) == {
        "Service": 10,
        "Deployment": 9,
        "Job": 4,
        "Secret": 3,
        "Namespace": 2,
        "ServiceAccount": 2,
        "ClusterRoleBinding": 2,
        "ClusterRole": 1,
        "Role": 1,
        "RoleBinding": 1,
        "Cluster": 1,
        "NetworkPolicy": 1,
        "DaemonSet": 1,
        "ClusterPolicy": 1,
        "Pod": 1,
    }
    by_name = {o.ref.name: o for o in loaded.objects}

    monitor = by_name["system-monitor-deployment"]
    assert monitor.location is not None
    assert (monitor.location.file, monitor.location.line) == (
        "goat/scenarios/system-monitor/deployment.yaml",
        11,
    )
    container = ("spec", "template", "spec", "containers", 0)
    assert monitor.position((*container, "image")) == (34, 9)
    assert monitor.position((*container, "securityContext", "privileged")) == (41, 11)

    # Helm: located in the chart's template, not in the rendered stream.
    deployments = [o for o in loaded.objects if o.location and o.location.origin == "helm"]
    assert {(o.ref.kind, o.location.file) for o in deployments if o.location} == {
        ("Deployment", "goat/scenarios/metadata-db/templates/deployment.yaml"),
        ("Service", "goat/scenarios/metadata-db/templates/service.yaml"),
        ("Pod", "goat/scenarios/metadata-db/templates/tests/test-connection.yaml"),
        ("ClusterRole", "goat/infrastructure/helm-tiller/pwnchart/templates/clusterrole.yaml"),
        (
            "ClusterRoleBinding",
            "goat/infrastructure/helm-tiller/pwnchart/templates/clusterrolebinding.yaml",
        ),
    }
    db = next(o for o in deployments if o.ref.kind == "Deployment")
    assert db.ref.name == "kposture-metadata-db"
    assert db.raw["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "madhuakula/k8s-goat-metadata-db:latest"
    )
    template = (goat / "scenarios/metadata-db/templates/deployment.yaml").read_text().splitlines()
    line, _ = db.position((*container, "image")) or (0, 0)
    assert line == 24
    assert template[line - 1].strip().startswith("image:")
    # Fields the chart does not set point at their deepest ancestor in the template.
    assert db.position((*container, "securityContext", "privileged")) == (23, 11)


def test_helm_render_error_names_the_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    chart = tmp_path / "broken"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: broken\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text("kind: ConfigMap\nname: {{ .Values.x \n")
    (tmp_path / "ok.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n")
    loaded = load_manifests(["."])
    assert [o.ref.name for o in loaded.objects] == ["ok"]
    (error,) = loaded.errors
    assert (error.file, error.line, error.level) == ("broken", 0, "error")
    assert error.message.startswith("Helm chart broken could not be rendered: ")


KUSTOMIZE_FILES = {
    "app/base/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
        securityContext:
          privileged: true
""",
    "app/base/service.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n",
    "app/base/kustomization.yaml": "resources:\n- deployment.yaml\n- service.yaml\n",
    "app/overlay/kustomization.yaml": """\
resources:
- ../base
namePrefix: prod-
configMapGenerator:
- name: settings
  literals: [mode=prod]
""",
    "other/plain.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain\n",
}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kustomize_objects_point_at_their_source_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in KUSTOMIZE_FILES.items():
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text(text)
    loaded = load_manifests(["app/overlay", "other"])
    assert loaded.errors == ()
    by_kind = {o.ref.kind: o for o in loaded.objects}
    assert sorted(by_kind) == ["ConfigMap", "Deployment", "Namespace", "Service"]

    deployment = by_kind["Deployment"]
    assert deployment.ref.name == "prod-web"
    assert deployment.location is not None
    assert (deployment.location.file, deployment.location.line, deployment.location.origin) == (
        "app/base/deployment.yaml",
        1,
        "kustomize",
    )
    path = ("spec", "template", "spec", "containers", 0, "securityContext", "privileged")
    assert deployment.position(path) == (12, 11)
    assert "annotations" not in deployment.raw["metadata"], "origin annotation must be removed"

    assert by_kind["Service"].location.file == "app/base/service.yaml"  # type: ignore[union-attr]
    config = by_kind["ConfigMap"]
    assert config.location is not None
    assert (config.location.file, config.location.line) == ("app/overlay/kustomization.yaml", 4)
    assert by_kind["Namespace"].location.origin == ""  # type: ignore[union-attr]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kustomization_inside_a_walked_tree_is_rendered_not_walked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in KUSTOMIZE_FILES.items():
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text(text)
    Path("app/overlay/kustomization.yaml").write_text("resources:\n- ../base\n- missing.yaml\n")
    loaded = load_manifests(["."])
    # app/overlay fails, so app/base (which only it builds on) renders on its own; the overlay's
    # files are never read as plain YAML.
    assert sorted(o.ref.name for o in loaded.objects) == ["plain", "web", "web"]
    (error,) = loaded.errors
    assert error.file == "app/overlay"
    assert error.message.startswith("kubectl kustomize app/overlay failed: ")
    assert "run.go" not in error.message, "klog's header is not the user's problem"
    assert "missing.yaml" in error.message
    assert not any("kustomization.yaml" in note for note in loaded.notes)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_a_base_used_by_an_overlay_in_the_same_tree_is_not_reported_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in KUSTOMIZE_FILES.items():
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text(text)
    Path("app/top").mkdir()
    Path("app/top/kustomization.yaml").write_text("resources:\n- ../overlay\nnameSuffix: -top\n")
    loaded = load_manifests(["."])
    assert loaded.errors == ()
    names = sorted(o.ref.name for o in loaded.objects if o.ref.kind == "Deployment")
    assert names == ["prod-web-top"]
    assert any("app/base: rendered through the overlays" in note for note in loaded.notes)
    assert any("app/overlay: rendered through the overlays" in note for note in loaded.notes)


def test_kustomize_without_kubectl_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("k").mkdir()
    Path("k/kustomization.yaml").write_text("resources: []\n")
    Path("ok.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    loaded = load_manifests(["k"])
    assert loaded.errors == (
        InputError(
            "k",
            0,
            "Kustomize directory not rendered: kubectl is not on PATH;"
            " install kubectl to render Kustomize directories",
            level="error",
        ),
    )
    # A CI gate fails on it (exit 2) even though the rest of the scan is clean.
    outcome = scan_manifests(["k", "ok.yaml"], now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    assert exit_code(outcome.result, None) == EXIT_USAGE


PATCHED_BASE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: sidecar
        image: busybox
      - name: web
        image: nginx
        securityContext:
          runAsNonRoot: true
"""
STRATEGIC_PATCH = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      hostNetwork: true
      containers:
      - name: web
        securityContext:
          privileged: true
"""
JSON_PATCH = """\
- op: add
  path: /spec/template/spec/hostIPC
  value: true
- op: add
  path: /spec/template/spec/containers/1/securityContext
  value:
    allowPrivilegeEscalation: true
"""
OVERLAY = """\
resources:
- ../../base
namePrefix: prod-
patches:
- path: patch.yaml
- path: json.yaml
  target:
    kind: Deployment
    name: web
- patch: |-
    - op: add
      path: /spec/template/spec/hostPID
      value: true
  target:
    kind: Deployment
"""


def write_patched_tree() -> None:
    for name, text in {
        "base/deployment.yaml": PATCHED_BASE,
        "base/service.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n",
        "base/kustomization.yaml": "resources:\n- deployment.yaml\n- service.yaml\n",
        "overlays/prod/patch.yaml": STRATEGIC_PATCH,
        "overlays/prod/json.yaml": JSON_PATCH,
        "overlays/prod/kustomization.yaml": OVERLAY,
    }.items():
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text(text)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_fields_set_by_patches_point_at_the_patch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_patched_tree()
    outcome = scan_manifests(["overlays/prod"], now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    assert not [e for e in outcome.result.errors if e.level == "error"]
    where = {
        (f.rule_id, f.location.path): (f.location.file, f.location.line, f.location.column)
        for f in outcome.result.findings
        if f.location is not None
    }
    spec = "spec.template.spec"
    # Strategic merge: the patch document is matched by kind/name, the container by its name
    # (the merge puts the patched "web" container first).
    assert where["host-network", f"{spec}.hostNetwork"] == ("overlays/prod/patch.yaml", 15, 7)
    assert where["privileged-container", f"{spec}.containers[0].securityContext.privileged"] == (
        "overlays/prod/patch.yaml",
        19,
        11,
    )
    # JSON6902 from a file: the op's path entry, or the field inside its value.
    assert where["host-ipc", f"{spec}.hostIPC"] == ("overlays/prod/json.yaml", 2, 3)
    escalation = f"{spec}.containers[1].securityContext.allowPrivilegeEscalation"
    assert where["privilege-escalation-allowed", escalation] == ("overlays/prod/json.yaml", 7, 5)
    # An inline patch: the kustomization's patches entry.
    assert where["host-pid", f"{spec}.hostPID"] == ("overlays/prod/kustomization.yaml", 10, 1)
    # Fields the base has still point at the base.
    objects = load_manifests(["overlays/prod"]).objects
    deployment = next(o for o in objects if o.ref.kind == "Deployment")
    assert deployment.location is not None
    assert deployment.location.file == "base/deployment.yaml"
    # A field no file has points at its deepest ancestor in the base.
    drop = f"{spec}.containers[0].securityContext.capabilities.drop"
    assert where["capabilities-not-dropped", drop] == ("base/deployment.yaml", 17, 9)
    assert deployment.position((*spec.split("."), "containers", 0, "image")) == (16, 9)
    annotations = deployment.raw["metadata"].get("annotations", {})
    assert not any("kubernetes.io" in key for key in annotations)


OVERRIDDEN_BASE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        securityContext:
          allowPrivilegeEscalation: false
"""
OVERRIDING_PATCH = """\
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
OVERRIDING_OVERLAY = """\
resources:
- ../../base
namespace: prod
namePrefix: prod-
commonLabels:
  team: a
images:
- name: nginx
  newTag: latest
patches:
- path: patch.yaml
"""


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_fields_the_overlay_overrides_point_at_the_overlay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in {
        "base/deploy.yaml": OVERRIDDEN_BASE,
        "base/kustomization.yaml": "resources:\n- deploy.yaml\n",
        "overlays/prod/patch.yaml": OVERRIDING_PATCH,
        "overlays/prod/kustomization.yaml": OVERRIDING_OVERLAY,
    }.items():
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text(text)
    outcome = scan_manifests(["overlays/prod"], now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    assert not [e for e in outcome.result.errors if e.level == "error"]
    where = {
        (f.rule_id, f.location.path): (f.location.file, f.location.line, f.location.column)
        for f in outcome.result.findings
        if f.location is not None
    }
    container = "spec.template.spec.containers[0]"
    # The base says `false` on line 17; the patch that made it `true` is what to fix.
    escalation = f"{container}.securityContext.allowPrivilegeEscalation"
    assert where["privilege-escalation-allowed", escalation] == (
        "overlays/prod/patch.yaml",
        11,
        11,
    )
    # `images: newTag: latest` in the overlay, not the base's `image: nginx:1.25`.
    kustomization = "overlays/prod/kustomization.yaml"
    assert where["image-tag-mutable", f"{container}.image"] == (kustomization, 8, 1)
    # The implied Namespace "prod" is anchored at the overlay's `namespace:` line.
    assert where["namespace-without-network-policy", "metadata.name"] == (kustomization, 3, 1)
    (deployment,) = load_manifests(["overlays/prod"]).objects
    assert deployment.locate(("metadata", "name")) == (kustomization, 4, 1)
    assert deployment.locate(("metadata", "labels", "team")) == (kustomization, 6, 3)
    assert deployment.locate(("metadata", "labels", "app")) == ("base/deploy.yaml", 5, 12)
    name = ("spec", "template", "spec", "containers", 0, "name")
    assert deployment.locate(name) == ("base/deploy.yaml", 14, 9)

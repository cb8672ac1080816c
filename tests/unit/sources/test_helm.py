"""Helm charts without a renderer, and with a renderer that fails (no real rendering here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kposture.model import InputError
from kposture.sources import helm, load_manifests

CHART_FILES = {
    "chart/Chart.yaml": "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
    "chart/templates/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n",
    "plain.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n",
}


@pytest.fixture(autouse=True)
def _tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in CHART_FILES.items():
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text(text, encoding="utf-8")


def test_no_renderer_is_an_error_that_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helm, "find_renderer", lambda: (None, "no helm binary on PATH"))
    loaded = load_manifests(["."])
    assert [o.ref.name for o in loaded.objects] == ["n"], "templates are never read as plain YAML"
    assert loaded.errors == (
        InputError(
            "chart",
            0,
            "Helm chart not rendered: no helm binary on PATH;"
            " install helm or the helm-python-sdk package",
            level="error",
        ),
    )


def test_render_error_names_the_chart(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(chart: Path) -> dict[str, str]:
        raise helm.RenderError("template: bad.yaml:3: unexpected EOF")

    monkeypatch.setattr(helm, "find_renderer", lambda: (failing, ""))
    loaded = load_manifests(["chart"])
    assert loaded.objects == ()
    assert loaded.errors == (
        InputError(
            "chart",
            0,
            "Helm chart chart could not be rendered: template: bad.yaml:3: unexpected EOF",
        ),
    )


def test_rendered_output_is_located_in_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(chart: Path) -> dict[str, str]:
        return {
            "chart/templates/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n",
            "chart/templates/NOTES.txt": "hello",
            "chart/templates/empty.yaml": "\n",
        }

    monkeypatch.setattr(helm, "find_renderer", lambda: (fake, ""))
    (pod,) = load_manifests(["chart"]).objects
    assert pod.location is not None
    assert (pod.location.file, pod.location.line, pod.location.origin) == (
        "chart/templates/pod.yaml",
        1,
        "helm",
    )
    assert pod.position(("metadata", "name")) == (4, 3)


def test_helm_binary_output_is_split_on_source_comments() -> None:
    out = "---\n# Source: c/templates/a.yaml\nkind: A\n---\n# Source: c/templates/b.yaml\nkind: B\n"
    split = helm.split_helm_output(out)
    assert sorted(split) == ["c/templates/a.yaml", "c/templates/b.yaml"]
    assert "kind: B" in split["c/templates/b.yaml"]
    assert "kind: B" not in split["c/templates/a.yaml"]

"""Rendering Helm charts into located objects, with the renderer behind one small adapter.

Owns chart detection (a directory with ``Chart.yaml``), the choice of renderer (a ``helm`` binary
on PATH, else the ``helm_python`` library; neither means an input error, never a silent skip),
splitting the output per template, and locating each rendered object in its *template* file (via
``template_lines``), since the rendered text is not what users edit. Charts render with their
default values.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from kposture.sources.objects import Collected, add_document, is_object
from kposture.sources.template_lines import section_for, split_sections
from kposture.sources.yaml_documents import DocumentError, parse_yaml

RELEASE_NAME = "kposture"
NAMESPACE = "default"
RENDER_TIMEOUT_SECONDS = 120

Renderer = Callable[[Path], dict[str, str]]
"""Renders a chart directory into ``{"<chart>/templates/x.yaml": text}``; raises ``RenderError``."""

_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


class RenderError(Exception):
    """The chart could not be rendered (bad template, bad values, renderer failure)."""


def is_chart(directory: Path) -> bool:
    return (directory / "Chart.yaml").is_file()


def render_with_binary(helm: str) -> Renderer:
    def render(chart: Path) -> dict[str, str]:
        command = [helm, "template", RELEASE_NAME, str(chart), "--namespace", NAMESPACE]
        try:
            done = subprocess.run(  # fixed argv, no shell
                command, capture_output=True, text=True, timeout=RENDER_TIMEOUT_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise RenderError(f"helm template failed: {error}") from None
        if done.returncode != 0:
            raise RenderError(
                done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
            )
        return split_helm_output(done.stdout)

    return render


def split_helm_output(stdout: str) -> dict[str, str]:
    """Split ``helm template`` output on its ``# Source: <template>`` comments."""
    outputs: dict[str, str] = {}
    marks = list(_SOURCE.finditer(stdout))
    for number, mark in enumerate(marks):
        end = marks[number + 1].start() if number + 1 < len(marks) else len(stdout)
        name = mark.group(1).strip()
        outputs[name] = outputs.get(name, "") + "\n---\n" + stdout[mark.end() : end]
    return outputs


def render_with_sdk(chart: Path) -> dict[str, str]:
    """Render with the ``helm_python`` library (Helm's Go engine through a C binding)."""
    import helm_python  # noqa: PLC0415 - optional, imported only when a chart is met

    try:
        with helm_python.Chart.load(str(chart)) as loaded:
            rendered = loaded.render({}, name=RELEASE_NAME, namespace=NAMESPACE)
    except Exception as error:  # the library raises its own error tree; all mean "not renderable"
        message = str(error).strip().splitlines()
        raise RenderError(message[-1] if message else type(error).__name__) from None
    return {str(key): str(value) for key, value in rendered.items()}


def find_renderer() -> tuple[Renderer | None, str]:
    """The renderer to use, or None and the reason none is available."""
    helm = shutil.which("helm")
    if helm is not None:
        return render_with_binary(helm), ""
    try:
        import helm_python  # noqa: F401, PLC0415
    except Exception as error:  # ImportError, or OSError when the native library fails to load
        return None, f"no helm binary on PATH and the helm_python library is unavailable ({error})"
    return render_with_sdk, ""


def load_chart(out: Collected, chart: Path, name: str) -> None:
    """Render ``chart`` and add its objects, located in the chart's template files."""
    renderer, why_not = find_renderer()
    if renderer is None:
        # An error, not a warning: a CI gate must not pass on input it never read.
        out.error(
            name,
            0,
            f"Helm chart not rendered: {why_not}; install helm or the helm-python-sdk package",
        )
        return
    try:
        outputs = renderer(chart)
    except RenderError as error:
        out.error(name, 0, f"Helm chart {name} could not be rendered: {error}")
        return
    for template, text in sorted(outputs.items()):
        if template.endswith("NOTES.txt") or not text.strip():
            continue
        relative = template.split("/", 1)[1] if "/" in template else template
        _add_rendered(out, chart / relative, f"{name}/{relative}", text)


def _add_rendered(out: Collected, source: Path, file: str, rendered: str) -> None:
    try:
        sections = split_sections(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        sections = []  # e.g. a template inside a packaged subchart
    used: set[int] = set()
    try:
        for document in parse_yaml(rendered):
            data = document.data
            section = section_for(sections, data["kind"], used) if is_object(data) else None
            start = section.start if section is not None else (1, 1)
            add_document(out, data, file=file, start=start, positions=section, origin="helm")
    except DocumentError as error:
        out.error(
            file, 0, f"rendered output is not valid YAML (line {error.line}): {error.message}"
        )

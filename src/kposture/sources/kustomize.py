"""Rendering Kustomize directories with ``kubectl kustomize`` and locating objects in their source
files.

Owns kustomization detection, the rendering (through a temporary wrapper kustomization that
references the user's directory and asks for ``buildMetadata: [originAnnotations]``, so each
rendered object says which file it came from), removing that annotation again, and pointing each
object at its origin file: the matching document of that file is parsed with the located loader, so
field lines are exact for every field the source file has (fields added by patches resolve to their
deepest existing ancestor). Generated objects (ConfigMap/Secret generators) point at the
kustomization file that configures them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from kposture.sources.objects import Collected, add_document, display_name, is_object
from kposture.sources.template_lines import TemplateSection, line_of_path
from kposture.sources.yaml_documents import Document, DocumentError, parse_yaml

_SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
RENDER_TIMEOUT_SECONDS = 120


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def is_kustomization(directory: Path) -> bool:
    return kustomization_file(directory) is not None


_REFERENCE_FIELDS = ("resources", "bases", "components")


def local_references(kustomization: Path) -> list[Path]:
    """The local directories a kustomization file builds on (resources, bases, components).

    Files, remote URLs and unreadable kustomization files yield nothing: this only decides which
    directories are rendered through another kustomization rather than on their own.
    """
    try:
        data = yaml.load(kustomization.read_text(encoding="utf-8"), Loader=_SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not isinstance(data, dict):
        return []
    found: list[Path] = []
    for field in _REFERENCE_FIELDS:
        entries = data.get(field)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, str) and "://" not in entry and not entry.startswith("git@"):
                candidate = (kustomization.parent / entry).resolve()
                if candidate.is_dir():
                    found.append(candidate)
    return found


def overlays_by_base(root: Path) -> dict[Path, list[Path]]:
    """For each directory under ``root`` that kustomizations under ``root`` build on, those
    kustomizations' directories (all resolved).

    Walking a repository with ``base/`` and ``overlays/prod`` renders the overlay, which includes
    the base; rendering the base on its own as well would report every base object twice.
    """
    overlays: dict[Path, list[Path]] = {}
    for current, dirs, _files in os.walk(root):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        file = kustomization_file(Path(current))
        if file is not None:
            for base in local_references(file):
                overlays.setdefault(base, []).append(file.parent.resolve())
    return overlays


def _run_kustomize(kubectl: str, directory: Path) -> tuple[str, str]:
    """Return (rendered stream, "") or ("", error message)."""
    try:
        done = subprocess.run(  # fixed argv, no shell
            [kubectl, "kustomize", str(directory)],
            capture_output=True,
            text=True,
            timeout=RENDER_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return "", str(error)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return "", lines[-1] if lines else f"exit status {done.returncode}"
    return done.stdout, ""


def render_with_origins(kubectl: str, directory: Path) -> tuple[str, Path, str]:
    """Render ``directory`` through a wrapper asking for origin annotations.

    Returns (stream, directory origin paths are relative to, error message).
    """
    with tempfile.TemporaryDirectory(prefix="kposture-kustomize-") as wrapper:
        target = os.path.relpath(directory.resolve(), wrapper)
        Path(wrapper, "kustomization.yaml").write_text(
            f"resources:\n- {target}\nbuildMetadata: [originAnnotations]\n", encoding="utf-8"
        )
        stream, error = _run_kustomize(kubectl, Path(wrapper))
        return stream, Path(wrapper), error


def load_kustomization(out: Collected, directory: Path, name: str) -> bool:
    """Render a kustomization directory and add its objects, located in their source files.

    Returns whether it rendered (its objects were added).
    """
    kustomization = kustomization_file(directory)
    assert kustomization is not None
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        out.error(name, 0, "Kustomize directory skipped: kubectl is not on PATH", level="warning")
        return False
    stream, base, error = render_with_origins(kubectl, directory)
    if error:
        # Retry plainly so the message is the user's own kustomization's error, not the wrapper's.
        stream, plain_error = _run_kustomize(kubectl, directory)
        if plain_error:
            out.error(name, 0, f"kubectl kustomize {name} failed: {plain_error}")
            return False
        out.notes.append(
            f"{name}: origin annotations unavailable ({error}); using the kustomization"
        )
    origins = _OriginFiles(display_name)
    try:
        for document in parse_yaml(stream):
            _add_rendered(out, document, base, kustomization, origins)
    except DocumentError as problem:
        out.error(name, 0, f"kubectl kustomize output is not valid YAML: {problem.message}")
        return False
    return True


class _OriginFiles:
    """Parsed origin files, each read once per kustomization."""

    def __init__(self, display: Any) -> None:
        self._display = display
        self._documents: dict[Path, list[Document]] = {}

    def name(self, path: Path) -> str:
        return str(self._display(path))

    def documents(self, path: Path) -> list[Document]:
        if path not in self._documents:
            try:
                self._documents[path] = list(parse_yaml(path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError, DocumentError):
                self._documents[path] = []
        return self._documents[path]


def _pop_origin(data: dict[str, Any]) -> dict[str, Any]:
    """Remove the origin annotation (and the annotations map if it held nothing else)."""
    meta = data.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or not isinstance(annotations, dict):
        return {}
    raw = annotations.pop(ORIGIN_ANNOTATION, None)
    if not annotations:
        del meta["annotations"]
    if not isinstance(raw, str):
        return {}
    try:
        origin = next(parse_yaml(raw)).data
    except (DocumentError, StopIteration):
        return {}
    return origin if isinstance(origin, dict) else {}


def _add_rendered(
    out: Collected, document: Document, base: Path, kustomization: Path, origins: _OriginFiles
) -> None:
    data = document.data
    if not is_object(data):
        add_document(out, data, file=origins.name(kustomization), start=(1, 1), positions=None)
        return
    origin = _pop_origin(data)
    path = origin.get("path")
    if isinstance(path, str) and not origin.get("repo"):
        source = Path(os.path.normpath(base / path))
        match = _matching_document(origins.documents(source), data)
        if match is not None:
            add_document(
                out,
                data,
                file=origins.name(source),
                start=match.start,
                positions=match.positions,
                origin="kustomize",
            )
            return
    configured_in = origin.get("configuredIn")
    file = Path(os.path.normpath(base / configured_in)) if configured_in else kustomization
    start = _generator_line(file, origin)
    add_document(
        out, data, file=origins.name(file), start=start, positions=None, origin="kustomize"
    )


def _matching_document(documents: list[Document], rendered: dict[str, Any]) -> Document | None:
    """The source document of ``rendered``: same kind and a name contained in the rendered name."""
    name = str(rendered.get("metadata", {}).get("name", ""))
    same_kind = [
        d for d in documents if isinstance(d.data, dict) and d.data.get("kind") == rendered["kind"]
    ]
    for document in same_kind:
        source_name = document.data.get("metadata", {}).get("name")
        if isinstance(source_name, str) and source_name and source_name in name:
            return document
    return same_kind[0] if same_kind else None


def _generator_line(file: Path, origin: dict[str, Any]) -> tuple[int, int]:
    """Line of e.g. ``configMapGenerator:`` in the kustomization that made a generated object."""
    configured_by = origin.get("configuredBy")
    kind = configured_by.get("kind") if isinstance(configured_by, dict) else None
    try:
        lines = tuple(file.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return (1, 1)
    if not isinstance(kind, str) or not kind:
        return (1, 1)
    key = kind[0].lower() + kind[1:]
    return line_of_path(TemplateSection(lines, 0, len(lines)), (key,))

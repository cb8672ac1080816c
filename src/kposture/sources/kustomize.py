"""Rendering Kustomize directories with ``kubectl kustomize`` and locating objects in their source
files.

Owns kustomization detection, the rendering (through a temporary wrapper kustomization that
references the user's directory and asks for ``buildMetadata: [originAnnotations,
transformerAnnotations]``, so each rendered object says which file it came from and which
kustomizations patched it), removing those annotations again, error messages without kubectl's log
header, and pointing each object at its origin file: the matching document of that file is parsed
with the located loader, so field lines are exact for every field the source file has; fields set
by patches point at the patch (``kustomize_patches``), fields set by a kustomization's ``images``,
``namespace``, ``namePrefix`` and the like at that line (``kustomize_transformers``), others at
their deepest existing ancestor. Generated objects (ConfigMap/Secret generators) point at the
kustomization file that configures them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from kposture.sources.kustomize_patches import (
    KustomizePositions,
    Patch,
    PatchEntry,
    patch_entries,
)
from kposture.sources.kustomize_transformers import FIELD_TRANSFORMERS, TransformerFields
from kposture.sources.objects import Collected, add_document, display_name, is_object
from kposture.sources.template_lines import TemplateSection, line_of_path
from kposture.sources.yaml_documents import Document, DocumentError, TablePositions, parse_yaml

_SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
TRANSFORMATIONS_ANNOTATION = "alpha.config.kubernetes.io/transformations"
_PATCH_TRANSFORMERS = frozenset(
    {"PatchTransformer", "PatchStrategicMergeTransformer", "PatchJson6902Transformer"}
)
_BUILD_METADATA = ("[originAnnotations, transformerAnnotations]", "[originAnnotations]")
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
        return "", error_text(done.stderr) or f"exit status {done.returncode}"
    return done.stdout, ""


_KLOG_ERR = re.compile(r'\berr="((?:[^"\\]|\\.)*)"')
_KLOG_PREFIX = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ [^\]]+\] ")


def error_text(stderr: str) -> str:
    """The error of a failed ``kubectl kustomize``, without klog's header or kustomize's warnings.

    kubectl logs ``E1126 15:23:59.881146 28467 run.go:72] "command failed" err="..."``; only the
    ``err`` text is the user's problem.
    """
    matches = list(_KLOG_ERR.finditer(stderr))
    if matches:
        quoted = matches[-1].group(1)
        try:
            return str(json.loads(f'"{quoted}"'))
        except ValueError:
            return quoted.replace('\\"', '"')
    lines = [
        _KLOG_PREFIX.sub("", line).strip()
        for line in stderr.splitlines()
        if line.strip() and not line.startswith("# Warning")
    ]
    return lines[-1] if lines else ""


def render_with_origins(
    kubectl: str, directory: Path, metadata: str = _BUILD_METADATA[0]
) -> tuple[str, Path, str]:
    """Render ``directory`` through a wrapper asking for ``buildMetadata`` (origin and transformer
    annotations by default).

    Returns (stream, directory origin paths are relative to, error message).
    """
    with tempfile.TemporaryDirectory(prefix="kposture-kustomize-") as wrapper:
        target = os.path.relpath(directory.resolve(), wrapper)
        Path(wrapper, "kustomization.yaml").write_text(
            f"resources:\n- {target}\nbuildMetadata: {metadata}\n", encoding="utf-8"
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
        # An error, not a warning: a CI gate must not pass on input it never read.
        out.error(
            name,
            0,
            "Kustomize directory not rendered: kubectl is not on PATH;"
            " install kubectl to render Kustomize directories",
        )
        return False
    stream, base, error = render_with_origins(kubectl, directory)
    if error:
        # Retry plainly so the message is the user's own kustomization's error, not the wrapper's.
        plain, plain_error = _run_kustomize(kubectl, directory)
        if plain_error:
            out.error(name, 0, f"kubectl kustomize {name} failed: {plain_error}")
            return False
        # An older kustomize may know origin annotations but not transformer annotations.
        stream, base, error = render_with_origins(kubectl, directory, _BUILD_METADATA[1])
        if error:
            stream = plain
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
        self._entries: dict[Path, list[PatchEntry]] = {}

    def name(self, path: Path) -> str:
        return str(self._display(path))

    def documents(self, path: Path) -> list[Document]:
        if path not in self._documents:
            try:
                self._documents[path] = list(parse_yaml(path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError, DocumentError):
                self._documents[path] = []
        return self._documents[path]

    def patches(
        self, steps: list[tuple[str, Path]], rendered: dict[str, Any], original: str
    ) -> tuple[Patch, ...]:
        """For the transformer ``steps`` (kind, kustomization file) that changed ``rendered``
        (named ``original`` at its origin), in application order: the patches that may apply and
        the built-in transformers' fields, last applied first."""
        found: list[Patch] = []
        patched: set[Path] = set()
        for kind, kustomization in steps:
            shown = self.name(kustomization)
            if kind in FIELD_TRANSFORMERS:
                documents = self.documents(kustomization)
                if documents and isinstance(documents[0].positions, TablePositions):
                    found.append(TransformerFields(shown, kind, documents[0].positions))
                continue
            if kustomization in patched:  # one kustomization's patch lists are read at once
                continue
            patched.add(kustomization)
            if kustomization not in self._entries:
                self._entries[kustomization] = patch_entries(
                    kustomization, self.documents(kustomization)
                )
            for entry in self._entries[kustomization]:
                found.extend(entry.patches(rendered, shown, self.documents, self.name, original))
        return tuple(reversed(found))


def _pop_build_metadata(data: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Remove the origin and transformations annotations (and the annotations map if it held
    nothing else); return the origin and the (transformer kind, kustomization file) of each patch
    or attributed built-in transformer that ran, in order."""
    meta = data.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or not isinstance(annotations, dict):
        return {}, []
    raw = annotations.pop(ORIGIN_ANNOTATION, None)
    transformations = _parsed(annotations.pop(TRANSFORMATIONS_ANNOTATION, None))
    if not annotations:
        del meta["annotations"]
    origin = _parsed(raw)
    steps: list[tuple[str, str]] = []
    for step in transformations if isinstance(transformations, list) else []:
        by = step.get("configuredBy") if isinstance(step, dict) else None
        where = step.get("configuredIn") if isinstance(step, dict) else None
        kind = by.get("kind") if isinstance(by, dict) else None
        known = kind in _PATCH_TRANSFORMERS or kind in FIELD_TRANSFORMERS
        if known and isinstance(where, str) and (kind, where) not in steps:
            assert isinstance(kind, str)
            steps.append((kind, where))
    return (origin if isinstance(origin, dict) else {}), steps


def _parsed(raw: object) -> Any:
    if not isinstance(raw, str):
        return None
    try:
        return next(parse_yaml(raw)).data
    except (DocumentError, StopIteration):
        return None


def _add_rendered(
    out: Collected, document: Document, base: Path, kustomization: Path, origins: _OriginFiles
) -> None:
    data = document.data
    if not is_object(data):
        add_document(out, data, file=origins.name(kustomization), start=(1, 1), positions=None)
        return
    origin, ran = _pop_build_metadata(data)
    steps = [(kind, Path(os.path.normpath(base / where))) for kind, where in ran]
    path = origin.get("path")
    if isinstance(path, str) and not origin.get("repo"):
        source = Path(os.path.normpath(base / path))
        match = _matching_document(origins.documents(source), data)
        if match is not None and isinstance(match.positions, TablePositions):
            meta = match.data.get("metadata")
            original = meta.get("name") if isinstance(meta, dict) else None
            patches = origins.patches(steps, data, original if isinstance(original, str) else "")
            shown = origins.name(source)
            positions = KustomizePositions(shown, match.positions, match.start, data, patches)
            add_document(
                out, data, file=shown, start=match.start, positions=positions, origin="kustomize"
            )
            return
    patches = origins.patches(steps, data, "")
    configured_in = origin.get("configuredIn")
    file = Path(os.path.normpath(base / configured_in)) if configured_in else kustomization
    start = _generator_line(file, origin)
    shown = origins.name(file)
    generated = KustomizePositions(shown, None, start, data, patches)
    add_document(out, data, file=shown, start=start, positions=generated, origin="kustomize")


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

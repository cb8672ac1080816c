"""Reading manifest files, directories and stdin into located objects: ``load_manifests``.

Owns the walk over the inputs (sorted, hidden entries and non-manifest files skipped, Helm charts
and Kustomize directories handed to their renderers), the byte-level guards (size limit before
reading, NUL bytes, UTF-8/UTF-16 decoding with the line of a bad byte) and file names as reports
show them (relative to the working directory when under it). Every problem becomes an
``InputError``; one bad input never stops the scan.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from kposture.model import InputError, K8sObject
from kposture.sources import helm, kustomize
from kposture.sources.json_documents import json_item_starts, parse_json
from kposture.sources.objects import Collected, add_document, display_name
from kposture.sources.yaml_documents import DocumentError, parse_yaml_recovering

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
"""Suffixes of the files a directory walk reads, compared case-insensitively (``.YAML`` too)."""
STDIN_NAME = "<stdin>"


@dataclass(frozen=True, slots=True)
class LoadedManifests:
    """Everything read: objects, input errors and warnings, debug notes, and the inputs."""

    objects: tuple[K8sObject, ...]
    errors: tuple[InputError, ...]
    notes: tuple[str, ...]
    inputs: tuple[str, ...]


def load_manifests(
    paths: Sequence[str],
    *,
    stdin: BinaryIO | None = None,
    max_file_bytes: int = 32 * 1024 * 1024,
) -> LoadedManifests:
    """Read every path (``-`` is stdin); problems become errors, never exceptions."""
    out = Collected()
    for given in paths:
        if given == "-":
            _load_stdin(out, stdin, max_file_bytes)
            continue
        path = Path(given)
        name = display_name(path)
        if path.is_dir():
            walk = _Walk(out, max_file_bytes, kustomize.overlays_by_base(path))
            walk.directory(path, given=given)
            walk.render_orphaned_bases()
        elif path.exists():
            _load_file(out, path, name, max_file_bytes, given)
        else:
            out.error(given, 0, "no such file or directory")
    return LoadedManifests(tuple(out.objects), tuple(out.errors), tuple(out.notes), tuple(paths))


def require_objects(loaded: LoadedManifests) -> LoadedManifests:
    """``loaded``, with an error when it holds no Kubernetes object at all.

    Empty stdin (``helm template x | kposture scan -`` after helm failed), an empty folder or a
    folder of other YAML must not pass a CI gate as "0 findings".
    """
    if loaded.objects:
        return loaded
    shown = ", ".join(STDIN_NAME if given == "-" else given for given in loaded.inputs)
    error = InputError("", 0, f"no Kubernetes objects found in {shown or 'the inputs'}")
    return replace(loaded, errors=(*loaded.errors, error))


def _load_stdin(out: Collected, stdin: BinaryIO | None, max_bytes: int) -> None:
    if stdin is None:
        out.error(STDIN_NAME, 0, "stdin requested with '-' but no stdin stream is available")
        return
    data = stdin.read(max_bytes + 1)
    if len(data) > max_bytes:
        out.error(STDIN_NAME, 0, f"input is larger than the limit of {max_bytes:,} bytes; skipped")
        return
    load_bytes(out, data, STDIN_NAME, json_hint=False)


class _Walk:
    """One recursive directory walk. Kustomize bases that an overlay in the same walk builds on are
    rendered through that overlay only — unless every such overlay fails, so a broken overlay
    never hides its base's findings."""

    def __init__(
        self, out: Collected, max_bytes: int, overlays_by_base: dict[Path, list[Path]]
    ) -> None:
        self.out = out
        self.max_bytes = max_bytes
        self.overlays_by_base = overlays_by_base
        self.rendered: set[Path] = set()
        self.deferred: list[tuple[Path, str]] = []

    def directory(self, directory: Path, display: str | None = None, given: str = "") -> None:
        out = self.out
        shown = display if display is not None else display_name(directory)
        try:
            if not out.first_read(directory.stat(), shown, given):
                return
        except OSError:
            pass  # listing it reports the problem
        if helm.is_chart(directory):
            helm.load_chart(out, directory, shown)
            return
        if kustomize.is_kustomization(directory):
            resolved = directory.resolve()
            if display is not None and resolved in self.overlays_by_base:
                self.deferred.append((directory, shown))
            elif kustomize.load_kustomization(out, directory, shown):
                self.rendered.add(resolved)
            return
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as error:
            out.error(shown, 0, f"cannot list directory: {error.strerror}")
            return
        # Children's display names are built by joining strings: resolving each path against the
        # working directory again costs more than parsing a small manifest.
        prefix = "" if shown == "." else f"{shown.rstrip('/')}/"
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                self.directory(path, prefix + entry.name)
            elif entry.name.lower().endswith(MANIFEST_SUFFIXES) and entry.is_file():
                _load_file(out, path, prefix + entry.name, self.max_bytes)

    def render_orphaned_bases(self) -> None:
        """Render the deferred bases whose overlays all failed to render.

        A base counts as covered once any overlay that builds on it rendered or was itself covered
        (base → mid-level overlay → top overlay), so the loop runs until nothing changes.
        """
        pending = list(self.deferred)
        covered = set(self.rendered)
        changed = True
        while changed:
            changed = False
            for directory, shown in list(pending):
                if any(o in covered for o in self.overlays_by_base[directory.resolve()]):
                    covered.add(directory.resolve())
                    pending.remove((directory, shown))
                    self.out.notes.append(f"{shown}: rendered through the overlays that use it")
                    changed = True
        for directory, shown in pending:
            kustomize.load_kustomization(self.out, directory, shown)


def _load_file(out: Collected, path: Path, name: str, max_bytes: int, given: str = "") -> None:
    try:
        status = path.stat()
        if not out.first_read(status, name, given):
            return
        size = status.st_size
        if size > max_bytes:
            out.error(
                name, 0, f"file is {size:,} bytes, over the limit of {max_bytes:,} bytes; skipped"
            )
            return
        with path.open("rb") as stream:
            data = stream.read(max_bytes + 1)
    except OSError as error:
        out.error(name, 0, f"cannot read file: {error.strerror}")
        return
    if len(data) > max_bytes:
        out.error(name, 0, f"file grew over the limit of {max_bytes:,} bytes while read; skipped")
        return
    text, line, message = decode(data)
    del data  # the bytes are not needed while the (much larger) parse runs
    if message:
        out.error(name, line, message)
        return
    load_text(out, text, name, json_hint=path.suffix.lower() == ".json")


def decode(data: bytes) -> tuple[str, int, str]:
    """Decode manifest bytes; return (text, 0, "") or ("", line, message) for unreadable bytes."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), 0, ""
        except UnicodeDecodeError:
            return "", 1, "invalid UTF-16 text; skipped"
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        return "", line, "binary file (contains NUL bytes); skipped"
    try:
        return data.decode("utf-8-sig"), 0, ""
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return "", line, f"invalid UTF-8 (byte 0x{data[error.start]:02x}); file skipped"


def load_bytes(
    out: Collected, data: bytes, name: str, *, json_hint: bool, origin: str = ""
) -> None:
    """Decode and parse one file's bytes, adding its objects, errors and notes to ``out``."""
    text, line, message = decode(data)
    if message:
        out.error(name, line, message)
        return
    load_text(out, text, name, json_hint=json_hint, origin=origin)


def load_text(out: Collected, text: str, name: str, *, json_hint: bool, origin: str = "") -> None:
    """Parse YAML or JSON text. A broken YAML document is an error of its own: parsing resumes at
    the next ``---`` line, so the documents around it are still scanned."""
    if not text.strip():
        return
    if json_hint or text.lstrip().startswith("{"):
        try:
            documents = parse_json(text)
        except DocumentError as error:
            if json_hint:
                out.error(name, error.line, error.message)
                return
        else:
            document = documents[0]
            starts = None
            if isinstance(document.data, dict) and isinstance(document.data.get("items"), list):
                starts = json_item_starts(text)
                if starts is not None and len(starts) != len(document.data["items"]):
                    starts = None
            add_document(
                out,
                document.data,
                file=name,
                start=document.start,
                positions=document.positions,
                origin=origin,
                item_start=starts.__getitem__ if starts else None,
            )
            return
    for parsed in parse_yaml_recovering(text):
        if isinstance(parsed, DocumentError):
            out.error(name, parsed.line, parsed.message)
            continue
        add_document(
            out,
            parsed.data,
            file=name,
            start=parsed.start,
            positions=parsed.positions,
            origin=origin,
        )

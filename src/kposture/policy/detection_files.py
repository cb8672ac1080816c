"""Reads custom audit-log detection files: ``kind: Detection`` documents of the ``kposture.io/v1``
rule-file family, validated field by field with the line of every mistake.

A file may hold several documents; one bad document never stops the others, and every problem of a
document is reported in one pass, each at its own line: the schema (unknown and missing fields, bad
values), every expression (compiled by ``cel_detections``, which also refuses a condition that is
not a bool and a message expression that is not a string), the metadata (title length, technique,
tactic, sentences ending with a period) and the id (kebab-case, not a built-in detection's or
another custom one's). The policy file's ``detections.custom`` and ``kposture detect --detections``
give the paths.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kposture.detections.base import Detection
from kposture.detections.registry import metadata_problems
from kposture.model import JsonPath, Reference, Severity
from kposture.model.incidents import DetectionMeta
from kposture.model.rules import Framework
from kposture.policy.cel_detections import DetectionSpec, Outcome, compile_detection
from kposture.policy.rule_files import (
    DETECTION_KIND,
    MAX_RULE_FILE_BYTES,
    _Document,
    _enum,
    _Invalid,
    _Lines,
    rule_file_paths,
)
from kposture.policy.rule_specs import API_VERSION, RuleFileError, Variable
from kposture.sources.yaml_documents import DocumentError, parse_yaml_recovering

_T = TypeVar("_T")

_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec")
_SPEC_REQUIRED = ("title", "severity", "mitre", "description", "response", "match", "conditions")
_SPEC_KEYS = (*_SPEC_REQUIRED, "variables", "message", "messageExpression", "containment")
_MATCH_KEYS = ("verbs", "resources", "namespaces", "outcome")
_MITRE_KEYS = ("technique", "title", "tactic")
_METADATA_PATHS: dict[str, JsonPath] = {
    "id": ("metadata", "name"),
    "title": ("spec", "title"),
    "technique": ("spec", "mitre", "technique"),
    "tactic": ("spec", "mitre", "tactic"),
    "description": ("spec", "description"),
    "response": ("spec", "response"),
}
"""Where each metadata field the registry checks is written."""


@dataclass(frozen=True, slots=True)
class ParsedDetection:
    """A detection document read without a schema problem, with the lines of its fields."""

    spec: DetectionSpec
    lines: _Lines


def _mitre(reader: _Document, spec: Mapping[str, Any]) -> tuple[str, str, str]:
    """Technique id, title and tactic (empty when missing or invalid, the problem reported)."""
    if "mitre" not in spec:
        return "", "", ""
    path: JsonPath = ("spec", "mitre")
    mitre: Mapping[str, Any] = reader.attempt(
        lambda: reader.mapping(spec["mitre"], path, _MITRE_KEYS, "mitre"), {}
    )
    if not mitre:
        return "", "", ""
    for key in ("technique", "tactic"):
        if key not in mitre:
            reader.report(_Invalid(path, f"mitre needs {key}"))

    def text(key: str, *, empty: bool = False) -> str:
        if key not in mitre:
            return ""
        return reader.attempt(lambda: reader.text(mitre[key], (*path, key), key, empty=empty), "")

    return text("technique"), text("title", empty=True), text("tactic")


def _conditions(reader: _Document, value: Any, line: _Lines) -> tuple[tuple[str, int], ...]:
    path: JsonPath = ("spec", "conditions")
    if not isinstance(value, list) or not value:
        reader.report(_Invalid(path, "conditions must be a non-empty list"))
        return ()
    found = []
    for i, item in enumerate(value):
        where = (*path, i)
        try:
            entry = reader.mapping(item, where, ("expression",), "a condition")
            if "expression" not in entry:
                raise _Invalid(where, "a condition needs expression")
            source = reader.text(entry["expression"], (*where, "expression"), "expression")
        except _Invalid as exc:
            reader.report(exc)
            continue
        found.append((source, line((*where, "expression"))))
    return tuple(found)


def _read_spec(
    reader: _Document, data: Mapping[str, Any], file: str, line: _Lines
) -> DetectionSpec:
    """The detection of one document; every problem that does not stop the reading is kept in
    ``reader.problems`` (an ``_Invalid`` raised means the rest cannot be read)."""
    top = reader.mapping(data, (), _TOP_KEYS, "a detection document")
    if top.get("apiVersion") != API_VERSION:
        reader.report(
            _Invalid(
                ("apiVersion",), f"apiVersion must be {API_VERSION}, not {top.get('apiVersion')!r}"
            )
        )
    detection_id = ""
    if "metadata" not in top:
        reader.report(_Invalid((), "a detection needs metadata"))
    else:
        metadata: Mapping[str, Any] = reader.attempt(
            lambda: reader.mapping(top["metadata"], ("metadata",), ("name", "labels"), "metadata"),
            {},
        )
        if isinstance(top["metadata"], Mapping) and "name" not in metadata:
            reader.report(_Invalid(("metadata",), "metadata needs name (the detection id)"))
        elif "name" in metadata:
            detection_id = reader.attempt(
                lambda: reader.text(metadata["name"], ("metadata", "name"), "metadata.name"), ""
            )
    if "spec" not in top:
        raise _Invalid((), "a detection needs spec")
    spec = reader.mapping(top["spec"], ("spec",), _SPEC_KEYS, "spec")
    missing = [key for key in _SPEC_REQUIRED if key not in spec]
    if missing:
        reader.report(_Invalid(("spec",), f"spec needs {', '.join(missing)}"))

    def field(key: str, read: Callable[[Any, JsonPath], _T], default: _T) -> _T:
        if key not in spec:
            return default
        return reader.attempt(lambda: read(spec[key], ("spec", key)), default)

    def text(key: str) -> str:
        return field(key, lambda value, path: reader.text(value, path, key), "")

    match: Mapping[str, Any] = field(
        "match", lambda value, path: reader.mapping(value, path, _MATCH_KEYS, "match"), {}
    )

    def listed(key: str) -> tuple[str, ...]:
        if key not in match:
            return ()
        path = ("spec", "match", key)
        return reader.attempt(lambda: reader.strings(match[key], path, f"match.{key}"), ())

    outcome: Outcome = reader.attempt(
        lambda: _enum(
            match.get("outcome", "allowed"), ("spec", "match", "outcome"), "outcome", Outcome
        ),
        Outcome.ALLOWED,
    )
    technique, technique_title, tactic = _mitre(reader, spec)
    variables: tuple[Variable, ...] = field(
        "variables", lambda value, path: reader.variables(value, path, line), ()
    )
    meta = DetectionMeta(
        id=detection_id,
        title=text("title"),
        severity=field(
            "severity",
            lambda value, path: _enum(value, path, "severity", Severity),
            Severity.INFO,
        ),
        technique=Reference(Framework.MITRE, technique, technique_title),
        tactic=tactic,
        description=text("description"),
        response=text("response"),
    )
    return DetectionSpec(
        meta=meta,
        verbs=listed("verbs"),
        resources=listed("resources"),
        namespaces=listed("namespaces"),
        outcome=outcome,
        variables=variables,
        conditions=_conditions(reader, spec["conditions"], line) if "conditions" in spec else (),
        message=text("message"),
        message_expression=text("messageExpression"),
        message_expression_line=line(("spec", "messageExpression")),
        containment=text("containment"),
        file=file,
        line=line.start,
    )


def _metadata_errors(spec: DetectionSpec, line: _Lines) -> list[RuleFileError]:
    """The registry's metadata checks, each at its field's line; a field left empty was missing
    or invalid and is reported as such already."""
    meta = spec.meta
    given = {
        "id": meta.id,
        "title": meta.title,
        "technique": meta.technique.id,
        "tactic": meta.tactic,
        "description": meta.description,
        "response": meta.response,
    }
    return [
        RuleFileError(spec.file, line(_METADATA_PATHS[name]), message, meta.id)
        for name, message in metadata_problems(meta)
        if given.get(name)
    ]


def _content_errors(
    spec: DetectionSpec, line: _Lines
) -> tuple[Detection | None, list[RuleFileError]]:
    """The compiled detection, or None with every expression and metadata problem."""
    detection, errors = compile_detection(spec)
    errors.extend(_metadata_errors(spec, line))
    return (detection if not errors else None), errors


def parse_detection_text(
    text: str, file: str, *, taken_ids: Collection[str] = ()
) -> tuple[list[ParsedDetection], list[RuleFileError]]:
    """The detection documents of one file's text that have no schema problem, and every problem
    of the others (schema, expressions, metadata and an id in ``taken_ids`` together). Documents
    of other kinds (a Rule, a Kubernetes object) are left out."""
    parsed: list[ParsedDetection] = []
    errors: list[RuleFileError] = []
    for item in parse_yaml_recovering(text):
        if isinstance(item, DocumentError):
            errors.append(RuleFileError(file, item.line, item.message))
            continue
        data = item.data
        if not isinstance(data, Mapping) or data.get("kind") != DETECTION_KIND:
            continue
        line = _Lines(item.positions, item.start[0])
        reader = _Document(data, collect=True)
        spec: DetectionSpec | None = None
        try:
            spec = _read_spec(reader, data, file, line)
        except _Invalid as exc:
            reader.problems.append(exc)
        if not reader.problems and spec is not None:
            parsed.append(ParsedDetection(spec, line))
            continue
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        ident = spec.meta.id if spec is not None else str(name or "")
        found = [RuleFileError(file, line(p.path), p.message, ident) for p in reader.problems]
        if ident in taken_ids:
            found.append(_builtin_id_error(file, line(("metadata", "name")), ident))
        if spec is not None:
            found.extend(_content_errors(spec, line)[1])
        errors.extend(sorted(found, key=lambda error: error.line))
    return parsed, errors


@dataclass(frozen=True, slots=True)
class LoadedDetections:
    """Custom detections that loaded, every problem (``file:line: detection ID: message``) and
    the files read."""

    detections: tuple[Detection, ...] = ()
    errors: tuple[RuleFileError, ...] = ()
    files: tuple[str, ...] = ()


def load_detection_files(
    paths: Iterable[str | Path], *, taken_ids: Collection[str] = ()
) -> LoadedDetections:
    """Load and compile every ``kind: Detection`` document under ``paths`` (files or directories
    of ``*.yaml``); ``taken_ids`` are the built-in detection ids."""
    files, _, errors = rule_file_paths(list(paths))
    seen: dict[str, DetectionSpec] = {}
    detections: list[Detection] = []
    taken = set(taken_ids)
    for path in files:
        name = path.as_posix()
        try:
            if path.stat().st_size > MAX_RULE_FILE_BYTES:
                errors.append(RuleFileError(name, 0, f"larger than {MAX_RULE_FILE_BYTES} bytes"))
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(RuleFileError(name, 0, f"cannot read detection file: {exc}"))
            continue
        parsed, problems = parse_detection_text(text, name, taken_ids=taken)
        errors.extend(problems)
        for item in parsed:
            found = _admit(item, taken, seen, errors)
            if found is not None:
                detections.append(found)
    return LoadedDetections(tuple(detections), tuple(errors), tuple(p.as_posix() for p in files))


def _admit(
    item: ParsedDetection,
    taken: set[str],
    seen: dict[str, DetectionSpec],
    errors: list[RuleFileError],
) -> Detection | None:
    """The detection of a document whose id is free and whose content loads; every problem of it
    (the id, each expression, the metadata) joins ``errors`` at once."""
    spec = item.spec
    ident = spec.meta.id
    found: list[RuleFileError] = []
    if ident in taken:
        found.append(_builtin_id_error(spec.file, item.lines(("metadata", "name")), ident))
    elif ident in seen:
        earlier = seen[ident]
        found.append(
            RuleFileError(
                spec.file,
                item.lines(("metadata", "name")),
                f"duplicate detection id (first defined at {earlier.file}:{earlier.line})",
                ident,
            )
        )
    else:
        seen[ident] = spec
    detection, problems = _content_errors(spec, item.lines)
    found.extend(problems)
    errors.extend(sorted(found, key=lambda error: error.line))
    return detection if not found else None


def _builtin_id_error(file: str, line: int, ident: str) -> RuleFileError:
    return RuleFileError(file, line, "id is already a built-in detection", ident)

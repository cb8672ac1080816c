"""Reads custom audit-log detection files: ``kind: Detection`` documents of the ``kposture.io/v1``
rule-file family, validated field by field with the line of every mistake.

A file may hold several documents; one bad document never stops the others. Ids are kebab-case and
may not repeat a built-in detection's or another custom one's. Each valid spec is compiled by
``cel_detections`` (expressions over ``event``); its problems join the errors with their lines.
The policy file's ``detections.custom`` and ``kposture detect --detections`` give the paths.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kposture.detections.base import Detection
from kposture.detections.registry import DetectionRegistryError, validate
from kposture.model import Reference, Severity
from kposture.model.incidents import DetectionMeta
from kposture.model.rules import Framework
from kposture.policy.cel_detections import DetectionSpec, Outcome, compile_detection
from kposture.policy.rule_files import (
    MAX_RULE_FILE_BYTES,
    _Document,
    _enum,
    _Invalid,
    _Lines,
    rule_file_paths,
)
from kposture.policy.rule_specs import API_VERSION, RuleFileError, Variable
from kposture.sources.yaml_documents import DocumentError, parse_yaml_recovering

DETECTION_KIND = "Detection"
_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec")
_SPEC_REQUIRED = ("title", "severity", "mitre", "description", "response", "match", "conditions")
_SPEC_KEYS = (*_SPEC_REQUIRED, "variables", "message", "messageExpression", "containment")
_MATCH_KEYS = ("verbs", "resources", "namespaces", "outcome")
_MITRE_KEYS = ("technique", "title", "tactic")


def _meta(reader: _Document, spec: Mapping[str, Any], detection_id: str) -> DetectionMeta:
    mitre = reader.mapping(spec["mitre"], ("spec", "mitre"), _MITRE_KEYS, "mitre")
    for key in ("technique", "tactic"):
        if key not in mitre:
            raise _Invalid(("spec", "mitre"), f"mitre needs {key}")
    technique = reader.text(mitre["technique"], ("spec", "mitre", "technique"), "technique")
    return DetectionMeta(
        id=detection_id,
        title=reader.text(spec["title"], ("spec", "title"), "title"),
        severity=_enum(spec["severity"], ("spec", "severity"), "severity", Severity),
        technique=Reference(
            Framework.MITRE,
            technique,
            reader.text(mitre.get("title", ""), ("spec", "mitre", "title"), "title", empty=True),
        ),
        tactic=reader.text(mitre["tactic"], ("spec", "mitre", "tactic"), "tactic"),
        description=reader.text(spec["description"], ("spec", "description"), "description"),
        response=reader.text(spec["response"], ("spec", "response"), "response"),
    )


def _spec(data: Any, file: str, line: _Lines) -> DetectionSpec:
    reader = _Document(data)
    top = reader.mapping(data, (), _TOP_KEYS, "a detection document")
    for key, expected in (("apiVersion", API_VERSION), ("kind", DETECTION_KIND)):
        if top.get(key) != expected:
            raise _Invalid((key,), f"{key} must be {expected}, not {top.get(key)!r}")
    for key in ("metadata", "spec"):
        if key not in top:
            raise _Invalid((), f"a detection needs {key}")
    metadata = reader.mapping(top["metadata"], ("metadata",), ("name", "labels"), "metadata")
    if "name" not in metadata:
        raise _Invalid(("metadata",), "metadata needs name (the detection id)")
    detection_id = reader.text(metadata["name"], ("metadata", "name"), "metadata.name")
    spec = reader.mapping(top["spec"], ("spec",), _SPEC_KEYS, "spec")
    missing = [key for key in _SPEC_REQUIRED if key not in spec]
    if missing:
        raise _Invalid(("spec",), f"spec needs {', '.join(missing)}")
    match = reader.mapping(spec["match"], ("spec", "match"), _MATCH_KEYS, "match")

    def listed(key: str) -> tuple[str, ...]:
        path = ("spec", "match", key)
        return reader.strings(match[key], path, f"match.{key}") if key in match else ()

    conditions = spec["conditions"]
    if not isinstance(conditions, list) or not conditions:
        raise _Invalid(("spec", "conditions"), "conditions must be a non-empty list")
    expressions = []
    for i, item in enumerate(conditions):
        where = ("spec", "conditions", i)
        entry = reader.mapping(item, where, ("expression",), "a condition")
        if "expression" not in entry:
            raise _Invalid(where, "a condition needs expression")
        source = reader.text(entry["expression"], (*where, "expression"), "expression")
        expressions.append((source, line((*where, "expression"))))
    variables = (
        reader.variables(spec["variables"], ("spec", "variables"), line)
        if "variables" in spec
        else ()
    )

    def optional(key: str) -> str:
        return reader.text(spec[key], ("spec", key), key) if key in spec else ""

    return DetectionSpec(
        meta=_meta(reader, spec, detection_id),
        verbs=listed("verbs"),
        resources=listed("resources"),
        namespaces=listed("namespaces"),
        outcome=_enum(
            match.get("outcome", "allowed"), ("spec", "match", "outcome"), "outcome", Outcome
        ),
        variables=tuple(Variable(v.name, v.expression, v.line) for v in variables),
        conditions=tuple(expressions),
        message=optional("message"),
        message_expression=optional("messageExpression"),
        message_expression_line=line(("spec", "messageExpression")),
        containment=optional("containment"),
        file=file,
        line=line.start,
    )


def parse_detection_text(text: str, file: str) -> tuple[list[DetectionSpec], list[RuleFileError]]:
    """The valid detection documents of one file's text and an error per invalid one. Documents
    of other kinds (a Rule, a Kubernetes object) are left out."""
    specs: list[DetectionSpec] = []
    errors: list[RuleFileError] = []
    for item in parse_yaml_recovering(text):
        if isinstance(item, DocumentError):
            errors.append(RuleFileError(file, item.line, item.message))
            continue
        data = item.data
        if not isinstance(data, Mapping) or data.get("kind") != DETECTION_KIND:
            continue
        line = _Lines(item.positions, item.start[0])
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        try:
            spec = _spec(data, file, line)
        except _Invalid as exc:
            errors.append(RuleFileError(file, line(exc.path), exc.message, str(name or "")))
            continue
        specs.append(spec)
    return specs, errors


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
        specs, problems = parse_detection_text(text, name)
        errors.extend(problems)
        for spec in specs:
            found = _admit(spec, taken, seen, errors)
            if found is not None:
                detections.append(found)
    return LoadedDetections(tuple(detections), tuple(errors), tuple(p.as_posix() for p in files))


def _admit(
    spec: DetectionSpec,
    taken: set[str],
    seen: dict[str, DetectionSpec],
    errors: list[RuleFileError],
) -> Detection | None:
    ident = spec.meta.id

    def fail(message: str) -> None:
        errors.append(RuleFileError(spec.file, spec.line, message, ident))

    if ident in taken:
        fail("id is already a built-in detection")
        return None
    if ident in seen:
        earlier = seen[ident]
        fail(f"duplicate detection id (first defined at {earlier.file}:{earlier.line})")
        return None
    seen[ident] = spec
    detection, problems = compile_detection(spec)
    errors.extend(problems)
    if detection is None:
        return None
    try:
        validate(detection)
    except DetectionRegistryError as exc:
        fail(str(exc).split(": ", 1)[-1])
        return None
    return detection

"""The ``kposture.scan/v1`` JSON document: the versioned contract scripts and CI tools read.

Its shape is part of kposture's stable interface, described field by field in
``docs/output-formats.md`` and by the JSON Schema in ``reports/schemas/scan-v1.json``. Key order and
finding order are stable so two scans of the same input diff cleanly. Any change that removes or
retypes a field needs a new schema version; adding an optional field does not.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, TextIO, cast

from kposture.model import Finding, InputError, ScanResult, Suppression
from kposture.reports.context import ReportContext
from kposture.reports.grouping import sort_findings, summarize

SCHEMA_ID = "kposture.scan/v1"


def scan_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of what ``render_json`` writes, shipped with kposture."""
    text = resources.files("kposture.reports").joinpath("schemas/scan-v1.json").read_text("utf-8")
    return cast(dict[str, Any], json.loads(text))


def _suppression(suppression: Suppression | None) -> dict[str, Any] | None:
    if suppression is None:
        return None
    return {
        "kind": suppression.kind,
        "reason": suppression.reason,
        "expires": suppression.expires or None,
    }


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """One finding in the v1 shape; only finding fields, never any part of the scanned object."""
    ref = finding.resource
    loc = finding.location
    return {
        "rule_id": finding.rule_id,
        "title": finding.title,
        "severity": finding.severity.value,
        "domain": finding.domain.value,
        "stage": finding.stage.value,
        "message": finding.message,
        "resource": {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "namespace": ref.namespace,
            "name": ref.name,
        },
        "location": None
        if loc is None
        else {"file": loc.file, "line": loc.line, "column": loc.column, "path": loc.path},
        "evidence": dict(finding.evidence),
        "references": [
            {"framework": r.framework.value, "id": r.id, "title": r.title}
            for r in finding.references
        ],
        "remediation": finding.remediation,
        "fingerprint": finding.fingerprint,
        "suppressed": finding.suppressed_by is not None,
        "suppressed_by": _suppression(finding.suppressed_by),
    }


def error_to_dict(error: InputError) -> dict[str, Any]:
    return {"file": error.file, "line": error.line, "message": error.message, "level": error.level}


def _error_key(error: InputError) -> tuple[str, int, str]:
    return (error.file, error.line, error.message)


def scan_header(result: ScanResult, ctx: ReportContext) -> dict[str, Any]:
    """Every top-level key of the v1 document except the ``findings`` and ``errors`` lists."""
    summary = summarize(result, ctx.fail_on)
    return {
        "schema": SCHEMA_ID,
        "tool": {"name": "kposture", "version": ctx.tool_version},
        "scanned_at": result.scanned_at or None,
        "inputs": list(result.inputs),
        "summary": {
            "total": summary.active,
            "by_severity": {s.value: n for s, n in summary.by_severity.items()},
            "by_rule": summary.by_rule,
            "suppressed": summary.suppressed,
            "errors": summary.errors,
            "warnings": summary.warnings,
            "objects_scanned": result.objects_scanned,
            "rules_run": result.rules_run,
            "fail_on": ctx.fail_on.value if ctx.fail_on is not None else None,
            "failed": summary.failed,
        },
    }


def scan_to_dict(result: ScanResult, ctx: ReportContext) -> dict[str, Any]:
    """The whole v1 document as plain data."""
    return {
        **scan_header(result, ctx),
        "findings": [finding_to_dict(f) for f in sort_findings(result.findings)],
        "errors": [error_to_dict(e) for e in sorted(result.errors, key=_error_key)],
    }


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _write_list(out: TextIO, key: str, entries: Iterable[object], indent: str) -> None:
    out.write(f"{indent}{_compact(key)}: [")
    first = True
    for entry in entries:
        out.write(f"\n{indent}  " if first else f",\n{indent}  ")
        out.write(_compact(entry))
        first = False
    out.write("]" if first else f"\n{indent}]")


@dataclass(frozen=True, slots=True)
class JsonBlock:
    """An optional top-level block (a report view), with its long list written one entry per line."""

    key: str
    value: Mapping[str, Any]
    list_key: str


def write_json(
    result: ScanResult, ctx: ReportContext, out: TextIO, blocks: Sequence[JsonBlock] = ()
) -> None:
    """Write the v1 document to ``out``: top-level keys indented, one finding or error per line,
    then the optional blocks.

    Findings are encoded and written one at a time: the document is never held in memory whole
    (hundreds of thousands of findings would take gigabytes), and entries use ``json``'s C encoder,
    which it only uses without ``indent``.
    """
    out.write("{\n")
    for key, value in scan_header(result, ctx).items():
        out.write(f"  {_compact(key)}: {_compact(value)},\n")
    _write_list(out, "findings", map(finding_to_dict, sort_findings(result.findings)), "  ")
    out.write(",\n")
    errors = sorted(result.errors, key=_error_key)
    _write_list(out, "errors", map(error_to_dict, errors), "  ")
    for block in blocks:
        out.write(f",\n  {_compact(block.key)}: {{")
        items = list(block.value.items())
        for position, (name, item) in enumerate(items):
            out.write("\n" if position == 0 else ",\n")
            if name == block.list_key and isinstance(item, list):
                _write_list(out, name, item, "    ")
            else:
                out.write(f"    {_compact(name)}: {_compact(item)}")
        out.write("\n  }")
    out.write("\n}\n")


def render_json(result: ScanResult, ctx: ReportContext) -> str:
    """The v1 document as text with a trailing newline (see ``write_json``)."""
    buffer = io.StringIO()
    write_json(result, ctx, buffer)
    return buffer.getvalue()

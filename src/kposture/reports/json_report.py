"""The ``kposture.scan/v1`` JSON document: the versioned contract scripts and CI tools read.

Its shape is fixed by DESIGN.md ("Interfaces users depend on"), described field by field in
``docs/output-formats.md`` and by the JSON Schema in ``reports/schemas/scan-v1.json``. Key order and
finding order are stable so two scans of the same input diff cleanly. Any change that removes or
retypes a field needs a new schema version; adding an optional field does not.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, cast

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


def scan_to_dict(result: ScanResult, ctx: ReportContext) -> dict[str, Any]:
    """The whole v1 document as plain data (what ``render_json`` serialises)."""
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
        "findings": [finding_to_dict(f) for f in sort_findings(result.findings)],
        "errors": [error_to_dict(e) for e in sorted(result.errors, key=_error_key)],
    }


_LIST_KEYS = ("findings", "errors")
"""Top-level lists written one entry per line."""


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def render_json(result: ScanResult, ctx: ReportContext) -> str:
    """Readable, UTF-8 friendly JSON with a trailing newline: top-level keys indented, one finding
    or error per line.

    Entries are encoded compactly because ``json`` only uses its C encoder without ``indent``; the
    fully indented form took three times longer than the scan itself on 20,000 findings.
    """
    document = scan_to_dict(result, ctx)
    lines = ["{"]
    keys = list(document)
    for position, key in enumerate(keys):
        comma = "," if position < len(keys) - 1 else ""
        value = document[key]
        if key in _LIST_KEYS and isinstance(value, list) and value:
            entries = ",\n".join(f"    {_compact(entry)}" for entry in value)
            lines.append(f"  {_compact(key)}: [\n{entries}\n  ]{comma}")
        else:
            lines.append(f"  {_compact(key)}: {_compact(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"

"""SARIF 2.1.0 output, shaped for GitHub code scanning and other SARIF viewers.

One run; ``tool.driver.rules`` describes every rule that ran (plus any rule seen only in findings,
so every ``ruleIndex`` resolves). Levels map critical/high to ``error``, medium to ``warning``,
low/info to ``note``; the numeric ``security-severity`` property is what GitHub ranks alerts by.
Paths become relative URIs under ``%SRCROOT%``; suppressed findings keep their result and carry
``suppressions``; input errors become tool execution notifications. Validity is tested against the
OASIS schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from kposture.model import (
    Finding,
    InputError,
    Reference,
    RuleMeta,
    ScanResult,
    Severity,
    Suppression,
)
from kposture.reports.context import ReportContext
from kposture.reports.grouping import sort_findings

SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "kposture/v1"

LEVELS: Mapping[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
SECURITY_SEVERITY: Mapping[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}
_SUPPRESSION_KINDS = {"annotation": "inSource", "policy": "external"}
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:/")
# RFC 3986 path characters that need no escaping; everything else (spaces, #, ?, %) is encoded.
_URI_SAFE = "/-._~!$&'()*+,;=:@"


def artifact_location(path: str) -> dict[str, str]:
    """A file path as a SARIF artifactLocation: forward slashes, percent-encoded, relative to
    ``%SRCROOT%`` unless the path is absolute (then a ``file:`` URI)."""
    posix = path.replace("\\", "/")
    if _WINDOWS_DRIVE.match(posix):
        return {"uri": "file:///" + posix[:2] + quote(posix[2:], safe=_URI_SAFE)}
    if posix.startswith("/"):
        return {"uri": "file://" + quote(posix, safe=_URI_SAFE)}
    while posix.startswith("./"):
        posix = posix[2:]
    # A colon in the first segment would read as a URI scheme; "./" keeps it a relative reference.
    encoded = quote(posix, safe=_URI_SAFE)
    if ":" in encoded.split("/", 1)[0]:
        encoded = "./" + encoded
    return {"uri": encoded, "uriBaseId": SRCROOT}


def _pascal(rule_id: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", rule_id))


def _reference_text(ref: Reference) -> str:
    return f"{ref.display()} ({ref.title})" if ref.title else ref.display()


def _help_text(meta: RuleMeta) -> tuple[str, str]:
    text = meta.remediation
    markdown = meta.remediation
    if meta.fix_snippet:
        snippet = meta.fix_snippet.rstrip("\n")
        text = f"{text}\n\n{snippet}"
        markdown = f"{markdown}\n\n```yaml\n{snippet}\n```"
    if meta.references:
        refs = ", ".join(_reference_text(r) for r in meta.references)
        text = f"{text}\n\nReferences: {refs}"
        markdown = f"{markdown}\n\n**References:** {refs}"
    return text, markdown


def rule_descriptor(meta: RuleMeta) -> dict[str, Any]:
    help_text, help_markdown = _help_text(meta)
    return {
        "id": meta.id,
        "name": _pascal(meta.id),
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": meta.description or meta.title},
        "help": {"text": help_text, "markdown": help_markdown},
        "defaultConfiguration": {"level": LEVELS[meta.severity]},
        "properties": {
            "tags": ["security", meta.domain.value, meta.stage.value]
            + [r.display() for r in meta.references],
            "security-severity": SECURITY_SEVERITY[meta.severity],
            "severity": meta.severity.value,
            "references": [
                {"framework": r.framework.value, "id": r.id, "title": r.title}
                for r in meta.references
            ],
        },
    }


def _meta_from_finding(finding: Finding) -> RuleMeta:
    """Metadata for a rule that produced findings but is missing from the context."""
    return RuleMeta(
        id=finding.rule_id,
        title=finding.title,
        severity=finding.severity,
        domain=finding.domain,
        stage=finding.stage,
        kinds=(),
        remediation=finding.remediation,
        description=finding.title,
        references=finding.references,
    )


def _rules(ctx: ReportContext, findings: Iterable[Finding]) -> list[RuleMeta]:
    metas: dict[str, RuleMeta] = dict(ctx.rules)
    for finding in findings:
        metas.setdefault(finding.rule_id, _meta_from_finding(finding))
    return [metas[rule_id] for rule_id in sorted(metas)]


def _suppressions(suppression: Suppression) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "kind": _SUPPRESSION_KINDS.get(suppression.kind, "external"),
        "status": "accepted",
        "justification": suppression.reason,
    }
    if suppression.expires:
        entry["properties"] = {"expires": suppression.expires}
    return [entry]


def _logical_location(finding: Finding) -> dict[str, Any]:
    ref = finding.resource
    return {
        "name": ref.name,
        "fullyQualifiedName": ref.display(),
        "kind": "resource",
        "properties": {"apiVersion": ref.api_version, "kind": ref.kind, "namespace": ref.namespace},
    }


def _region(line: int, column: int = 0) -> dict[str, int] | None:
    if line < 1:
        return None
    region = {"startLine": line}
    if column >= 1:
        region["startColumn"] = column
    return region


CLUSTER_SOURCE_PREFIX = "cluster:"
"""Objects listed from a live cluster are located at ``cluster:<context>``, not in a file."""


def is_artifact(file: str) -> bool:
    """Whether ``file`` names a real file: ``<stdin>``, ``cluster:<context>`` and similar
    pseudo-names do not (their findings keep only the logical location)."""
    if not file or file.startswith(CLUSTER_SOURCE_PREFIX):
        return False
    return not (file.startswith("<") and file.endswith(">"))


def _location(finding: Finding) -> dict[str, Any]:
    location: dict[str, Any] = {}
    loc = finding.location
    if loc is not None and is_artifact(loc.file):
        physical: dict[str, Any] = {"artifactLocation": artifact_location(loc.file)}
        region = _region(loc.line, loc.column)
        if region is not None:
            physical["region"] = region
        location["physicalLocation"] = physical
    location["logicalLocations"] = [_logical_location(finding)]
    return location


def _message(finding: Finding) -> str:
    # GitHub shows only the message on the alert line; the resource keeps alerts distinguishable.
    return f"{finding.message} ({finding.resource.display()})"


def result_object(finding: Finding, rule_index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        "message": {"text": _message(finding)},
        "locations": [_location(finding)],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {
            "severity": finding.severity.value,
            "security-severity": SECURITY_SEVERITY[finding.severity],
            "jsonPath": finding.location.path if finding.location else "",
            "evidence": dict(finding.evidence),
        },
    }
    if finding.suppressed_by is not None:
        result["suppressions"] = _suppressions(finding.suppressed_by)
    return result


def notification(error: InputError) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "level": "warning" if error.level == "warning" else "error",
        "message": {"text": error.message},
    }
    if is_artifact(error.file):
        physical: dict[str, Any] = {"artifactLocation": artifact_location(error.file)}
        region = _region(error.line)
        if region is not None:
            physical["region"] = region
        entry["locations"] = [{"physicalLocation": physical}]
    return entry


def sarif_log(result: ScanResult, ctx: ReportContext) -> dict[str, Any]:
    """The SARIF log as plain data (what ``render_sarif`` serialises)."""
    findings = sort_findings(result.findings)
    rules = _rules(ctx, findings)
    index = {meta.id: i for i, meta in enumerate(rules)}
    invocation: dict[str, Any] = {
        "executionSuccessful": True,
        "toolExecutionNotifications": [notification(e) for e in result.errors],
    }
    if result.scanned_at:
        invocation["startTimeUtc"] = result.scanned_at
    driver: dict[str, Any] = {"name": "kposture", "version": ctx.tool_version}
    if ctx.information_uri:
        driver["informationUri"] = ctx.information_uri
    driver["rules"] = [rule_descriptor(meta) for meta in rules]
    if ctx.policy_file:
        invocation["properties"] = {"policyFile": ctx.policy_file}
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "invocations": [invocation],
                "originalUriBaseIds": {
                    SRCROOT: {"description": {"text": "The directory the scan was run from."}}
                },
                "columnKind": "unicodeCodePoints",
                "results": [result_object(f, index[f.rule_id]) for f in findings],
            }
        ],
    }


def render_sarif(result: ScanResult, ctx: ReportContext) -> str:
    return json.dumps(sarif_log(result, ctx), indent=2, ensure_ascii=False) + "\n"

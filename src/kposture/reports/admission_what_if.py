"""Renders ``kposture admission what-if``: per namespace, what the admission policy would deny, warn
about, record as dry-run, or exempt — as a table or as the ``kposture.admission-what-if/v1`` JSON
document.

Pure: decisions in (model values, with where each object was read), text out. Allowed objects are
counted, not listed; every other decision is listed with each violated rule, its mode and message.
Each object is counted once by its effect (``EFFECTS``): what enforcing the policy as written would
do to it — an object with any dry-run violation counts as "would be denied when enforced" even
when it also has warned ones (its recorded outcome, ``by_outcome``, is then ``warned``).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kposture.model import InputError, SourceLocation
from kposture.model.admission import AdmissionDecision, AdmissionMode, Outcome

SCHEMA = "kposture.admission-what-if/v1"
CLUSTER_SCOPE = "(cluster)"
OUTCOME_ORDER = (
    Outcome.DENIED,
    Outcome.DRY_RUN,
    Outcome.WARNED,
    Outcome.ERROR,
    Outcome.EXEMPT,
    Outcome.ALLOWED,
)

EFFECTS = ("denied", "would_deny", "warned_only", "error", "exempt", "allowed")
"""What enforcing the policy as written would do to each object, counted once per object, most
severe first: ``denied`` (an enforced violation), ``would_deny`` (a dry-run violation: denied once
those rules are enforced, whatever else it has), ``warned_only`` (warn violations and nothing
worse), ``error`` (a rule failed), ``exempt``, ``allowed``."""
_EFFECT_LABELS = {
    "denied": "denied now",
    "would_deny": "would be denied when enforced (dry-run rules)",
    "warned_only": "warned only",
    "error": "error",
    "exempt": "exempt",
    "allowed": "allowed",
}
_EFFECT_ROWS = {
    "denied": "DENIED",
    "would_deny": "WOULD-DENY",
    "warned_only": "WARNED",
    "error": "ERROR",
    "exempt": "EXEMPT",
    "allowed": "ALLOWED",
}

Replayed = tuple[AdmissionDecision, SourceLocation | None]
_INDENT = " " * 14


def effect(decision: AdmissionDecision) -> str:
    """One of ``EFFECTS`` for ``decision``, from its verdicts' modes (the recorded outcome ranks a
    warning above a dry-run, as kubectl shows it; enforcing would deny the dry-run rule)."""
    modes = {verdict.mode for verdict in decision.verdicts}
    if decision.outcome is Outcome.DENIED or AdmissionMode.ENFORCE in modes:
        return "denied"
    if AdmissionMode.DRY_RUN in modes:
        return "would_deny"
    if decision.outcome is Outcome.ERROR:
        return "error"
    if AdmissionMode.WARN in modes:
        return "warned_only"
    if decision.outcome is Outcome.EXEMPT:
        return "exempt"
    return "allowed"


@dataclass(frozen=True, slots=True)
class WhatIfReport:
    """What the renderers need besides the decisions."""

    decisions: Sequence[Replayed]
    inputs: Sequence[str]
    errors: Sequence[InputError]
    tool_version: str
    replayed_at: str
    policy_file: str = ""
    as_enforced: bool = False
    not_admitted: int = 0
    covered: int = 0
    rule_errors: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Why rules failed on an object, by decision uid (``rule X failed on ...: why``)."""


def _namespace(decision: AdmissionDecision) -> str:
    ref = decision.resource
    if ref.kind == "Namespace":
        return ref.name
    return ref.namespace or CLUSTER_SCOPE


def by_namespace(decisions: Sequence[Replayed]) -> dict[str, list[Replayed]]:
    grouped: defaultdict[str, list[Replayed]] = defaultdict(list)
    for entry in decisions:
        grouped[_namespace(entry[0])].append(entry)
    return dict(sorted(grouped.items()))


def _counts(entries: Sequence[Replayed]) -> dict[str, int]:
    counted = Counter(decision.outcome for decision, _ in entries)
    return {outcome.value: counted.get(outcome, 0) for outcome in OUTCOME_ORDER}


def _effects(entries: Sequence[Replayed]) -> dict[str, int]:
    counted = Counter(effect(decision) for decision, _ in entries)
    return {name: counted.get(name, 0) for name in EFFECTS}


def _location(location: SourceLocation | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {"file": location.file, "line": location.line}


def _entry(
    decision: AdmissionDecision, location: SourceLocation | None, errors: Sequence[str]
) -> dict[str, Any]:
    ref = decision.resource
    return {
        "resource": {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "namespace": ref.namespace,
            "name": ref.name,
        },
        "outcome": decision.outcome.value,
        "effect": effect(decision),
        "reason": decision.reason,
        "rule_errors": list(errors),
        "location": _location(location),
        "violations": [
            {
                "rule_id": v.rule_id,
                "severity": v.severity.value,
                "mode": v.mode.value,
                "message": v.message,
            }
            for v in decision.verdicts
        ],
    }


def _rank(entry: Replayed) -> tuple[int, str]:
    decision = entry[0]
    return (EFFECTS.index(effect(decision)), decision.resource.display())


def what_if_to_dict(report: WhatIfReport) -> dict[str, Any]:
    namespaces = []
    for namespace, entries in by_namespace(report.decisions).items():
        listed = sorted((e for e in entries if e[0].outcome is not Outcome.ALLOWED), key=_rank)
        namespaces.append(
            {
                "namespace": namespace,
                "by_outcome": _counts(entries),
                "by_effect": _effects(entries),
                "objects": [
                    _entry(decision, location, report.rule_errors.get(decision.uid, ()))
                    for decision, location in listed
                ],
            }
        )
    return {
        "schema": SCHEMA,
        "tool": {"name": "kposture", "version": report.tool_version},
        "replayed_at": report.replayed_at,
        "inputs": list(report.inputs),
        "policy": report.policy_file,
        "as_enforced": report.as_enforced,
        "summary": {
            "replayed": len(report.decisions),
            "by_outcome": _counts(report.decisions),
            "by_effect": _effects(report.decisions),
            "not_admitted": report.not_admitted,
            "covered_by_owner": report.covered,
        },
        "namespaces": namespaces,
        "errors": [
            {"file": e.file, "line": e.line, "message": e.message, "level": e.level}
            for e in report.errors
        ],
    }


def render_what_if_json(report: WhatIfReport) -> str:
    return json.dumps(what_if_to_dict(report), indent=2, ensure_ascii=False) + "\n"


def _summary_line(counts: dict[str, int]) -> str:
    parts = [f"{counts[name]} {_EFFECT_LABELS[name]}" for name in EFFECTS if counts[name]]
    return ", ".join(parts) or "nothing"


def render_what_if_table(report: WhatIfReport) -> str:
    lines: list[str] = []
    for namespace, entries in by_namespace(report.decisions).items():
        lines.append(f"{namespace}: {_summary_line(_effects(entries))}")
        for decision, location in sorted(entries, key=_rank):
            if decision.outcome is Outcome.ALLOWED:
                continue
            where = f"  ({location.file}:{location.line})" if location and location.file else ""
            row = _EFFECT_ROWS[effect(decision)]
            lines.append(f"  {row:<10}  {decision.resource.display()}{where}")
            if decision.reason:
                lines.append(f"{_INDENT}{decision.reason}")
            for why in report.rule_errors.get(decision.uid, ()):
                lines.append(f"{_INDENT}error    {why}")
            for verdict in decision.verdicts:
                lines.append(
                    f"{_INDENT}{verdict.mode.value:<8} [{verdict.rule_id}] {verdict.message}"
                )
        lines.append("")
    counts = _effects(report.decisions)
    mode = " with every rule enforced" if report.as_enforced else ""
    lines.append(
        f"{len(report.decisions)} objects replayed as CREATE{mode}: {_summary_line(counts)}"
    )
    skipped = []
    if report.covered:
        skipped.append(f"{report.covered} pods/ReplicaSets judged through their owner")
    if report.not_admitted:
        skipped.append(f"{report.not_admitted} objects of kinds the webhook is not sent")
    if skipped:
        lines.append("not replayed: " + "; ".join(skipped))
    for error in report.errors:
        where = f"{error.file}:{error.line}: " if error.file else ""
        lines.append(f"{error.level}: {where}{error.message}")
    return "\n".join(lines) + "\n"

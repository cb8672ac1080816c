"""The crawl / walk / run maturity view: which stage each seed domain reaches in one scan, and what
blocks the next one.

A stage of a domain *passes* when at least one of its rules ran on something, none of its rules that
ran has an active (unsuppressed) finding above info (or an info finding marked ``BLOCKS_STAGE``, a
missing capability), and none of its rules was skipped (disabled by the policy, or off for a missing
setting) while it would have judged scanned objects, or reported that it could not observe what it
judges (``NOT_OBSERVABLE`` evidence, e.g. a managed control plane) — a skipped rule is not a passing
rule, so such a stage is *unverified*. A stage whose rules had nothing to judge is *not assessed*. A
domain reaches the last stage of the unbroken run of passed stages from crawl; it is *not assessed*
when none of its rules ran. The findings that block the next stage are that stage's active findings,
most severe first (then in report order), at most ``MAX_BLOCKERS``.

Pure functions over a ``ScanResult``, rule metadata and per-rule ``RuleRun`` states, plus the
renderers of the view for the table, Markdown and JSON outputs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from kposture.model import (
    BLOCKS_STAGE,
    NOT_OBSERVABLE,
    Domain,
    Finding,
    RuleMeta,
    ScanResult,
    Severity,
    Stage,
)
from kposture.reports.assessment import RuleRun, run_of
from kposture.reports.frameworks import rules_with_findings
from kposture.reports.grouping import location_text, sort_findings

MAX_BLOCKERS = 5
STAGES: tuple[Stage, ...] = (Stage.CRAWL, Stage.WALK, Stage.RUN)


class StageStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    UNVERIFIED = "unverified"
    NOT_ASSESSED = "not-assessed"


@dataclass(frozen=True, slots=True)
class StageResult:
    """One stage of one domain: its rules, which ran, which failed, which were skipped."""

    stage: Stage
    status: StageStatus
    rules: tuple[str, ...]
    ran: tuple[str, ...]
    failing: tuple[str, ...]
    skipped: tuple[str, ...]
    findings: tuple[Finding, ...]
    """Active findings of the stage's rules, most severe first."""


@dataclass(frozen=True, slots=True)
class DomainMaturity:
    domain: Domain
    assessed: bool
    reached: Stage | None
    """The highest stage reached; ``None`` when crawl is not reached (or nothing was assessed)."""
    stages: tuple[StageResult, ...]

    @property
    def next_stage(self) -> StageResult | None:
        """The first stage not passed: what the domain works on next (``None`` when run is reached)."""
        return next((s for s in self.stages if s.status is not StageStatus.PASSED), None)

    @property
    def blockers(self) -> tuple[Finding, ...]:
        nxt = self.next_stage
        return nxt.findings[:MAX_BLOCKERS] if nxt is not None else ()

    @property
    def level(self) -> str:
        """``not-assessed``, ``none`` (crawl not reached), or the reached stage."""
        if not self.assessed:
            return "not-assessed"
        return self.reached.value if self.reached is not None else "none"


def _severity_first(findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    ordered = sort_findings(findings)
    return tuple(sorted(ordered, key=lambda f: -f.severity.rank))


def _stage(
    stage: Stage,
    metas: list[RuleMeta],
    runs: Mapping[str, RuleRun] | None,
    active: Mapping[str, list[Finding]],
    unobserved: frozenset[str] = frozenset(),
) -> StageResult:
    rules = tuple(sorted(m.id for m in metas if m.stage is stage))
    ran = tuple(r for r in rules if run_of(runs, r) is RuleRun.RAN)
    # A rule that reported "not observable" (a managed control plane) verified nothing.
    skipped = tuple(
        r for r in rules if run_of(runs, r) is RuleRun.SKIPPED or (r in unobserved and r in ran)
    )
    failing = tuple(r for r in ran if active.get(r))
    findings = _severity_first(tuple(f for r in failing for f in active[r]))
    if failing:
        status = StageStatus.FAILED
    elif skipped:
        status = StageStatus.UNVERIFIED
    elif ran:
        status = StageStatus.PASSED
    else:
        status = StageStatus.NOT_ASSESSED
    return StageResult(stage, status, rules, ran, failing, skipped, findings)


def assess_maturity(
    result: ScanResult,
    rules: Mapping[str, RuleMeta],
    runs: Mapping[str, RuleRun] | None = None,
) -> tuple[DomainMaturity, ...]:
    """Every seed domain (in ``Domain`` order) with the stage it reaches in ``result``."""
    metas = rules_with_findings(rules, result.findings)
    active: dict[str, list[Finding]] = {}
    unobserved = frozenset(
        f.rule_id for f in result.active_findings if NOT_OBSERVABLE in f.evidence
    )
    for finding in result.active_findings:
        # Info findings record facts (an exposed Service, a Kubernetes default): nothing to fix.
        if finding.severity is not Severity.INFO or BLOCKS_STAGE in finding.evidence:
            active.setdefault(finding.rule_id, []).append(finding)
    domains: list[DomainMaturity] = []
    for domain in Domain:
        domain_rules = [m for m in metas.values() if m.domain is domain]
        stages = tuple(_stage(stage, domain_rules, runs, active, unobserved) for stage in STAGES)
        assessed = any(s.ran for s in stages)
        reached: Stage | None = None
        for stage_result in stages:
            if stage_result.status is not StageStatus.PASSED:
                break
            reached = stage_result.stage
        domains.append(DomainMaturity(domain, assessed, reached if assessed else None, stages))
    return tuple(domains)


def _finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "rule_id": finding.rule_id,
        "severity": finding.severity.value,
        "message": finding.message,
        "resource": finding.resource.display(),
        "location": location_text(finding) or None,
        "fingerprint": finding.fingerprint,
    }


def maturity_to_dict(domains: tuple[DomainMaturity, ...]) -> dict[str, Any]:
    """The ``maturity`` block of the ``kposture.scan/v1`` JSON document."""
    levels = [d.level for d in domains]
    return {
        "summary": {
            level: levels.count(level) for level in ("not-assessed", "none", "crawl", "walk", "run")
        },
        "domains": [
            {
                "domain": d.domain.value,
                "level": d.level,
                "next_stage": (nxt.stage.value if (nxt := d.next_stage) is not None else None),
                "stages": [
                    {
                        "stage": s.stage.value,
                        "status": s.status.value,
                        "rules": len(s.rules),
                        "rules_ran": len(s.ran),
                        "failing_rules": list(s.failing),
                        "skipped_rules": list(s.skipped),
                        "active_findings": len(s.findings),
                    }
                    for s in d.stages
                ],
                "blockers": [_finding_dict(f) for f in d.blockers],
            }
            for d in domains
        ],
    }


def _next_text(domain: DomainMaturity) -> str:
    nxt = domain.next_stage
    if not domain.assessed:
        return "no rule of this domain judged any scanned object"
    if nxt is None:
        return "every stage passes"
    stage = nxt.stage.value
    if nxt.status is StageStatus.FAILED:
        return f"{stage}: {len(nxt.findings)} finding(s) in {len(nxt.failing)} rule(s)"
    if nxt.status is StageStatus.UNVERIFIED:
        return f"{stage}: unverified, skipped or not observable: {', '.join(nxt.skipped)}"
    return f"{stage}: not assessed (no {stage} rule judged any scanned object)"


def _blocker_text(finding: Finding) -> str:
    where = location_text(finding) or finding.resource.display()
    return f"[{finding.severity.value}] {finding.rule_id} {where}: {finding.message}"


def render_maturity_table(domains: tuple[DomainMaturity, ...], console: Console) -> None:
    """The maturity view for the terminal: one row per domain, then the blockers of each domain."""
    table = Table(title="Maturity (crawl / walk / run)", title_justify="left", expand=True)
    table.add_column("Domain", no_wrap=True)
    table.add_column("Reached", no_wrap=True)
    table.add_column("Next", overflow="fold", ratio=1)
    for d in domains:
        style = {"not-assessed": "dim", "none": "red"}.get(d.level, "green")
        table.add_row(d.domain.value, Text(d.level, style=style), _next_text(d))
    console.print(table)
    for d in domains:
        if d.blockers:
            nxt = d.next_stage
            stage = nxt.stage.value if nxt is not None else ""
            console.print(Text(f"{d.domain.value} — blocking {stage}:", style="bold"))
            for finding in d.blockers:
                console.print(Text(f"  {_blocker_text(finding)}"), overflow="fold")


def render_maturity_markdown(domains: tuple[DomainMaturity, ...], escape: Any) -> list[str]:
    """Markdown lines of the maturity view; ``escape`` makes a value safe for a table cell."""
    lines = [
        "### Maturity (crawl / walk / run)",
        "",
        "| Domain | Reached | Next | Top blockers |",
        "| --- | --- | --- | --- |",
    ]
    for d in domains:
        blockers = "<br>".join(escape(_blocker_text(f)) for f in d.blockers) or "—"
        lines.append(f"| {d.domain.value} | {d.level} | {escape(_next_text(d))} | {blockers} |")
    return [*lines, ""]


__all__ = [
    "MAX_BLOCKERS",
    "DomainMaturity",
    "StageResult",
    "StageStatus",
    "assess_maturity",
    "maturity_to_dict",
    "render_maturity_markdown",
    "render_maturity_table",
]

"""Pure grouping, sorting and counting over findings, shared by every renderer.

Findings are flat (see DESIGN.md); any tree a report shows (by resource, by rule, by severity) is
built here, so every format orders and counts the same way. Nothing here formats text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from kposture.model import Finding, ResourceRef, ScanResult, Severity

SEVERITIES_DESC: tuple[Severity, ...] = (
    Severity.CRITICAL,
    Severity.HIGH,
    Severity.MEDIUM,
    Severity.LOW,
    Severity.INFO,
)
"""Every severity, worst first: the order summaries list them in."""


PathKey = tuple[tuple[str, int], ...]


def finding_sort_key(
    finding: Finding,
) -> tuple[bool, str, int, tuple[str, str, str], PathKey, str, str]:
    """File, line, resource, path, rule id, fingerprint; findings without a location sort after
    all located ones. An object read from a live cluster has no lines (a snapshot holds its
    objects on one line): its findings follow their paths (``rules[0]`` before ``rules[1]`` before
    ``rules[10]``, as a manifest's lines run), so a live scan, a scan of its snapshot and a scan
    of the manifests list a role's findings in the same order."""
    loc = finding.location
    ref = finding.resource
    resource = (ref.kind, ref.namespace, ref.name)
    if loc is None:
        return (True, "", 0, resource, (), finding.rule_id, finding.fingerprint)
    path = _path_key(loc.path)
    return (False, loc.file, loc.line, resource, path, finding.rule_id, finding.fingerprint)


def _path_key(path: str) -> PathKey:
    """``spec.containers[10].image`` as text and numbers, so indexes compare as numbers."""
    parts = re.split(r"(\d+)", path)
    numbers = [int(number) for number in parts[1::2]]
    return tuple(zip(parts[::2], [*numbers, 0], strict=True))


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """The one finding order every report uses (stable across runs on the same input)."""
    return tuple(sorted(findings, key=finding_sort_key))


def location_text(finding: Finding) -> str:
    """``file:line``; for an object without a line (read from a live cluster) its source and the
    resource, e.g. ``cluster:prod Deployment/shop/web``; empty when the finding has no location."""
    loc = finding.location
    if loc is None:
        return ""
    if loc.line > 0:
        return f"{loc.file}:{loc.line}"
    return f"{loc.file} {finding.resource.display()}"


def is_failing(finding: Finding, fail_on: Severity | None) -> bool:
    """Whether a finding breaks the build: active and at/above ``fail_on`` (any, when unset)."""
    if finding.suppressed_by is not None:
        return False
    return fail_on is None or finding.severity >= fail_on


def severity_counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    """Count per severity, all five present, worst first."""
    counts = Counter(f.severity for f in findings)
    return {severity: counts.get(severity, 0) for severity in SEVERITIES_DESC}


def rule_counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Count per rule id, sorted by rule id; rules without findings are absent."""
    counts = Counter(f.rule_id for f in findings)
    return dict(sorted(counts.items()))


@dataclass(frozen=True, slots=True)
class Summary:
    """Headline numbers of one scan. Counts by severity and rule cover active findings only."""

    active: int
    suppressed: int
    by_severity: dict[Severity, int]
    by_rule: dict[str, int]
    errors: int
    warnings: int
    fail_on: Severity | None
    failing: int
    """Active findings at/above ``fail_on``; every active finding when ``fail_on`` is unset."""

    @property
    def failed(self) -> bool | None:
        """The ``--fail-on`` verdict, or ``None`` when no threshold was given."""
        if self.fail_on is None:
            return None
        return self.failing > 0


def summarize(result: ScanResult, fail_on: Severity | None = None) -> Summary:
    active = result.active_findings
    return Summary(
        active=len(active),
        suppressed=len(result.findings) - len(active),
        by_severity=severity_counts(active),
        by_rule=rule_counts(active),
        errors=sum(1 for e in result.errors if e.level != "warning"),
        warnings=sum(1 for e in result.errors if e.level == "warning"),
        fail_on=fail_on,
        failing=sum(1 for f in active if is_failing(f, fail_on)),
    )


@dataclass(frozen=True, slots=True)
class ResourceGroup:
    """The findings on one resource as read from one file (``file`` is empty without a location)."""

    resource: ResourceRef
    file: str
    findings: tuple[Finding, ...]


def group_by_resource(findings: Iterable[Finding]) -> tuple[ResourceGroup, ...]:
    """Groups in the order their first finding sorts; findings in a group keep the sort order."""
    groups: dict[tuple[ResourceRef, str], list[Finding]] = {}
    for finding in sort_findings(findings):
        file = finding.location.file if finding.location else ""
        groups.setdefault((finding.resource, file), []).append(finding)
    return tuple(
        ResourceGroup(resource, file, tuple(items)) for (resource, file), items in groups.items()
    )


@dataclass(frozen=True, slots=True)
class RuleGroup:
    """The findings of one rule on one resource (what JUnit calls a test case)."""

    rule_id: str
    resource: ResourceRef
    findings: tuple[Finding, ...]


def group_by_rule_and_resource(findings: Iterable[Finding]) -> dict[str, tuple[RuleGroup, ...]]:
    """Rule id (sorted) to its per-resource groups, resources sorted by kind, namespace, name."""
    by_rule: dict[str, dict[ResourceRef, list[Finding]]] = {}
    for finding in sort_findings(findings):
        by_rule.setdefault(finding.rule_id, {}).setdefault(finding.resource, []).append(finding)
    return {
        rule_id: tuple(
            RuleGroup(rule_id, ref, tuple(items))
            for ref, items in sorted(
                resources.items(), key=lambda kv: (kv[0].kind, kv[0].namespace, kv[0].name)
            )
        )
        for rule_id, resources in sorted(by_rule.items())
    }


def most_severe(findings: tuple[Finding, ...], limit: int) -> tuple[Finding, ...]:
    """At most ``limit`` findings, the most severe first chosen (every critical before any high...),
    kept in the given order; all of them when they fit."""
    if len(findings) <= limit:
        return findings
    worst = sorted(findings, key=lambda f: -f.severity.rank)[:limit]
    kept = {id(f) for f in worst}
    return tuple(f for f in findings if id(f) in kept)

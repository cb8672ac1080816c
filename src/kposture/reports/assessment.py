"""Which rules actually judged something in a scan: ran, had nothing to judge, or were skipped.

Framework views and the maturity view must not count a rule that never looked at anything as
"passing". A ``ScanResult`` only lists findings, so the driver (which knows the run policy and the
kinds it scanned) states, per rule, whether it was enabled; ``rule_runs`` turns that into a
``RuleRun`` per rule. It also says which controls a finding bears on (``bears_on``: a finding's
``controls`` evidence may narrow it to some of its rule's controls). Pure; used by ``frameworks`` and
``maturity``.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping

from kposture.model import CONTROLS_KEY, Finding, Framework, RuleMeta


class RuleRun(enum.StrEnum):
    """What a rule did in one scan."""

    RAN = "ran"
    """Enabled, and at least one scanned object was of a kind it judges (or it reported a finding)."""
    NOT_APPLICABLE = "not-applicable"
    """No scanned object was of a kind it judges (whether enabled or not)."""
    SKIPPED = "skipped"
    """It would have judged scanned objects but did not run: disabled by the policy, or off because a
    setting it needs is missing (e.g. no registry allowlist)."""


def rule_runs(
    rules: Iterable[RuleMeta],
    *,
    enabled: Collection[str],
    kinds: Collection[str],
    findings: Iterable[Finding] = (),
) -> dict[str, RuleRun]:
    """A ``RuleRun`` for every rule: ``enabled`` names the rules that were active, ``kinds`` the kinds
    of the scanned objects (implied Namespaces included). A rule with a finding always ran."""
    reported = {finding.rule_id for finding in findings}
    kind_set = set(kinds)
    runs: dict[str, RuleRun] = {}
    for meta in rules:
        applies = meta.id in reported or (
            ("*" in meta.kinds or not kind_set.isdisjoint(meta.kinds))
            and (not meta.requires or not kind_set.isdisjoint(meta.requires))
        )
        if not applies:
            runs[meta.id] = RuleRun.NOT_APPLICABLE
        elif meta.id in enabled or meta.id in reported:
            runs[meta.id] = RuleRun.RAN
        else:
            runs[meta.id] = RuleRun.SKIPPED
    return runs


def run_of(runs: Mapping[str, RuleRun] | None, rule_id: str) -> RuleRun:
    """The run state of ``rule_id``; without run information every rule counts as having run."""
    if runs is None:
        return RuleRun.RAN
    return runs.get(rule_id, RuleRun.RAN)


def narrowed_controls(finding: Finding, framework: Framework) -> frozenset[str] | None:
    """The controls of ``framework`` a finding's ``controls`` evidence names (``None`` when it
    names none of that framework: the finding bears on every control its rule cites)."""
    ids: set[str] = set()
    for key, value in finding.evidence:
        if key != CONTROLS_KEY:
            continue
        for item in value.split(","):
            name, _, control_id = item.strip().partition(" ")
            if name == framework.value and control_id.strip():
                ids.add(control_id.strip())
    return frozenset(ids) if ids else None


def bears_on(
    finding: Finding, framework: Framework, control_id: str, parents: Mapping[str, str]
) -> bool:
    """Whether a finding of a covering rule counts for the control: always, unless its evidence
    narrows it to other controls of the framework (a parent control counts its children's)."""
    named = narrowed_controls(finding, framework)
    if named is None or control_id in named:
        return True
    for child in named:
        parent = parents.get(child, "")
        while parent:
            if parent == control_id:
                return True
            parent = parents.get(parent, "")
    return False

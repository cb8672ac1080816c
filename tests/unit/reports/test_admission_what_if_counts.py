"""``admission what-if`` counts each object once, by what enforcing would do: an object with a
dry-run violation counts in "would deny" even when it also has warned ones."""

from __future__ import annotations

import datetime as dt
import json

from kposture.model import ResourceRef, Severity
from kposture.model.admission import AdmissionDecision, AdmissionMode, Outcome, RuleVerdict
from kposture.reports.admission_what_if import (
    WhatIfReport,
    render_what_if_json,
    render_what_if_table,
)

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def _decision(name: str, outcome: Outcome, *modes: AdmissionMode) -> AdmissionDecision:
    return AdmissionDecision(
        uid=name,
        time=NOW,
        operation="CREATE",
        user="u",
        groups=(),
        resource=ResourceRef("v1", "Pod", "shop", name),
        outcome=outcome,
        verdicts=tuple(
            RuleVerdict(f"rule-{i}", Severity.HIGH, mode, "m") for i, mode in enumerate(modes)
        ),
    )


def _report() -> WhatIfReport:
    decisions = [
        # The webhook records WARNED (kubectl shows the warnings), but enforcing denies it.
        _decision("mixed", Outcome.WARNED, AdmissionMode.WARN, AdmissionMode.DRY_RUN),
        _decision("dry", Outcome.DRY_RUN, AdmissionMode.DRY_RUN),
        _decision("warned", Outcome.WARNED, AdmissionMode.WARN),
        _decision("denied", Outcome.DENIED, AdmissionMode.ENFORCE, AdmissionMode.DRY_RUN),
        _decision("clean", Outcome.ALLOWED),
    ]
    return WhatIfReport(
        decisions=[(d, None) for d in decisions],
        inputs=["x"],
        errors=(),
        tool_version="0",
        replayed_at="now",
    )


def test_an_object_with_any_dry_run_violation_counts_as_would_deny() -> None:
    summary = json.loads(render_what_if_json(_report()))["summary"]
    assert summary["by_effect"] == {
        "denied": 1,
        "would_deny": 2,
        "warned_only": 1,
        "error": 0,
        "exempt": 0,
        "allowed": 1,
    }
    # The webhook's recorded outcomes are kept as they were.
    assert summary["by_outcome"]["warned"] == 2


def test_the_table_summary_says_what_each_count_means() -> None:
    text = render_what_if_table(_report())
    last = next(line for line in text.splitlines() if "objects replayed" in line)
    assert "1 denied now" in last
    assert "2 would be denied when enforced (dry-run rules)" in last
    assert "1 warned only" in last
    assert "WOULD-DENY  Pod/shop/mixed" in text

"""The ``admission log`` table keeps each rule whole on its own line of the RULES cell, and folds
long lists into a count."""

from __future__ import annotations

import datetime as dt

from rich.console import Console

from kposture.cli.admission_log_commands import decisions_table
from kposture.model import ResourceRef, Severity
from kposture.model.admission import AdmissionDecision, AdmissionMode, Outcome, RuleVerdict

RULES = [
    "privileged-container",
    "privilege-escalation-allowed",
    "capabilities-not-dropped",
    "container-runtime-socket",
    "sensitive-host-path",
    "seccomp-profile-missing",
    "resource-limits-missing",
    "writable-root-filesystem",
]


def _render(count: int, width: int = 110) -> str:
    decision = AdmissionDecision(
        uid="u",
        time=dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
        operation="CREATE",
        user="system:serviceaccount:kube-system:replicaset-controller",
        groups=(),
        resource=ResourceRef("apps/v1", "Deployment", "shop", "storefront-web"),
        outcome=Outcome.DENIED,
        verdicts=tuple(
            RuleVerdict(rule, Severity.HIGH, AdmissionMode.ENFORCE, "m") for rule in RULES[:count]
        ),
    )
    console = Console(width=width, record=True, color_system=None)
    console.print(decisions_table([decision]))
    return console.export_text()


def test_each_rule_stays_whole_on_its_own_line() -> None:
    text = _render(4)
    lines = text.splitlines()
    for rule in RULES[:4]:
        assert any(f"{rule} (enforce)" in line for line in lines), text


def test_a_long_list_is_folded_into_a_count() -> None:
    text = _render(8)
    assert "+4 more" in text
    assert "writable-root-filesystem" not in text

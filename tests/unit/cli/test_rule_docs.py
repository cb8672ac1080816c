"""docs/rules.md is generated from the registry; this fails when it is stale."""

from __future__ import annotations

from pathlib import Path

from kposture.cli.scanning import default_registry
from kposture.policy.builtin_cel import EXPORTABLE_RULE_IDS
from kposture.reports.rule_catalogue import render_rule_docs

DOC = Path(__file__).resolve().parents[3] / "docs" / "rules.md"


def test_rules_doc_is_current() -> None:
    expected = render_rule_docs([rule.meta for rule in default_registry()], EXPORTABLE_RULE_IDS)
    assert DOC.read_text(encoding="utf-8") == expected, "docs/rules.md is stale: run `make docs`"

"""Every built-in rule against its Polaris-style fixtures under ``tests/rules/fixtures/<rule-id>/``.

``fail-*.yaml`` must produce at least one finding of that rule, ``pass-*.yaml`` none. A rule without
both kinds of fixture fails the suite, and so does a fixture folder naming no registered rule. A
``policy.yaml`` beside the fixtures (same format as ``.kposture.yaml``) configures the rule, e.g. a
registry allowlist.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kposture.sources.policy_file import load_policy
from support import RULES_BY_ID, load_objects, violations

FIXTURES = Path(__file__).resolve().parents[2] / "rules" / "fixtures"
POLICY_FILE = "policy.yaml"
CASES = sorted(path for path in FIXTURES.glob("*/*.yaml") if path.name != POLICY_FILE)


def _case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.mark.parametrize("path", CASES, ids=_case_id)
def test_fixture_outcome(path: Path) -> None:
    rule_id = path.parent.name
    assert rule_id in RULES_BY_ID, f"fixture folder {rule_id!r} names no built-in rule"
    policy_path = path.parent / POLICY_FILE
    policy = load_policy(policy_path).policy if policy_path.exists() else None
    found = violations(rule_id, load_objects([path]), policy)
    if path.stem.startswith("fail-"):
        assert found, f"{rule_id}: expected a finding on {path.name}"
    else:
        assert path.stem.startswith("pass-"), f"{path.name}: name must start with pass- or fail-"
        assert not found, f"{rule_id}: unexpected findings on {path.name}: {found}"


@pytest.mark.parametrize("rule_id", sorted(RULES_BY_ID))
def test_every_rule_has_pass_and_fail_fixtures(rule_id: str) -> None:
    stems = [path.stem for path in (FIXTURES / rule_id).glob("*.yaml")]
    assert any(stem.startswith("fail-") for stem in stems), f"{rule_id} has no fail- fixture"
    assert any(stem.startswith("pass-") for stem in stems), f"{rule_id} has no pass- fixture"

"""Broken ``kposture-test.yaml`` files: every problem at once, each as ``file:line: message``
naming the bad key or value, list entries by 0-based index."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from kposture.policy.rule_testing import run_test_file

FIXTURES = Path(__file__).parent / "custom_rules"
TODAY = dt.date(2026, 1, 1)


def _broken(tmp_path: Path, edit: dict[str, str]) -> tuple[str, ...]:
    suite = tmp_path / "suite"
    shutil.copytree(FIXTURES, suite)
    test_file = suite / "labels-test" / "kposture-test.yaml"
    text = test_file.read_text()
    for old, new in edit.items():
        assert old in text
        text = text.replace(old, new, 1)
    test_file.write_text(text)
    outcome = run_test_file(test_file, TODAY)
    assert outcome.status == "broken"
    prefix = test_file.as_posix() + ":"
    assert all(problem.startswith(prefix) for problem in outcome.problems), outcome.problems
    return tuple(problem.removeprefix(prefix) for problem in outcome.problems)


def test_every_problem_of_a_test_file_is_reported_with_its_line(tmp_path: Path) -> None:
    problems = _broken(
        tmp_path,
        {
            "    result: pass\n": "    result: failed\n",
            "    message: no team label\n": "    mesage: no team label\n",
            "    resource: {kind: StatefulSet, namespace: shop, name: db}\n": (
                "    resource: {kind: StatefulSet, namspace: shop, name: db}\n"
            ),
            "namespaces: [namespaces.yaml]\n": "namespaces: [namespaces.yaml, gone.yaml]\n",
        },
    )
    assert problems == (
        "7: namespaces[1]: gone.yaml does not exist",
        "11: results[0]: result must be pass, fail, error or skip, not 'failed'",
        "15: results[1]: unknown key 'mesage' (expected rule, resource, result, message)",
        "17: results[2]: resource: unknown key 'namspace' (expected kind, namespace, name)",
    )


def test_unknown_rules_and_resources_are_all_named(tmp_path: Path) -> None:
    problems = _broken(
        tmp_path,
        {
            "  - rule: require-team-label\n": "  - rule: require-team-labels\n",
            "name: db}": "name: dbx}",
        },
    )
    assert problems == (
        "9: results[0]: rule 'require-team-labels' is not in the test's rules",
        "17: results[2]: no resource StatefulSet/shop/dbx in the test's resources",
    )

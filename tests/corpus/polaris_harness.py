"""The harness the Polaris agreement tests share (``test_polaris_*.py``).

``polaris/expected.json`` labels every case file of Polaris's own fixtures with its check and whether
Polaris expects it to fail. Each test family maps some Polaris checks to kposture rules and decides,
per case, whether kposture fails it; the family keeps its own mapping, its deliberate disagreements
(``EXPLAINED``: case key -> reason) and its agreement floors, and calls the assertions below from
its own test functions, so each family's results are still reported on their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from kposture.model import K8sObject
from support import load_objects

Fails = Callable[[str, list[K8sObject]], bool]
"""Whether kposture fails a case of the given Polaris check, made of the given objects."""


@dataclass(frozen=True)
class Case:
    key: str
    """The case file relative to ``polaris/cases``: ``<check>/<success|failure>*.yaml``."""
    check: str
    expected_fail: bool
    kposture_fail: bool

    @property
    def agrees(self) -> bool:
        return self.expected_fail == self.kposture_fail


def polaris_root(corpus: Path) -> Path:
    """The Polaris corpus folder; skips the calling test (or fixture) when it is absent."""
    root = corpus / "polaris"
    if not (root / "expected.json").is_file():
        pytest.skip(f"Polaris corpus not found under {root}")
    return root


def polaris_cases(root: Path, checks: Collection[str], fails: Fails) -> list[Case]:
    """Every labelled Polaris case of one of ``checks``, each file loaded on its own and judged by
    ``fails``."""
    expected = json.loads((root / "expected.json").read_text(encoding="utf-8"))["files"]
    cases = []
    for relative, label in sorted(expected.items()):
        check = label["check"]
        if check not in checks:
            continue
        verdict = fails(check, load_objects([root / relative]))
        cases.append(
            Case(relative.removeprefix("cases/"), check, label["expected"] == "FAILED", verdict)
        )
    return cases


def agreement(cases: list[Case], explained: Mapping[str, str]) -> tuple[int, int]:
    """(cases kposture agrees on, disagreements that ``explained`` accounts for)."""
    agreed = sum(case.agrees for case in cases)
    accounted = sum(not case.agrees and case.key in explained for case in cases)
    return agreed, accounted


def assert_every_mapped_check_has_cases(cases: list[Case], checks: Collection[str]) -> None:
    assert {case.check for case in cases} == set(checks)


def assert_every_disagreement_is_explained(cases: list[Case], explained: Mapping[str, str]) -> None:
    unexplained = [case.key for case in cases if not case.agrees and case.key not in explained]
    assert not unexplained, f"unexplained disagreements with Polaris: {unexplained}"


def assert_no_stale_explanations(cases: list[Case], explained: Mapping[str, str]) -> None:
    agreeing = {case.key for case in cases if case.agrees}
    stale = sorted(key for key in explained if key in agreeing)
    assert not stale, f"explained disagreements that now agree (remove them): {stale}"


def assert_agreement_rate(
    cases: list[Case], explained: Mapping[str, str], *, raw_floor: float
) -> None:
    """Raw agreement is at least ``raw_floor``, and at least 95% when explained disagreements count
    as agreement."""
    agreed, accounted = agreement(cases, explained)
    assert agreed / len(cases) >= raw_floor, f"raw agreement {agreed}/{len(cases)}"
    assert (agreed + accounted) / len(cases) >= 0.95

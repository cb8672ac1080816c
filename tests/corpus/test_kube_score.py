"""Agreement of the image, exposure and NetworkPolicy rules with kube-score's graded test fixtures.

``kube-score/expected.json`` lists (file, check, grade) assertions from kube-score's own tests. For a
corresponding check, CRITICAL and WARNING count as "fails" and OK as "passes" (kube-score's WARNING
on these checks is a real gap: a pod covered for only one direction, a NodePort Service);
SKIPPED_OR_ZERO cases are not compared. Rules run as the engine runs them over the whole fixture
file as one inventory. Checks with no kposture counterpart are listed in ``NOT_CORRESPONDING``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import load_objects, violations

CHECKS: dict[str, tuple[str, ...]] = {
    "Pod NetworkPolicy": ("workload-not-isolated", "workload-egress-unrestricted"),
    "Container Image Tag": ("image-tag-mutable",),
    "Service Type": ("service-exposed",),
}
"""kube-score check -> kposture rules; the case fails in kposture when any of them fires."""

NOT_CORRESPONDING: dict[str, str] = {
    "NetworkPolicy targets Pod": "a policy selecting no pod is a hygiene problem, not an exposure",
    "Container Image Pull Policy": "pull policy is reliability; content is pinned by digest",
    "Ingress targets Service": "dangling backends are reliability, not security",
    "Service Targets Pod": "dangling selectors are reliability, not security",
}
"""kube-score checks near these families that no kposture rule corresponds to, and why."""

EXPLAINED: dict[tuple[str, str], str] = {
    ("networkpolicy-targets-all-pods.yaml", "Pod NetworkPolicy"): (
        "the policy's rules are ingress: [{}] and egress: [{}], which allow every source and every "
        "destination on every port; kube-score only checks that a policy selects the pod, kposture "
        "does not count an allow-everything policy as isolation"
    ),
}
"""(file, check) -> why kposture deliberately disagrees with kube-score's grade."""

FAIL_GRADES = frozenset({"CRITICAL", "WARNING"})
PASS_GRADES = frozenset({"OK"})


@dataclass(frozen=True)
class Case:
    file: str
    check: str
    grade: str
    kposture_fail: bool

    @property
    def agrees(self) -> bool:
        return (self.grade in FAIL_GRADES) == self.kposture_fail


def kube_score_cases(root: Path) -> list[Case]:
    entries = json.loads((root / "expected.json").read_text(encoding="utf-8"))["cases"]
    cases = []
    for entry in entries:
        check, grade = entry["check"], entry["expected_grade"]
        if check not in CHECKS or grade not in FAIL_GRADES | PASS_GRADES:
            continue
        objects = load_objects([root / "testdata" / entry["file"]])
        fired = any(violations(rule_id, objects) for rule_id in CHECKS[check])
        cases.append(Case(entry["file"], check, grade, fired))
    return cases


@pytest.fixture(scope="module")
def cases(corpus: Path) -> list[Case]:
    root = corpus / "kube-score"
    if not (root / "expected.json").is_file():
        pytest.skip(f"kube-score corpus not found under {root}")
    return kube_score_cases(root)


def test_every_mapped_check_has_cases(cases: list[Case]) -> None:
    assert {case.check for case in cases} == set(CHECKS)


def test_not_corresponding_checks_exist(corpus: Path) -> None:
    labels = corpus / "kube-score" / "expected.json"
    if not labels.is_file():
        pytest.skip(f"kube-score corpus not found under {labels.parent}")
    entries = json.loads(labels.read_text(encoding="utf-8"))
    assert set(NOT_CORRESPONDING) <= {entry["check"] for entry in entries["cases"]}


def test_every_disagreement_is_explained(cases: list[Case]) -> None:
    unexplained = [
        (case.file, case.check, case.grade)
        for case in cases
        if not case.agrees and (case.file, case.check) not in EXPLAINED
    ]
    assert not unexplained, f"unexplained disagreements with kube-score: {unexplained}"


def test_no_stale_explanations(cases: list[Case]) -> None:
    disagreeing = {(case.file, case.check) for case in cases if not case.agrees}
    assert set(EXPLAINED) <= disagreeing, set(EXPLAINED) - disagreeing


def test_agreement_rate(cases: list[Case]) -> None:
    # Measured: 15/16 raw (93.8%); the one disagreement is the allow-everything policy (EXPLAINED).
    agreed = sum(case.agrees for case in cases)
    accounted = sum(not case.agrees and (case.file, case.check) in EXPLAINED for case in cases)
    assert agreed / len(cases) >= 0.93, f"raw agreement {agreed}/{len(cases)}"
    assert (agreed + accounted) / len(cases) >= 0.95, f"agreement {agreed}+{accounted}/{len(cases)}"

"""Agreement of the Secrets rules with real labelled data.

Polaris: each ``polaris/cases/sensitiveContainerEnvVar/*`` and ``sensitiveConfigmapContent/*`` case
is judged by ``secret-in-env`` and ``secret-in-configmap``; ``failure*`` must fire, ``success*`` must
not. Deliberate disagreements would be listed in ``EXPLAINED`` (none today); see docs/accuracy.md.

Kubernetes Goat: its ``secret_in_env`` tag means "env var sourced from secretKeyRef", which is
kposture's ``secret-env-reference``; every tagged resource must get that finding (recall 100%).
Also, no credential is reported anywhere in the corpus outside the Polaris cases built to hold one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from kposture.inventory import Inventory, containers, find_credentials, find_credentials_in_base64
from kposture.model import K8sObject
from support import RULES_BY_ID, load_objects

CHECKS = {
    "sensitiveContainerEnvVar": "secret-in-env",
    "sensitiveConfigmapContent": "secret-in-configmap",
}
EXPLAINED: dict[str, str] = {}
"""Polaris case -> why kposture deliberately disagrees (empty: every case agrees)."""
CREDENTIAL_FIXTURES = tuple(f"cases/{check}/failure" for check in CHECKS)


@dataclass(frozen=True)
class Case:
    key: str
    expected_fail: bool
    kposture_fail: bool

    @property
    def agrees(self) -> bool:
        return self.expected_fail == self.kposture_fail


def _fires(rule_id: str, objects: list[K8sObject]) -> bool:
    rule = RULES_BY_ID[rule_id]
    inventory = Inventory(objects)
    return any(
        any(rule.check(obj, inventory)) for obj in objects if obj.ref.kind in rule.meta.kinds
    )


@pytest.fixture(scope="module")
def polaris(corpus: Path) -> Path:
    root = corpus / "polaris"
    if not (root / "expected.json").is_file():
        pytest.skip(f"Polaris corpus not found under {root}")
    return root


@pytest.fixture(scope="module")
def cases(polaris: Path) -> list[Case]:
    expected = json.loads((polaris / "expected.json").read_text(encoding="utf-8"))["files"]
    found = []
    for relative, label in sorted(expected.items()):
        rule_id = CHECKS.get(label["check"])
        if rule_id is None:
            continue
        fired = _fires(rule_id, load_objects([polaris / relative]))
        found.append(Case(relative.removeprefix("cases/"), label["expected"] == "FAILED", fired))
    return found


def test_both_checks_have_cases(cases: list[Case]) -> None:
    assert len(cases) == 15
    assert {case.key.split("/")[0] for case in cases} == set(CHECKS)


def test_every_disagreement_is_explained_and_agreement_is_at_least_95_percent(
    cases: list[Case],
) -> None:
    unexplained = [case.key for case in cases if not case.agrees and case.key not in EXPLAINED]
    assert not unexplained, f"unexplained disagreements with Polaris: {unexplained}"
    stale = [case.key for case in cases if case.agrees and case.key in EXPLAINED]
    assert not stale, f"explained disagreements that now agree (remove them): {stale}"
    agreed = sum(case.agrees for case in cases)
    assert agreed / len(cases) >= 0.95, f"agreement {agreed}/{len(cases)}"


@pytest.fixture(scope="module")
def goat(corpus: Path) -> tuple[list[dict[str, object]], list[K8sObject]]:
    root = corpus / "goat"
    if not (root / "expected.json").is_file():
        pytest.skip(f"Kubernetes Goat corpus not found under {root}")
    entries = json.loads((root / "expected.json").read_text(encoding="utf-8"))["manifest_findings"]
    return entries, load_objects([root / "scenarios", root / "infrastructure"])


def _matches(obj: K8sObject, entry: dict[str, object]) -> bool:
    file = obj.location.file if obj.location else ""
    kind, _, rest = str(entry["resource"]).partition(".")
    name = rest.rpartition(".")[2]
    return file.endswith(str(entry["file"])) and obj.ref.kind == kind and obj.ref.name == name


def test_goat_secret_in_env_tags_are_secret_env_references(
    goat: tuple[list[dict[str, object]], list[K8sObject]],
) -> None:
    entries, objects = goat
    tagged = [entry for entry in entries if "secret_in_env" in str(entry["tags"]).split("'")]
    assert tagged
    inventory = Inventory(objects)
    rule = RULES_BY_ID["secret-env-reference"]
    for entry in tagged:
        (obj,) = [obj for obj in objects if _matches(obj, entry)]
        found = list(rule.check(obj, inventory))
        assert found, f"secret-env-reference missed {entry['resource']}"
        assert ("secret", "goatvault") in found[0].evidence


def _corpus_values(objects: list[K8sObject]) -> list[tuple[str, str, int]]:
    """(file, key, number of credentials found) for every ConfigMap entry and env literal."""
    results = []
    for obj in objects:
        file = obj.location.file if obj.location else ""
        if obj.ref.kind == "ConfigMap":
            for field, find in (
                ("data", find_credentials),
                ("binaryData", find_credentials_in_base64),
            ):
                entries = obj.raw.get(field)
                for key, value in entries.items() if isinstance(entries, dict) else ():
                    results.append((file, str(key), len(find(str(key), value))))
        for ref in containers(obj):
            for entry in ref.container.get("env") or []:
                if isinstance(entry, dict) and "value" in entry:
                    name = str(entry.get("name"))
                    results.append((file, name, len(find_credentials(name, entry["value"]))))
    return results


def test_no_credentials_reported_outside_the_credential_fixtures(corpus: Path) -> None:
    folders = [corpus / "goat" / "scenarios", corpus / "goat" / "infrastructure"]
    folders += [corpus / "polaris" / "cases", corpus / "kube-score" / "testdata"]
    present = [folder for folder in folders if folder.is_dir()]
    if not present:
        pytest.skip("corpus folders not found")
    values = _corpus_values(load_objects(present))
    assert len(values) >= 30
    false_positives = [
        (file, key)
        for file, key, count in values
        if count and not any(marker in file for marker in CREDENTIAL_FIXTURES)
    ]
    assert not false_positives

"""Agreement of the Secrets rules with real labelled data.

Polaris: each ``polaris/cases/sensitiveContainerEnvVar/*`` and ``sensitiveConfigmapContent/*`` case
is judged by ``secret-in-env`` and ``secret-in-configmap``; ``failure*`` must fire, ``success*`` must
not. Deliberate disagreements would be listed in ``EXPLAINED`` (none today); see docs/accuracy.md.

Kubernetes Goat: its ``secret_in_env`` tag means "env var sourced from secretKeyRef", which is
kposture's ``secret-env-reference``; every tagged resource must get that finding (recall 100%).
Also, no credential is reported anywhere in the corpus outside the Polaris cases built to hold one
(container command and args included), and every Secret Goat commits with its values is reported by
``secret-in-manifest``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corpus.goat_harness import (
    goat_entries,
    goat_objects,
    goat_root,
    labelled_object,
    matches_exactly,
)
from corpus.polaris_harness import (
    Case,
    assert_agreement_rate,
    assert_every_disagreement_is_explained,
    assert_no_stale_explanations,
    polaris_cases,
    polaris_root,
)
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


def _fires(rule_id: str, objects: list[K8sObject]) -> bool:
    rule = RULES_BY_ID[rule_id]
    inventory = Inventory(objects)
    return any(
        any(rule.check(obj, inventory)) for obj in objects if obj.ref.kind in rule.meta.kinds
    )


@pytest.fixture(scope="module")
def cases(corpus: Path) -> list[Case]:
    return polaris_cases(
        polaris_root(corpus), CHECKS, lambda check, objects: _fires(CHECKS[check], objects)
    )


def test_both_checks_have_cases(cases: list[Case]) -> None:
    assert len(cases) == 15
    assert {case.key.split("/")[0] for case in cases} == set(CHECKS)


def test_every_disagreement_is_explained_and_agreement_is_at_least_95_percent(
    cases: list[Case],
) -> None:
    assert_every_disagreement_is_explained(cases, EXPLAINED)
    assert_no_stale_explanations(cases, EXPLAINED)
    assert_agreement_rate(cases, EXPLAINED, raw_floor=0.95)


@pytest.fixture(scope="module")
def goat(corpus: Path) -> tuple[list[dict[str, Any]], list[K8sObject]]:
    root = goat_root(corpus)
    return goat_entries(root), goat_objects(root)


def test_goat_secret_in_env_tags_are_secret_env_references(
    goat: tuple[list[dict[str, Any]], list[K8sObject]],
) -> None:
    entries, objects = goat
    tagged = [entry for entry in entries if "secret_in_env" in str(entry["tags"]).split("'")]
    assert tagged
    inventory = Inventory(objects)
    rule = RULES_BY_ID["secret-env-reference"]
    for entry in tagged:
        obj = labelled_object(objects, entry, matches_exactly)
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


def test_no_credentials_in_corpus_arguments_and_goat_secrets_reported(corpus: Path) -> None:
    folders = [corpus / "goat" / "scenarios", corpus / "goat" / "infrastructure"]
    folders += [corpus / "polaris" / "cases", corpus / "kube-score" / "testdata"]
    present = [folder for folder in folders if folder.is_dir()]
    if not present:
        pytest.skip("corpus folders not found")
    objects = load_objects(present)
    inventory = Inventory(objects)
    arguments = sum(
        len(ref.container.get(field) or [])
        for obj in objects
        for ref in containers(obj)
        for field in ("command", "args")
    )
    assert arguments >= 50  # measured: 75 command/args elements
    args_rule = RULES_BY_ID["secret-in-args"]
    assert not [
        obj.ref
        for obj in objects
        if obj.ref.kind in args_rule.meta.kinds
        for _ in args_rule.check(obj, inventory)
    ]
    manifest_rule = RULES_BY_ID["secret-in-manifest"]
    reported = {
        (obj.ref.name, dict(found.evidence)["keys"])
        for obj in objects
        if obj.ref.kind == "Secret"
        for found in manifest_rule.check(obj, inventory)
    }
    if (corpus / "goat" / "scenarios").is_dir():
        assert reported == {
            ("goatvault", "k8sgoatvaultkey"),
            ("vaultapikey", "k8svaultapikey"),
            ("webhookapikey", "k8swebhookapikey"),
        }

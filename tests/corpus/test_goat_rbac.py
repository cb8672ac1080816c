"""Recall of the RBAC rules on Kubernetes Goat's hand-labelled manifest findings.

Every RBAC tag in ``goat/expected.json`` ``manifest_findings`` must be found on the named resource:
``rbac_wildcard_resources`` and ``rbac_wildcard_all`` by wildcard-rbac (on the resources, or on all
three fields), ``rbac_read_secrets`` by rbac-secrets-read, ``cluster_admin_binding_to_sa`` by
cluster-admin-binding on a ServiceAccount subject. ``binding_to_default_sa`` belongs to the service
accounts family and is skipped. The pwnchart is a Helm chart, rendered by the sources loader.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kposture.inventory import Inventory
from kposture.model import K8sObject, Violation
from support import RULES_BY_ID, load_objects

Found = dict[str, list[Violation]]


def _wildcard_in(*fields: str) -> Callable[[Found], bool]:
    return lambda found: any(
        all(field in violation.message.split(":")[0] for field in fields)
        for violation in found["wildcard-rbac"]
    )


def tag_check(tag: str) -> Callable[[Found], bool] | None:
    """How to verify one tag, or None when the tag is not about this family's rules."""
    if tag == "rbac_wildcard_resources":
        return _wildcard_in("resources")
    if tag == "rbac_wildcard_all":
        return _wildcard_in("verbs", "apiGroups", "resources")
    if tag == "rbac_read_secrets":
        return lambda found: bool(found["rbac-secrets-read"])
    if tag.startswith("cluster_admin_binding_to_sa"):
        return lambda found: any(
            ("subject", value) in violation.evidence
            for violation in found["cluster-admin-binding"]
            for key, value in violation.evidence
            if key == "subject" and value.startswith("ServiceAccount ")
        )
    return None


def _matches(obj: K8sObject, entry: dict[str, Any]) -> bool:
    file = obj.location.file if obj.location else ""
    kind, _, rest = entry["resource"].partition(".")
    name = rest.rpartition(".")[2] if rest else ""
    return file.endswith(entry["file"]) and obj.ref.kind == kind and obj.ref.name == name


def goat_results(root: Path) -> list[tuple[str, str, bool]]:
    entries = json.loads((root / "expected.json").read_text(encoding="utf-8"))["manifest_findings"]
    objects = load_objects([root / "scenarios", root / "infrastructure"])
    inventory = Inventory(objects)
    results = []
    for entry in entries:
        checks = {tag: tag_check(tag) for tag in entry["tags"]}
        checks = {tag: check for tag, check in checks.items() if check is not None}
        if not checks:
            continue
        matching = [obj for obj in objects if _matches(obj, entry)]
        assert len(matching) == 1, f"{entry['resource']} in {entry['file']}: {len(matching)}"
        obj = matching[0]
        found = {
            rule_id: list(rule.check(obj, inventory)) if obj.ref.kind in rule.meta.kinds else []
            for rule_id, rule in RULES_BY_ID.items()
        }
        results.extend((entry["resource"], tag, check(found)) for tag, check in checks.items())
    return results


@pytest.fixture(scope="module")
def results(corpus: Path) -> list[tuple[str, str, bool]]:
    root = corpus / "goat"
    if not (root / "expected.json").is_file():
        pytest.skip(f"Kubernetes Goat corpus not found under {root}")
    return goat_results(root)


def test_rbac_recall_is_complete(results: list[tuple[str, str, bool]]) -> None:
    missed = [(resource, tag) for resource, tag, hit in results if not hit]
    assert len(results) == 6
    assert not missed, f"RBAC tags kposture missed: {missed}"

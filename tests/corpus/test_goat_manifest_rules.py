"""Recall of the service-account, image and network rules on Kubernetes Goat's labelled findings.

For every resource in ``goat/expected.json`` ``manifest_findings`` and every tag of these families
(default namespace, mutable image tag, token automount, NodePort Service, binding to a default
ServiceAccount, no NetworkPolicy in the namespace), the corresponding kposture rule must fire on
that resource — for the namespace tag, on the resource's Namespace (declared or implied) and on
the workload itself. Recall must be 100%. Rules run as the engine runs them over the whole Goat
tree as one inventory; both Helm charts are rendered by the sources loader.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kposture.inventory import Inventory, effective_namespace
from kposture.model import K8sObject, RunPolicy, Violation
from support import RULES_BY_ID, load_objects

Judge = Callable[[K8sObject], list[Violation]]

TAG_RULES: dict[str, str] = {
    "default_namespace": "default-namespace",
    "image_latest_or_untagged": "image-tag-mutable",
    "image tag 'latest'": "image-tag-mutable",
    "sa_token_automount": "service-account-token-automount",
    "nodeport_service": "service-exposed",
    "binding_to_default_sa": "default-service-account-bound",
    "no NetworkPolicy in namespace": "workload-not-isolated",
}
"""Tag prefix -> the rule that must fire on the tagged resource."""
FAMILY_RULES = (
    "default-service-account",
    "service-account-token-automount",
    "default-service-account-bound",
    "long-lived-token-secret",
    "default-namespace",
    "image-tag-mutable",
    "image-not-pinned",
    "namespace-without-network-policy",
    "workload-not-isolated",
    "workload-egress-unrestricted",
    "mesh-mtls-not-strict",
    "service-exposed",
)


def rule_for(tag: str) -> str | None:
    return next((rule for prefix, rule in TAG_RULES.items() if tag.startswith(prefix)), None)


def _matches(obj: K8sObject, entry: dict[str, Any]) -> bool:
    file = obj.location.file if obj.location else ""
    if not file.endswith(entry["file"]):
        return False
    kind, _, rest = entry["resource"].partition(".")
    kind = kind.split(" ")[0]
    name = rest.rpartition(".")[2] if rest else ""
    return obj.ref.kind == kind and (not name or obj.ref.name == name)


def judge(inventory: Inventory) -> Callable[[str, K8sObject], list[Violation]]:
    """Run one rule on one object as the engine would (configured by the default policy)."""
    checks = {
        rule_id: RULES_BY_ID[rule_id].configured(RunPolicy()).check for rule_id in FAMILY_RULES
    }

    def run(rule_id: str, obj: K8sObject) -> list[Violation]:
        check = checks[rule_id]
        if check is None or obj.ref.kind not in RULES_BY_ID[rule_id].meta.kinds:
            return []
        return list(check(obj, inventory))

    return run


def goat_results(root: Path) -> tuple[list[tuple[str, str, bool]], dict[str, list[str]]]:
    """(resource, tag, found) per tag of these families, and every rule of these families that
    fires on each labelled resource (for the extra-findings table in docs/accuracy.md)."""
    entries = json.loads((root / "expected.json").read_text(encoding="utf-8"))["manifest_findings"]
    objects = load_objects([root / "scenarios", root / "infrastructure"])
    inventory = Inventory(objects)
    namespaces = {
        ns.ref.name: ns for ns in inventory.evaluation_order() if ns.ref.kind == "Namespace"
    }
    run = judge(inventory)
    results: list[tuple[str, str, bool]] = []
    fired: dict[str, list[str]] = {}
    for entry in entries:
        matching = [obj for obj in objects if _matches(obj, entry)]
        assert len(matching) == 1, f"{entry['resource']} in {entry['file']}: {len(matching)}"
        obj = matching[0]
        fired[entry["resource"]] = [rule for rule in FAMILY_RULES if run(rule, obj)]
        for tag in entry["tags"]:
            rule_id = rule_for(tag)
            if rule_id is None:
                continue
            hit = bool(run(rule_id, obj))
            if rule_id == "service-exposed":
                hit = any(("exposure", "NodePort") in v.evidence for v in run(rule_id, obj))
            if tag.startswith("no NetworkPolicy"):
                namespace = namespaces.get(effective_namespace(obj.ref.namespace))
                hit = hit and namespace is not None
                hit = hit and bool(run("namespace-without-network-policy", namespace))  # type: ignore[arg-type]
            results.append((entry["resource"], tag, hit))
    return results, fired


@pytest.fixture(scope="module")
def results(corpus: Path) -> list[tuple[str, str, bool]]:
    root = corpus / "goat"
    if not (root / "expected.json").is_file():
        pytest.skip(f"Kubernetes Goat corpus not found under {root}")
    return goat_results(root)[0]


def test_recall_is_complete(results: list[tuple[str, str, bool]]) -> None:
    missed = [(resource, tag) for resource, tag, hit in results if not hit]
    assert len(results) >= 30
    assert not missed, f"tags kposture missed: {missed}"


def test_every_tag_kind_is_covered(results: list[tuple[str, str, bool]]) -> None:
    assert {rule_for(tag) for _, tag, _ in results} == set(TAG_RULES.values())

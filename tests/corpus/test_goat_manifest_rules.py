"""Recall of the service-account, image and network rules on Kubernetes Goat's labelled findings.

For every resource in ``goat/expected.json`` ``manifest_findings`` and every tag of these families
(default namespace, mutable image tag, token automount, NodePort Service, binding to a default
ServiceAccount, no NetworkPolicy in the namespace), the corresponding kposture rule must fire on
that resource — for the namespace tag, on the resource's Namespace (declared or implied) and on
the workload itself. Recall must be 100%. Rules run as the engine runs them over the whole Goat
tree as one inventory; both Helm charts are rendered by the sources loader.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from corpus.goat_harness import (
    TagResult,
    assert_recall_complete,
    goat_entries,
    goat_objects,
    goat_root,
    labelled_object,
)
from kposture.inventory import Inventory, effective_namespace
from kposture.model import K8sObject, RunPolicy, Violation
from support import RULES_BY_ID

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


def goat_results(root: Path) -> tuple[list[TagResult], dict[str, list[str]]]:
    """(resource, tag, found) per tag of these families, and every rule of these families that
    fires on each labelled resource (for the extra-findings table in docs/accuracy.md)."""
    entries = goat_entries(root)
    objects = goat_objects(root)
    inventory = Inventory(objects)
    namespaces = {
        ns.ref.name: ns for ns in inventory.evaluation_order() if ns.ref.kind == "Namespace"
    }
    run = judge(inventory)
    results: list[TagResult] = []
    fired: dict[str, list[str]] = {}
    for entry in entries:
        obj = labelled_object(objects, entry)
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
def results(corpus: Path) -> list[TagResult]:
    return goat_results(goat_root(corpus))[0]


def test_recall_is_complete(results: list[TagResult]) -> None:
    assert len(results) >= 30
    assert_recall_complete(results, "tags")


def test_every_tag_kind_is_covered(results: list[TagResult]) -> None:
    assert {rule_for(tag) for _, tag, _ in results} == set(TAG_RULES.values())

"""Tooling posture and GitOps drift rules, and their place in the maturity view."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kposture.engine.evaluating import evaluate
from kposture.engine.registry import Registry
from kposture.inventory import Inventory
from kposture.model import BLOCKS_STAGE, NOT_OBSERVABLE, RunPolicy, Severity
from kposture.reports.assessment import rule_runs
from kposture.reports.maturity import StageStatus, assess_maturity
from kposture.rules import builtin_rules
from support import load_objects, objects_from_text, violations

FIXTURES = Path(__file__).resolve().parents[2] / "rules" / "fixtures"
ABSENT = (
    "policy-engine-absent",
    "logging-agent-absent",
    "runtime-detection-absent",
    "gitops-operator-absent",
    "external-secret-store-absent",
)


def test_a_bare_cluster_lacks_every_tool_once_on_the_anchor() -> None:
    objs = load_objects([FIXTURES / "policy-engine-absent" / "fail-bare-cluster.yaml"])
    for rule_id in ABSENT:
        (found,) = violations(rule_id, objs)
        assert found.message.startswith("no ") and "looked for" in found.message


def test_manual_change_names_manager_and_time() -> None:
    path = FIXTURES / "manual-change" / "fail-kubectl-edit-in-argo-namespace.yaml"
    (found,) = violations("manual-change", load_objects([path]))
    assert "kubectl-edit" in found.message and "2024-05-02T17:42:00Z" in found.message
    assert "Argo CD" in found.message
    assert found.path == ("metadata", "managedFields", 2, "manager")


def test_server_side_kubectl_counts_as_a_human() -> None:
    objs = objects_from_text(
        """
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  labels: {kustomize.toolkit.fluxcd.io/name: shop}
  managedFields:
  - {manager: kubectl, operation: Apply, time: "2024-05-02T00:00:00Z"}
"""
    )
    (found,) = violations("manual-change", objs)
    assert "Flux" in found.message


def _maturity(paths: list[Path]) -> dict[str, object]:
    registry = Registry(builtin_rules())
    inventory = Inventory(load_objects(paths))
    result = evaluate(inventory, registry, RunPolicy(), dt.date(2024, 6, 1))
    metas = {rule.id: rule.meta for rule in registry}
    kinds = {obj.ref.kind for obj in inventory.evaluation_order()}
    runs = rule_runs(
        metas.values(), enabled=result.rule_ids_run, kinds=kinds, findings=result.findings
    )
    return {d.domain.value: d for d in assess_maturity(result, metas, runs)}


def test_missing_tools_block_their_domains_in_the_maturity_view() -> None:
    domains = _maturity([FIXTURES / "policy-engine-absent" / "fail-bare-cluster.yaml"])
    admission = domains["admission-control"]
    assert admission.level == "none"  # type: ignore[attr-defined]
    assert "policy-engine-absent" in admission.stages[0].failing  # type: ignore[attr-defined]
    gitops = domains["gitops"]
    walk = gitops.stages[1]  # type: ignore[attr-defined]
    assert walk.status is StageStatus.FAILED and "gitops-operator-absent" in walk.failing
    logging = domains["cluster-logging"]
    # Control plane not observable: crawl is unverified, never passed.
    assert logging.stages[0].status is StageStatus.UNVERIFIED  # type: ignore[attr-defined]
    assert logging.level == "none"  # type: ignore[attr-defined]


def test_application_repositories_leave_cluster_domains_not_assessed(corpus: Path) -> None:
    domains = _maturity([corpus / "goat" / "scenarios"])
    for name in ("control-plane-access", "authentication", "cluster-logging", "gitops"):
        assert domains[name].level == "not-assessed", name  # type: ignore[attr-defined]


FACTS = "apiVersion: kposture.io/v1\nkind: ClusterFacts\nmetadata: {name: cluster}\n"
FLUENT_BIT = """
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: fluent-bit, namespace: logging}
spec:
  template:
    spec:
      containers: [{name: fluent-bit, image: fluent/fluent-bit:3.1}]
"""


def test_a_namespace_limited_listing_makes_absence_not_observable() -> None:
    objs = objects_from_text(FACTS + "listing: {namespaces: [default], unlisted: []}\n")
    for rule_id in ABSENT:
        (found,) = violations(rule_id, objs)
        assert found.severity is Severity.INFO and NOT_OBSERVABLE in found.evidence, rule_id
        assert found.message.startswith("not observable") and "default" in found.message
        assert BLOCKS_STAGE not in found.evidence


def test_unlisted_kinds_make_only_the_rules_needing_them_not_observable() -> None:
    objs = objects_from_text(FACTS + "listing: {namespaces: null, unlisted: [DaemonSet, Secret]}\n")
    (logging,) = violations("logging-agent-absent", objs)
    assert NOT_OBSERVABLE in logging.evidence and "DaemonSet" in logging.message
    assert "Secret" not in logging.message
    # A user who may list nothing: every absence claim is unobservable, none at medium.
    nothing = "listing: {namespaces: null, unlisted: [DaemonSet, Deployment, StatefulSet, \
CustomResourceDefinition, ValidatingWebhookConfiguration, MutatingWebhookConfiguration, Namespace]}\n"
    for rule_id in ABSENT:
        (found,) = violations(rule_id, objects_from_text(FACTS + nothing))
        assert found.severity is Severity.INFO and NOT_OBSERVABLE in found.evidence, rule_id


def test_a_tool_found_in_a_partial_listing_still_counts() -> None:
    objs = objects_from_text(FACTS + "listing: {namespaces: [logging]}\n" + FLUENT_BIT)
    assert violations("logging-agent-absent", objs) == []


def test_a_full_listing_still_reports_absence() -> None:
    objs = objects_from_text(FACTS + "listing: {namespaces: null, unlisted: [Secret]}\n")
    (found,) = violations("logging-agent-absent", objs)
    assert found.severity is None and NOT_OBSERVABLE not in found.evidence
    assert found.message.startswith("no log-shipping DaemonSet")

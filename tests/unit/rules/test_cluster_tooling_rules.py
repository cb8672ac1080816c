"""Tooling posture and GitOps drift rules, and their place in the maturity view."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kposture.engine.evaluating import evaluate
from kposture.engine.registry import Registry
from kposture.inventory import Inventory
from kposture.model import RunPolicy
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

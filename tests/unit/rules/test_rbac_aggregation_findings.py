"""A PolicyRule a ClusterRole holds through aggregation is reported once, on the role that states
it (the source role), not again on every ClusterRole that aggregates it (``view``, ``edit``,
``admin``, a user's aggregated role); an aggregating role's own rules are still judged on it, and
so are rules a user's role pulls in from Kubernetes' defaults (their source is capped at info)."""

from __future__ import annotations

from pathlib import Path

from kposture.model import K8sObject, Severity
from support import RULES_BY_ID, load_objects, objects_from_text, violations

ROLE_RULES = [
    rule_id
    for rule_id, rule in RULES_BY_ID.items()
    if rule.meta.domain.value == "rbac" and "ClusterRole" in rule.meta.kinds
]

SOURCE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: crd-editor
  labels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
- {apiGroups: [""], resources: [pods/exec], verbs: [create]}
"""

AGGREGATOR = """
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: team-edit}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
- {apiGroups: [""], resources: [serviceaccounts/token], verbs: [create]}
"""


def _by_role(objects: list[K8sObject], rule_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for rule_id in rule_ids:
        for violation in violations(rule_id, objects):
            if violation.severity is not Severity.INFO:
                role = violation.message.split(" ", 1)[0]
                found.setdefault(role, []).append(rule_id)
    return found


def test_aggregated_rule_is_reported_on_its_source_only() -> None:
    found = _by_role(objects_from_text(SOURCE + AGGREGATOR), ROLE_RULES)
    assert sorted(found["ClusterRole/crd-editor"]) == ["rbac-pod-exec", "rbac-secrets-read"]
    # team-edit's inline copy of the secrets rule comes from aggregation; its own token rule stays
    assert found["ClusterRole/team-edit"] == ["rbac-token-create"]


def test_bootstrap_edit_and_admin_do_not_repeat_a_user_rule_aggregated_into_them(
    corpus: Path,
) -> None:
    bootstrap = load_objects([corpus / "rbac" / "kubernetes-bootstrap" / "cluster-roles.yaml"])
    objects = [*bootstrap, *objects_from_text(SOURCE)]
    found = _by_role(objects, ROLE_RULES)
    assert found == {"ClusterRole/crd-editor": ["rbac-secrets-read", "rbac-pod-exec"]}


def test_bootstrap_aggregate_to_edit_rules_are_reported_once() -> None:
    text = (
        SOURCE.replace("crd-editor", "system:aggregate-to-edit").replace(
            "labels: {", "labels: {kubernetes.io/bootstrapping: rbac-defaults, "
        )
    ) + AGGREGATOR.replace("team-edit", "edit").replace(
        "metadata: {name: edit}",
        "metadata: {name: edit, labels: {kubernetes.io/bootstrapping: rbac-defaults}}",
    )
    objects = objects_from_text(text)
    for rule_id in ("rbac-secrets-read", "rbac-pod-exec"):
        found = [v.message for v in violations(rule_id, objects)]
        assert len(found) == 1, found
        assert found[0].startswith("ClusterRole/system:aggregate-to-edit rules[")


def test_default_rules_pulled_into_a_user_role_are_judged_on_it() -> None:
    default_source = SOURCE.replace(
        "labels: {", "labels: {kubernetes.io/bootstrapping: rbac-defaults, "
    ).replace("crd-editor", "system:aggregate-to-edit")
    objects = objects_from_text(default_source + AGGREGATOR)
    found = _by_role(objects, ROLE_RULES)
    assert sorted(found["ClusterRole/team-edit"]) == [
        "rbac-pod-exec",
        "rbac-secrets-read",
        "rbac-token-create",
    ]
    assert "ClusterRole/system:aggregate-to-edit" not in found

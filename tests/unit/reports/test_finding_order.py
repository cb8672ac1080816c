"""One object's findings come in one order whether it was read from a manifest (lines) or from a
live cluster (no lines): the live scan follows the findings' paths, as the manifest's lines run
(issue 5: a ClusterRole listed rbac-secrets-read first live, rbac-webhook-modify first from its
file)."""

from __future__ import annotations

from kposture.model import Finding, Location, ResourceRef, Severity
from kposture.reports.grouping import group_by_resource, sort_findings
from unit.reports.conftest import finding

ROLE = ResourceRef("rbac.authorization.k8s.io/v1", "ClusterRole", "", "ops")
OTHER = ResourceRef("rbac.authorization.k8s.io/v1", "ClusterRole", "", "audit")

# (rule id, path, manifest line): the role's rules in the order the manifest writes them
RULES_OF_ROLE = [
    ("rbac-webhook-modify", "rules[0]", 8),
    ("rbac-secrets-read", "rules[1]", 12),
    ("rbac-pod-exec", "rules[2]", 16),
    ("rbac-nodes-proxy", "rules[10]", 40),
]


def _findings(live: bool, snapshot: bool = False) -> list[Finding]:
    """The role's findings from its manifest, from a live cluster (no lines), or from a snapshot
    (every object on one line)."""
    file = "cluster:prod" if live else "snap.json" if snapshot else "rbac/ops.yaml"
    return [
        finding(
            rule_id,
            ROLE,
            Location(file, 0 if live else 3 if snapshot else line, 0, path),
            severity=Severity.HIGH,
        )
        for rule_id, path, line in RULES_OF_ROLE
    ]


def _order(findings: list[Finding]) -> list[str]:
    return [f.rule_id for f in sort_findings(reversed(findings))]


def test_a_live_object_s_findings_follow_their_paths_as_its_manifest_s_lines() -> None:
    expected = [rule_id for rule_id, _, _ in RULES_OF_ROLE]
    assert _order(_findings(live=False)) == expected
    assert _order(_findings(live=True)) == expected  # rules[10] after rules[2], not before
    assert _order(_findings(live=False, snapshot=True)) == expected


def test_live_findings_are_grouped_by_object_not_interleaved_by_rule_id() -> None:
    other = finding(
        "rbac-pod-exec", OTHER, Location("cluster:prod", 0, 0, "rules[0]"), severity=Severity.HIGH
    )
    groups = group_by_resource([*_findings(live=True), other])
    assert [g.resource.name for g in groups] == ["audit", "ops"]
    assert [f.rule_id for f in groups[1].findings] == [r for r, _, _ in RULES_OF_ROLE]

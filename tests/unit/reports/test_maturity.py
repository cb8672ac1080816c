"""The crawl / walk / run maturity view over hand-built results."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from rich.console import Console

from kposture.model import (
    Domain,
    Finding,
    Location,
    ResourceRef,
    RuleMeta,
    ScanResult,
    Severity,
    Stage,
    Suppression,
)
from kposture.reports import ReportContext
from kposture.reports.assessment import RuleRun
from kposture.reports.markdown import escape
from kposture.reports.maturity import (
    MAX_BLOCKERS,
    StageStatus,
    assess_maturity,
    maturity_to_dict,
    render_maturity_markdown,
    render_maturity_table,
)
from kposture.reports.views import ReportViews, render_json_views

POD = ResourceRef("v1", "Pod", "shop", "web")


def rule(rule_id: str, stage: Stage, domain: Domain = Domain.WORKLOAD_PRIVILEGES) -> RuleMeta:
    return RuleMeta(
        id=rule_id,
        title=f"Title of {rule_id}",
        severity=Severity.MEDIUM,
        domain=domain,
        stage=stage,
        kinds=("Pod",),
        remediation="Fix it.",
        description="Why.",
        references=(),
    )


CRAWL_A = rule("crawl-a", Stage.CRAWL)
CRAWL_B = rule("crawl-b", Stage.CRAWL)
WALK_A = rule("walk-a", Stage.WALK)
RUN_A = rule("run-a", Stage.RUN)
RBAC_CRAWL = rule("rbac-crawl", Stage.CRAWL, Domain.RBAC)
RULES = {m.id: m for m in (CRAWL_A, CRAWL_B, WALK_A, RUN_A, RBAC_CRAWL)}


def finding(
    meta: RuleMeta, line: int, severity: Severity = Severity.MEDIUM, *, suppressed: bool = False
) -> Finding:
    return Finding(
        rule_id=meta.id,
        title=meta.title,
        severity=severity,
        domain=meta.domain,
        stage=meta.stage,
        message=f"{meta.id} at {line}",
        resource=POD,
        location=Location("pod.yaml", line, 1, "spec"),
        references=(),
        remediation="Fix it.",
        fingerprint=f"fp-{meta.id}-{line}",
        suppressed_by=Suppression("annotation", "ok") if suppressed else None,
    )


RAN_ALL = dict.fromkeys(("crawl-a", "crawl-b", "walk-a", "run-a"), RuleRun.RAN) | {
    "rbac-crawl": RuleRun.NOT_APPLICABLE
}


def domains(result: ScanResult, runs: dict[str, RuleRun] | None = RAN_ALL) -> dict[Domain, Any]:
    return {d.domain: d for d in assess_maturity(result, RULES, runs)}


def test_clean_scan_reaches_run_and_unjudged_domains_are_not_assessed() -> None:
    view = domains(ScanResult(findings=()))
    workload = view[Domain.WORKLOAD_PRIVILEGES]
    assert workload.level == "run"
    assert workload.next_stage is None
    assert view[Domain.RBAC].level == "not-assessed"
    assert view[Domain.SECRETS].level == "not-assessed"


def test_walk_finding_stops_at_crawl_and_blocks_walk() -> None:
    view = domains(ScanResult(findings=(finding(WALK_A, 7),)))
    workload = view[Domain.WORKLOAD_PRIVILEGES]
    assert workload.level == "crawl"
    assert workload.next_stage is not None and workload.next_stage.stage is Stage.WALK
    assert [f.fingerprint for f in workload.blockers] == ["fp-walk-a-7"]


def test_crawl_failure_means_no_stage_and_blockers_are_worst_first_capped() -> None:
    findings = (
        *(finding(CRAWL_A, line) for line in range(1, 8)),
        finding(CRAWL_B, 50, Severity.CRITICAL),
        finding(CRAWL_B, 60, suppressed=True),
    )
    workload = domains(ScanResult(findings=findings))[Domain.WORKLOAD_PRIVILEGES]
    assert workload.level == "none"
    crawl = workload.stages[0]
    assert crawl.status is StageStatus.FAILED
    assert crawl.failing == ("crawl-a", "crawl-b")
    assert len(workload.blockers) == MAX_BLOCKERS
    assert workload.blockers[0].fingerprint == "fp-crawl-b-50"
    assert [f.location.line for f in workload.blockers[1:] if f.location] == [1, 2, 3, 4]


def test_suppressed_findings_do_not_block() -> None:
    view = domains(ScanResult(findings=(finding(CRAWL_A, 3, suppressed=True),)))
    assert view[Domain.WORKLOAD_PRIVILEGES].level == "run"


def test_skipped_rules_leave_a_stage_unverified() -> None:
    runs = RAN_ALL | {"walk-a": RuleRun.SKIPPED}
    workload = domains(ScanResult(findings=()), runs)[Domain.WORKLOAD_PRIVILEGES]
    assert workload.level == "crawl"
    walk = workload.stages[1]
    assert walk.status is StageStatus.UNVERIFIED
    assert walk.skipped == ("walk-a",)


def test_stage_with_nothing_to_judge_is_not_assessed_and_stops_progress() -> None:
    runs = RAN_ALL | {"walk-a": RuleRun.NOT_APPLICABLE}
    workload = domains(ScanResult(findings=()), runs)[Domain.WORKLOAD_PRIVILEGES]
    assert workload.level == "crawl"
    assert workload.stages[1].status is StageStatus.NOT_ASSESSED
    assert workload.stages[2].status is StageStatus.PASSED


def test_without_run_information_every_rule_counts_as_run() -> None:
    view = domains(ScanResult(findings=()), None)
    assert view[Domain.RBAC].level == "crawl"


def test_json_block_validates(scan_schema: dict[str, Any]) -> None:
    result = ScanResult(findings=(finding(WALK_A, 7),), scanned_at="2026-11-26T15:00:00Z")
    views = ReportViews(maturity=assess_maturity(result, RULES, RAN_ALL))
    document = json.loads(render_json_views(result, ReportContext("0.1.0", RULES), views))
    jsonschema.Draft202012Validator(scan_schema).validate(document)
    block = document["maturity"]
    assert block["summary"]["crawl"] == 1
    assert block["summary"]["not-assessed"] == len(Domain) - 1
    workload = next(d for d in block["domains"] if d["domain"] == "workload-privileges")
    assert workload["level"] == "crawl"
    assert workload["next_stage"] == "walk"
    assert workload["blockers"] == [
        {
            "rule_id": "walk-a",
            "severity": "medium",
            "message": "walk-a at 7",
            "resource": "Pod/shop/web",
            "location": "pod.yaml:7",
            "fingerprint": "fp-walk-a-7",
        }
    ]
    assert maturity_to_dict(views.maturity or ())["domains"][0]["domain"] == "control-plane-access"


def test_table_and_markdown_show_levels_and_blockers() -> None:
    result = ScanResult(findings=(finding(CRAWL_A, 9, Severity.HIGH),))
    view = assess_maturity(result, RULES, RAN_ALL)
    console = Console(record=True, width=100, color_system=None)
    render_maturity_table(view, console)
    text = console.export_text()
    assert "workload-privileges" in text and "crawl: 1 finding(s) in 1 rule(s)" in text
    assert "[high] crawl-a pod.yaml:9: crawl-a at 9" in text
    lines = render_maturity_markdown(view, escape)
    row = next(line for line in lines if line.startswith("| workload-privileges |"))
    assert "| none |" in row and "pod.yaml:9" in row
    assert any(line.startswith("| rbac | not-assessed |") for line in lines)


def test_info_findings_do_not_block_a_stage() -> None:
    view = domains(ScanResult(findings=(finding(CRAWL_A, 3, Severity.INFO),)))
    assert view[Domain.WORKLOAD_PRIVILEGES].level == "run"

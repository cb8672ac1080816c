"""Framework catalogues, coverage and the per-control view, in every output format."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rich.console import Console

from kposture.engine.evaluating import evaluate
from kposture.engine.registry import Registry
from kposture.inventory import Inventory
from kposture.model import (
    NOT_OBSERVABLE,
    Domain,
    Finding,
    Framework,
    Location,
    Reference,
    ResourceRef,
    RuleMeta,
    RunPolicy,
    ScanResult,
    Severity,
    Stage,
    Suppression,
    controls_evidence,
)
from kposture.reports import ReportContext
from kposture.reports.assessment import RuleRun, narrowed_controls, rule_runs
from kposture.reports.frameworks import (
    CATALOGUES,
    FRAMEWORK_KEYS,
    ControlStatus,
    coverage,
    coverage_percent,
    coverage_to_dict,
    expand_reference_id,
    framework_view,
    view_to_dict,
)
from kposture.reports.views import (
    ReportViews,
    junit_views_tree,
    render_framework_table,
    render_json_views,
    render_markdown_views,
    sarif_views_log,
)
from kposture.rules import builtin_rules
from support import load_objects

WEB = ResourceRef("apps/v1", "Deployment", "shop", "web")


def rule(rule_id: str, *refs: Reference, stage: Stage = Stage.CRAWL) -> RuleMeta:
    return RuleMeta(
        id=rule_id,
        title=f"Title of {rule_id}",
        severity=Severity.HIGH,
        domain=Domain.WORKLOAD_PRIVILEGES,
        stage=stage,
        kinds=("Deployment",),
        remediation=f"Fix {rule_id}.",
        description=f"Why {rule_id} matters.",
        references=refs,
    )


def cis(control_id: str) -> Reference:
    return Reference(Framework.CIS, control_id)


def finding(meta: RuleMeta, line: int, *, suppressed: bool = False) -> Finding:
    return Finding(
        rule_id=meta.id,
        title=meta.title,
        severity=meta.severity,
        domain=meta.domain,
        stage=meta.stage,
        message=f"{meta.id} fails",
        resource=WEB,
        location=Location("deploy/web.yaml", line, 3, "spec"),
        references=meta.references,
        remediation=meta.remediation,
        fingerprint=f"fp-{meta.id}-{line}",
        suppressed_by=Suppression("policy", "accepted") if suppressed else None,
    )


PRIVILEGED = rule(
    "privileged-container",
    cis("5.2.2"),
    Reference(Framework.PSS, "baseline"),
    Reference(Framework.MITRE, "T1611"),
)
HOST_IPC = rule("host-ipc", cis("5.2.4"), Reference(Framework.PSS, "baseline"))
AUTHZ = rule("api-server-authorization-unsafe", cis("1.2.6-1.2.8"))
SECRETS_READ = rule("rbac-secrets-read", cis("5.1.2"), Reference(Framework.MITRE, "T1552.007"))
CUSTOM = rule("custom-check", cis("9.9.9"), Reference(Framework.PSS, "restricted"))
RULES = {m.id: m for m in (PRIVILEGED, HOST_IPC, AUTHZ, SECRETS_READ, CUSTOM)}


def scan() -> ScanResult:
    return ScanResult(
        findings=(
            finding(PRIVILEGED, 12),
            finding(SECRETS_READ, 30, suppressed=True),
        ),
        scanned_at="2026-11-26T15:00:00Z",
    )


def rows_by_id(key: str, metas: list[RuleMeta]) -> dict[str, tuple[str, ...]]:
    return {row.control.id: row.rules for row in coverage(CATALOGUES[key], metas)}


# --- catalogues ------------------------------------------------------------------------------------


def test_catalogues_have_unique_ids_and_titles() -> None:
    for catalogue in CATALOGUES.values():
        ids = [c.id for c in catalogue.controls]
        assert len(ids) == len(set(ids)), catalogue.key
        assert all(c.title for c in catalogue.controls)
    assert set(FRAMEWORK_KEYS) == {"cis", "nsa", "pss-baseline", "pss-restricted", "owasp", "mitre"}


def test_cis_covers_every_section_of_the_benchmark() -> None:
    ids = [c.id for c in CATALOGUES["cis"].controls]
    assert {i.split(".")[0] for i in ids} == {"1", "2", "3", "4", "5"}
    assert len(ids) == 130
    for expected in ("1.1.1", "1.2.29", "1.3.7", "1.4.2", "2.7", "3.2.2", "4.2.13", "5.7.4"):
        assert expected in ids


def test_owasp_mitre_and_pss_catalogues() -> None:
    assert [c.id for c in CATALOGUES["owasp"].controls] == [f"K{n:02}" for n in range(1, 11)]
    mitre = {c.id: c for c in CATALOGUES["mitre"].controls}
    for technique in ("T1609", "T1610", "T1611", "T1613", "T1552.007", "T1525", "T1053.007"):
        assert technique in mitre
    assert mitre["T1552.007"].parent == "T1552"
    baseline = [c.id for c in CATALOGUES["pss-baseline"].controls]
    assert len(baseline) == 11 and "HostProcess" in baseline and "Sysctls" in baseline
    restricted = [c.id for c in CATALOGUES["pss-restricted"].controls]
    assert restricted[:11] == baseline and "Volume Types" in restricted


def test_schema_lists_every_framework_key(scan_schema: dict[str, Any]) -> None:
    keys = scan_schema["$defs"]["framework"]["properties"]["id"]["enum"]
    assert keys == list(FRAMEWORK_KEYS)


@pytest.mark.parametrize(
    ("ref_id", "expected"),
    [
        ("5.2.2", ("5.2.2",)),
        ("1.2.6-1.2.8", ("1.2.6", "1.2.7", "1.2.8")),
        ("4.2.1-4", ("4.2.1", "4.2.2", "4.2.3", "4.2.4")),
        ("1.2.27/1.2.28", ("1.2.27", "1.2.28")),
        ("3.2.1, 1.2.16", ("3.2.1", "1.2.16")),
        ("1.4.x", ("1.4.1", "1.4.2")),
        ("8-1", ("8-1",)),
    ],
)
def test_expand_reference_id(ref_id: str, expected: tuple[str, ...]) -> None:
    known = [c.id for c in CATALOGUES["cis"].controls]
    assert expand_reference_id(ref_id, known) == expected


# --- coverage --------------------------------------------------------------------------------------


def test_coverage_matches_references_ranges_and_extras() -> None:
    rows = rows_by_id("cis", list(RULES.values()))
    assert rows["5.2.2"] == ("privileged-container",)
    assert rows["1.2.7"] == ("api-server-authorization-unsafe",)
    assert rows["5.1.1"] == ()
    assert rows["9.9.9"] == ("custom-check",)  # cited but not in the catalogue: kept, marked
    extra = [r for r in coverage(CATALOGUES["cis"], RULES.values()) if r.control.id == "9.9.9"]
    assert not extra[0].control.in_catalogue


def test_sub_techniques_cover_their_parent_but_not_the_reverse() -> None:
    parent_only = rule("parent-only", Reference(Framework.MITRE, "T1053"))
    rows = rows_by_id("mitre", [SECRETS_READ, parent_only])
    assert rows["T1552.007"] == ("rbac-secrets-read",)
    assert rows["T1552"] == ("rbac-secrets-read",)
    assert rows["T1053"] == ("parent-only",)
    assert rows["T1053.007"] == ()


def test_nsa_sections_roll_up_and_aliases_match() -> None:
    rootless = rule("rootless", Reference(Framework.NSA_CISA, "non-root  containers"))
    section = rule("section", Reference(Framework.NSA_CISA, "Kubernetes Pod security"))
    rows = rows_by_id("nsa", [rootless, section])
    assert rows["Non-root containers"] == ("rootless",)
    assert rows["Pod security"] == ("rootless", "section")
    assert rows["Network policies"] == ()


def test_pss_maps_controls_to_existing_rules_and_keeps_unmapped_level_rules() -> None:
    baseline = rows_by_id("pss-baseline", list(RULES.values()))
    assert baseline["Privileged Containers"] == ("privileged-container",)
    assert baseline["Host Namespaces"] == ("host-ipc",)  # host-pid/host-network are absent here
    assert baseline["HostProcess"] == ()
    assert "other" not in baseline  # custom-check cites restricted, not baseline
    restricted = rows_by_id("pss-restricted", list(RULES.values()))
    assert restricted["other"] == ("custom-check",)


def test_coverage_percent_and_json() -> None:
    rows = coverage(CATALOGUES["owasp"], [rule("a", Reference(Framework.OWASP, "K01"))])
    assert coverage_percent(rows) == 10.0
    document = coverage_to_dict(CATALOGUES["owasp"], rows)
    assert document["summary"] == {
        "controls": 10,
        "covered": 1,
        "not_covered": 9,
        "extra_controls": 0,
        "coverage_percent": 10.0,
    }
    assert document["controls"][1] == {
        "id": "K02",
        "title": "Supply Chain Vulnerabilities",
        "group": "Top 10",
        "in_catalogue": True,
        "covered": False,
        "rules": [],
    }


def test_every_builtin_reference_names_a_catalogue_control() -> None:
    """Rules and catalogues agree: a reference that matches no control is a typo or a gap in the
    catalogue (fix one or the other)."""
    from kposture.rules import builtin_rules

    metas = [r.meta for r in builtin_rules()]
    for key, catalogue in CATALOGUES.items():
        extras = [
            (row.control.id, row.rules)
            for row in coverage(catalogue, metas)
            if not row.control.in_catalogue
        ]
        assert not extras, f"{key}: references outside the catalogue: {extras}"


# --- the view --------------------------------------------------------------------------------------


def test_view_statuses() -> None:
    view = framework_view(CATALOGUES["cis"], scan(), RULES)
    status = {r.control.id: r for r in view.controls}
    assert status["5.2.2"].status is ControlStatus.FAIL
    assert [f.fingerprint for f in status["5.2.2"].findings] == ["fp-privileged-container-12"]
    assert status["5.2.4"].status is ControlStatus.PASS
    assert status["5.1.2"].status is ControlStatus.PASS  # its only finding is suppressed
    assert status["5.1.2"].suppressed == 1
    assert status["5.1.1"].status is ControlStatus.NOT_COVERED
    assert view.counts[ControlStatus.FAIL] == 1


def test_rules_that_did_not_run_leave_controls_not_assessed() -> None:
    runs = rule_runs(
        RULES.values(),
        enabled={"privileged-container"},
        kinds={"Deployment"},
        findings=scan().findings,
    )
    assert runs["host-ipc"] is RuleRun.SKIPPED
    view = framework_view(CATALOGUES["cis"], scan(), RULES, runs)
    status = {r.control.id: r for r in view.controls}
    assert status["5.2.4"].status is ControlStatus.NOT_ASSESSED
    assert status["5.2.4"].not_run == ("host-ipc",)
    not_applicable = rule_runs(RULES.values(), enabled=set(RULES), kinds={"ConfigMap"})
    assert set(not_applicable.values()) == {RuleRun.NOT_APPLICABLE}


def _ctx() -> ReportContext:
    return ReportContext(tool_version="0.1.0", rules=RULES)


def _views(key: str = "cis") -> ReportViews:
    return ReportViews(framework=framework_view(CATALOGUES[key], scan(), RULES))


def test_json_block_validates_and_lists_not_covered_controls(scan_schema: dict[str, Any]) -> None:
    document = json.loads(render_json_views(scan(), _ctx(), _views()))
    jsonschema.Draft202012Validator(
        scan_schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)
    block = document["framework"]
    assert block["id"] == "cis"
    assert block["summary"]["failed"] == 1
    assert block["summary"]["controls"] == 130
    controls = {c["id"]: c for c in block["controls"]}
    assert controls["5.1.1"]["status"] == "not-covered"
    assert controls["5.2.2"]["findings"] == ["fp-privileged-container-12"]
    assert controls["9.9.9"]["in_catalogue"] is False
    assert list(document)[:7] == [
        "schema",
        "tool",
        "scanned_at",
        "inputs",
        "summary",
        "findings",
        "errors",
    ]


def test_view_dict_round_trips_through_json() -> None:
    view = framework_view(CATALOGUES["owasp"], scan(), RULES)
    assert json.loads(json.dumps(view_to_dict(view)))["summary"]["not_covered"] == 10


def test_sarif_taxonomy_is_schema_valid(sarif_schema: dict[str, Any]) -> None:
    log = sarif_views_log(scan(), _ctx(), _views("mitre"))
    jsonschema.Draft4Validator(
        sarif_schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    ).validate(log)
    run = log["runs"][0]
    taxa = run["taxonomies"][0]["taxa"]
    index = {t["id"]: i for i, t in enumerate(taxa)}
    descriptor = next(d for d in run["tool"]["driver"]["rules"] if d["id"] == "rbac-secrets-read")
    targets = {rel["target"]["id"]: rel["target"]["index"] for rel in descriptor["relationships"]}
    assert targets == {"T1552": index["T1552"], "T1552.007": index["T1552.007"]}
    assert taxa[index["T1609"]]["properties"]["status"] == "not-covered"


def test_junit_has_a_suite_per_control() -> None:
    root = junit_views_tree(scan(), _ctx(), _views())
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    controls = {name: suite for name, suite in suites.items() if name and name.startswith("cis ")}
    assert len(controls) == 131  # 130 controls and the extra 9.9.9
    # The framework adds to the report: the standard per-rule suites are still there.
    assert "kposture.privileged-container" in suites
    failing = suites["cis 5.2.2"]
    assert failing.get("failures") == "1"
    case = failing.find("testcase")
    assert case is not None and case.get("file") == "deploy/web.yaml"
    not_covered = suites["cis 5.1.1"].find("testcase/skipped")
    assert not_covered is not None and "not covered" in (not_covered.get("message") or "")
    assert suites["cis 5.1.2"].get("skipped") == "1"  # its finding is suppressed
    # One failing finding, counted in its rule's suite and in its control's suite.
    assert root.get("failures") == "2"
    ET.fromstring(ET.tostring(root))


def test_markdown_has_a_control_table() -> None:
    text = render_markdown_views(scan(), _ctx(), _views())
    assert "### CIS Kubernetes Benchmark 1.9" in text
    row = next(line for line in text.splitlines() if line.startswith("| 5.1.1 |"))
    assert "not covered" in row
    row = next(line for line in text.splitlines() if line.startswith("| 5.2.2 |"))
    assert "❌ fail" in row and "deploy/web.yaml:12" in row
    assert text.rstrip().endswith("<sub>kposture 0.1.0 · policy: built-in defaults</sub>")


def test_table_lists_every_control_with_status() -> None:
    console = Console(record=True, width=80, color_system=None)
    render_framework_table(_views().framework or pytest.fail("no view"), console)
    text = console.export_text()
    assert "fail         5.2.2" in text
    assert "not-covered  5.1.1" in text
    assert "at: deploy/web.yaml:12" in text
    assert "* cited by a rule but not in the catalogue" in text
    assert "130 controls: 1 failed, 5 passed, 0 not assessed, 124 not covered" in text


def test_every_format_carries_the_finding_references() -> None:
    from kposture.reports import render_junit, render_markdown, render_table_text

    result, ctx = scan(), _ctx()
    markdown = render_markdown(result, ctx)
    assert "- **privileged-container**: CIS 5.2.2, PSS baseline, MITRE T1611" in markdown
    junit = render_junit(result, ctx)
    assert "references: CIS 5.2.2, PSS baseline, MITRE T1611" in junit
    table = render_table_text(result, ctx)
    assert "privileged-container: CIS 5.2.2 · PSS baseline · MITRE T1611" in table
    sarif = sarif_views_log(result, ctx, ReportViews())
    descriptor = next(
        d for d in sarif["runs"][0]["tool"]["driver"]["rules"] if d["id"] == "privileged-container"
    )
    assert "CIS 5.2.2" in descriptor["properties"]["tags"]
    assert "taxonomies" not in sarif["runs"][0]


def test_pss_restricted_controls_fail_for_cases_handed_to_more_specific_rules() -> None:
    from kposture.reports.frameworks import CATALOGUES

    restricted = {control.id: control for control in CATALOGUES["pss-restricted"].controls}
    volume_rules = set(restricted["Volume Types"].rules)
    assert {"host-path-volume", "sensitive-host-path", "container-runtime-socket"} <= volume_rules
    assert "dangerous-capabilities" in restricted["Capabilities (restricted)"].rules


# --- what was not observed, and findings narrowed to some controls ----------------------------------


def _finding_with(meta: RuleMeta, line: int, *evidence: tuple[str, str]) -> Finding:
    base = finding(meta, line)
    return Finding(
        **{
            **{name: getattr(base, name) for name in base.__slots__ if name != "evidence"},
            "evidence": evidence,
            "severity": Severity.INFO if NOT_OBSERVABLE in evidence else base.severity,
        }
    )


def test_controls_with_only_not_observable_findings_are_not_assessed() -> None:
    unseen = _finding_with(AUTHZ, 1, NOT_OBSERVABLE)
    result = ScanResult(findings=(unseen,), scanned_at="2026-11-26T15:00:00Z")
    view = framework_view(CATALOGUES["cis"], result, RULES)
    status = {r.control.id: r for r in view.controls}
    for control_id in ("1.2.6", "1.2.7", "1.2.8"):
        assert status[control_id].status is ControlStatus.NOT_ASSESSED, control_id
        assert status[control_id].not_observed == ("api-server-authorization-unsafe",)
        assert status[control_id].findings == ()
    controls = {c["id"]: c for c in view_to_dict(view)["controls"]}
    assert controls["1.2.8"]["rules_not_observed"] == ["api-server-authorization-unsafe"]
    views = ReportViews(framework=view)
    suites = {s.get("name"): s for s in junit_views_tree(result, _ctx(), views).iter("testsuite")}
    skipped = suites["cis 1.2.8"].find("testcase/skipped")
    assert skipped is not None and "could not observe" in (skipped.get("message") or "")
    # A real failure still fails the control.
    failing = ScanResult(findings=(unseen, finding(AUTHZ, 9)), scanned_at="2026-11-26T15:00:00Z")
    status = {r.control.id: r for r in framework_view(CATALOGUES["cis"], failing, RULES).controls}
    assert status["1.2.8"].status is ControlStatus.FAIL


ETCD = rule("etcd-client-auth-disabled", cis("2.2"), cis("2.3"), cis("2.5"), cis("2.6"))


def test_controls_evidence_narrows_a_finding_to_its_own_controls() -> None:
    no_client_auth = _finding_with(
        ETCD, 4, ("flag", "client-cert-auth"), controls_evidence(cis("2.2"))
    )
    result = ScanResult(findings=(no_client_auth,), scanned_at="2026-11-26T15:00:00Z")
    rules = {**RULES, ETCD.id: ETCD}
    view = framework_view(CATALOGUES["cis"], result, rules)
    status = {r.control.id: r.status for r in view.controls}
    assert status["2.2"] is ControlStatus.FAIL
    assert status["2.3"] is status["2.5"] is status["2.6"] is ControlStatus.PASS
    suites = {
        s.get("name"): s
        for s in junit_views_tree(result, _ctx(), ReportViews(framework=view)).iter("testsuite")
    }
    assert suites["cis 2.2"].get("failures") == "1"
    assert suites["cis 2.3"].get("failures") == "0"
    # Frameworks the evidence does not name count the finding under every cited control.
    assert narrowed_controls(no_client_auth, Framework.NSA_CISA) is None


def test_the_etcd_rule_fails_only_the_controls_of_the_flags_it_found() -> None:
    registry = Registry(builtin_rules())
    path = Path(__file__).resolve().parents[2] / "rules" / "fixtures" / "etcd-client-auth-disabled"
    inventory = Inventory(load_objects([path / "fail-no-client-cert-auth.yaml"]))
    result = evaluate(inventory, registry, RunPolicy(), dt.date(2024, 6, 1))
    metas = {r.id: r.meta for r in registry}
    status = {
        r.control.id: r.status for r in framework_view(CATALOGUES["cis"], result, metas).controls
    }
    # --auto-tls=true, no --client-cert-auth, no --peer-client-cert-auth, no --peer-auto-tls.
    assert status["2.2"] is status["2.3"] is status["2.5"] is ControlStatus.FAIL
    assert status["2.6"] is ControlStatus.PASS

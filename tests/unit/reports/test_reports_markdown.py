"""Markdown summary: totals, grouping by resource, escaping of table-breaking text, truncation."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import pytest

from kposture.model import Finding, Location, ResourceRef, ScanResult, Severity
from kposture.reports import ReportContext, render_markdown
from kposture.reports.markdown import escape

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ")]


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a|b", "a\\|b"),
        ("two\nlines", "two<br>lines"),
        ("crlf\r\nend", "crlf<br>end"),
        ("<script>&", "&lt;script&gt;&amp;"),
        ("`code` *bold* _it_ [x](y)", "\\`code\\` \\*bold\\* \\_it\\_ \\[x\\](y)"),
        ("back\\slash|", "back\\\\slash\\|"),
    ],
)
def test_escape(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped


def test_totals_and_verdict(result: ScanResult, ctx: ReportContext) -> None:
    text = render_markdown(result, replace(ctx, fail_on=Severity.HIGH))
    assert text.startswith("## kposture scan\n")
    for row in (
        "| critical | 2 |",
        "| high | 2 |",
        "| medium | 1 |",
        "| low | 0 |",
        "| info | 0 |",
        "| **total** | **5** |",
    ):
        assert row in text
    assert "Suppressed: 2 · Input errors: 1 · Warnings: 1" in text
    assert "**Failed**: 4 finding(s) at or above `high`." in text
    passed = render_markdown(result, replace(ctx, fail_on=Severity.CRITICAL))
    assert "**Failed**: 2 finding(s)" in passed
    none = render_markdown(ScanResult(findings=()), replace(ctx, fail_on=Severity.LOW))
    assert "**Passed**" in none
    assert "No active findings." in none
    assert "Failed" not in render_markdown(result, ctx)


def test_findings_grouped_by_resource(result: ScanResult, ctx: ReportContext) -> None:
    text = render_markdown(result, ctx)
    headings = [line for line in text.splitlines() if line.startswith("#### ")]
    assert headings == [
        "#### Deployment/default/web — deploy/web.yaml",
        "#### Pod/kube-system/agent — manifests/my app/pod.yaml",
        "#### ClusterRoleBinding/ops\\|admins — rbac.yaml",
        "#### Deployment/default/api",
    ]
    assert (
        "| privileged-container | critical | deploy/web.yaml:27 | Container web runs privileged |"
        in text
    )
    assert "| secret-in-env | high | (no location) |" in text


def test_every_table_row_has_exactly_its_columns(result: ScanResult, ctx: ReportContext) -> None:
    text = render_markdown(result, ctx)
    for row in _table_rows(text):
        cells = len(_UNESCAPED_PIPE.findall(row)) - 1
        header_cells = {2, 3, 4, 5, 6}
        assert cells in header_cells, row
    findings_rows = [r for r in _table_rows(text) if "secret-in-env" in r]
    assert findings_rows == [
        "| secret-in-env | high | (no location) | Env var \\| DB\\_PASSWORD<br>holds a credential |"
    ]
    assert "&lt;b&gt;cluster-admin&lt;/b&gt;" in text
    assert "<b>" not in text


def test_suppressed_and_errors(result: ScanResult, ctx: ReportContext) -> None:
    text = render_markdown(result, ctx)
    assert "<details><summary>2 suppressed finding(s)</summary>" in text
    rows = _table_rows(text)
    latest = next(r for r in rows if r.startswith("| latest-tag | StatefulSet/default/db |"))
    assert latest.endswith("| policy | vendor image | 2027-01-01 |")
    limits = next(r for r in rows if r.startswith("| missing-limits | Deployment/default/web |"))
    assert limits.endswith("| annotation | sized by VPA | never |")
    assert ".yaml:" in latest + limits, "suppressed rows name the file and line"
    assert "| error | broken.yaml:3 | mapping values are not allowed here |" in text
    assert "| warning | charts/app | Helm chart skipped: no renderer |" in text
    # suppressed findings are not in the active tables
    active_part = text.split("<details>")[0]
    assert "missing-limits" not in active_part


def test_rows_are_capped(ctx: ReportContext, make_finding: Callable[..., Finding]) -> None:
    pod = ResourceRef("v1", "Pod", "default", "p")
    many = tuple(
        make_finding("run-as-root", pod, Location("p.yaml", i, 1, ""), fingerprint=f"f{i:03}")
        for i in range(1, 31)
    )
    text = render_markdown(ScanResult(findings=many), ctx, max_findings=10)
    assert sum(1 for row in _table_rows(text) if row.startswith("| run-as-root")) == 10
    assert "20 less severe finding(s) not shown" in text
    assert "| **total** | **30** |" in text


def test_cut_list_keeps_the_most_severe_findings(
    ctx: ReportContext, make_finding: Callable[..., Finding]
) -> None:
    lows = tuple(
        make_finding(
            "low-rule",
            ResourceRef("v1", "Pod", "a", f"p{i}"),
            Location(f"a{i:02d}.yaml", 1, 1, ""),
            severity=Severity.LOW,
            fingerprint=f"low{i}",
        )
        for i in range(10)
    )
    critical = make_finding(
        "critical-rule",
        ResourceRef("v1", "Pod", "z", "last"),
        Location("z.yaml", 9, 1, ""),
        severity=Severity.CRITICAL,
        fingerprint="crit",
    )
    text = render_markdown(ScanResult(findings=(*lows, critical)), ctx, max_findings=3)
    assert "| critical-rule" in text
    assert "8 less severe finding(s) not shown" in text


def test_cluster_findings_name_the_resource(
    ctx: ReportContext, make_finding: Callable[..., Finding]
) -> None:
    from kposture.reports.grouping import location_text

    pod = ResourceRef("v1", "Pod", "shop", "web")
    live = make_finding("run-as-root", pod, Location("cluster:prod", 0, 0, "spec"), fingerprint="c")
    assert location_text(live) == "cluster:prod Pod/shop/web"
    assert "cluster:prod Pod/shop/web" in render_markdown(ScanResult(findings=(live,)), ctx)

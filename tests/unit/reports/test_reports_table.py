"""Rich table: sections per resource, 80-column fit, colours, suppressed count, verdict, errors."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace

from rich.console import Console

from kposture.model import Finding, Location, ResourceRef, ScanResult, Severity
from kposture.reports import ReportContext, render_table


def _plain(result: ScanResult, ctx: ReportContext, **kwargs: bool) -> str:
    console = Console(record=True, width=80, file=io.StringIO())
    render_table(result, ctx, console, **kwargs)
    return console.export_text()


def test_sections_per_resource_in_finding_order(result: ScanResult, ctx: ReportContext) -> None:
    text = _plain(result, ctx)
    headers = [
        "Deployment/default/web  deploy/web.yaml",
        "Pod/kube-system/agent  manifests/my app/pod.yaml",
        "ClusterRoleBinding/ops|admins  rbac.yaml",
        "Deployment/default/api",
    ]
    positions = [text.index(h) for h in headers]
    assert positions == sorted(positions)
    web = text[positions[0] : positions[1]]
    assert "host-network" in web
    assert "privileged-container" in web
    assert web.index("host-network") < web.index("privileged-container")  # line 12 before 27
    assert "secret-in-env" in text[positions[3] :]


def test_fits_80_columns_and_is_plain_when_not_a_terminal(
    result: ScanResult, ctx: ReportContext
) -> None:
    text = _plain(result, ctx, show_suppressed=True)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "\x1b[" not in text
    assert "─" not in text  # ASCII rules outside a terminal
    assert "Rule" in text
    assert "Message" in text


def test_long_rule_id_and_message_still_fit(
    ctx: ReportContext, make_finding: Callable[..., Finding]
) -> None:
    pod = ResourceRef("v1", "Pod", "default", "p")
    long = make_finding(
        "a-very-long-rule-identifier-that-goes-on-and-on-forever",
        pod,
        Location("p.yaml", 12345, 1, ""),
        message="word " * 60,
    )
    text = _plain(ScanResult(findings=(long,)), ctx)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "12345" in text


def test_suppressed_hidden_behind_a_count(result: ScanResult, ctx: ReportContext) -> None:
    hidden = _plain(result, ctx)
    assert "2 suppressed finding(s) hidden" in hidden
    assert "missing-limits" not in hidden
    assert "StatefulSet/default/db" not in hidden
    shown = _plain(result, ctx, show_suppressed=True)
    assert "missing-limits" in shown
    assert "[suppressed by" in shown
    assert "sized by VPA]" in shown
    assert "hidden" not in shown


def test_summary_verdict_and_errors_last(result: ScanResult, ctx: ReportContext) -> None:
    text = _plain(result, replace(ctx, fail_on=Severity.HIGH))
    assert "5 findings: 2 critical, 2 high, 1 medium, 0 low, 0 info" in text
    assert "2 suppressed · 1 error · 1 warning · FAIL: 4 at or above high" in text
    assert text.rstrip().splitlines()[-2:] == [
        "  error: broken.yaml:3: mapping values are not allowed here",
        "  warning: charts/app: Helm chart skipped: no renderer",
    ]
    passing = _plain(ScanResult(findings=()), replace(ctx, fail_on=Severity.LOW))
    assert "No active findings." in passing
    assert "PASS: none at or above low" in passing
    assert "FAIL:" not in _plain(result, ctx)
    assert "PASS:" not in _plain(result, ctx)


def test_severity_colours_on_a_terminal(
    ctx: ReportContext, make_finding: Callable[..., Finding]
) -> None:
    pod = ResourceRef("v1", "Pod", "default", "p")
    findings = tuple(
        make_finding(
            "run-as-root", pod, Location("p.yaml", i, 1, ""), severity=s, fingerprint=s.value
        )
        for i, s in enumerate(Severity, start=1)
    )
    console = Console(
        record=True, width=80, force_terminal=True, color_system="standard", file=io.StringIO()
    )
    render_table(ScanResult(findings=findings), ctx, console)
    styled = console.export_text(styles=True)
    assert "\x1b[1;31mcritical" in styled
    assert "\x1b[31mhigh" in styled
    assert "\x1b[33mmedium" in styled
    assert "\x1b[36mlow" in styled
    assert "\x1b[2minfo" in styled
    assert "─" in styled  # box-drawing rule on a terminal


def test_markup_in_messages_is_not_interpreted(
    ctx: ReportContext, make_finding: Callable[..., Finding]
) -> None:
    pod = ResourceRef("v1", "Pod", "default", "[bold]p[/bold]")
    odd = make_finding("run-as-root", pod, None, message="[red]not markup[/red]")
    text = _plain(ScanResult(findings=(odd,)), ctx)
    assert "[red]not markup[/red]" in text
    assert "[bold]p[/bold]" in text


def test_long_reports_are_cut_to_the_most_severe(
    ctx: ReportContext, make_finding: Callable[..., Finding]
) -> None:
    from kposture.model import Severity

    lows = tuple(
        make_finding(
            "low-rule",
            ResourceRef("v1", "Pod", "a", f"p{i}"),
            Location(f"a{i:02d}.yaml", 1, 1, ""),
            severity=Severity.LOW,
            fingerprint=f"low{i}",
        )
        for i in range(6)
    )
    critical = make_finding(
        "critical-rule",
        ResourceRef("v1", "Pod", "z", "last"),
        Location("z.yaml", 9, 1, ""),
        severity=Severity.CRITICAL,
        fingerprint="crit",
    )
    console = Console(record=True, width=100)
    render_table(ScanResult(findings=(*lows, critical)), ctx, console, max_findings=2)
    text = console.export_text()
    assert "critical-rule" in text
    assert "5 less severe finding(s) not shown" in text

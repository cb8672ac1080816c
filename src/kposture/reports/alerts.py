"""Renderers of audit-log detections for people: the alert table of ``kposture detect`` and the
detection catalogue of docs/detections.md. Pure: values in, text or a Rich table out. The JSON of an
alert (``detect -o json`` and the alert sinks alike) is ``kposture.sinks.documents.alert_document``.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table

from kposture.model import Severity
from kposture.model.incidents import DetectionMeta, IncidentAlert

_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def alert_table(alerts: Iterable[IncidentAlert]) -> Table:
    """Alerts for people: time, severity, detection, who, what and the containment step."""
    table = Table(show_lines=True, expand=True)
    table.add_column("time", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("detection")
    table.add_column("who / from")
    table.add_column("alert and containment", ratio=3)
    for alert in alerts:
        context = alert.event_context()
        who = context.get("user", "?")
        if context.get("source_ip"):
            who += f"\n{context['source_ip']}"
        table.add_row(
            context.get("time", ""),
            f"[{_SEVERITY_STYLE[alert.severity]}]{alert.severity.value}[/]",
            alert.detection_id,
            who,
            f"{alert.message}\n[dim]→ {alert.containment}[/]",
        )
    return table


def detection_catalogue(metas: Iterable[DetectionMeta]) -> str:
    """The Markdown table of detections kept in docs/detections.md (a test checks it is current)."""
    rows = [
        "| id | title | severity | MITRE ATT&CK | tactic | response |",
        "|---|---|---|---|---|---|",
    ]
    for meta in metas:
        technique = ", ".join(f"{ref.id} {ref.title}" for ref in meta.references)
        state = " (stateful)" if meta.stateful else ""
        rows.append(
            f"| `{meta.id}` | {meta.title}{state} | {meta.severity.value} | {technique} | "
            f"{meta.tactic} | {meta.response} |"
        )
    return "\n".join(rows) + "\n"

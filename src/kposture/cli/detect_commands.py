"""``kposture detect`` (audit-log detections over files, stdin or a followed file). Wiring only:
sources read, the detector judges, reports render the table, the alert document goes to stdout
(``-o json``) and to the alert sinks. ``respond isolate`` lives in ``respond_commands``.

Exit codes of ``detect``: 0 no alert at or above ``--min-severity``; 1 alerts; 2 bad arguments, an
input that cannot be read, or an alert sink that cannot start. Skipped records (malformed, truncated,
over the size limit, not events) are reported on stderr with file:line and do not change the exit
code, unless an input (a file or stdin; not ``--follow``) gave no audit event at all: its records
were all unreadable (a binary file, an ``EventList`` line cut short), or no audit events (the wrong
``--format``, a ``kubectl`` List, ``[]``), or it held nothing (an empty file, ``EventList``s without
items); that input is named with the reason, after the alerts and the summary, and the exit code is
2. Gzip input is read decompressed; following it is refused.
"""

from __future__ import annotations

import datetime as dt
import enum
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from typer import _click
from typer.core import TyperCommand

from kposture.cli.alert_setup import alerts_config
from kposture.cli.audit_inputs import (
    IssuePrinter,
    audit_events,
    check_sources,
    fail,
    fail_unless_readable,
)
from kposture.cli.consoles import error_console, report_console
from kposture.cli.detect_setup import DetectionSetup, prepare_detections
from kposture.cli.scanning import UsageError
from kposture.detections import Detector
from kposture.model import Severity
from kposture.model.incidents import IncidentAlert, sink_alert
from kposture.model.lifecycle import Alert
from kposture.reports.alerts import alert_table
from kposture.reports.terminal_text import visible
from kposture.sinks import (
    AlertsConfig,
    AlertSetupError,
    AlertSpecError,
    Sinks,
    build_sinks,
)
from kposture.sinks.documents import alert_json
from kposture.sinks.summaries import counted, delivery_summary
from kposture.sources.audit_logs import DEFAULT_MAX_EVENT_BYTES, AuditLogReader, Envelope

EXIT_CLEAN = 0
EXIT_ALERTS = 1


POLICY_OPTION = typer.Option(
    "--policy",
    help="Policy file (its detections: allowlist and custom files). Default: ./.kposture.yaml.",
)
DETECTIONS_OPTION = typer.Option(
    "--detections",
    help="Custom detection file or directory of *.yaml (kind: Detection, CEL; repeatable).",
)


class Output(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


class MinSeverity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


def _emit_line(alert: IncidentAlert, sent: Alert, output: Output) -> None:
    if output is Output.JSON:
        sys.stdout.write(alert_json(sent).decode() + "\n")
        sys.stdout.flush()
        return
    context = alert.event_context()
    when, detection = escape(visible(context.get("time", ""))), escape(visible(alert.detection_id))
    report_console().print(
        f"{when} [bold]{alert.severity.value}[/] {detection}: {escape(visible(alert.message))}"
        f"\n  [dim]→ {escape(visible(alert.containment))}[/]"
    )


class _ParentPathContext(_click.Context):
    """The context of the ``detect`` group's default command: its usage and error lines name the
    group (``kposture detect``), not the hidden ``run`` command the group forwards to."""

    @property
    def command_path(self) -> str:
        return self.parent.command_path if self.parent is not None else super().command_path


class DetectRunCommand(TyperCommand):
    """``kposture detect [OPTIONS] [SOURCE]...``, registered as the ``detect`` group's default."""

    context_class = _ParentPathContext


def detect_command(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SOURCE",
            help="Audit log files (JSON lines), read in order, or - for stdin.",
            show_default=False,
        ),
    ] = None,
    follow: Annotated[
        Path | None,
        typer.Option("--follow", "-f", help="Follow this audit log file across rotation."),
    ] = None,
    envelope: Annotated[
        Envelope,
        typer.Option("--format", help="Record format: auto, k8s, eks, gke or aks."),
    ] = Envelope.AUTO,
    min_severity: Annotated[
        MinSeverity, typer.Option("--min-severity", help="Lowest severity reported.")
    ] = MinSeverity.LOW,
    output: Annotated[
        Output, typer.Option("-o", "--output", help="table for people, json for SIEMs.")
    ] = Output.TABLE,
    alert: Annotated[
        list[str] | None,
        typer.Option(
            "--alert",
            help="Alert sink (repeatable): stdout, webhook=URL, slack=URL, with [min=...,dedup=...].",
        ),
    ] = None,
    alert_min_severity: Annotated[
        str | None,
        typer.Option(
            "--alert-min-severity",
            help="Lowest severity sent to sinks without min= (default: --min-severity).",
        ),
    ] = None,
    alert_dedup: Annotated[
        str | None,
        typer.Option(
            "--alert-dedup",
            help="Window in which the same alert is sent once, for sinks without dedup= (e.g. "
            "10m; a bare number is seconds; 0 turns it off). Default: 0 for files, 10m with --follow.",
        ),
    ] = None,
    max_event_bytes: Annotated[
        int, typer.Option("--max-event-bytes", help="Records over this size are skipped.")
    ] = DEFAULT_MAX_EVENT_BYTES,
    policy: Annotated[Path | None, POLICY_OPTION] = None,
    detections: Annotated[list[str] | None, DETECTIONS_OPTION] = None,
    cluster_name: Annotated[
        str | None,
        typer.Option(
            "--cluster-name",
            help="Name of the cluster in the alerts (default: the one a GKE, EKS or AKS record "
            "names, else none).",
        ),
    ] = None,
) -> None:
    """Detect incidents in Kubernetes audit logs: alerts with who, what, where, from which IP, the
    object, the verdict and the containment step. Subcommand: `kposture detect tune FILE` shows the
    noisiest detections and who is behind them, with allowlist entries to paste.

    Exit codes: 0 no alert at or above --min-severity; 1 alerts; 2 bad arguments, an input that
    gave no audit event (unreadable, empty, or of another format: wrong --format?) or an alert
    sink that cannot start. Skipped records are warnings on stderr.
    """
    paths = list(sources or ())
    check_sources(paths, follow)
    if max_event_bytes < 1024:
        fail("--max-event-bytes must be at least 1024")
    reported = Severity(min_severity.value)
    try:
        setup = prepare_detections(policy, detections or ())
        config = _alerts_config(
            setup, alert or [], alert_min_severity, alert_dedup, reported, follow
        )
        sinks: Sinks | None = build_sinks(config) if config.sinks else None
    except (AlertSpecError, AlertSetupError, UsageError) as exc:
        fail(str(exc))
    detector = setup.detector(_lowest(reported, config))
    reader = AuditLogReader(envelope, max_event_bytes, on_issue=IssuePrinter(), keep=detector.wants)
    collected: list[IncidentAlert] = []
    streaming = follow is not None or output is Output.JSON
    shown = 0
    read_error: OSError | None = None
    try:
        for event in audit_events(reader, paths, follow):
            for found in detector.process(event):
                sent = sink_alert(found, dt.datetime.now(dt.UTC), cluster_name or "")
                if sinks is not None:
                    sinks.send(sent)
                if found.severity < reported:
                    continue
                shown += 1
                if streaming:
                    _emit_line(found, sent, output)
                else:
                    collected.append(found)
    except OSError as exc:  # what was read before is still reported, then the error
        read_error = exc
    finally:
        if sinks is not None:
            sinks.close()
            for name, counts in sinks.stats().items():
                error_console().print(escape(delivery_summary(name, counts)), highlight=False)
    if collected:
        report_console().print(alert_table(collected))
    _summary(reader, detector, shown, reported)
    if read_error is not None:
        fail(f"cannot read the audit log: {read_error}")
    fail_unless_readable(reader)
    raise typer.Exit(EXIT_ALERTS if shown else EXIT_CLEAN)


FOLLOW_DEDUP = "10m"
"""The de-duplication window of ``detect --follow``'s sinks, as ``watch``'s: a live stream."""
REPLAY_DEDUP = "0"
"""Reading files, de-duplication is off: the window runs on the clock of the run, not the events',
so a day of log read in seconds would otherwise collapse to its distinct alerts."""


def _alerts_config(
    setup: DetectionSetup,
    flags: list[str],
    min_severity: str | None,
    dedup: str | None,
    reported: Severity,
    follow: Path | None,
) -> AlertsConfig:
    """The policy file's ``alerts:`` sinks, or the ``--alert`` sinks that replace them, as
    ``watch`` reads them. Defaults: ``--alert-min-severity`` and ``--alert-dedup`` when given,
    else the block's own ``minSeverity`` and ``dedup``, else ``detect``'s: what it reports, and
    no window for files (10m when following). A sink's own setting wins for that sink."""
    return alerts_config(
        setup.policy_file,
        flags,
        min_severity=min_severity,
        dedup=dedup,
        default_min_severity=reported.value,
        default_dedup=FOLLOW_DEDUP if follow else REPLAY_DEDUP,
    )


def _lowest(reported: Severity, config: AlertsConfig) -> Severity:
    """The lowest severity anything wants: the report, or a sink with a lower minimum."""
    wanted = [spec.min_severity or config.min_severity for spec in config.sinks]
    return min([reported, *wanted])


def _summary(reader: AuditLogReader, detector: Detector, shown: int, reported: Severity) -> None:
    stats = reader.stats
    skipped = ", ".join(f"{count} {kind.value}" for kind, count in stats.skipped.items() if count)
    console = error_console()
    for message in [*detector.stats.error_messages, *detector.notices()]:
        console.print(f"[yellow]warning:[/] {escape(message)}")
    allowlisted = detector.stats.allowlisted
    reused = detector.stats.reused_audit_ids
    below = detector.stats.alerts - shown
    console.print(
        f"{counted(stats.read, 'event')} read, {counted(shown, 'alert')}"
        + (f", {below} below {reported.value} sent to the alert sinks only" if below else "")
        + (f", {allowlisted} allowlisted" if allowlisted else "")
        + (f", {counted(reused, 'reused audit ID')}" if reused else "")
        + (f"; skipped {skipped}" if skipped else ""),
        markup=False,
        highlight=False,
    )

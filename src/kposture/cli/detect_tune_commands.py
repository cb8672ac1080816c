"""``kposture detect tune FILE...``: the noisiest detections over audit logs (read in order, as
``detect`` reads them) and the identities behind them (user, user agent, source IP, namespace), with
allowlist entries ready to paste into the policy file's ``detections.allowlist``. Also the
``detect`` group: ``detect tune`` is a subcommand, and any other ``detect ...`` runs the detection
itself (``detect FILE``, ``detect --follow FILE``).

The policy file's allowlist applies (what it already silences is counted, not shown), so running
tune again after pasting shows what is left. Exit codes: 0 printed; 2 bad arguments, a log or policy
file that cannot be read (as for ``detect``: a missing file, or an input that gave nothing readable).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table
from typer import _click
from typer.core import TyperGroup

from kposture.cli.audit_inputs import (
    IssuePrinter,
    audit_events,
    check_sources,
    fail,
    fail_unless_readable,
)
from kposture.cli.consoles import error_console, report_console
from kposture.cli.detect_commands import (
    DETECTIONS_OPTION,
    POLICY_OPTION,
    DetectRunCommand,
    detect_command,
)
from kposture.cli.detect_setup import prepare_detections
from kposture.cli.scanning import UsageError
from kposture.detections.tuning import written_for_someone_else
from kposture.model.audit import AuditEvent
from kposture.model.detection_tuning import REASON_PLACEHOLDER
from kposture.reports.terminal_text import visible
from kposture.sinks.summaries import counted
from kposture.sources.audit_logs import AuditLogReader, Envelope

EXPIRY_DAYS = 90


class DetectGroup(TyperGroup):
    """``detect`` with subcommands, where anything but a subcommand name runs ``detect run``."""

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


detect_app = typer.Typer(
    cls=DetectGroup,
    help="Detect incidents in Kubernetes audit logs.",
    rich_markup_mode=None,
)
detect_app.command("run", hidden=True, cls=DetectRunCommand)(detect_command)


@dataclass(slots=True)
class _Identity:
    """Who raised a detection's alerts: counts per field value."""

    users: Counter[str] = field(default_factory=Counter)
    agents: Counter[str] = field(default_factory=Counter)
    ips: Counter[str] = field(default_factory=Counter)
    namespaces: Counter[str] = field(default_factory=Counter)
    by_user: dict[str, list[AuditEvent]] = field(default_factory=lambda: defaultdict(list))


def _agent_glob(agent: str) -> str:
    product = agent.split(" ", 1)[0].split("/", 1)[0]
    return f"{product}/*" if product else agent


def _cidr(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    return f"{address}/{address.max_prefixlen}"


def _entry(user: str, events: list[AuditEvent], expires: dt.date) -> dict[str, Any]:
    """One allowlist entry for one identity's alerts: the identity, and its namespaces, user
    agents and source IPs when they are few (so the entry stays narrow)."""
    entry: dict[str, Any] = {}
    account = events[0].user.service_account
    if account is not None:
        entry["serviceAccounts"] = [f"{account[0]}/{account[1]}"]
    else:
        entry["users"] = [user]
    namespaces = sorted({e.ref.namespace for e in events if e.ref.namespace})
    if namespaces and len(namespaces) <= 3 and all(e.ref.namespace for e in events):
        entry["namespaces"] = namespaces
    agents = sorted({_agent_glob(e.user_agent) for e in events if e.user_agent})
    if len(agents) == 1:
        entry["userAgents"] = agents
    ips = sorted({e.source_ip for e in events if e.source_ip})  # the peer: the rest is claimed
    if ips and len(ips) <= 3:
        entry["sourceRanges"] = [_cidr(ip) for ip in ips]
    entry["reason"] = REASON_PLACEHOLDER
    entry["expires"] = expires.isoformat()
    return entry


def _no_safe_entry(detection_id: str, user: str, count: int) -> str:
    """Why no allowlist entry is suggested for a Kubernetes controller writing pods or workloads."""
    return (
        f"\n# {detection_id}, {counted(count, 'alert')} by {user}: no safe allowlist entry. This "
        "Kubernetes identity writes the objects for whoever wrote the workload above them (a "
        "Deployment's ReplicaSet, a CronJob's Job...), so an entry for it would silence every "
        "such object in its namespaces, not the one expected. Fix it at the source: change the "
        "workload the alert names (its owner) or confirm it as an approved node agent; the "
        "allowlist cannot scope by object name or labels."
    )


def _top(counter: Counter[str], limit: int = 3) -> str:
    """The most common values with their counts, each as ``visible`` text (event text is
    whatever the client sent)."""
    return ", ".join(
        f"{visible(value) or '-'} ({count})" for value, count in counter.most_common(limit)
    )


@detect_app.command("tune")
def tune_command(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE...",
            help="Audit log files (JSON lines), read in order, or - for stdin.",
            show_default=False,
        ),
    ],
    envelope: Annotated[
        Envelope, typer.Option("--format", help="Record format: auto, k8s, eks, gke or aks.")
    ] = Envelope.AUTO,
    top: Annotated[int, typer.Option("--top", help="Detections and identities shown.")] = 5,
    policy: Annotated[Path | None, POLICY_OPTION] = None,
    detections: Annotated[list[str] | None, DETECTIONS_OPTION] = None,
) -> None:
    """Show the noisiest detections over an audit log and the identities behind them, with
    allowlist entries to paste under detections.allowlist in the policy file (fill in the
    reason). The policy file's allowlist already applies.
    """
    check_sources(sources, None)
    if top < 1:
        fail("--top must be at least 1")
    try:
        setup = prepare_detections(policy, detections or ())
    except UsageError as exc:
        fail(str(exc))
    detector = setup.detector()
    reader = AuditLogReader(envelope, on_issue=IssuePrinter(), keep=detector.wants)
    per_detection: dict[str, _Identity] = defaultdict(_Identity)
    read_error: OSError | None = None
    try:
        for event in audit_events(reader, sources, None):
            for alert in detector.process(event):
                found = per_detection[alert.detection_id]
                found.users[event.user.username] += 1
                found.agents[event.user_agent] += 1
                found.ips[event.source_ip] += 1
                found.namespaces[event.ref.namespace] += 1
                found.by_user[event.user.username].append(event)
    except OSError as exc:  # what was read before is still reported, then the error
        read_error = exc
    _report(detector.stats.alerts_by_detection, per_detection, top, detector)
    console = error_console()
    for message in detector.notices():
        console.print(f"warning: {message}", markup=False, highlight=False)
    console.print(
        f"{counted(reader.stats.read, 'event')} read, {counted(detector.stats.alerts, 'alert')}, "
        f"{detector.stats.allowlisted} already allowlisted",
        markup=False,
        highlight=False,
    )
    if read_error is not None:
        fail(f"cannot read the audit log: {read_error}")
    fail_unless_readable(reader)


def _report(counts: Counter[str], found: dict[str, _Identity], top: int, detector: Any) -> None:
    console = report_console()
    total = sum(counts.values())
    if not total:
        console.print("No alerts: nothing to tune.")
        return
    table = Table(title="Noisiest detections", title_justify="left")
    for column in (
        "detection",
        "alerts",
        "share",
        "users",
        "user agents",
        "source IPs",
        "namespaces",
    ):
        table.add_column(column, overflow="fold")
    for detection_id, count in counts.most_common(top):
        who = found[detection_id]
        table.add_row(
            escape(visible(detection_id)),
            str(count),
            f"{count / total:.0%}",
            escape(_top(who.users)),
            escape(_top(who.agents, 2)),
            escape(_top(who.ips)),
            escape(_top(who.namespaces)),
        )
    console.print(table)
    expires = detector.today + dt.timedelta(days=EXPIRY_DAYS)
    protected = detector.settings.protected_namespaces
    allowlist: dict[str, list[dict[str, Any]]] = {}
    unsafe: list[str] = []
    for detection_id, _ in counts.most_common(top):
        who = found[detection_id]
        for user, count in who.users.most_common(top):
            events = who.by_user[user]
            if all(written_for_someone_else(event, protected) for event in events):
                unsafe.append(_no_safe_entry(detection_id, visible(user), count))
            else:
                allowlist.setdefault(detection_id, []).append(_entry(user, events, expires))
    for line in unsafe:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if not allowlist:
        return
    console.print(
        "\n# Allowlist entries for the noisiest identities: keep only the expected ones, say why, "
        "and paste under the policy file's top level.",
        markup=False,
        highlight=False,
    )
    text = yaml.safe_dump({"detections": {"allowlist": allowlist}}, sort_keys=False, width=100)
    console.print(text, markup=False, highlight=False, soft_wrap=True)

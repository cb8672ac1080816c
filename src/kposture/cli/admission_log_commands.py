"""``kposture admission log``: the webhook's recent decisions from the store, newest first.

Filters: ``-n`` namespace, ``--outcome``, ``--rule`` (decisions with a verdict of that rule),
``--since`` (a duration back from now such as ``90s``, ``15m``, ``1h``, ``2d``, ``1w``, or an
RFC 3339 date or time; times without a zone are UTC) and ``--limit``. ``-o table`` shows time,
outcome, operation, resource, user, rules and latency; ``-o json`` the whole decisions, versioned as
``kposture.admission-log/v1``. Exit codes: 0 shown (also when none match); 2 usage error or a store
that cannot be read.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from kposture.cli.consoles import error_console, report_console
from kposture.cli.scanning import EXIT_USAGE, UsageError
from kposture.cli.store_options import DbOption, open_cli_store
from kposture.model.admission import AdmissionDecision, Outcome
from kposture.store.connecting import StoreError
from kposture.store.decisions import DecisionQuery, recent_decisions

LOG_SCHEMA = "kposture.admission-log/v1"

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class LogFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """The time ``--since`` means: ``now`` minus a duration, or an RFC 3339 date/time (UTC if naive)."""
    value = text.strip()
    duration = _DURATION.match(value.lower())
    if duration:
        amount, unit = int(duration.group(1)), duration.group(2)
        return now - dt.timedelta(**{_UNITS[unit]: amount})
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {text!r}: give a duration (90s, 15m, 1h, 2d, 1w) or a date/time "
            "(2026-11-01, 2026-11-01T08:00:00Z)"
        ) from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed


def log_command(
    db: DbOption = None,
    namespace: Annotated[
        str | None, typer.Option("-n", "--namespace", help="Only decisions in this namespace.")
    ] = None,
    outcome: Annotated[
        Outcome | None,
        typer.Option("--outcome", help="Only decisions with this outcome.", case_sensitive=False),
    ] = None,
    rule: Annotated[
        str | None,
        typer.Option("--rule", metavar="ID", help="Only decisions that this rule judged violated."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only decisions from this long ago (90s, 15m, 1h, 2d, 1w) or since this date or "
            "time (2026-11-01, 2026-11-01T08:00:00Z; UTC unless a zone is given).",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=100_000, help="At most this many decisions.")
    ] = 50,
    output_format: Annotated[
        LogFormat, typer.Option("-o", "--output", help="Output format.")
    ] = LogFormat.TABLE,
) -> None:
    """Show the admission webhook's recent decisions, newest first.

    Exit codes: 0 shown (also when none match); 2 usage error or a store that cannot be read.
    """
    now = dt.datetime.now(dt.UTC)
    try:
        query = DecisionQuery(
            namespace=namespace,
            outcome=outcome,
            rule_id=rule,
            since=parse_since(since, now) if since is not None else None,
            limit=limit,
        )
        store = open_cli_store(db, create=False)
    except UsageError as exc:
        _fail(str(exc))
    try:
        with store:
            decisions = recent_decisions(store, query)
    except StoreError as exc:
        _fail(str(exc))
    if output_format is LogFormat.JSON:
        typer.echo(json.dumps(log_document(decisions, store.url), indent=2, ensure_ascii=False))
    elif decisions:
        report_console().print(decisions_table(decisions))
    else:
        error_console().print(
            f"no admission decisions match in {store.url}", highlight=False, markup=False
        )


def log_document(decisions: list[AdmissionDecision], store_url: str) -> dict[str, Any]:
    return {
        "schema": LOG_SCHEMA,
        "store": store_url,
        "decisions": [decision_dict(decision) for decision in decisions],
    }


def decision_dict(decision: AdmissionDecision) -> dict[str, Any]:
    ref = decision.resource
    return {
        "uid": decision.uid,
        "time": _rfc3339(decision.time),
        "operation": decision.operation,
        "user": decision.user,
        "groups": list(decision.groups),
        "resource": {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "namespace": ref.namespace,
            "name": ref.name,
        },
        "outcome": decision.outcome.value,
        "dry_run": decision.dry_run,
        "latency_ms": round(decision.latency_ms, 3),
        "reason": decision.reason,
        "verdicts": [
            {
                "rule_id": verdict.rule_id,
                "severity": verdict.severity.value,
                "mode": verdict.mode.value,
                "message": verdict.message,
            }
            for verdict in decision.verdicts
        ],
    }


MAX_TABLE_RULES = 5
"""Rules shown per decision in the table; the rest are counted (``-o json`` has them all)."""


def decisions_table(decisions: list[AdmissionDecision]) -> Table:
    table = Table(box=box.SIMPLE, show_edge=False)
    for column in ("TIME", "OUTCOME", "OPERATION", "RESOURCE", "USER", "RULES", "LATENCY"):
        table.add_column(
            column,
            # One rule per line, never folded mid-id: on a narrow terminal a line ends in "…"
            # rather than wrapping into the next rule.
            overflow="ellipsis" if column == "RULES" else "fold",
            no_wrap=column in {"TIME", "OUTCOME", "OPERATION", "LATENCY", "RULES"},
        )
    for decision in decisions:
        table.add_row(
            escape(_rfc3339(decision.time, seconds=True)),
            escape(decision.outcome.value),
            # The request itself was a dry run (kubectl --dry-run=server): nothing was persisted.
            escape(decision.operation + (" (dry run)" if decision.dry_run else "")),
            escape(decision.resource.display()),
            escape(decision.user),
            escape(_rules_text(decision)),
            f"{decision.latency_ms:.1f} ms",
        )
    return table


def _rules_lines(decision: AdmissionDecision) -> list[str]:
    """``rule-id (mode)`` per verdict, at most ``MAX_TABLE_RULES`` then ``+N more``."""
    shown = [f"{v.rule_id} ({v.mode.value})" for v in decision.verdicts]
    if len(shown) > MAX_TABLE_RULES:
        hidden = len(shown) - (MAX_TABLE_RULES - 1)
        shown = [*shown[: MAX_TABLE_RULES - 1], f"+{hidden} more"]
    return shown


def _rules_text(decision: AdmissionDecision) -> str:
    """One ``rule-id (mode)`` per line; the reason when there are none (exempt, error)."""
    if decision.verdicts:
        return "\n".join(_rules_lines(decision))
    return decision.reason


def _rfc3339(time: dt.datetime, *, seconds: bool = False) -> str:
    utc = time.astimezone(dt.UTC)
    return utc.isoformat(timespec="seconds" if seconds else "milliseconds").replace("+00:00", "Z")


def _fail(message: str) -> NoReturn:
    error_console().print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(EXIT_USAGE)

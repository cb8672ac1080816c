"""``kposture findings`` (what is open now) and ``kposture history`` (each finding's timeline: when it
appeared, who changed what, when it was fixed), read from the store that ``scan --cluster --save``
and the watcher write.

``findings`` filters by minimum ``--severity``, ``-n`` namespace, ``--rule`` (id or glob),
``--domain`` (mapped to the domain's rule ids with the built-in registry here, so the store needs no
domain column), ``--kind`` and ``--cluster``. ``history`` filters by ``--since``, ``--resource
KIND[/NS]/NAME``, ``--rule`` and ``--cluster``, newest first. ``-o json`` prints the versioned
documents ``kposture.findings/v1`` and ``kposture.history/v1``. Exit codes: 0 shown (also when
nothing matches); 2 a usage error or a store that cannot be read.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from kposture.cli.admission_log_commands import parse_since
from kposture.cli.consoles import error_console, report_console
from kposture.cli.scanning import EXIT_USAGE, UsageError, default_registry
from kposture.cli.store_options import DbOption, open_cli_store
from kposture.engine import Registry
from kposture.model import Domain, ResourceRef, Severity
from kposture.store.connecting import StoreError
from kposture.store.finding_queries import (
    FindingQuery,
    HistoryEntry,
    HistoryQuery,
    StoredFinding,
    history,
    open_findings,
)

FINDINGS_SCHEMA = "kposture.findings/v1"
HISTORY_SCHEMA = "kposture.history/v1"


class ListFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


SeverityChoice = enum.StrEnum(  # type: ignore[misc]
    "SeverityChoice", {severity.name: severity.value for severity in Severity}
)
DomainChoice = enum.StrEnum(  # type: ignore[misc]
    "DomainChoice", {domain.name: domain.value for domain in Domain}
)

OutputOption = Annotated[ListFormat, typer.Option("-o", "--output", help="Output format.")]
RuleOption = Annotated[
    str | None,
    typer.Option("--rule", metavar="ID", help="Only this rule (an id or a glob such as 'rbac-*')."),
]
ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster", metavar="NAME", help="Only this cluster (as recorded: the context name)."
    ),
]


def findings_command(
    db: DbOption = None,
    severity: Annotated[
        SeverityChoice | None,
        typer.Option("--severity", help="Only findings at or above this severity."),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("-n", "--namespace", help="Only findings in this namespace.")
    ] = None,
    rule: RuleOption = None,
    domain: Annotated[
        DomainChoice | None, typer.Option("--domain", help="Only rules of this domain.")
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only findings on objects of this kind.")
    ] = None,
    cluster: ClusterOption = None,
    suppressed: Annotated[
        bool, typer.Option("--show-suppressed", help="Also list suppressed findings.")
    ] = False,
    output_format: OutputOption = ListFormat.TABLE,
) -> None:
    """List the findings open now in the store, most severe first.

    Exit codes: 0 shown (also when none match); 2 usage error or a store that cannot be read.
    """
    registry = default_registry()
    query = FindingQuery(
        cluster=cluster,
        min_severity=Severity(severity.value) if severity is not None else None,
        namespace=namespace,
        rule=rule,
        rule_ids=domain_rule_ids(registry, Domain(domain.value)) if domain is not None else None,
        kind=kind,
        include_suppressed=suppressed,
    )
    try:
        store = open_cli_store(db, create=False)
        with store:
            found = open_findings(store, query)
    except (UsageError, StoreError) as exc:
        _fail(str(exc))
    if output_format is ListFormat.JSON:
        document = findings_document(found, store.url, registry)
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
    elif found:
        report_console().print(findings_table(found))
    else:
        error_console().print(
            f"no open findings match in {store.url}", highlight=False, markup=False
        )


def history_command(
    db: DbOption = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only changes from this long ago (90s, 15m, 1h, 2d, 1w) or since this date or "
            "time (2026-11-01, 2026-11-01T08:00:00Z; UTC unless a zone is given).",
        ),
    ] = None,
    resource: Annotated[
        str | None,
        typer.Option(
            "--resource",
            metavar="KIND/NS/NAME",
            help="Only this object: KIND/NAMESPACE/NAME, or KIND/NAME (any namespace, or "
            "cluster-scoped), or KIND.",
        ),
    ] = None,
    rule: RuleOption = None,
    cluster: ClusterOption = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1_000_000, help="At most this many changes.")
    ] = 200,
    output_format: OutputOption = ListFormat.TABLE,
) -> None:
    """Show the findings' timeline, newest first: when each appeared, who changed the object
    (its field manager), when it was fixed, suppressed or reopened.

    Exit codes: 0 shown (also when none match); 2 usage error or a store that cannot be read.
    """
    try:
        kind, namespace, name = parse_resource(resource) if resource else (None, None, None)
        query = HistoryQuery(
            cluster=cluster,
            since=parse_since(since, dt.datetime.now(dt.UTC)) if since is not None else None,
            kind=kind,
            namespace=namespace,
            name=name,
            rule=rule,
            limit=limit,
        )
        store = open_cli_store(db, create=False)
        with store:
            entries = history(store, query)
    except (UsageError, StoreError) as exc:
        _fail(str(exc))
    if output_format is ListFormat.JSON:
        typer.echo(json.dumps(history_document(entries, store.url), indent=2, ensure_ascii=False))
    elif entries:
        report_console().print(history_table(entries))
    else:
        error_console().print(
            f"no finding changes match in {store.url}", highlight=False, markup=False
        )


def domain_rule_ids(registry: Registry, domain: Domain) -> frozenset[str]:
    """The ids of the registry's rules filed under ``domain``."""
    return frozenset(rule.id for rule in registry if rule.meta.domain is domain)


def parse_resource(text: str) -> tuple[str | None, str | None, str | None]:
    """``--resource``: KIND/NS/NAME, KIND/NAME (any namespace) or KIND, as (kind, namespace, name)."""
    parts = text.split("/")
    if any(not part for part in parts) or len(parts) > 3:
        raise UsageError(
            f"--resource {text!r}: write KIND/NAMESPACE/NAME, KIND/NAME or KIND "
            "(e.g. Deployment/shop/web, ClusterRoleBinding/ops)"
        )
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return parts[0], None, parts[1]
    return parts[0], None, None


def findings_document(
    found: list[StoredFinding], store_url: str, registry: Registry
) -> dict[str, Any]:
    return {
        "schema": FINDINGS_SCHEMA,
        "store": store_url,
        "findings": [_finding_dict(item, registry) for item in found],
    }


def _finding_dict(item: StoredFinding, registry: Registry) -> dict[str, Any]:
    rule = registry.get(item.rule_id)
    return {
        "cluster": item.cluster,
        "rule_id": item.rule_id,
        "title": rule.meta.title if rule is not None else None,
        "severity": item.severity.value,
        "domain": rule.meta.domain.value if rule is not None else None,
        "status": item.status.value,
        "message": item.message,
        "resource": _resource(item.resource),
        "path": item.path,
        "fingerprint": item.fingerprint,
        "first_seen": rfc3339(item.first_seen),
        "last_seen": rfc3339(item.last_seen),
        "changed_by": item.changed_by,
        "suppressed_by": item.suppressed_by or None,
    }


def history_document(entries: list[HistoryEntry], store_url: str) -> dict[str, Any]:
    return {
        "schema": HISTORY_SCHEMA,
        "store": store_url,
        "transitions": [_entry_dict(entry) for entry in entries],
    }


def _entry_dict(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "time": rfc3339(entry.at),
        "cluster": entry.cluster,
        "change": entry.change.value,
        "from": entry.from_status.value if entry.from_status is not None else None,
        "to": entry.to_status.value,
        "changed_by": entry.changed_by,
        "reason": entry.reason,
        "source": entry.source,
        "rule_id": entry.rule_id,
        "severity": entry.severity.value,
        "message": entry.message,
        "resource": _resource(entry.resource),
        "path": entry.path,
        "fingerprint": entry.fingerprint,
    }


def _resource(ref: ResourceRef) -> dict[str, str]:
    return {
        "apiVersion": ref.api_version,
        "kind": ref.kind,
        "namespace": ref.namespace,
        "name": ref.name,
    }


def findings_table(found: list[StoredFinding]) -> Table:
    several = len({item.cluster for item in found}) > 1
    columns = ["SEVERITY", "RULE", "RESOURCE", "SINCE", "CHANGED BY", "MESSAGE"]
    if several:
        columns.insert(0, "CLUSTER")
    table = _table(columns, no_wrap={"SEVERITY", "SINCE"})
    for item in found:
        severity = item.severity.value
        if item.suppressed_by:
            severity += " (suppressed)"
        cells = [
            severity,
            item.rule_id,
            item.resource.display(),
            rfc3339(item.first_seen),
            item.changed_by or "-",
            item.message,
        ]
        table.add_row(*(escape(cell) for cell in ([item.cluster, *cells] if several else cells)))
    return table


def history_table(entries: list[HistoryEntry]) -> Table:
    several = len({entry.cluster for entry in entries}) > 1
    columns = ["TIME", "CHANGE", "RESOURCE", "RULE", "SEVERITY", "CHANGED BY", "REASON"]
    if several:
        columns.insert(1, "CLUSTER")
    table = _table(columns, no_wrap={"TIME", "CHANGE"})
    for entry in entries:
        cells = [
            rfc3339(entry.at),
            entry.change.value,
            entry.resource.display(),
            entry.rule_id,
            entry.severity.value,
            entry.changed_by or "-",
            entry.reason,
        ]
        if several:
            cells.insert(1, entry.cluster)
        table.add_row(*(escape(cell) for cell in cells))
    return table


def _table(columns: list[str], *, no_wrap: set[str]) -> Table:
    table = Table(box=box.SIMPLE, show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in no_wrap)
    return table


def rfc3339(time: dt.datetime) -> str:
    return time.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _fail(message: str) -> NoReturn:
    error_console().print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(EXIT_USAGE)

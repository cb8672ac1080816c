"""``kposture findings`` (what is open now) and ``kposture history`` (each finding's timeline: when it
appeared, who changed what, when it was fixed), read from the store that ``scan --cluster --save``
and the watcher write.

``findings`` filters by minimum ``--severity``, ``-n`` namespace (its objects and the Namespace
itself), ``--rule`` (id or glob), ``--domain`` (mapped to the domain's rule ids with the built-in
registry here, so the store needs no domain column), ``--kind`` (a kind in any case, a plural or a
kubectl short name such as ``deploy``) and ``--cluster``. ``history`` filters by ``--since``,
``--resource KIND[/NS]/NAME``, ``-n``, ``--rule`` and ``--cluster``, newest first, and says on
stderr when ``--limit`` leaves changes out. A filter that can match nothing (a rule, kind or
cluster the registry and the store do not know) is an error naming what exists. ``-o json`` prints
the versioned documents ``kposture.findings/v1`` and ``kposture.history/v1``; times carry
milliseconds, as alerts do. Exit codes: 0 shown (also when nothing matches); 2 a usage error or a
store that cannot be read.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from kposture.cli.admission_log_commands import parse_since
from kposture.cli.consoles import error_console
from kposture.cli.kind_names import kind_suggestion, known_kind
from kposture.cli.listing_tables import Listing, Name, print_listing, resource_name, stacked
from kposture.cli.scanning import EXIT_USAGE, UsageError, default_registry
from kposture.cli.store_options import DbOption, check_store_url, open_cli_store
from kposture.engine import Registry
from kposture.model import Domain, ResourceRef, Severity
from kposture.store.connecting import Store, StoreError
from kposture.store.finding_queries import (
    FindingQuery,
    HistoryEntry,
    HistoryQuery,
    StoredFinding,
    clusters,
    history,
    history_total,
    open_findings,
    stored_kinds,
    stored_rule_ids,
)

FINDINGS_SCHEMA = "kposture.findings/v1"
HISTORY_SCHEMA = "kposture.history/v1"
DEFAULT_HISTORY_LIMIT = 200


class ListFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


# --severity, --domain and --limit are read here, not by Click: its refusal is a usage block with
# a pydantic fragment ("Value error, 'urgent' is not one of ..."), the other filters' a one-line
# error.
SEVERITY_METAVAR = "<" + "|".join(severity.value for severity in Severity) + ">"
DOMAIN_METAVAR = "DOMAIN"
MAX_HISTORY_LIMIT = 1_000_000

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
NamespaceOption = Annotated[
    str | None,
    typer.Option(
        "-n",
        "--namespace",
        help="Only findings in this namespace, and on the Namespace object itself.",
    ),
]


def findings_command(
    db: DbOption = None,
    severity: Annotated[
        str | None,
        typer.Option(
            "--severity",
            metavar=SEVERITY_METAVAR,
            help="Only findings at or above this severity.",
        ),
    ] = None,
    namespace: NamespaceOption = None,
    rule: RuleOption = None,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain",
            metavar=DOMAIN_METAVAR,
            help="Only rules of this domain: " + ", ".join(item.value for item in Domain) + ".",
        ),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="Only findings on objects of this kind (any case, plural or kubectl short "
            "name: deploy, po, svc, netpol...).",
        ),
    ] = None,
    cluster: ClusterOption = None,
    suppressed: Annotated[
        bool, typer.Option("--show-suppressed", help="Also list suppressed findings.")
    ] = False,
    output_format: OutputOption = ListFormat.TABLE,
) -> None:
    """List the findings open now in the store, most severe first.

    Exit codes: 0 shown (also when none match); 2 usage error, a filter that can match nothing
    (unknown rule, kind or cluster), or a store that cannot be read.
    """
    registry = default_registry()
    try:
        check_store_url(db)
        query = FindingQuery(
            cluster=cluster,
            min_severity=parse_severity(severity) if severity is not None else None,
            namespace=namespace,
            rule=rule,
            rule_ids=domain_rule_ids(registry, parse_domain(domain)) if domain else None,
            kind=(known_kind(kind) or kind) if kind is not None else None,
            include_suppressed=suppressed,
        )
        store = open_cli_store(db, create=False)
        with store:
            found = open_findings(store, query)
            if not found:
                check_filters(store, registry, Filters(cluster, rule, kind))
    except (UsageError, StoreError) as exc:
        _fail(str(exc))
    if output_format is ListFormat.JSON:
        document = findings_document(found, store.url, registry)
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
    elif found:
        print_listing(findings_listing(found))
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
            "cluster-scoped), or KIND (any case, plural or kubectl short name).",
        ),
    ] = None,
    namespace: NamespaceOption = None,
    rule: RuleOption = None,
    cluster: ClusterOption = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            help=f"At most this many changes, the newest (1 to {MAX_HISTORY_LIMIT:,}).",
        ),
    ] = DEFAULT_HISTORY_LIMIT,
    output_format: OutputOption = ListFormat.TABLE,
) -> None:
    """Show the findings' timeline, newest first: when each appeared, who changed the object
    (its field manager), when it was fixed, suppressed or reopened.

    Exit codes: 0 shown (also when none match); 2 usage error, a filter that can match nothing
    (unknown rule, kind or cluster), or a store that cannot be read.
    """
    registry = default_registry()
    try:
        check_store_url(db)
        check_limit(limit)
        kind, in_namespace, name = parse_resource(resource) if resource else (None, None, None)
        if namespace is not None and in_namespace is not None and namespace != in_namespace:
            raise UsageError(f"-n {namespace} and --resource {resource} name different namespaces")
        query = HistoryQuery(
            cluster=cluster,
            since=parse_since(since, dt.datetime.now(dt.UTC)) if since is not None else None,
            kind=(known_kind(kind) or kind) if kind is not None else None,
            namespace=namespace if namespace is not None else in_namespace,
            name=name,
            rule=rule,
            limit=limit,
        )
        store = open_cli_store(db, create=False)
        with store:
            entries = history(store, query)
            if not entries:
                check_filters(store, registry, Filters(cluster, rule, kind))
            total = history_total(store, query) if len(entries) == limit else len(entries)
    except (UsageError, StoreError) as exc:
        _fail(str(exc))
    if output_format is ListFormat.JSON:
        typer.echo(json.dumps(history_document(entries, store.url), indent=2, ensure_ascii=False))
    elif entries:
        print_listing(history_listing(entries))
    else:
        error_console().print(
            f"no finding changes match in {store.url}", highlight=False, markup=False
        )
    if total > len(entries):
        error_console().print(
            f"showing the newest {len(entries)} of {total} changes; use --limit {total} "
            "(or --since, --resource, -n, --rule) to see the others",
            highlight=False,
            markup=False,
        )


@dataclass(frozen=True, slots=True)
class Filters:
    """The filters of a listing that name things the store may not hold."""

    cluster: str | None
    rule: str | None
    kind: str | None


def check_filters(store: Store, registry: Registry, filters: Filters) -> None:
    """``UsageError`` for a filter that can match nothing, saying what there is: a cluster the
    store does not hold, a rule neither the registry nor the store knows (with a did-you-mean),
    a kind that is no kind. Called when a listing came back empty."""
    if filters.cluster is not None:
        names = [summary.name for summary in clusters(store)]
        if filters.cluster not in names:
            held = f"it holds {', '.join(names)}" if names else "it holds no cluster yet"
            raise UsageError(f"no cluster {filters.cluster!r} in the store at {store.url}: {held}")
    if filters.rule is not None:
        known = sorted({*registry.ids, *stored_rule_ids(store)})
        _check_rule(filters.rule, known)
    if filters.kind is not None and known_kind(filters.kind) is None:
        stored = stored_kinds(store)
        if filters.kind.lower() not in {kind.lower() for kind in stored}:
            hint = kind_suggestion(filters.kind, stored)
            raise UsageError(
                f"unknown kind {filters.kind!r}{hint}: give a kind (Deployment), its plural "
                "(deployments) or kubectl's short name (deploy)"
            )


def _check_rule(rule: str, known: Sequence[str]) -> None:
    if any(ch in rule for ch in "*?["):
        if not any(fnmatchcase(rule_id, rule) for rule_id in known):
            raise UsageError(f"rule pattern {rule!r} matches no rule (see `kposture rules list`)")
        return
    if rule not in known:
        close = difflib.get_close_matches(rule, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else " (see `kposture rules list`)"
        raise UsageError(f"unknown rule {rule!r}{hint}")


def parse_severity(text: str) -> Severity:
    """``--severity``: a severity's name, in any case."""
    return Severity(_choice("--severity", text, [item.value for item in Severity]))


def parse_domain(text: str) -> Domain:
    """``--domain``: a domain's name, in any case."""
    return Domain(_choice("--domain", text, [item.value for item in Domain]))


def _choice(option: str, text: str, choices: Sequence[str]) -> str:
    if text.lower() in choices:
        return text.lower()
    close = difflib.get_close_matches(text.lower(), choices, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise UsageError(f"{option} {text!r}{hint}: give one of {', '.join(choices)}")


def check_limit(limit: int) -> None:
    """``--limit`` is 1 to MAX_HISTORY_LIMIT."""
    if not 1 <= limit <= MAX_HISTORY_LIMIT:
        raise UsageError(f"--limit {limit}: give a number of changes from 1 to {MAX_HISTORY_LIMIT}")


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


def findings_listing(found: list[StoredFinding]) -> Listing:
    """SEVERITY, RULE, RESOURCE, SINCE (to the second), CHANGED BY and MESSAGE (CLUSTER first
    when there are several); compact: the rule over its resource, and since when and by whom
    under the message."""
    several = len({item.cluster for item in found}) > 1
    headers = ["SEVERITY", "RULE", "RESOURCE", "SINCE", "CHANGED BY", "MESSAGE"]
    compact_headers = ["SEVERITY", "RULE / RESOURCE", "MESSAGE"]
    rows: list[list[str]] = []
    compact: list[list[Any]] = []
    for item in found:
        severity = item.severity.value + (" (suppressed)" if item.suppressed_by else "")
        since = rfc3339(item.first_seen, seconds=True)
        who = item.changed_by or "-"
        rows.append([severity, item.rule_id, item.resource.display(), since, who, item.message])
        compact.append(
            [
                stacked(severity),
                stacked(Name(item.rule_id, "-"), resource_name(item.resource)),
                stacked(item.message, Name(f"since {since} by {who}", " ")),
            ]
        )
        if several:
            rows[-1].insert(0, item.cluster)
            compact[-1].insert(0, Name(item.cluster, "-."))
    if several:
        headers.insert(0, "CLUSTER")
        compact_headers.insert(0, "CLUSTER")
    return Listing(
        headers,
        rows,
        compact_headers,
        compact,
        keep=frozenset({"SEVERITY"}),
        wrap=frozenset({"MESSAGE"}),
    )


def history_listing(entries: list[HistoryEntry]) -> Listing:
    """TIME (milliseconds), CHANGE, RESOURCE, RULE, SEVERITY, CHANGED BY and REASON (CLUSTER
    second when there are several); compact: the reason under the change, and the rule with its
    severity over the resource and who changed it."""
    several = len({entry.cluster for entry in entries}) > 1
    headers = ["TIME", "CHANGE", "RESOURCE", "RULE", "SEVERITY", "CHANGED BY", "REASON"]
    compact_headers = ["TIME", "CHANGE", "FINDING"]
    rows: list[list[str]] = []
    compact: list[list[Any]] = []
    for entry in entries:
        time = rfc3339(entry.at)
        who = entry.changed_by or "-"
        rows.append(
            [
                time,
                entry.change.value,
                entry.resource.display(),
                entry.rule_id,
                entry.severity.value,
                who,
                entry.reason,
            ]
        )
        compact.append(
            [
                stacked(time),
                stacked(entry.change.value, entry.reason),
                stacked(
                    Name(f"{entry.rule_id} ({entry.severity.value})", "- "),
                    resource_name(entry.resource),
                    Name(f"by {who}", " ") if entry.changed_by else "",
                ),
            ]
        )
        if several:
            rows[-1].insert(1, entry.cluster)
            compact[-1].insert(1, Name(entry.cluster, "-."))
    if several:
        headers.insert(1, "CLUSTER")
        compact_headers.insert(1, "CLUSTER")
    return Listing(headers, rows, compact_headers, compact, keep=frozenset({"TIME", "CHANGE"}))


def rfc3339(time: dt.datetime, *, seconds: bool = False) -> str:
    """UTC with a ``Z``, to the millisecond as alerts are (``seconds``: to the second)."""
    utc = time.astimezone(dt.UTC)
    return utc.isoformat(timespec="seconds" if seconds else "milliseconds").replace("+00:00", "Z")


def _fail(message: str) -> NoReturn:
    error_console().print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(EXIT_USAGE)

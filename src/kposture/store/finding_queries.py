"""Reading findings back: what is open now (``open_findings``), each finding's timeline
(``history``, and ``history_total`` for what its limit left out), the clusters that write to the
store (``clusters``), and the kinds and rules it holds findings of (for hints on filters that match
nothing).

Filters are applied in the database where an index helps (cluster, status, severity, namespace,
rule); a namespace matches the objects in it and the Namespace object itself. A rule glob is
narrowed with ``LIKE`` and matched exactly (``fnmatch``, case-sensitive) in Python. A domain is
not a store concept: the CLI maps a domain to its rule ids with the registry and passes them as
``rule_ids``. ``reconcile`` (``findings``) writes what these read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from kposture.model import ResourceRef, Severity
from kposture.model.lifecycle import Change, FindingStatus
from kposture.store.connecting import Store, StoreError, error_reason
from kposture.store.findings import change_of
from kposture.store.schema import clusters as clusters_table
from kposture.store.schema import finding_transitions as transitions_table
from kposture.store.schema import findings as findings_table
from kposture.store.schema import scans as scans_table

DEFAULT_HISTORY_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class StoredFinding:
    """A finding's current state in the store."""

    cluster: str
    fingerprint: str
    rule_id: str
    severity: Severity
    resource: ResourceRef
    path: str
    message: str
    status: FindingStatus
    suppressed_by: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    resolved_at: dt.datetime | None
    changed_by: str
    """Who made its last transition (the object's field manager then)."""


@dataclass(frozen=True, slots=True)
class FindingQuery:
    """Which open findings to read; every given filter must match."""

    cluster: str | None = None
    min_severity: Severity | None = None
    namespace: str | None = None
    """Objects in this namespace and the Namespace object itself; ``""``: cluster-scoped objects."""
    rule: str | None = None
    """A rule id or glob (``*``, ``?``, ``[...]``)."""
    rule_ids: frozenset[str] | None = None
    """Only these rules (a domain's, say); empty matches nothing."""
    kind: str | None = None
    """Case-insensitive, like kubectl."""
    include_suppressed: bool = False
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One transition of one finding, with the finding it changed."""

    at: dt.datetime
    cluster: str
    change: Change
    from_status: FindingStatus | None
    to_status: FindingStatus
    changed_by: str
    reason: str
    source: str
    """What recorded it: ``cluster`` (scan --save), ``watch``... (empty if its scan was deleted)."""
    fingerprint: str
    rule_id: str
    severity: Severity
    resource: ResourceRef
    path: str
    message: str


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Which transitions to read, newest first; every given filter must match."""

    cluster: str | None = None
    since: dt.datetime | None = None
    kind: str | None = None
    namespace: str | None = None
    """As ``FindingQuery.namespace``."""
    name: str | None = None
    rule: str | None = None
    """A rule id or glob."""
    fingerprint: str | None = None
    limit: int | None = DEFAULT_HISTORY_LIMIT


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    name: str
    server: str
    created_at: dt.datetime
    last_scan_at: dt.datetime | None
    open_findings: int


def _severities_at_least(minimum: Severity) -> list[str]:
    return [severity.value for severity in Severity if severity >= minimum]


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _like(pattern: str) -> str:
    """A ``LIKE`` pattern matching at least what the glob matches (up to its first ``[``)."""
    head = pattern.split("[", 1)[0]
    escaped = head.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = escaped.replace("*", "%").replace("?", "_")
    return like if "[" not in pattern else like + "%"


def _rule_filter(statement: Select[Any], rule: str | None) -> Select[Any]:
    if rule is None:
        return statement
    column = findings_table.c.rule_id
    if not _is_glob(rule):
        return statement.where(column == rule)
    return statement.where(column.like(_like(rule), escape="\\"))


def _namespace_filter(statement: Select[Any], namespace: str | None) -> Select[Any]:
    """Objects in ``namespace``, and the Namespace object itself (cluster-scoped: its own
    namespace is empty), as ``kubectl -n`` users expect."""
    if namespace is None:
        return statement
    f = findings_table
    if not namespace:
        return statement.where(f.c.namespace == "")  # cluster-scoped objects
    itself = and_(f.c.kind == "Namespace", f.c.namespace == "", f.c.name == namespace)
    return statement.where(or_(f.c.namespace == namespace, itself))


_SEVERITY_ORDER = case(
    {severity.value: -severity.rank for severity in Severity},
    value=findings_table.c.severity,
    else_=0,
)


def open_findings(store: Store, query: FindingQuery = FindingQuery()) -> list[StoredFinding]:
    """Open findings (and suppressed ones with ``include_suppressed``), most severe first, then
    by cluster, namespace, kind, name and rule."""
    if query.rule_ids is not None and not query.rule_ids:
        return []
    f = findings_table
    statuses = [FindingStatus.OPEN.value]
    if query.include_suppressed:
        statuses.append(FindingStatus.SUPPRESSED.value)
    statement: Select[Any] = (
        select(f, clusters_table.c.name.label("cluster_name"))
        .join(clusters_table, clusters_table.c.id == f.c.cluster_id)
        .where(f.c.status.in_(statuses))
        .order_by(
            _SEVERITY_ORDER,
            clusters_table.c.name,
            f.c.namespace,
            f.c.kind,
            f.c.name,
            f.c.rule_id,
            f.c.path,
            f.c.id,
        )
    )
    if query.cluster is not None:
        statement = statement.where(clusters_table.c.name == query.cluster)
    if query.min_severity is not None:
        statement = statement.where(f.c.severity.in_(_severities_at_least(query.min_severity)))
    statement = _namespace_filter(statement, query.namespace)
    if query.kind is not None:
        statement = statement.where(func.lower(f.c.kind) == query.kind.lower())
    if query.rule_ids is not None:
        statement = statement.where(f.c.rule_id.in_(sorted(query.rule_ids)))
    statement = _rule_filter(statement, query.rule)
    rows = _read(store, statement, "findings")
    found = (_finding(row) for row in rows)
    if query.rule is not None and _is_glob(query.rule):
        found = (item for item in found if fnmatchcase(item.rule_id, query.rule))
    result = list(found)
    return result if query.limit is None else result[: query.limit]


def history(store: Store, query: HistoryQuery = HistoryQuery()) -> list[HistoryEntry]:
    """Transitions matching ``query``, newest first (ties: last recorded first)."""
    t, f = transitions_table, findings_table
    columns = (
        t.c.at,
        t.c.from_status,
        t.c.to_status,
        t.c.changed_by,
        t.c.reason,
        scans_table.c.source,
        clusters_table.c.name.label("cluster_name"),
        f.c.fingerprint,
        f.c.rule_id,
        f.c.severity,
        f.c.api_version,
        f.c.kind,
        f.c.namespace,
        f.c.name,
        f.c.path,
        f.c.message,
    )
    statement = (
        _history_filtered(select(*columns), query)
        .outerjoin(scans_table, scans_table.c.id == t.c.scan_id)
        .order_by(t.c.at.desc(), t.c.id.desc())
    )
    exact_glob = query.rule is not None and _is_glob(query.rule)
    if query.limit is not None and not exact_glob:
        statement = statement.limit(query.limit)
    entries = [_entry(row) for row in _read(store, statement, "finding history")]
    if exact_glob:
        assert query.rule is not None
        entries = [e for e in entries if fnmatchcase(e.rule_id, query.rule)]
        if query.limit is not None:
            entries = entries[: query.limit]
    return entries


def history_total(store: Store, query: HistoryQuery = HistoryQuery()) -> int:
    """How many transitions match ``query``, whatever its ``limit``: what ``history`` left out
    when it returned ``limit`` of them."""
    rule = query.rule
    if rule is not None and _is_glob(rule):
        statement = _history_filtered(select(findings_table.c.rule_id), query)
        rows = _read(store, statement, "finding history")
        return sum(1 for row in rows if fnmatchcase(row.rule_id, rule))
    counted = _history_filtered(select(func.count()), query)
    return int(next(iter(_read(store, counted, "finding history")))[0])


def _history_filtered(statement: Select[Any], query: HistoryQuery) -> Select[Any]:
    """``statement`` over transitions joined to their findings and clusters, narrowed by every
    filter of ``query`` but its limit (a rule glob only by its ``LIKE`` prefix)."""
    t, f = transitions_table, findings_table
    statement = statement.select_from(t).join(f, f.c.id == t.c.finding_id)
    statement = statement.join(clusters_table, clusters_table.c.id == f.c.cluster_id)
    if query.cluster is not None:
        statement = statement.where(clusters_table.c.name == query.cluster)
    if query.since is not None:
        statement = statement.where(t.c.at >= query.since)
    if query.kind is not None:
        statement = statement.where(func.lower(f.c.kind) == query.kind.lower())
    statement = _namespace_filter(statement, query.namespace)
    if query.name is not None:
        statement = statement.where(f.c.name == query.name)
    if query.fingerprint is not None:
        statement = statement.where(f.c.fingerprint == query.fingerprint)
    return _rule_filter(statement, query.rule)


def clusters(store: Store) -> list[ClusterSummary]:
    """Every cluster in the store, by name, with its last scan and open finding count."""
    c, f = clusters_table, findings_table
    last_scan = (
        select(func.max(scans_table.c.finished_at))
        .where(scans_table.c.cluster_id == c.c.id)
        .scalar_subquery()
    )
    open_count = (
        select(func.count())
        .where(f.c.cluster_id == c.c.id, f.c.status == FindingStatus.OPEN.value)
        .scalar_subquery()
    )
    statement = select(
        c.c.name,
        c.c.server,
        c.c.created_at,
        last_scan.label("last_scan_at"),
        open_count.label("open_findings"),
    ).order_by(c.c.name)
    rows = _read(store, statement, "clusters")
    return [
        ClusterSummary(
            row.name,
            row.server,
            row.created_at,
            _utc(row.last_scan_at),
            int(row.open_findings),
        )
        for row in rows
    ]


def stored_kinds(store: Store) -> list[str]:
    """Every kind that has (or had) a finding in the store, sorted."""
    return _distinct(store, findings_table.c.kind)


def stored_rule_ids(store: Store) -> list[str]:
    """Every rule that has (or had) a finding in the store, sorted: custom rules too, which the
    built-in registry does not know."""
    return _distinct(store, findings_table.c.rule_id)


def _distinct(store: Store, column: Any) -> list[str]:
    rows = _read(store, select(column).distinct().order_by(column), "findings")
    return [str(row[0]) for row in rows]


def _utc(value: Any) -> dt.datetime | None:
    """A time from an aggregate, which loses the column type: SQLite returns the stored text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _read(store: Store, statement: Select[Any], what: str) -> Iterable[Any]:
    try:
        with store.engine.connect() as connection:
            return connection.execute(statement).all()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read {what} from {store.url}: {error_reason(exc)}") from exc


def _finding(row: Any) -> StoredFinding:
    return StoredFinding(
        cluster=row.cluster_name,
        fingerprint=row.fingerprint,
        rule_id=row.rule_id,
        severity=Severity(row.severity),
        resource=ResourceRef(row.api_version, row.kind, row.namespace, row.name),
        path=row.path,
        message=row.message,
        status=FindingStatus(row.status),
        suppressed_by=row.suppressed_by or "",
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        resolved_at=row.resolved_at,
        changed_by=row.changed_by,
    )


def _entry(row: Any) -> HistoryEntry:
    before = None if row.from_status is None else FindingStatus(row.from_status)
    after = FindingStatus(row.to_status)
    return HistoryEntry(
        at=row.at,
        cluster=row.cluster_name,
        change=change_of(before, after),
        from_status=before,
        to_status=after,
        changed_by=row.changed_by,
        reason=row.reason,
        source=row.source or "",
        fingerprint=row.fingerprint,
        rule_id=row.rule_id,
        severity=Severity(row.severity),
        resource=ResourceRef(row.api_version, row.kind, row.namespace, row.name),
        path=row.path,
        message=row.message,
    )

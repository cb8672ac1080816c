"""Findings over time: ``reconcile`` compares what was found now with what the store holds and
writes the lifecycle transitions (opened, resolved, reopened, suppressed, unsuppressed).

The database is the only state: every call reads the stored findings it needs, so any number of
processes (a watcher per cluster, ``scan --cluster --save``) and restarts converge. One call is one
transaction, serialised per cluster (a row lock on the cluster on PostgreSQL, the write lock on
SQLite), so two writers never open the same finding twice, and a process killed mid-call leaves
nothing half-written. Reconciling the same state twice writes no transition, which is how a
watcher restarted after SIGKILL converges without duplicates.

A ``Scope`` says which objects were evaluated: the whole cluster (a scan or a relist) or a few
objects (the watcher's incremental re-evaluation, deleted objects included). Only findings of
evaluated objects, of rules that ran, can resolve; everything else stays as it was. Reads and
writes are batched (a few statements per thousand findings), whatever the count.
No evaluation happens here: callers hand over the engine's findings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import SQLAlchemyError

from kposture.model import Finding, ResourceRef, Severity
from kposture.model.findings import Suppression
from kposture.model.lifecycle import Change, FindingStatus, Transition
from kposture.store.connecting import Store, StoreError, error_reason
from kposture.store.schema import clusters as clusters_table
from kposture.store.schema import finding_transitions as transitions_table
from kposture.store.schema import findings as findings_table
from kposture.store.schema import scans as scans_table

CHUNK = 1000
"""Rows per batched read or ``IN`` list: far below SQLite's and PostgreSQL's parameter limits."""

FIXED = "fixed"
DELETED = "deleted"

ObjectKey = tuple[str, str, str, str]
"""(API group, kind, namespace, name): an object whatever version it was read at."""


def object_key(ref: ResourceRef) -> ObjectKey:
    return (ref.group, ref.kind, ref.namespace, ref.name)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which objects an evaluation covered, so findings no longer found there can resolve.

    ``objects`` None is every object of the cluster (narrowed to ``namespaces`` plus cluster-scoped
    objects when given); else exactly these objects. Objects of ``skip_kinds`` (kinds that could not
    be listed) were not evaluated. ``rules`` None means every rule ran; else only findings of these
    rules may resolve (a rule turned off keeps its findings as they were). A resolved finding's
    reason is ``deleted`` when its object is in ``deleted``, or, when ``present`` lists the objects
    that exist, when its object is not there; else ``fixed``. Objects of the findings handed to
    ``reconcile`` are always in scope: they were evaluated.
    """

    objects: frozenset[ResourceRef] | None = None
    namespaces: frozenset[str] | None = None
    skip_kinds: frozenset[str] = frozenset()
    rules: frozenset[str] | None = None
    deleted: frozenset[ResourceRef] = frozenset()
    present: frozenset[ResourceRef] | None = None

    @classmethod
    def cluster(
        cls,
        *,
        present: Iterable[ResourceRef] | None = None,
        namespaces: Iterable[str] | None = None,
        skip_kinds: Iterable[str] = (),
        rules: Iterable[str] | None = None,
    ) -> Scope:
        """Every object of the cluster: a full scan or a relist."""
        return cls(
            objects=None,
            namespaces=None if namespaces is None else frozenset(namespaces),
            skip_kinds=frozenset(skip_kinds),
            rules=None if rules is None else frozenset(rules),
            present=None if present is None else frozenset(present),
        )

    @classmethod
    def of(
        cls,
        objects: Iterable[ResourceRef],
        *,
        deleted: Iterable[ResourceRef] = (),
        rules: Iterable[str] | None = None,
    ) -> Scope:
        """Exactly these objects, re-evaluated; ``deleted`` ones are gone (and in scope)."""
        gone = frozenset(deleted)
        return cls(
            objects=frozenset(objects) | gone,
            deleted=gone,
            rules=None if rules is None else frozenset(rules),
        )

    @property
    def is_cluster(self) -> bool:
        return self.objects is None


def nobody(_ref: ResourceRef) -> str:
    """The default ``changed_by_of``: no manager known."""
    return ""


def suppression_text(suppression: Suppression | None) -> str:
    """How a finding's exception is stored and shown: ``annotation: reason (until 2026-12-31)``."""
    if suppression is None:
        return ""
    text = f"{suppression.kind}: {suppression.reason}" if suppression.reason else suppression.kind
    return f"{text} (until {suppression.expires})" if suppression.expires else text


def change_of(from_status: FindingStatus | None, to_status: FindingStatus) -> Change:
    """The change a stored (from, to) status pair records."""
    if to_status is FindingStatus.RESOLVED:
        return Change.RESOLVED
    if to_status is FindingStatus.SUPPRESSED:
        return Change.SUPPRESSED
    if from_status is None:
        return Change.OPENED
    if from_status is FindingStatus.RESOLVED:
        return Change.REOPENED
    return Change.UNSUPPRESSED


_COLUMNS = (
    findings_table.c.id,
    findings_table.c.fingerprint,
    findings_table.c.rule_id,
    findings_table.c.severity,
    findings_table.c.api_version,
    findings_table.c.kind,
    findings_table.c.namespace,
    findings_table.c.name,
    findings_table.c.path,
    findings_table.c.message,
    findings_table.c.status,
    findings_table.c.suppressed_by,
    findings_table.c.changed_by,
)


@dataclass(frozen=True, slots=True)
class _Stored:
    id: int
    fingerprint: str
    rule_id: str
    severity: str
    resource: ResourceRef
    path: str
    message: str
    status: FindingStatus
    suppressed_by: str
    changed_by: str


def reconcile(
    target: Store | Connection,
    cluster: str,
    found: Iterable[Finding],
    scope: Scope,
    at: dt.datetime,
    *,
    changed_by_of: Callable[[ResourceRef], str] = nobody,
    source: str = "cluster",
    server: str = "",
    tool_version: str = "",
    objects: int = 0,
    scan_id: int | None = None,
) -> list[Transition]:
    """Record what was found now in ``scope`` of ``cluster`` at ``at`` and return the transitions.

    ``changed_by_of(ref)`` names who made the change (a field manager, see
    ``kposture.inventory.managers`` and the watcher's ``attribution``); it is asked once per
    object with a transition. A scan row (``source``: ``cluster``, ``watch``...; ``objects``
    evaluated) is recorded, unless ``scan_id`` names a session already started (``start_scan``),
    whose row is then brought up to date: finished at ``at``, ``objects`` and, for a whole-cluster
    scope, the findings found. Given a ``Store``, the call is its own transaction; given a
    ``Connection``, it runs in the caller's. ``StoreError`` when the database refuses.
    """
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()} given to reconcile (need UTC)")
    current: dict[str, Finding] = {}
    for finding in found:
        current.setdefault(finding.fingerprint, finding)
    run = _Reconciling(cluster, current, scope, at, changed_by_of)
    meta = {"source": source, "server": server, "tool_version": tool_version, "objects": objects}
    try:
        if isinstance(target, Connection):
            return run.execute(target, meta, scan_id)
        with target.engine.begin() as connection:
            return run.execute(connection, meta, scan_id)
    except SQLAlchemyError as exc:
        where = target.url if isinstance(target, Store) else "the store"
        raise StoreError(f"cannot record findings in {where}: {error_reason(exc)}") from exc


def has_findings(store: Store, cluster: str) -> bool:
    """Whether the store holds any finding of ``cluster`` (open or not): whether it was ever
    recorded, by a watch or by ``scan --cluster --save``."""
    statement = (
        select(findings_table.c.id)
        .join(clusters_table, clusters_table.c.id == findings_table.c.cluster_id)
        .where(clusters_table.c.name == cluster)
        .limit(1)
    )
    try:
        with store.engine.connect() as connection:
            return connection.execute(statement).first() is not None
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read {store.url}: {error_reason(exc)}") from None


def ensure_cluster(connection: Connection, name: str, at: dt.datetime, server: str = "") -> int:
    """The id of cluster ``name``, added on first use; its API ``server`` is kept up to date."""
    table = clusters_table
    row = connection.execute(select(table.c.id, table.c.server).where(table.c.name == name)).first()
    if row is None:
        dialect = pg_dialect if connection.dialect.name == "postgresql" else sqlite_dialect
        connection.execute(
            dialect.insert(table)
            .values(name=name, server=server, created_at=at)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        row = connection.execute(
            select(table.c.id, table.c.server).where(table.c.name == name)
        ).one()
    if server and row.server != server:
        connection.execute(update(table).where(table.c.id == row.id).values(server=server))
    return int(row.id)


def start_scan(
    target: Store | Connection,
    cluster: str,
    source: str,
    at: dt.datetime,
    *,
    server: str = "",
    tool_version: str = "",
) -> int:
    """Record the start of a scan or watch session and return its id, for ``reconcile(scan_id=)``."""
    try:
        if isinstance(target, Connection):
            return _start_scan(target, cluster, source, at, server, tool_version)
        with target.engine.begin() as connection:
            return _start_scan(connection, cluster, source, at, server, tool_version)
    except SQLAlchemyError as exc:
        where = target.url if isinstance(target, Store) else "the store"
        raise StoreError(f"cannot record a scan in {where}: {error_reason(exc)}") from exc


def _start_scan(
    connection: Connection, cluster: str, source: str, at: dt.datetime, server: str, version: str
) -> int:
    cluster_id = ensure_cluster(connection, cluster, at, server)
    return _insert_scan(connection, cluster_id, source, at, version, finished=False)


def _insert_scan(
    connection: Connection,
    cluster_id: int,
    source: str,
    at: dt.datetime,
    tool_version: str,
    *,
    objects: int = 0,
    findings: int = 0,
    finished: bool = True,
) -> int:
    return int(
        connection.execute(
            insert(scans_table)
            .values(
                cluster_id=cluster_id,
                source=source,
                started_at=at,
                finished_at=at if finished else None,
                tool_version=tool_version,
                objects=objects,
                findings=findings,
            )
            .returning(scans_table.c.id)
        ).scalar_one()
    )


def _lock_cluster(connection: Connection, cluster_id: int | None) -> None:
    """Serialise writers of one cluster's findings until this transaction ends."""
    if connection.dialect.name == "sqlite":
        dbapi = connection.connection.dbapi_connection
        if cluster_id is None and not getattr(dbapi, "in_transaction", True):
            # pysqlite begins lazily, at the first write: take the write lock before reading.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif cluster_id is not None:
        connection.execute(
            select(clusters_table.c.id).where(clusters_table.c.id == cluster_id).with_for_update()
        )


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stored(row: Any) -> _Stored:
    return _Stored(
        id=int(row.id),
        fingerprint=row.fingerprint,
        rule_id=row.rule_id,
        severity=row.severity,
        resource=ResourceRef(row.api_version, row.kind, row.namespace, row.name),
        path=row.path,
        message=row.message,
        status=FindingStatus(row.status),
        suppressed_by=row.suppressed_by or "",
        changed_by=row.changed_by,
    )


class _Reconciling:
    """One ``reconcile`` call: reads the stored state it needs, decides, writes in batches."""

    def __init__(
        self,
        cluster: str,
        current: dict[str, Finding],
        scope: Scope,
        at: dt.datetime,
        changed_by_of: Callable[[ResourceRef], str],
    ) -> None:
        self.cluster = cluster
        self.current = current
        self.scope = scope
        self.at = at
        self._changed_by_of = changed_by_of
        self._managers: dict[ResourceRef, str] = {}
        self.evaluated = {object_key(f.resource) for f in current.values()}
        if scope.objects is not None:
            self.evaluated.update(object_key(ref) for ref in scope.objects)
        self.deleted = {object_key(ref) for ref in scope.deleted}
        self.present = None if scope.present is None else {object_key(ref) for ref in scope.present}

    def who(self, ref: ResourceRef) -> str:
        manager = self._managers.get(ref)
        if manager is None:
            manager = self._managers[ref] = (self._changed_by_of(ref) or "")[:255]
        return manager

    def execute(
        self, connection: Connection, meta: dict[str, Any], scan_id: int | None
    ) -> list[Transition]:
        _lock_cluster(connection, None)
        cluster_id = ensure_cluster(connection, self.cluster, self.at, meta["server"])
        _lock_cluster(connection, cluster_id)
        if scan_id is None:
            scan_id = _insert_scan(
                connection,
                cluster_id,
                meta["source"],
                self.at,
                meta["tool_version"],
                objects=meta["objects"],
                findings=len(self.current),
            )
        else:
            values: dict[str, Any] = {"finished_at": self.at, "objects": meta["objects"]}
            if self.scope.is_cluster:
                values["findings"] = len(self.current)
            connection.execute(
                update(scans_table).where(scans_table.c.id == scan_id).values(**values)
            )
        stored = self._read(connection, cluster_id)
        transitions, writes = self._decide(stored)
        self._write(connection, cluster_id, scan_id, writes)
        return transitions

    def _read(self, connection: Connection, cluster_id: int) -> dict[str, _Stored]:
        """Stored findings that may change: unresolved ones in scope, and any with a fingerprint
        found now (a resolved one may reopen)."""
        table = findings_table
        unresolved = select(*_COLUMNS).where(
            table.c.cluster_id == cluster_id, table.c.status != FindingStatus.RESOLVED.value
        )
        rows: list[Any] = []
        if self.scope.is_cluster:
            rows.extend(connection.execute(unresolved))
        else:
            # By kind and name, which the (cluster, kind, name) index answers on both databases
            # (SQLite scans every finding of the cluster for a (kind, namespace, name) IN list);
            # the namespace is checked here.
            wanted = {(kind, ns, name) for _, kind, ns, name in self.evaluated}
            by_kind: dict[str, set[str]] = {}
            for kind, _, name in wanted:
                by_kind.setdefault(kind, set()).add(name)
            for kind, names in sorted(by_kind.items()):
                for chunk in _chunks(sorted(names)):
                    where = (table.c.kind == kind) & table.c.name.in_(chunk)
                    rows.extend(
                        row
                        for row in connection.execute(unresolved.where(where))
                        if (row.kind, row.namespace, row.name) in wanted
                    )
        stored = {row.fingerprint: _stored(row) for row in rows}
        missing = [fp for fp in self.current if fp not in stored]
        for chunk in _chunks(missing):
            statement = select(*_COLUMNS).where(
                table.c.cluster_id == cluster_id, table.c.fingerprint.in_(chunk)
            )
            stored.update((row.fingerprint, _stored(row)) for row in connection.execute(statement))
        return stored

    def _in_scope(self, row: _Stored) -> bool:
        ref = row.resource
        scope = self.scope
        if ref.kind in scope.skip_kinds:
            return False
        if scope.rules is not None and row.rule_id not in scope.rules:
            return False
        if scope.namespaces is not None and ref.namespace and ref.namespace not in scope.namespaces:
            return False
        return scope.is_cluster or object_key(ref) in self.evaluated

    def _resolution(self, ref: ResourceRef) -> str:
        key = object_key(ref)
        if key in self.deleted or (self.present is not None and key not in self.present):
            return DELETED
        return FIXED

    def _decide(self, stored: dict[str, _Stored]) -> tuple[list[Transition], _Writes]:
        writes = _Writes()
        transitions: list[Transition] = []
        at = self.at
        for fingerprint, finding in self.current.items():
            row = stored.get(fingerprint)
            status = FindingStatus.SUPPRESSED if finding.suppressed else FindingStatus.OPEN
            suppressed_by = suppression_text(finding.suppressed_by)
            path = finding.location.path if finding.location else ""
            before = None if row is None else row.status
            change = None if before is status else change_of(before, status)
            if change is None:
                assert row is not None
                if (
                    row.severity != finding.severity.value
                    or row.message != finding.message
                    or row.suppressed_by != suppressed_by
                    or row.path != path
                    or row.resource.api_version != finding.resource.api_version
                ):
                    writes.updates.append(
                        _update_row(row.id, finding, path, status, suppressed_by, row.changed_by)
                    )
                else:
                    writes.seen.append(row.id)
                continue
            who = self.who(finding.resource)
            reason = suppressed_by if change is Change.SUPPRESSED else ""
            transitions.append(
                Transition(
                    fingerprint,
                    finding.rule_id,
                    finding.severity,
                    finding.resource,
                    path,
                    finding.message,
                    change,
                    at,
                    who,
                    reason,
                )
            )
            if row is None:
                writes.inserts.append(_insert_row(finding, path, status, suppressed_by, who, at))
                writes.new_transitions.append((len(writes.inserts) - 1, None, status, who, reason))
            else:
                writes.updates.append(
                    _update_row(row.id, finding, path, status, suppressed_by, who)
                )
                writes.transitions.append((row.id, before, status, who, reason))
        for row in sorted(stored.values(), key=lambda r: r.id):
            if (
                row.fingerprint in self.current
                or row.status is FindingStatus.RESOLVED
                or not self._in_scope(row)
            ):
                continue
            who = self.who(row.resource)
            reason = self._resolution(row.resource)
            transitions.append(
                Transition(
                    row.fingerprint,
                    row.rule_id,
                    Severity(row.severity),
                    row.resource,
                    row.path,
                    row.message,
                    Change.RESOLVED,
                    at,
                    who,
                    reason,
                )
            )
            writes.resolutions.append({"b_id": row.id, "b_changed_by": who})
            writes.transitions.append((row.id, row.status, FindingStatus.RESOLVED, who, reason))
        return transitions, writes

    def _write(
        self, connection: Connection, cluster_id: int, scan_id: int, writes: _Writes
    ) -> None:
        table = findings_table
        at = self.at
        rows: list[dict[str, Any]] = []
        if writes.inserts:
            for row in writes.inserts:
                row["cluster_id"] = cluster_id
            ids = list(
                connection.execute(
                    insert(table).returning(table.c.id, sort_by_parameter_order=True),
                    writes.inserts,
                ).scalars()
            )
            for index, before, after, who, reason in writes.new_transitions:
                rows.append(_transition_row(ids[index], scan_id, at, before, after, who, reason))
        if writes.updates:
            connection.execute(_UPDATE.values(last_seen=at), writes.updates)
        if writes.resolutions:
            connection.execute(
                _RESOLVE.values(status="resolved", resolved_at=at), writes.resolutions
            )
        for chunk in _chunks(writes.seen):
            connection.execute(update(table).where(table.c.id.in_(chunk)).values(last_seen=at))
        rows.extend(
            _transition_row(finding_id, scan_id, at, before, after, who, reason)
            for finding_id, before, after, who, reason in writes.transitions
        )
        if rows:
            connection.execute(insert(transitions_table), rows)


_Pending = tuple[int, FindingStatus | None, FindingStatus, str, str]
"""(finding id or insert index, from status, to status, changed_by, reason)."""


@dataclass(slots=True)
class _Writes:
    inserts: list[dict[str, Any]]
    new_transitions: list[_Pending]
    updates: list[dict[str, Any]]
    resolutions: list[dict[str, Any]]
    seen: list[int]
    transitions: list[_Pending]

    def __init__(self) -> None:
        self.inserts, self.new_transitions, self.updates = [], [], []
        self.resolutions, self.seen, self.transitions = [], [], []


_UPDATE = (
    update(findings_table)
    .where(findings_table.c.id == bindparam("b_id"))
    .values(
        rule_id=bindparam("b_rule_id"),
        severity=bindparam("b_severity"),
        api_version=bindparam("b_api_version"),
        path=bindparam("b_path"),
        message=bindparam("b_message"),
        status=bindparam("b_status"),
        suppressed_by=bindparam("b_suppressed_by"),
        changed_by=bindparam("b_changed_by"),
        resolved_at=None,
    )
)

_RESOLVE = (
    update(findings_table)
    .where(findings_table.c.id == bindparam("b_id"))
    .values(changed_by=bindparam("b_changed_by"))
)


def _insert_row(
    finding: Finding,
    path: str,
    status: FindingStatus,
    suppressed_by: str,
    who: str,
    at: dt.datetime,
) -> dict[str, Any]:
    ref = finding.resource
    return {
        "fingerprint": finding.fingerprint,
        "rule_id": finding.rule_id,
        "severity": finding.severity.value,
        "api_version": ref.api_version,
        "kind": ref.kind,
        "namespace": ref.namespace,
        "name": ref.name,
        "path": path,
        "message": finding.message,
        "status": status.value,
        "suppressed_by": suppressed_by or None,
        "first_seen": at,
        "last_seen": at,
        "resolved_at": None,
        "changed_by": who,
    }


def _update_row(
    finding_id: int,
    finding: Finding,
    path: str,
    status: FindingStatus,
    suppressed_by: str,
    who: str,
) -> dict[str, Any]:
    """Parameters of ``_UPDATE``, which always leaves the finding unresolved."""
    return {
        "b_id": finding_id,
        "b_rule_id": finding.rule_id,
        "b_severity": finding.severity.value,
        "b_api_version": finding.resource.api_version,
        "b_path": path,
        "b_message": finding.message,
        "b_status": status.value,
        "b_suppressed_by": suppressed_by or None,
        "b_changed_by": who,
    }


def _transition_row(
    finding_id: int,
    scan_id: int,
    at: dt.datetime,
    before: FindingStatus | None,
    after: FindingStatus,
    who: str,
    reason: str,
) -> dict[str, Any]:
    return {
        "finding_id": finding_id,
        "scan_id": scan_id,
        "at": at,
        "from_status": None if before is None else before.value,
        "to_status": after.value,
        "changed_by": who,
        "reason": reason,
    }

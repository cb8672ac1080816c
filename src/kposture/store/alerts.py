"""Alerts in the store: writing them in batches (the audit webhook sink's worker, the watcher after
each batch's alerts went to the sinks) and reading the recent ones back.

An alert row holds the rule or detection id, severity, message, time, de-duplication key and, for a
detection, its event block (who, verb, resource, namespace, name, source IP, user agent, time, audit
ID, response code, decision) as JSON; its cluster (the clusters row, added on first use); for a
finding's transition, the transition row it announced (found by the finding's fingerprint and the
transition's time). Alerts carry no
object bodies, so no Secret value can reach the table: messages name keys and fingerprints only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import SQLAlchemyError

from kposture.model import Severity
from kposture.model.incidents import typed_event
from kposture.model.lifecycle import Alert, FindingAlert
from kposture.store.connecting import Store, StoreError, error_reason
from kposture.store.findings import ensure_cluster
from kposture.store.schema import alerts as alerts_table
from kposture.store.schema import finding_transitions as transitions_table
from kposture.store.schema import findings as findings_table

CHUNK = 1000


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert as read back."""

    id: int
    at: Any
    source: str
    rule_id: str
    severity: Severity
    message: str
    event: dict[str, str | int]
    """The event block, its ``response_code`` a number (as in the alert document)."""
    dedup_key: str
    transition_id: int | None = None
    """The ``finding_transitions`` row a finding's alert announced."""


def _row(alert: Alert) -> dict[str, Any]:
    return {
        "at": alert.at,
        "source": alert.source,
        "rule_id": alert.rule_id,
        "severity": alert.severity.value,
        "message": alert.message,
        "event": typed_event(alert.event) if alert.event is not None else None,
        "dedup_key": alert.dedup_key[:255],
        "cluster_id": None,  # every row has every key: one executemany
        "transition_id": None,
    }


def write_alerts(store: Store, alerts: Sequence[Alert], *, cluster: str = "") -> int:
    """Insert ``alerts`` in one transaction; return how many were written. Each row carries its
    cluster: ``cluster`` when given (watch), else the one the alert names (serve's audit sink:
    ``--cluster-name`` or the event's envelope), added to the clusters table on first use as a
    scan adds it; a finding's alert also carries the transition it announced."""
    if not alerts:
        return 0
    rows = [_row(alert) for alert in alerts]
    try:
        with store.engine.begin() as connection:
            _set_clusters(connection, cluster, alerts, rows)
            _link_transitions(connection, alerts, rows)
            connection.execute(insert(alerts_table), rows)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot write alerts: {error_reason(exc)}") from None
    return len(alerts)


def _set_clusters(
    connection: Connection, cluster: str, alerts: Sequence[Alert], rows: list[dict[str, Any]]
) -> None:
    """Set each row's ``cluster_id``: of ``cluster``, else of the alert's own cluster, if any."""
    ids: dict[str, int] = {}
    for alert, row in zip(alerts, rows, strict=True):
        name = cluster or alert.cluster
        if not name:
            continue
        if name not in ids:
            ids[name] = ensure_cluster(connection, name, alert.at)
        row["cluster_id"] = ids[name]


def _link_transitions(
    connection: Connection, alerts: Sequence[Alert], rows: list[dict[str, Any]]
) -> None:
    """Set a finding's alert's transition: one query per cluster and time."""
    waiting_by: dict[tuple[int, dt.datetime], dict[str, list[dict[str, Any]]]] = {}
    for alert, row in zip(alerts, rows, strict=True):
        if isinstance(alert, FindingAlert) and row["cluster_id"] is not None:
            waiting = waiting_by.setdefault((row["cluster_id"], alert.transition.at), {})
            waiting.setdefault(alert.transition.fingerprint, []).append(row)
    for (cluster_id, at), waiting in waiting_by.items():
        fingerprints = sorted(waiting)
        for start in range(0, len(fingerprints), CHUNK):
            statement = (
                select(findings_table.c.fingerprint, transitions_table.c.id)
                .join(transitions_table, transitions_table.c.finding_id == findings_table.c.id)
                .where(
                    findings_table.c.cluster_id == cluster_id,
                    findings_table.c.fingerprint.in_(fingerprints[start : start + CHUNK]),
                    transitions_table.c.at == at,
                )
                .order_by(transitions_table.c.id)
            )
            for fingerprint, transition_id in connection.execute(statement):
                for row in waiting[fingerprint]:
                    row["transition_id"] = transition_id


def recent_alerts(
    store: Store, *, rule_id: str | None = None, limit: int = 100
) -> list[StoredAlert]:
    """The newest ``limit`` alerts (of one rule or detection when given), newest first."""
    query = select(alerts_table).order_by(alerts_table.c.at.desc(), alerts_table.c.id.desc())
    if rule_id is not None:
        query = query.where(alerts_table.c.rule_id == rule_id)
    try:
        with store.engine.connect() as connection:
            rows = connection.execute(query.limit(limit)).mappings().all()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read alerts: {error_reason(exc)}") from None
    return [
        StoredAlert(
            row["id"],
            row["at"],
            row["source"],
            row["rule_id"],
            Severity(row["severity"]),
            row["message"],
            dict(row["event"] or {}),
            row["dedup_key"],
            row["transition_id"],
        )
        for row in rows
    ]

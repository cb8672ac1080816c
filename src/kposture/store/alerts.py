"""Alerts in the store: writing them in batches (the audit webhook sink's worker) and reading the
recent ones back.

An alert row holds the rule or detection id, severity, message, time, de-duplication key and, for a
detection, its event block (who, verb, resource, namespace, name, source IP, user agent, time, audit
ID, response code, decision) as JSON. Alerts carry no object bodies, so no Secret value can reach
the table: messages name keys and fingerprints only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError

from kposture.model import Severity
from kposture.model.lifecycle import Alert
from kposture.store.connecting import Store, StoreError, error_reason
from kposture.store.schema import alerts as alerts_table


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert as read back."""

    id: int
    at: Any
    source: str
    rule_id: str
    severity: Severity
    message: str
    event: dict[str, str]
    dedup_key: str


def _row(alert: Alert) -> dict[str, Any]:
    return {
        "at": alert.at,
        "source": alert.source,
        "rule_id": alert.rule_id,
        "severity": alert.severity.value,
        "message": alert.message,
        "event": dict(alert.event) if alert.event is not None else None,
        "dedup_key": alert.dedup_key[:255],
    }


def write_alerts(store: Store, alerts: Sequence[Alert]) -> int:
    """Insert ``alerts`` in one transaction; return how many were written."""
    if not alerts:
        return 0
    try:
        with store.engine.begin() as connection:
            connection.execute(insert(alerts_table), [_row(alert) for alert in alerts])
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot write alerts: {error_reason(exc)}") from None
    return len(alerts)


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
        )
        for row in rows
    ]

"""Admission decisions in the store: writing them in batches and reading the recent ones back.

``write_decisions`` inserts any number of decisions and their rule verdicts in one transaction (two
multi-row inserts, whatever the count). ``recent_decisions`` returns them newest first, filtered by
namespace, outcome, violated rule and time, as the ``AdmissionDecision`` values the webhook made.
The webhook itself never waits for the database: it hands decisions to a ``DecisionWriter``
(``decision_writing``), which calls ``write_decisions`` from a background thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import SQLAlchemyError

from kposture.model import ResourceRef, Severity
from kposture.model.admission import AdmissionDecision, AdmissionMode, Outcome, RuleVerdict
from kposture.store.connecting import Store, StoreError, error_reason
from kposture.store.schema import admission_decisions as decisions_table
from kposture.store.schema import admission_verdicts as verdicts_table

DEFAULT_LIMIT = 50


@dataclass(frozen=True, slots=True)
class DecisionQuery:
    """Which decisions to read: every given filter must match; ``limit`` newest are returned."""

    namespace: str | None = None
    outcome: Outcome | None = None
    rule_id: str | None = None
    """Only decisions with a verdict of this rule."""
    since: dt.datetime | None = None
    """Only decisions at or after this (aware) time."""
    limit: int = DEFAULT_LIMIT


def write_decisions(store: Store, decisions: Sequence[AdmissionDecision]) -> int:
    """Insert ``decisions`` (with their verdicts) in one transaction; return how many were written."""
    if not decisions:
        return 0
    rows = [_decision_row(decision) for decision in decisions]
    try:
        with store.engine.begin() as connection:
            # RETURNING in parameter order gives each decision its id from one multi-row insert.
            ids = connection.execute(
                insert(decisions_table).returning(
                    decisions_table.c.id, sort_by_parameter_order=True
                ),
                rows,
            ).scalars()
            verdicts = [
                _verdict_row(decision_id, position, verdict)
                for decision_id, decision in zip(ids, decisions, strict=True)
                for position, verdict in enumerate(decision.verdicts)
            ]
            if verdicts:
                connection.execute(insert(verdicts_table), verdicts)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot write admission decisions to {store.url}: {error_reason(exc)}"
        ) from exc
    return len(rows)


def recent_decisions(
    store: Store, query: DecisionQuery = DecisionQuery()
) -> list[AdmissionDecision]:
    """The newest decisions matching ``query``, newest first."""
    table = decisions_table
    statement = select(table).order_by(table.c.at.desc(), table.c.id.desc()).limit(query.limit)
    if query.namespace is not None:
        statement = statement.where(table.c.namespace == query.namespace)
    if query.outcome is not None:
        statement = statement.where(table.c.outcome == query.outcome.value)
    if query.since is not None:
        statement = statement.where(table.c.at >= query.since)
    if query.rule_id is not None:
        statement = statement.where(
            exists().where(
                verdicts_table.c.decision_id == table.c.id,
                verdicts_table.c.rule_id == query.rule_id,
            )
        )
    try:
        with store.engine.connect() as connection:
            rows = connection.execute(statement).mappings().all()
            ids = [row["id"] for row in rows]
            verdict_rows = (
                connection.execute(
                    select(verdicts_table)
                    .where(verdicts_table.c.decision_id.in_(ids))
                    .order_by(verdicts_table.c.decision_id, verdicts_table.c.position)
                )
                .mappings()
                .all()
                if ids
                else []
            )
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot read admission decisions from {store.url}: {error_reason(exc)}"
        ) from exc
    verdicts: dict[int, list[RuleVerdict]] = {}
    for row in verdict_rows:
        verdicts.setdefault(row["decision_id"], []).append(_verdict(row))
    return [_decision(row, verdicts.get(row["id"], ())) for row in rows]


def _decision_row(decision: AdmissionDecision) -> dict[str, Any]:
    ref = decision.resource
    return {
        "uid": decision.uid,
        "at": decision.time,
        "operation": decision.operation,
        "user_name": decision.user,
        "groups": list(decision.groups),
        "api_version": ref.api_version,
        "kind": ref.kind,
        "namespace": ref.namespace,
        "name": ref.name,
        "outcome": decision.outcome.value,
        "latency_ms": decision.latency_ms,
        "reason": decision.reason,
        "dry_run": decision.dry_run,
    }


def _verdict_row(decision_id: int, position: int, verdict: RuleVerdict) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "position": position,
        "rule_id": verdict.rule_id,
        "severity": verdict.severity.value,
        "mode": verdict.mode.value,
        "message": verdict.message,
    }


def _verdict(row: RowMapping) -> RuleVerdict:
    return RuleVerdict(
        rule_id=row["rule_id"],
        severity=Severity(row["severity"]),
        mode=AdmissionMode(row["mode"]),
        message=row["message"],
    )


def _decision(row: RowMapping, verdicts: Sequence[RuleVerdict]) -> AdmissionDecision:
    return AdmissionDecision(
        uid=row["uid"],
        time=row["at"],
        operation=row["operation"],
        user=row["user_name"],
        groups=tuple(row["groups"]),
        resource=ResourceRef(row["api_version"], row["kind"], row["namespace"], row["name"]),
        outcome=Outcome(row["outcome"]),
        verdicts=tuple(verdicts),
        latency_ms=row["latency_ms"],
        reason=row["reason"],
        dry_run=bool(row["dry_run"]),
    )

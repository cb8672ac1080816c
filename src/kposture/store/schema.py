"""The store's tables, as SQLAlchemy Core metadata: clusters, scans, findings with their lifecycle and
transitions, alerts, and admission decisions with their rule verdicts.

This module is the schema the code reads and writes; the Alembic revisions in ``migrations/versions``
create it (a test compares the migrated database with this metadata on SQLite and PostgreSQL, so the
two cannot drift). Every time is stored in UTC through ``UtcDateTime``: SQLite keeps fixed-width ISO
text (which sorts and compares as time), PostgreSQL ``timestamptz``; both read back as aware UTC.

Rule verdicts live in their own table rather than a JSON column: "decisions that violated rule X" is
then an indexed lookup on both backends, where JSON containment differs between them and cannot use a
plain index on SQLite. Secret values have no column anywhere: decisions and findings carry rule
messages, which name keys and fingerprints, never values.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An aware datetime stored in UTC; naive values are refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the store (need UTC)")
        utc = value.astimezone(dt.UTC)
        # SQLite has no time zones: keep the UTC wall time, so text order is time order.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


ID = BigInteger().with_variant(Integer(), "sqlite")
"""Row ids: 64-bit on PostgreSQL (a busy webhook outgrows 2^31 rows); SQLite's rowid already is."""


def _name(length: int = 253) -> String:
    """Kubernetes names are DNS subdomains: at most 253 characters."""
    return String(length)


clusters = Table(
    "clusters",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("server", String(2048), nullable=False, server_default=""),
    Column("created_at", UtcDateTime(), nullable=False),
)

scans = Table(
    "scans",
    metadata,
    Column("id", ID, primary_key=True),
    Column("cluster_id", ForeignKey("clusters.id", ondelete="CASCADE"), nullable=True),
    Column("source", String(32), nullable=False),  # cluster, manifests, snapshot, watch
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("tool_version", String(64), nullable=False, server_default=""),
    Column("objects", Integer, nullable=False, server_default="0"),
    Column("findings", Integer, nullable=False, server_default="0"),
    Index(None, "cluster_id", "started_at"),
)

FINDING_STATUSES = ("open", "resolved", "suppressed")
"""``model.lifecycle.FindingStatus`` values; the change a transition made (opened, reopened...)
follows from its from/to pair (``store.findings.change_of``)."""

findings = Table(
    "findings",
    metadata,
    Column("id", ID, primary_key=True),
    Column("cluster_id", ForeignKey("clusters.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", String(128), nullable=False),
    Column("rule_id", String(128), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("api_version", String(255), nullable=False),
    Column("kind", String(255), nullable=False),
    Column("namespace", _name(), nullable=False, server_default=""),
    Column("name", _name(), nullable=False),
    Column("path", Text, nullable=False, server_default=""),
    Column("message", Text, nullable=False),
    Column("status", String(16), nullable=False),  # one of FINDING_STATUSES
    Column("suppressed_by", Text, nullable=True),
    Column("first_seen", UtcDateTime(), nullable=False),
    Column("last_seen", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("changed_by", String(255), nullable=False, server_default=""),
    UniqueConstraint("cluster_id", "fingerprint"),
    Index(None, "cluster_id", "status", "severity"),
    Index(None, "cluster_id", "namespace", "rule_id"),
    Index(None, "rule_id", "status"),
    Index(None, "cluster_id", "kind", "name"),  # a reconcile's objects (revision 0002)
)

finding_transitions = Table(
    "finding_transitions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("finding_id", ForeignKey("findings.id", ondelete="CASCADE"), nullable=False),
    Column("scan_id", ForeignKey("scans.id", ondelete="SET NULL"), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("from_status", String(16), nullable=True),  # null when the finding first opens
    Column("to_status", String(16), nullable=False),
    Column("changed_by", String(255), nullable=False, server_default=""),
    Column("reason", Text, nullable=False, server_default=""),  # e.g. "deleted", "fixed"
    Index(None, "finding_id", "at"),
    Index(None, "at"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("cluster_id", ForeignKey("clusters.id", ondelete="CASCADE"), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("source", String(16), nullable=False),  # finding (a transition) or detection (audit log)
    Column("rule_id", String(128), nullable=False),  # rule id or detection id
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column(
        "transition_id", ForeignKey("finding_transitions.id", ondelete="SET NULL"), nullable=True
    ),
    Column("event", JSON, nullable=True),  # a detection's who/verb/resource/source IP/audit ID
    Column("dedup_key", String(255), nullable=False, server_default=""),
    Index(None, "at"),
    Index(None, "rule_id", "at"),
    Index(None, "dedup_key"),
)

admission_decisions = Table(
    "admission_decisions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("uid", String(64), nullable=False),  # the AdmissionReview request uid
    Column("at", UtcDateTime(), nullable=False),
    Column("operation", String(16), nullable=False),
    Column("user_name", String(512), nullable=False),
    Column("groups", JSON, nullable=False),
    Column("api_version", String(255), nullable=False),
    Column("kind", String(255), nullable=False),
    Column("namespace", _name(), nullable=False, server_default=""),
    Column("name", _name(), nullable=False, server_default=""),
    Column("outcome", String(16), nullable=False),
    Column("latency_ms", Float, nullable=False, server_default="0"),
    Column("reason", Text, nullable=False, server_default=""),
    Column("dry_run", Boolean, nullable=False, server_default=false()),
    Index(None, "at"),
    Index(None, "namespace", "at"),
    Index(None, "outcome", "at"),
    Index(None, "uid"),
)

admission_verdicts = Table(
    "admission_verdicts",
    metadata,
    Column(
        "decision_id",
        ForeignKey("admission_decisions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),  # the verdict's place in the decision
    Column("rule_id", String(128), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Index(None, "rule_id", "decision_id"),
)

"""Initial schema: clusters, scans, findings and their transitions, alerts, admission decisions and
their rule verdicts.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Frozen: later schema changes are new revisions, never edits here. Types are written out (no import
of ``kposture.store.schema``) so this revision keeps creating what it created on the day it shipped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("server", sa.String(2048), server_default="", nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clusters"),
        sa.UniqueConstraint("name", name="uq_clusters_name"),
    )
    op.create_table(
        "scans",
        sa.Column("id", ID, nullable=False),
        sa.Column("cluster_id", ID, nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("tool_version", sa.String(64), server_default="", nullable=False),
        sa.Column("objects", sa.Integer(), server_default="0", nullable=False),
        sa.Column("findings", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name="fk_scans_cluster_id_clusters", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_scans"),
    )
    op.create_index("ix_scans_cluster_id_started_at", "scans", ["cluster_id", "started_at"])
    op.create_table(
        "findings",
        sa.Column("id", ID, nullable=False),
        sa.Column("cluster_id", ID, nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("api_version", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(255), nullable=False),
        sa.Column("namespace", sa.String(253), server_default="", nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("path", sa.Text(), server_default="", nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("suppressed_by", sa.Text(), nullable=True),
        sa.Column("first_seen", TIME, nullable=False),
        sa.Column("last_seen", TIME, nullable=False),
        sa.Column("resolved_at", TIME, nullable=True),
        sa.Column("changed_by", sa.String(255), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name="fk_findings_cluster_id_clusters",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_findings"),
        sa.UniqueConstraint("cluster_id", "fingerprint", name="uq_findings_cluster_id_fingerprint"),
    )
    op.create_index(
        "ix_findings_cluster_id_status_severity", "findings", ["cluster_id", "status", "severity"]
    )
    op.create_index(
        "ix_findings_cluster_id_namespace_rule_id",
        "findings",
        ["cluster_id", "namespace", "rule_id"],
    )
    op.create_index("ix_findings_rule_id_status", "findings", ["rule_id", "status"])
    op.create_table(
        "finding_transitions",
        sa.Column("id", ID, nullable=False),
        sa.Column("finding_id", ID, nullable=False),
        sa.Column("scan_id", ID, nullable=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("changed_by", sa.String(255), server_default="", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["findings.id"],
            name="fk_finding_transitions_finding_id_findings",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name="fk_finding_transitions_scan_id_scans",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_finding_transitions"),
    )
    op.create_index(
        "ix_finding_transitions_finding_id_at", "finding_transitions", ["finding_id", "at"]
    )
    op.create_index("ix_finding_transitions_at", "finding_transitions", ["at"])
    op.create_table(
        "alerts",
        sa.Column("id", ID, nullable=False),
        sa.Column("cluster_id", ID, nullable=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("transition_id", ID, nullable=True),
        sa.Column("event", sa.JSON(), nullable=True),
        sa.Column("dedup_key", sa.String(255), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name="fk_alerts_cluster_id_clusters",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transition_id"],
            ["finding_transitions.id"],
            name="fk_alerts_transition_id_finding_transitions",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_at", "alerts", ["at"])
    op.create_index("ix_alerts_rule_id_at", "alerts", ["rule_id", "at"])
    op.create_index("ix_alerts_dedup_key", "alerts", ["dedup_key"])
    op.create_table(
        "admission_decisions",
        sa.Column("id", ID, nullable=False),
        sa.Column("uid", sa.String(64), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("user_name", sa.String(512), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("api_version", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(255), nullable=False),
        sa.Column("namespace", sa.String(253), server_default="", nullable=False),
        sa.Column("name", sa.String(253), server_default="", nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("latency_ms", sa.Float(), server_default="0", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("dry_run", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_admission_decisions"),
    )
    op.create_index("ix_admission_decisions_at", "admission_decisions", ["at"])
    op.create_index(
        "ix_admission_decisions_namespace_at", "admission_decisions", ["namespace", "at"]
    )
    op.create_index("ix_admission_decisions_outcome_at", "admission_decisions", ["outcome", "at"])
    op.create_index("ix_admission_decisions_uid", "admission_decisions", ["uid"])
    op.create_table(
        "admission_verdicts",
        sa.Column("decision_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["admission_decisions.id"],
            name="fk_admission_verdicts_decision_id_admission_decisions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("decision_id", "position", name="pk_admission_verdicts"),
    )
    op.create_index(
        "ix_admission_verdicts_rule_id_decision_id",
        "admission_verdicts",
        ["rule_id", "decision_id"],
    )


def downgrade() -> None:
    for table in (
        "admission_verdicts",
        "admission_decisions",
        "alerts",
        "finding_transitions",
        "findings",
        "scans",
        "clusters",
    ):
        op.drop_table(table)

"""Index findings by cluster, kind and name: a watcher's reconcile reads the findings of the few
objects it judged, which without it scanned every finding of the cluster (about 30 ms a batch with
37,000 findings).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Frozen: later schema changes are new revisions, never edits here.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_findings_cluster_id_kind_name", "findings", ["cluster_id", "kind", "name"])


def downgrade() -> None:
    op.drop_index("ix_findings_cluster_id_kind_name", table_name="findings")

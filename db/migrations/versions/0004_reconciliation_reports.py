"""Reconciliation reports: one row per table reconciled, the report as JSON.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported from db.types, so that this migration keeps
# meaning what it meant when the types change.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reconciliation_reports",
        sa.Column("id", ID, nullable=False),
        sa.Column("system_id", sa.String(100), nullable=False, comment="the plan's system id"),
        sa.Column("run_id", sa.String(255), nullable=True, comment="the migration run, if any"),
        sa.Column("table_name", sa.String(255), nullable=False, comment="the target table"),
        sa.Column("source_table", sa.String(255), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("legacy_rows", sa.BigInteger(), nullable=False),
        sa.Column("target_rows", sa.BigInteger(), nullable=False),
        sa.Column("missing_count", sa.BigInteger(), nullable=False),
        sa.Column("extra_count", sa.BigInteger(), nullable=False),
        sa.Column("changed_count", sa.BigInteger(), nullable=False),
        sa.Column("stopped", sa.Text(), nullable=True, comment="why a budget ended it early"),
        sa.Column("method", sa.String(32), nullable=False, comment="segments, streamed or keys"),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False,
                  comment="domain.reconciliation.TableReport"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_reports")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_reconciliation_reports_system_id_table_name_created_at"),
        "reconciliation_reports",
        ["system_id", "table_name", "created_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_reconciliation_reports_system_id_table_name_created_at"),
        "reconciliation_reports",
    )
    op.drop_table("reconciliation_reports")

"""Programme: legacy systems and their stage history, for the dashboard.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
MONEY = sa.Numeric(12, 2).with_variant(sa.BigInteger(), "sqlite")
STAGES = ("planned", "migrating", "reconciling", "shadow", "cutover", "frozen", "archived",
          "retired")  # fmt: skip


def _stage() -> sa.Enum:
    return sa.Enum(*STAGES, name="stage", native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "systems",
        sa.Column("id", sa.String(100), nullable=False, comment="the plan's system id"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("department", sa.String(255), nullable=False),
        sa.Column("stage", _stage(), nullable=False),
        sa.Column("cutover_percent", sa.Integer(), nullable=True,
                  comment="share of traffic on modern"),
        sa.Column("risk_score", sa.Integer(), nullable=False,
                  comment="CDDO legacy risk score out of 30"),
        sa.Column("annual_run_cost_gbp", MONEY, nullable=False),
        sa.Column("migration_cost_gbp", MONEY, nullable=False),
        sa.Column("rows_total", sa.BigInteger(), nullable=True),
        sa.Column("rows_migrated", sa.BigInteger(), nullable=False),
        sa.Column("last_reconciliation_passed", sa.Boolean(), nullable=True),
        sa.Column("last_reconciliation_at", TIMESTAMP, nullable=True),
        sa.Column("retired_on", sa.Date(), nullable=True, comment="run cost saved from this day"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_systems")),
    )  # fmt: skip
    op.create_index(op.f("ix_systems_stage"), "systems", ["stage"])
    op.create_index(op.f("ix_systems_department"), "systems", ["department"])

    op.create_table(
        "system_stage_changes",
        sa.Column("id", ID, nullable=False),
        sa.Column("system_id", sa.String(100), nullable=False),
        sa.Column("stage", _stage(), nullable=False),
        sa.Column("cutover_percent", sa.Integer(), nullable=True),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["system_id"], ["systems.id"],
                                name=op.f("fk_system_stage_changes_system_id_systems")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_stage_changes")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_system_stage_changes_system_id_occurred_at"),
        "system_stage_changes",
        ["system_id", "occurred_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_system_stage_changes_system_id_occurred_at"), "system_stage_changes")
    op.drop_table("system_stage_changes")
    op.drop_index(op.f("ix_systems_department"), "systems")
    op.drop_index(op.f("ix_systems_stage"), "systems")
    op.drop_table("systems")

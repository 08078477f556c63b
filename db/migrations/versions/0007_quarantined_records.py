"""Quarantined legacy records: what a copy set aside, kept until an engineer accepts it
or a fixed transform copies it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
STATES = ("open", "accepted", "rerun")


def upgrade() -> None:
    op.create_table(
        "quarantined_records",
        sa.Column("id", ID, nullable=False),
        sa.Column("system_id", sa.String(100), nullable=False, comment="the plan's system id"),
        sa.Column("table_name", sa.String(255), nullable=False,
                  comment="the source file or table"),
        sa.Column("record_number", sa.BigInteger(), nullable=False,
                  comment="1-based, in file order"),
        sa.Column("byte_offset", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False,
                  comment="field and position, never a value"),
        sa.Column("raw_key", sa.String(1024), nullable=True, comment="the raw bytes in storage"),
        sa.Column("raw_sha256", sa.String(64), nullable=True),
        sa.Column("raw_size", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.String(255), nullable=True,
                  comment="the copy that set it aside"),
        sa.Column("state",
                  sa.Enum(*STATES, name="quarantine_state", native_enum=False,
                          create_constraint=True, length=32),
                  nullable=False),
        sa.Column("decided_by", sa.String(255), nullable=True),
        sa.Column("decided_at", TIMESTAMP, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantined_records")),
        sa.UniqueConstraint("system_id", "table_name", "record_number",
                            name=op.f("uq_quarantined_records_system_id_table_name_record_number")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_quarantined_records_system_id_state"),
        "quarantined_records",
        ["system_id", "state"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_quarantined_records_system_id_state"), "quarantined_records")
    op.drop_table("quarantined_records")

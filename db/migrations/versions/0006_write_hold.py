"""The write hold at the switch of the system of record, and read-your-writes: the hold
and the applied-up-to mark on ``cutover_states``, the proxies' reports, and recent
writes shared between proxies.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
HOLD_STATES = ("none", "holding", "released")


def upgrade() -> None:
    with op.batch_alter_table("cutover_states") as batch:
        batch.add_column(sa.Column("hold_id", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("hold_state",
                      sa.Enum(*HOLD_STATES, name="hold_state", native_enum=False,
                              create_constraint=True, length=32),
                      nullable=False, server_default="none")
        )  # fmt: skip
        batch.add_column(sa.Column("hold_started_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("hold_max_s", sa.Float(), nullable=True))
        batch.add_column(
            sa.Column("applied_up_to", TIMESTAMP, nullable=True,
                      comment="the side that is not the system of record has applied its "
                              "changes up to here")
        )  # fmt: skip

    op.create_table(
        "router_proxies",
        sa.Column("system_id", sa.String(100), nullable=False),
        sa.Column("instance", sa.String(255), nullable=False),
        sa.Column("seen_at", TIMESTAMP, nullable=False),
        sa.Column("setting_version", sa.Integer(), nullable=False),
        sa.Column("hold_id", sa.Integer(), nullable=False, comment="the newest hold it took"),
        sa.Column("hold_state", sa.String(16), nullable=False,
                  comment="holding, released or expired"),
        sa.Column("in_flight_writes", sa.Integer(), nullable=False),
        sa.Column("held_writes", sa.Integer(), nullable=False,
                  comment="held under hold_id, so far"),
        sa.PrimaryKeyConstraint("system_id", "instance", name=op.f("pk_router_proxies")),
    )  # fmt: skip

    op.create_table(
        "router_recent_writes",
        sa.Column("id", ID, nullable=False),
        sa.Column("system_id", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(32), nullable=False),
        sa.Column("written_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_router_recent_writes")),
    )
    op.create_index(
        op.f("ix_router_recent_writes_system_id_id"), "router_recent_writes", ["system_id", "id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_router_recent_writes_system_id_id"), "router_recent_writes")
    op.drop_table("router_recent_writes")
    op.drop_table("router_proxies")
    with op.batch_alter_table("cutover_states") as batch:
        batch.drop_column("applied_up_to")
        batch.drop_column("hold_max_s")
        batch.drop_column("hold_started_at")
        # SQLite's batch copy would keep the CHECK on a column it no longer has.
        batch.drop_constraint(op.f("ck_cutover_states_hold_state"), type_="check")
        batch.drop_column("hold_state")
        batch.drop_column("hold_id")

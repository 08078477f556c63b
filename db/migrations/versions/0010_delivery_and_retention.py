"""Delivery of approved records (outbox, deliveries) and retention's actions.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
STATES = ("pending", "delivered", "dead")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", ID, nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("form_type", sa.String(100), nullable=True),
        sa.Column("approved_at", TIMESTAMP, nullable=False),
        sa.Column("expanded_at", TIMESTAMP, nullable=True,
                  comment="when its destinations were listed in deliveries"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.ForeignKeyConstraint(["record_id"], ["form_records.id"], ondelete="CASCADE",
                                name=op.f("fk_outbox_record_id_form_records")),
        sa.UniqueConstraint("record_id", "version", name=op.f("uq_outbox_record_id_version")),
    )  # fmt: skip
    op.create_index(op.f("ix_outbox_expanded_at"), "outbox", ["expanded_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("outbox_id", ID, nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(100), nullable=False,
                  comment="the template's name for it"),
        sa.Column("kind", sa.String(32), nullable=False, comment="postgres | webhook"),
        sa.Column("state",
                  sa.Enum(*STATES, name="delivery_state", native_enum=False,
                          create_constraint=True, length=32),
                  nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True, comment="never a field value"),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.Column("dead_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="CASCADE",
                                name=op.f("fk_deliveries_outbox_id_outbox")),
        sa.UniqueConstraint("outbox_id", "destination",
                            name=op.f("uq_deliveries_outbox_id_destination")),
    )  # fmt: skip
    op.create_index(op.f("ix_deliveries_state_id"), "deliveries", ["state", "id"])
    op.create_index(op.f("ix_deliveries_record_id"), "deliveries", ["record_id"])
    op.create_table(
        "retention_actions",
        sa.Column("id", ID, nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.Column("form_type", sa.String(100), nullable=True),
        sa.Column("action", sa.String(32), nullable=False,
                  comment="scan_deleted, record_deleted, erased"),
        sa.Column("done_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_actions")),
        sa.UniqueConstraint("record_id", "action",
                            name=op.f("uq_retention_actions_record_id_action")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_retention_actions_action_done_at"), "retention_actions", ["action", "done_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_retention_actions_action_done_at"), "retention_actions")
    op.drop_table("retention_actions")
    op.drop_index(op.f("ix_deliveries_record_id"), "deliveries")
    op.drop_index(op.f("ix_deliveries_state_id"), "deliveries")
    op.drop_table("deliveries")
    op.drop_index(op.f("ix_outbox_expanded_at"), "outbox")
    op.drop_table("outbox")

"""Mailroom intake: watched folders, S3 prefixes and mailboxes.

One row per file as it arrived by a route, so that no route takes a file twice and the
same content arriving by two routes is one document.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
STATES = ("taken", "duplicate", "quarantined")


def upgrade() -> None:
    op.create_table(
        "intake_items",
        sa.Column("id", ID, nullable=False),
        sa.Column("arrival", sa.String(64), nullable=False,
                  comment="sha256 of route, source, ref and content"),
        sa.Column("route", sa.String(20), nullable=False,
                  comment="folder | s3 | mailbox | upload"),
        sa.Column("source", sa.String(1024), nullable=False,
                  comment="folder, s3:// prefix or mailbox"),
        sa.Column("ref", sa.String(1024), nullable=False,
                  comment="path, key or message and part"),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("state",
                  sa.Enum(*STATES, name="intake_state", native_enum=False,
                          create_constraint=True, length=32),
                  nullable=False),
        sa.Column("documents", sa.JSON(), nullable=False,
                  comment="[{document_id, form_type, pages}] started from this file"),
        sa.Column("reason", sa.Text(), nullable=True, comment="why quarantined; never a value"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_items")),
        sa.UniqueConstraint("arrival", name=op.f("uq_intake_items_arrival")),
    )  # fmt: skip
    op.create_index(op.f("ix_intake_items_sha256"), "intake_items", ["sha256"])
    op.create_index(op.f("ix_intake_items_route_source"), "intake_items", ["route", "source"])


def downgrade() -> None:
    op.drop_index(op.f("ix_intake_items_route_source"), "intake_items")
    op.drop_index(op.f("ix_intake_items_sha256"), "intake_items")
    op.drop_table("intake_items")

"""Personal tokens: who is acting from the command line.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "personal_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("public_id", sa.String(32), nullable=False, comment="shown in lists"),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False, comment="what the person uses it for"),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_by", sa.String(255), nullable=True),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_personal_tokens_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_tokens")),
        sa.UniqueConstraint("public_id", name=op.f("uq_personal_tokens_public_id")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_personal_tokens_token_sha256")),
    )  # fmt: skip
    op.create_index(op.f("ix_personal_tokens_user_id"), "personal_tokens", ["user_id"])
    op.create_table(
        "acting_grants",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("token_id", ID, nullable=True),
        sa.Column("via", sa.String(20), nullable=False, comment="cli | web"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.Column("used_by", sa.String(512), nullable=True, comment="the activity that used it"),
        sa.ForeignKeyConstraint(["token_id"], ["personal_tokens.id"],
                                name=op.f("fk_acting_grants_token_id_personal_tokens"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acting_grants")),
    )  # fmt: skip
    op.create_index(op.f("ix_acting_grants_workflow_id_username"), "acting_grants",
                    ["workflow_id", "username"])  # fmt: skip


def downgrade() -> None:
    op.drop_index(op.f("ix_acting_grants_workflow_id_username"), "acting_grants")
    op.drop_table("acting_grants")
    op.drop_index(op.f("ix_personal_tokens_user_id"), "personal_tokens")
    op.drop_table("personal_tokens")

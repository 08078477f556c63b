"""Plans that travel with the run: each run's plan content and hash.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plan_versions",
        sa.Column("id", ID, nullable=False),
        sa.Column("version", sa.String(64), nullable=False,
                  comment="sha256 of content, folder and files"),
        sa.Column("system_id", sa.String(100), nullable=False, comment="the plan's system id"),
        sa.Column("plan_sha256", sa.String(64), nullable=False,
                  comment="sha256 of the plan file's bytes"),
        sa.Column("content", sa.Text(), nullable=False, comment="the plan's YAML as run"),
        sa.Column("filename", sa.Text(), nullable=False,
                  comment="where the engineer's file was"),
        sa.Column("base_dir", sa.Text(), nullable=False,
                  comment="relative paths resolve here"),
        sa.Column("files", sa.JSON(), nullable=False, comment="db.plans.PlanFile each"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_versions")),
        sa.UniqueConstraint("version", name=op.f("uq_plan_versions_version")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_plan_versions_system_id_created_at"),
        "plan_versions",
        ["system_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_plan_versions_system_id_created_at"), "plan_versions")
    op.drop_table("plan_versions")

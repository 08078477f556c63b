"""Caseworkers' corrections kept as labelled examples.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ocr_corrections",
        sa.Column("id", ID, nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(1024), nullable=False,
                  comment="the scan in the document store"),
        sa.Column("form_type", sa.String(100), nullable=True),
        sa.Column("field", sa.String(255), nullable=False),
        sa.Column("field_type", sa.String(32), nullable=True),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("bbox", sa.JSON(), nullable=True, comment="page fractions"),
        sa.Column("extracted", sa.JSON(), nullable=False,
                  comment="domain.forms.ExtractedField as extracted, with its readings"),
        sa.Column("corrected_value", sa.JSON(), nullable=True),
        sa.Column("corrected_by", sa.String(255), nullable=False),
        sa.Column("corrected_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ocr_corrections")),
        sa.UniqueConstraint("record_id", "field",
                            name=op.f("uq_ocr_corrections_record_id_field")),
    )  # fmt: skip
    op.create_index(op.f("ix_ocr_corrections_corrected_at"), "ocr_corrections", ["corrected_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ocr_corrections_corrected_at"), "ocr_corrections")
    op.drop_table("ocr_corrections")

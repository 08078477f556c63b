"""Digitisation: documents, quarantine, form records, review tasks, ledger, audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported from db.types, so that this migration keeps
# meaning what it meant when the types change.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
# NUMERIC(12, 2) pounds; whole pence in an integer on SQLite (see db.types.Money).
MONEY = sa.Numeric(12, 2).with_variant(sa.BigInteger(), "sqlite")


def _status(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(1024), nullable=False, comment="name when first seen"),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("storage_key", sa.String(1024), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
    )
    op.create_index(op.f("ix_documents_created_at"), "documents", ["created_at"])

    op.create_table(
        "quarantined_documents",
        sa.Column("id", ID, nullable=False),
        sa.Column("document_sha256", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(1024), nullable=False),
        sa.Column(
            "error_type", sa.String(100), nullable=False, comment="a domain.errors class name"
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("where", sa.String(255), nullable=True, comment="file or page"),
        sa.Column(
            "storage_key", sa.String(1024), nullable=False, comment="key of the quarantined copy"
        ),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantined_documents")),
    )
    op.create_index(
        op.f("ix_quarantined_documents_document_sha256"),
        "quarantined_documents",
        ["document_sha256"],
    )
    op.create_index(
        op.f("ix_quarantined_documents_created_at"), "quarantined_documents", ["created_at"]
    )

    op.create_table(
        "form_records",
        sa.Column("id", ID, nullable=False),
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.Column("form_type", sa.String(100), nullable=True),
        sa.Column(
            "status",
            _status(
                "status", "processing", "awaiting_review", "approved", "rejected", "quarantined"
            ),
            nullable=False,
        ),
        sa.Column(
            "fields",
            sa.JSON(),
            nullable=False,
            comment="name -> domain.forms.ExtractedField dumped as JSON",
        ),
        sa.Column(
            "reasons", sa.JSON(), nullable=False, comment="domain.forms.ReviewReason dumped as JSON"
        ),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("legacy_match", sa.JSON(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("decided_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_form_records_document_id_documents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_records")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_form_records_workflow_id")),
    )
    op.create_index(
        op.f("ix_form_records_status_form_type"), "form_records", ["status", "form_type"]
    )
    op.create_index(op.f("ix_form_records_document_id"), "form_records", ["document_id"])
    op.create_index(op.f("ix_form_records_created_at"), "form_records", ["created_at"])

    op.create_table(
        "review_tasks",
        sa.Column("id", ID, nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("form_type", sa.String(100), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("status", _status("status", "open", "approved", "rejected"), nullable=False),
        sa.Column(
            "due_at", TIMESTAMP, nullable=False, comment="SLA deadline; escalation after it"
        ),
        sa.Column("escalated_at", TIMESTAMP, nullable=True),
        sa.Column("claimed_by", sa.String(255), nullable=True),
        sa.Column("claim_expires_at", TIMESTAMP, nullable=True),
        sa.Column("decided_by", sa.String(255), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=True, comment="corrections and reason"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("decided_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id"], ["form_records.id"], name=op.f("fk_review_tasks_record_id_form_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_tasks")),
        sa.UniqueConstraint("record_id", name=op.f("uq_review_tasks_record_id")),
    )
    op.create_index(
        op.f("ix_review_tasks_status_form_type_due_at"),
        "review_tasks",
        ["status", "form_type", "due_at"],
    )
    op.create_index(op.f("ix_review_tasks_status_due_at"), "review_tasks", ["status", "due_at"])
    op.create_index(op.f("ix_review_tasks_workflow_id"), "review_tasks", ["workflow_id"])

    op.create_table(
        "ledger_entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", _status("kind", "form", "system"), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False, comment="form type or system id"),
        sa.Column(
            "ref", sa.String(255), nullable=False, comment="what was saved on: a record id"
        ),
        sa.Column("amount_gbp", MONEY, nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("kind", "ref", name=op.f("uq_ledger_entries_kind_ref")),
    )
    op.create_index(
        op.f("ix_ledger_entries_kind_subject_occurred_on"),
        "ledger_entries",
        ["kind", "subject", "occurred_on"],
    )
    op.create_index(op.f("ix_ledger_entries_occurred_on"), "ledger_entries", ["occurred_on"])

    op.create_table(
        "audit_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("subject_type", sa.String(100), nullable=False),
        sa.Column("subject_id", sa.String(255), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
    )
    op.create_index(
        op.f("ix_audit_events_subject_type_subject_id"),
        "audit_events",
        ["subject_type", "subject_id"],
    )
    op.create_index(op.f("ix_audit_events_occurred_at"), "audit_events", ["occurred_at"])


def downgrade() -> None:
    # Dropping a table drops its indexes; children before parents.
    for table in (
        "audit_events",
        "ledger_entries",
        "review_tasks",
        "form_records",
        "quarantined_documents",
        "documents",
    ):
        op.drop_table(table)

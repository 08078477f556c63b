"""Form records: what digitisation made of each document."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.log import get_logger
from db.models import FormRecord, RecordStatus
from db.outbox import enqueue_approved
from db.session import insert_or_ignore
from db.types import json_ready
from domain.errors import NotFoundError
from domain.forms import ExtractedField, ReviewReason

log = get_logger(__name__)


def save_form_record(
    session: Session,
    *,
    workflow_id: str,
    document_id: str,
    form_type: str | None,
    status: RecordStatus,
    fields: Mapping[str, ExtractedField],
    reasons: Sequence[ReviewReason] = (),
    legacy_match: Mapping[str, Any] | None = None,
    decided_at: dt.datetime | None = None,
) -> FormRecord:
    """Create or update the record of a digitisation workflow (one record per workflow).

    Calling it again with the same ``workflow_id`` updates the record's form type, status,
    fields, reasons, legacy match and decision time: a retried activity writes the same
    thing twice, and a later step of the workflow moves the record on. The document a
    record was made from never changes.

    Args:
        session: the caller's session.
        workflow_id: the Temporal workflow that owns the record.
        document_id: the document's sha256.
        form_type: the template's form type; None when no template matched.
        status: where the record is.
        fields: the extracted fields by name.
        reasons: why the record needs (or needed) review.
        legacy_match: what matching against the legacy system found.
        decided_at: when the record was approved or rejected.
    """
    values: dict[str, Any] = {
        "form_type": form_type,
        "status": RecordStatus(status),
        "fields": {name: field.model_dump(mode="json") for name, field in fields.items()},
        "reasons": [reason.model_dump(mode="json") for reason in reasons],
        "legacy_match": json_ready(dict(legacy_match)) if legacy_match is not None else None,
        "decided_at": decided_at,
    }
    statement = (
        insert_or_ignore(session, FormRecord)
        .values(workflow_id=workflow_id, document_id=document_id, **values)
        .on_conflict_do_update(index_elements=[FormRecord.workflow_id], set_=values)
    )
    session.execute(statement)
    record = get_form_record_by_workflow(session, workflow_id)
    if record.status is RecordStatus.APPROVED and decided_at is not None:
        enqueue_approved(session, record)  # delivered if and only if approved
    # Field names and counts only: field values are personal data.
    log.info(
        "form_record.saved",
        record_id=record.id,
        workflow_id=workflow_id,
        form_type=form_type,
        status=str(record.status),
        field_names=sorted(fields),
        reason_count=len(values["reasons"]),
    )
    return record


def get_form_record(session: Session, record_id: int) -> FormRecord:
    """The record with this id.

    Raises:
        NotFoundError: no such record.
    """
    record = session.execute(
        select(FormRecord)
        .where(FormRecord.id == record_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if record is None:
        raise NotFoundError(f"no form record {record_id}")
    return record


def get_form_record_by_workflow(session: Session, workflow_id: str) -> FormRecord:
    """The record a workflow made.

    Raises:
        NotFoundError: the workflow has saved no record.
    """
    record = session.execute(
        select(FormRecord)
        .where(FormRecord.workflow_id == workflow_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if record is None:
        raise NotFoundError(f"no form record for workflow {workflow_id}")
    return record


def list_form_records(
    session: Session,
    *,
    status: RecordStatus | None = None,
    form_type: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[FormRecord]:
    """Records, newest first, optionally of one status and one form type."""
    statement = select(FormRecord)
    if status is not None:
        statement = statement.where(FormRecord.status == RecordStatus(status))
    if form_type is not None:
        statement = statement.where(FormRecord.form_type == form_type)
    statement = statement.order_by(FormRecord.created_at.desc(), FormRecord.id.desc())
    return session.scalars(statement.limit(limit).offset(offset)).all()

"""Small builders of rows for the db tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools

from sqlalchemy.orm import Session

from db.documents import register_document
from db.models import FormRecord, RecordStatus, ReviewTask
from db.records import save_form_record
from db.review import open_review_task
from domain.forms import ExtractedField, ReviewReason

_counter = itertools.count(1)

LOW_CONFIDENCE = ReviewReason(field="surname", code="low_confidence", detail="confidence 0.41")


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_record(
    session: Session,
    *,
    workflow_id: str | None = None,
    form_type: str = "register-to-vote",
    status: RecordStatus = RecordStatus.AWAITING_REVIEW,
) -> FormRecord:
    n = next(_counter)
    sha = sha256_of(f"document {n}")
    register_document(
        session,
        sha256=sha,
        filename=f"scan-{n}.png",
        content_type="image/png",
        size_bytes=1000 + n,
        storage_key=f"documents/{sha[:2]}/{sha[2:4]}/{sha}",
    )
    return save_form_record(
        session,
        workflow_id=workflow_id or f"digitise-{n}",
        document_id=sha,
        form_type=form_type,
        status=status,
        fields={
            "surname": ExtractedField(value="OKAFOR", confidence=0.41, valid=True, page=1),
            "date_of_birth": ExtractedField(value="1961-03-12", confidence=0.97, valid=True),
        },
        reasons=[LOW_CONFIDENCE],
    )


def make_task(
    session: Session,
    *,
    form_type: str = "register-to-vote",
    due_at: dt.datetime | None = None,
) -> ReviewTask:
    record = make_record(session, form_type=form_type)
    return open_review_task(
        session,
        record_id=record.id,
        workflow_id=record.workflow_id,
        form_type=form_type,
        reasons=[LOW_CONFIDENCE],
        due_at=due_at or dt.datetime(2026, 1, 3, tzinfo=dt.UTC),
    )

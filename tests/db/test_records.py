"""Form records: one per workflow, updated in place as the workflow moves on."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from db.models import RecordStatus
from db.records import (
    get_form_record,
    get_form_record_by_workflow,
    list_form_records,
    save_form_record,
)
from db.session import session_scope
from domain.errors import ConflictError, NotFoundError
from domain.forms import ExtractedField, ReviewReason
from tests.db.factories import make_record, sha256_of

FIELDS = {
    "surname": ExtractedField(
        value="OKAFOR", confidence=0.93, valid=True, page=1, bbox=(0.31, 0.22, 0.55, 0.25)
    ),
    "date_of_birth": ExtractedField(value=dt.date(1961, 3, 12), confidence=0.88, valid=True),
    "fee": ExtractedField(value=Decimal("12.50"), confidence=0.7, valid=False, error="too low"),
}


def test_fields_are_stored_as_extracted_field_dumps(db_url: str) -> None:
    with session_scope(db_url) as session:
        record = make_record(session, workflow_id="wf-1")
        save_form_record(
            session,
            workflow_id="wf-1",
            document_id=record.document_id,
            form_type="register-to-vote",
            status=RecordStatus.PROCESSING,
            fields=FIELDS,
            reasons=[ReviewReason(field="fee", code="invalid", detail="too low")],
            legacy_match={"elector_id": "E0000017", "score": Decimal("0.97")},
        )
    with session_scope(db_url) as session:
        stored = get_form_record_by_workflow(session, "wf-1")
    assert stored.fields["surname"] == {
        "value": "OKAFOR",
        "confidence": 0.93,
        "valid": True,
        "page": 1,
        "bbox": [0.31, 0.22, 0.55, 0.25],
        "error": None,
        "readings": [],
        "doubts": [],
    }
    assert stored.fields["date_of_birth"]["value"] == "1961-03-12"
    assert stored.fields["fee"]["value"] == "12.50"
    assert ExtractedField.model_validate(stored.fields["surname"]) == FIELDS["surname"]
    assert stored.reasons == [{"field": "fee", "code": "invalid", "detail": "too low"}]
    assert stored.legacy_match == {"elector_id": "E0000017", "score": "0.97"}


def test_saving_again_updates_the_one_record_of_the_workflow(db_url: str) -> None:
    with session_scope(db_url) as session:
        record = make_record(session, workflow_id="wf-2", status=RecordStatus.AWAITING_REVIEW)
        first_id, created_at = record.id, record.created_at
    decided = dt.datetime(2026, 2, 1, 12, tzinfo=dt.UTC)
    for _ in range(2):  # the activity is retried: same result
        with session_scope(db_url) as session:
            record = save_form_record(
                session,
                workflow_id="wf-2",
                document_id=record.document_id,
                form_type="register-to-vote",
                status=RecordStatus.APPROVED,
                fields=FIELDS,
                decided_at=decided,
            )
    assert record.id == first_id
    with session_scope(db_url) as session:
        record = get_form_record(session, first_id)
        assert record.status is RecordStatus.APPROVED
        assert record.decided_at == decided
        assert record.created_at == created_at
        assert record.reasons == []
        assert len(list_form_records(session)) == 1


def test_a_record_needs_a_registered_document(db_url: str) -> None:
    with pytest.raises(ConflictError), session_scope(db_url) as session:
        save_form_record(
            session,
            workflow_id="wf-orphan",
            document_id=sha256_of("not registered"),
            form_type=None,
            status=RecordStatus.QUARANTINED,
            fields={},
        )


def test_listing_filters_on_status_and_form_type(db_url: str) -> None:
    with session_scope(db_url) as session:
        make_record(session, form_type="a", status=RecordStatus.APPROVED)
        make_record(session, form_type="a", status=RecordStatus.AWAITING_REVIEW)
        make_record(session, form_type="b", status=RecordStatus.AWAITING_REVIEW)
    with session_scope(db_url) as session:
        assert len(list_form_records(session)) == 3
        waiting = list_form_records(session, status=RecordStatus.AWAITING_REVIEW)
        assert {r.form_type for r in waiting} == {"a", "b"}
        assert len(list_form_records(session, status=RecordStatus.APPROVED, form_type="a")) == 1
        assert list_form_records(session, form_type="c") == []
        assert len(list_form_records(session, limit=2)) == 2


def test_unknown_record_is_not_found(db_url: str) -> None:
    with session_scope(db_url) as session:
        with pytest.raises(NotFoundError):
            get_form_record(session, 999)
        with pytest.raises(NotFoundError):
            get_form_record_by_workflow(session, "nope")

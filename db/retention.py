"""Retention and erasure in the engine database.

Retention: a form type's template keeps scans ``scans_days`` after the decision and
records ``records_years`` after it. ``due_scans`` and ``due_records`` find what is due at
a given time; ``scan_deleted`` and ``record_deleted`` write what was done, once per
record, with an event in the audit trail naming the record and the rule, never a value.
Storage is the caller's: it deletes the objects named by ``scan_keys`` first, then
commits these changes, so a crash in between repeats the deletion (a no-op) next time.

Erasure: ``find_person`` finds one person's records by National Insurance number;
``erase_record`` blanks their values, reasons and legacy match, closes their pending
deliveries and returns the scan keys to delete. The audit trail is left as it is: its
events name fields and ids, never values.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, String, delete, exists, func, or_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from config.log import get_logger
from db.audit import append_audit_event
from db.corrections import delete_corrections
from db.models import (
    Delivery,
    DeliveryState,
    Document,
    FormRecord,
    IntakeItem,
    QuarantinedDocument,
    RetentionAction,
    ReviewTask,
)
from db.types import canonical_json, utcnow
from domain.digitise import RecordStatus

log = get_logger(__name__)

ACTOR = "switchover"
SCAN_DELETED = "scan_deleted"
RECORD_DELETED = "record_deleted"
ERASED = "erased"
DECIDED = (RecordStatus.APPROVED, RecordStatus.REJECTED)
DAYS_PER_YEAR = 365.25


def years(count: int) -> dt.timedelta:
    """``count`` years as a duration (leap days included on average)."""
    return dt.timedelta(days=round(count * DAYS_PER_YEAR))


def _not_done(action: str) -> Any:
    return ~exists().where(RetentionAction.record_id == FormRecord.id,
                           RetentionAction.action == action)  # fmt: skip


def due_scans(
    session: Session, scans_days: Mapping[str, int], as_of: dt.datetime, *, limit: int
) -> list[FormRecord]:
    """Decided records of each form type whose scan is kept ``scans_days[form_type]`` days
    after the decision and is due by ``as_of``, oldest decision first."""
    found: list[FormRecord] = []
    for form_type, days in sorted(scans_days.items()):
        found.extend(session.scalars(
            select(FormRecord).where(
                FormRecord.form_type == form_type, FormRecord.status.in_(DECIDED),
                FormRecord.decided_at <= as_of - dt.timedelta(days=days), _not_done(SCAN_DELETED),
            ).order_by(FormRecord.decided_at, FormRecord.id).limit(limit - len(found))
        ))  # fmt: skip
        if len(found) >= limit:
            break
    return found


def due_records(
    session: Session, records_years: Mapping[str, int], as_of: dt.datetime, *, limit: int
) -> list[FormRecord]:
    """Decided records due for deletion by ``as_of`` (``records_years`` after the decision)."""
    found: list[FormRecord] = []
    for form_type, count in sorted(records_years.items()):
        found.extend(session.scalars(
            select(FormRecord).where(
                FormRecord.form_type == form_type, FormRecord.status.in_(DECIDED),
                FormRecord.decided_at <= as_of - years(count),
            ).order_by(FormRecord.decided_at, FormRecord.id).limit(limit - len(found))
        ))  # fmt: skip
        if len(found) >= limit:
            break
    return found


def scan_keys(session: Session, record: FormRecord) -> list[str]:
    """The storage keys of a record's scan: the original and any quarantined copy."""
    document = session.get(Document, record.document_id)
    keys = [document.storage_key] if document is not None and document.storage_key else []
    keys += session.scalars(
        select(QuarantinedDocument.storage_key).where(
            QuarantinedDocument.document_sha256 == record.document_id
        )
    ).all()
    return keys


def _forget_scan(session: Session, record: FormRecord) -> None:
    """The database's side of a deleted scan: the file's name (it may name the person)
    and the quarantine rows that pointed at its copies."""
    session.execute(
        update(Document).where(Document.id == record.document_id).values(filename="(deleted)")
    )
    session.execute(
        delete(QuarantinedDocument).where(QuarantinedDocument.document_sha256 == record.document_id)
    )
    # Where the scan arrived from (a path, an object key, a mail and its part) may name
    # the person too; a bulk scan's arrival lists the documents split from it.
    session.execute(
        update(IntakeItem)
        .where(or_(IntakeItem.sha256 == record.document_id,
                   sql_cast(IntakeItem.documents, String).contains(record.document_id)))
        .values(ref="(deleted)")
    )  # fmt: skip


def _done(session: Session, record: FormRecord, action: str, at: dt.datetime) -> bool:
    """Note an action on a record; False when it was noted before (nothing to do)."""
    noted = session.scalar(select(RetentionAction.id).where(
        RetentionAction.record_id == record.id, RetentionAction.action == action))  # fmt: skip
    if noted is not None:
        return False
    session.add(RetentionAction(record_id=record.id, document_id=record.document_id,
                                form_type=record.form_type, action=action, done_at=at))  # fmt: skip
    session.flush()
    return True


def scan_deleted(session: Session, record: FormRecord, *, rule: str, at: dt.datetime) -> None:
    """Record that retention deleted a record's scan (its objects already gone)."""
    if not _done(session, record, SCAN_DELETED, at):
        return
    _forget_scan(session, record)
    append_audit_event(
        session, actor=ACTOR, action="retention.scan_deleted", subject_type="form_record",
        subject_id=record.id,
        detail={"form_type": record.form_type, "rule": rule, "document_id": record.document_id,
                "as_of": at.isoformat()},
    )  # fmt: skip


def record_deleted(session: Session, record: FormRecord, *, rule: str, at: dt.datetime) -> None:
    """Delete a record with its review task and deliveries (its scan objects already gone);
    the document row goes too when no other record was made from it."""
    _done(session, record, SCAN_DELETED, at)
    if not _done(session, record, RECORD_DELETED, at):
        return
    record_id, document_id = record.id, record.document_id
    session.execute(delete(ReviewTask).where(ReviewTask.record_id == record_id))
    delete_corrections(session, record_id)
    session.execute(delete(FormRecord).where(FormRecord.id == record_id))
    session.flush()
    others = session.scalar(select(func.count()).where(FormRecord.document_id == document_id))
    _forget_scan(session, record)
    if not others:
        session.execute(delete(Document).where(Document.id == document_id))
    append_audit_event(
        session, actor=ACTOR, action="retention.record_deleted", subject_type="form_record",
        subject_id=record_id,
        detail={"form_type": record.form_type, "rule": rule, "document_id": document_id,
                "as_of": at.isoformat()},
    )  # fmt: skip


@dataclass
class DueSummary:
    """What retention will delete for one form type: now, and within the coming days."""

    form_type: str
    scans_days: int | None
    records_years: int | None
    scans_due: int = 0
    scans_due_soon: int = 0
    records_due: int = 0


def due_summary(
    session: Session,
    rules: Mapping[str, tuple[int | None, int | None]],
    as_of: dt.datetime,
    *,
    soon: dt.timedelta = dt.timedelta(days=30),
) -> list[DueSummary]:
    """Per form type with a retention rule (``form_type -> (scans_days, records_years)``):
    scans due now, scans due within ``soon``, records due now."""
    rows = []
    for form_type, (scans_days, records_years) in sorted(rules.items()):
        row = DueSummary(form_type, scans_days, records_years)
        base = [FormRecord.form_type == form_type, FormRecord.status.in_(DECIDED)]
        if scans_days is not None:
            limit = as_of - dt.timedelta(days=scans_days)
            count = (
                select(func.count()).select_from(FormRecord).where(*base, _not_done(SCAN_DELETED))
            )
            row.scans_due = session.scalar(count.where(FormRecord.decided_at <= limit)) or 0
            row.scans_due_soon = session.scalar(
                count.where(FormRecord.decided_at > limit, FormRecord.decided_at <= limit + soon)
            ) or 0  # fmt: skip
        if records_years is not None:
            row.records_due = session.scalar(
                select(func.count()).select_from(FormRecord)
                .where(*base, FormRecord.decided_at <= as_of - years(records_years))
            ) or 0  # fmt: skip
        rows.append(row)
    return rows


# --- erasure ---------------------------------------------------------------------------


def compact_ni(value: object) -> str:
    """An NI number as compared: letters and digits only, upper case."""
    return re.sub(r"[^0-9A-Za-z]", "", str(value)).upper()


@dataclass
class ErasedRecord:
    record_id: int
    form_type: str | None
    fields_erased: list[str]
    scan_keys: list[str]
    review_task: int | None
    legacy_match_erased: bool
    deliveries_closed: int
    delivered_to: list[str]
    corrections_deleted: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "form_type": self.form_type,
            "fields_erased": self.fields_erased,
            "scans_deleted": len(self.scan_keys),
            "review_task": self.review_task,
            "legacy_match_erased": self.legacy_match_erased,
            "pending_deliveries_closed": self.deliveries_closed,
            "already_delivered_to": self.delivered_to,
            "corrections_deleted": self.corrections_deleted,
        }


@dataclass
class ErasureReport:
    """What an erasure removed (or, on a dry run, would remove). No personal data."""

    dry_run: bool
    records: list[ErasedRecord] = field(default_factory=list)
    legacy_matches_cleared: list[int] = field(default_factory=list)
    """Other people's records whose legacy-match candidates named this person."""

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "records": [r.as_json() for r in self.records],
            "legacy_matches_cleared": self.legacy_matches_cleared,
            "audit_events_kept": True,
        }


def find_person(
    session: Session, ni_fields: Mapping[str, Sequence[str]], ni_number: str
) -> tuple[list[FormRecord], list[FormRecord]]:
    """The records of the person with ``ni_number`` (by the NI fields of each form type,
    ``form_type -> field names``), and other records whose legacy match names them."""
    wanted = compact_ni(ni_number)
    own: list[FormRecord] = []
    mentioned: list[FormRecord] = []
    for record in session.scalars(select(FormRecord).order_by(FormRecord.id)):
        names = ni_fields.get(record.form_type or "", ())
        values = [(record.fields or {}).get(name, {}).get("value") for name in names]
        if any(v is not None and compact_ni(v) == wanted for v in values):
            own.append(record)
        elif record.legacy_match and wanted in compact_ni(canonical_json(record.legacy_match)):
            mentioned.append(record)
    return own, mentioned


def _blank_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {name: {**value, "value": None, "readings": [], "error": "erased"}
            for name, value in fields.items()}  # fmt: skip


def _blank_reasons(reasons: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{**reason, "detail": "erased"} for reason in reasons]


def erase_record(session: Session, record: FormRecord, *, actor: str) -> ErasedRecord:
    """Remove a person's values from their record, its review task and its pending
    deliveries; the record, its status and the audit trail stay."""
    keys = scan_keys(session, record)
    erased = sorted(name for name, v in (record.fields or {}).items() if v.get("value") is not None)
    task = session.scalar(select(ReviewTask).where(ReviewTask.record_id == record.id))
    record.fields = _blank_fields(record.fields or {})
    record.reasons = _blank_reasons(record.reasons or [])
    had_match = record.legacy_match is not None
    record.legacy_match = {"erased": True} if had_match else None
    if task is not None:
        task.reasons = _blank_reasons(task.reasons or [])
        if task.decision is not None:
            changed = dict(task.decision.get("corrections") or {})
            reason = "erased" if task.decision.get("reason") else None
            task.decision = {**task.decision, "corrections": dict.fromkeys(changed),
                             "reason": reason}  # fmt: skip
    closed = cast(CursorResult[Any], session.execute(
        update(Delivery)
        .where(Delivery.record_id == record.id, Delivery.state == DeliveryState.PENDING)
        .values(
            state=DeliveryState.DEAD,
            dead_at=utcnow(),
            updated_at=utcnow(),
            last_error="the record's personal data was erased",
        )
    )).rowcount  # fmt: skip
    delivered = sorted(set(session.scalars(select(Delivery.destination).where(
        Delivery.record_id == record.id, Delivery.state == DeliveryState.DELIVERED))))  # fmt: skip
    corrections = delete_corrections(session, record.id)
    _forget_scan(session, record)
    _done(session, record, ERASED, utcnow())
    append_audit_event(
        session, actor=actor, action="record.erased", subject_type="form_record",
        subject_id=record.id,
        detail={"fields": erased, "scans_deleted": len(keys), "delivered_to": delivered,
                "corrections_deleted": corrections},
    )  # fmt: skip
    return ErasedRecord(record.id, record.form_type, erased, keys,
                        task.id if task is not None else None, had_match, int(closed or 0),
                        delivered, corrections)  # fmt: skip


def clear_legacy_match(session: Session, record: FormRecord, *, actor: str) -> None:
    """Drop another record's legacy-match result that names the erased person."""
    record.legacy_match = {"erased": True}
    append_audit_event(session, actor=actor, action="legacy_match.erased",
                       subject_type="form_record", subject_id=record.id, detail={})  # fmt: skip

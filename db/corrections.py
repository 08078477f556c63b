"""Caseworkers' corrections kept as labelled examples for tuning the OCR.

When a caseworker approves a form with a field changed, the field as extracted (value,
confidence, each engine's reading, page and box) and the value the person set are kept
here, with the scan's key in the document store: the crop can be cut again from it.
``export_corrections`` writes them as JSON lines (``switchover review corrections``).

Values are personal data: they stay in these rows and in the record, never in a log
(log lines name fields and counts only). Erasing a person's record erases these too
(``delete_corrections``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from config.log import get_logger
from db.models import OcrCorrection
from db.session import insert_or_ignore
from db.types import json_ready, utcnow

log = get_logger(__name__)

_BATCH = 500


@dataclass(frozen=True)
class CorrectedScan:
    """The record and scan a set of corrections belongs to.

    Attributes:
        record_id: the form record.
        document_id: the scan's sha256.
        storage_key: the scan's key in the document store.
        form_type: the template it was read with.
        field_types: each field's type in that template (``text``, ``date``...).
    """

    record_id: int
    document_id: str
    storage_key: str
    form_type: str | None
    field_types: Mapping[str, str]


def keep_corrections(
    session: Session,
    scan: CorrectedScan,
    extracted: Mapping[str, Mapping[str, Any]],
    corrections: Mapping[str, Any],
    *,
    corrected_by: str,
    at: dt.datetime | None = None,
) -> int:
    """Keep each corrected field as a labelled example; a field already kept for the
    record is left as it is (a retried decision adds nothing).

    Args:
        session: the caller's session.
        scan: the record and scan.
        extracted: the fields as extracted (``ExtractedField`` dumped as JSON), by name.
        corrections: the values the caseworker set, by field name.
        corrected_by: the caseworker.
        at: when; default now.

    Returns:
        How many were added.
    """
    if not corrections:
        return 0
    when = at or utcnow()
    rows = []
    for name, value in corrections.items():
        field = dict(extracted.get(name) or {})
        bbox = field.get("bbox")
        rows.append(
            {
                "record_id": scan.record_id,
                "document_id": scan.document_id,
                "storage_key": scan.storage_key,
                "form_type": scan.form_type,
                "field": name,
                "field_type": scan.field_types.get(name),
                "page": field.get("page"),
                "bbox": list(bbox) if bbox else None,
                "extracted": json_ready(field),
                "corrected_value": json_ready(value),
                "corrected_by": corrected_by,
                "corrected_at": when,
            }
        )
    statement = (
        insert_or_ignore(session, OcrCorrection)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[OcrCorrection.record_id, OcrCorrection.field])
        .returning(OcrCorrection.id)
    )
    added = len(session.execute(statement).all())
    log.info("ocr_corrections.kept", record_id=scan.record_id, fields=sorted(corrections))
    return int(added)


def corrections_since(
    session: Session, since: dt.datetime | None = None
) -> Iterator[OcrCorrection]:
    """The kept corrections, oldest first, from ``since`` on (all when None), read in
    batches so that any number can be exported."""
    last_id = 0
    while True:
        statement = select(OcrCorrection).where(OcrCorrection.id > last_id)
        if since is not None:
            statement = statement.where(OcrCorrection.corrected_at >= since)
        batch = session.scalars(statement.order_by(OcrCorrection.id).limit(_BATCH)).all()
        yield from batch
        if len(batch) < _BATCH:
            return
        last_id = batch[-1].id


def as_example(row: OcrCorrection) -> dict[str, Any]:
    """One correction as a labelled example (the JSON line the export writes)."""
    extracted = row.extracted or {}
    return {
        "record_id": row.record_id,
        "document_id": row.document_id,
        "storage_key": row.storage_key,
        "form_type": row.form_type,
        "field": row.field,
        "field_type": row.field_type,
        "page": row.page,
        "bbox": row.bbox,
        "extracted": extracted.get("value"),
        "confidence": extracted.get("confidence"),
        "error": extracted.get("error"),
        "readings": extracted.get("readings") or [],
        "corrected": row.corrected_value,
        "corrected_by": row.corrected_by,
        "corrected_at": row.corrected_at.isoformat(),
    }


def export_corrections(session: Session, out: TextIO, since: dt.datetime | None = None) -> int:
    """Write the kept corrections to ``out`` as JSON lines, oldest first.

    Returns:
        How many were written.
    """
    count = 0
    for row in corrections_since(session, since):
        out.write(json.dumps(as_example(row), ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    log.info("ocr_corrections.exported", count=count)
    return count


def delete_corrections(session: Session, record_id: int) -> int:
    """Erase a record's kept corrections (with the record's personal data).

    Returns:
        How many were deleted.
    """
    result = session.execute(delete(OcrCorrection).where(OcrCorrection.record_id == record_id))
    return int(cast(CursorResult[Any], result).rowcount)


__all__ = [
    "CorrectedScan",
    "as_example",
    "corrections_since",
    "delete_corrections",
    "export_corrections",
    "keep_corrections",
]

"""Quarantined legacy records: kept by the copy, counted by reconciliation, accepted by
engineers.

A file source with ``quarantine_bad_records`` sets a record that does not decode aside
(``legacy_connectors.base.SkippedRecord``). The copy keeps each one here, with its raw
bytes' key in the document store, so that none is lost: reconciliation does not pass
while any of a table's records is ``open``. An engineer accepts them with a reason (an
audit event each); one that a fixed plan (encoding, copybook, layout) now reads is
marked ``rerun`` by reconciliation, which finds it copied like any other row.
Rows hold reasons that name a field and a position, never a value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.audit import append_audit_event
from db.models import QuarantinedRecord, QuarantineState
from db.session import insert_or_ignore
from db.types import utcnow

AUDIT_ACTION = "migration.quarantine_accepted"
SUBJECT_TYPE = "system"


@dataclass(frozen=True)
class KeptRecord:
    """A set-aside record as the copy keeps it: its raw bytes are already in storage.

    Attributes:
        table: the source file or table.
        record_number: 1-based, in file order.
        byte_offset: where the record starts in the file, when known.
        reason: what did not decode (field and position, never the value).
        raw_key: the raw bytes' key in the document store (None: the source gave none).
        raw_sha256: their sha256.
        raw_size: their length.
    """

    table: str
    record_number: int
    byte_offset: int | None
    reason: str
    raw_key: str | None = None
    raw_sha256: str | None = None
    raw_size: int | None = None


def keep_records(
    session: Session, system_id: str, records: Iterable[KeptRecord], *, run_id: str | None = None
) -> int:
    """Keep set-aside records; one already kept (same system, table and record) is left
    as it is, so a retried copy batch adds nothing.

    Returns:
        How many were new.
    """
    rows = [
        {
            "system_id": system_id,
            "table_name": r.table,
            "record_number": r.record_number,
            "byte_offset": r.byte_offset,
            "reason": r.reason,
            "raw_key": r.raw_key,
            "raw_sha256": r.raw_sha256,
            "raw_size": r.raw_size,
            "run_id": run_id,
            "state": QuarantineState.OPEN.value,
            "created_at": utcnow(),
        }
        for r in records
    ]
    if not rows:
        return 0
    statement = insert_or_ignore(session, QuarantinedRecord).on_conflict_do_nothing(
        index_elements=["system_id", "table_name", "record_number"]
    )
    result = session.execute(statement.returning(QuarantinedRecord.id), rows)
    return len(result.all())


def quarantined_records(
    session: Session,
    system_id: str,
    *,
    table: str | None = None,
    state: QuarantineState | None = None,
    limit: int | None = None,
) -> list[QuarantinedRecord]:
    """A system's quarantined records (of one table, in one state; the first ``limit``),
    by table and record."""
    query = select(QuarantinedRecord).where(QuarantinedRecord.system_id == system_id)
    if table is not None:
        query = query.where(QuarantinedRecord.table_name == table)
    if state is not None:
        query = query.where(QuarantinedRecord.state == state)
    order = (QuarantinedRecord.table_name, QuarantinedRecord.record_number)
    return list(session.scalars(query.order_by(*order).limit(limit)))


def open_counts(session: Session, system_id: str) -> dict[str, int]:
    """Open quarantined records per table of a system (tables with none left out)."""
    rows = session.execute(
        select(QuarantinedRecord.table_name, func.count())
        .where(
            QuarantinedRecord.system_id == system_id,
            QuarantinedRecord.state == QuarantineState.OPEN,
        )
        .group_by(QuarantinedRecord.table_name)
        .order_by(QuarantinedRecord.table_name)
    )
    return {table: int(count) for table, count in rows}


def table_counts(session: Session, system_id: str, table: str) -> dict[QuarantineState, int]:
    """A table's quarantined records per state (every state present, zero or not)."""
    rows = session.execute(
        select(QuarantinedRecord.state, func.count())
        .where(QuarantinedRecord.system_id == system_id, QuarantinedRecord.table_name == table)
        .group_by(QuarantinedRecord.state)
    )
    counts = dict.fromkeys(QuarantineState, 0)
    counts.update({QuarantineState(state): int(count) for state, count in rows})
    return counts


def accept_records(
    session: Session,
    system_id: str,
    table: str,
    *,
    actor: str,
    reason: str,
    records: Sequence[int] | None = None,
    at: dt.datetime | None = None,
) -> list[QuarantinedRecord]:
    """Accept a table's open quarantined records (these record numbers, or all): each is
    marked accepted and written to the audit chain. The caller checks the actor's role.

    Returns:
        The records accepted now (already accepted or re-run ones are left as they are).
    """
    at = at or utcnow()
    chosen = [
        r
        for r in quarantined_records(session, system_id, table=table, state=QuarantineState.OPEN)
        if records is None or r.record_number in set(records)
    ]
    for record in chosen:
        record.state = QuarantineState.ACCEPTED
        record.decided_by, record.decided_at, record.decision_reason = actor, at, reason
        append_audit_event(
            session, actor=actor, action=AUDIT_ACTION, subject_type=SUBJECT_TYPE,
            subject_id=system_id, occurred_at=at,
            detail={"table": table, "record": record.record_number, "reason": reason,
                    "raw_sha256": record.raw_sha256},
        )  # fmt: skip
    session.flush()
    return chosen


def mark_rerun(session: Session, system_id: str, table: str, record_numbers: Iterable[int]) -> int:
    """Mark open records that the source now reads after all ``rerun``.

    Returns:
        How many changed.
    """
    numbers = sorted(set(record_numbers))
    if not numbers:
        return 0
    result = session.execute(
        update(QuarantinedRecord)
        .where(
            QuarantinedRecord.system_id == system_id,
            QuarantinedRecord.table_name == table,
            QuarantinedRecord.record_number.in_(numbers),
            QuarantinedRecord.state == QuarantineState.OPEN,
        )
        .values(state=QuarantineState.RERUN, decided_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


__all__ = [
    "AUDIT_ACTION",
    "KeptRecord",
    "accept_records",
    "keep_records",
    "mark_rerun",
    "open_counts",
    "quarantined_records",
    "table_counts",
]

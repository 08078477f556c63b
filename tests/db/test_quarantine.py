"""Quarantined legacy records: kept once however often a batch runs, counted while open,
accepted with an audit event each."""

from __future__ import annotations

from db.audit import verify_audit_chain
from db.models import AuditEvent, QuarantineState
from db.quarantine import (
    AUDIT_ACTION,
    KeptRecord,
    accept_records,
    keep_records,
    open_counts,
    quarantined_records,
)
from db.session import session_scope


def _kept(table: str, number: int) -> KeptRecord:
    return KeptRecord(
        table, number, number * 80, f"field AMOUNT at byte {number}: bad sign",
        raw_key=f"documents/ab/cd/{number:064d}", raw_sha256="0" * 64, raw_size=80,
    )  # fmt: skip


def test_a_retried_batch_keeps_each_record_once(db_url: str) -> None:
    records = [_kept("CLAIMS", 3), _kept("CLAIMS", 9), _kept("PEOPLE", 3)]
    with session_scope(db_url) as session:
        assert keep_records(session, "bens", records, run_id="migrate/bens") == 3
    with session_scope(db_url) as session:
        assert keep_records(session, "bens", [*records[:2], _kept("CLAIMS", 11)]) == 1
        assert keep_records(session, "other", records[:1]) == 1  # another system's own
    with session_scope(db_url) as session:
        kept = quarantined_records(session, "bens")
        assert [(r.table_name, r.record_number) for r in kept] == [
            ("CLAIMS", 3), ("CLAIMS", 9), ("CLAIMS", 11), ("PEOPLE", 3)
        ]  # fmt: skip
        assert kept[0].byte_offset == 240
        assert kept[0].run_id == "migrate/bens"
        assert kept[0].state is QuarantineState.OPEN
        assert open_counts(session, "bens") == {"CLAIMS": 3, "PEOPLE": 1}


def test_accepting_records_closes_them_and_writes_the_audit_chain(db_url: str) -> None:
    with session_scope(db_url) as session:
        keep_records(session, "bens", [_kept("CLAIMS", n) for n in (3, 9, 11)])
    with session_scope(db_url) as session:
        done = accept_records(session, "bens", "CLAIMS", actor="eng", reason="paper file",
                              records=[9, 42])  # fmt: skip
        assert [r.record_number for r in done] == [9]
    with session_scope(db_url) as session:
        assert open_counts(session, "bens") == {"CLAIMS": 2}
        again = accept_records(session, "bens", "CLAIMS", actor="eng", reason="all of them")
        assert [r.record_number for r in again] == [3, 11]
    with session_scope(db_url) as session:
        assert open_counts(session, "bens") == {}
        accepted = quarantined_records(session, "bens", state=QuarantineState.ACCEPTED)
        assert {r.decided_by for r in accepted} == {"eng"}
        assert accepted[1].decision_reason == "paper file"  # record 9 kept its first reason
        events = session.query(AuditEvent).filter(AuditEvent.action == AUDIT_ACTION).all()
        assert sorted(e.detail["record"] for e in events) == [3, 9, 11]
        assert verify_audit_chain(session).ok

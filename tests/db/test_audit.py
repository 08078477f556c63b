"""The audit trail's hash chain: verifiable, tamper-evident, safe under concurrent appends."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from db.audit import (
    GENESIS_HASH,
    append_audit_event,
    audit_head,
    event_hash,
    verify_audit_chain,
)
from db.models import AuditEvent
from db.session import session_scope


def _append(db_url: str, n: int, actor: str = "cw") -> list[int]:
    ids = []
    for i in range(n):
        with session_scope(db_url) as session:
            event = append_audit_event(
                session,
                actor=actor,
                action="review.approved",
                subject_type="review_task",
                subject_id=i,
                detail={"corrected_fields": ["surname"], "amount": Decimal("6.80"), "n": i},
            )
            ids.append(event.id)
    return ids


def test_each_event_chains_to_the_one_before(db_url: str) -> None:
    ids = _append(db_url, 3)
    with session_scope(db_url) as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        report = verify_audit_chain(session)
    assert [e.id for e in events] == ids
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    assert events[0].detail["amount"] == "6.80"
    assert events[0].hash == event_hash(
        GENESIS_HASH,
        occurred_at=events[0].occurred_at,
        actor="cw",
        action="review.approved",
        subject_type="review_task",
        subject_id="0",
        detail=events[0].detail,
    )
    assert report.ok
    assert report.events_checked == 3
    assert report.head_hash == events[2].hash


def test_an_empty_trail_verifies(db_url: str) -> None:
    with session_scope(db_url) as session:
        report = verify_audit_chain(session)
    assert report.ok
    assert report.head_hash == GENESIS_HASH


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE audit_events SET actor = 'mallory' WHERE id = :id",
        "UPDATE audit_events SET occurred_at = occurred_at - INTERVAL '1 day' WHERE id = :id",
        "DELETE FROM audit_events WHERE id = :id",
    ],
    ids=["changed actor", "changed time", "deleted event"],
)
def test_tampering_is_detected(db_url: str, tamper: str) -> None:
    ids = _append(db_url, 5)
    if "INTERVAL" in tamper and db_url.startswith("sqlite"):
        tamper = "UPDATE audit_events SET occurred_at = '2001-01-01 00:00:00.000000' WHERE id = :id"
    with session_scope(db_url) as session:
        session.execute(text(tamper), {"id": ids[2]})
    with session_scope(db_url) as session:
        report = verify_audit_chain(session)
    assert not report.ok
    assert report.broken_at == ids[3 if tamper.startswith("DELETE") else 2]
    assert report.problem


def test_a_changed_detail_is_detected(db_url: str) -> None:
    ids = _append(db_url, 2)
    with session_scope(db_url) as session:
        event = session.get_one(AuditEvent, ids[0])
        event.detail = {**event.detail, "n": 99}
    with session_scope(db_url) as session:
        report = verify_audit_chain(session)
    assert (report.ok, report.broken_at) == (False, ids[0])


def test_events_removed_from_the_end_are_detected_with_the_expected_head(db_url: str) -> None:
    ids = _append(db_url, 3)
    with session_scope(db_url) as session:
        head = verify_audit_chain(session).head_hash
        session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[-1]})
    with session_scope(db_url) as session:
        assert verify_audit_chain(session).ok  # a shorter chain is still a chain
        report = verify_audit_chain(session, expected_head=head)
    assert not report.ok
    assert "expected head" in (report.problem or "")


def test_the_chain_may_continue_past_the_expected_head(db_url: str) -> None:
    _append(db_url, 2)
    with session_scope(db_url) as session:
        head = verify_audit_chain(session).head_hash
    _append(db_url, 2)
    with session_scope(db_url) as session:
        assert verify_audit_chain(session, expected_head=head, batch_size=1).ok


def test_occurred_at_is_kept_in_utc(db_url: str) -> None:
    at = dt.datetime(2026, 6, 1, 10, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with session_scope(db_url) as session:
        event_id = append_audit_event(
            session, actor="a", action="b", subject_type="c", subject_id="d", occurred_at=at
        ).id
    with session_scope(db_url) as session:
        event = session.get_one(AuditEvent, event_id)
        assert event.occurred_at == at
        assert verify_audit_chain(session).ok


def test_concurrent_appends_keep_one_chain(db_url: str) -> None:
    """Several threads, each with its own connection, append at once: no fork, no gap."""
    threads_count, per_thread = 4, 15
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def append(who: str) -> None:
        try:
            barrier.wait()
            _append(db_url, per_thread, actor=who)
        except BaseException as e:  # reported below; a thread cannot fail the test itself
            errors.append(e)

    threads = [threading.Thread(target=append, args=(f"worker-{i}",)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with session_scope(db_url) as session:
        report = verify_audit_chain(session)
        prev_hashes = session.scalars(select(AuditEvent.prev_hash)).all()
    assert report.ok, report.problem
    assert report.events_checked == threads_count * per_thread
    assert len(set(prev_hashes)) == len(prev_hashes)  # no two events chained to the same one


def test_the_exported_head_names_the_event_removed_from_the_end(db_url: str) -> None:
    ids = _append(db_url, 4)
    with session_scope(db_url) as session:
        head = audit_head(session)
        session.execute(text("DELETE FROM audit_events WHERE id >= :id"), {"id": ids[2]})
    assert (head.event_id, head.events) == (ids[-1], 4)
    with session_scope(db_url) as session:
        report = verify_audit_chain(session, expected=head)
    assert (report.ok, report.broken_at) == (False, ids[-1])
    assert f"audit event {ids[-1]}: missing" in (report.problem or "")
    assert f"ends at event {ids[1]}" in (report.problem or "")


def test_a_chain_rewritten_from_an_edit_on_verifies_alone_but_not_against_its_head(
    db_url: str,
) -> None:
    ids = _append(db_url, 3)
    with session_scope(db_url) as session:
        head = audit_head(session)
        # Whoever can write the database edits an event and recomputes every hash after it.
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        events[1].actor = "mallory"
        prev = events[0].hash
        for event in events[1:]:
            event.prev_hash = prev
            event.hash = prev = event_hash(
                prev, occurred_at=event.occurred_at, actor=event.actor, action=event.action,
                subject_type=event.subject_type, subject_id=event.subject_id, detail=event.detail,
            )  # fmt: skip
    with session_scope(db_url) as session:
        assert verify_audit_chain(session).ok
        report = verify_audit_chain(session, expected=head)
    assert (report.ok, report.broken_at) == (False, ids[-1])
    assert "exported head" in (report.problem or "")


def test_an_empty_trail_has_a_genesis_head(db_url: str) -> None:
    with session_scope(db_url) as session:
        head = audit_head(session)
        assert (head.event_id, head.hash, head.events) == (0, GENESIS_HASH, 0)
        assert verify_audit_chain(session, expected=head).ok

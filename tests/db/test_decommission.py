"""The retirement checklist and archive records, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from db.audit import verify_audit_chain
from db.cutover import cutover_history
from db.decommission import (
    checklist,
    close_checklist_item,
    evidence_key,
    latest_archive,
    open_checklist,
    record_archive,
)
from db.models import AuditEvent
from db.programme import register_system
from db.session import session_scope
from domain.cutover import ArchiveResult, CutoverEventKind
from domain.errors import BadInputError, ConflictError, NotFoundError

SYSTEM = "legacy-electoral"
ITEMS = ["Supplier contract ended", "DNS records removed", "Data retention agreed"]
NOON = dt.datetime(2027, 12, 30, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def system(db_url: str) -> str:
    with session_scope(db_url) as session:
        register_system(
            session, system_id=SYSTEM, name="Electoral Register", department="LGS",
            risk_score=22, annual_run_cost_gbp=Decimal("420000"),
            migration_cost_gbp=Decimal("60000"), actor="engineer",
        )  # fmt: skip
    return db_url


def test_open_is_idempotent_and_keeps_the_plans_order(system: str) -> None:
    with session_scope(system) as session:
        first = open_checklist(session, SYSTEM, ITEMS)
    with session_scope(system) as session:
        again = open_checklist(session, SYSTEM, ITEMS)
        status = checklist(session, SYSTEM)
    assert [(i.position, i.item) for i in first.items] == list(enumerate(ITEMS, start=1))
    assert again == first == status
    assert not status.all_closed


def test_a_plan_that_gains_an_item_adds_it_and_keeps_closes(system: str) -> None:
    with session_scope(system) as session:
        open_checklist(session, SYSTEM, ITEMS[:2])
        close_checklist_item(session, SYSTEM, 1, actor="amina", note="letter filed")
    with session_scope(system) as session:
        status = open_checklist(session, SYSTEM, ITEMS)
    assert [i.item for i in status.items] == ITEMS
    assert status.items[0].closed_by == "amina"


def test_a_reworded_item_is_a_conflict(system: str) -> None:
    with session_scope(system) as session:
        open_checklist(session, SYSTEM, ITEMS)
    with pytest.raises(ConflictError, match="item 2"), session_scope(system) as session:
        open_checklist(session, SYSTEM, [ITEMS[0], "DNS gone", ITEMS[2]])


def test_close_with_evidence_writes_item_audit_and_history(system: str) -> None:
    with session_scope(system) as session:
        open_checklist(session, SYSTEM, ITEMS)
    with session_scope(system) as session:
        closed = close_checklist_item(
            session, SYSTEM, 2, actor="amina", note="  zone file diff attached ",
            evidence_key="evidence/legacy-electoral/dns.txt", evidence_name="dns.txt", at=NOON,
        )  # fmt: skip
    assert closed.closed_by == "amina"
    assert closed.note == "zone file diff attached"
    assert closed.evidence_name == "dns.txt"
    with session_scope(system) as session:
        status = checklist(session, SYSTEM)
        events = [e for e in session.query(AuditEvent).all() if e.action == "checklist.closed"]
        history = cutover_history(session, SYSTEM)
        chain = verify_audit_chain(session)
    assert [i.closed_by for i in status.items] == [None, "amina", None]
    assert status.items[1].closed_at == NOON
    assert len(events) == 1
    assert events[0].actor == "amina"
    assert events[0].subject_id == SYSTEM
    assert events[0].detail["position"] == 2
    assert events[0].detail["evidence_key"] == "evidence/legacy-electoral/dns.txt"
    assert [(e.kind, e.actor, e.note) for e in history] == [
        (CutoverEventKind.CHECKLIST_CLOSED, "amina", "2. DNS records removed")
    ]
    assert chain.ok


def test_an_item_closes_once(system: str) -> None:
    with session_scope(system) as session:
        open_checklist(session, SYSTEM, ITEMS)
        close_checklist_item(session, SYSTEM, 1, actor="amina", note="ended")
    with (
        pytest.raises(ConflictError, match="already closed by amina"),
        session_scope(system) as session,
    ):
        close_checklist_item(session, SYSTEM, 1, actor="bob", note="again")
    with session_scope(system) as session:
        assert checklist(session, SYSTEM).items[0].closed_by == "amina"


def test_a_note_is_required(system: str) -> None:
    with session_scope(system) as session:
        open_checklist(session, SYSTEM, ITEMS)
    for note in ("", "   "):
        with pytest.raises(BadInputError, match="needs a note"), session_scope(system) as s:
            close_checklist_item(s, SYSTEM, 1, actor="amina", note=note)
    with session_scope(system) as session:
        assert checklist(session, SYSTEM).items[0].closed_by is None


def test_unknown_system_or_item(system: str) -> None:
    with session_scope(system) as session:
        open_checklist(session, SYSTEM, ITEMS)
    with pytest.raises(NotFoundError, match="checklist item 9"), session_scope(system) as s:
        close_checklist_item(s, SYSTEM, 9, actor="amina", note="x")
    with pytest.raises(NotFoundError, match="no-such"), session_scope(system) as s:
        close_checklist_item(s, "no-such", 1, actor="amina", note="x")
    with pytest.raises(NotFoundError), session_scope(system) as s:
        checklist(s, "no-such")
    with pytest.raises(NotFoundError), session_scope(system) as s:
        open_checklist(s, "no-such", ITEMS)


def test_all_closed_when_every_item_is(system: str) -> None:
    with session_scope(system) as session:
        open_checklist(session, SYSTEM, ITEMS)
        for position in range(1, len(ITEMS) + 1):
            close_checklist_item(session, SYSTEM, position, actor="amina", note="done")
    with session_scope(system) as session:
        assert checklist(session, SYSTEM).all_closed


def test_archives_recorded_and_the_latest_found(system: str) -> None:
    def result(stamp: str, rows: int) -> ArchiveResult:
        return ArchiveResult(
            manifest_key=f"archives/{SYSTEM}/{stamp}/manifest.json", manifest_sha256="a" * 64,
            files=3, rows=rows, bytes=1234, verified=True,
        )  # fmt: skip

    with session_scope(system) as session:
        assert latest_archive(session, SYSTEM) is None
        record_archive(session, SYSTEM, result("20271201T000000Z", 10), at=NOON)
        record_archive(
            session, SYSTEM, result("20271202T000000Z", 11), at=NOON + dt.timedelta(days=1)
        )
    with session_scope(system) as session:
        latest = latest_archive(session, SYSTEM)
        assert latest is not None
        assert latest.manifest_key.endswith("20271202T000000Z/manifest.json")
        assert latest.rows == 11
        assert latest.verified_at == NOON + dt.timedelta(days=1)
    with pytest.raises(NotFoundError), session_scope(system) as session:
        record_archive(session, "no-such", result("x", 1))


def test_evidence_needs_a_stored_file(system: str) -> None:
    with session_scope(system) as session:
        open_checklist(session, SYSTEM, ITEMS)
    with pytest.raises(BadInputError, match="no stored file"), session_scope(system) as s:
        close_checklist_item(s, SYSTEM, 1, actor="amina", note="x", evidence_name="a.pdf")


def test_evidence_keys_keep_only_the_file_name() -> None:
    sha = "ab" * 32
    assert evidence_key(SYSTEM, 2, sha, "C:\\Users\\amina\\dns.txt") == (
        f"evidence/{SYSTEM}/2/{sha}/dns.txt"
    )
    assert evidence_key(SYSTEM, 2, sha, "../../etc/passwd") == f"evidence/{SYSTEM}/2/{sha}/passwd"
    assert evidence_key(SYSTEM, 2, sha, "..") == f"evidence/{SYSTEM}/2/{sha}/evidence"

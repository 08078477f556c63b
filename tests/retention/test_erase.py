"""``switchover records erase --ni``: exactly one person's data removed from records, scans
and legacy-match results; everyone else's untouched; the audit trail kept and valid."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from db.audit import verify_audit_chain
from db.models import (
    AuditEvent,
    Delivery,
    DeliveryState,
    Document,
    FormRecord,
    IntakeItem,
    IntakeState,
    OcrCorrection,
)
from db.outbox import expand_entry, unexpanded_entries
from db.session import session_scope
from tests.retention.conftest import Engine, decided_record

PERSON = "QQ 12 34 56 C"


def snapshot(engine: Engine) -> dict[int, Any]:
    with session_scope(engine.url) as session:
        return {r.id: (r.fields, r.legacy_match, r.status)
                for r in session.scalars(select(FormRecord))}  # fmt: skip


@pytest.fixture
def erase(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    from click.testing import CliRunner

    from config.settings import get_settings
    from switchover.cli import main

    monkeypatch.setenv("SWITCHOVER_HOME", str(engine.settings.home))
    monkeypatch.setenv("SWITCHOVER_FORMS_DIR", str(engine.settings.forms_dir))
    monkeypatch.setenv("SWITCHOVER_LOG_FORMAT", "json")

    def run(*args: str) -> Any:
        get_settings.cache_clear()
        result = CliRunner().invoke(main, ["records", "erase", *args], catch_exceptions=False)
        get_settings.cache_clear()
        return result

    return run


def test_erase_removes_exactly_that_persons_data(engine: Engine, erase: Callable[..., Any]) -> None:
    theirs = [decided_record(engine, 1, ni="QQ123456C"), decided_record(engine, 2, ni="qq123456c")]
    others = [decided_record(engine, n) for n in (3, 4)]
    # Another person's form whose legacy match listed this person as a candidate.
    candidates = [{"NINO": "QQ123456C", "SURNAME": "SURNAME1"}]
    match = {"outcome": "ambiguous", "candidates": candidates}
    matched_id, _ = decided_record(engine, 5, legacy_match=match)
    with session_scope(engine.url) as session:
        for entry in unexpanded_entries(session, limit=100):
            expand_entry(session, entry, [("caseworking", "webhook")])
        for record_id, _ in (theirs[0], others[0]):  # a caseworker corrected each
            session.add(OcrCorrection(
                record_id=record_id, document_id="0" * 64, storage_key="k", form_type=None,
                field="surname", extracted={"value": "SURNAMX"}, corrected_value="SURNAME",
                corrected_by="cw1", corrected_at=dt.datetime.now(dt.UTC),
            ))  # fmt: skip
        for number, (record_id, _) in ((1, theirs[0]), (3, others[0])):  # arrived by a folder
            document_id = session.get_one(FormRecord, record_id).document_id
            session.add(IntakeItem(
                arrival=f"{number:064x}", route="folder", source="/scans",
                ref=f"/scans/surname{number}-scan.png", sha256=document_id, size_bytes=1,
                state=IntakeState.TAKEN, documents=[{"document_id": document_id}],
            ))  # fmt: skip
    before = snapshot(engine)

    dry = erase("--ni", PERSON, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)
    assert planned["dry_run"] is True
    assert sorted(r["record_id"] for r in planned["records"]) == sorted(i for i, _ in theirs)
    assert snapshot(engine) == before  # a dry run changes nothing
    assert all(engine.store.exists(key) for _, key in theirs)

    done = erase("--ni", PERSON, "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert sorted(r["record_id"] for r in report["records"]) == sorted(i for i, _ in theirs)
    assert report["legacy_matches_cleared"] == [matched_id]
    assert {tuple(r["fields_erased"]) for r in report["records"]} == {
        ("national_insurance_number", "postcode", "surname")}  # fmt: skip
    assert "QQ123456C" not in done.output
    assert "SURNAME1" not in done.output

    after = snapshot(engine)
    for record_id, _ in theirs:
        fields, _, status = after[record_id]
        assert all(v["value"] is None for v in fields.values())
        assert status == before[record_id][2]  # the record stays, with its status
    assert not any(engine.store.exists(key) for _, key in theirs)
    assert "QQ123456C" not in json.dumps(after[matched_id][1])
    assert after[matched_id][0] == before[matched_id][0]  # that person's own values stay
    for record_id, key in others:
        assert after[record_id] == before[record_id]
        assert engine.store.exists(key)
    with session_scope(engine.url) as session:
        names = [d.filename for d in session.scalars(select(Document).order_by(Document.id))]
        assert "surname1-scan.png" not in names
        assert "surname3-scan.png" in names
        arrivals = sorted(session.scalars(select(IntakeItem.ref)))
        assert arrivals == ["(deleted)", "/scans/surname3-scan.png"]
        pending = {d.record_id: d.state for d in session.scalars(select(Delivery))}
        assert {pending[i] for i, _ in theirs} == {DeliveryState.DEAD}
        assert {pending[i] for i, _ in others} == {DeliveryState.PENDING}
        kept = session.scalars(select(OcrCorrection.record_id)).all()
        assert kept == [others[0][0]]
        assert verify_audit_chain(session).ok
        erased = session.scalars(select(AuditEvent).where(AuditEvent.action == "record.erased"))
        assert "QQ123456C" not in json.dumps([e.detail for e in erased])
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "received")) is None


def test_erase_refuses_what_is_not_an_ni_number(engine: Engine, erase: Callable[..., Any]) -> None:
    result = erase("--ni", "SURNAME1")
    assert result.exit_code == 2
    assert "National Insurance" in result.output

"""Corrections kept as labelled examples: once per record and field, exported as JSON
lines with the scan's key, erased with the record, and never written to a log."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from db.corrections import (
    CorrectedScan,
    corrections_since,
    delete_corrections,
    export_corrections,
    keep_corrections,
)
from db.models import FormRecord
from db.session import session_scope
from domain.forms import EngineReading, ExtractedField
from tests.db.factories import make_record

JUNE = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _extracted() -> dict[str, dict[str, object]]:
    surname = ExtractedField(
        value="0KAFOR", confidence=0.41, valid=True, page=1, bbox=(0.1, 0.2, 0.4, 0.25),
        readings=[EngineReading(engine="tesserocr", text="0KAFOR", confidence=0.93),
                  EngineReading(engine="rapidocr", text="OKAFOR", confidence=0.97)],
    )  # fmt: skip
    return {"surname": surname.model_dump(mode="json")}


def _keep(db_url: str, at: dt.datetime = JUNE) -> tuple[int, int]:
    with session_scope(db_url) as session:
        record = make_record(session)
        scan = CorrectedScan(record.id, record.document_id, f"documents/{record.document_id}",
                             record.form_type, {"surname": "name"})  # fmt: skip
        kept = keep_corrections(
            session, scan, _extracted(), {"surname": "OKAFOR"}, corrected_by="cw", at=at
        )
        return record.id, kept


def test_a_correction_is_kept_once_with_both_readings(db_url: str) -> None:
    record_id, kept = _keep(db_url)
    assert kept == 1
    with session_scope(db_url) as session:
        record = session.get(FormRecord, record_id)
        assert record is not None
        scan = CorrectedScan(record_id, record.document_id, "k", record.form_type, {})
        # A retried decision adds nothing, even with another value.
        again = keep_corrections(session, scan, _extracted(), {"surname": "X"}, corrected_by="cw")
        assert again == 0
    with session_scope(db_url) as session:
        out = io.StringIO()
        assert export_corrections(session, out) == 1
    (line,) = out.getvalue().splitlines()
    example = json.loads(line)
    assert example["extracted"] == "0KAFOR"
    assert example["corrected"] == "OKAFOR"
    assert example["field_type"] == "name"
    assert example["page"] == 1
    assert example["bbox"] == [0.1, 0.2, 0.4, 0.25]
    assert example["storage_key"].startswith("documents/")
    assert [(r["engine"], r["text"]) for r in example["readings"]] == [
        ("tesserocr", "0KAFOR"), ("rapidocr", "OKAFOR")
    ]  # fmt: skip


def test_since_and_erasure(db_url: str) -> None:
    early, _ = _keep(db_url, JUNE - dt.timedelta(days=30))
    late, _ = _keep(db_url, JUNE + dt.timedelta(days=1))
    with session_scope(db_url) as session:
        assert [c.record_id for c in corrections_since(session, JUNE)] == [late]
        assert delete_corrections(session, early) == 1
    with session_scope(db_url) as session:
        assert [c.record_id for c in corrections_since(session)] == [late]


def test_the_export_command_writes_json_lines_and_logs_no_value(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from config.settings import get_settings
    from switchover.cli import main

    _keep(db_url)
    monkeypatch.setenv("SWITCHOVER_DATABASE_URL", db_url)
    get_settings.cache_clear()
    out = tmp_path / "corrections.jsonl"
    try:
        result = CliRunner().invoke(
            main, ["review", "corrections", "--since", "2026-05-01", "--out", str(out)]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "1 corrections written" in result.output
    assert json.loads(out.read_text(encoding="utf-8"))["corrected"] == "OKAFOR"
    logged = capsys.readouterr()
    assert "OKAFOR" not in logged.err + logged.out + result.output

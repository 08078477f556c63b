"""The review page shows which engine read what: beside a field that two or more OCR
engines read, each engine's reading and its confidence, tied to the field's input for
screen readers; a field one engine read shows no such list."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from typing import Any

from config.settings import Settings
from db import documents, records, review
from db.models import RecordStatus
from db.session import session_scope
from domain.forms import EngineReading, ExtractedField, ReviewReason


def seed_task(settings: Settings, fields: dict[str, ExtractedField], claimed_by: str | None) -> int:
    reasons = [ReviewReason(field="postcode", code="low_confidence", detail="engines disagree")]
    with session_scope(settings.resolved_database_url) as session:
        sha = "ab" * 32
        documents.register_document(session, sha256=sha, filename="scan.png",
                                    content_type="image/png", size_bytes=1,
                                    storage_key="k/scan")  # fmt: skip
        record = records.save_form_record(
            session, workflow_id="digitise-readings", document_id=sha,
            form_type="register-to-vote", status=RecordStatus.AWAITING_REVIEW, fields=fields,
            reasons=reasons,
        )  # fmt: skip
        session.flush()
        task = review.open_review_task(
            session, record_id=record.id, workflow_id="digitise-readings",
            form_type="register-to-vote", reasons=reasons,
            due_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        )  # fmt: skip
        session.flush()
        if claimed_by:
            review.claim_task(session, task.id, by=claimed_by, lease=dt.timedelta(minutes=30))
        return task.id


FIELDS = {
    "postcode": ExtractedField(
        value="SW1A 1A", confidence=0.41, valid=False, page=1, error="not a UK postcode",
        readings=[EngineReading(engine="tesseract", text="SW1A 1A", confidence=0.41),
                  EngineReading(engine="rapidocr", text="SW1A 1AA", confidence=0.87)],
    ),
    "surname": ExtractedField(
        value="OKAFOR", confidence=0.95, valid=True, page=1,
        readings=[EngineReading(engine="tesseract", text="OKAFOR", confidence=0.95)],
    ),
    "town": ExtractedField(value="London", confidence=0.9, valid=True, page=1),
}  # fmt: skip


def readings_of(html: str, name: str) -> str | None:
    found = re.search(rf'<div class="app-readings[^"]*" id="field-{name}-readings">(.*?)</dl>',
                      html, re.S)  # fmt: skip
    if found is None:
        return None
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split()).replace(" ,", ",")


def test_each_engines_reading_is_shown_beside_the_field(
    settings: Settings, client_for: Any
) -> None:
    caseworker = client_for("cw1", "caseworker")
    task_id = seed_task(settings, FIELDS, claimed_by="cw1")
    page = caseworker.get(f"/review/tasks/{task_id}")
    assert page.status_code == 200, page.text
    shown = readings_of(page.text, "postcode")
    assert shown is not None, "no readings beside the postcode"
    assert "Tesseract SW1A 1A, 41% confidence" in shown
    assert "RapidOCR SW1A 1AA, 87% confidence" in shown
    # The input's description carries the readings to screen readers.
    described = re.search(r'id="field-postcode"[^>]*aria-describedby="([^"]+)"', page.text)
    assert described is not None
    assert "field-postcode-readings" in described.group(1).split()
    # One engine's reading, or none, adds nothing to the value and its confidence.
    assert readings_of(page.text, "surname") is None
    assert readings_of(page.text, "town") is None
    assert 'aria-describedby="field-surname-hint"' in page.text


def test_the_readings_are_shown_to_a_caseworker_who_only_reads_the_form(
    settings: Settings, client_for: Any
) -> None:
    caseworker = client_for("cw1", "caseworker")
    task_id = seed_task(settings, FIELDS, claimed_by=None)
    page = caseworker.get(f"/review/tasks/{task_id}")
    assert page.status_code == 200, page.text
    assert 'id="decision-form"' not in page.text  # not claimed: the fields are read only
    shown = readings_of(page.text, "postcode")
    assert shown is not None
    assert "RapidOCR SW1A 1AA, 87% confidence" in shown


def test_what_sent_a_surely_read_field_to_a_person_is_said_beside_it(
    settings: Settings, client_for: Any
) -> None:
    """A field read surely but doubted for what the page shows (a letter struck out,
    writing past the box) says so beside it, claimed or only read."""
    doubted = {
        **FIELDS,
        "town": ExtractedField(value="London", confidence=0.5, valid=True, page=1,
                               doubts=["letter_struck_out", "written_past_box"]),
    }  # fmt: skip
    caseworker = client_for("cw1", "caseworker")
    for claimed_by in ("cw1", None):
        task_id = seed_task(settings, doubted, claimed_by=claimed_by)
        page = caseworker.get(f"/review/tasks/{task_id}")
        assert page.status_code == 200, page.text
        text = " ".join(unescape(re.sub(r"<[^>]+>", " ", page.text)).split())
        assert "A letter was struck out and is left out of the reading" in text
        assert "Written on past its box" in text
        # The fields without a doubt say none.
        assert text.count("struck out") == 1

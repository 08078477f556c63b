"""The digitisation activities against a real (SQLite) engine database and a local store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.digitise import DigitiseActivities, write_manifest
from adapters.storage import LocalStore
from config.form_template import load_templates
from db import audit, documents, ledger, records, review
from db.migrate import upgrade
from db.session import dispose_engines, session_scope
from domain.digitise import (
    CheckDecisionInput,
    Decision,
    DocumentRef,
    EscalateInput,
    ExtractFormInput,
    FinaliseInput,
    LegacyMatchInput,
    LegacyMatchOutcome,
    QuarantineInput,
    ReadManifestInput,
    RecordStatus,
    ReviewDecision,
    SaveExtractionInput,
)
from domain.forms import ExtractedField, FormExtraction, ReviewReason
from tests.adapters.test_legacy_match import ALICE, sqlite_register, write_plan


@pytest.fixture
def acts(tmp_path: Path) -> Iterator[DigitiseActivities]:
    url = f"sqlite:///{tmp_path / 'engine.db'}"
    upgrade(url)
    yield DigitiseActivities(LocalStore(tmp_path / "objects"), url, load_templates())
    dispose_engines()


@pytest.fixture
def env() -> ActivityEnvironment:
    return ActivityEnvironment()


def stored(acts: DigitiseActivities, data: bytes, name: str) -> DocumentRef:
    obj = acts.store.put(data)
    return DocumentRef(document_id=obj.sha256, filename=name, storage_key=obj.key,
                       size_bytes=obj.size)  # fmt: skip


def extraction(needs_review: bool) -> FormExtraction:
    template = load_templates()["register-to-vote"]
    fields = {
        spec.name: ExtractedField(value="x", confidence=0.97, valid=True, page=1)
        for spec in template.fields
    }
    fields |= {
        "postcode": ExtractedField(value="SW1A 1AA" if not needs_review else "SW1A 1A",
                                   confidence=0.95 if not needs_review else 0.41,
                                   valid=not needs_review, page=1,
                                   error=None if not needs_review else "not a UK postcode"),
    }  # fmt: skip
    reasons = [ReviewReason(field="postcode", code="invalid", detail="not a UK postcode")]
    return FormExtraction(file="a.png", form_type="register-to-vote", fields=fields,
                          needs_review=needs_review, reasons=reasons if needs_review else [],
                          pages=1)  # fmt: skip


def test_doubtful_form_opens_one_task_even_when_retried(acts, env):
    doc = stored(acts, b"scan bytes", "a.png")
    env.run(acts.register_document, doc)
    request = SaveExtractionInput(document=doc, workflow_id="wf-1", extraction=extraction(True))
    first = env.run(acts.save_extraction, request)
    again = env.run(acts.save_extraction, request)  # a retried activity
    assert first.task_id is not None
    assert (again.record_id, again.task_id) == (first.record_id, first.task_id)
    assert first.sla_seconds == 48 * 3600  # the template's sla_hours
    with session_scope(acts.database_url) as session:
        tasks = review.list_review_tasks(session)
        assert [t.id for t in tasks] == [first.task_id]
        actions = [e.action for e in session.query(audit.AuditEvent).order_by(audit.AuditEvent.id)]
        assert actions == ["received", "extracted", "flagged"]
        assert audit.verify_audit_chain(session).ok


def test_corrections_are_validated_like_the_pipeline(acts, env):
    fields = extraction(True).fields
    refused = env.run(acts.check_decision, CheckDecisionInput(
        form_type="register-to-vote", fields=fields,
        decision=ReviewDecision(decision=Decision.APPROVE, decided_by="cw",
                                corrections={"postcode": "SW1A 1A", "nonsense": "x"})))  # fmt: skip
    assert not refused.accepted
    assert set(refused.errors) == {"postcode", "nonsense"}

    accepted = env.run(acts.check_decision, CheckDecisionInput(
        form_type="register-to-vote", fields=fields,
        decision=ReviewDecision(decision=Decision.APPROVE, decided_by="cw",
                                corrections={"postcode": "sw1a1aa"})))  # fmt: skip
    assert accepted.accepted
    assert accepted.fields["postcode"].value == "SW1A 1AA"  # normalised, as OCR'd values are
    assert accepted.fields["postcode"].valid


def test_approval_closes_task_and_enters_saving_once(acts, env):
    doc = stored(acts, b"another scan", "b.png")
    env.run(acts.register_document, doc)
    saved = env.run(acts.save_extraction,
                    SaveExtractionInput(document=doc, workflow_id="wf-2",
                                        extraction=extraction(True)))  # fmt: skip
    fixed = dict(extraction(True).fields)
    fixed["postcode"] = ExtractedField(value="SW1A 1AA", confidence=1.0, valid=True, page=1)
    final = FinaliseInput(workflow_id="wf-2", record_id=saved.record_id, task_id=saved.task_id,
                          status=RecordStatus.APPROVED, fields=fixed, decided_by="cw")  # fmt: skip
    env.run(acts.finalise_record, final)
    env.run(acts.finalise_record, final)  # retried: no second ledger entry
    with session_scope(acts.database_url) as session:
        record = records.get_form_record(session, saved.record_id)
        assert record.status is RecordStatus.APPROVED
        task = review.get_review_task(session, saved.task_id)
        assert task.decided_by == "cw"
        assert task.decision is not None
        (total,) = ledger.ledger_totals(session)
        assert (total.subject, total.count, total.total_gbp) == (
            "register-to-vote",
            1,
            Decimal("6.38"),
        )
        corrected = [e for e in session.query(audit.AuditEvent) if e.action == "corrected"]
        assert [e.detail for e in corrected] == [{"field": "postcode"}]
        assert all("SW1A" not in str(e.detail) for e in session.query(audit.AuditEvent))


def test_escalation_is_recorded(acts, env):
    doc = stored(acts, b"slow scan", "c.png")
    env.run(acts.register_document, doc)
    saved = env.run(acts.save_extraction,
                    SaveExtractionInput(document=doc, workflow_id="wf-3",
                                        extraction=extraction(True)))  # fmt: skip
    env.run(acts.escalate_review, EscalateInput(workflow_id="wf-3", record_id=saved.record_id,
                                                task_id=saved.task_id or 0))  # fmt: skip
    with session_scope(acts.database_url) as session:
        assert review.get_review_task(session, saved.task_id).escalated_at is not None


def test_quarantine_keeps_a_copy_and_the_reason(acts, env):
    doc = stored(acts, b"PK\x03\x04 zip", "upload.pdf")
    env.run(acts.register_document, doc)
    env.run(acts.quarantine_document, QuarantineInput(
        document=doc, workflow_id="wf-4", error_type="UnsupportedFormatError",
        reason="upload.pdf: a ZIP archive, not a PDF"))  # fmt: skip
    with session_scope(acts.database_url) as session:
        (entry,) = documents.list_quarantined(session)
        assert entry.error_type == "UnsupportedFormatError"
        assert "ZIP" in entry.reason
        assert acts.store.get(entry.storage_key) == b"PK\x03\x04 zip"
        record = records.get_form_record_by_workflow(session, "wf-4")
        assert record.status is RecordStatus.QUARANTINED


def test_manifest_reads_across_chunks(acts, env):
    refs = [stored(acts, f"doc {n}".encode(), f"{n}.png") for n in range(250)]
    write_manifest(acts.store, "batches/x", refs)
    page = env.run(acts.read_manifest, ReadManifestInput(manifest_key="batches/x",
                                                         offset=90, limit=120))  # fmt: skip
    assert [d.filename for d in page.documents] == [f"{n}.png" for n in range(90, 210)]
    tail = env.run(acts.read_manifest, ReadManifestInput(manifest_key="batches/x",
                                                         offset=240, limit=100))  # fmt: skip
    assert len(tail.documents) == 10


def test_unknown_form_type_is_bad_input_for_temporal(acts, env):
    doc = stored(acts, b"x", "x.png")
    env.run(acts.register_document, doc)
    bad = extraction(False).model_copy(update={"form_type": "no-such-form"})
    with pytest.raises(ApplicationError) as caught:
        env.run(
            acts.save_extraction,
            SaveExtractionInput(document=doc, workflow_id="wf-5", extraction=bad),
        )
    assert caught.value.type == "TemplateError"
    assert caught.value.non_retryable


def abort_like_tesseract(*_args: object) -> FormExtraction:
    import os

    os.abort()  # what Tesseract does on a failed internal assertion


def test_ocr_engine_crash_is_contained_and_retryable(tmp_path: Path):
    from activities.digitise import OcrActivities
    from ocr import extract_path as _  # noqa: F401  (the pipeline imports in the test process)

    store = LocalStore(tmp_path / "objects")
    obj = store.put(b"%PDF-1.4 not really")
    doc = DocumentRef(document_id=obj.sha256, filename="x.pdf", storage_key=obj.key)
    ocr = OcrActivities(store, load_templates(), extract=abort_like_tesseract)
    try:
        for _attempt in range(2):  # the pool is replaced, so the worker can go on
            with pytest.raises(ApplicationError) as caught:
                ActivityEnvironment().run(ocr.extract_form, ExtractFormInput(document=doc))
            assert caught.value.type == "OcrEngineError"
            assert not caught.value.non_retryable
            assert "x.pdf" in caught.value.message
    finally:
        ocr.close()


# --- legacy matching -------------------------------------------------------------------


def person_extraction(values: dict[str, str]) -> FormExtraction:
    """A register-to-vote form whose fields hold ``values`` (the rest clean)."""
    form = extraction(False)
    fields = dict(form.fields)
    for name, value in values.items():
        fields[name] = ExtractedField(value=value, confidence=0.97, valid=True, page=1)
    return form.model_copy(update={"fields": fields})


def match_input(form: FormExtraction, form_type: str = "register-to-vote") -> LegacyMatchInput:
    return LegacyMatchInput(document_id="ab" * 32, form_type=form_type, fields=form.fields)


@pytest.fixture
def matching(acts: DigitiseActivities, tmp_path: Path) -> Iterator[DigitiseActivities]:
    """The activities with a plan for legacy-electoral, a SQLite register of made-up people."""
    url = sqlite_register(tmp_path / "electoral.db")
    acts.plans_dir = write_plan(tmp_path / "plans", url)
    yield acts
    acts.close()


class RecordingLog:
    """Stands in for the module's logger and keeps every event with its keys, unredacted."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        return lambda event, **kw: self.events.append({"event": event, **kw})


def test_match_is_recorded_and_kept_when_the_record_is_decided(matching, env, monkeypatch):
    recording = RecordingLog()
    monkeypatch.setattr("activities.digitise.log", recording)
    form = person_extraction(ALICE.form())
    result = env.run(matching.match_legacy, match_input(form))
    assert result.outcome is LegacyMatchOutcome.MATCHED
    assert result.best is not None
    assert (result.best.key, result.score) == (ALICE.elector_id, 1.0)
    assert result.review_reason() is None

    doc = stored(matching, b"alice's scan", "alice.png")
    env.run(matching.register_document, doc)
    saved = env.run(matching.save_extraction, SaveExtractionInput(
        document=doc, workflow_id="wf-legacy", extraction=form,
        legacy_match=result.record()))  # fmt: skip
    env.run(matching.finalise_record, FinaliseInput(
        workflow_id="wf-legacy", record_id=saved.record_id, task_id=None,
        status=RecordStatus.APPROVED, fields=form.fields, decided_by="auto-approved"))  # fmt: skip
    with session_scope(matching.database_url) as session:
        record = records.get_form_record(session, saved.record_id)
        assert record.legacy_match is not None
        assert record.legacy_match["outcome"] == "matched"
        assert record.legacy_match["key"] == ALICE.elector_id
        assert record.legacy_match["candidates"][0]["system"] == "legacy-electoral"
        assert record.legacy_match["candidates"][0]["score"] == 1.0

    (event,) = [e for e in recording.events if e["event"] == "legacy_matched"]
    assert event["outcome"] == "matched"
    logged = str(recording.events)
    for value in (ALICE.surname, ALICE.nino, ALICE.postcode, ALICE.dob.isoformat(),
                  ALICE.elector_id):  # fmt: skip
        assert value not in logged


def test_a_missing_person_gives_a_review_reason(matching, env):
    form = person_extraction({"surname": "Featherstonehaugh", "date_of_birth": "1931-02-28",
                              "postcode": "ZE2 9XY",
                              "national_insurance_number": "JG103759A"})  # fmt: skip
    result = env.run(matching.match_legacy, match_input(form))
    assert result.outcome is LegacyMatchOutcome.NONE
    reason = result.review_reason()
    assert reason is not None
    assert (reason.field, reason.code) == (None, "no_legacy_match")


def test_a_template_without_legacy_match_is_a_no_op(matching, env):
    form = person_extraction(ALICE.form())
    result = env.run(matching.match_legacy, match_input(form, "legal-aid-means"))
    assert result.outcome is LegacyMatchOutcome.SKIPPED
    assert result.record() is None
    assert result.review_reason() is None


def test_an_unreachable_legacy_database_is_retryable(acts, env, tmp_path: Path):
    # Nothing listens on port 1: the connection is refused at once.
    acts.plans_dir = write_plan(tmp_path / "plans", "mysql+pymysql://root@127.0.0.1:1/nowhere")
    for _attempt in range(2):  # nothing half-open is kept: each attempt tries again
        with pytest.raises(ApplicationError) as caught:
            env.run(acts.match_legacy, match_input(person_extraction(ALICE.form())))
        assert caught.value.type == "DatabaseError"
        assert not caught.value.non_retryable
    acts.close()


def test_a_system_without_a_plan_is_skipped(acts, env, tmp_path: Path, monkeypatch):
    recording = RecordingLog()
    monkeypatch.setattr("activities.digitise.log", recording)
    acts.plans_dir = tmp_path  # empty; the bundled plans have no legacy-electoral either
    result = env.run(acts.match_legacy, match_input(person_extraction(ALICE.form())))
    assert result.outcome is LegacyMatchOutcome.SKIPPED
    assert result.review_reason() is None
    assert result.record() == {
        "outcome": "skipped", "system": "legacy-electoral", "table": "ELECTOR", "score": None,
        "key": None, "detail": "no migration plan describes legacy-electoral here: not matched",
        "candidates": [],
    }  # fmt: skip
    env.run(acts.match_legacy, match_input(person_extraction(ALICE.form())))
    # Said once, not for every form.
    assert [e["event"] for e in recording.events] == ["legacy_match_not_configured"]


def test_an_invalid_plan_is_not_retried(acts, env, tmp_path: Path):
    (tmp_path / "electoral.yaml").write_text("system: {id: legacy-electoral}\n")  # no source
    acts.plans_dir = tmp_path
    with pytest.raises(ApplicationError) as caught:
        env.run(acts.match_legacy, match_input(person_extraction(ALICE.form())))
    assert caught.value.type == "PlanError"
    assert caught.value.non_retryable
    assert "source" in caught.value.message

"""Approving a form with a corrected field keeps the correction as a labelled example:
what extraction read (each engine's reading), what the caseworker set, the scan's key."""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from activities.digitise import DigitiseActivities
from config.form_template import load_templates
from db.corrections import as_example, corrections_since
from db.session import session_scope
from domain.digitise import DocumentRef, FinaliseInput, RecordStatus, SaveExtractionInput
from domain.forms import EngineReading, ExtractedField, FormExtraction, ReviewReason
from tests.activities.test_digitise import acts  # noqa: F401  (the fixture)


def test_a_corrected_field_is_kept_with_both_readings(acts: DigitiseActivities) -> None:  # noqa: F811
    env = ActivityEnvironment()
    stored = acts.store.put(b"a handwritten scan")
    doc = DocumentRef(document_id=stored.sha256, filename="a.png", storage_key=stored.key,
                      size_bytes=stored.size)  # fmt: skip
    env.run(acts.register_document, doc)
    template = load_templates()["register-to-vote"]
    fields = {
        s.name: ExtractedField(value="x", confidence=0.97, valid=True) for s in template.fields
    }
    readings = [EngineReading(engine="tesserocr", text="SW1A 1AB", confidence=0.9),
                EngineReading(engine="rapidocr", text="SW1A 1AA", confidence=0.95)]  # fmt: skip
    fields["postcode"] = ExtractedField(value="SW1A 1AB", confidence=0.5, valid=True, page=1,
                                        bbox=(0.5, 0.4, 0.7, 0.45), readings=readings)  # fmt: skip
    reason = ReviewReason(field="postcode", code="low_confidence", detail="engines disagree")
    extraction = FormExtraction(file="a.png", form_type=template.form_type, fields=fields,
                                needs_review=True, reasons=[reason], pages=1)  # fmt: skip
    request = SaveExtractionInput(document=doc, workflow_id="wf-c", extraction=extraction)
    saved = env.run(acts.save_extraction, request)
    fixed = dict(fields)
    fixed["postcode"] = ExtractedField(value="SW1A 1AA", confidence=1.0, valid=True, page=1)
    final = FinaliseInput(workflow_id="wf-c", record_id=saved.record_id, task_id=saved.task_id,
                          status=RecordStatus.APPROVED, fields=fixed, decided_by="cw")  # fmt: skip
    env.run(acts.finalise_record, final)
    env.run(acts.finalise_record, final)  # a retry keeps nothing twice
    with session_scope(acts.database_url) as session:
        (example,) = [as_example(row) for row in corrections_since(session)]
    assert example["field"] == "postcode"
    assert example["field_type"] == "postcode"
    assert (example["extracted"], example["corrected"]) == ("SW1A 1AB", "SW1A 1AA")
    assert [r["engine"] for r in example["readings"]] == ["tesserocr", "rapidocr"]
    assert example["storage_key"] == stored.key
    assert example["page"] == 1

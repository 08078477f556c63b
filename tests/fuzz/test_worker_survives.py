"""A worker survives bad documents: the real digitisation activities (OCR in its child
processes, the engine database on SQLite, a local store) and the real workflow, on the
time-skipping server, fed documents the intake fuzzer found. Each bad one is quarantined
at its first attempt with a reason naming the file; the same worker then reads the next.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from activities.digitise import DigitiseActivities, OcrActivities
from adapters.storage import LocalStore
from config.form_template import load_templates
from config.settings import TASK_QUEUE_WORKFLOWS
from db import documents
from db.migrate import upgrade
from db.session import dispose_engines, session_scope
from domain.digitise import DigitiseFormInput, DigitiseFormResult, DocumentRef, RecordStatus
from switchover.worker import ActivitySet
from tests.fakes.workers import running_workers
from tests.fuzz.seeds import document_seeds
from tests.fuzz.test_documents import pdf_page_without_media_box, tiff_second_frame_without_width
from workflows.digitise import DigitiseFormWorkflow


def bad_documents() -> dict[str, bytes]:
    seeds = document_seeds()
    return {
        # Escaped as TypeError while the pages were counted, outside the page guard: the
        # activity failed with a bare TypeError, was retried as if the engine had failed,
        # and was quarantined after five attempts without naming the file.
        "pages.tif": tiff_second_frame_without_width(),
        # Found by the fuzzer: a JPEG cut inside its entropy-coded data, a HEIC whose
        # boxes are cut short, a PDF whose cross-reference points nowhere.
        "photo.jpg": seeds["photo.jpg"][: len(seeds["photo.jpg"]) // 3],
        "photo.heic": seeds["photo.heic"][:200],
        "form.pdf": seeds["form.pdf"][:300],
    }


@pytest.fixture
def activities(tmp_path: Path) -> Iterator[tuple[OcrActivities, DigitiseActivities]]:
    url = f"sqlite:///{tmp_path / 'engine.db'}"
    upgrade(url)
    store = LocalStore(tmp_path / "objects")
    templates = load_templates()
    ocr = OcrActivities(store, templates, processes=1)
    try:
        yield ocr, DigitiseActivities(store, url, templates)
    finally:
        ocr.close()
        dispose_engines()


def stored(store: LocalStore, data: bytes, name: str) -> DocumentRef:
    obj = store.put(data)
    return DocumentRef(document_id=obj.sha256, filename=name, storage_key=obj.key,
                       size_bytes=obj.size)  # fmt: skip


@pytest.mark.slow
async def test_bad_documents_are_quarantined_and_the_worker_goes_on(
    time_skipping_env: WorkflowEnvironment,
    activities: tuple[OcrActivities, DigitiseActivities],
) -> None:
    ocr, io = activities
    client = time_skipping_env.client
    bad = bad_documents()
    # Last, a damaged PDF that is still legible (it once escaped as a TypeError from
    # pdfplumber's close): the same worker reads its pages and finds the words match no
    # template, so it is shown to go on working.
    readable = ("readable.pdf", pdf_page_without_media_box())
    results: dict[str, DigitiseFormResult] = {}
    attempts: dict[str, int] = {}
    async with running_workers(client, ActivitySet(ocr=ocr.all(), io=io.all())):
        for name, data in [*bad.items(), readable]:
            handle = await client.start_workflow(
                DigitiseFormWorkflow.run,
                DigitiseFormInput(document=stored(io.store, data, name)),
                id=f"fuzz-{uuid.uuid4()}",
                task_queue=TASK_QUEUE_WORKFLOWS,
            )
            results[name] = await handle.result()
            history = await handle.fetch_history()
            attempts[name] = max(
                event.activity_task_started_event_attributes.attempt
                for event in history.events
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            )

    for name in bad:
        assert results[name].status is RecordStatus.QUARANTINED, name
        assert name in (results[name].error or ""), results[name].error
        assert attempts[name] == 1, f"{name} was retried: not recognised as bad input"
    with session_scope(io.database_url) as session:
        quarantined = {q.filename: (q.error_type, q.reason)
                       for q in documents.list_quarantined(session)}  # fmt: skip
    assert set(quarantined) == {*bad, "readable.pdf"}
    for name in bad:
        error_type, reason = quarantined[name]
        assert error_type in ("UnreadableDocumentError", "UnsupportedFormatError"), reason
        assert name in reason
    assert quarantined["readable.pdf"][0] == "UnknownFormError"
    assert "readable.pdf page 1" in quarantined["readable.pdf"][1]

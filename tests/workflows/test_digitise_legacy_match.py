"""Legacy matching inside DigitiseFormWorkflow, on the time-skipping test server: with fake
activities for every outcome, and with the real activities against a SQLite register."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.digitise import DigitiseActivities
from adapters.storage import LocalStore
from config.form_template import load_templates
from config.settings import TASK_QUEUE_WORKFLOWS
from db import records
from db.migrate import upgrade
from db.session import dispose_engines, session_scope
from domain.digitise import (
    DigitiseFormInput,
    DigitiseFormResult,
    DigitiseFormStatus,
    RecordStatus,
)
from domain.forms import ExtractedField, FormExtraction
from switchover.worker import ActivitySet
from tests.adapters.test_legacy_match import ALICE, Person, sqlite_register, write_plan
from tests.fakes.digitise_activities import FakeDigitiseActivities, document
from tests.fakes.workers import running_workers
from tests.workflows.test_digitise import awaiting_review, start_form, wf_id
from workflows.calls import LEGACY_PATIENCE
from workflows.digitise import DigitiseFormWorkflow


@asynccontextmanager
async def running(
    client: Client, fake: FakeDigitiseActivities, io: Sequence[Any] | None = None
) -> AsyncIterator[None]:
    activities = ActivitySet(ocr=[fake.extract_form], io=list(io) if io else fake.all())
    async with running_workers(client, activities):
        yield


async def test_a_matched_form_is_approved_with_its_match(time_skipping_env: WorkflowEnvironment):
    fake = FakeDigitiseActivities()
    client = time_skipping_env.client
    async with running(client, fake):
        result = await client.execute_workflow(
            DigitiseFormWorkflow.run,
            DigitiseFormInput(document=document("a", 1)),
            id=wf_id(),
            task_queue=TASK_QUEUE_WORKFLOWS,
            result_type=DigitiseFormResult,
        )
    assert result.status is RecordStatus.APPROVED
    (saved,) = fake.saved
    assert saved.legacy_match is not None
    assert saved.legacy_match["outcome"] == "matched"
    assert saved.legacy_match["score"] == 0.97
    assert saved.legacy_match["candidates"][0]["key"] == "E0000017"


@pytest.mark.parametrize(("prefix", "code"), [("e", "no_legacy_match"), ("c", "ambiguous_match")])
async def test_no_or_ambiguous_match_goes_to_review(
    time_skipping_env: WorkflowEnvironment, prefix: str, code: str
):
    fake = FakeDigitiseActivities()
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start_form(client, document(prefix))
        state = await awaiting_review(handle)
        await handle.terminate("test over")
    assert [(r.field, r.code) for r in state.reasons] == [(None, code)]
    (saved,) = fake.saved
    assert saved.extraction.needs_review
    assert saved.extraction.reasons[-1].code == code
    assert saved.legacy_match is not None


async def test_an_unreachable_legacy_system_is_retried_then_sent_to_a_person(
    time_skipping_env: WorkflowEnvironment,
):
    fake = FakeDigitiseActivities()
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start_form(client, document("f"))
        await time_skipping_env.sleep(LEGACY_PATIENCE + timedelta(minutes=5))
        state = await awaiting_review(handle)
        await handle.terminate("test over")
    assert fake.match_calls > 5  # retried with backoff, not given up at once
    assert [r.code for r in state.reasons] == ["legacy_match_unavailable"]
    assert fake.saved[0].legacy_match is not None
    assert fake.saved[0].legacy_match["outcome"] == "unavailable"


# --- the real activities, a real legacy register -------------------------------------------


def form_of(person: Person) -> FormExtraction:
    """A clean register-to-vote extraction for ``person``."""
    template = load_templates()["register-to-vote"]
    values = {
        spec.name: "x" for spec in template.fields
    } | person.form()  # the fields legacy matching does not read hold anything
    fields = {
        name: ExtractedField(value=value, confidence=0.97, valid=True, page=1)
        for name, value in values.items()
    }
    return FormExtraction(file="scan.png", form_type="register-to-vote", fields=fields,
                          needs_review=False, reasons=[], pages=1)  # fmt: skip


@pytest.fixture
def real_io(tmp_path: Path) -> Iterator[DigitiseActivities]:
    url = f"sqlite:///{tmp_path / 'engine.db'}"
    upgrade(url)
    plans = write_plan(tmp_path / "plans", sqlite_register(tmp_path / "electoral.db"))
    acts = DigitiseActivities(LocalStore(tmp_path / "objects"), url, load_templates(),
                              plans_dir=plans)  # fmt: skip
    yield acts
    acts.close()
    dispose_engines()


async def test_real_matching_records_the_match_or_sends_the_form_to_review(
    time_skipping_env: WorkflowEnvironment, real_io: DigitiseActivities
):
    stranger = Person("E9999999", "JG103759A", "Featherstonehaugh", "Peregrine",
                      ALICE.dob, "ZE2 9XY")  # fmt: skip
    found, missing = document("a", 7), document("e", 7)
    fake = FakeDigitiseActivities(
        extractions={found.document_id: form_of(ALICE), missing.document_id: form_of(stranger)}
    )
    client = time_skipping_env.client
    async with running(client, fake, io=real_io.all()):
        approved = await client.execute_workflow(
            DigitiseFormWorkflow.run, DigitiseFormInput(document=found), id=wf_id(),
            task_queue=TASK_QUEUE_WORKFLOWS, result_type=DigitiseFormResult,
        )  # fmt: skip
        handle = await start_form(client, missing)
        state: DigitiseFormStatus = await awaiting_review(handle)
        await handle.terminate("test over")

    assert approved.status is RecordStatus.APPROVED
    assert [(r.field, r.code) for r in state.reasons] == [(None, "no_legacy_match")]
    with session_scope(real_io.database_url) as session:
        record = records.get_form_record(session, approved.record_id or 0)
        assert record.status is RecordStatus.APPROVED
        assert record.legacy_match is not None
        assert record.legacy_match["outcome"] == "matched"
        assert record.legacy_match["key"] == ALICE.elector_id
        assert record.legacy_match["score"] == 1.0
        assert record.legacy_match["candidates"][0]["system"] == "legacy-electoral"

        waiting = records.get_form_record(session, state.record_id or 0)
        assert waiting.status is RecordStatus.AWAITING_REVIEW
        assert [r["code"] for r in waiting.reasons] == ["no_legacy_match"]
        assert waiting.legacy_match is not None
        assert waiting.legacy_match["outcome"] == "none"

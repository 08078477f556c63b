"""DigitiseFormWorkflow and DigitiseBatchWorkflow on the time-skipping test server, with
fake activities registered under the real names."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from config.settings import TASK_QUEUE_WORKFLOWS
from domain.digitise import (
    Decision,
    DigitiseBatchInput,
    DigitiseBatchResult,
    DigitiseFormInput,
    DigitiseFormResult,
    DigitiseFormStatus,
    DocumentRef,
    RecordStatus,
    ReviewDecision,
    ReviewOutcome,
)
from switchover.worker import ActivitySet
from tests.fakes.digitise_activities import FakeDigitiseActivities, document
from tests.fakes.workers import running_workers
from workflows.digitise import DigitiseBatchWorkflow, DigitiseFormWorkflow


@asynccontextmanager
async def running(client: Client, fake: FakeDigitiseActivities) -> AsyncIterator[None]:
    async with running_workers(client, ActivitySet(ocr=[fake.extract_form], io=fake.all())):
        yield


async def awaiting_review(handle: WorkflowHandle) -> DigitiseFormStatus:
    for _ in range(200):
        state = await handle.query(DigitiseFormWorkflow.status, result_type=DigitiseFormStatus)
        if state.status is RecordStatus.AWAITING_REVIEW:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached review: {state}")


def wf_id() -> str:
    return f"test-{uuid.uuid4()}"


async def start_form(
    client: Client, doc: DocumentRef
) -> WorkflowHandle[DigitiseFormWorkflow, DigitiseFormResult]:
    return await client.start_workflow(
        DigitiseFormWorkflow.run,
        DigitiseFormInput(document=doc),
        id=wf_id(),
        task_queue=TASK_QUEUE_WORKFLOWS,
    )


async def test_clean_form_is_approved_without_a_person(time_skipping_env: WorkflowEnvironment):
    fake = FakeDigitiseActivities()
    client = time_skipping_env.client
    async with running(client, fake):
        result = await client.execute_workflow(
            DigitiseFormWorkflow.run,
            DigitiseFormInput(document=document("a")),
            id=wf_id(),
            task_queue=TASK_QUEUE_WORKFLOWS,
            result_type=DigitiseFormResult,
        )
    assert result.status is RecordStatus.APPROVED
    assert result.decided_by == "auto-approved"
    assert [f.status for f in fake.finalised] == [RecordStatus.APPROVED]


async def test_bad_document_is_quarantined_not_retried(time_skipping_env: WorkflowEnvironment):
    fake = FakeDigitiseActivities()
    client = time_skipping_env.client
    async with running(client, fake):
        result = await client.execute_workflow(
            DigitiseFormWorkflow.run,
            DigitiseFormInput(document=document("b")),
            id=wf_id(),
            task_queue=TASK_QUEUE_WORKFLOWS,
            result_type=DigitiseFormResult,
        )
    assert result.status is RecordStatus.QUARANTINED
    assert fake.extract_calls == 1
    assert fake.quarantined[0].error_type == "UnsupportedFormatError"
    assert "scan-0.png" in fake.quarantined[0].reason
    assert fake.finalised == []


async def test_doubtful_form_waits_escalates_after_sla_then_takes_decision(
    time_skipping_env: WorkflowEnvironment,
):
    fake = FakeDigitiseActivities(sla_seconds=48 * 3600)
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start_form(client, document("d"))
        # 49 hours pass in moments on the time-skipping server.
        await time_skipping_env.sleep(timedelta(hours=49))
        state = await handle.query(DigitiseFormWorkflow.status, result_type=DigitiseFormStatus)
        assert state.status is RecordStatus.AWAITING_REVIEW
        assert state.escalated
        assert fake.escalated == [state.task_id]

        # An invalid correction comes back as an error and the task stays open.
        bad = await handle.execute_update(
            DigitiseFormWorkflow.decide,
            ReviewDecision(decision=Decision.APPROVE, decided_by="cw1",
                           corrections={"postcode": "NOT A POSTCODE"}),
            result_type=ReviewOutcome,
        )  # fmt: skip
        assert not bad.accepted
        assert "postcode" in bad.errors

        good = await handle.execute_update(
            DigitiseFormWorkflow.decide,
            ReviewDecision(decision=Decision.APPROVE, decided_by="cw1",
                           corrections={"postcode": "sw1a 1aa"}),
            result_type=ReviewOutcome,
        )  # fmt: skip
        assert good.accepted
        result = await handle.result()
    assert result.status is RecordStatus.APPROVED
    assert result.decided_by == "cw1"
    assert fake.finalised[0].fields["postcode"].value == "sw1a 1aa"


async def test_second_decision_is_refused_not_overwritten(time_skipping_env: WorkflowEnvironment):
    fake = FakeDigitiseActivities()
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start_form(client, document("d", 1))
        await awaiting_review(handle)
        first = await handle.execute_update(
            DigitiseFormWorkflow.decide,
            ReviewDecision(decision=Decision.REJECT, decided_by="cw1", reason="not signed"),
            result_type=ReviewOutcome,
        )
        assert first.status is RecordStatus.REJECTED
        assert len(fake.finalised) == 1  # answered after the record was saved
        # The first decision is answered once the record is saved, and the run then ends:
        # a second decision meets either the validator or a closed workflow, never a record.
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await handle.execute_update(
                DigitiseFormWorkflow.decide,
                ReviewDecision(decision=Decision.APPROVE, decided_by="cw2"),
                result_type=ReviewOutcome,
            )
        result = await handle.result()
    assert result.status is RecordStatus.REJECTED
    assert len(fake.finalised) == 1
    assert fake.finalised[0].reason == "not signed"


async def test_rejection_without_reason_is_refused(time_skipping_env: WorkflowEnvironment):
    fake = FakeDigitiseActivities()
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start_form(client, document("d", 2))
        await awaiting_review(handle)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                DigitiseFormWorkflow.decide,
                ReviewDecision(decision=Decision.REJECT, decided_by="cw1", reason=" "),
                result_type=ReviewOutcome,
            )
        await handle.terminate("test over")


async def test_batch_bounds_concurrency_and_continues_as_new(
    time_skipping_env: WorkflowEnvironment,
):
    docs = [document("a", n) for n in range(9)] + [document("b", 1), document("d", 9)]
    docs.append(docs[0])  # the same document twice is one record
    fake = FakeDigitiseActivities(manifest=docs)
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await client.start_workflow(
            DigitiseBatchWorkflow.run,
            DigitiseBatchInput(
                batch_id="b1",
                manifest_key="m",
                total=len(docs),
                max_concurrent=3,
                starts_per_run=4,
            ),
            id=wf_id(),
            task_queue=TASK_QUEUE_WORKFLOWS,
            result_type=DigitiseBatchResult,
        )
        result = await handle.result()
        description = await handle.describe()
    assert result.counts == {"approved": 9, "quarantined": 1, "awaiting_review": 1, "duplicate": 1}
    # 12 starts at 4 per run: the batch continued as new twice.
    assert description.run_id != handle.first_execution_run_id


async def test_two_caseworkers_at_once_one_decision_wins(time_skipping_env: WorkflowEnvironment):
    fake = FakeDigitiseActivities()
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start_form(client, document("d", 3))
        await awaiting_review(handle)
        decisions = [
            ReviewDecision(decision=Decision.APPROVE, decided_by="cw1"),
            ReviewDecision(decision=Decision.REJECT, decided_by="cw2", reason="duplicate"),
        ]
        answers = await asyncio.gather(
            *(handle.execute_update(DigitiseFormWorkflow.decide, d, result_type=ReviewOutcome)
              for d in decisions),
            return_exceptions=True,
        )  # fmt: skip
        result = await handle.result()
    accepted = [a for a in answers if isinstance(a, ReviewOutcome)]
    refused = [a for a in answers if isinstance(a, BaseException)]
    assert len(accepted) == 1
    assert len(refused) == 1
    assert "already" in str(getattr(refused[0], "cause", refused[0]))
    assert len(fake.finalised) == 1
    assert result.decided_by == fake.finalised[0].decided_by

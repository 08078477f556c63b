"""Retention on a clock moved forward: Temporal's time-skipping server runs the retention
workflow after 31 days and after 6 years; the due scans and records are gone from storage
and the database, the audit trail records each deletion, and the chain still verifies."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.retention import RetentionActivities
from config.form_template import load_templates
from config.settings import TASK_QUEUE_IO, TASK_QUEUE_WORKFLOWS
from db.audit import verify_audit_chain
from db.models import AuditEvent, Document, FormRecord, OutboxEntry
from db.session import session_scope
from domain.delivery import RetentionInput, RetentionResult
from tests.retention.conftest import SCANS_DAYS, Engine, decided_record
from workflows.retention import ApplyRetentionWorkflow


async def apply(env: WorkflowEnvironment, engine: Engine) -> RetentionResult:
    activities = RetentionActivities(engine.store, engine.url,
                                     load_templates(engine.settings.forms_dir))  # fmt: skip
    # Time moves only by the test's sleeps: left to itself, the server would skip ahead
    # while the workflow waits for a worker that is still starting.
    with env.auto_time_skipping_disabled(), ThreadPoolExecutor(2) as pool:
        async with (
            Worker(env.client, task_queue=TASK_QUEUE_WORKFLOWS,
                   workflows=[ApplyRetentionWorkflow]),
            Worker(env.client, task_queue=TASK_QUEUE_IO, activities=activities.all(),
                   activity_executor=pool),
        ):  # fmt: skip
            return await env.client.execute_workflow(
                ApplyRetentionWorkflow.run, RetentionInput(limit=2),
                id=f"retention-{uuid.uuid4().hex[:8]}", task_queue=TASK_QUEUE_WORKFLOWS,
            )  # fmt: skip


def events(engine: Engine, action: str) -> list[AuditEvent]:
    with session_scope(engine.url) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def test_retention_deletes_what_is_due_on_a_clock_moved_forward(
    time_skipping_env: WorkflowEnvironment, engine: Engine
) -> None:
    due = [decided_record(engine, n) for n in range(3)]
    other_id, other_key = decided_record(engine, 9, form_type="legal-aid-means")

    # Today nothing is due.
    assert await apply(time_skipping_env, engine) == RetentionResult()
    assert all(engine.store.exists(key) for _, key in due)

    await time_skipping_env.sleep(timedelta(days=SCANS_DAYS + 1))
    result = await apply(time_skipping_env, engine)
    assert (result.scans_deleted, result.records_deleted) == (3, 0)  # in batches of 2
    assert not any(engine.store.exists(key) for _, key in due)
    assert engine.store.exists(other_key)  # its template keeps scans: untouched
    with session_scope(engine.url) as session:
        kept = {r.id: r for r in session.scalars(select(FormRecord))}
        names = {d.id: d.filename for d in session.scalars(select(Document))}
        assert set(kept) == {*(i for i, _ in due), other_id}  # the records stay
        assert sorted(names.values()).count("(deleted)") == 3
        assert verify_audit_chain(session).ok
    deleted = events(engine, "retention.scan_deleted")
    assert sorted(int(e.subject_id) for e in deleted) == sorted(i for i, _ in due)
    assert {e.detail["rule"] for e in deleted} == {f"scans_days={SCANS_DAYS}"}
    assert "SURNAME" not in str([e.detail for e in deleted])

    # Run again: nothing more to do, nothing recorded twice.
    assert await apply(time_skipping_env, engine) == RetentionResult()
    assert len(events(engine, "retention.scan_deleted")) == 3

    await time_skipping_env.sleep(timedelta(days=6 * 366))
    result = await apply(time_skipping_env, engine)
    assert (result.scans_deleted, result.records_deleted) == (0, 3)
    with session_scope(engine.url) as session:
        assert [r.id for r in session.scalars(select(FormRecord))] == [other_id]
        assert session.scalars(select(OutboxEntry.record_id)).all() == [other_id]
        report = verify_audit_chain(session)
    assert report.ok, report.problem
    assert len(events(engine, "retention.record_deleted")) == 3

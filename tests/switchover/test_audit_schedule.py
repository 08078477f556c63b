"""The nightly export of the audit chain's head: a Temporal Schedule on a real dev server
whose run writes the head to the object store, where `audit verify` finds it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from temporalio.client import ScheduleCalendarSpec
from temporalio.testing import WorkflowEnvironment

from activities.audit import HEADS_PREFIX, latest_exported_head
from adapters.storage import open_store
from config.settings import Settings
from db.audit import append_audit_event
from db.migrate import upgrade
from db.session import session_scope
from switchover.schedules import EXPORT_AUDIT_HEAD_SCHEDULE, ensure_schedules
from switchover.worker import build_workers, production_activities, run_workers


async def test_the_nightly_export_writes_the_head(
    local_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "state")
    upgrade(settings.resolved_database_url)
    with session_scope(settings.resolved_database_url) as session:
        last = append_audit_event(session, actor="erin", action="cutover.advance",
                                  subject_type="system", subject_id="legacy-x").id  # fmt: skip
    client = local_env.client
    await ensure_schedules(client)
    await ensure_schedules(client)  # a second worker starting: nothing new, no error
    handle = client.get_schedule_handle(EXPORT_AUDIT_HEAD_SCHEDULE)
    described = await handle.describe()
    (calendar,) = described.schedule.spec.calendars
    assert isinstance(calendar, ScheduleCalendarSpec)
    assert [r.start for r in calendar.hour] == [0]

    store = open_store(settings.resolved_storage_url, settings)
    activities = production_activities(settings)
    workers = build_workers(client, activities, ocr_slots=1)
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(workers, stop, activities))
    try:
        await handle.trigger()
        for _ in range(300):
            if list(store.list(HEADS_PREFIX)):
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
    found = latest_exported_head(store)
    assert found is not None
    key, head = found
    assert (head.event_id, head.events) == (last, 1)
    assert json.loads(store.get(key))["hash"] == head.hash

"""The nightly savings accrual: a Temporal Schedule on a real dev server, created once
however often workers start, and a run of it bringing a retired system's ledger to today."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path

from temporalio.client import (
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
)
from temporalio.testing import WorkflowEnvironment

from config.settings import TASK_QUEUE_WORKFLOWS, Settings
from db.ledger import ledger_totals
from db.migrate import upgrade
from db.models import LedgerKind
from db.programme import move_system, register_system
from db.session import session_scope
from domain.systems import SystemStage
from switchover.schedules import (
    ACCRUE_SAVINGS_SCHEDULE,
    APPLY_RETENTION_SCHEDULE,
    DELIVER_RECORDS_SCHEDULE,
    EXPORT_AUDIT_HEAD_SCHEDULE,
    ensure_schedules,
)
from switchover.worker import build_workers, production_activities, run_workers


async def test_the_nightly_accrual_is_scheduled_once_and_fills_the_ledger(
    local_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "state")
    upgrade(settings.resolved_database_url)
    today = dt.datetime.now(dt.UTC).date()
    with session_scope(settings.resolved_database_url) as session:
        register_system(session, system_id="legacy-old", name="Old", department="D",
                        risk_score=20, annual_run_cost_gbp=Decimal(36500),
                        migration_cost_gbp=Decimal(1000), actor="test")  # fmt: skip
        move_system(session, "legacy-old", SystemStage.RETIRED, actor="test",
                    at=dt.datetime.combine(today - dt.timedelta(days=2), dt.time(12),
                                           tzinfo=dt.UTC))  # fmt: skip
    client = local_env.client
    await ensure_schedules(client)
    await ensure_schedules(client)  # a second worker starting: nothing new, no error
    handle = client.get_schedule_handle(ACCRUE_SAVINGS_SCHEDULE)
    described = await handle.describe()
    calendars = described.schedule.spec.calendars
    assert len(calendars) == 1
    assert isinstance(calendars[0], ScheduleCalendarSpec)
    assert [r.start for r in calendars[0].hour] == [0]

    activities = production_activities(settings)
    workers = build_workers(client, activities, ocr_slots=1)
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(workers, stop, activities))
    try:
        await handle.trigger()
        for _ in range(200):
            described = await handle.describe()
            if described.info.recent_actions and not described.info.running_actions:
                break
            await asyncio.sleep(0.1)
        assert described.info.recent_actions
    finally:
        stop.set()
        await task
    with session_scope(settings.resolved_database_url) as session:
        totals = ledger_totals(session, kind=LedgerKind.SYSTEM)
    # Three days (the retirement day, yesterday, today) at £100 a day (36,500 / 365 —
    # or 36,500 / 366 in a leap year), less the migration's £1,000.
    days = [today - dt.timedelta(days=n) for n in range(3)]
    expected = sum(
        (Decimal(36500) / (366 if d.year % 4 == 0 else 365)).quantize(Decimal("0.01")) for d in days
    )
    assert len(totals) == 1
    assert totals[0].count == 4
    assert totals[0].total_gbp == expected - 1000


async def test_every_engine_schedule_starts_its_workflow_one_run_at_a_time(
    local_env: WorkflowEnvironment,
) -> None:
    client = local_env.client
    await ensure_schedules(client)
    expected = {
        ACCRUE_SAVINGS_SCHEDULE: ("AccrueSavingsWorkflow", 0),
        EXPORT_AUDIT_HEAD_SCHEDULE: ("ExportAuditHeadWorkflow", 0),
        DELIVER_RECORDS_SCHEDULE: ("DeliverRecordsWorkflow", 1),
        APPLY_RETENTION_SCHEDULE: ("ApplyRetentionWorkflow", 1),
    }
    for schedule_id, (workflow_type, inputs) in expected.items():
        described = await client.get_schedule_handle(schedule_id).describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, len(action.args)) == (workflow_type, inputs), schedule_id
        assert action.task_queue == TASK_QUEUE_WORKFLOWS
        assert described.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP

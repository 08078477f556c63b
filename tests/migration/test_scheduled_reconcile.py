"""Reconciliation after cutover on a Temporal Schedule: a plan's ``reconcile.every``
becomes a schedule on a real dev server, whose runs (triggered here rather than waited
for) reconcile a CSV export against its PostgreSQL copy with the real activities and the
stored plan; a run before cutover does nothing, one with more differences than
``reconcile.max_differences`` fails with the reason, and the first run after the system
is retired pauses the schedule."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from temporalio.client import Client, ScheduleIntervalSpec, WorkflowFailureError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.migrate import MigrationActivities
from activities.reconcile import ReconcileActivities
from config.migration_plan import ReconcilePlan, load_plan, parse_plan
from config.settings import TASK_QUEUE_IO, TASK_QUEUE_WORKFLOWS
from db.plans import plan_ref, store_plan
from db.programme import move_system, register_system
from db.session import session_scope
from domain.errors import PlanError
from domain.migration import PrepareTargetInput
from domain.systems import SystemStage
from switchover.schedules import ensure_reconcile_schedule, reconcile_schedule_id
from tests.migration.conftest import postgres_name  # noqa: F401
from tests.migration.test_activities import copy_all
from workflows.reconcile import ScheduledReconcileResult, ScheduledReconcileWorkflow


@asynccontextmanager
async def workers(client: Client, engine_url: str) -> AsyncIterator[None]:
    io = ReconcileActivities(engine_url)
    async with (
        Worker(client, task_queue=TASK_QUEUE_WORKFLOWS, workflows=[ScheduledReconcileWorkflow]),
        Worker(client, task_queue=TASK_QUEUE_IO, activities=io.all(),
               activity_executor=concurrent.futures.ThreadPoolExecutor(4)),
    ):  # fmt: skip
        yield


async def run_once(client: Client, schedule_id: str) -> Any:
    """Trigger the schedule and give the run's result (or raise its failure)."""
    handle = client.get_schedule_handle(schedule_id)
    before = len((await handle.describe()).info.recent_actions)
    await handle.trigger()
    for _ in range(300):
        recent = (await handle.describe()).info.recent_actions
        if len(recent) > before:
            break
        await asyncio.sleep(0.1)
    action = recent[-1].action
    run = client.get_workflow_handle(
        action.workflow_id, run_id=action.first_execution_run_id,  # type: ignore[attr-defined]
        result_type=ScheduledReconcileResult,
    )  # fmt: skip
    return await asyncio.wait_for(run.result(), timeout=120)


def set_stage(url: str, system_id: str, stage: SystemStage) -> None:
    with session_scope(url) as session:
        move_system(session, system_id, stage, actor="test", at=dt.datetime.now(dt.UTC))


async def test_the_schedule_reconciles_after_cutover_within_budget_until_retired(
    local_env: WorkflowEnvironment,
    engine_db_url: str,
    postgres_name: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    system_id = f"legacy-lib-{uuid.uuid4().hex[:6]}"
    schema = f"s_{uuid.uuid4().hex[:8]}"
    (tmp_path / "members.csv").write_text(
        "ID,NAME\n" + "".join(f"{i},Member {i}\n" for i in range(1, 51)), encoding="utf-8"
    )
    plan = {
        "system": {"id": system_id, "name": "Library members"},
        "source": {"kind": "csv", "path": "members.csv"},
        "target": {"url": f"postgresql+psycopg://postgres@127.0.0.1/{postgres_name}",
                   "schema": schema},
        "tables": [{"source": "members", "target": "members", "key": ["ID"]}],
        "reconcile": {"every": "1h", "max_minutes": 5, "max_differences": 1},
    }  # fmt: skip
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(plan), encoding="utf-8")
    copier = MigrationActivities(engine_db_url, heartbeat=lambda *_: None)
    copier.prepare_target(PrepareTargetInput(plan_path=str(plan_file), table="members"))
    assert copy_all(copier, plan_file, "members", 1000) == 50
    with session_scope(engine_db_url) as session:
        version = store_plan(session, plan_file).version
        register_system(session, system_id=system_id, name="Library", department="Culture",
                        risk_score=5, annual_run_cost_gbp=Decimal(1000),
                        migration_cost_gbp=Decimal(0), actor="test")  # fmt: skip
    client = local_env.client
    schedule_id = await ensure_reconcile_schedule(client, load_plan(plan_file), plan_ref(version))
    assert schedule_id == reconcile_schedule_id(system_id)
    schedule = client.get_schedule_handle(schedule_id)
    try:
        described = await schedule.describe()
        [interval] = described.schedule.spec.intervals
        assert isinstance(interval, ScheduleIntervalSpec)
        assert interval.every == dt.timedelta(hours=1)
        async with workers(client, engine_db_url):
            early = await run_once(client, schedule_id)
            assert early.skipped  # not cut over: the migration's own gates reconcile
            assert not early.tables

            set_stage(engine_db_url, system_id, SystemStage.CUTOVER)
            passed = await run_once(client, schedule_id)
            assert not passed.skipped
            assert [(t.table, t.passed, t.legacy_rows, t.target_rows) for t in passed.tables] == [
                ("members", True, 50, 50)
            ]

            url = f"postgresql://postgres@127.0.0.1/{postgres_name}"
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DELETE FROM "{schema}".members WHERE id = %s', ("7",))
            within = await run_once(client, schedule_id)  # one difference: within budget
            assert within.tables[0].missing == 1
            assert within.tables[0].passed

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"UPDATE \"{schema}\".members SET name = 'x' WHERE id = %s", ("9",))
            with pytest.raises(WorkflowFailureError) as caught:
                await run_once(client, schedule_id)
            reason = str(caught.value.cause)
            assert f"reconciliation of {system_id} failed" in reason
            assert "members:" in reason

            set_stage(engine_db_url, system_id, SystemStage.RETIRED)
            retired = await run_once(client, schedule_id)
            assert retired.retired
        described = await schedule.describe()
        assert described.schedule.state.paused
        assert "retired" in (described.schedule.state.note or "")
        # A later plan version without reconcile.every takes the schedule away.
        plain = load_plan(plan_file).model_copy(update={"reconcile": ReconcilePlan()})
        assert await ensure_reconcile_schedule(client, plain, plan_ref(version)) is None
        with pytest.raises(RPCError):
            await schedule.describe()
    finally:
        with contextlib.suppress(RPCError):
            await schedule.delete()


def test_reconcile_every_is_checked_with_its_line() -> None:
    text = yaml.safe_dump({
        "system": {"id": "x", "name": "X"}, "source": {"kind": "csv", "path": "a.csv"},
        "target": {"url": "postgresql://nowhere"}, "tables": [{"source": "a", "target": "a"}],
        "reconcile": {"every": "sometimes"},
    })  # fmt: skip
    with pytest.raises(PlanError) as caught:
        parse_plan(text, filename="plan.yaml")
    assert "reconcile.every: unknown schedule 'sometimes'" in caught.value.message
    good = parse_plan(text.replace("sometimes", "nightly"), filename="plan.yaml")
    assert good.reconcile.cron() == "30 2 * * *"
    assert good.reconcile.max_differences == 0

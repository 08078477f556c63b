"""CutoverWorkflow keeps each run's history small: it continues as new at every stage and
during long soaks, carrying its stage, approvals, router setting and any accepted action.
On the time-skipping server with fake activities under the real names (see
``test_cutover``): a week-long soak over ten tables, a soak of minutes with a catch-up a
second over six tables, and engineers' actions that meet a continue-as-new."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from domain.cutover import CutoverEventKind, CutoverPhase, EngineerActionKind
from tests.conftest import ended, on_a_fresh_server, skip_time
from tests.workflows.test_cutover import FakeCutover, act, running, start, until
from workflows.cutover import CutoverWorkflow


async def run_histories(client: Client, handle: WorkflowHandle[Any, Any]) -> list[WorkflowHistory]:
    """Each run's history, first to last, following the chain of continue-as-new."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = handle.first_execution_run_id
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        continued = last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        attributes = last.workflow_execution_continued_as_new_event_attributes
        run_id = attributes.new_execution_run_id if continued else None
    return histories


def sizes(histories: list[WorkflowHistory]) -> list[int]:
    return [len(h.events) for h in histories]


def count(history: WorkflowHistory, kind: EventType.ValueType) -> int:
    return sum(1 for event in history.events if event.event_type == kind)


@pytest.mark.slow
@on_a_fresh_server
async def test_a_week_long_soak_over_ten_tables_stays_small_in_every_run(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    tables = [f"table_{n}" for n in range(10)]
    fake = FakeCutover(stages=[100], shadow=False, soak_minutes=7 * 24 * 60,
                       catch_up_every_s=600, tables=tables)  # fmt: skip
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client, decommission=False)
        result = await ended(time_skipping_env, handle)
        histories = await run_histories(client, handle)
    print(f"week-long soak, 10 tables: {len(histories)} runs of {sizes(histories)} events")
    assert result.phase is CutoverPhase.COMPLETE
    assert max(sizes(histories)) < 10_000
    assert len(histories) > 1
    # The soak kept its schedule across runs: a catch-up every 10 minutes for a week (none
    # at its very end; the real time each takes may cost one), then one before the gate,
    # one before the switch and one under its write hold, per table.
    assert fake.catch_ups / len(tables) in (7 * 24 * 6 - 2 + 3, 7 * 24 * 6 - 1 + 3)
    assert fake.kinds() == [("stage_started", 100), ("gate_passed", 100), ("completed", 100)]
    # Traffic was put on the stage once: a continued run carries on its soak.
    assert [s.modern_percent for s in fake.applied] == [100, 100]


@pytest.mark.slow
@on_a_fresh_server
async def test_no_run_over_2000_events_with_six_tables_caught_up_every_second(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    tables = [f"table_{n}" for n in range(6)]
    fake = FakeCutover(stages=[50, 100], soak_minutes=4, catch_up_every_s=1, tables=tables)
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client, decommission=False)
        result = await ended(time_skipping_env, handle)
        histories = await run_histories(client, handle)
    print(f"4-minute soaks, 6 tables, 1 s: {len(histories)} runs of {sizes(histories)} events")
    assert result.phase is CutoverPhase.COMPLETE
    assert max(sizes(histories)) <= 2_000
    # A catch-up a second (and a little: each takes real time) through three soaks.
    assert fake.catch_ups % len(tables) == 0
    assert 3 * 200 < fake.catch_ups / len(tables) <= 3 * 239 + 3 + 1
    assert fake.kinds() == [
        ("shadow_started", 0), ("gate_passed", 0),
        ("stage_started", 50), ("gate_passed", 50),
        ("stage_started", 100), ("gate_passed", 100),
        ("completed", 100),
    ]  # fmt: skip


@on_a_fresh_server
async def test_an_approval_is_carried_into_the_run_that_starts_the_stage(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fake = FakeCutover(approval="required", stages=[50, 100], role_check_s=0.5)
    client = time_skipping_env.client
    env = time_skipping_env
    async with running(client, fake):
        handle = await start(client, decommission=False)
        for percent in (0, 50):
            await until(env, handle, lambda s, p=percent: s.phase is CutoverPhase.AWAITING_APPROVAL
                        and s.setting.modern_percent == p)  # fmt: skip
            answer = await handle.execute_update(CutoverWorkflow.act,
                                                 act(EngineerActionKind.APPROVE))  # fmt: skip
            assert answer == "approve accepted for legacy-test"
        result = await ended(env, handle)
        histories = await run_histories(client, handle)
    assert result.phase is CutoverPhase.COMPLETE
    approvals = [(p, a) for k, p, a in fake.events if k is CutoverEventKind.APPROVED]
    assert approvals == [(50, "erin"), (100, "erin")]  # each asked for, and given, once
    assert [s.modern_percent for s in fake.applied] == [0, 50, 100, 100]
    # One run per stage: each approval was accepted, and answered, in the run before the
    # one that started its stage.
    assert len(histories) == 3
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    completed = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
    continued = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    for history in histories[:2]:
        assert count(history, accepted) == count(history, completed) == 1
        assert history.events[-1].event_type == continued


@on_a_fresh_server
async def test_an_action_sent_as_a_soak_continues_as_new_is_carried_out(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # A catch-up a second over six tables: the soak continues as new every half minute or
    # so, while the engineer's freeze waits a real second on its role check.
    tables = [f"table_{n}" for n in range(6)]
    fake = FakeCutover(stages=[100], shadow=False, soak_minutes=3, catch_up_every_s=1,
                       tables=tables, role_check_s=1.0)  # fmt: skip
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client, decommission=False)
        deadline = time.monotonic() + 120
        while len(await run_histories(client, handle)) < 3 and time.monotonic() < deadline:
            await skip_time(time_skipping_env, timedelta(seconds=5))
        freeze = act(EngineerActionKind.FREEZE, reason="month-end")
        answer = await handle.execute_update(CutoverWorkflow.act, freeze)
        assert answer == "freeze accepted for legacy-test"
        for _ in range(600):
            held = await handle.query(CutoverWorkflow.status)
            if held.phase is CutoverPhase.AWAITING_ENGINEER:
                break
            await asyncio.sleep(0.1)
        assert held.phase is CutoverPhase.AWAITING_ENGINEER
        assert held.setting.modern_percent == 100
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.ADVANCE))
        result = await ended(time_skipping_env, handle)
        histories = await run_histories(client, handle)
    print(f"freeze in a soak: {len(histories)} runs of {sizes(histories)} events")
    assert result.phase is CutoverPhase.COMPLETE
    assert fake.kinds() == [
        ("stage_started", 100), ("frozen", 100), ("advanced", 100),
        ("stage_started", 100), ("gate_passed", 100), ("completed", 100),
    ]  # fmt: skip
    assert ("frozen", 100, "erin") in [(k.value, p, a) for k, p, a in fake.events]
    assert max(sizes(histories)) <= 2_000

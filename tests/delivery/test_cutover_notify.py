"""Cutover notifications through GOV.UK Notify's client to a local server speaking its API:
an approval waiting, a failed gate and a stale retirement checklist, each one request
naming the system, never a person. CutoverWorkflow runs with the cutover tests' fake
activities and the real notify activity: on the real dev server where engineers answer it
by update (soaks of a second), on the time-skipping server where a week must pass."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.notify import NotifyActivities
from adapters.notify import Notifier
from config.settings import TASK_QUEUE_IO, TASK_QUEUE_WORKFLOWS
from domain.cutover import CutoverPhase, CutoverStatus, EngineerActionKind
from domain.delivery import NotificationKind
from switchover.worker import ActivitySet
from tests.conftest import ended, skip_time, time_skipping_server
from tests.delivery.notify_server import NotifyServer, notify_server
from tests.delivery.test_notify import TEMPLATES, settings_for
from tests.fakes.workers import running_workers
from tests.workflows.test_cutover import FakeCutover, act, start, until
from workflows.cutover import CutoverWorkflow

KIND_OF = {template: kind for kind, template in TEMPLATES.items()}


@pytest_asyncio.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A server for each test here, not one per module: once in a full run the second
    test's skip of six days never returned, and the run hung: the stuck clock that
    ``ClockStuck`` describes, now named when it happens. With a server of its own,
    nothing the first test leaves behind can hold the second's time."""
    async with time_skipping_server() as env:
        yield env


@pytest.fixture
def notify() -> Iterator[NotifyServer]:
    with notify_server() as server:
        yield server


@asynccontextmanager
async def running(client: Client, fake: FakeCutover, server: NotifyServer) -> AsyncIterator[None]:
    notifier = NotifyActivities(Notifier(settings_for(server)))
    activities = ActivitySet(ocr=[], io=[*fake.all(), *notifier.all()])
    async with running_workers(client, activities, queues=(TASK_QUEUE_WORKFLOWS, TASK_QUEUE_IO)):
        yield


def kinds(server: NotifyServer) -> Counter[NotificationKind]:
    return Counter(KIND_OF[email["template_id"]] for email in server.emails)


async def soon(
    handle: WorkflowHandle[Any, Any], check: Callable[[CutoverStatus], bool]
) -> CutoverStatus:
    """Poll the status in real time, for a minute at most."""
    state = None
    for _ in range(600):
        state = await handle.query(CutoverWorkflow.status)
        if check(state):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached: {state}")


async def sent(server: NotifyServer, expected: dict[NotificationKind, int]) -> None:
    """Wait a minute at most for exactly these notifications: the workflow shows that it
    waits before its notification activity has run."""
    for _ in range(600):
        if kinds(server) == expected:
            return
        await asyncio.sleep(0.1)
    assert kinds(server) == expected


def of_kind(server: NotifyServer, kind: NotificationKind) -> list[dict[str, Any]]:
    return [e for e in server.emails if KIND_OF[e["template_id"]] is kind]


async def test_approval_waiting_and_a_failed_gate_are_notified(
    local_env: WorkflowEnvironment, notify: NotifyServer
) -> None:
    """On the dev server: the time-skipping server's handling of updates is not to be
    relied on (a query after an approval once went unanswered in a full run)."""
    client = local_env.client
    fake = FakeCutover(approval="required", stages=[5, 25, 100], faulty_from=25,
                       soak_minutes=1 / 60, catch_up_every_s=0.5)  # fmt: skip
    async with running(client, fake, notify):
        handle = await start(client, decommission=False)
        await soon(handle, lambda s: s.phase is CutoverPhase.AWAITING_APPROVAL)
        await sent(notify, {NotificationKind.APPROVAL_WAITING: 1})
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.APPROVE))
        await soon(handle, lambda s: s.phase is CutoverPhase.AWAITING_APPROVAL
                   and s.setting.modern_percent == 5)  # fmt: skip
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.APPROVE))
        await soon(handle, lambda s: s.phase is CutoverPhase.AWAITING_ENGINEER)
        await sent(notify, {NotificationKind.APPROVAL_WAITING: 2, NotificationKind.GATE_FAILED: 1})
        await handle.terminate()
    failed = next(
        e for e in notify.emails if KIND_OF[e["template_id"]] is NotificationKind.GATE_FAILED
    )
    assert failed["personalisation"]["subject"] == "legacy-test"
    assert failed["personalisation"]["detail"] == "cutover gate at 25%"
    assert failed["personalisation"]["count"] == 1
    assert failed["personalisation"]["link"].endswith("/dashboard/systems/legacy-test")
    assert notify.refused == 0


async def test_a_checklist_left_alone_for_a_week_is_notified(
    time_skipping_env: WorkflowEnvironment, notify: NotifyServer
) -> None:
    env = time_skipping_env
    fake = FakeCutover(checklist_items=3)
    async with running(env.client, fake, notify):
        handle = await start(env.client)
        await until(env, handle, lambda s: s.decommission_step == "checklist")
        await skip_time(env, timedelta(days=6))
        assert kinds(notify)[NotificationKind.CHECKLIST_STALE] == 0
        await skip_time(env, timedelta(days=2))
        await sent(notify, {NotificationKind.CHECKLIST_STALE: 1})
        fake.closed = 3
        await handle.signal(CutoverWorkflow.checklist_changed)
        await ended(env, handle)
    (stale,) = of_kind(notify, NotificationKind.CHECKLIST_STALE)
    assert stale["personalisation"]["count"] == 3

"""The helpers for a test server whose clock has stuck (``tests/conftest.py``): a skip
of time, or a wait for a result, that the held clock cannot bring is said, not left to
hang, and a test whose clock sticks runs again whole on a fresh server, while any other
failure stands."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.conftest import ClockStuck, ended, on_a_fresh_server, skip_time


@workflow.defn(name="SleepsAnHour")
class SleepsAnHour:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(hours=1))


async def test_a_result_no_skip_of_time_brings_is_said_not_left_to_hang(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    queue = f"sleeps-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[SleepsAnHour],
                      workflow_runner=UnsandboxedWorkflowRunner()):  # fmt: skip
        handle = await env.client.start_workflow(
            SleepsAnHour.run, id=f"sleeps/{uuid.uuid4()}", task_queue=queue
        )
        # A hold on skipping time that nothing releases: the stuck clock, made on purpose.
        await env.client.test_service.lock_time_skipping(LockTimeSkippingRequest())
        with pytest.raises(ClockStuck, match="no time skipped"):
            await ended(env, handle, look_every_s=2)
        await env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
        await ended(env, handle, look_every_s=2)  # released, the hour is skipped


@pytest.mark.slow
async def test_a_skip_of_time_on_a_held_clock_is_said_not_asked_for_ever(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    await env.client.test_service.lock_time_skipping(LockTimeSkippingRequest())
    try:
        # An hour: longer than the server's own time-out (about 30 s a try) at real speed.
        with pytest.raises(ClockStuck, match="timed out twice"):
            await skip_time(env, timedelta(hours=1))
    finally:
        await env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
    await skip_time(env, timedelta(hours=1))  # released, the hour is skipped


async def test_a_test_whose_clock_sticks_runs_again_whole_on_a_fresh_server() -> None:
    servers: list[WorkflowEnvironment] = []

    @on_a_fresh_server
    async def sticks_once(env: WorkflowEnvironment) -> None:
        servers.append(env)
        if len(servers) == 1:
            raise ClockStuck("the first server's clock")

    await sticks_once()
    assert len(servers) == 2
    assert servers[0] is not servers[1]


async def test_a_clock_that_sticks_every_time_fails_and_other_failures_are_not_run_again() -> None:
    runs: list[str] = []

    @on_a_fresh_server
    async def always_sticks(env: WorkflowEnvironment) -> None:
        runs.append("stuck")
        raise ClockStuck("every server's clock")

    @on_a_fresh_server
    async def fails(env: WorkflowEnvironment) -> None:
        runs.append("failed")
        raise AssertionError("a real failure")

    with pytest.raises(ClockStuck):
        await always_sticks()
    with pytest.raises(AssertionError, match="a real failure"):
        await fails()
    assert runs == ["stuck"] * 3 + ["failed"]

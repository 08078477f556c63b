"""Waiting for workers to poll a task queue, against a real Temporal dev server."""

from __future__ import annotations

import uuid

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from switchover.temporal import wait_for_workers


@activity.defn
async def _nothing() -> None:
    """An activity for a worker to serve."""


async def test_waits_until_a_worker_polls_and_says_when_none_does(
    local_env: WorkflowEnvironment,
) -> None:
    queue = f"wait-{uuid.uuid4().hex[:8]}"
    with pytest.raises(TimeoutError, match=f"fewer than 1 workers polled {queue} within 1 s"):
        await wait_for_workers(local_env.client, queue, 1, timeout_s=1)
    async with Worker(local_env.client, task_queue=queue, activities=[_nothing]):
        await wait_for_workers(local_env.client, queue, 1, timeout_s=60)

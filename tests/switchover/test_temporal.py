"""Waiting on Temporal, against real dev servers: for workers to poll a task queue, and
for a server that is away (restarting) to answer a connection."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from config.settings import Settings
from domain.errors import ServiceUnavailableError
from switchover.devserver import free_port, start_dev_server
from switchover.temporal import connect, wait_for_workers


@activity.defn
async def _nothing() -> None:
    """An activity for a worker to serve."""


async def test_waits_until_a_worker_polls_and_says_when_none_does(
    local_env: WorkflowEnvironment,
) -> None:
    queue = f"wait-{uuid.uuid4().hex[:8]}"
    me = [os.getpid()]  # an in-process worker has this process's identity
    with pytest.raises(TimeoutError, match=f"workers {me[0]}@.* did not poll {queue} within 1 s"):
        await wait_for_workers(local_env.client, queue, me, timeout_s=1)
    async with Worker(local_env.client, task_queue=queue, activities=[_nothing]):
        await wait_for_workers(local_env.client, queue, me, timeout_s=60)
    # The server lists a stopped worker as a poller for minutes: it does not stand in
    # for a process that has not polled yet (pid 1 is no worker).
    with pytest.raises(TimeoutError, match=f"workers 1@.* did not poll {queue}"):
        await wait_for_workers(local_env.client, queue, [1], timeout_s=1)


async def test_a_connection_waits_out_a_server_that_is_away(tmp_path: Path) -> None:
    """Without patience a server that does not answer is an error at once; with it, the
    connection is tried again until the server is back (one waiting on a run it has just
    started rides out a restart of the server)."""
    port, ui_port = free_port(), free_port()
    settings = Settings(home=tmp_path / "state", temporal_address=f"127.0.0.1:{port}",
                        _env_file=None)  # type: ignore[call-arg]  # fmt: skip
    with pytest.raises(ServiceUnavailableError, match=f"cannot reach Temporal at 127.0.0.1:{port}"):
        await connect(settings)
    connecting = asyncio.create_task(connect(settings, patience_s=120))
    await asyncio.sleep(2)
    assert not connecting.done()
    server = await asyncio.to_thread(
        start_dev_server, tmp_path / "temporal", port=port, ui_port=ui_port
    )
    try:
        client = await asyncio.wait_for(connecting, 60)
        assert client.namespace == "default"
    finally:
        server.stop()

"""Workers for workflow tests: the real ``build_workers`` with fake activities, run until
the ``async with`` block ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from temporalio.client import Client

from switchover.worker import ALL_QUEUES, ActivitySet, build_workers, run_workers


@asynccontextmanager
async def running_workers(
    client: Client, activities: ActivitySet, *, queues: Sequence[str] = ALL_QUEUES
) -> AsyncIterator[None]:
    workers = build_workers(client, activities, queues=queues)
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(workers, stop))
    try:
        yield
    finally:
        stop.set()
        await task

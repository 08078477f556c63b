"""Workers for workflow tests: the real ``build_workers`` with fake activities, run until
the ``async with`` block ends; and a real ``switchover worker`` process, for tests that
kill one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

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


def start_worker_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A ``switchover worker`` process serving the workflow and IO queues, its output
    appended to ``log``; the caller kills it (SIGKILL) and starts another."""
    switchover = Path(sys.executable).parent / "switchover"
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(switchover), "worker", "--queue", "switchover-workflows", "--queue",
             "switchover-io"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip

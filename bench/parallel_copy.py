"""Parallel copies: one MariaDB table → PostgreSQL through ``MigrateSystemWorkflow``, as
one copy on one worker and as the plan's ``parallel: 2`` on one and on two worker
processes, each beside PostgreSQL's own COPY of the same rows in the same run.

    .venv/bin/python bench/parallel_copy.py [--rows 5000000] [--driver mysqldb]

The legacy table and the plan are ``bench/migrate.py``'s (ten columns; strip, upper and
``decimal:2`` on a column each). Each configuration copies into its own schema; the
baseline is ``COPY … FROM STDIN`` of that schema's rows (exported first with ``COPY … TO
STDOUT``) into an empty table with the same primary key. The ratio is COPY's time over
the workflow's: 1.0 would be as fast as PostgreSQL loading a ready-made file. With two
workers each polls the IO queue with one slot, so each part runs on its own process.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/migrate.py's helpers

from bench.migrate import (
    BIN,
    POSTGRES,
    bench_client,
    build_legacy,
    drop_run,
    peak_rss_mb,
    postgres_copy,
    write_plan,
)
from config.settings import TASK_QUEUE_IO, TASK_QUEUE_WORKFLOWS
from db.migrate import upgrade
from domain.migration import MigrateSystemInput, MigrationStage
from switchover.temporal import wait_for_workers
from workflows.migrate import MigrateSystemWorkflow


@dataclass(frozen=True)
class Setup:
    name: str
    workers: int
    parallel: int
    io_slots: int


SETUPS = (
    Setup("one copy, one worker", workers=1, parallel=1, io_slots=8),
    Setup("parallel: 2, one worker", workers=1, parallel=2, io_slots=8),
    Setup("parallel: 2, two workers", workers=2, parallel=2, io_slots=1),
)


async def copy_with(
    env: WorkflowEnvironment, folder: Path, plan: Path, engine_url: str, setup: Setup
) -> tuple[float, list[float], int]:
    """Seconds, each worker's peak MB, rows copied."""
    address = env.client.service_client.config.target_host
    worker_env = {**os.environ, "SWITCHOVER_HOME": str(folder / "state"),
                  "SWITCHOVER_DATABASE_URL": engine_url, "SWITCHOVER_LOG_FORMAT": "json",
                  "SWITCHOVER_TEMPORAL_ADDRESS": address,
                  "SWITCHOVER_IO_WORKERS": str(setup.io_slots)}  # fmt: skip
    logs = [(folder / f"{plan.stem}-worker{i}.log").open("wb") for i in range(setup.workers)]
    command = [str(BIN / "switchover"), "worker", "--queue", "switchover-workflows",
               "--queue", "switchover-io"]  # fmt: skip
    workers = [
        subprocess.Popen(command, env=worker_env, stdout=log, stderr=subprocess.STDOUT)
        for log in logs
    ]
    try:
        client = await bench_client(env, folder)
        # The clock starts once every worker polls.
        await wait_for_workers(client, TASK_QUEUE_IO, [w.pid for w in workers])
        start = time.perf_counter()
        result = await client.execute_workflow(
            MigrateSystemWorkflow.run,
            MigrateSystemInput(plan_path=str(plan), until=MigrationStage.COPY),
            id=f"bench-{uuid.uuid4()}", task_queue=TASK_QUEUE_WORKFLOWS,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        peaks = [peak_rss_mb(w.pid) for w in workers]
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
        for log in logs:
            log.close()
    return seconds, peaks, result.tables["people"].rows_copied


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--driver", choices=["mysqldb", "pymysql"], default="mysqldb")
    args = parser.parse_args()
    legacy_db = f"bench_legacy_{uuid.uuid4().hex[:8]}"
    target_db = f"bench_target_{uuid.uuid4().hex[:8]}"
    folder = Path(tempfile.mkdtemp(prefix="switchover-bench-"))
    engine_url = f"sqlite:///{folder / 'engine.db'}"
    upgrade(engine_url)
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{target_db}"')
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, dev_server_existing_path=str(BIN / "temporal")
    )
    rows = args.rows
    lines = [f"| {rows:,} rows | through the workflow | PostgreSQL COPY, same rows | "
             "COPY / workflow | worker peak MB |", "|---|---|---|---:|---|"]  # fmt: skip
    try:
        build_legacy(legacy_db, rows)
        for index, setup in enumerate(SETUPS):
            schema = f"p{index}"
            plan = write_plan(folder, legacy_db, target_db, schema, args.driver,
                              parallel=setup.parallel)  # fmt: skip
            seconds, peaks, copied = await copy_with(env, folder, plan, engine_url, setup)
            assert copied >= rows, copied
            baseline = postgres_copy(target_db, schema, rows)
            lines.append(
                f"| {setup.name} | {seconds:.1f} s ({rows / seconds / 1000:,.0f}k rows/s) | "
                f"{baseline:.1f} s ({rows / baseline / 1000:,.0f}k rows/s) | "
                f"**{baseline / seconds:.2f}** | {', '.join(f'{p:.0f}' for p in peaks)} |"
            )
            print(lines[-1], flush=True)
    finally:
        await env.shutdown()
        drop_run(legacy_db, target_db, folder)
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())

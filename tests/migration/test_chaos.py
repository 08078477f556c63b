"""Chaos: 200,000 rows copied while the worker process is SIGKILLed at random moments and
restarted; the target must end exactly equal to the legacy table, no key twice.

The worker is a real ``switchover worker`` subprocess (workflow and IO queues) against a
Temporal dev server; nothing in this process runs a workflow or an activity.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from config.migration_plan import load_plan
from config.settings import TASK_QUEUE_WORKFLOWS
from domain.migration import MigrateSystemInput, MigrateSystemResult, MigrationStage, RunState
from tests.fakes.workers import start_worker_process as start_worker
from tests.migration.conftest import load_electors
from tests.migration.test_activities import legacy_rows, same, target_rows
from workflows.migrate import MigrateSystemWorkflow

ROWS = 250_000
KILLS = 5

pytestmark = pytest.mark.slow


async def test_copy_survives_sigkill(
    local_env: WorkflowEnvironment,
    mariadb_name: str,
    engine_db_url: str,
    plan_file: Callable[..., Path],
    tmp_path: Path,
) -> None:
    await asyncio.to_thread(load_electors, mariadb_name, "ELECTOR_K", ROWS)
    plan = plan_file(["ELECTOR_K"], batch_rows=5_000)
    env = {
        **os.environ,
        "SWITCHOVER_HOME": str(tmp_path / "state"),
        "SWITCHOVER_DATABASE_URL": engine_db_url,
        "SWITCHOVER_TEMPORAL_ADDRESS": local_env.client.service_client.config.target_host,
        "SWITCHOVER_LOG_FORMAT": "json",
    }
    log = tmp_path / "worker.log"
    client = local_env.client
    handle = await client.start_workflow(
        MigrateSystemWorkflow.run,
        MigrateSystemInput(plan_path=str(plan), until=MigrationStage.COPY, batch_max_rows=20_000,
                           batches_per_run=3, heartbeat_timeout_s=4),
        id=f"migrate-chaos-{plan.stem}", task_queue=TASK_QUEUE_WORKFLOWS,
    )  # fmt: skip
    rng = random.Random()
    kills = 0
    loaded = load_plan(plan)
    url = loaded.target.url.replace("postgresql+psycopg://", "postgresql://")
    table = f'"{loaded.target.db_schema}".elector_k'

    def target_count() -> int:
        with psycopg.connect(url) as conn:
            try:
                return int((conn.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,))[0])
            except psycopg.errors.UndefinedTable:
                return 0

    counts_at_kills = []
    # Each kill comes once the restarted worker has copied rows (a worker takes seconds to
    # start) and the target has passed a point drawn in the kill's own band of the table.
    # The bands end at 60%, so every kill lands mid-copy: a kill timed only from the
    # first progress after a restart came, now and then, after a fast copy had finished.
    legacy_total = len(legacy_rows(mariadb_name, "ELECTOR_K"))
    bands = [(0.05 + 0.12 * k, 0.12 + 0.12 * k) for k in range(KILLS)]
    points = [int(legacy_total * rng.uniform(*band)) for band in bands]
    worker = start_worker(env, log)
    try:
        last = 0
        while kills < KILLS:
            for _ in range(600):
                count = await asyncio.to_thread(target_count)
                if count > last and count >= points[kills]:
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            if worker.poll() is not None:
                pytest.fail(f"the worker exited by itself: {log.read_text()[-2000:]}")
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            last = await asyncio.to_thread(target_count)
            counts_at_kills.append(last)
            kills += 1
            worker = start_worker(env, log)
        result: MigrateSystemResult = await asyncio.wait_for(handle.result(), timeout=600)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert result.state is RunState.STOPPED
    legacy = legacy_rows(mariadb_name, "ELECTOR_K")
    assert result.tables["ELECTOR_K"].rows_copied >= len(legacy)  # re-copied ranges count twice
    # The kills came in the middle of the copy, not after it.
    assert all(0 < n < len(legacy) for n in counts_at_kills), counts_at_kills
    print(f"target rows at each kill: {counts_at_kills}")
    with psycopg.connect(url) as conn:
        query = f"SELECT count(*), count(DISTINCT elector_id) FROM {table}"
        (total, distinct) = conn.execute(query).fetchone() or (0, 0)
    assert total == distinct == len(legacy)
    same(legacy, target_rows(plan, "elector_k"))  # nothing missing, extra or changed

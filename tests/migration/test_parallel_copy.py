"""Parallel copies: a table whose plan says ``parallel: 4`` is copied as four key ranges
at once by two real ``switchover worker`` processes, one of them SIGKILLed mid-copy and
started again; the target ends exactly equal to the legacy table, no key twice, and
copy activities ran on both workers.

The run is started as an engineer starts it (``start_run``: the plan stored in the engine
database), so the workers read the stored plan, not the file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from config.settings import TASK_QUEUE_IO, get_settings
from domain.migration import MigrateSystemResult, MigrationStage, RunState
from domain.workflow_ids import copy_id
from switchover.migrate import start_run
from switchover.temporal import wait_for_workers
from tests.fakes.workers import start_worker_process as start_worker
from tests.migration.conftest import mariadb

ROWS = 120_000
PARTS = 4

pytestmark = pytest.mark.slow


def load_people(database: str, rows: int) -> None:
    with mariadb(database) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS PEOPLE")
        cur.execute("CREATE TABLE PEOPLE (ID INT PRIMARY KEY, NAME VARCHAR(40), "
                    "AMOUNT DECIMAL(12,2), NOTE VARCHAR(60) NULL)")  # fmt: skip
        # Keys with gaps and a long tail, so the ranges hold different numbers of rows.
        cur.execute(f"INSERT INTO PEOPLE SELECT IF(seq > {rows - 100}, seq * 7, seq), "
                    "CONCAT(' Name', seq % 997, ' '), (seq % 100000) / 100, "
                    "IF(seq % 9 = 0, NULL, REPEAT('n', seq % 50)) "
                    f"FROM seq_1_to_{rows}")  # fmt: skip


def legacy(database: str) -> list[tuple[Any, ...]]:
    with mariadb(database) as conn, conn.cursor() as cur:
        cur.execute("SELECT ID, TRIM(NAME), AMOUNT, NOTE FROM PEOPLE ORDER BY ID")
        return [tuple(r) for r in cur.fetchall()]


def target(url: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(f'SELECT id, name, amount, note FROM "{schema}".people ORDER BY id')
        return [tuple(r) for r in cur]


def target_count(url: str, schema: str) -> int:
    with psycopg.connect(url) as conn:
        try:
            row = conn.execute(f'SELECT count(*) FROM "{schema}".people').fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
        return int(row[0]) if row else 0


async def copy_workers(client: Client, workflow_id: str) -> set[str]:
    """The identities of the workers that ran the parts' copy activities, in every run
    of each part (a copy continues as new every few batches); a part not started yet
    has none."""
    identities = set()
    for part in range(1, PARTS + 1):
        part_id = f"{copy_id(workflow_id, 'PEOPLE')}/part-{part}"
        run_id: str | None = None
        while True:
            handle = client.get_workflow_handle(part_id, run_id=run_id)
            try:
                history = await handle.fetch_history()
            except RPCError as e:
                if e.status is RPCStatusCode.NOT_FOUND:
                    break
                raise
            for event in history.events:
                if event.HasField("activity_task_started_event_attributes"):
                    identities.add(event.activity_task_started_event_attributes.identity)
            started = history.events[0].workflow_execution_started_event_attributes
            run_id = started.continued_execution_run_id or None
            if run_id is None:
                break
    return identities


async def test_two_workers_copy_four_ranges_exactly_through_a_kill(
    local_env: WorkflowEnvironment,
    mariadb_name: str,
    postgres_name: str,
    engine_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await asyncio.to_thread(load_people, mariadb_name, ROWS)
    schema = f"s_{uuid.uuid4().hex[:8]}"
    target_url = f"postgresql://postgres@127.0.0.1/{postgres_name}"
    plan = {
        "system": {"id": f"legacy-people-{uuid.uuid4().hex[:6]}", "name": "People"},
        "source": {"kind": "sql", "url": f"mysql+pymysql://root@127.0.0.1/{mariadb_name}"},
        "target": {"url": f"postgresql+psycopg://postgres@127.0.0.1/{postgres_name}",
                   "schema": schema},
        "tables": [{"source": "PEOPLE", "target": "people", "parallel": PARTS,
                    "columns": {"NAME": {"to": "name", "transform": "strip"}}}],
        "batch_rows": 2_000,
        "heartbeat_timeout_s": 4,
    }  # fmt: skip
    plan_file = tmp_path / "people.yaml"
    plan_file.write_text(yaml.safe_dump(plan), encoding="utf-8")
    address = local_env.client.service_client.config.target_host
    env = {**os.environ, "SWITCHOVER_HOME": str(tmp_path / "state"),
           "SWITCHOVER_DATABASE_URL": engine_db_url, "SWITCHOVER_TEMPORAL_ADDRESS": address,
           "SWITCHOVER_LOG_FORMAT": "json",
           # Two copy slots a worker for four parts: neither worker can take them all, so
           # the ranges run on both whichever polls first.
           "SWITCHOVER_IO_WORKERS": "2"}  # fmt: skip
    for name in ("SWITCHOVER_HOME", "SWITCHOVER_DATABASE_URL", "SWITCHOVER_TEMPORAL_ADDRESS"):
        monkeypatch.setenv(name, env[name])
    get_settings.cache_clear()
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers = [start_worker(env, log) for log in logs]
    try:
        # A worker that comes up late (under load) would get no range, and the kill
        # would hit one that did nothing.
        await wait_for_workers(local_env.client, TASK_QUEUE_IO, [w.pid for w in workers])
        started = await start_run(get_settings(), plan_file, until=MigrationStage.COPY,
                                  parallel=1)  # fmt: skip
        plan_file.unlink()  # the workers read the stored plan
        # Kill the first worker once the copy is under way and it has copied a batch of
        # its own: under load one worker can copy the first tenth alone, and a worker
        # killed before it finished any batch leaves no trace of having run one.
        first = f"{workers[0].pid}@{socket.gethostname()}"  # the SDK's identity
        client = local_env.client
        for _ in range(1200):
            copied = await asyncio.to_thread(target_count, target_url, schema)
            if copied > ROWS // 10 and first in await copy_workers(client, started.workflow_id):
                break
            await asyncio.sleep(0.1)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        killed_at = await asyncio.to_thread(target_count, target_url, schema)
        workers[0] = start_worker(env, logs[0])
        handle = local_env.client.get_workflow_handle(
            started.workflow_id, run_id=started.run_id, result_type=MigrateSystemResult
        )
        try:
            result = await asyncio.wait_for(handle.result(), timeout=600)
        except WorkflowFailureError:
            pytest.fail("the run failed: " + "".join(log.read_text()[-1500:] for log in logs))
        identities = await copy_workers(local_env.client, started.workflow_id)
    finally:
        get_settings.cache_clear()
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
    assert result.state is RunState.STOPPED
    assert 0 < killed_at < ROWS, killed_at  # the kill came in the middle of the copy
    want = [(i, n.strip() if n else n, Decimal(a), note) for i, n, a, note in legacy(mariadb_name)]
    got = target(target_url, schema)
    assert len(got) == len({r[0] for r in got}) == ROWS  # no key twice
    assert got == want  # nothing missing, extra or changed
    assert result.tables["PEOPLE"].rows_copied >= ROWS  # a re-copied stretch counts twice
    assert len(identities) >= 2, identities  # the ranges ran on more than one worker

"""Migration throughput: MariaDB → PostgreSQL through the real workflow, beside
PostgreSQL's own COPY of the same rows, and the worker's peak memory at N and 5N rows.

    .venv/bin/python bench/migrate.py [--rows 1000000] [--big-rows 5000000] [--driver pymysql]

Builds throwaway MariaDB and PostgreSQL databases (dropped at the end) with ten-column rows,
starts a Temporal dev server and a ``switchover worker`` subprocess (workflow and IO
queues), runs ``MigrateSystemWorkflow`` up to the end of the copy, then, in the same run,
times ``COPY … FROM STDIN`` of the same rows (exported with ``COPY … TO STDOUT``) into an
empty table with the same primary key. Peak memory is the worker process's VmHWM, read
from /proc. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pymysql
import yaml
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from config.settings import TASK_QUEUE_WORKFLOWS, Settings
from db.migrate import upgrade
from domain.migration import MigrateSystemInput, MigrationStage
from switchover.temporal import connect
from workflows.migrate import MigrateSystemWorkflow

BIN = Path(sys.executable).parent
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root"}
POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def build_legacy(db: str, rows: int) -> None:
    conn = pymysql.connect(**MARIADB, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{db}`")
        cur.execute("DROP TABLE IF EXISTS people")
        cur.execute(
            "CREATE TABLE people (id INT PRIMARY KEY, surname VARCHAR(40), forename VARCHAR(40),"
            " born DATE, postcode CHAR(8), balance DECIMAL(12,2), visits INT, updated DATETIME,"
            " status CHAR(1), note VARCHAR(80))"
        )
        cur.execute(
            "INSERT INTO people SELECT seq, CONCAT(' Surname', seq % 9973, ' '),"
            " CONCAT('Name', seq % 101),"
            " DATE '1930-01-01' + INTERVAL (seq % 25000) DAY, CONCAT('ab', seq % 99, ' 1cd'),"
            " (seq % 100000) / 100, seq % 50,"
            " TIMESTAMP '2020-01-01 00:00:00' + INTERVAL seq SECOND,"
            f" 'A', REPEAT('x', seq % 40) FROM seq_1_to_{rows}"
        )
    conn.close()


def write_plan(
    folder: Path,
    legacy_db: str,
    target_db: str,
    schema: str,
    driver: str = "mysqldb",
    *,
    parallel: int = 1,
) -> Path:
    plan = {
        "system": {"id": f"bench-{schema}", "name": "Bench"},
        "source": {"kind": "sql", "url": f"mysql+{driver}://root@127.0.0.1/{legacy_db}"},
        "target": {"url": f"postgresql+psycopg://postgres@127.0.0.1/{target_db}",
                   "schema": schema},
        "tables": [{
            "source": "people", "target": "people", "key": ["id"], "parallel": parallel,
            "columns": {"surname": {"to": "surname", "transform": "strip"},
                        "postcode": {"to": "postcode", "transform": "upper"},
                        "balance": {"to": "balance", "transform": "decimal:2"}},
        }],
        "batch_rows": 10_000,
    }  # fmt: skip
    path = folder / f"{schema}.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


async def bench_client(env: WorkflowEnvironment, folder: Path) -> Client:
    """A client that reads the workers' payloads: the same state folder, so the same
    payload key, as the workers started with ``SWITCHOVER_HOME=folder/state``."""
    address = env.client.service_client.config.target_host
    return await connect(Settings(home=folder / "state", temporal_address=address))


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def migrate(
    env: WorkflowEnvironment, folder: Path, plan: Path, engine_url: str
) -> tuple[float, float, int]:
    """Seconds, worker peak MB, rows copied."""
    address = env.client.service_client.config.target_host
    worker_env = {**os.environ, "SWITCHOVER_HOME": str(folder / "state"),
                  "SWITCHOVER_DATABASE_URL": engine_url, "SWITCHOVER_LOG_FORMAT": "json",
                  "SWITCHOVER_TEMPORAL_ADDRESS": address}  # fmt: skip
    log = (folder / f"{plan.stem}-worker.log").open("wb")
    worker = subprocess.Popen(
        [str(BIN / "switchover"), "worker", "--queue", "switchover-workflows", "--queue",
         "switchover-io"], env=worker_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        await asyncio.sleep(3)  # let the worker start before the clock does
        start = time.perf_counter()
        client = await bench_client(env, folder)
        result = await client.execute_workflow(
            MigrateSystemWorkflow.run,
            MigrateSystemInput(plan_path=str(plan), until=MigrationStage.COPY),
            id=f"bench-{uuid.uuid4()}", task_queue=TASK_QUEUE_WORKFLOWS,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        peak = peak_rss_mb(worker.pid)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        log.close()
    return seconds, peak, result.tables["people"].rows_copied


def postgres_copy(target_db: str, schema: str, rows: int) -> float:
    """Seconds for PostgreSQL's own COPY FROM STDIN of the same rows into an empty table."""
    with psycopg.connect(f"{POSTGRES}/{target_db}", autocommit=True) as conn:
        buffer = io.BytesIO()
        with conn.cursor().copy(f"COPY {schema}.people TO STDOUT") as copy:
            for chunk in copy:
                buffer.write(chunk)
        conn.execute(f"CREATE TABLE {schema}.baseline (LIKE {schema}.people INCLUDING ALL)")
        data = buffer.getvalue()
        start = time.perf_counter()
        with conn.cursor().copy(f"COPY {schema}.baseline FROM STDIN") as copy:
            for offset in range(0, len(data), 1 << 20):
                copy.write(data[offset : offset + (1 << 20)])
        seconds = time.perf_counter() - start
        (count,) = conn.execute(f"SELECT count(*) FROM {schema}.baseline").fetchone() or (0,)
    assert count == rows, count
    return seconds


def drop_run(legacy_db: str, target_db: str, folder: Path) -> None:
    """Remove what a bench run made: its legacy and target databases and its folder."""
    conn = pymysql.connect(**MARIADB, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{legacy_db}`")
    conn.close()
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{target_db}" WITH (FORCE)')
    shutil.rmtree(folder, ignore_errors=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=5_000_000)
    parser.add_argument(
        "--driver",
        choices=["mysqldb", "pymysql"],
        default="mysqldb",
        help="mysqlclient (C) or pymysql (pure Python)",
    )
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
    lines = ["| rows | workflow copy s | rows/s | PostgreSQL COPY s | rows/s | workflow / COPY |"
             " worker peak MB |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    try:
        for rows in (args.rows, args.big_rows):
            if not rows:
                continue
            build_legacy(legacy_db, rows)
            schema = f"s{rows}"
            plan = write_plan(folder, legacy_db, target_db, schema, args.driver)
            seconds, peak, copied = await migrate(env, folder, plan, engine_url)
            assert copied == rows, copied
            baseline = postgres_copy(target_db, schema, rows)
            lines.append(
                f"| {rows:,} | {seconds:.1f} | {rows / seconds:,.0f} | {baseline:.1f} | "
                f"{rows / baseline:,.0f} | {seconds / baseline:.1f}x | {peak:.0f} |"
            )
            print(lines[-1], flush=True)
    finally:
        await env.shutdown()
        drop_run(legacy_db, target_db, folder)
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())

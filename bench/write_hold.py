"""How long writes are held at the switch of the system of record, under live writes.

    .venv/bin/python bench/write_hold.py [--rate 10] [--runs 2]

The end-to-end story of tests/e2e/test_live_cutover.py, with no fault: a legacy service
over a MariaDB of its own (binlog on), the modern service over a throwaway PostgreSQL
database, the builtin router as a process, the production worker on a Temporal dev
server; citizens update, delete and re-create their records through the router at
``--rate`` writes a second while the system is migrated and cut over. At the switch the
router holds writes while the last of legacy's changes is applied and reconciled, then
releases them to modern.

A write was held when it was sent before modern answered its first write and answered
by modern: its time from sending to answer is the hold it waited through. Printed: per
run, writes answered, writes held, held time p50/p95/max, and the ordinary write's
latency (answered by legacy) p50/p95 for comparison, as a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pymysql
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' helpers
from tests.e2e.test_live_cutover import _legacy_rows, live_cutover
from tests.legacy_connectors.conftest import binlog_mariadb_server

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _legacy(settings: dict[str, Any]) -> str:
    name = f"bench_hold_{uuid.uuid4().hex[:8]}"
    with pymysql.connect(**settings, autocommit=True) as admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"USE `{name}`")
        cur.execute("CREATE TABLE CLAIMANT (CLAIMANT_ID INT PRIMARY KEY, SURNAME VARCHAR(30) "
                    "NOT NULL, POSTCODE VARCHAR(8), WEEKLY_AMOUNT DECIMAL(8,2))")  # fmt: skip
        cur.executemany("INSERT INTO CLAIMANT VALUES (%s, %s, %s, %s)", _legacy_rows())
    return name


async def _run(rate: float, runs: int) -> list[str]:
    temporal = Path(sys.executable).parent / "temporal"
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, dev_server_existing_path=str(temporal)
    )
    lines = []
    try:
        with binlog_mariadb_server() as server:
            for _ in range(runs):
                target = f"bench_hold_{uuid.uuid4().hex[:8]}"
                with psycopg.connect(ADMIN, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{target}"')
                try:
                    with tempfile.TemporaryDirectory(prefix="switchover-hold-") as folder:
                        citizens, _events, _settings = await live_cutover(
                            env.client, (_legacy(server), server),
                            f"postgresql+psycopg://postgres@127.0.0.1:5432/{target}",
                            Path(folder), writes_per_second=rate, fail_at=None,
                        )  # fmt: skip
                finally:
                    with psycopg.connect(ADMIN, autocommit=True) as admin:
                        admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
                writes = [w for history in citizens.history.values() for w in history]
                on_modern = [w for w in writes if w[4] == "modern"]
                released = min(w[1] for w in on_modern)
                held = [w[1] - w[0] for w in on_modern if w[0] < released]
                ordinary = [(w[1] - w[0]) * 1000 for w in writes if w[4] == "legacy"]
                achieved = len(writes) / (max(w[1] for w in writes) - min(w[0] for w in writes))
                lines.append(
                    f"| {achieved:.1f} | {len(writes)} | {len(held)} | "
                    f"{_quantile(held, 0.5):.2f} / {_quantile(held, 0.95):.2f} / "
                    f"{max(held, default=0):.2f} s | {statistics.median(ordinary):.0f} / "
                    f"{_quantile(ordinary, 0.95):.0f} ms |"
                )
    finally:
        await env.shutdown()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=10)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    lines = asyncio.run(_run(args.rate, args.runs))
    print(
        "| writes/s | writes answered | held at the switch | held p50 / p95 / max | "
        "ordinary write p50 / p95 |"
    )
    print("|---:|---:|---:|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Reconciliation while legacy takes writes: at a change-stream position, against a plain
compare, in the same process on the same data.

    .venv/bin/python bench/reconcile_under_writes.py [--rows 20000] [--rates 10 30]
        [--gates 10]

Starts a MariaDB server of its own with the row-based binlog on (as the tests do), seeds a
legacy table, begins its change stream, copies it into a throwaway schema on the
PostgreSQL server at 127.0.0.1:5432 and catches up. Then, for each rate, a writer process
commits single-row changes (updates, inserts, deletes) at that rate while ``--gates``
gates run one after another, each judged twice:

- **at a position** (``adapters.change_capture.reconcile_at_position``, what the workflows
  do): the compares it needed (one whole-table compare, then rechecks of keys in flight),
  whether it passed, and its time;
- **plain**: a catch-up, then a whole-table compare with no position (what a gate did
  before): whether it passed, and its time.

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' server helpers
from adapters.change_capture import open_stream, reconcile_at_position, start_stream
from adapters.mapping import RowMapper
from adapters.reconciliation.engine import Reconciler, open_reconciler
from adapters.target import open_target
from config.migration_plan import MigrationPlan, parse_plan
from legacy_connectors import open_source
from tests.legacy_connectors.conftest import binlog_mariadb_server

TARGET = "postgresql+psycopg://postgres@127.0.0.1:5432/{}"


def _write(settings: dict[str, Any], database: str, rate: float, stop: Any, done: Any) -> None:
    """Single-row transactions at ``rate`` a second until ``stop`` is set."""
    conn = pymysql.connect(**settings, database=database)
    rng = random.Random(int(rate))
    with conn.cursor() as cur:
        cur.execute("SELECT MAX(id) FROM claim")
        top = int(cur.fetchone()[0])
        written = 0
        due = time.monotonic()
        while not stop.is_set():
            roll = rng.random()
            if roll < 0.3:
                top += 1
                cur.execute("INSERT INTO claim VALUES (%s, %s, %s)",
                            (top, f"new {top}", Decimal(rng.randrange(10**6)) / 100))  # fmt: skip
            elif roll < 0.45:
                cur.execute("DELETE FROM claim WHERE id = %s", (rng.randrange(1, top),))
            else:
                amount = Decimal(rng.randrange(10**6)) / 100
                cur.execute("UPDATE claim SET amount = %s WHERE id = %s",
                            (amount, rng.randrange(1, top)))  # fmt: skip
            conn.commit()
            written += 1
            due += 1 / rate
            time.sleep(max(0.0, due - time.monotonic()))
    conn.close()
    done.put(written)


class Counting(Reconciler):
    """A reconciler that counts its compares."""

    compares = 0

    def reconcile(self, table: str, *, only: Any = None) -> Any:
        self.compares += 1
        return super().reconcile(table, only=only)


def _plan(settings: dict[str, Any], database: str, target_db: str) -> MigrationPlan:
    return parse_plan(yaml.safe_dump({
        "system": {"id": f"bench-{uuid.uuid4().hex[:6]}", "name": "bench"},
        "source": {"kind": "sql", "change_stream": "on",
                   "url": f"mysql+pymysql://root@127.0.0.1:{settings['port']}/{database}"},
        "target": {"url": TARGET.format(target_db), "schema": f"modern_{uuid.uuid4().hex[:6]}"},
        "tables": [{"source": "claim", "target": "claims", "key": ["id"]}],
    }))  # fmt: skip


def _seed(settings: dict[str, Any], rows: int) -> str:
    database = f"bench_rec_{uuid.uuid4().hex[:8]}"
    with pymysql.connect(**settings, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {database}")
        cur.execute(f"USE {database}")
        cur.execute("CREATE TABLE claim (id INT PRIMARY KEY, name VARCHAR(40), "
                    "amount DECIMAL(10,2))")  # fmt: skip
        seeded = [(n, f"name {n}", Decimal(n) / 100) for n in range(1, rows + 1)]
        cur.executemany("INSERT INTO claim VALUES (%s, %s, %s)", seeded)
    return database


def _copy(plan: MigrationPlan) -> None:
    source = open_source(plan.source)
    target = open_target(plan.target)
    try:
        start_stream(plan, source, target)
        table = plan.tables[0]
        mapper = RowMapper(table, next(i for i in source.describe() if i.name == table.source))
        target.prepare(mapper.target_table, mapper.target_columns, mapper.target_key)
        names = [c.name for c in mapper.target_columns]
        for batch in source.read(table.source, mapper.source_key, batch_rows=5_000):
            target.upsert(mapper.target_table, names, mapper.target_key,
                          [mapper.values(r) for r in batch])  # fmt: skip
    finally:
        target.close()
        source.close()


def _gates(plan: MigrationPlan, gates: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"at": [], "plain": []}
    with open_reconciler(plan) as reconciler:
        reconciler.__class__ = Counting
        target = open_target(plan.target)
        try:
            with open_stream(plan, reconciler.legacy, target) as stream:
                assert stream is not None
                for _ in range(gates):
                    counting: Any = reconciler
                    counting.compares = 0
                    started = time.monotonic()
                    report = reconcile_at_position(reconciler, stream, "claim").report
                    out["at"].append((report.passed, counting.compares,
                                      time.monotonic() - started, report.in_flight))  # fmt: skip
                    started = time.monotonic()
                    stream.catch_up()
                    plain = Reconciler.reconcile(reconciler, "claim").report
                    out["plain"].append((plain.passed, 1, time.monotonic() - started, 0))
        finally:
            target.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rates", type=float, nargs="+", default=[10, 30])
    parser.add_argument("--gates", type=int, default=10)
    args = parser.parse_args()
    target_db = f"bench_rec_{uuid.uuid4().hex[:8]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{target_db}"')
    context = multiprocessing.get_context("fork")
    lines = [
        "| writes/s | gate | passed | compares per gate (mean, max) | keys in flight "
        "(max) | seconds per gate (mean) |",
        "|---|---|---|---|---|---|",
    ]
    try:
        with binlog_mariadb_server() as settings:
            for rate in args.rates:
                database = _seed(settings, args.rows)
                plan = _plan(settings, database, target_db)
                _copy(plan)
                stop, done = context.Event(), context.Queue()
                writer = context.Process(target=_write, args=(settings, database, rate, stop,
                                                              done))  # fmt: skip
                writer.start()
                began = time.monotonic()
                try:
                    found = _gates(plan, args.gates)
                finally:
                    stop.set()
                    written = done.get()
                    writer.join()
                achieved = written / (time.monotonic() - began)
                for name, label in (("at", "at a stream position"), ("plain", "plain compare")):
                    runs = found[name]
                    lines.append(
                        f"| {achieved:.1f} | {label} | {sum(r[0] for r in runs)}/{len(runs)} | "
                        f"{statistics.mean(r[1] for r in runs):.1f}, {max(r[1] for r in runs)} | "
                        f"{max(r[3] for r in runs)} | {statistics.mean(r[2] for r in runs):.2f} |"
                    )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{target_db}" WITH (FORCE)')
    print(f"{args.rows} rows, {args.gates} gates per rate\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

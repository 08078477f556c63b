"""Change data capture: MariaDB's binlog applied to PostgreSQL, against the rate legacy writes.

    .venv/bin/python bench/cdc.py [--rate 1000] [--seconds 30] [--backlog 50000]

Starts a MariaDB server of its own with the row-based binlog on (as the tests do), seeds a
legacy table of 20,000 rows, copies it into a throwaway database on the PostgreSQL server
at 127.0.0.1:5432, then:

1. **Live**: a writer commits ``--rate`` changes a second (transactions of 10: half
   updates, a quarter inserts, a quarter deletes) for ``--seconds`` while a
   ``ChangeApplier`` follows the stream. Lag is measured per legacy transaction, from its
   commit (wall clock, right after it) to the commit of the target batch that holds it.
2. **Backlog**: ``--backlog`` changes written with no applier running, then applied in one
   catch-up: the most the applier does a second.

Both end with the target compared row by row with a fresh copy. Prints a markdown table:
changes/s produced and applied, lag p50/p95/max, and the process's resident memory at the
start and end of the live phase (flat: the applier holds one batch, never the backlog).
"""

from __future__ import annotations

import argparse
import bisect
import multiprocessing
import random
import statistics
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql

from adapters.mapping import RowMapper
from adapters.target.changes import AppliedChanges, ChangeApplier
from adapters.target.postgres import PostgresTarget
from config.migration_plan import TablePlan
from legacy_connectors.base import BinlogPosition
from legacy_connectors.sql import SqlSource

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' server helpers
from tests.legacy_connectors.conftest import binlog_mariadb_server

TARGET_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PLAN = TablePlan(source="account", target="accounts", key=["id"],
                 columns={"name": {"to": "name", "transform": "strip"}})  # fmt: skip
SEED_ROWS = 20_000


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Writer:
    """Commits transactions of ten changes to the legacy table at a steady rate."""

    def __init__(self, settings: dict[str, Any], database: str, seed: int) -> None:
        self.conn = pymysql.connect(**settings, database=database, autocommit=False)
        self.rng = random.Random(seed)
        with self.conn.cursor() as cur:
            cur.execute("SELECT id FROM account")
            self.ids = [r[0] for r in cur.fetchall()]
        self.next_id = max(self.ids, default=0) + 1
        self.commits: list[tuple[float, BinlogPosition]] = []
        self.changes = 0

    def transaction(self, size: int = 10, *, record: bool = True) -> None:
        with self.conn.cursor() as cur:
            for _ in range(size):
                roll = self.rng.random()
                if roll < 0.25 or len(self.ids) < 100:
                    values = (self.next_id, f" name {self.next_id} ", self._money(), None)
                    cur.execute("INSERT INTO account VALUES (%s, %s, %s, CURDATE(), %s)", values)
                    self.ids.append(self.next_id)
                    self.next_id += 1
                elif roll < 0.5:
                    victim = self.ids.pop(self.rng.randrange(len(self.ids)))
                    cur.execute("DELETE FROM account WHERE id = %s", (victim,))
                else:
                    cur.execute("UPDATE account SET balance = %s, note = %s WHERE id = %s",
                                (self._money(), "x" * self.rng.randint(0, 40),
                                 self.rng.choice(self.ids)))  # fmt: skip
            self.conn.commit()
            self.changes += size
            if record:
                cur.execute("SHOW MASTER STATUS")
                file, offset = cur.fetchone()[:2]
                self.commits.append((time.monotonic(), BinlogPosition(file, int(offset))))

    def _money(self) -> Decimal:
        return Decimal(self.rng.randint(-(10**8), 10**8)) / 100

    def run(self, rate: float, seconds: float) -> None:
        per_tx = 10
        interval = per_tx / rate
        start = time.monotonic()
        due = start
        while time.monotonic() - start < seconds:
            self.transaction(per_tx)
            due += interval
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)


def _write(
    settings: dict[str, Any], database: str, rate: float, seconds: float, results: Any
) -> None:
    writer = Writer(settings, database, seed=1)
    writer.run(rate, seconds)
    results.put((writer.changes, writer.commits))


def seed(settings: dict[str, Any]) -> str:
    database = f"bench_cdc_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(**settings, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {database}")
        cur.execute(f"USE {database}")
        cur.execute("CREATE TABLE account (id INT PRIMARY KEY, name VARCHAR(40), "
                    "balance DECIMAL(12,2), opened DATE, note VARCHAR(60))")  # fmt: skip
        rows = [(n, f"name {n}", Decimal(n) / 100, None, None) for n in range(1, SEED_ROWS + 1)]
        cur.executemany("INSERT INTO account VALUES (%s, %s, %s, '2020-01-01', %s)",
                        [(a, b, c, e) for a, b, c, _, e in rows])  # fmt: skip
    conn.close()
    return database


def copy(source: SqlSource, target: PostgresTarget, mapper: RowMapper) -> None:
    target.prepare(mapper.target_table, mapper.target_columns, mapper.target_key)
    names = [c.name for c in mapper.target_columns]
    for batch in source.read(mapper.table, mapper.source_key, batch_rows=5_000):
        target.upsert(mapper.target_table, names, mapper.target_key,
                      [mapper.values(r) for r in batch])  # fmt: skip


def same_as_fresh_copy(source: SqlSource, target: PostgresTarget, mapper: RowMapper) -> bool:
    names = [c.name for c in mapper.target_columns]
    with PostgresTarget(target.url, f"fresh_{uuid.uuid4().hex[:8]}") as fresh:
        copy(source, fresh, mapper)
        expected = fresh.rows(mapper.target_table, names, mapper.target_key)
    return target.rows(mapper.target_table, names, mapper.target_key) == expected


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def live(
    args: argparse.Namespace, settings: dict[str, Any], url: str, target_url: str
) -> dict[str, Any]:
    database = seed(settings)
    source = SqlSource(url + database)
    stream = source.change_stream()
    assert stream is not None
    mapper = RowMapper(PLAN, source.table_info("account"))
    with PostgresTarget(target_url, "legacy_live") as target:
        applier = ChangeApplier(target, "bench-live", [mapper], batch_changes=args.batch)
        applier.start_at(stream.head())
        copy(source, target, mapper)
        applied: list[tuple[float, BinlogPosition]] = []
        stop = threading.Event()

        def on_batch(done: AppliedChanges) -> None:
            assert isinstance(done.position, BinlogPosition)
            applied.append((time.monotonic(), done.position))

        follower = threading.Thread(target=lambda: applier.follow(
            stream, stop=stop.is_set, poll_s=0.02, on_batch=on_batch))  # fmt: skip
        memory_start = rss_mb()
        started = time.monotonic()
        follower.start()
        # The writer runs in a process of its own, as legacy's clients would: it does not
        # share this one's interpreter lock with the applier.
        results: multiprocessing.Queue[Any] = multiprocessing.get_context("fork").Queue()
        producer = multiprocessing.get_context("fork").Process(
            target=_write, args=(settings, database, args.rate, args.seconds, results)
        )
        producer.start()
        changes, commits = results.get()
        producer.join()
        produced_s = time.monotonic() - started
        memory_peak = rss_mb()
        head = stream.head()
        while not applied or applied[-1][1] < head:
            time.sleep(0.02)
        caught_up_s = time.monotonic() - started
        stop.set()
        follower.join()
        memory_end = rss_mb()
        lags = []
        positions = [p for _, p in applied]
        for committed, position in commits:
            at = bisect.bisect_left(positions, position)
            if at < len(applied):
                lags.append(applied[at][0] - committed)
        exact = same_as_fresh_copy(source, target, mapper)
    source.close()
    return {
        "changes": changes,
        "produced_per_s": changes / produced_s,
        "applied_per_s": changes / caught_up_s,
        "p50": statistics.median(lags) if lags else 0.0,
        "p95": percentile(lags, 0.95),
        "max": max(lags, default=0.0),
        "memory": (memory_start, max(memory_peak, memory_end)),
        "exact": exact,
    }


def backlog(
    args: argparse.Namespace, settings: dict[str, Any], url: str, target_url: str
) -> dict[str, Any]:
    database = seed(settings)
    source = SqlSource(url + database)
    stream = source.change_stream()
    assert stream is not None
    mapper = RowMapper(PLAN, source.table_info("account"))
    with PostgresTarget(target_url, "legacy_backlog") as target:
        applier = ChangeApplier(target, "bench-backlog", [mapper], batch_changes=args.batch)
        applier.start_at(stream.head())
        copy(source, target, mapper)
        writer = Writer(settings, database, seed=2)
        while writer.changes < args.backlog:
            writer.transaction(10, record=False)
        lag = applier.lag(stream)
        memory_start = rss_mb()
        started = time.monotonic()
        done = applier.catch_up(stream)
        elapsed = time.monotonic() - started
        memory_end = rss_mb()
        exact = same_as_fresh_copy(source, target, mapper)
    source.close()
    return {
        "changes": done.changes,
        "lag_before": lag.changes_behind,
        "applied_per_s": done.changes / elapsed,
        "seconds": elapsed,
        "memory": (memory_start, memory_end),
        "exact": exact,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000, help="changes a second written")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--backlog", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=2_000, help="changes per target batch")
    args = parser.parse_args()
    target_db = f"bench_cdc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(TARGET_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{target_db}"')
    target_url = f"postgresql://postgres@127.0.0.1:5432/{target_db}"
    try:
        with binlog_mariadb_server() as settings:
            url = f"mysql+pymysql://root@127.0.0.1:{settings['port']}/"
            result = live(args, settings, url, target_url)
            batch = backlog(args, settings, url, target_url)
    finally:
        with psycopg.connect(TARGET_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{target_db}" WITH (FORCE)')
    print(f"\n### Change stream: MariaDB binlog → PostgreSQL (batch {args.batch} changes)\n")
    print(
        "| phase | changes | produced/s | applied/s | lag p50 s | lag p95 s | lag max s "
        "| RSS MB start → end | target = fresh copy |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    m0, m1 = result["memory"]
    print(
        f"| live, {args.rate:.0f}/s for {args.seconds:.0f} s | {result['changes']} "
        f"| {result['produced_per_s']:.0f} | {result['applied_per_s']:.0f} "
        f"| {result['p50']:.3f} | {result['p95']:.3f} | {result['max']:.3f} "
        f"| {m0:.0f} → {m1:.0f} | {'yes' if result['exact'] else 'NO'} |"
    )
    b0, b1 = batch["memory"]
    print(
        f"| backlog of {batch['lag_before']} | {batch['changes']} | - "
        f"| {batch['applied_per_s']:.0f} | - | - | - | {b0:.0f} → {b1:.0f} "
        f"| {'yes' if batch['exact'] else 'NO'} |"
    )


if __name__ == "__main__":
    main()

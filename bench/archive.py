"""Archiving a legacy table: Switchover's archive against pyarrow writing the same rows.

    .venv/bin/python bench/archive.py [--rows 1000000]

Builds a throwaway SQLite legacy table (seven columns: integer key, two texts, a date, a
decimal, a nullable integer, a timestamp) and, in one run:

* the peer: the rows read with sqlite3 in one ``fetchall`` and written by
  ``pyarrow.parquet.write_table`` in one call (no streaming, no checks: the floor);
* ``archive_legacy`` into a local object store: streamed row groups, typed columns
  (decimals exact), the manifest of sha256 sums, and everything read back and recounted.

Prints seconds, rows/s, the ratio to the peer, and each one's peak Python memory
(tracemalloc).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from adapters.decommission.archive import archive_legacy
from adapters.storage import LocalStore
from config.migration_plan import load_plan


def make_table(path: Path, rows: int) -> None:
    chooser = random.Random(7)
    start = dt.date(1930, 1, 1)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE PERSON (ID INTEGER PRIMARY KEY, SURNAME VARCHAR(30), TOWN VARCHAR(30),"
            " BORN DATE, BALANCE DECIMAL(10,2), VISITS INTEGER, SEEN TIMESTAMP)"
        )
        batch = []
        for n in range(1, rows + 1):
            batch.append((
                n, f"SURNAME{n % 5000}", f"TOWN{n % 300}",
                (start + dt.timedelta(days=n % 30000)).isoformat(),
                str(Decimal(chooser.randrange(-100_000, 10_000_000)) / 100),
                None if n % 7 == 0 else n % 90,
                f"2026-11-{1 + n % 28:02d} 10:{n % 60:02d}:00",
            ))  # fmt: skip
            if len(batch) == 50_000:
                db.executemany("INSERT INTO PERSON VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
                batch.clear()
        db.executemany("INSERT INTO PERSON VALUES (?, ?, ?, ?, ?, ?, ?)", batch)


def measured(run: Callable[[], Any]) -> tuple[float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    _now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20


def peer(database: Path, out: Path) -> None:
    with sqlite3.connect(database) as db:
        cursor = db.execute("SELECT * FROM PERSON ORDER BY ID")
        names = [d[0] for d in cursor.description]
        columns = list(zip(*cursor.fetchall(), strict=True))
    table = pa.table({name: list(values) for name, values in zip(names, columns, strict=True)})
    pq.write_table(table, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        database = folder / "legacy.db"
        make_table(database, args.rows)
        plan_path = folder / "plan.yaml"
        plan_path.write_text(yaml.safe_dump({
            "system": {"id": "bench-archive", "name": "Bench"},
            "source": {"kind": "sql", "url": f"sqlite:///{database}"},
            "target": {"url": "postgresql+psycopg://postgres@127.0.0.1/unused"},
            "tables": [{"source": "PERSON", "target": "person", "key": ["ID"]}],
        }))  # fmt: skip
        plan = load_plan(plan_path)
        store = LocalStore(folder / "objects")
        peer_s, peer_mb = measured(lambda: peer(database, folder / "peer.parquet"))
        ours_s, ours_mb = measured(lambda: archive_legacy(plan, store))
    rows = args.rows
    print(f"{rows:,} rows, SQLite -> Parquet on a local disk")
    print(f"{'':32} {'seconds':>8} {'rows/s':>10} {'peak MiB':>9}")
    print(f"{'pyarrow write_table (peer)':32} {peer_s:8.1f} {rows / peer_s:10,.0f} {peer_mb:9.0f}")
    print(f"{'archive_legacy (with read-back)':32} {ours_s:8.1f} {rows / ours_s:10,.0f} "
          f"{ours_mb:9.0f}")  # fmt: skip
    print(f"ratio (ours / peer rate): {peer_s / ours_s:.2f}")


if __name__ == "__main__":
    main()

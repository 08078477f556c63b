"""Archiving a legacy table: Switchover's archive against pyarrow writing the same rows.

    .venv/bin/python bench/archive.py [--rows 1000000] [--repeat 3]

Builds a throwaway SQLite legacy table (seven columns: integer key, two texts, a date, a
decimal, a nullable integer, a timestamp) and, in one process, takes turns (the order
alternating from one round to the next) between:

* the peer: the rows read with sqlite3 in one ``fetchall`` and written by
  ``pyarrow.parquet.write_table`` in one call (no streaming, no checks: the floor);
* ``archive_legacy`` into a local object store: streamed row groups, typed columns
  (decimals exact), the manifest of sha256 sums, and everything read back and recounted.

Prints, per run, wall and CPU seconds and the rise of the process's peak resident memory
over where it stood before the run (``VmHWM`` reset through ``/proc/self/clear_refs``:
Arrow's buffers count, which tracemalloc cannot see); then, per round, our rate over the
peer's. Other work on the machine moves wall time far more than CPU time, so both
ratios are shown; the rounds show the noise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    rss_before: float  # MiB
    rss_rise: float | None  # MiB of peak resident memory above rss_before


def _status(field: str) -> float | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


def _reset_peak() -> bool:
    # Linux: writing 5 resets the peak resident set size (VmHWM) to the current one.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measured(run: Callable[[], Any]) -> Run:
    gc.collect()
    pa.default_memory_pool().release_unused()
    resettable = _reset_peak()
    before = _status("VmRSS") or 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = _status("VmHWM") if resettable else None
    return Run(wall, cpu, before, None if peak is None else peak - before)


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
    parser.add_argument("--repeat", type=int, default=3, help="rounds of peer and ours")
    args = parser.parse_args()
    rows = args.rows
    runs: dict[str, list[Run]] = {"peer": [], "ours": []}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        database = folder / "legacy.db"
        make_table(database, rows)
        plan_path = folder / "plan.yaml"
        plan_path.write_text(yaml.safe_dump({
            "system": {"id": "bench-archive", "name": "Bench"},
            "source": {"kind": "sql", "url": f"sqlite:///{database}"},
            "target": {"url": "postgresql+psycopg://postgres@127.0.0.1/unused"},
            "tables": [{"source": "PERSON", "target": "person", "key": ["ID"]}],
        }))  # fmt: skip
        plan = load_plan(plan_path)
        store = LocalStore(folder / "objects")
        contenders: dict[str, Callable[[], Any]] = {
            "peer": lambda: peer(database, folder / "peer.parquet"),
            "ours": lambda: archive_legacy(plan, store),
        }
        print(f"{rows:,} rows, SQLite -> Parquet on a local disk")
        print(f"{'round':>5} {'':5} {'wall s':>7} {'CPU s':>6} {'rows/s':>10} "
              f"{'RSS before':>10} {'peak rise':>9}")  # fmt: skip
        for number in range(1, args.repeat + 1):
            order = ["peer", "ours"] if number % 2 else ["ours", "peer"]
            for name in order:
                run = measured(contenders[name])
                runs[name].append(run)
                rise = "n/a" if run.rss_rise is None else f"{run.rss_rise:.0f} MiB"
                print(f"{number:>5} {name:5} {run.wall:7.1f} {run.cpu:6.1f} "
                      f"{rows / run.wall:10,.0f} {run.rss_before:6.0f} MiB {rise:>9}")  # fmt: skip
    walls = [p.wall / o.wall for p, o in zip(runs["peer"], runs["ours"], strict=True)]
    cpus = [p.cpu / o.cpu for p, o in zip(runs["peer"], runs["ours"], strict=True)]
    print("ratio (ours / peer rate), per round:")
    for label, ratios in (("wall", walls), ("CPU", cpus)):
        shown = " ".join(f"{r:.2f}" for r in ratios)
        print(f"  {label:4} {shown}   median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()

"""Legacy connector throughput: the SQL source beside MariaDB's own raw streaming rate.

    .venv/bin/python bench/connectors.py [--rows 1000000] [--big-rows 5000000]

Builds a throwaway MariaDB database (dropped at the end) with ten-column rows, then in
the same run: streams them with a bare pymysql unbuffered cursor (SSCursor, no
conversion beyond the driver's own: the database's raw rate here), streams them through
``SqlSource.read`` (keyset query, server-side cursor, dict rows), and measures peak memory
at N and at 5N rows to show it stays flat. Prints a markdown table, then runs
``bench/copybook_throughput.py`` for the EBCDIC half: a fixed-length cp037 file with
packed decimals read through the copybook source at the same sizes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path

import pymysql
import pymysql.cursors

from legacy_connectors.sql import SqlSource

HOST = {"host": "127.0.0.1", "port": 3306, "user": "root"}


def build(db: str, rows: int) -> None:
    conn = pymysql.connect(**HOST, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{db}`")
        cur.execute(
            "CREATE TABLE people (id INT PRIMARY KEY, surname VARCHAR(40), forename VARCHAR(40),"
            " born DATE, postcode CHAR(8), balance DECIMAL(12,2), visits INT, updated DATETIME,"
            " status CHAR(1), note VARCHAR(80))"
        )
        cur.execute(
            "INSERT INTO people SELECT seq, CONCAT('Surname', seq % 9973),"
            " CONCAT('Name', seq % 101),"
            " DATE '1930-01-01' + INTERVAL (seq % 25000) DAY, CONCAT('AB', seq % 99, ' 1CD'),"
            " (seq % 100000) / 100, seq % 50,"
            " TIMESTAMP '2020-01-01 00:00:00' + INTERVAL seq SECOND,"
            f" 'A', REPEAT('x', seq % 40) FROM seq_1_to_{rows}"
        )
    conn.close()


def raw_rate(db: str, rows: int) -> float:
    conn = pymysql.connect(**HOST, database=db, cursorclass=pymysql.cursors.SSCursor)
    start = time.perf_counter()
    seen = 0
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM people WHERE id <= {rows} ORDER BY id")
        while batch := cur.fetchmany(10_000):
            seen += len(batch)
    elapsed = time.perf_counter() - start
    conn.close()
    assert seen == rows, seen
    return rows / elapsed


def source_rate(db: str, rows: int) -> float:
    with SqlSource(f"mysql+pymysql://root@127.0.0.1/{db}") as source:
        start = time.perf_counter()
        seen = sum(len(b) for b in source.read("people", ["id"], upto=(rows,), batch_rows=10_000))
        elapsed = time.perf_counter() - start
    assert seen == rows, seen
    return rows / elapsed


def peak_memory(work: Callable[[], object]) -> float:
    tracemalloc.start()
    work()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def bench_sql(rows: int, big_rows: int) -> list[tuple[str, str, str]]:
    db = f"so_bench_{uuid.uuid4().hex[:8]}"
    build(db, big_rows)
    try:
        raw = raw_rate(db, rows)
        ours = source_rate(db, rows)
        mem_small = peak_memory(lambda: source_rate(db, rows))
        mem_big = peak_memory(lambda: source_rate(db, big_rows))
    finally:
        conn = pymysql.connect(**HOST, autocommit=True)
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        conn.close()
    return [
        (f"MariaDB raw: pymysql SSCursor, {rows:,} rows", f"{raw:,.0f}", "-"),
        (f"MariaDB via SqlSource.read, {rows:,} rows", f"{ours:,.0f}", f"{mem_small:.1f}"),
        (f"MariaDB via SqlSource.read, {big_rows:,} rows", "-", f"{mem_big:.1f}"),
        (
            "SqlSource / raw",
            f"{ours / raw:.2f}",
            f"{mem_big / mem_small:.2f} at {big_rows / rows:.0f}x the rows",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=5_000_000)
    parser.add_argument("--skip-ebcdic", action="store_true")
    args = parser.parse_args()
    results = bench_sql(args.rows, args.big_rows)
    print("| measure | rows/s | peak Python memory (MiB) |")
    print("|---|---:|---:|")
    for name, rate, memory in results:
        print(f"| {name} | {rate} | {memory} |")
    if not args.skip_ebcdic:
        # The EBCDIC part measures in a child process of its own (peak RSS per size).
        print()
        subprocess.run(
            [sys.executable, str(Path(__file__).with_name("copybook_throughput.py")),
             str(args.rows), str(args.big_rows)],
            check=True,
        )  # fmt: skip


if __name__ == "__main__":
    main()

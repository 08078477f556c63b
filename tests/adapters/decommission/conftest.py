"""Legacy databases to freeze and archive (SQLite, MariaDB, PostgreSQL, made per test),
plans that point at them, and the document stores (local folder, S3 over moto's HTTP
server) from the storage tests."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.migration_plan import MigrationPlan, load_plan
from tests.adapters.storage.conftest import (  # noqa: F401 (fixtures)
    local_store,
    s3_endpoint,
    s3_settings,
    store,
)
from tests.legacy_connectors.conftest import mariadb_admin, postgres_admin, throwaway_name

SYSTEM = "legacy-electoral"

# Values that must survive the archive exactly: decimals at their scale, a negative
# penny, a leap day, NULLs, bytes with 0x00 and 0xff, text beyond Latin-1.
PEOPLE: list[tuple[Any, ...]] = [
    (
        1, "Zoë Ångström", Decimal("1234567.89"), dt.date(1961, 3, 12),
        dt.datetime(2020, 1, 2, 3, 4, 5, 678000), b"\x00\xff\x10bytes", "naïve 😀",
    ),
    (2, "O'Brien", Decimal("-0.01"), None, None, None, None),
    (
        3, "李小龍", Decimal("0.00"), dt.date(2000, 2, 29), dt.datetime(1999, 12, 31, 23, 59, 59),
        b"", "x",
    ),
]  # fmt: skip
COLUMNS = ["id", "name", "balance", "born", "seen", "photo", "note"]
SHIFTS: list[tuple[Any, ...]] = [
    (1, "-838:59:59", 2**64 - 1),
    (2, "25:00:00.5", 0),
    (3, None, None),
]
SHIFT_VALUES = [
    (1, -dt.timedelta(hours=838, minutes=59, seconds=59), Decimal(2**64 - 1)),
    (2, dt.timedelta(hours=25, microseconds=500000), Decimal(0)),
    (3, None, None),
]
# A table without a key, read in row-hash (or all-column) order.
EVENTS: list[tuple[Any, ...]] = [("AAA", Decimal("1.5")), ("AAA", Decimal("1.5")), ("ZZZ", None)]


def write_plan(
    folder: Path, source: dict[str, Any], *, tables: list[str], **decommission: Any
) -> MigrationPlan:
    """A plan file for ``source`` in ``folder``, loaded as the activities load it."""
    plan = {
        "system": {
            "id": SYSTEM, "name": "Electoral Register", "department": "LGS",
            "annual_run_cost_gbp": 420000, "migration_cost_gbp": 60000, "risk_score": 22,
        },
        "source": source,
        "target": {"url": "postgresql+psycopg://postgres@127.0.0.1/unused"},
        "tables": [{"source": t, "target": t.lower()} for t in tables],
        "decommission": decommission,
    }  # fmt: skip
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    return load_plan(path)


# --- SQLite ---------------------------------------------------------------------------


def make_sqlite(path: Path, *, empty: bool = False) -> str:
    """A SQLite legacy database with the people and events tables; its URL."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, "
            "balance NUMERIC(12, 2), born DATE, seen DATETIME, photo BLOB, note TEXT)"
        )
        db.execute("CREATE TABLE events (code CHAR(3), amount NUMERIC(5, 1))")
        if not empty:
            db.executemany(
                "INSERT INTO people VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i, n, None if b is None else str(b), d and d.isoformat(),
                        s and s.isoformat(sep=" "), p, note,
                    )
                    for i, n, b, d, s, p, note in PEOPLE
                ],
            )  # fmt: skip
            db.executemany(
                "INSERT INTO events VALUES (?, ?)",
                [(c, None if a is None else str(a)) for c, a in EVENTS],
            )
    db.close()
    return f"sqlite:///{path}"


SQLITE_FREEZE = [
    f"CREATE TRIGGER IF NOT EXISTS {table}_frozen_{op.lower()} BEFORE {op} ON {table} "
    "BEGIN SELECT RAISE(ABORT, 'frozen: retired system'); END"
    for table in ("people", "events")
    for op in ("INSERT", "UPDATE", "DELETE")
]


# --- MariaDB --------------------------------------------------------------------------


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A new MariaDB database with the people and events tables, dropped afterwards."""
    name = throwaway_name("decom")
    admin = mariadb_admin()
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        cur.execute(
            f"CREATE TABLE `{name}`.people (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, "
            "balance DECIMAL(12, 2), born DATE, seen DATETIME(6), photo BLOB, note TEXT)"
        )
        cur.execute(f"CREATE TABLE `{name}`.events (code CHAR(3), amount DECIMAL(5, 1))")
        cur.executemany(f"INSERT INTO `{name}`.people VALUES (%s, %s, %s, %s, %s, %s, %s)", PEOPLE)
        cur.executemany(f"INSERT INTO `{name}`.events VALUES (%s, %s)", EVENTS)
        # MariaDB's own shapes: TIME is a signed interval, BIGINT UNSIGNED passes 2**63.
        cur.execute(
            f"CREATE TABLE `{name}`.shifts (id INT PRIMARY KEY, length TIME(6), "
            "counter BIGINT UNSIGNED)"
        )
        cur.executemany(f"INSERT INTO `{name}`.shifts VALUES (%s, %s, %s)", SHIFTS)
    try:
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def mariadb_freeze(database: str) -> list[str]:
    """Triggers that refuse every write, for every account (root included)."""
    return [
        f"CREATE TRIGGER IF NOT EXISTS `{database}`.{table}_frozen_{op.lower()} "
        f"BEFORE {op} ON `{database}`.{table} FOR EACH ROW "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'frozen: retired system'"
        for table in ("people", "events")
        for op in ("INSERT", "UPDATE", "DELETE")
    ]


# --- PostgreSQL -----------------------------------------------------------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new PostgreSQL database with the people table, dropped afterwards."""
    name = throwaway_name("decom")
    admin = postgres_admin()
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with postgres_admin(name) as db:
            db.execute(
                "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, "
                "balance NUMERIC(12, 2), born DATE, seen TIMESTAMP, photo BYTEA, note TEXT)"
            )
            with db.cursor() as cur:
                cur.executemany("INSERT INTO people VALUES (%s, %s, %s, %s, %s, %s, %s)", PEOPLE)
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?")[0]


PlanMaker = Callable[..., MigrationPlan]

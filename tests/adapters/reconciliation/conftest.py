"""A legacy MariaDB database and a target PostgreSQL database, made for each test module.

The legacy ``people`` table is filled with deterministic rows; tests copy them into target
tables faithfully, then plant differences. Both databases are dropped afterwards; an
unreachable server fails in CI (CI=true) and skips elsewhere.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from config.migration_plan import MigrationPlan
from tests.legacy_connectors.conftest import mariadb_admin, postgres_admin, throwaway_name

PEOPLE_ROWS = 3000
SKIPPED_EVERY = 97
"""Legacy ids that are multiples of this do not exist: room to plant extra rows inside."""

LEGACY_PEOPLE = (
    "CREATE TABLE people (id INT PRIMARY KEY, surname VARCHAR(40), code CHAR(5),"
    " balance DECIMAL(12,2), score DOUBLE, seen DATETIME(6), note VARCHAR(20), born DATE)"
)
TARGET_PEOPLE = (
    "CREATE TABLE {name} (id INTEGER PRIMARY KEY, surname VARCHAR(40), code CHAR(5),"
    " balance NUMERIC(12,2), score DOUBLE PRECISION, seen TIMESTAMP(6), note VARCHAR(20),"
    " born DATE)"
)
PEOPLE_COLUMNS = ["id", "surname", "code", "balance", "score", "seen", "note", "born"]


def people_rows() -> list[tuple[Any, ...]]:
    """The legacy rows: names, padded codes, money, floats, microsecond times, NULLs."""
    rng = random.Random(7)
    rows = []
    for i in range(1, PEOPLE_ROWS + 1):
        if i % SKIPPED_EVERY == 0:
            continue
        rows.append(
            (
                i,
                rng.choice(["Smith", "Jones", "Okafor", "Ødegård", "Gonçalves"]) + str(i),
                rng.choice(["AB", "XYZ", "Q"]),
                Decimal(rng.randint(-100_000, 100_000)) / 100,
                0.0 if i % 50 == 0 else rng.random() * 1000,
                dt.datetime(2020, 1, 1) + dt.timedelta(seconds=i * 3671, microseconds=i * 7919),
                None if i % 3 == 0 else f"note {i}",
                dt.date(1950, 1, 1) + dt.timedelta(days=i * 7),
            )
        )
    return rows


def planted_rows() -> list[tuple]:
    """The faithful copy with five differences planted (two inside the tolerance of 0.01)."""
    rows = {r[0]: list(r) for r in people_rows()}
    del rows[17]  # missing
    rows[291] = [291, "Extra", "Q", Decimal("1.00"), 1.0, None, None, None]  # extra, inside
    rows[3001] = [3001, "Extra", "Q", Decimal("1.00"), 1.0, None, None, None]  # extra, after
    rows[451][1] = "Smyth"  # changed
    rows[600][3] += Decimal("0.01")  # within tolerance: not reported
    rows[700][3] += Decimal("0.05")  # outside tolerance: reported
    return [tuple(r) for _, r in sorted(rows.items())]


@pytest.fixture(scope="module")
def legacy_db() -> Iterator[str]:
    """A MariaDB database with ``people`` filled; yields its SQLAlchemy URL."""
    name = throwaway_name("recon")
    admin = mariadb_admin()
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{name}`")
        cur.execute(LEGACY_PEOPLE)
        cur.executemany("INSERT INTO people VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", people_rows())
    try:
        yield f"mysql+pymysql://root@127.0.0.1/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture(scope="module")
def target_db() -> Iterator[str]:
    """An empty PostgreSQL database; yields its name."""
    name = throwaway_name("recon")
    admin = postgres_admin()
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def target_url(target_db: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1/{target_db}"


def make_target(target_db: str, name: str, rows: list[tuple[Any, ...]], ddl: str = "") -> None:
    """Create a target table (people's shape unless ``ddl`` is given) holding ``rows``."""
    with postgres_admin(target_db) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute((ddl or TARGET_PEOPLE).format(name=name))
        width = len(rows[0]) if rows else 0
        if rows:
            marks = ", ".join(["%s"] * width)
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)


def people_plan(legacy_url: str, target_db: str, target: str, **table: Any) -> MigrationPlan:
    """A plan reconciling legacy ``people`` into ``target``; ``table`` adds to its table entry."""
    return MigrationPlan.model_validate(
        {
            "system": {"id": "legacy-people", "name": "People register"},
            "source": {"kind": "sql", "url": legacy_url},
            "target": {"url": target_url(target_db)},
            "tables": [{"source": "people", "target": target, "key": ["id"], **table}],
        }
    )

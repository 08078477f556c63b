"""A legacy MariaDB table with oddities, a PostgreSQL target and an engine database, all
throwaway. Unreachable servers skip these tests on a developer's machine and fail them in
CI (CI=true)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import yaml

from tests.conftest import IN_CI


def plan_reader(engine_db_url: str) -> Any:
    """The cutover's ``read_cutover_plan`` activity, which ``MigrateSystemWorkflow`` calls at
    its hand-off (a plan without a cutover section ends the run there)."""
    from activities.cutover import CutoverActivities
    from config.settings import Settings

    return CutoverActivities(Settings(database_url=engine_db_url)).read_cutover_plan


def decision_activities(engine_db_url: str, engineer: str = "engineer") -> list[Any]:
    """The activities that check a gate decision's engineer and record it in the audit
    trail, with ``engineer`` an engineer in the engine database (``GateDecision``'s
    default ``decided_by``)."""
    from activities.decisions import DecisionActivities
    from db import accounts
    from db.session import session_scope

    with session_scope(engine_db_url) as session:
        if accounts.get_user_by_username(session, engineer) is None:
            accounts.create_user(session, username=engineer, roles=["engineer"],
                                 password_hash=None)  # fmt: skip
    return DecisionActivities(engine_db_url).all()


def _unreachable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def mariadb(database: str | None = None) -> pymysql.Connection:
    """An autocommit connection to the MariaDB server at 127.0.0.1:3306 (root)."""
    try:
        return pymysql.connect(host="127.0.0.1", port=3306, user="root", database=database,
                               autocommit=True, charset="utf8mb4", connect_timeout=5)  # fmt: skip
    except pymysql.err.OperationalError as e:
        _unreachable("MariaDB on 127.0.0.1:3306", e)
        raise


@pytest.fixture(scope="module")
def mariadb_name() -> Iterator[str]:
    name = f"so_legacy_{uuid.uuid4().hex[:10]}"
    with mariadb() as admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield name
    finally:
        with mariadb() as admin, admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(scope="module")
def postgres_name() -> Iterator[str]:
    name = f"so_modern_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres",
                                autocommit=True, connect_timeout=5)  # fmt: skip
    except psycopg.OperationalError as e:
        _unreachable("PostgreSQL on 127.0.0.1:5432", e)
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as a:
            a.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def engine_db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The engine's own database (SQLite), migrated to the current schema."""
    from db.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('engine') / 'switchover.db'}"
    upgrade(url)
    return url


ELECTOR_DDL = """
CREATE TABLE `{table}` (
  ELECTOR_ID VARCHAR(12) NOT NULL PRIMARY KEY,
  SURNAME VARCHAR(60) NULL,
  DOB CHAR(8) NULL,
  BALANCE DECIMAL(12,3) NULL,
  STATUS CHAR(1) NOT NULL,
  FLAG TINYINT(1) NULL,
  PHOTO VARBINARY(16) NULL,
  NOTES TEXT NULL,
  CREATED DATETIME(6) NULL,
  UPDATED_AT DATETIME NOT NULL
)"""

ODD_SURNAMES = ["  O'Brien ", "Ŵyn", "Müller-Lüdenscheidt", "", None, "Smith\tJones", "李",
                "Ödön 😀", "x" * 60, "Robert'); DROP TABLE x;--"]  # fmt: skip


def elector(i: int, rng: random.Random) -> tuple[Any, ...]:
    """One legacy row; every tenth-ish has an oddity the copy must carry exactly."""
    dob = (
        f"{1930 + i % 80:04d}{1 + i % 12:02d}{1 + i % 28:02d}"
        if i % 17
        else ("" if i % 2 else None)
    )
    balance = None if i % 23 == 0 else Decimal(rng.randint(-(10**9), 10**9)) / 1000
    return (
        f"E{i:07d}", ODD_SURNAMES[i % 10] if i % 7 == 0 else f" Surname{i} ", dob, balance,
        "X" if i % 50 == 0 else ("S" if i % 11 == 0 else "A"), None if i % 13 == 0 else i % 2,
        bytes(rng.randrange(256) for _ in range(i % 16)) if i % 5 else None,
        None if i % 3 else "note ümlaut\nline two",
        datetime(2001, 1, 1) + timedelta(seconds=i * 3607, microseconds=i % 999_999),
        datetime(2020, 1, 1),
    )  # fmt: skip


def load_electors(database: str, table: str, rows: int, *, seed: int = 7) -> None:
    """Create the legacy table and fill it with ``rows`` electors."""
    rng = random.Random(seed)
    with mariadb(database) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS `{table}`")
        cur.execute(ELECTOR_DDL.format(table=table))
        for start in range(0, rows, 5000):
            batch = [elector(i, rng) for i in range(start + 1, min(start + 5000, rows) + 1)]
            cur.executemany(f"INSERT INTO `{table}` VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", batch)


@pytest.fixture
def plan_file(tmp_path: Path, mariadb_name: str, postgres_name: str) -> Callable[..., Path]:
    """Writes a plan copying electors tables from the legacy MariaDB to PostgreSQL."""

    def write(tables: list[str], schema: str | None = None, **options: Any) -> Path:
        plan = {
            "system": {"id": "legacy-electoral", "name": "Electoral register",
                       "department": "Local Government", "risk_score": 22},
            "source": {"kind": "sql", "url": f"mysql+pymysql://root@127.0.0.1/{mariadb_name}"},
            "target": {"url": f"postgresql+psycopg://postgres@127.0.0.1/{postgres_name}",
                       "schema": schema or f"s_{uuid.uuid4().hex[:8]}"},
            "tables": [
                {
                    "source": table, "target": table.lower(), "key": ["ELECTOR_ID"],
                    "columns": {
                        "ELECTOR_ID": "elector_id",
                        "SURNAME": {"to": "surname", "transform": "strip"},
                        "DOB": {"to": "date_of_birth", "transform": "date:%Y%m%d"},
                        "BALANCE": {"to": "balance", "transform": "decimal:2"},
                        "STATUS": {"to": "status", "transform": "map:A=active|S=suspended"},
                    },
                    "where": "STATUS <> 'X'",
                    "updated_at": "UPDATED_AT",
                }
                for table in tables
            ],
            "batch_rows": options.pop("batch_rows", 500),
            **options,
        }  # fmt: skip
        path = tmp_path / f"plan-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
        return path

    return write

"""Acceptance: a legacy MariaDB database with the oddities of real old systems, migrated by
a plan in DESIGN.md's format with ``switchover migrate run PLAN --wait``, reconciles
exactly; differences planted in the target afterwards are each found by ``switchover
reconcile PLAN --json``, and nothing else is reported.

The database is built here, as a hidden one would be, with every oddity the connectors
meet: composite and text keys (with case, accents and CHAR padding), DECIMAL with scale,
-0.0 beside 0, NULL beside the empty string, latin1 and utf8mb4 text with accents and
emoji, zero dates, DATETIME with fractions, a table with no primary key that the plan
gives a key, reserved words as column names, BLOB, BIT, BOOLEAN, TIME (a day and more,
negative), YEAR, BIGINT UNSIGNED, a ``where`` filter, tolerance columns and the plan's
named transforms. Four tables take the engine's three paths: pushed-down segments (an
untransformed integer key), the streamed merge (transforms, text and composite keys) and
key lookups.

The workers (workflow and IO queues, the real activities, the real reconciliation) run
in this process on a Temporal dev server; the CLI is invoked as a user would.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from click.testing import CliRunner, Result
from temporalio.testing import WorkflowEnvironment

from activities.migrate import MigrationActivities
from activities.reconcile import ReconcileActivities
from config.settings import TASK_QUEUE_IO, TASK_QUEUE_WORKFLOWS, get_settings
from switchover.cli import main
from switchover.worker import ActivitySet, build_workers, run_workers
from tests.migration.conftest import mariadb, plan_reader

pytestmark = pytest.mark.slow

DRIVERS = ["pymysql", "mysqldb"]
"""Plans that name pymysql (pure Python) and mysqlclient (C): both copy paths must be exact."""

# --- the legacy database ------------------------------------------------------------------

CITIZEN_DDL = """
CREATE TABLE CITIZEN (
  CITIZEN_REF VARCHAR(12) NOT NULL PRIMARY KEY,
  SURNAME VARCHAR(60) CHARACTER SET latin1 NULL,
  FORENAME VARCHAR(60) NULL,
  NINO CHAR(9) NULL,
  DOB CHAR(8) NULL,
  BALANCE DECIMAL(12,3) NULL,
  SCORE DOUBLE NULL,
  NOTE VARCHAR(40) NULL,
  MIDDLE VARCHAR(20) NULL,
  REGISTERED DATE NULL,
  LAST_SEEN DATETIME(6) NULL,
  STATUS CHAR(1) NOT NULL,
  UPDATED_AT DATETIME NOT NULL
) CHARACTER SET utf8mb4"""

VISIT_DDL = """
CREATE TABLE VISIT (
  REGION CHAR(3) NOT NULL,
  VISIT_NO INT NOT NULL,
  VISITED DATETIME(3) NULL,
  DURATION TIME(3) NULL,
  AMOUNT DECIMAL(10,2) NULL,
  SPENT FLOAT NULL,
  PLACE VARCHAR(40) CHARACTER SET latin1 NULL,
  KIND ENUM('walk-in', 'booked', 'phone') NULL,
  PRIMARY KEY (REGION, VISIT_NO)
) CHARACTER SET utf8mb4"""

LEDGER_DDL = """
CREATE TABLE LEDGER_LINE (
  LINE_REF VARCHAR(10) NOT NULL,
  `ORDER` INT NULL,
  `GROUP` VARCHAR(10) NULL,
  `SELECT` CHAR(2) NULL,
  AMOUNT DECIMAL(9,4) NULL,
  POSTED DATE NULL,
  MEMO TEXT NULL,
  VOID CHAR(1) NOT NULL DEFAULT 'N'
) CHARACTER SET utf8mb4"""

PAYMENT_DDL = """
CREATE TABLE PAYMENT (
  ID INT NOT NULL PRIMARY KEY,
  AMOUNT DECIMAL(14,4) NULL,
  SCORE DOUBLE NULL,
  PAID_AT DATETIME(6) NULL,
  PAID_ON DATE NULL,
  REF CHAR(6) NULL,
  PAYEE VARCHAR(40) CHARACTER SET latin1 NULL,
  MEMO VARCHAR(60) NULL,
  RAW BLOB NULL,
  OK BOOLEAN NULL,
  BITS BIT(3) NULL,
  WIDE BIT(64) NULL,
  YR YEAR NULL,
  AT_TIME TIME(6) NULL,
  BIG BIGINT UNSIGNED NULL,
  `KEY` VARCHAR(10) NULL,
  STATE CHAR(1) NOT NULL
) CHARACTER SET utf8mb4"""

CITIZEN_ROWS = 1_200
VISIT_ROWS = 700
LEDGER_ROWS = 500
PAYMENT_ROWS = 3_000

LATIN1_NAMES = ["Gonçalves", "Ødegård", "Müller-Lüdenscheidt", "O'Brien", "  Padded  ",
                "Café €", "", None, "Smith\tJones", "Ñúñez"]  # fmt: skip
UTF8_NAMES = ["  Zoë 😀 ", "李", "Siân", None, "", "\tTabbed\t", "Ŵyn", "Émile 🇫🇷",
              "x" * 60, "Robert'); DROP TABLE x;--"]  # fmt: skip


def citizen_key(i: int) -> str:
    """Text keys that order differently by collation: case, accents, a space."""
    if i % 29 == 0:
        return f"c{i:06d}"  # lower case: MariaDB's collation ignores case, PostgreSQL's not
    if i % 31 == 0:
        return f"É{i:05d}"
    if i % 37 == 0:
        return f"C {i:05d}"
    return f"C{i:06d}"


def citizen(i: int, rng: random.Random) -> tuple[Any, ...]:
    balance = None if i % 19 == 0 else Decimal(rng.randint(-(10**8), 10**8)) / 1000
    if i % 53 == 0:
        balance = Decimal("-0.005")  # rounds half away from zero: -0.01
    score = [-0.0, 0.0, 0.1, 444.555, 1e20, None, rng.random() * 1e6][i % 7]
    registered: Any = [date(1999, 12, 31), "0000-00-00", "2001-05-00", None,
                       date(1000, 1, 1), date(9999, 12, 31)][i % 6] if i % 5 == 0 else (
                       date(1950, 1, 1) + timedelta(days=i * 11))  # fmt: skip
    seen: Any = datetime(2020, 1, 2, 3, 4, 5) + timedelta(seconds=i * 7919, microseconds=i * 37)
    if i % 41 == 0:
        seen = "0000-00-00 00:00:00"
    elif i % 43 == 0:
        seen = None
    elif i % 47 == 0:
        seen = datetime(1970, 1, 1, 0, 0, 0, 1)
    dob = f"{1930 + i % 80:04d}{1 + i % 12:02d}{1 + i % 28:02d}"
    if i % 17 == 0:
        dob = ["", None, "        ", "20000229"][i // 17 % 4]
    return (
        citizen_key(i),
        LATIN1_NAMES[i % 10] if i % 3 == 0 else f"Surname{i}",
        UTF8_NAMES[i % 10] if i % 4 == 0 else f" Forename{i} ",
        [f"ab{i:06d}c", f"QQ{i:06d}", "AB12", None][i % 4],
        dob,
        balance,
        score,
        [None, "", " ", f"note {i}", "ümlaut 😀"][i % 5],
        ["", "N/A", None, "Ann", "Jo"][i % 5],
        registered,
        seen,
        "X" if i % 50 == 0 else ("S" if i % 11 == 0 else "A"),
        datetime(2020, 1, 1),
    )


def visit(i: int, rng: random.Random) -> tuple[Any, ...]:
    region = ["AB", "ABC", "É1", "Z", "ab "][i % 5]  # CHAR(3): padded, and padded again
    duration = [timedelta(hours=1, minutes=2, seconds=3, microseconds=456000), timedelta(0),
                timedelta(hours=23, minutes=59, seconds=59, microseconds=999000), None,
                timedelta(seconds=i)][i % 5]  # fmt: skip
    return (
        region,
        i - 100,  # negative and zero keys too
        datetime(2019, 6, 1, 12) + timedelta(minutes=i * 13, microseconds=(i % 1000) * 1000),
        duration,
        None if i % 9 == 0 else Decimal(rng.randint(-99_999, 99_999)) / 100,
        [0.1, -0.0, 0.0, 3.25, None][i % 5],
        LATIN1_NAMES[i % 10],
        ["walk-in", "booked", "phone", None][i % 4],
    )


def ledger(i: int, rng: random.Random) -> tuple[Any, ...]:
    return (
        f"L{i:05d}",
        None if i % 7 == 0 else i % 100 - 50,
        ["", None, "grp", "GRP"][i % 4],
        ["A", "B ", None, ""][i % 4],
        None if i % 11 == 0 else Decimal(rng.randint(-(10**7), 10**7)) / 10_000,
        [date(2001, 2, 3), "0000-00-00", None, date(2024, 2, 29)][i % 4],
        [None, "", "memo ☃", "x" * 300][i % 4],
        "Y" if i % 25 == 0 else "N",
    )


def payment(i: int, rng: random.Random) -> tuple[Any, ...]:
    times = [timedelta(hours=12, minutes=34, seconds=56, microseconds=789012), timedelta(0),
             timedelta(hours=838, minutes=59, seconds=59), timedelta(hours=-1),
             timedelta(hours=25, microseconds=1), None]  # fmt: skip
    return (
        i,
        None if i % 13 == 0 else Decimal(rng.randint(-(10**12), 10**12)) / 10_000,
        [-0.0, 0.0, 0.1, 1e-7, 1e20, None, rng.random() * 1000][i % 7],
        datetime(2021, 3, 4) + timedelta(seconds=i * 101, microseconds=i * 3),
        [date(2021, 3, 4) + timedelta(days=i), "0000-00-00", "2021-02-00", None][i % 4],
        ["R1", "R22222", None, ""][i % 4],
        LATIN1_NAMES[i % 10],
        UTF8_NAMES[i % 10],
        None if i % 6 == 0 else bytes(rng.randrange(256) for _ in range(i % 20)),
        [True, False, None][i % 3],
        [0, 5, 7, None][i % 4],
        [0, 2**64 - 1, 2**63, 1, None][i % 5],
        [1999, 0, 2155, 1901, None][i % 5],
        times[i % len(times)],
        [0, 2**64 - 1, 2**63 + 7, None][i % 4],
        ["k", "", None][i % 3],
        "Z" if i % 40 == 0 else "P",
    )


def build_legacy(name: str) -> None:
    """Create and fill the legacy database as an old server would (zero dates allowed)."""
    with mariadb(name) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        for ddl, make, rows in (
            (CITIZEN_DDL, citizen, CITIZEN_ROWS),
            (VISIT_DDL, visit, VISIT_ROWS),
            (LEDGER_DDL, ledger, LEDGER_ROWS),
            (PAYMENT_DDL, payment, PAYMENT_ROWS),
        ):
            cur.execute(ddl)
            rng = random.Random(rows)
            values = [make(i, rng) for i in range(1, rows + 1)]
            table = ddl.split()[2]
            marks = ", ".join(["%s"] * len(values[0]))
            cur.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
        # the ledger's plan key is unique although nothing in the database says so
        cur.execute("SELECT COUNT(*), COUNT(DISTINCT LINE_REF) FROM LEDGER_LINE")
        total, distinct = cur.fetchone()
        assert total == distinct == LEDGER_ROWS


# --- the plan ---------------------------------------------------------------------------


def write_plan(path: Path, legacy_db: str, target_db: str, driver: str = "pymysql") -> Path:
    """A plan in DESIGN.md's format with named transforms, filters and tolerances."""
    plan = {
        "system": {"id": f"legacy-hidden-{driver}",
                   "name": "Hidden register (1997 client-server)",
                   "department": "Acceptance", "annual_run_cost_gbp": 100000, "risk_score": 18},
        "source": {"kind": "sql", "url": f"mysql+{driver}://root@127.0.0.1/{legacy_db}"},
        "target": {"url": f"postgresql+psycopg://postgres@127.0.0.1/{target_db}",
                   "schema": f"hidden_{driver}"},
        "tables": [
            {
                "source": "CITIZEN", "target": "citizens", "key": ["CITIZEN_REF"],
                "columns": {
                    "CITIZEN_REF": "citizen_ref",
                    "SURNAME": "surname",
                    "FORENAME": {"to": "forename", "transform": "strip"},
                    "NINO": {"to": "national_insurance_number", "transform": "upper"},
                    "DOB": {"to": "date_of_birth", "transform": "date:%Y%m%d"},
                    "BALANCE": {"to": "balance", "transform": "decimal:2"},
                    "MIDDLE": {"to": "middle_name", "transform": "null_if:|N/A"},
                },
                "where": "STATUS <> 'X'",
                "tolerance": {"balance": 0.02},
                "updated_at": "UPDATED_AT",
            },
            {
                "source": "VISIT", "target": "visits", "key": ["REGION", "VISIT_NO"],
                "columns": {"PLACE": {"to": "place", "transform": "upper"}},
                "tolerance": {"amount": 0.02},
            },
            {
                "source": "LEDGER_LINE", "target": "ledger_lines", "key": ["LINE_REF"],
                "columns": {"ORDER": "line_order", "AMOUNT": {"to": "amount",
                                                              "transform": "decimal:3"}},
                "where": "VOID = 'N'",
                "tolerance": {"amount": 0.002},
            },
            {
                "source": "PAYMENT", "target": "payments",
                "where": "STATE <> 'Z'",
                "tolerance": {"amount": 0.0002},
            },
        ],
        "batch_rows": 170,
    }  # fmt: skip
    path.write_text(yaml.safe_dump(plan, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# --- differences planted in the target -----------------------------------------------------


def plant(target_db: str, schema: str) -> dict[str, dict[str, Any]]:
    """Per table: one row deleted, one extra, one text changed, one number changed inside
    its tolerance and one outside. Returns what ``switchover reconcile --json`` must say."""
    expected: dict[str, dict[str, Any]] = {}
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={target_db}",
                         autocommit=True) as conn:  # fmt: skip

        def one(sql: str, *args: Any) -> Any:
            row = conn.execute(sql, args).fetchone()
            assert row is not None, sql
            return row[0]

        # citizens: a text key
        t = f"{schema}.citizens"
        conn.execute(f"DELETE FROM {t} WHERE citizen_ref = 'C000010'")
        conn.execute(
            f"INSERT INTO {t} (citizen_ref, surname, status, updated_at) "
            "VALUES ('C999999', 'Extra', 'A', '2020-01-01')"
        )
        conn.execute(f"UPDATE {t} SET surname = 'Smyth' WHERE citizen_ref = 'C000020'")
        conn.execute(f"UPDATE {t} SET balance = balance + 0.01 WHERE citizen_ref = 'C000025'")
        conn.execute(f"UPDATE {t} SET balance = balance + 0.50 WHERE citizen_ref = 'C000026'")
        balance = one(f"SELECT balance FROM {t} WHERE citizen_ref = 'C000026'")
        expected["citizens"] = {
            "missing": [["C000010"]], "extra": [["C999999"]],
            "changed": {("C000020",): {"surname": ["Surname20", "Smyth"]},
                        ("C000026",): {"balance": [None, format(balance, "f")]}},
        }  # fmt: skip

        # visits: a composite key, one part CHAR(3)
        t = f"{schema}.visits"
        conn.execute(f"DELETE FROM {t} WHERE region = 'ABC' AND visit_no = -99")
        conn.execute(f"INSERT INTO {t} (region, visit_no) VALUES ('ZZ', 5000)")
        conn.execute(f"UPDATE {t} SET place = 'CHANGED' WHERE region = 'Z' AND visit_no = -97")
        conn.execute(
            f"UPDATE {t} SET amount = amount + 0.01 WHERE region = 'AB' AND visit_no = -95"
        )
        conn.execute(f"UPDATE {t} SET amount = amount - 1 WHERE region = 'AB' AND visit_no = -90")
        expected["visits"] = {
            "missing": [["ABC", -99]], "extra": [["ZZ", 5000]],
            "changed": {("Z", -97): {"place": [None, "CHANGED"]},
                        ("AB", -90): {"amount": [None, None]}},
        }  # fmt: skip

        # ledger_lines: no primary key in the legacy table, the plan's key
        t = f"{schema}.ledger_lines"
        conn.execute(f"DELETE FROM {t} WHERE line_ref = 'L00002'")
        conn.execute(f"INSERT INTO {t} (line_ref, line_order, void) VALUES ('L99999', 1, 'N')")
        conn.execute(f"UPDATE {t} SET memo = 'changed' WHERE line_ref = 'L00003'")
        conn.execute(f"UPDATE {t} SET amount = amount + 0.001 WHERE line_ref = 'L00004'")
        conn.execute(f"UPDATE {t} SET amount = amount + 0.010 WHERE line_ref = 'L00005'")
        expected["ledger_lines"] = {
            "missing": [["L00002"]], "extra": [["L99999"]],
            "changed": {("L00003",): {"memo": [None, "changed"]},
                        ("L00005",): {"amount": [None, None]}},
        }  # fmt: skip

        # payments: an integer key, nothing transformed (the pushed-down checksums)
        t = f"{schema}.payments"
        conn.execute(f"DELETE FROM {t} WHERE id = 1234")
        conn.execute(f"INSERT INTO {t} (id, state) VALUES (40, 'P')")  # filtered out by `where`
        conn.execute(f"UPDATE {t} SET memo = 'changed' WHERE id = 77")
        conn.execute(f"UPDATE {t} SET amount = amount + 0.0001 WHERE id = 2003")
        conn.execute(f"UPDATE {t} SET amount = amount + 0.0500 WHERE id = 2004")
        expected["payments"] = {
            "missing": [[1234]], "extra": [[40]],
            "changed": {(77,): {"memo": [None, "changed"]},
                        (2004,): {"amount": [None, None]}},
        }  # fmt: skip
    return expected


# --- the test -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hidden_legacy() -> Iterator[str]:
    name = f"so_hidden_{uuid.uuid4().hex[:10]}"
    with mariadb() as admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        build_legacy(name)
        yield name
    finally:
        with mariadb() as admin, admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def _cli_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine_db_url: str, local_env: Any
) -> Iterator[None]:
    monkeypatch.setenv("SWITCHOVER_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SWITCHOVER_DATABASE_URL", engine_db_url)
    monkeypatch.setenv("SWITCHOVER_LOG_FORMAT", "json")
    monkeypatch.setenv(
        "SWITCHOVER_TEMPORAL_ADDRESS", local_env.client.service_client.config.target_host
    )
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def reconcile_json(runner: CliRunner, plan: Path) -> tuple[Result, dict[str, Any]]:
    result = runner.invoke(main, ["reconcile", str(plan), "--json"])
    return result, json.loads(result.stdout)


def by_table(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["table"]: t for t in report["tables"]}


def changed_of(table: dict[str, Any]) -> dict[tuple[Any, ...], dict[str, list[Any]]]:
    return {tuple(c["key"]): c["columns"] for c in table["changed"]}


def legacy_count(database: str, sql: str) -> int:
    with mariadb(database) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return int(cur.fetchone()[0])


@pytest.mark.usefixtures("_cli_settings")
@pytest.mark.parametrize("driver", DRIVERS)
async def test_hidden_legacy_database_migrates_and_reconciles_exactly(
    driver: str,
    local_env: WorkflowEnvironment,
    hidden_legacy: str,
    postgres_name: str,
    engine_db_url: str,
    tmp_path: Path,
) -> None:
    if driver == "mysqldb":
        pytest.importorskip("MySQLdb", reason="mysqlclient is not installed")
    plan = write_plan(tmp_path / "hidden.yaml", hidden_legacy, postgres_name, driver)
    runner = CliRunner()
    validated = await asyncio.to_thread(runner.invoke, main, ["migrate", "validate", str(plan)])
    assert validated.exit_code == 0, validated.output

    workers = build_workers(
        local_env.client,
        ActivitySet(ocr=[], io=[*MigrationActivities(engine_db_url).all(),
                                *ReconcileActivities(engine_db_url).all(),
                                plan_reader(engine_db_url)]),
        queues=(TASK_QUEUE_WORKFLOWS, TASK_QUEUE_IO),
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(workers, stop))
    try:
        run = asyncio.to_thread(runner.invoke, main, ["migrate", "run", str(plan), "--wait",
                                                      "--json"])  # fmt: skip
        try:
            ran = await asyncio.wait_for(run, timeout=300)
        except TimeoutError:
            status = await asyncio.to_thread(
                runner.invoke, main, ["migrate", "status", f"legacy-hidden-{driver}", "--json"]
            )
            pytest.fail(f"the migration did not end; it stands at: {status.output}")
    finally:
        stop.set()
        await task
    assert ran.exit_code == 0, ran.output
    result = json.loads(ran.stdout)
    assert result["state"] == "ready_for_cutover", result
    want_rows = {
        "CITIZEN": legacy_count(hidden_legacy, "SELECT COUNT(*) FROM CITIZEN WHERE STATUS<>'X'"),
        "VISIT": VISIT_ROWS,
        "LEDGER_LINE": legacy_count(
            hidden_legacy, "SELECT COUNT(*) FROM LEDGER_LINE WHERE VOID='N'"
        ),
        "PAYMENT": legacy_count(hidden_legacy, "SELECT COUNT(*) FROM PAYMENT WHERE STATE<>'Z'"),
    }
    for table, rows in want_rows.items():
        assert result["tables"][table]["rows_copied"] == rows, table
        assert result["tables"][table]["state"] == "passed", result["tables"][table]

    clean, report = await asyncio.to_thread(reconcile_json, runner, plan)
    assert clean.exit_code == 0, clean.output
    assert report["passed"] is True
    for table in report["tables"]:
        assert (table["missing"], table["extra"], table["changed"]) == ([], [], []), table
        assert table["legacy_rows"] == table["target_rows"]

    expected = await asyncio.to_thread(plant, postgres_name, f"hidden_{driver}")
    found, report = await asyncio.to_thread(reconcile_json, runner, plan)
    assert found.exit_code == 1, found.output
    assert report["passed"] is False
    tables = by_table(report)
    assert set(tables) == set(expected)
    for name, want in expected.items():
        got = tables[name]
        assert got["passed"] is False
        assert got["stopped"] is None, got
        assert got["missing"] == want["missing"], (name, got)
        assert got["extra"] == want["extra"], (name, got)
        changed = changed_of(got)
        assert set(changed) == set(want["changed"]), (name, got["changed"])
        for key, columns in want["changed"].items():
            assert set(changed[key]) == set(columns), (name, key, changed[key])
            for column, (_, target) in columns.items():
                if target is not None:
                    assert changed[key][column][1] == target, (name, key, changed[key])
        assert (got["missing_count"], got["extra_count"], got["changed_count"]) == (1, 1, 2)
        assert got["target_rows"] == got["legacy_rows"]
    assert "switchover: " in found.stderr


def test_plan_is_designs_format(tmp_path: Path) -> None:
    """The plan the acceptance test writes loads as a plan file (DESIGN.md's format)."""
    from config.migration_plan import load_plan

    plan = load_plan(write_plan(tmp_path / "p.yaml", "legacy", "modern"))
    assert [t.target for t in plan.tables] == ["citizens", "visits", "ledger_lines", "payments"]

"""The way back, against a real legacy MariaDB (127.0.0.1:3306) and the PostgreSQL target:
writes on modern (updates, deletes, inserts, a key re-created, a key moved) reach legacy
exactly through the inverted mapping; legacy's columns that modern lacks or that the plan
keeps hold their values; a worker killed between legacy's commit and the log's delete
applies the same rows again, harmlessly; closing the way back stops the capture."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from adapters.mapping import RowMapper
from adapters.reverse_replication import LOG_TABLE, ReverseApplier, open_reverse_applier
from config.migration_plan import MigrationPlan, parse_plan
from legacy_connectors.sql import SqlSource
from tests.adapters.target.conftest import postgres_url
from tests.legacy_connectors.conftest import mariadb_admin, throwaway_name

__all__ = ["postgres_url"]

SCHEMA = "modern"

LEGACY = """
CREATE TABLE PERSON (ID INT PRIMARY KEY, SURNAME VARCHAR(40), NINO VARCHAR(12),
  DOB VARCHAR(8), BALANCE DECIMAL(10,2), STATUS CHAR(1), NOTES VARCHAR(100));
CREATE TABLE VISIT (PERSON_ID INT, VISIT_DAY VARCHAR(8), REASON VARCHAR(10),
  PRIMARY KEY (PERSON_ID, VISIT_DAY));
INSERT INTO PERSON VALUES
  (1, 'SMITH', 'ab1', '19700101', 10.00, 'A', 'note 1'),
  (2, 'JONES', 'ab2', '19710202', 20.00, 'A', 'note 2'),
  (3, 'BROWN', 'ab3', '19720303', 30.00, 'D', 'note 3'),
  (4, 'GREEN', 'ab4', '19730404', 40.00, 'A', 'note 4'),
  (5, 'WHITE', 'ab5', '19740505', 50.00, 'A', 'note 5');
INSERT INTO VISIT VALUES (1, '20240101', 'H'), (1, '20240102', 'C'), (2, '20240103', 'H')
"""

PLAN = """
system: {id: legacy-reverse, name: Reverse}
source: {kind: sql, url: "LEGACY_URL"}
target: {url: "TARGET_URL", schema: modern}
tables:
  - source: PERSON
    target: people
    columns:
      ID: person_id
      SURNAME: {to: surname, transform: strip}
      NINO: {to: nino, transform: upper, inverse: keep}
      DOB: {to: date_of_birth, transform: "date:%Y%m%d"}
      BALANCE: {to: balance, transform: "decimal:2"}
      STATUS: {to: status, transform: "map:A=active|D=dormant"}
  - source: VISIT
    target: visits
    columns:
      VISIT_DAY: {to: visit_day, transform: "date:%Y%m%d"}
      REASON: {to: reason, transform: "map:H=home|C=clinic"}
"""


@pytest.fixture
def legacy_url() -> Iterator[str]:
    name = throwaway_name("reverse")
    admin = mariadb_admin()
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{name}`")
        for statement in filter(str.strip, LEGACY.split(";")):
            cur.execute(statement)
    try:
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE `{name}`")
        admin.close()


@pytest.fixture
def plan(legacy_url: str, postgres_url: str) -> MigrationPlan:
    """The plan, with modern holding a copy of legacy (less the NOTES column: modern has
    no use for it) and the reverse capture installed."""
    plan = parse_plan(PLAN.replace("LEGACY_URL", legacy_url).replace("TARGET_URL", postgres_url))
    with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(
            f"CREATE TABLE {SCHEMA}.people (person_id bigint PRIMARY KEY, surname text, "
            "nino text, date_of_birth date, balance numeric(12,2), status text)"
        )
        conn.execute(
            f"CREATE TABLE {SCHEMA}.visits (person_id bigint, visit_day date, "
            "reason text, PRIMARY KEY (person_id, visit_day))"
        )
        with SqlSource(legacy_url) as legacy, conn.cursor() as cur:
            for table in plan.tables:
                mapper = RowMapper(table, legacy.table_info(table.source))
                names = [c.name for c in mapper.target_columns if c.name != "notes"]
                for batch in legacy.read(table.source, mapper.source_key, batch_rows=100):
                    for row in batch:
                        mapped = mapper.map(row)
                        cur.execute(
                            f"INSERT INTO {SCHEMA}.{table.target} ({', '.join(names)}) "
                            f"VALUES ({', '.join(['%s'] * len(names))})",
                            [mapped[n] for n in names],
                        )
    with open_reverse_applier(plan) as applier:
        applier.install()
        applier.install()  # idempotent
        assert applier.installed()
    return plan


def _modern(plan: MigrationPlan, *statements: str) -> None:
    with psycopg.connect(plan.target.url.replace("+psycopg", "")) as conn:
        for statement in statements:
            conn.execute(statement.replace("{s}", SCHEMA))


def _legacy(plan: MigrationPlan, table: str) -> dict[Any, dict[str, Any]]:
    with SqlSource(plan.source.url) as legacy:  # type: ignore[union-attr]
        key = legacy.table_info(table).key
        assert key is not None
        rows = [row for batch in legacy.read(table, key, batch_rows=100) for row in batch]
    return {row[key[0]] if len(key) == 1 else tuple(row[k] for k in key): row for row in rows}


def _writes_on_modern(plan: MigrationPlan) -> None:
    _modern(
        plan,
        "UPDATE {s}.people SET surname = 'SMYTH', balance = 10.50, status = 'dormant', "
        "nino = 'ZZ9' WHERE person_id = 1",
        "DELETE FROM {s}.people WHERE person_id = 2",
        "INSERT INTO {s}.people VALUES (6, 'BLACK', 'AB6', '1980-06-06', 60.25, 'active')",
        "DELETE FROM {s}.people WHERE person_id = 3",
        "INSERT INTO {s}.people VALUES (3, 'BROWNE', 'AB3', '1972-03-04', 31.00, 'active')",
        "UPDATE {s}.people SET person_id = 40 WHERE person_id = 4",
        "UPDATE {s}.visits SET reason = 'home' WHERE person_id = 1 AND visit_day = '2024-01-02'",
        "DELETE FROM {s}.visits WHERE person_id = 2",
        "INSERT INTO {s}.visits VALUES (6, '2024-02-29', 'clinic')",
    )


def _assert_legacy_has_moderns_writes(plan: MigrationPlan) -> None:
    people = _legacy(plan, "PERSON")
    assert sorted(people) == [1, 3, 5, 6, 40]
    assert people[1] == {
        "ID": 1,
        "SURNAME": "SMYTH",
        "NINO": "ab1",
        "DOB": "19700101",
        "BALANCE": Decimal("10.50"),
        "STATUS": "D",
        "NOTES": "note 1",
    }
    assert people[3]["SURNAME"] == "BROWNE"
    assert people[3]["DOB"] == "19720304"
    assert people[3]["STATUS"] == "A"
    assert people[3]["BALANCE"] == Decimal("31.00")
    assert people[6] == {
        "ID": 6,
        "SURNAME": "BLACK",
        "NINO": None,
        "DOB": "19800606",
        "BALANCE": Decimal("60.25"),
        "STATUS": "A",
        "NOTES": None,
    }
    assert people[40]["SURNAME"] == "GREEN"
    assert people[40]["DOB"] == "19730404"
    assert people[5]["NOTES"] == "note 5"  # untouched
    visits = _legacy(plan, "VISIT")
    assert visits == {
        (1, "20240101"): {"PERSON_ID": 1, "VISIT_DAY": "20240101", "REASON": "H"},
        (1, "20240102"): {"PERSON_ID": 1, "VISIT_DAY": "20240102", "REASON": "H"},
        (6, "20240229"): {"PERSON_ID": 6, "VISIT_DAY": "20240229", "REASON": "C"},
    }


def _log_rows(plan: MigrationPlan) -> int:
    with psycopg.connect(plan.target.url.replace("+psycopg", "")) as conn:
        found = conn.execute(f"SELECT count(*) FROM {SCHEMA}.{LOG_TABLE}").fetchone()
    assert found is not None
    return int(found[0])


def test_modern_writes_reach_legacy_exactly(plan: MigrationPlan) -> None:
    _writes_on_modern(plan)
    with open_reverse_applier(plan, batch_rows=3) as applier:
        lag = applier.lag()
        assert lag.rows_waiting == 9  # a moved key is one row naming both keys
        assert lag.oldest_s >= 0
        done = applier.catch_up()
        assert done.log_rows == 9
        assert done.batches == 3
        assert applier.lag().rows_waiting == 0
        assert applier.catch_up().log_rows == 0
    _assert_legacy_has_moderns_writes(plan)


def test_a_worker_killed_between_legacys_commit_and_the_logs_delete_applies_again(
    plan: MigrationPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    _writes_on_modern(plan)

    def killed(self: ReverseApplier, ids: list[int]) -> None:
        raise KeyboardInterrupt("worker killed")

    with open_reverse_applier(plan, batch_rows=100) as applier:
        with monkeypatch.context() as patched:
            patched.setattr(ReverseApplier, "forget", killed)
            with pytest.raises(KeyboardInterrupt):
                applier.catch_up()
        _assert_legacy_has_moderns_writes(plan)  # legacy committed
        assert _log_rows(plan) == 9  # the log was not told
        # Meanwhile modern writes again; the restarted worker applies everything.
        _modern(plan, "UPDATE {s}.people SET surname = 'SMYTHE' WHERE person_id = 1")
        assert applier.catch_up().log_rows == 10
    people = _legacy(plan, "PERSON")
    assert people[1]["SURNAME"] == "SMYTHE"
    assert people[1]["NOTES"] == "note 1"
    assert _log_rows(plan) == 0


def test_closing_the_way_back_applies_the_rest_and_stops_capturing(plan: MigrationPlan) -> None:
    _writes_on_modern(plan)
    with open_reverse_applier(plan) as applier:
        assert applier.end().log_rows == 9
        assert not applier.installed()
        _modern(plan, "UPDATE {s}.people SET surname = 'LATER' WHERE person_id = 5")
        assert applier.lag().rows_waiting == 0
        assert applier.end().log_rows == 0  # idempotent
    _assert_legacy_has_moderns_writes(plan)
    assert _legacy(plan, "PERSON")[5]["SURNAME"] == "WHITE"


def test_a_modern_row_state_is_applied_not_its_history(plan: MigrationPlan) -> None:
    """Many writes to one row between catch-ups: legacy gets the last state, once."""
    _modern(
        plan, *[f"UPDATE {{s}}.people SET balance = {n} WHERE person_id = 5" for n in range(1, 30)]
    )
    with open_reverse_applier(plan) as applier:
        done = applier.catch_up()
    assert (done.log_rows, done.upserts) == (29, 1)
    assert _legacy(plan, "PERSON")[5]["BALANCE"] == Decimal("29.00")
    assert date(1974, 5, 5).strftime("%Y%m%d") == _legacy(plan, "PERSON")[5]["DOB"]

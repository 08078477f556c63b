"""Freezing legacy sources: real SQLite, MariaDB and PostgreSQL databases made read-only by
plan statements and shown to refuse a write; file sources made read-only and summed."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import psycopg
import pymysql
import pytest

from adapters.decommission import freeze_legacy, read_freeze_record, source_files
from adapters.storage import DocumentStore, LocalStore
from domain.errors import PlanError, ValidationFailed
from tests.adapters.decommission.conftest import (
    SQLITE_FREEZE,
    SYSTEM,
    database_of,
    make_sqlite,
    mariadb_freeze,
    write_plan,
)
from tests.conftest import need_corpus
from tests.legacy_connectors.conftest import mariadb_admin


def test_sqlite_triggers_freeze_it_and_a_write_is_refused(
    tmp_path: Path, local_store: LocalStore
) -> None:
    url = make_sqlite(tmp_path / "legacy.db")
    plan = write_plan(
        tmp_path, {"kind": "sql", "url": url}, tables=["people"], freeze_sql=SQLITE_FREEZE
    )
    result = freeze_legacy(plan, local_store)
    assert result.statements_run == 6
    assert result.write_refused
    assert "people" in result.detail
    assert "frozen: retired system" in result.detail
    # Independently of our code: a plain connection cannot change the table either.
    with sqlite3.connect(tmp_path / "legacy.db") as db:
        with pytest.raises(sqlite3.IntegrityError, match="frozen"):
            db.execute("DELETE FROM people")
        assert db.execute("SELECT count(*) FROM people").fetchone() == (3,)
    db.close()
    # The statements are repeatable, so a retried freeze passes again.
    assert freeze_legacy(plan, local_store).write_refused


def test_a_freeze_that_does_not_hold_is_an_error_and_writes_nothing(
    tmp_path: Path, local_store: LocalStore
) -> None:
    url = make_sqlite(tmp_path / "legacy.db")
    plan = write_plan(
        tmp_path, {"kind": "sql", "url": url}, tables=["people"],
        freeze_sql=["SELECT 1"],  # binds nothing
        freeze_check="UPDATE people SET name = 'CHANGED' WHERE id = 2",
    )  # fmt: skip
    with pytest.raises(ValidationFailed, match=r"the freeze did not hold.*freeze_check"):
        freeze_legacy(plan, local_store)
    with sqlite3.connect(tmp_path / "legacy.db") as db:
        # The proving write was rolled back.
        assert db.execute("SELECT name FROM people WHERE id = 2").fetchone() == ("O'Brien",)
    db.close()


def test_the_default_proof_writes_one_row_of_the_first_table_with_one(
    tmp_path: Path, local_store: LocalStore
) -> None:
    url = make_sqlite(tmp_path / "legacy.db")
    with sqlite3.connect(tmp_path / "legacy.db") as db:
        db.execute("CREATE TABLE empty_first (id INTEGER PRIMARY KEY, v TEXT)")
    db.close()
    plan = write_plan(
        tmp_path, {"kind": "sql", "url": url}, tables=["empty_first", "events"],
        freeze_sql=["SELECT 1"],
    )  # fmt: skip
    # empty_first has no row to write; events (no key) has: the write there succeeds.
    with pytest.raises(ValidationFailed, match=r"a write to events\.code succeeded"):
        freeze_legacy(plan, local_store)


def test_nothing_to_prove_on_needs_a_freeze_check(tmp_path: Path, local_store: LocalStore) -> None:
    url = make_sqlite(tmp_path / "legacy.db", empty=True)
    plan = write_plan(
        tmp_path, {"kind": "sql", "url": url}, tables=["people"], freeze_sql=SQLITE_FREEZE
    )
    with pytest.raises(PlanError, match="freeze_check"):
        freeze_legacy(plan, local_store)
    checked = write_plan(
        tmp_path, {"kind": "sql", "url": url}, tables=["people"], freeze_sql=SQLITE_FREEZE,
        freeze_check="INSERT INTO people (id, name) VALUES (99, 'probe')",
    )  # fmt: skip
    assert freeze_legacy(checked, local_store).write_refused


def test_a_failing_statement_is_named(tmp_path: Path, local_store: LocalStore) -> None:
    url = make_sqlite(tmp_path / "legacy.db")
    plan = write_plan(
        tmp_path, {"kind": "sql", "url": url}, tables=["people"],
        freeze_sql=[SQLITE_FREEZE[0], "CREATE TRIGGER nonsense"],
    )  # fmt: skip
    with pytest.raises(PlanError, match=r"freeze_sql\[1\] failed"):
        freeze_legacy(plan, local_store)


def test_a_sql_source_needs_statements(tmp_path: Path, local_store: LocalStore) -> None:
    url = make_sqlite(tmp_path / "legacy.db")
    plan = write_plan(tmp_path, {"kind": "sql", "url": url}, tables=["people"])
    with pytest.raises(PlanError, match="freeze_sql"):
        freeze_legacy(plan, local_store)


def test_mariadb_triggers_bind_root(
    tmp_path: Path, mariadb_url: str, local_store: LocalStore
) -> None:
    database = database_of(mariadb_url)
    plan = write_plan(
        tmp_path, {"kind": "sql", "url": mariadb_url}, tables=["people"],
        freeze_sql=mariadb_freeze(database),
    )  # fmt: skip
    result = freeze_legacy(plan, local_store)
    assert result.write_refused
    assert result.statements_run == 6
    assert "frozen: retired system" in result.detail
    assert freeze_legacy(plan, local_store).write_refused  # retried: IF NOT EXISTS
    # root, with every privilege, is refused too.
    admin = mariadb_admin()
    try:
        with admin.cursor() as cur, pytest.raises(pymysql.err.OperationalError, match="frozen"):
            cur.execute(f"INSERT INTO `{database}`.people (id, name) VALUES (9, 'x')")
    finally:
        admin.close()


def test_postgres_read_only_default_binds_new_sessions(
    tmp_path: Path, postgres_url: str, local_store: LocalStore
) -> None:
    database = database_of(postgres_url)
    plan = write_plan(
        tmp_path, {"kind": "sql", "url": postgres_url}, tables=["people"],
        freeze_sql=[f'ALTER DATABASE "{database}" SET default_transaction_read_only = on'],
    )  # fmt: skip
    result = freeze_legacy(plan, local_store)
    assert result.write_refused
    assert "read-only transaction" in result.detail
    # A retried freeze meets a database whose sessions are now read-only by default; its
    # own session is made writable, so the statement runs again and the proof holds.
    assert freeze_legacy(plan, local_store).write_refused
    with (
        psycopg.connect(f"host=127.0.0.1 user=postgres dbname={database}") as db,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        db.execute("DELETE FROM people")


def _copy(files: list[Path], folder: Path) -> list[Path]:
    folder.mkdir()
    return [Path(shutil.copy2(f, folder / f.name)) for f in files]


def test_file_sources_are_made_read_only_and_summed(tmp_path: Path, store: DocumentStore) -> None:
    base = need_corpus("dbf", "infused-dbf")
    dbf, memo = _copy([base / "dbase_83.dbf", base / "dbase_83.dbt"], tmp_path / "legacy")
    plan = write_plan(tmp_path, {"kind": "dbf", "path": str(dbf)}, tables=["dbase_83"])
    assert [f.name for f in source_files(plan.source)] == ["dbase_83.dbf", "dbase_83.dbt"]

    result = freeze_legacy(plan, store)

    for path in (dbf, memo):
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0
    record = read_freeze_record(store, SYSTEM)
    assert record is not None
    assert {f.name: f.sha256 for f in record.files} == {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (dbf, memo)
    }
    # Root is not bound by file modes; the result must say which case this is.
    as_root = os.geteuid() == 0
    assert result.write_refused is not as_root
    assert result.statements_run == 0
    if as_root:
        assert "root" in result.detail
        assert "archive" in result.detail


def test_freeze_statements_for_a_file_source_are_refused(
    tmp_path: Path, local_store: LocalStore
) -> None:
    base = need_corpus("dbf", "dbfread")
    (people,) = _copy([base / "people.dbf"], tmp_path / "legacy")
    plan = write_plan(
        tmp_path, {"kind": "dbf", "path": str(people)}, tables=["people"], freeze_sql=["x"]
    )
    with pytest.raises(PlanError, match="for sql sources"):
        freeze_legacy(plan, local_store)

"""Engine databases for the db tests: every test runs on SQLite and on PostgreSQL.

SQLite: the migrated schema is built once per session and copied for each test.
PostgreSQL: a throwaway database ``switchover_test_<random>`` on 127.0.0.1:5432 (or
``SWITCHOVER_TEST_POSTGRES_URL``), migrated once, emptied before each test, dropped at the
end. Unreachable PostgreSQL fails the run in CI (``CI=true``) and skips it elsewhere.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import URL, make_url, text

from db.migrate import upgrade
from db.models import Base
from db.session import dispose_engines, get_engine

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "SWITCHOVER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _admin_connection(url: URL) -> psycopg.Connection:
    return psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database or "postgres",
        autocommit=True,
        connect_timeout=3,
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a migrated throwaway PostgreSQL database, dropped after the session."""
    admin = make_url(POSTGRES_ADMIN_URL)
    try:
        connection = _admin_connection(admin)
    except psycopg.OperationalError as e:
        message = f"PostgreSQL is unreachable at {admin.host}:{admin.port or 5432}: {e}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(f"{message} (set CI=true to make this a failure)")
    name = f"switchover_test_{secrets.token_hex(4)}"
    with connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        dispose_engines()
        with _admin_connection(admin) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, to copy for each test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "switchover.db"
    upgrade(f"sqlite:///{path}")
    return path


def _copy_sqlite(source: Path, target: Path) -> None:
    # The backup API copies a consistent database, WAL content included.
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _empty_postgres(url: str) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with get_engine(url).begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated engine database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "switchover.db"
        _copy_sqlite(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
        _empty_postgres(url)
    try:
        yield url
    finally:
        dispose_engines()

"""Throwaway databases on the shared MariaDB and PostgreSQL servers.

Each test module that needs a server gets its own database, dropped afterwards; the
shared servers themselves are never stopped or reconfigured. An unreachable server skips
these tests on a developer's machine and fails them in CI (CI=true).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import psycopg
import pymysql
import pytest

from tests.conftest import IN_CI

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root"}
POSTGRES = "host=127.0.0.1 port=5432 user=postgres"


def unreachable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def mariadb_admin() -> pymysql.Connection:
    """An autocommit connection to the shared MariaDB server, for setting up test data."""
    try:
        return pymysql.connect(**MARIADB, autocommit=True, charset="utf8mb4", connect_timeout=5)
    except pymysql.err.OperationalError as e:
        unreachable("MariaDB on 127.0.0.1:3306", e)
        raise


def postgres_admin(dbname: str = "postgres") -> psycopg.Connection:
    try:
        return psycopg.connect(f"{POSTGRES} dbname={dbname}", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        unreachable("PostgreSQL on 127.0.0.1:5432", e)
        raise


def throwaway_name(prefix: str) -> str:
    return f"so_{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def mariadb_db() -> Iterator[str]:
    """A new, empty MariaDB database; yields its name."""
    name = throwaway_name("maria")
    admin = mariadb_admin()
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture(scope="module")
def postgres_db() -> Iterator[str]:
    """A new, empty PostgreSQL database; yields its name."""
    name = throwaway_name("pg")
    admin = postgres_admin()
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def run_mariadb_script(sql: str) -> None:
    mariadb_admin().close()  # skip or fail clearly before running the client
    subprocess.run(
        ["mysql", "-h", "127.0.0.1", "-P", "3306", "-u", "root", "--default-character-set=utf8mb4"],
        input=sql.encode(),
        check=True,
        capture_output=True,
    )


def run_postgres_script(sql: str) -> None:
    postgres_admin().close()
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            "postgres",
        ],
        input=sql.encode(),
        check=True,
        capture_output=True,
    )

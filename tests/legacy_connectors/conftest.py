"""Throwaway databases on the shared MariaDB and PostgreSQL servers.

Each test module that needs a server gets its own database, dropped afterwards; the
shared servers themselves are never stopped or reconfigured. An unreachable server skips
these tests on a developer's machine and fails them in CI (CI=true).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from switchover.devserver import free_port
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


# --- servers of our own, configured for change streams --------------------------------


def _wait_until(ready: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(0.2)
    return False


@contextlib.contextmanager
def binlog_mariadb_server() -> Iterator[dict[str, Any]]:
    """A MariaDB server of our own with the row-based binlog on (the shared one has it off),
    in a temporary directory; root without a password over TCP. Yields pymysql settings."""
    if shutil.which("mariadbd") is None or shutil.which("mariadb-install-db") is None:
        unreachable("a MariaDB server with the binlog", FileNotFoundError("mariadbd"))
    base = Path(tempfile.mkdtemp(prefix="so_binlog_"))
    port = free_port()
    data = base / "data"
    user = ["--user=root"] if os.geteuid() == 0 else []
    process: subprocess.Popen[bytes] | None = None
    settings: dict[str, Any] = {"host": "127.0.0.1", "port": port, "user": "root"}
    try:
        try:
            subprocess.run(
                ["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                 "--auth-root-authentication-method=normal", "--skip-test-db", *user],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            process = subprocess.Popen(
                ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={base / 'sock'}",
                 f"--port={port}", "--bind-address=127.0.0.1", f"--log-bin={data / 'binlog'}",
                 "--binlog-format=ROW", "--binlog-row-image=FULL", "--binlog-row-metadata=FULL",
                 "--server-id=1", "--skip-name-resolve", "--innodb-buffer-pool-size=32M",
                 *user],
                stdout=subprocess.DEVNULL, stderr=(base / "error.log").open("wb"),
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as e:
            unreachable("a MariaDB server with the binlog", e)
        started = process

        def answers() -> bool:
            try:
                pymysql.connect(**settings, connect_timeout=2).close()
            except pymysql.err.OperationalError:
                return started is not None and started.poll() is not None
            return True

        if not _wait_until(answers, 60) or (process is not None and process.poll() is not None):
            unreachable("a MariaDB server with the binlog", RuntimeError("it did not start"))
        yield settings
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def binlog_mariadb() -> Iterator[dict[str, Any]]:
    """pymysql settings of a MariaDB server of our own with the row-based binlog on."""
    with binlog_mariadb_server() as settings:
        yield settings


_PG_BIN = Path("/usr/lib/postgresql/15/bin")


@contextlib.contextmanager
def logical_postgres_server() -> Iterator[str]:
    """A PostgreSQL server of our own with ``wal_level=logical`` (the shared one has
    ``replica``), in a temporary directory owned by postgres when run as root. Yields the
    libpq URL of its ``postgres`` database (user postgres, trust)."""
    if not (_PG_BIN / "initdb").exists():
        unreachable("a PostgreSQL server with wal_level=logical", FileNotFoundError("initdb"))
    base = Path(tempfile.mkdtemp(prefix="so_logical_"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    process: subprocess.Popen[bytes] | None = None
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        try:
            subprocess.run(
                [*as_postgres, str(_PG_BIN / "initdb"), "-D", str(base / "data"), "-A", "trust",
                 "-U", "postgres", "--no-sync"],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            process = subprocess.Popen(
                [*as_postgres, str(_PG_BIN / "postgres"), "-D", str(base / "data"),
                 "-p", str(port), "-c", "wal_level=logical", "-c", "listen_addresses=127.0.0.1",
                 "-k", str(base), "-c", "max_replication_slots=8", "-c", "fsync=off",
                 "-c", "shared_buffers=16MB"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as e:
            unreachable("a PostgreSQL server with wal_level=logical", e)
        started = process

        def answers() -> bool:
            try:
                psycopg.connect(url, connect_timeout=2).close()
            except psycopg.OperationalError:
                return started is not None and started.poll() is not None
            return True

        if not _wait_until(answers, 60) or (process is not None and process.poll() is not None):
            unreachable("a PostgreSQL server with wal_level=logical", RuntimeError("no start"))
        yield url
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def logical_postgres() -> Iterator[str]:
    """The libpq URL of a PostgreSQL server of our own with ``wal_level=logical``."""
    with logical_postgres_server() as url:
        yield url

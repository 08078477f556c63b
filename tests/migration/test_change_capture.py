"""The migration kept in step by a change stream, while a citizen-facing service writes:
the profile begins the stream before the copy, catch-up applies it (deletes, re-created
keys and a table without ``updated_at`` included), and reconciliation at a stream position
passes round after round under 15+ writes a second with no re-sync; once the writes stop
the target equals legacy exactly.

The legacy side is a MariaDB server of our own with the row-based binlog on, or a
PostgreSQL server of our own with ``wal_level=logical``; the target is the shared
PostgreSQL. The activities run in this process, as a worker would run them.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import yaml
from temporalio.exceptions import ApplicationError

from activities.cutover import with_lag
from activities.migrate import MigrationActivities
from activities.reconcile import ReconcileActivities
from adapters.change_capture import change_lag, stop_stream
from adapters.reconciliation.engine import open_reconciler
from config.migration_plan import load_plan
from domain.cutover import GateFigures
from domain.migration import (
    CopyBatchInput,
    PrepareTargetInput,
    ProfileInput,
    ReconcileTableInput,
)
from legacy_connectors import open_source
from switchover.migrate import check_plan
from tests.legacy_connectors.conftest import binlog_mariadb, logical_postgres, throwaway_name
from tests.migration.conftest import engine_db_url, mariadb, postgres_name

__all__ = ["binlog_mariadb", "engine_db_url", "logical_postgres", "postgres_name"]

ROWS = 2_000
WRITES_PER_S = 15
ROUNDS = 3

MARIADB_DDL = """CREATE TABLE claim (
  id INT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL,
  amount DECIMAL(10,2) NULL, status CHAR(1) NOT NULL)"""
POSTGRES_DDL = """CREATE TABLE claim (
  id integer PRIMARY KEY, name varchar(40) NOT NULL,
  amount numeric(10,2), status char(1) NOT NULL)"""


def _claim(i: int, rng: random.Random) -> tuple[Any, ...]:
    return (i, f"Claimant {rng.randrange(10**6)}", Decimal(rng.randrange(10**6)) / 100,
            rng.choice("ANS"))  # fmt: skip


class Service:
    """A legacy service's writes: inserts, updates, deletes and re-creations of deleted
    keys, each its own transaction, at a steady rate, until stopped."""

    def __init__(self, connect: Callable[[], Any], rate: float) -> None:
        self.connect = connect
        self.rate = rate
        self.acknowledged = 0
        self.deleted: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> Service:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)
        assert self.error is None, self.error

    def _run(self) -> None:
        rng = random.Random(99)
        p = "%s"  # both drivers' placeholder
        next_id = ROWS + 1
        try:
            conn = self.connect()
            cur = conn.cursor()
            while not self._stop.is_set():
                op = rng.random()
                if op < 0.35:
                    cur.execute(f"INSERT INTO claim VALUES ({p},{p},{p},{p})",
                                _claim(next_id, rng))  # fmt: skip
                    next_id += 1
                elif op < 0.75:
                    cur.execute(f"UPDATE claim SET amount = {p}, status = {p} WHERE id = {p}",
                                (Decimal(rng.randrange(10**6)) / 100, rng.choice("ANS"),
                                 rng.randrange(1, next_id)))  # fmt: skip
                elif op < 0.9 or not self.deleted:
                    gone = rng.randrange(1, next_id)
                    cur.execute(f"DELETE FROM claim WHERE id = {p}", (gone,))
                    self.deleted.add(gone)
                else:
                    again = self.deleted.pop()
                    cur.execute(f"DELETE FROM claim WHERE id = {p}", (again,))
                    cur.execute(f"INSERT INTO claim VALUES ({p},{p},{p},{p})", _claim(again, rng))
                conn.commit()
                self.acknowledged += 1
                time.sleep(1 / self.rate)
            conn.close()
        except BaseException as e:  # reported by __exit__
            self.error = e


@pytest.fixture
def mariadb_legacy(binlog_mariadb: dict[str, Any]) -> Iterator[tuple[str, Callable[[], Any]]]:
    name = throwaway_name("live")
    rng = random.Random(5)
    with pymysql.connect(**binlog_mariadb, autocommit=True) as admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"USE `{name}`")
        cur.execute(MARIADB_DDL)
        cur.executemany("INSERT INTO claim VALUES (%s,%s,%s,%s)",
                        [_claim(i, rng) for i in range(1, ROWS + 1)])  # fmt: skip
    yield (
        f"mysql+pymysql://root@127.0.0.1:{binlog_mariadb['port']}/{name}",
        lambda: pymysql.connect(**binlog_mariadb, database=name),
    )
    with pymysql.connect(**binlog_mariadb, autocommit=True) as admin, admin.cursor() as cur:
        cur.execute(f"DROP DATABASE `{name}`")


@pytest.fixture
def postgres_legacy(logical_postgres: str) -> Iterator[tuple[str, Callable[[], Any]]]:
    name = throwaway_name("live")
    with psycopg.connect(logical_postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = logical_postgres.rsplit("/", 1)[0] + f"/{name}"
    rng = random.Random(5)
    with psycopg.connect(url) as conn:
        conn.execute(POSTGRES_DDL)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO claim VALUES (%s,%s,%s,%s)",
                            [_claim(i, rng) for i in range(1, ROWS + 1)])  # fmt: skip
    yield url.replace("postgresql://", "postgresql+psycopg://"), lambda: psycopg.connect(url)
    with psycopg.connect(logical_postgres, autocommit=True) as admin:
        admin.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                      "WHERE database = %s", (name,))  # fmt: skip
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _plan(tmp_path: Path, source_url: str, postgres_name: str, mode: str = "on") -> str:
    plan = {
        "system": {"id": f"live-{uuid.uuid4().hex[:6]}", "name": "Live claims"},
        "source": {"kind": "sql", "url": source_url, "change_stream": mode},
        "target": {"url": f"postgresql+psycopg://postgres@127.0.0.1/{postgres_name}",
                   "schema": f"s_{uuid.uuid4().hex[:8]}"},
        "tables": [{"source": "claim", "target": "claims", "key": ["id"]}],
        "batch_rows": 500,
    }  # fmt: skip
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan), encoding="utf-8")
    return str(path)


def _copy(activities: MigrationActivities, plan: str) -> None:
    activities.prepare_target(PrepareTargetInput(plan_path=plan, table="claim"))
    after = None
    while True:
        done = activities.copy_batch(
            CopyBatchInput(plan_path=plan, table="claim", after=after, max_rows=300)
        )
        after = done.last_key or after
        if done.done:
            return
        time.sleep(0.1)  # a slow copy: the service writes behind it and ahead of it


def _migrated_under_writes(plan: str, engine_db_url: str, connect: Callable[[], Any]) -> list[Any]:
    nothing = lambda *_: None  # noqa: E731
    migration = MigrationActivities(engine_db_url, heartbeat=nothing)
    reconcile = ReconcileActivities(engine_db_url, heartbeat=nothing)
    profile = migration.profile_system(ProfileInput(plan_path=plan))
    assert profile.change_stream is not None
    reports = []
    with Service(connect, WRITES_PER_S) as service:
        _copy(migration, plan)
        caught_up = migration.catch_up_table(_catch_up(plan))
        assert caught_up.by_stream
        assert caught_up.position
        for _ in range(ROUNDS):
            reports.append(
                reconcile.reconcile_table(ReconcileTableInput(plan_path=plan, table="claim"))
            )
            time.sleep(0.5)
    assert service.acknowledged >= WRITES_PER_S * 2
    assert service.deleted, "the service deleted rows"
    # the writes have stopped: a plain compare (no stream position) finds every row exact
    migration.catch_up_table(_catch_up(plan))
    assert _changes_behind(plan) == 0
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("UPDATE claim SET status = 'Z' WHERE id IN (1, 2, 3)")
    conn.commit()
    conn.close()
    lag = change_lag(load_plan(plan))
    assert lag is not None
    assert lag.changes_behind == 3
    assert lag.seconds_behind >= 0
    figures = with_lag(GateFigures(requests=1, error_rate=0, p95_ms=None, mismatch_rate=None,
                                   reconciliation_passed=True), lag, max_lag_s=0.0001)  # fmt: skip
    assert figures.changes_behind == 3
    assert "behind legacy's writes (3 changes" in figures.failures[0]
    migration.catch_up_table(_catch_up(plan))
    assert _changes_behind(plan) == 0
    with open_reconciler(load_plan(plan)) as reconciler:
        exact = reconciler.reconcile("claim").report
    assert exact.passed, exact.design_json()
    assert exact.legacy_rows == exact.target_rows
    return reports


def _changes_behind(plan: str) -> int:
    lag = change_lag(load_plan(plan))
    assert lag is not None
    assert lag.applied is not None
    return lag.changes_behind


def _catch_up(plan: str) -> Any:
    import datetime as dt

    from domain.migration import CatchUpInput

    return CatchUpInput(plan_path=plan, table="claim", since=dt.datetime.now(dt.UTC))


@pytest.mark.parametrize("legacy", ["mariadb_legacy", "postgres_legacy"])
def test_the_change_stream_keeps_the_copy_in_step_and_gates_pass_under_writes(
    legacy: str,
    postgres_name: str,
    engine_db_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """MariaDB through its binlog, PostgreSQL through logical decoding."""
    url, connect = request.getfixturevalue(legacy)
    plan = _plan(tmp_path, url, postgres_name)
    reports = _migrated_under_writes(plan, engine_db_url, connect)
    assert all(r.passed for r in reports), [r.model_dump() for r in reports]
    assert all(r.position for r in reports)
    # legacy frozen: the stream ends (a PostgreSQL slot would hold its WAL for ever)
    loaded = load_plan(plan)
    source = open_source(loaded.source)
    try:
        assert stop_stream(loaded, source)
        assert stop_stream(loaded, source)  # idempotent
    finally:
        source.close()
    if legacy == "postgres_legacy":
        with connect() as conn:
            slots = conn.execute(
                "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"
            ).fetchone()
        assert slots == (0,)


def test_a_server_without_a_binlog_is_refused_when_required_and_skipped_when_optional(
    postgres_name: str, engine_db_url: str, tmp_path: Path
) -> None:
    name = throwaway_name("nobinlog")
    with mariadb() as admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"USE `{name}`")
        cur.execute(MARIADB_DDL)
    try:
        url = f"mysql+pymysql://root@127.0.0.1/{name}"
        migration = MigrationActivities(engine_db_url, heartbeat=lambda *_: None)
        required = _plan(tmp_path, url, postgres_name, mode="on")
        with pytest.raises(
            ApplicationError, match=r"PlanError: the change stream is not ready: .*log_bin"
        ):
            migration.profile_system(ProfileInput(plan_path=required))
        check = check_plan(load_plan(required))
        assert any("change stream" in p and "log_bin" in p for p in check.problems)

        optional = _plan(tmp_path, url, postgres_name, mode="auto")
        assert migration.profile_system(ProfileInput(plan_path=optional)).change_stream is None
        assert not migration.catch_up_table(_catch_up(optional)).by_stream
        # a system that never used a stream gets no bookkeeping table in its schema
        schema = load_plan(optional).target.db_schema
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={postgres_name}") as conn:
            table = f'"{schema}"._switchover_change_position'
            found = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        assert found == (None,)
        check = check_plan(load_plan(optional))
        assert check.passed
        assert any("log_bin" in w for w in check.warnings)
    finally:
        with mariadb() as admin, admin.cursor() as cur:
            cur.execute(f"DROP DATABASE `{name}`")

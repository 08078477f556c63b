"""Applying a MariaDB binlog to the PostgreSQL target: the result equals a fresh copy, and a
worker killed mid-way (an exception in the apply loop, a real SIGKILL) resumes with
nothing lost and nothing applied twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import psycopg
import pymysql
import pytest

from adapters.mapping import RowMapper
from adapters.target.changes import POSITION_TABLE, ChangeApplier, change_applier
from adapters.target.postgres import PostgresTarget
from config.migration_plan import TablePlan
from domain.errors import PlanError
from legacy_connectors.base import ChangeStream, position_from_json
from legacy_connectors.sql import SqlSource
from tests.legacy_connectors.conftest import binlog_mariadb, logical_postgres, throwaway_name
from tests.legacy_connectors.test_change_streams import SCHEMA, _workload

__all__ = ["binlog_mariadb", "logical_postgres"]  # the server fixtures, used here too

PLAN_TABLES = [
    TablePlan(
        source="account",
        target="accounts",
        key=["id"],
        columns={
            "id": "account_id",
            "name": {"to": "full_name", "transform": "upper"},
            "balance": {"to": "balance", "transform": "decimal:1"},
        },
    ),
    TablePlan(source="line", target="lines"),
    TablePlan(source="loose", target="loose_rows", key=["_row_hash"]),
]


@pytest.fixture
def legacy(binlog_mariadb: dict[str, Any]) -> Iterator[tuple[str, pymysql.Connection]]:
    """A fresh legacy database on the binlog server; its URL and a writing connection."""
    name = throwaway_name("apply")
    admin = pymysql.connect(**binlog_mariadb, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{name}`")
        for statement in filter(str.strip, SCHEMA.split(";")):
            cur.execute(statement)
        # The copy's value path has no target type for a SET (read as a Python set).
        cur.execute("ALTER TABLE account MODIFY tags VARCHAR(10)")
    writer = pymysql.connect(**binlog_mariadb, database=name, charset="utf8mb4")
    yield f"mysql+pymysql://root@127.0.0.1:{binlog_mariadb['port']}/{name}", writer
    writer.close()
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE `{name}`")
    admin.close()


def _mappers(source: SqlSource) -> list[RowMapper]:
    return [RowMapper(t, source.table_info(t.source)) for t in PLAN_TABLES]


def _copy(source: SqlSource, target: PostgresTarget) -> None:
    """The copy as the migration does it: read by key, map, upsert."""
    for mapper in _mappers(source):
        target.prepare(mapper.target_table, mapper.target_columns, mapper.target_key)
        names = [c.name for c in mapper.target_columns]
        for batch in source.read(mapper.table, mapper.source_key, batch_rows=500):
            target.upsert(mapper.target_table, names, mapper.target_key,
                          [mapper.values(r) for r in batch])  # fmt: skip


def _contents(source: SqlSource, target: PostgresTarget) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for mapper in _mappers(source):
        names = [c.name for c in mapper.target_columns]
        out[mapper.target_table] = target.rows(mapper.target_table, names, mapper.target_key)
    return out


def _fresh_copy(source: SqlSource, postgres_url: str) -> dict[str, list[tuple[Any, ...]]]:
    with PostgresTarget(postgres_url, throwaway_name("fresh")) as fresh:
        _copy(source, fresh)
        return _contents(source, fresh)


def _setup(url: str, postgres_url: str) -> tuple[SqlSource, ChangeStream, PostgresTarget, str]:
    source = SqlSource(url)
    source.open()
    stream = source.change_stream()
    assert stream is not None
    schema = throwaway_name("modern")
    return source, stream, PostgresTarget(postgres_url, schema), schema


def _stream_changes(stream: ChangeStream, start: Any) -> int:
    tables = {m.source: m.key or ["id"] for m in PLAN_TABLES}
    tables["line"] = ["account_id", "line_no"]
    return sum(len(t.changes) for t in stream.changes(tables, start))


def test_changes_during_and_after_the_copy_end_equal_to_a_fresh_copy(
    legacy: tuple[str, pymysql.Connection], postgres_url: str
) -> None:
    url, writer = legacy
    source, stream, target, _ = _setup(url, postgres_url)
    _workload(writer, seed=31, steps=30)
    applier = ChangeApplier(target, "legacy-test", _mappers(source), batch_changes=40)
    start = applier.start_at(stream.head())  # before the copy: nothing it misses is lost
    # Citizens keep writing while the copy runs.
    busy = threading.Thread(target=_workload, args=(writer, 32, 120))
    busy.start()
    _copy(source, target)
    busy.join()
    lag = applier.lag(stream)
    assert lag.changes_behind > 0
    assert lag.seconds_behind >= 0
    assert lag.applied == start
    done = applier.catch_up(stream)
    assert done.changes == lag.changes_behind
    assert done.batches > 1
    assert _contents(source, target) == _fresh_copy(source, postgres_url)
    after = applier.lag(stream)
    assert (after.changes_behind, after.seconds_behind) == (0, 0.0)
    assert json.loads(json.dumps(after.to_json()))["changes_behind"] == 0
    # Nothing new: a second catch-up applies nothing and the position stays.
    assert applier.catch_up(stream).changes == 0
    assert applier.position() == done.position
    source.close()
    target.close()


def test_a_failure_mid_batch_resumes_with_nothing_lost_or_doubled(
    legacy: tuple[str, pymysql.Connection], postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, writer = legacy
    source, stream, target, schema = _setup(url, postgres_url)
    applier = ChangeApplier(target, "legacy-test", _mappers(source), batch_changes=25)
    start = applier.start_at(stream.head())
    _copy(source, target)
    _workload(writer, seed=41, steps=150)
    total = _stream_changes(stream, start)
    real_upsert = PostgresTarget.upsert
    calls = {"n": 0}

    def failing_upsert(self: PostgresTarget, *args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 7:  # inside the 3rd or so batch, after its deletes
            raise RuntimeError("worker killed")
        return real_upsert(self, *args, **kwargs)

    monkeypatch.setattr(PostgresTarget, "upsert", failing_upsert)
    with pytest.raises(RuntimeError, match="worker killed"):
        applier.catch_up(stream)
    monkeypatch.setattr(PostgresTarget, "upsert", real_upsert)
    stopped_at = applier.position()
    assert stopped_at is not None
    assert stopped_at != start, "the batches before the failure were kept"
    # A new worker (new connection) finds the position and finishes.
    with PostgresTarget(postgres_url, schema) as again:
        resumed = ChangeApplier(again, "legacy-test", _mappers(source), batch_changes=25)
        assert resumed.position() == stopped_at
        resumed.catch_up(stream)
        assert _contents(source, again) == _fresh_copy(source, postgres_url)
        assert _changes_applied(again, schema) == total
    source.close()
    target.close()


def _changes_applied(target: PostgresTarget, schema: str) -> int:
    with target.conn.transaction(), target.conn.cursor() as cur:
        cur.execute(f'SELECT changes_applied FROM "{schema}".{POSITION_TABLE}')
        row = cur.fetchone()
    return int(row[0]) if row else 0


def _child(arguments: str) -> None:
    """A worker that follows the stream until killed (run by the SIGKILL test)."""
    url, postgres_url, schema = json.loads(arguments)
    source = SqlSource(url)
    stream = source.change_stream()
    assert stream is not None
    with PostgresTarget(postgres_url, schema) as target:
        applier = ChangeApplier(target, "legacy-test", _mappers(source), batch_changes=10)
        applier.follow(stream, stop=lambda: False, poll_s=0.05)


def test_a_worker_killed_by_sigkill_resumes_with_nothing_lost_or_doubled(
    legacy: tuple[str, pymysql.Connection], postgres_url: str
) -> None:
    url, writer = legacy
    source, stream, target, schema = _setup(url, postgres_url)
    applier = ChangeApplier(target, "legacy-test", _mappers(source), batch_changes=10)
    start = applier.start_at(stream.head())
    _copy(source, target)
    code = (
        "import sys; from tests.adapters.target.test_apply_changes import _child; "
        "_child(sys.argv[1])"
    )
    child = subprocess.Popen([sys.executable, "-c", code, json.dumps([url, postgres_url, schema])],
                             cwd=os.getcwd())  # fmt: skip
    try:
        _workload(writer, seed=51, steps=200)
        deadline = time.monotonic() + 60
        while _changes_applied(target, schema) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.poll() is None, "the worker died on its own"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    killed_at = applier.position()
    applier.catch_up(stream)
    assert _contents(source, target) == _fresh_copy(source, postgres_url)
    assert _changes_applied(target, schema) == _stream_changes(stream, start)
    assert killed_at is not None
    source.close()
    target.close()


def test_the_position_survives_in_the_target_as_json(
    legacy: tuple[str, pymysql.Connection], postgres_url: str
) -> None:
    url, writer = legacy
    source, stream, target, schema = _setup(url, postgres_url)
    applier = ChangeApplier(target, "legacy-test", _mappers(source))
    applier.start_at(stream.head())
    _copy(source, target)
    _workload(writer, seed=61, steps=10)
    done = applier.catch_up(stream)
    with psycopg.connect(target.url, autocommit=True) as conn:
        row = conn.execute(
            f'SELECT position, committed_at FROM "{schema}".{POSITION_TABLE} WHERE system = %s',
            ("legacy-test",),
        ).fetchone()
    assert row is not None
    assert position_from_json(row[0]) == done.position
    assert row[1] is not None
    # start_at again (a retried activity) does not move a position already there
    assert applier.start_at(stream.head()) == done.position
    assert applier.position() == done.position
    source.close()
    target.close()


def test_a_plan_with_a_where_filter_is_refused(legacy: tuple[str, Any], postgres_url: str) -> None:
    source = SqlSource(legacy[0])
    plan = SimpleNamespace(
        system=SimpleNamespace(id="legacy-test"),
        tables=[TablePlan(source="account", target="accounts", where="balance > 0")],
    )
    with PostgresTarget(postgres_url, "public") as target, pytest.raises(PlanError, match="where"):
        change_applier(plan, source, target)


def test_a_postgresql_source_applied_through_its_slot_equals_a_fresh_copy(
    logical_postgres: str, postgres_url: str
) -> None:
    from legacy_connectors.pg_logical import PostgresLogicalStream, create_slot, slot_name
    from tests.legacy_connectors.test_change_streams import PG_SCHEMA, PG_TABLES, _pg_workload

    name = throwaway_name("pgapply")
    with psycopg.connect(logical_postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    conninfo = logical_postgres.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(PG_SCHEMA)
    writer = psycopg.connect(conninfo)
    source = SqlSource(conninfo.replace("postgresql://", "postgresql+psycopg://"))
    try:
        _pg_workload(writer, seed=81, steps=30)
        slot = slot_name("legacy-pg-apply")
        plans = [TablePlan(source=t, target=t.removeprefix("pg_"), key=k)
                 for t, k in PG_TABLES.items()]  # fmt: skip
        mappers = [RowMapper(p, source.table_info(p.source)) for p in plans]
        schema = throwaway_name("modern")
        with PostgresTarget(postgres_url, schema) as target:
            applier = ChangeApplier(target, "legacy-pg", mappers, batch_changes=30)
            applier.start_at(create_slot(source, slot))
            busy = threading.Thread(target=_pg_workload, args=(writer, 82, 100))
            busy.start()
            for mapper in mappers:
                target.prepare(mapper.target_table, mapper.target_columns, mapper.target_key)
                names = [c.name for c in mapper.target_columns]
                for batch in source.read(mapper.table, mapper.source_key, batch_rows=100):
                    target.upsert(mapper.target_table, names, mapper.target_key,
                                  [mapper.values(r) for r in batch])  # fmt: skip
            busy.join()
            stream = PostgresLogicalStream(source, slot)
            done = applier.catch_up(stream)
            assert done.batches > 1
            fresh_schema = throwaway_name("fresh")
            with PostgresTarget(postgres_url, fresh_schema) as fresh:
                for mapper in mappers:
                    fresh.prepare(mapper.target_table, mapper.target_columns, mapper.target_key)
                    names = [c.name for c in mapper.target_columns]
                    for batch in source.read(mapper.table, mapper.source_key):
                        fresh.upsert(mapper.target_table, names, mapper.target_key,
                                     [mapper.values(r) for r in batch])  # fmt: skip
                for mapper in mappers:
                    names = [c.name for c in mapper.target_columns]
                    assert target.rows(mapper.target_table, names, mapper.target_key) == (
                        fresh.rows(mapper.target_table, names, mapper.target_key)
                    ), mapper.target_table
            # The slot moved to what the target holds, and no further.
            with psycopg.connect(conninfo, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT confirmed_flush_lsn::text FROM pg_replication_slots "
                    "WHERE slot_name = %s",
                    (slot,),
                ).fetchone()
            assert row is not None
            assert row[0] == str(done.position)
            assert applier.lag(stream).changes_behind == 0
    finally:
        writer.close()
        source.close()
        with psycopg.connect(logical_postgres, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE database = %s",
                (name,),
            )
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

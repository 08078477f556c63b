"""Change streams of legacy databases: the MariaDB binlog (a server of our own with the
binlog on) and PostgreSQL's logical decoding.

The main check replays the stream over the table as it was at the starting position and
compares the result with what ``SqlSource.read`` gives now: every insert, update and
delete arrived, in commit order, with values exactly as a copy reads them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pymysql
import pytest

from legacy_connectors.base import (
    ROW_HASH,
    BinlogPosition,
    ChangeStream,
    ChangeStreamSource,
    CommittedTransaction,
    PostgresLsn,
    Row,
    position_from_json,
)
from legacy_connectors.binlog import binlog_problems
from legacy_connectors.pg_logical import (
    PostgresLogicalStream,
    create_slot,
    logical_problems,
    slot_name,
)
from legacy_connectors.sql import SqlSource
from tests.legacy_connectors.conftest import mariadb_admin, throwaway_name

TABLES = {"account": ["id"], "line": ["account_id", "line_no"], "loose": [ROW_HASH]}

SCHEMA = """
CREATE TABLE account (
  id INT PRIMARY KEY, name VARCHAR(40) CHARACTER SET latin1, balance DECIMAL(12,2),
  opened DATE, note TEXT, flags BIT(5), yr YEAR, dur TIME(3), tiny TINYINT UNSIGNED,
  big BIGINT UNSIGNED, ratio FLOAT, score DOUBLE, tags SET('a','b','c'), code CHAR(4),
  raw VARBINARY(8), seen DATETIME(6)
) ENGINE=InnoDB;
CREATE TABLE line (
  account_id INT, line_no INT, amount DECIMAL(9,3), posted DATE,
  PRIMARY KEY (account_id, line_no)
) ENGINE=InnoDB;
CREATE TABLE loose (label VARCHAR(20), amount DECIMAL(6,2)) ENGINE=InnoDB;
CREATE TABLE elsewhere (id INT PRIMARY KEY, v INT) ENGINE=InnoDB;
"""


@pytest.fixture(scope="module")
def legacy(binlog_mariadb: dict[str, Any]) -> Iterator[tuple[str, pymysql.Connection]]:
    """A database on the binlog server with the test tables; yields its URL and a
    connection that writes to it (autocommit off: each test commits)."""
    name = throwaway_name("cdc")
    admin = pymysql.connect(**binlog_mariadb, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{name}`")
        for statement in filter(str.strip, SCHEMA.split(";")):
            cur.execute(statement)
    writer = pymysql.connect(**binlog_mariadb, database=name, charset="utf8mb4")
    url = f"mysql+pymysql://root@127.0.0.1:{binlog_mariadb['port']}/{name}"
    yield url, writer
    writer.close()
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE `{name}`")
    admin.close()


def _account(rng: random.Random, key: int) -> tuple[Any, ...]:
    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.15 else value

    return (
        key,
        maybe(rng.choice(["Zoë", "O'Brien", "Ångström", "Smith ", "", "Mañana"])),
        maybe(Decimal(rng.randint(-(10**9), 10**9)) / 100),
        maybe(date(1900, 1, 1) + timedelta(days=rng.randint(0, 60_000))),
        maybe(rng.choice(["a\tb", "line\nbreak", "back\\slash", "x" * 300])),
        maybe(rng.randint(0, 31)),
        maybe(rng.choice([0, 1901, 1999, 2155])),
        maybe(
            timedelta(seconds=rng.randint(-3_000_000, 3_000_000), milliseconds=rng.randint(0, 999))
        ),
        maybe(rng.randint(0, 255)),
        maybe(rng.choice([0, 2**63 + 5, 2**64 - 1])),
        maybe(rng.choice([1.1, -0.000123, 3.4e10, 123456.7])),
        maybe(rng.uniform(-1e6, 1e6)),
        maybe(rng.choice(["", "a", "a,c", "b,c", "a,b,c"])),
        maybe(rng.choice(["AB", "ABCD", " X"])),
        maybe(bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 8)))),
        maybe(datetime(2000, 1, 1) + timedelta(microseconds=rng.randint(0, 10**15))),
    )


def _workload(writer: pymysql.Connection, seed: int, steps: int) -> None:
    """Random inserts, updates (some of the key), deletes and re-inserts of the same key, a
    few per transaction, over the three tables and one the plan does not name."""
    rng = random.Random(seed)
    with writer.cursor() as cur:
        cur.execute("SELECT id FROM account")
        accounts: set[int] = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT account_id, line_no FROM line")
        lines: set[tuple[int, int]] = {(r[0], r[1]) for r in cur.fetchall()}
        cur.execute("SELECT label, amount FROM loose")
        loose: list[tuple[Any, ...]] = [tuple(r) for r in cur.fetchall()]
        writer.commit()
        for _ in range(steps):
            for _ in range(rng.randint(1, 4)):
                action = rng.random()
                if action < 0.35 or not accounts:
                    key = rng.randint(1, 60)
                    if key in accounts:
                        cur.execute("DELETE FROM account WHERE id = %s", (key,))
                    cur.execute("INSERT INTO account VALUES (%s" + ", %s" * 15 + ")",
                                _account(rng, key))  # fmt: skip
                    accounts.add(key)
                elif action < 0.6:
                    key = rng.choice(sorted(accounts))
                    values = _account(rng, key)[1:]
                    cur.execute("UPDATE account SET name=%s, balance=%s, opened=%s, note=%s, "
                                "flags=%s, yr=%s, dur=%s, tiny=%s, big=%s, ratio=%s, score=%s, "
                                "tags=%s, code=%s, raw=%s, seen=%s WHERE id=%s",
                                (*values, key))  # fmt: skip
                elif action < 0.7:
                    key = rng.choice(sorted(accounts))
                    new = rng.randint(61, 10_000)
                    if new not in accounts:
                        cur.execute("UPDATE account SET id = %s WHERE id = %s", (new, key))
                        accounts.discard(key)
                        accounts.add(new)
                elif action < 0.8:
                    key = rng.choice(sorted(accounts))
                    cur.execute("DELETE FROM account WHERE id = %s", (key,))
                    accounts.discard(key)
                elif action < 0.9:
                    line = (rng.randint(1, 5), rng.randint(1, 5))
                    amount = Decimal(rng.randint(-(10**6), 10**6)) / 1000
                    posted = rng.choice([None, date(2024, rng.randint(1, 12), 1)])
                    if line in lines and rng.random() < 0.4:
                        cur.execute("DELETE FROM line WHERE account_id=%s AND line_no=%s", line)
                        lines.discard(line)
                    else:
                        cur.execute("REPLACE INTO line VALUES (%s, %s, %s, %s)",
                                    (*line, amount, posted))  # fmt: skip
                        lines.add(line)
                elif action < 0.95:
                    # rows of a table without a key, all different (twins share a hash)
                    if loose and rng.random() < 0.3:
                        label, amount = loose.pop(rng.randrange(len(loose)))
                        cur.execute("DELETE FROM loose WHERE label <=> %s AND amount <=> %s",
                                    (label, amount))  # fmt: skip
                    else:
                        row = (rng.choice([None, "x", "y"]), Decimal(rng.randint(0, 10**6)) / 100)
                        if row not in loose:
                            cur.execute("INSERT INTO loose VALUES (%s, %s)", row)
                            loose.append(row)
                else:
                    cur.execute("REPLACE INTO elsewhere VALUES (%s, %s)",
                                (rng.randint(1, 9), rng.randint(0, 99)))  # fmt: skip
            writer.commit()


def _snapshot(source: SqlSource) -> dict[str, dict[tuple[Any, ...], Row]]:
    out: dict[str, dict[tuple[Any, ...], Row]] = {}
    for table, key in TABLES.items():
        rows: dict[tuple[Any, ...], Row] = {}
        for batch in source.read(table, key):
            for row in batch:
                rows[tuple(row[k] for k in key)] = row
        out[table] = rows
    return out


def _replay(
    tables: dict[str, dict[tuple[Any, ...], Row]], transactions: list[CommittedTransaction]
) -> None:
    for transaction in transactions:
        for change in transaction.changes:
            rows = tables[change.table]
            key_columns = TABLES[change.table]
            if change.op == "delete":
                assert change.key in rows, "a delete of a row the replay does not hold"
                del rows[change.key]
                continue
            if change.before is not None:
                rows.pop(tuple(change.before[k] for k in key_columns), None)
            rows[change.key] = change.row


def _differences(
    replayed: dict[str, dict[tuple[Any, ...], Row]], read: dict[str, dict[tuple[Any, ...], Row]]
) -> list[str]:
    """What differs, by table, key and column (values shown: these are test data)."""
    out = []
    for table, rows in read.items():
        mine = replayed[table]
        out += [f"{table} {k}: missing" for k in rows.keys() - mine.keys()]
        out += [f"{table} {k}: extra" for k in mine.keys() - rows.keys()]
        for key in rows.keys() & mine.keys():
            out += [f"{table} {key} {c}: {mine[key].get(c)!r} != {v!r}"
                    for c, v in rows[key].items() if mine[key].get(c) != v]  # fmt: skip
    return sorted(out)


def _stream(url: str) -> tuple[SqlSource, ChangeStream]:
    source = SqlSource(url)
    source.open()
    assert isinstance(source, ChangeStreamSource)
    stream = source.change_stream()
    assert stream is not None
    assert isinstance(stream, ChangeStream)
    return source, stream


def test_binlog_is_ready_on_a_server_configured_for_it(legacy: tuple[str, Any]) -> None:
    source, stream = _stream(legacy[0])
    assert stream.problems() == []
    source.close()


def test_binlog_problems_name_what_a_dba_must_change() -> None:
    # The shared MariaDB runs without a binlog: each missing setting is one clear line.
    admin = mariadb_admin()
    with admin.cursor() as cur:
        cur.execute("SELECT @@log_bin, @@binlog_format")
        log_bin, binlog_format = cur.fetchone()
    problems = binlog_problems(admin)
    admin.close()
    if log_bin:
        pytest.skip("the shared MariaDB has its binlog on")
    assert any("binary log is off" in p for p in problems)
    if binlog_format != "ROW":
        assert any(f"binlog_format is {binlog_format}: set binlog_format=ROW" == p
                   for p in problems)  # fmt: skip
    assert all("\n" not in p for p in problems)


def test_sqlite_has_no_change_stream(tmp_path: Any) -> None:
    source = SqlSource(f"sqlite:///{tmp_path / 'x.db'}")
    assert source.change_stream() is None


def test_random_workload_replayed_from_the_stream_equals_a_fresh_read(
    legacy: tuple[str, pymysql.Connection],
) -> None:
    url, writer = legacy
    source, stream = _stream(url)
    _workload(writer, seed=11, steps=40)  # rows that exist before the stream starts
    start = stream.head()
    before = _snapshot(source)
    _workload(writer, seed=12, steps=150)
    head = stream.head()
    transactions = list(stream.changes(TABLES, start))
    assert transactions, "the stream gave nothing"
    positions = [t.position for t in transactions]
    assert positions == sorted(positions), "transactions out of commit order"
    assert isinstance(positions[-1], BinlogPosition)
    assert not positions[-1] < head
    ops = {c.op for t in transactions for c in t.changes}
    assert ops == {"insert", "update", "delete"}
    assert all(t.committed_at.tzinfo is UTC for t in transactions)
    assert all(c.position == t.position for t in transactions for c in t.changes)
    _replay(before, transactions)
    diffs = _differences(before, _snapshot(source))
    assert diffs == []
    source.close()


def test_a_stream_resumes_from_any_position_without_loss_or_repeat(
    legacy: tuple[str, pymysql.Connection],
) -> None:
    url, writer = legacy
    source, stream = _stream(url)
    start = stream.head()
    _workload(writer, seed=21, steps=60)
    whole = [c for t in stream.changes(TABLES, start) for c in t.changes]
    # Read in small pieces, each resuming from the last position the previous one gave
    # (as a checkpoint in the target would), through the JSON form of the position.
    pieces: list[Any] = []
    position = start
    while True:
        got = list(stream.changes(TABLES, position, max_changes=7))
        if not got:
            break
        assert sum(len(t.changes) for t in got[:-1]) < 7, "read past max_changes"
        pieces += [c for t in got for c in t.changes]
        position = position_from_json(got[-1].position.to_json())
    assert pieces == whole
    source.close()


def test_key_changing_update_carries_both_images(
    legacy: tuple[str, pymysql.Connection],
) -> None:
    url, writer = legacy
    source, stream = _stream(url)
    with writer.cursor() as cur:
        cur.execute("INSERT INTO line VALUES (900, 1, 1.5, NULL)")
        writer.commit()
        start = stream.head()
        cur.execute("UPDATE line SET line_no = 2, amount = 2.25 WHERE account_id = 900")
        cur.execute("DELETE FROM line WHERE account_id = 900")
        cur.execute("INSERT INTO line VALUES (900, 2, 3.000, '2024-02-29')")
        writer.commit()
    (transaction,) = stream.changes(TABLES, start)
    update, delete, insert = transaction.changes
    assert (update.op, update.key) == ("update", (900, 2))
    assert update.before is not None
    assert update.before["line_no"] == 1
    assert update.row["amount"] == Decimal("2.250")
    assert (delete.op, delete.key, insert.op, insert.key) == (
        "delete",
        (900, 2),
        "insert",
        (900, 2),
    )
    assert insert.row["posted"] == date(2024, 2, 29)
    source.close()


def test_positions_round_trip_through_json_and_text() -> None:
    binlog = BinlogPosition("binlog.000042", 1234, "0-1-77")
    assert position_from_json(binlog.to_json()) == binlog
    assert position_from_json("binlog.000042:1234") == BinlogPosition("binlog.000042", 1234)
    lsn = PostgresLsn.parse("16/B374D848")
    assert str(lsn) == "16/B374D848"
    assert position_from_json(lsn.to_json()) == lsn
    assert position_from_json("16/B374D848") == lsn
    assert PostgresLsn.parse("0/10") < PostgresLsn.parse("1/0")
    with pytest.raises(ValueError, match="not a stream position"):
        position_from_json({"kind": "scn"})


def test_a_lost_binlog_file_is_a_clear_error(legacy: tuple[str, Any]) -> None:
    from domain.errors import PlanError

    source, stream = _stream(legacy[0])
    with pytest.raises(PlanError, match="no longer kept"):
        list(stream.changes(TABLES, BinlogPosition("binlog.999999", 4)))
    source.close()


# --- PostgreSQL: logical decoding -----------------------------------------------------

PG_TABLES = {"pg_account": ["id"], "pg_line": ["account_id", "line_no"], "pg_loose": [ROW_HASH]}

PG_SCHEMA = """
CREATE TABLE pg_account (
  id integer PRIMARY KEY, name text, code char(4), balance numeric(12,2), opened date,
  stamp timestamptz, local_stamp timestamp(3), dur interval, flag boolean, raw bytea,
  ratio double precision, "Odd Name" varchar(20)
);
CREATE TABLE pg_line (account_id integer, line_no integer, amount numeric(9,3), posted date,
                      PRIMARY KEY (account_id, line_no));
CREATE TABLE pg_loose (label text, amount numeric(6,2));
ALTER TABLE pg_loose REPLICA IDENTITY FULL;
CREATE TABLE pg_big (id integer PRIMARY KEY, body text, n integer);
ALTER TABLE pg_big REPLICA IDENTITY FULL;
"""


@pytest.fixture(scope="module")
def pg_legacy(logical_postgres: str) -> Iterator[tuple[str, Any]]:
    """A database on the logical-decoding server with the test tables; its SQLAlchemy URL
    and an autocommit-off psycopg connection that writes to it."""
    import psycopg

    name = throwaway_name("pgcdc")
    with psycopg.connect(logical_postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    conninfo = logical_postgres.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(PG_SCHEMA)
    writer = psycopg.connect(conninfo)
    yield conninfo.replace("postgresql://", "postgresql+psycopg://"), writer
    writer.close()
    with psycopg.connect(logical_postgres, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE database = %s",
            (name,),
        )
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _pg_workload(writer: Any, seed: int, steps: int) -> None:
    rng = random.Random(seed)
    ids = {r[0] for r in writer.execute("SELECT id FROM pg_account").fetchall()}
    loose = [tuple(r) for r in writer.execute("SELECT label, amount FROM pg_loose").fetchall()]
    writer.commit()

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.15 else value

    def account(key: int) -> tuple[Any, ...]:
        return (
            key,
            maybe(rng.choice(["Zoë", "O'Brien", "tab\there", "new\nline", "", "a b"])),
            maybe(rng.choice(["AB", "ABCD", " X"])),
            maybe(Decimal(rng.randint(-(10**9), 10**9)) / 100),
            maybe(date(1900, 1, 1) + timedelta(days=rng.randint(0, 60_000))),
            maybe(datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 10**9))),
            maybe(datetime(2000, 1, 1) + timedelta(milliseconds=rng.randint(0, 10**12))),
            maybe(
                timedelta(
                    seconds=rng.randint(-(10**7), 10**7), microseconds=rng.randint(0, 999_999)
                )
            ),
            maybe(rng.choice([True, False])),
            maybe(bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 8)))),
            maybe(rng.uniform(-1e6, 1e6)),
            maybe(rng.choice(["x", "y'z"])),
        )

    for _ in range(steps):
        for _ in range(rng.randint(1, 4)):
            action = rng.random()
            if action < 0.35 or not ids:
                key = rng.randint(1, 60)
                if key in ids:
                    writer.execute("DELETE FROM pg_account WHERE id = %s", (key,))
                writer.execute("INSERT INTO pg_account VALUES (" + ", ".join(["%s"] * 12) + ")",
                               account(key))  # fmt: skip
                ids.add(key)
            elif action < 0.6:
                key = rng.choice(sorted(ids))
                writer.execute(
                    "UPDATE pg_account SET name=%s, code=%s, balance=%s, opened=%s, stamp=%s, "
                    'local_stamp=%s, dur=%s, flag=%s, raw=%s, ratio=%s, "Odd Name"=%s '
                    "WHERE id=%s",
                    (*account(key)[1:], key),
                )
            elif action < 0.7:
                key = rng.choice(sorted(ids))
                new = rng.randint(61, 10_000)
                if new not in ids:
                    writer.execute("UPDATE pg_account SET id = %s WHERE id = %s", (new, key))
                    ids.discard(key)
                    ids.add(new)
            elif action < 0.8:
                key = rng.choice(sorted(ids))
                writer.execute("DELETE FROM pg_account WHERE id = %s", (key,))
                ids.discard(key)
            elif action < 0.9:
                line = (rng.randint(1, 5), rng.randint(1, 5))
                writer.execute(
                    "INSERT INTO pg_line VALUES (%s, %s, %s, %s) ON CONFLICT (account_id, line_no) "
                    "DO UPDATE SET amount = EXCLUDED.amount, posted = EXCLUDED.posted",
                    (*line, Decimal(rng.randint(-10**6, 10**6)) / 1000,
                     rng.choice([None, date(2024, 2, 29)])),
                )  # fmt: skip
                if rng.random() < 0.3:
                    writer.execute("DELETE FROM pg_line WHERE account_id = %s AND line_no = %s",
                                   line)  # fmt: skip
            else:
                if loose and rng.random() < 0.3:
                    label, amount = loose.pop(rng.randrange(len(loose)))
                    writer.execute(
                        "DELETE FROM pg_loose WHERE label IS NOT DISTINCT FROM %s "
                        "AND amount IS NOT DISTINCT FROM %s",
                        (label, amount),
                    )
                else:
                    row = (rng.choice([None, "x", "y"]), Decimal(rng.randint(0, 10**6)) / 100)
                    if row not in loose:
                        writer.execute("INSERT INTO pg_loose VALUES (%s, %s)", row)
                        loose.append(row)
        writer.commit()


def _pg_snapshot(source: SqlSource) -> dict[str, dict[tuple[Any, ...], Row]]:
    out: dict[str, dict[tuple[Any, ...], Row]] = {}
    for table, key in PG_TABLES.items():
        out[table] = {tuple(r[k] for k in key): r for b in source.read(table, key) for r in b}
    return out


def _pg_replay(
    tables: dict[str, dict[tuple[Any, ...], Row]], transactions: list[CommittedTransaction]
) -> None:
    for transaction in transactions:
        for change in transaction.changes:
            rows = tables[change.table]
            key_columns = PG_TABLES[change.table]
            if change.op == "delete":
                assert change.key in rows, "a delete of a row the replay does not hold"
                del rows[change.key]
                continue
            if change.before is not None:
                rows.pop(tuple(change.before[k] for k in key_columns), None)
            rows[change.key] = change.row


def test_logical_decoding_replayed_equals_a_fresh_read(pg_legacy: tuple[str, Any]) -> None:
    url, writer = pg_legacy
    source = SqlSource(url)
    _pg_workload(writer, seed=71, steps=30)
    slot = slot_name("legacy-pg")
    start = create_slot(source, slot)
    assert create_slot(source, slot) == start, "creating the slot again changes nothing"
    stream = source.change_stream(slot=slot)
    assert isinstance(stream, PostgresLogicalStream)
    assert isinstance(stream, ChangeStream)
    assert stream.problems() == []
    assert source.change_stream() is None, "PostgreSQL needs a slot named"
    before = _pg_snapshot(source)
    _pg_workload(writer, seed=72, steps=150)
    transactions = list(stream.changes(PG_TABLES, start))
    positions = [t.position for t in transactions]
    assert positions == sorted(positions)
    assert {c.op for t in transactions for c in t.changes} == {"insert", "update", "delete"}
    _pg_replay(before, transactions)
    assert _differences(before, _pg_snapshot(source)) == []
    # Resuming in pieces from checkpoints, and confirming them, gives the same changes.
    whole = [c for t in transactions for c in t.changes]
    pieces: list[Any] = []
    position: Any = start
    while True:
        got = list(stream.changes(PG_TABLES, position, max_changes=9))
        if not got:
            break
        pieces += [c for t in got for c in t.changes]
        position = position_from_json(got[-1].position.to_json())
        stream.confirm(position)
    assert pieces == whole
    assert list(stream.changes(PG_TABLES, start)) == [], "confirmed changes are gone"
    source.close()


def test_logical_decoding_keeps_a_large_unchanged_value(pg_legacy: tuple[str, Any]) -> None:
    url, writer = pg_legacy
    source = SqlSource(url)
    slot = slot_name("legacy-pg-big")
    start = create_slot(source, slot)
    body = "".join(random.Random(5).choice("abcdefghij") for _ in range(50_000))
    writer.execute("INSERT INTO pg_big VALUES (1, %s, 1)", (body,))
    writer.commit()
    writer.execute("UPDATE pg_big SET n = 2 WHERE id = 1")
    writer.commit()
    stream = PostgresLogicalStream(source, slot)
    (insert,), (update,) = [t.changes for t in stream.changes({"pg_big": ["id"]}, start)]
    assert insert.row["body"] == body
    assert update.row == {"id": 1, "body": body, "n": 2}
    source.close()


def test_logical_problems_name_what_a_dba_must_change() -> None:
    # The shared PostgreSQL runs with wal_level=replica: one clear line says so.
    import psycopg

    from tests.legacy_connectors.conftest import postgres_admin

    conn = postgres_admin()
    level = conn.execute("SHOW wal_level").fetchone()
    problems = logical_problems(conn, "switchover_x", [], "public")
    conn.close()
    if level is not None and level[0] == "logical":
        pytest.skip("the shared PostgreSQL has wal_level=logical")
    assert problems[0].startswith("wal_level is replica: set wal_level=logical")
    assert psycopg is not None


def test_a_table_without_a_key_needs_replica_identity_full(pg_legacy: tuple[str, Any]) -> None:
    import psycopg

    conninfo = pg_legacy[0].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS pg_bare (a text)")
        problems = logical_problems(conn, "switchover_y", ["pg_bare", "pg_loose"], "public")
    assert problems == [
        "table pg_bare has no primary key: ALTER TABLE pg_bare REPLICA IDENTITY FULL so that "
        "its updates and deletes say which row"
    ]

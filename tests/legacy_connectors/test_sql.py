"""The SQL source against real MariaDB and PostgreSQL servers, with legacy oddities."""

from __future__ import annotations

import threading
from datetime import date, datetime
from decimal import Decimal

import pytest

from domain.errors import DatabaseError, ExitCode, PlanError
from legacy_connectors import ROW_HASH, InYear, LegacySource, ReadStats, StartsWith, open_source
from legacy_connectors.canonical import checksum
from legacy_connectors.sql import SqlSource
from tests.legacy_connectors.conftest import mariadb_admin, postgres_admin

PEOPLE_COLUMNS = ["id", "surname", "code", "dob", "seen", "balance", "score", "raw", "flag"]


@pytest.fixture(scope="module")
def maria(mariadb_db: str) -> SqlSource:
    admin = mariadb_admin()
    with admin.cursor() as cur:
        cur.execute(f"USE `{mariadb_db}`")
        cur.execute("SET SESSION sql_mode = ''")  # as old servers ran: zero dates allowed
        cur.execute(
            "CREATE TABLE people (id INT PRIMARY KEY, surname VARCHAR(40) CHARACTER SET latin1,"
            " code CHAR(5), dob DATE, seen DATETIME(3), balance DECIMAL(12,2), score DOUBLE,"
            " raw VARBINARY(8), flag TINYINT(1))"
        )
        cur.execute(
            "INSERT INTO people VALUES"
            " (1, 'Gonçalves €', 'ab', '1961-03-12', '2020-01-02 03:04:05.123', 12.50, 444.555,"
            "  X'00ff', 1),"
            " (2, NULL, 'x   ', '0000-00-00', '0000-00-00 00:00:00', -0.01, NULL, NULL, 0),"
            " (3, 'Ødegård', 'zz', '2001-05-00', NULL, 0, 1e20, '', NULL)"
        )
        # cp1252 bytes in a cp1252 column (MariaDB calls cp1252 "latin1").
        cur.execute("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT CHARACTER SET latin1)")
        cur.execute("INSERT INTO notes VALUES (1, CONVERT(X'93717565746573948096' USING latin1))")
        cur.execute("CREATE TABLE nokey (a VARCHAR(10), b INT)")
        cur.execute("INSERT INTO nokey VALUES ('x', 1), ('y', 2), ('z', 1)")
        cur.execute(
            "CREATE TABLE visits (region CHAR(3), num INT, surname VARCHAR(20), born DATE,"
            " PRIMARY KEY (region, num))"
        )
        cur.execute(
            "INSERT INTO visits VALUES ('AAA', 1, 'Smith', '1961-01-02'),"
            " ('AAA', 2, 'Smyth', '1962-01-02'), ('BBB', 1, 'Jones', '1961-05-05'),"
            " ('BBB', 5, 'Smithers', '1961-12-31'), ('CCC', 0, 'Brown', NULL)"
        )
        cur.execute("CREATE TABLE big (id INT PRIMARY KEY, name VARCHAR(40))")
        cur.execute("INSERT INTO big SELECT seq, CONCAT('name', seq) FROM seq_1_to_300000")
    admin.close()
    source = SqlSource(f"mysql+pymysql://root@127.0.0.1/{mariadb_db}")
    source.open()
    yield source
    source.close()


@pytest.fixture(scope="module")
def pg(postgres_db: str) -> SqlSource:
    admin = postgres_admin(postgres_db)
    admin.execute(
        "CREATE TABLE people (id INT PRIMARY KEY, surname VARCHAR(40), code CHAR(5), dob DATE,"
        " seen TIMESTAMP(3), balance NUMERIC(12,2), score DOUBLE PRECISION, raw BYTEA,"
        " flag SMALLINT)"
    )
    # The same logical rows as MariaDB's; PostgreSQL has no zero dates, so NULLs stand in.
    admin.execute(
        "INSERT INTO people VALUES (1, 'Gonçalves €', 'ab', '1961-03-12',"
        " '2020-01-02 03:04:05.123', 12.50, 444.555, '\\x00ff', 1),"
        " (2, NULL, 'x   ', NULL, NULL, -0.01, NULL, NULL, 0),"
        " (3, 'Ødegård', 'zz', NULL, NULL, 0, 1e20, '', NULL)"
    )
    admin.execute(
        "CREATE TABLE visits (region TEXT, num INT, note TEXT, PRIMARY KEY (region, num))"
    )
    admin.execute(
        "INSERT INTO visits VALUES ('AAA', 1, 'a'), ('AAA', 2, 'b'), ('BBB', 1, 'c'),"
        " ('BBB', 5, 'd'), ('CCC', 0, 'e')"
    )
    admin.close()
    source = SqlSource(f"postgresql+psycopg://postgres@127.0.0.1/{postgres_db}")
    source.open()
    yield source
    source.close()


def rows_of(source: SqlSource, table: str, key: list[str], **kw) -> list[dict]:
    return [row for batch in source.read(table, key, **kw) for row in batch]


def test_is_a_legacy_source(maria: SqlSource) -> None:
    assert isinstance(maria, LegacySource)


def test_describe_reflects_portable_types_and_keys(maria: SqlSource) -> None:
    tables = {t.name: t for t in maria.describe()}
    people = tables["people"]
    assert people.key == ("id",)
    assert [c.type for c in people.columns] == [
        "integer", "text", "text", "date", "datetime", "decimal(12,2)", "float", "bytes",
        "integer",
    ]  # fmt: skip
    assert people.column("balance").scale == 2
    assert tables["nokey"].key is None
    assert tables["visits"].key == ("region", "num")


def test_latin1_zero_dates_char_padding_and_money(maria: SqlSource) -> None:
    stats = ReadStats()
    rows = rows_of(maria, "people", ["id"], batch_rows=2, stats=stats)
    assert rows[0]["surname"] == "Gonçalves €"
    assert rows[2]["surname"] == "Ødegård"
    assert rows[1]["code"] == "x"  # CHAR padding is not data
    assert rows[0]["balance"] == Decimal("12.50")
    assert isinstance(rows[0]["score"], float)
    assert rows[0]["raw"] == b"\x00\xff"
    assert rows[0]["seen"] == datetime(2020, 1, 2, 3, 4, 5, 123000)
    # 0000-00-00 and 2001-05-00 are not dates: None, and counted per column.
    assert [r["dob"] for r in rows] == [date(1961, 3, 12), None, None]
    assert rows[1]["seen"] is None
    assert stats.zero_dates == {"dob": 2, "seen": 1}
    assert stats.rows == 3


def test_cp1252_text_comes_out_as_unicode(maria: SqlSource) -> None:
    (row,) = rows_of(maria, "notes", ["id"])
    assert row["body"] == "“quetes”€–"


def test_composite_keyset_pagination(maria: SqlSource) -> None:
    rows = rows_of(maria, "visits", ["region", "num"], after=("AAA", 2), upto=("BBB", 5))
    assert [(r["region"], r["num"]) for r in rows] == [("BBB", 1), ("BBB", 5)]
    assert maria.key_bounds("visits", ["region", "num"]) == (("AAA", 1), ("CCC", 0))
    assert maria.key_bounds("visits", ["num"]) == ((0,), (5,))


def test_batches_are_bounded(maria: SqlSource) -> None:
    sizes = [len(b) for b in maria.read("big", ["id"], upto=(2500,), batch_rows=1000)]
    assert sizes == [1000, 1000, 500]


def test_table_without_key_is_read_by_row_hash(maria: SqlSource) -> None:
    first = rows_of(maria, "nokey", [ROW_HASH])
    assert sorted(r["a"] for r in first) == ["x", "y", "z"]
    hashes = [r[ROW_HASH] for r in first]
    assert hashes == sorted(hashes)
    rest = rows_of(maria, "nokey", [ROW_HASH], after=(hashes[0],))
    assert [r[ROW_HASH] for r in rest] == hashes[1:]


def test_lookup_and_candidates(maria: SqlSource) -> None:
    found = maria.lookup("visits", ["region", "num"], [("BBB", 5), ("AAA", 1), ("ZZZ", 9)])
    assert set(found) == {("BBB", 5), ("AAA", 1)}
    assert found[("BBB", 5)]["surname"] == "Smithers"
    blocked = maria.candidates("visits", {"surname": StartsWith("Smi"), "born": InYear(1961)})
    assert sorted(r["surname"] for r in blocked) == ["Smith", "Smithers"]
    assert maria.candidates("visits", {"region": "AAA"}, limit=1)[0]["num"] == 1


def test_filters_and_count(mariadb_db: str) -> None:
    source = SqlSource(
        f"mysql+pymysql://root@127.0.0.1/{mariadb_db}", filters={"visits": "region <> 'AAA'"}
    )
    with source:
        assert source.count("visits") == 3
        assert source.count("visits", "num > 0") == 2
        assert rows_of(source, "visits", ["region", "num"])[0]["region"] == "BBB"


def test_checksums_agree_between_mariadb_postgresql_and_python(
    maria: SqlSource, pg: SqlSource
) -> None:
    on_maria = maria.segment_checksums("people", ["id"], PEOPLE_COLUMNS, 2)
    on_pg = pg.segment_checksums("people", ["id"], PEOPLE_COLUMNS, 2)
    assert [(s.lower, s.upper, s.rows, s.checksum) for s in on_maria] == [
        (s.lower, s.upper, s.rows, s.checksum) for s in on_pg
    ]
    # The streamed fallback over the rows gives the same number as the database.
    rows = rows_of(maria, "people", ["id"])
    people = next(t for t in maria.describe() if t.name == "people")
    scales = [people.column(c).scale for c in PEOPLE_COLUMNS]
    count, total = checksum([[r[c] for c in PEOPLE_COLUMNS] for r in rows], scales)
    assert count == 3
    assert total == sum(s.checksum for s in on_maria) % 2**64
    # A changed value changes its segment's checksum only.
    changed = maria.segment_checksums("people", ["id"], ["id", "balance"], 2)
    assert changed[0].checksum != on_maria[0].checksum


def test_postgresql_char_padding_and_text_keys(pg: SqlSource) -> None:
    rows = rows_of(pg, "people", ["id"])
    assert rows[1]["code"] == "x"
    assert rows[0]["raw"] == b"\x00\xff"
    keyed = rows_of(pg, "visits", ["region", "num"], after=("AAA", 1), upto=("BBB", 1))
    assert [(r["region"], r["num"]) for r in keyed] == [("AAA", 2), ("BBB", 1)]


def test_source_is_read_only(maria: SqlSource, pg: SqlSource) -> None:
    import sqlalchemy as sa

    for source in (maria, pg):
        with source.engine.connect() as conn, pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.text("INSERT INTO visits (region, num) VALUES ('ZZZ', 1)"))


def test_unknown_table_and_bad_where_are_plan_errors(mariadb_db: str, maria: SqlSource) -> None:
    with pytest.raises(PlanError, match="no table 'nope'"):
        maria.count("nope")
    with pytest.raises(PlanError):
        maria.count("visits", "no_such_column = 1")


def test_unreachable_server_is_retryable_exit_3() -> None:
    source = SqlSource("mysql+pymysql://root@127.0.0.1:1/x", connect_timeout_s=2)
    with pytest.raises(DatabaseError) as caught:
        source.open()
    assert caught.value.retryable
    assert caught.value.exit_code is ExitCode.UNAVAILABLE


def test_connection_killed_mid_read_names_the_table(maria: SqlSource, mariadb_db: str) -> None:
    batches = maria.read("big", ["id"], batch_rows=500)
    first = next(batches)
    assert len(first) == 500
    admin = mariadb_admin()
    with admin.cursor() as cur:
        cur.execute(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND INFO LIKE %s",
            (mariadb_db, "%FROM big%"),
        )
        (thread,) = cur.fetchone()
        cur.execute(f"KILL {int(thread)}")
    admin.close()
    with pytest.raises(DatabaseError) as caught:
        for _ in batches:
            pass
    assert "table big" in str(caught.value)
    assert caught.value.retryable
    # The source itself recovers: the next read gets a fresh connection.
    assert len(next(maria.read("big", ["id"], upto=(10,)))) == 10


def test_open_source_by_kind(mariadb_db: str) -> None:
    from config.migration_plan import SqlSourceConfig

    config = SqlSourceConfig(kind="sql", url=f"mysql+pymysql://root@127.0.0.1/{mariadb_db}")
    source = open_source(config, filters={"visits": "num = 0"})
    try:
        assert source.count("visits") == 1
    finally:
        source.close()


def test_reads_run_in_parallel_threads(maria: SqlSource) -> None:
    counts: list[int] = []

    def work() -> None:
        counts.append(sum(len(b) for b in maria.read("big", ["id"], upto=(20_000,))))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts == [20_000, 20_000]

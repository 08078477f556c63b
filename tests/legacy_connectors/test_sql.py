"""The SQL source against real MariaDB and PostgreSQL servers, with legacy oddities."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
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


def test_mariadb_bit_year_time_and_unsigned_are_exact(
    mariadb_db: str, maria: SqlSource, postgres_db: str
) -> None:
    # BIT and YEAR are numbers (SQLAlchemy reflects neither as one); TIME is a duration of
    # up to 838 hours either way; BIGINT UNSIGNED and BIT(64) outgrow a signed bigint.
    admin = mariadb_admin()
    with admin.cursor() as cur:
        cur.execute(f"USE `{mariadb_db}`")
        cur.execute(
            "CREATE TABLE odd (id INT PRIMARY KEY, b1 BIT(1), b64 BIT(64), yr YEAR,"
            " at TIME(3), big BIGINT UNSIGNED, small INT UNSIGNED)"
        )
        cur.execute(
            "INSERT INTO odd VALUES (1, b'1', b'1111111111111111111111111111111111111111111111"
            "111111111111111111', 1999, '838:59:59', 18446744073709551615, 4294967295),"
            " (2, b'0', 0, 0, '-01:00:00.5', 0, 0), (3, NULL, NULL, NULL, '12:34:56.789', NULL,"
            " NULL), (4, b'1', 5, 2155, '00:00:00', 9223372036854775808, 1)"
        )
    admin.close()
    odd = next(t for t in maria.describe() if t.name == "odd")
    assert [c.type for c in odd.columns] == [
        "integer", "integer", "decimal(20,0)", "integer", "interval", "decimal(20,0)", "integer"
    ]  # fmt: skip
    rows = rows_of(maria, "odd", ["id"])
    assert rows[0] == {"id": 1, "b1": 1, "b64": 2**64 - 1, "yr": 1999,
                       "at": timedelta(hours=838, minutes=59, seconds=59),
                       "big": 2**64 - 1, "small": 2**32 - 1}  # fmt: skip
    assert rows[1]["at"] == -timedelta(hours=1, milliseconds=500)
    assert rows[1]["yr"] == 0
    assert rows[2]["at"] == timedelta(hours=12, minutes=34, seconds=56, milliseconds=789)
    # The database's checksum of these rows is Python's, and PostgreSQL's of the same values.
    names = [c.name for c in odd.columns]
    on_maria = maria.segment_checksums("odd", ["id"], names, 1)
    scales = [c.scale for c in odd.columns]
    assert checksum([[r[c] for c in names] for r in rows], scales)[1] == on_maria[0].checksum
    pg_admin = postgres_admin(postgres_db)
    pg_admin.execute(
        "CREATE TABLE odd (id INT PRIMARY KEY, b1 BIGINT, b64 NUMERIC(20,0), yr BIGINT,"
        " at INTERVAL, big NUMERIC(20,0), small BIGINT)"
    )
    with pg_admin.cursor() as cur:
        cur.executemany(
            "INSERT INTO odd VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [tuple(r[c] for c in names) for r in rows],
        )
    pg_admin.close()
    with SqlSource(f"postgresql+psycopg://postgres@127.0.0.1/{postgres_db}") as target:
        on_pg = target.segment_checksums("odd", ["id"], names, 1)
        assert rows_of(target, "odd", ["id"])[1]["at"] == rows[1]["at"]
    assert on_pg[0].checksum == on_maria[0].checksum


@pytest.mark.parametrize("driver", ["pymysql", "mysqldb"])
def test_read_text_is_read_as_the_database_prints_it(mariadb_db: str, driver: str) -> None:
    if driver == "mysqldb":
        pytest.importorskip("MySQLdb", reason="mysqlclient is not installed")
    with SqlSource(f"mysql+{driver}://root@127.0.0.1/{mariadb_db}") as source:
        typed_stats, text_stats = ReadStats(), ReadStats()
        typed = rows_of(source, "people", ["id"], stats=typed_stats)
        batches = list(source.read_text("people", ["id"], batch_rows=2, stats=text_stats))
        assert [b.rows for b in batches] == [2, 1]
        for name in PEOPLE_COLUMNS:
            assert [v for b in batches for v in b.values(name)] == [r[name] for r in typed]
        assert text_stats.zero_dates == typed_stats.zero_dates == {"dob": 2, "seen": 1}
        assert text_stats.rows == 3
        assert batches[-1].key(-1, ["id"]) == (3,)


@pytest.mark.parametrize("driver", ["pymysql", "mysqldb"])
def test_read_text_lines_are_copy_text(mariadb_db: str, maria: SqlSource, driver: str) -> None:
    # The database writes the lines: NULL and no-dates as \N, text escaped, binary in hex.
    if driver == "mysqldb":
        pytest.importorskip("MySQLdb", reason="mysqlclient is not installed")
    admin = mariadb_admin()
    with admin.cursor() as cur:
        cur.execute(f"USE `{mariadb_db}`")
        cur.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
        cur.execute(
            f"CREATE TABLE esc_{driver} (id INT PRIMARY KEY, t VARCHAR(20),"
            " l VARCHAR(9) CHARACTER SET latin1, b VARBINARY(4), d DATE, n BIT(4), `order` YEAR,"
            " at TIME)"
        )
        cur.execute(
            f"INSERT INTO esc_{driver} VALUES (1, 'a\tb\nc\\\\d\re', 'Café €', X'5C09',"
            " '2001-02-31', b'1010', 0, '-838:59:59'),"
            " (2, '\\\\N', '', NULL, '2024-02-29', NULL, NULL, NULL)"
        )
    admin.close()
    lines = ["id", "t", "l", "b", "d", "n", "order", "at"]
    with SqlSource(f"mysql+{driver}://root@127.0.0.1/{mariadb_db}") as source:
        (batch,) = source.read_text(f"esc_{driver}", ["id"], lines=lines, upto=(2,))
        assert list(batch.lines or ()) == [
            b"1\ta\\tb\\nc\\\\d\\re\tCaf\xc3\xa9 \xe2\x82\xac\t\\\\x5C09\t\\N\t10\t0000"
            b"\t-838:59:59",
            b"2\t\\\\N\t\t\\N\t2024-02-29\t\\N\t\\N\t\\N",
        ]
        assert batch.names == ["id"]  # the key also comes on its own
        assert batch.key(-1, ["id"]) == (2,)
        (rest,) = source.read_text(f"esc_{driver}", ["id"], lines=["t"])
        assert rest.names == ["id", "l", "b", "d", "n", "order", "at"]
        assert rest.values("at")[0] == -timedelta(hours=838, minutes=59, seconds=59)
        assert rest.values("n") == [10, None]


def test_read_text_needs_mariadb(pg: SqlSource) -> None:
    assert not pg.reads_text
    with pytest.raises(PlanError, match="reading as text needs MariaDB or MySQL"):
        next(pg.read_text("people", ["id"]))


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

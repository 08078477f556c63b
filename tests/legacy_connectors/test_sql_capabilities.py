"""What a SQL source says it can do (``legacy_connectors.base``'s optional protocols), per
engine, and the two capabilities every engine has: rows changed since a time, and
repeated keys found by the database. SQLite here: no server needed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from domain.errors import PlanError
from legacy_connectors import (
    ROW_HASH,
    ChangedSinceSource,
    ChangeStreamSource,
    ChecksumPushDown,
    LegacySource,
    OneTableSource,
    RepeatedKeysSource,
    TextReader,
)
from legacy_connectors.sql import MysqlSource, PostgresSource, SqliteSource, SqlSource
from legacy_connectors.text_files import TextFileSource


@pytest.fixture
def visits(tmp_path: Path) -> Iterator[SqlSource]:
    path = tmp_path / "legacy.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE visits (num INTEGER, region TEXT, seen TEXT)")
    db.executemany(
        "INSERT INTO visits VALUES (?, ?, ?)",
        [
            (1, "AAA", "2024-03-01 09:00:00"),
            (2, "AAA", "2024-03-01 10:00:00"),
            (2, "BBB", "2024-03-02 08:30:00"),
            (3, "BBB", "2024-02-28 23:59:59"),
            (3, "CCC", None),
            (4, "CCC", "2024-03-05 00:00:00"),
        ],
    )
    db.commit()
    db.close()
    source = SqlSource(f"sqlite:///{path}", filters={"visits": "region <> 'CCC'"})
    source.open()
    yield source
    source.close()


@pytest.mark.parametrize(
    ("url", "cls", "pushes_down", "reads_text"),
    [
        ("mysql+pymysql://root@127.0.0.1/x", MysqlSource, True, True),
        ("mysql+mysqldb://root@127.0.0.1/x", MysqlSource, True, True),
        ("mysql+mysqlconnector://root@127.0.0.1/x", MysqlSource, True, False),
        ("mariadb+pymysql://root@127.0.0.1/x", MysqlSource, True, True),
        ("postgresql+psycopg://postgres@127.0.0.1/x", PostgresSource, True, False),
        ("sqlite:///x.db", SqliteSource, False, False),
        ("mssql+pyodbc://sa@server/x", SqlSource, False, False),
    ],
)
def test_each_engine_says_what_it_can_do(
    url: str, cls: type[SqlSource], pushes_down: bool, reads_text: bool
) -> None:
    source = SqlSource(url)  # nothing connects until open()
    assert type(source) is cls
    assert isinstance(source, LegacySource)
    assert isinstance(source, ChecksumPushDown) is pushes_down
    assert isinstance(source, TextReader)
    assert source.reads_text is reads_text
    for every_engine in (ChangeStreamSource, ChangedSinceSource, RepeatedKeysSource):
        assert isinstance(source, every_engine)
    assert isinstance(source, OneTableSource)


def test_a_file_source_has_none_of_the_database_capabilities(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("id,name\n1,a\n")
    source = TextFileSource(tmp_path)
    for capability in (ChecksumPushDown, TextReader, ChangedSinceSource, RepeatedKeysSource):
        assert not isinstance(source, capability)
    assert not isinstance(source, ChangeStreamSource)


def test_rows_changed_since_keep_the_plan_filter(visits: SqlSource) -> None:
    since = datetime(2024, 3, 1, 10, 0, 0)
    changed = [
        (row["num"], row["region"])
        for batch in visits.read_changed_since(
            "visits", ["num", "region"], "seen", since, batch_rows=1
        )
        for row in batch
    ]
    # At or after the time, in key order; region CCC is outside the plan's filter.
    assert changed == [(2, "AAA"), (2, "BBB")]


def test_repeated_keys_are_counted_by_the_database(visits: SqlSource) -> None:
    assert visits.repeated_keys("visits", ["num"], examples=5) == (1, [(2,)])
    assert visits.repeated_keys("visits", ["num", "region"], examples=5) == (0, [])
    with pytest.raises(PlanError, match="no column 'nope'"):
        visits.repeated_keys("visits", ["nope"], examples=5)


def test_row_hash_needs_an_engine_that_hashes(visits: SqlSource) -> None:
    with pytest.raises(PlanError, match=f"{ROW_HASH} keys need MariaDB/MySQL or PostgreSQL"):
        next(visits.read("visits", [ROW_HASH]))

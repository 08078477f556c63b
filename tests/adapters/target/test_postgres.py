"""The PostgreSQL target against the real server: DDL from mapped columns, idempotent
COPY-and-upsert loads, checks of existing tables, deletes by key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.mapping import MappedBatch
from adapters.target import PostgresTarget, postgres_type
from domain.errors import LegacyReadError, PlanError
from legacy_connectors.base import Column

COLUMNS = (
    Column("id", "text", nullable=False),
    Column("n", "integer", nullable=False),
    Column("amount", "decimal(12,2)", precision=12, scale=2),
    Column("born", "date"),
    Column("seen", "datetime"),
    Column("ok", "boolean"),
    Column("raw", "bytes"),
    Column("ratio", "float"),
)
NAMES = [c.name for c in COLUMNS]
KEY = ["id", "n"]


@pytest.fixture
def target(postgres_url: str) -> Iterator[PostgresTarget]:
    with PostgresTarget(postgres_url, f"s_{uuid.uuid4().hex[:8]}") as store:
        yield store


def row(i: int, amount: str = "1.50") -> tuple[object, ...]:
    return (f"K{i:04d}", i, Decimal(amount), date(1990, 1, 2), datetime(2001, 2, 3, 4, 5, 6, 789),
            i % 2 == 0, b"\x00\xff", 0.1)  # fmt: skip


def test_types_are_exact() -> None:
    assert postgres_type(Column("a", "decimal(12,2)")) == "numeric(12,2)"
    assert postgres_type(Column("a", "decimal")) == "numeric"
    assert postgres_type(Column("a", "integer")) == "bigint"
    assert postgres_type(Column("a", "datetime")) == "timestamp"
    assert postgres_type(Column("a", "interval")) == "interval"  # MariaDB's TIME: a duration
    with pytest.raises(PlanError, match="no PostgreSQL type"):
        postgres_type(Column("a", "geometry"))


def test_create_load_twice_and_update(target: PostgresTarget) -> None:
    assert target.prepare("t", COLUMNS, KEY) is True
    assert target.prepare("t", COLUMNS, KEY) is False  # the same table again: checked, kept
    assert target.columns("t")["amount"][:3] == ("numeric", 12, 2)
    rows = [row(i) for i in range(500)]
    assert target.upsert("t", NAMES, KEY, rows) == 500
    assert target.upsert("t", NAMES, KEY, rows[100:300]) == 200  # a retried batch
    assert target.count("t") == 500
    assert target.upsert("t", NAMES, KEY, [row(i) for i in range(490, 510)]) == 20  # half new
    assert target.count("t") == 510
    target.upsert("t", NAMES, KEY, [row(7, "9.99")])
    stored = target.rows("t", NAMES, KEY)
    assert stored[0] == row(0)
    assert stored[7][2] == Decimal("9.99")
    assert len({r[:2] for r in stored}) == 510


def test_key_only_table(target: PostgresTarget) -> None:
    target.prepare("k", COLUMNS[:2], KEY)
    target.upsert("k", ["id", "n"], KEY, [("a", 1), ("a", 1)][:1])
    target.upsert("k", ["id", "n"], KEY, [("a", 1)])
    assert target.count("k") == 1


def test_existing_table_is_checked(target: PostgresTarget) -> None:
    target.prepare("t", COLUMNS, KEY)
    changed = list(COLUMNS)
    changed[2] = Column("amount", "decimal(12,3)", precision=12, scale=3)
    changed[5] = Column("ok", "date")
    with pytest.raises(PlanError) as caught:
        target.prepare("t", [*changed, Column("extra", "text")], KEY)
    message = str(caught.value)
    assert "amount has scale 2" in message
    assert "ok is boolean" in message
    assert "no column extra" in message
    with pytest.raises(PlanError, match="NOT NULL without a default"):
        target.prepare("t", [c for c in COLUMNS if c.name != "n"], ["id"])


def test_bad_values_are_bad_input_and_leave_nothing(target: PostgresTarget) -> None:
    target.prepare("t", COLUMNS, KEY)
    with pytest.raises(LegacyReadError, match="same key"):
        target.upsert("t", NAMES, KEY, [row(1), row(1)])
    bad = list(row(2))
    bad[0] = "nul\x00byte"
    with pytest.raises(LegacyReadError) as caught:
        target.upsert("t", NAMES, KEY, [row(3), tuple(bad)])
    assert "nul" not in str(caught.value)
    assert caught.value.__cause__ is None  # psycopg's message quotes values
    assert caught.value.__suppress_context__
    assert target.count("t") == 0
    target.upsert("t", NAMES, KEY, [row(4)])  # the connection is usable afterwards
    assert target.count("t") == 1


def test_delete_keys(target: PostgresTarget) -> None:
    target.prepare("t", COLUMNS, KEY)
    target.upsert("t", NAMES, KEY, [row(i) for i in range(10)])
    assert target.delete_keys("t", KEY, [("K0001", 1), ("K0002", 2), ("nope", 0)]) == 2
    assert target.delete_keys("t", KEY, []) == 0
    assert target.count("t") == 8


def test_tables_of_one_schema_prepared_side_by_side(postgres_url: str) -> None:
    import threading

    schema = f"s_{uuid.uuid4().hex[:8]}"
    errors: list[BaseException] = []

    def prepare(name: str) -> None:
        try:
            with PostgresTarget(postgres_url, schema) as store:
                store.prepare(name, COLUMNS, KEY)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=prepare, args=(f"t{i % 3}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_a_batch_of_copy_text_loads_as_the_same_rows(target: PostgresTarget) -> None:
    # The first columns come as the source database wrote them (lines of COPY text), the
    # others as its text (bytes) or as Python values: tabs, newlines, backslashes, a text
    # that reads "\N", NULLs and binary must all arrive as they are.
    columns = (*COLUMNS, Column("note", "text"), Column("tag", "text"))
    target.prepare("b", columns, KEY)
    target.prepare("r", columns, KEY)
    by_name = {c.name: c for c in columns}
    batch = MappedBatch(
        targets=tuple(by_name[n] for n in ["id", "n", "amount", "born", "note", "seen", "ok",
                                             "raw", "ratio", "tag"]),
        columns=[
            [datetime(2001, 2, 3, 4, 5, 6, 789), None, None],
            [True, None, False],
            [b"\x00\xff\\", b"", None],
            [b"0.1", None, b"-0"],
            ["tab\there", "\\N", None],
        ],
        text=[False, False, False, True, False],
        rows=3,
        lines=[b"K1\t1\t1.50\t1990-01-02\ta\\tb\\nc\\\\d\\re",
               b"K2\t2\t\\N\t\\N\t\\\\N", b"K3\t3\t-0.01\t2024-02-29\t"],
    )  # fmt: skip
    assert target.upsert_batch("b", KEY, batch) == 3
    assert target.upsert_batch("b", KEY, batch) == 3  # again: the staging path, no change
    rows = [
        ("K1", 1, Decimal("1.50"), date(1990, 1, 2), datetime(2001, 2, 3, 4, 5, 6, 789), True,
         b"\x00\xff\\", 0.1, "a\tb\nc\\d\re", "tab\there"),
        ("K2", 2, None, None, None, None, b"", None, "\\N", "\\N"),
        ("K3", 3, Decimal("-0.01"), date(2024, 2, 29), None, False, None, -0.0, "", None),
    ]  # fmt: skip
    names = [*NAMES, "note", "tag"]
    target.upsert("r", names, KEY, rows)
    assert target.rows("b", names, KEY) == target.rows("r", names, KEY) == rows


def test_copy_text_of_values_uses_psycopgs_text_forms(target: PostgresTarget) -> None:
    columns = (Column("id", "text", nullable=False), Column("when", "interval"),
               Column("amount", "decimal(9,3)", precision=9, scale=3))  # fmt: skip
    target.prepare("v", columns, ["id"])
    batch = MappedBatch(columns, [["a", "b"], [timedelta(hours=-838, seconds=-1), timedelta(0)],
                                  [Decimal("1.2345"), Decimal("2")]], [False] * 3, 2)  # fmt: skip
    target.upsert_batch("v", ["id"], batch)
    assert target.rows("v", ["id", "when", "amount"], ["id"]) == [
        ("a", timedelta(hours=-838, seconds=-1), Decimal("1.235")),
        ("b", timedelta(0), Decimal("2.000")),
    ]

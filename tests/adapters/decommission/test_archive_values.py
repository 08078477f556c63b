"""Every value type a legacy source produces, through the archive's column-wise Parquet
writing: random tables (seeded) of every column kind, some columns holding only the
types Arrow takes as they are, others mixed with the odd types sources also give (a
datetime in a date column, an int in a float one, bytes or JSON in a text one), read in
batches and cut into row groups of random sizes, then read back from Parquet and
compared with what each value must become."""

from __future__ import annotations

import datetime as dt
import io
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import adapters.decommission.archive as archive_module
from adapters.decommission import archive_legacy
from adapters.storage import LocalStore
from domain.errors import LegacyReadError
from legacy_connectors import Column, ReadStats, Row, TableInfo
from tests.adapters.decommission.conftest import write_plan

NOW = dt.datetime(2028, 1, 3, 9, 30, tzinfo=dt.UTC)
WIDE = Context(prec=100)  # room for a DECIMAL(45, 10): the default context keeps 28 digits
TEXTS = ["", "O'Brien", "Zoë Ångström", "李小龍", "naïve 😀", "trailing  ", "a|b~c", "0"]


@dataclass
class ListSource:
    """A legacy source over rows held in memory, one table, read in the batches asked."""

    info: TableInfo
    rows: list[Row]
    batch_sizes: list[int] = field(default_factory=list)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def describe(self) -> Sequence[TableInfo]:
        return [self.info]

    def count(self, table: str, where: str | None = None) -> int:
        return len(self.rows)

    def read(
        self,
        table: str,
        key: Sequence[str],
        *,
        after: Any = None,
        upto: Any = None,
        batch_rows: int = 10_000,
        stats: ReadStats | None = None,
    ) -> Iterator[list[Row]]:
        self.batch_sizes.append(batch_rows)
        for start in range(0, len(self.rows), batch_rows):
            yield [dict(row) for row in self.rows[start : start + batch_rows]]


@dataclass(frozen=True)
class Kind:
    """A column kind: its declaration, its usual values, its odd ones, what each becomes."""

    column: Callable[[str], Column]
    usual: Callable[[random.Random], Any]
    odd: Callable[[random.Random], Any] | None
    expected: Callable[[Any], Any]
    arrow: pa.DataType


def _text(r: random.Random) -> str:
    return r.choice(TEXTS) + str(r.randrange(1000))


def _decimal(r: random.Random, digits: int, scale: int) -> Decimal:
    # At most ``scale`` places, at most ``digits`` digits in all.
    places = r.randint(0, scale)
    whole = r.randrange(-(10 ** (digits - scale + places)) + 1, 10 ** (digits - scale + places))
    return Decimal(whole).scaleb(-places, context=WIDE)


def _datetime(r: random.Random) -> dt.datetime:
    return dt.datetime(1900, 1, 1) + dt.timedelta(
        days=r.randrange(80_000), seconds=r.randrange(86_400), microseconds=r.randrange(10**6)
    )


def _aware(r: random.Random) -> dt.datetime:
    zone = dt.timezone(dt.timedelta(minutes=r.choice([-300, 0, 60, 330, 765])))
    return _datetime(r).replace(tzinfo=zone)


# Values of other types that sources put in text columns, each with the text it becomes.
ODD_TEXTS: list[tuple[Any, str]] = [
    (-7, "-7"), (Decimal("1.50"), "1.50"), (2.5, "2.5"), (True, "True"),
    (b"\x00\xffab", "00ff6162"), (bytearray(b"\x10"), "10"), (memoryview(b"\xfe"), "fe"),
    ({"b": [1, "é"], "a": None}, '{"a": null, "b": [1, "é"]}'), (["x", 2], '["x", 2]'),
    (dt.date(2000, 2, 29), "2000-02-29"),
    (dt.datetime(1999, 12, 31, 23, 59, 59, 5), "1999-12-31 23:59:59.000005"),
]  # fmt: skip


def _odd_text(r: random.Random) -> Any:
    return r.choice(ODD_TEXTS)[0]


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return next(text for odd, text in ODD_TEXTS if odd is value)


def _quantized(scale: int) -> Callable[[Any], Decimal]:
    return lambda v: Decimal(v).quantize(Decimal(1).scaleb(-scale), context=WIDE)


KINDS: dict[str, Kind] = {
    "integer": Kind(
        lambda n: Column(n, "integer"),
        lambda r: r.randrange(-(2**63), 2**63), None, lambda v: v, pa.int64(),
    ),
    "integer(20)": Kind(
        lambda n: Column(n, "integer", precision=20),
        lambda r: r.randrange(-(10**20) + 1, 10**20), None, Decimal, pa.decimal128(20, 0),
    ),
    "decimal(12,2)": Kind(
        lambda n: Column(n, "decimal(12,2)", precision=12, scale=2),
        lambda r: _decimal(r, 12, 2), lambda r: r.randrange(-999, 999), _quantized(2),
        pa.decimal128(12, 2),
    ),
    "decimal(3,5)": Kind(  # COBOL's PPP9(5): a scale beyond the precision
        lambda n: Column(n, "decimal(3,5)", precision=3, scale=5),
        lambda r: Decimal(r.randrange(-999, 1000)).scaleb(-5), None, _quantized(5),
        pa.decimal128(5, 5),
    ),
    "decimal(45,10)": Kind(
        lambda n: Column(n, "decimal(45,10)", precision=45, scale=10),
        lambda r: _decimal(r, 45, 10), None, _quantized(10), pa.decimal256(45, 10),
    ),
    "decimal": Kind(  # no declared scale: the exact text
        lambda n: Column(n, "decimal"),
        lambda r: r.choice([_decimal(r, 20, 8), Decimal("1E+3"), Decimal("-0.000")]),
        lambda r: r.choice(["12.340", r.randrange(-50, 50)]),
        lambda v: format(v, "f") if isinstance(v, Decimal) else str(v), pa.string(),
    ),
    "float": Kind(
        lambda n: Column(n, "float"),
        lambda r: r.choice([r.uniform(-1e9, 1e9), -0.0, math.inf, math.nan, 5e-324]),
        lambda r: r.choice([r.randrange(-(2**60), 2**60), Decimal("444.555")]), float,
        pa.float64(),
    ),
    "boolean": Kind(
        lambda n: Column(n, "boolean"),
        lambda r: r.random() < 0.5, lambda r: r.randint(0, 1), bool, pa.bool_(),
    ),
    "date": Kind(
        lambda n: Column(n, "date"),
        lambda r: _datetime(r).date(), _datetime,
        lambda v: v.date() if isinstance(v, dt.datetime) else v, pa.date32(),
    ),
    "datetime": Kind(
        lambda n: Column(n, "datetime"), _datetime, None, lambda v: v, pa.timestamp("us"),
    ),
    "datetime aware": Kind(
        lambda n: Column(n, "datetime"), _aware, None, lambda v: v.astimezone(dt.UTC),
        pa.timestamp("us", tz="UTC"),
    ),
    "time": Kind(
        lambda n: Column(n, "time"),
        lambda r: _datetime(r).time(), None, lambda v: v, pa.time64("us"),
    ),
    "time as interval": Kind(  # MariaDB TIME: hours beyond a day, negative
        lambda n: Column(n, "time"),
        lambda r: dt.timedelta(microseconds=r.randrange(-(3 * 10**12), 3 * 10**12)), None,
        lambda v: v, pa.duration("us"),
    ),
    "interval": Kind(
        lambda n: Column(n, "interval"),
        lambda r: dt.timedelta(microseconds=r.randrange(-(10**15), 10**15)), None,
        lambda v: v, pa.duration("us"),
    ),
    "bytes": Kind(
        lambda n: Column(n, "bytes"),
        lambda r: r.randbytes(r.randrange(6)) + b"\x00\xff",
        lambda r: r.choice([bytearray(b"\x00ab"), memoryview(b"\xff\x10")]), bytes,
        pa.binary(),
    ),
    "text": Kind(lambda n: Column(n, "text"), _text, _odd_text, _as_text, pa.string()),
}  # fmt: skip

# Kinds whose Arrow type the first values decide, and its type while there are none.
SAMPLED = {"datetime aware": pa.timestamp("us"), "time as interval": pa.time64("us")}


def _same(value: Any) -> Any:
    # Decimals by their text (the scale must be kept: 0.00, not 0); floats by repr
    # (-0.0, nan); datetimes with their zone, so naive never equals aware.
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, dt.datetime):
        return ("datetime", value, value.utcoffset())
    return value


def random_table(r: random.Random, rows: int, row_group_rows: int) -> tuple[ListSource, dict]:
    names = list(KINDS)
    r.shuffle(names)
    columns = [Column("id", "integer", nullable=False)]
    values: dict[str, list[Any]] = {"id": list(range(1, rows + 1))}
    for index, kind_name in enumerate(names):
        kind = KINDS[kind_name]
        name = f"c{index}"
        columns.append(kind.column(name))
        # Some columns hold only the usual types, so whole batches go to Arrow as they
        # are; others have odd values now and then, or often.
        odd_rate = r.choice([0.0, 0.0, 0.05, 0.5]) if kind.odd else 0.0
        nulls = r.choice([0.0, 0.2, 1.0])
        column: list[Any] = []
        for _ in range(rows):
            if r.random() < nulls:
                column.append(None)
            elif kind.odd is not None and r.random() < odd_rate:
                column.append(kind.odd(r))
            else:
                column.append(kind.usual(r))
        if kind_name in SAMPLED and nulls < 1:
            # Nothing but NULLs for a while, then a value before a row group's worth: the
            # type waits for it. (A column NULL for a whole row group and aware or an
            # interval only later is archived naive, or refused, as it always was.)
            lead = r.randrange(row_group_rows)
            column[:lead] = [None] * lead
            if lead < rows:
                column[lead] = kind.usual(r)
        values[name] = column
    info = TableInfo("random", tuple(columns), key=("id",))
    table = [{c.name: values[c.name][i] for c in columns} for i in range(rows)]
    kinds = {f"c{i}": k for i, k in enumerate(names)}
    return ListSource(info, table), kinds


@pytest.mark.parametrize("seed", range(40))
def test_every_value_type_reads_back_exact(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = random.Random(seed)
    rows = r.choice([0, 1, r.randint(2, 90)])
    row_group_rows, read_rows = r.randint(1, 12), r.randint(1, 15)
    source, kinds = random_table(r, rows, row_group_rows)
    monkeypatch.setattr(archive_module, "open_legacy_source", lambda _config: source)
    plan = write_plan(tmp_path, {"kind": "sql", "url": "sqlite:///unused.db"}, tables=["t"])
    store = LocalStore(tmp_path / "objects")

    result = archive_legacy(
        plan, store, now=NOW, row_group_rows=row_group_rows, read_rows=read_rows
    )

    assert (result.verified, result.rows) == (True, rows)
    assert source.batch_sizes == [min(read_rows, row_group_rows)]
    data = store.get(f"archives/{plan.system.id}/20280103T093000Z/tables/random.parquet")
    file = pq.ParquetFile(io.BytesIO(data))
    groups = [file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups)]
    assert groups == [row_group_rows] * (rows // row_group_rows) + (
        [rows % row_group_rows] if rows % row_group_rows else []
    )
    table = file.read()
    for name, kind_name in kinds.items():
        kind = KINDS[kind_name]
        sent = [row[name] for row in source.rows]
        arrow = kind.arrow
        if kind_name in SAMPLED and all(v is None for v in sent):
            arrow = SAMPLED[kind_name]
        assert table.schema.field(name).type == arrow, kind_name
        want = [None if v is None else _same(kind.expected(v)) for v in sent]
        got = [_same(v) for v in table.column(name).to_pylist()]
        assert got == want, kind_name
    assert table.column("id").to_pylist() == list(range(1, rows + 1))


@pytest.mark.parametrize(
    ("column", "values"),
    [
        (Column("n", "integer"), [1, "12"]),  # handed to Arrow as they are
        (Column("photo", "bytes"), [b"ok", "text, not bytes"]),  # converted one by one
        (Column("amount", "decimal(5,2)", precision=5, scale=2), [Decimal("1.234")]),
        (Column("ratio", "float"), [1.5, "not a number"]),
    ],
)
def test_a_value_that_does_not_fit_names_the_column_not_the_value(
    column: Column, values: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = TableInfo("odd", (Column("id", "integer"), column), key=("id",))
    rows = [{"id": i, column.name: v} for i, v in enumerate(values)]
    monkeypatch.setattr(archive_module, "open_legacy_source", lambda _c: ListSource(info, rows))
    plan = write_plan(tmp_path, {"kind": "sql", "url": "sqlite:///unused.db"}, tables=["t"])
    with pytest.raises(LegacyReadError, match=f"column {column.name} ") as raised:
        archive_legacy(plan, LocalStore(tmp_path / "objects"), now=NOW)
    for value in values:
        assert str(value) not in str(raised.value)

"""RowMapper and the named transforms: parsed once, applied exactly, errors without values."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from adapters.mapping import RowMapper, parse_transform
from config.migration_plan import TablePlan
from domain.errors import LegacyReadError, PlanError
from legacy_connectors.base import Column, TableInfo
from legacy_connectors.sql import TextBatch

INFO = TableInfo(
    name="ELECTOR",
    columns=(
        Column("ELECTOR_ID", "text", nullable=False),
        Column("SURNAME", "text"),
        Column("DOB", "text"),
        Column("BALANCE", "decimal(9,3)", precision=9, scale=3),
        Column("STATUS", "text"),
        Column("Notes", "text"),
    ),
    key=("ELECTOR_ID",),
)


def plan(**columns: object) -> TablePlan:
    return TablePlan.model_validate({"source": "ELECTOR", "target": "electors", "columns": columns})


def test_maps_names_types_and_values() -> None:
    mapper = RowMapper(
        plan(
            ELECTOR_ID="elector_id",
            SURNAME={"to": "surname", "transform": "strip"},
            DOB={"to": "date_of_birth", "transform": "date:%Y%m%d"},
            BALANCE={"to": "balance", "transform": "decimal:2"},
            STATUS={"to": "status", "transform": "map:A=active|X=closed"},
        ),
        INFO,
    )
    assert [(c.name, c.type) for c in mapper.target_columns] == [
        ("elector_id", "text"),
        ("surname", "text"),
        ("date_of_birth", "date"),
        ("balance", "decimal(8,2)"),
        ("status", "text"),
        ("notes", "text"),
    ]
    assert mapper.source_key == ("ELECTOR_ID",)
    assert mapper.target_key == ("elector_id",)
    assert not mapper.target_columns[0].nullable
    row = {
        "ELECTOR_ID": "E1",
        "SURNAME": "  Okafor ",
        "DOB": "19800229",
        "BALANCE": Decimal("10.005"),
        "STATUS": "Q",
        "Notes": None,
    }
    assert mapper.map(row) == {
        "elector_id": "E1",
        "surname": "Okafor",
        "date_of_birth": date(1980, 2, 29),
        "balance": Decimal("10.01"),
        "status": "Q",
        "notes": None,
    }
    assert mapper.values(row) == tuple(mapper.map(row).values())
    assert mapper.map_key(("E1",)) == ("E1",)


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ("upper", "ab", "AB"),
        ("lower", "AB", "ab"),
        ("title", "mary o'neil", "Mary O'Neil"),
        ("date:%d/%m/%Y %H:%M", "01/02/2003 04:05", datetime(2003, 2, 1, 4, 5)),
        ("date:%Y%m%d", "   ", None),
        ("date:%Y%m%d", datetime(2001, 1, 2, 3, 4), date(2001, 1, 2)),
        ("decimal:2", "1.005", Decimal("1.01")),
        ("decimal:2", "-1.005", Decimal("-1.01")),
        ("decimal:0", 0.1, Decimal("0")),
        ("decimal:1", 0.15, Decimal("0.2")),
        ("int", " 42 ", 42),
        ("int", Decimal("7.000"), 7),
        ("int", "", None),
        ("null_if:|N/A", "", None),
        ("null_if:|N/A", "N/A", None),
        ("null_if:0", 0, None),
        ("null_if:0", 5, 5),
        ("map:1=Y|0=N", 1, "Y"),
        ("map:1=Y|0=N", 2, "2"),
        ("ebcdic-packed", bytes([0x12, 0x34, 0x5D]), Decimal(-12345)),
        ("ebcdic-packed", bytes([0x00, 0x7C]), Decimal(7)),
        ("ebcdic-packed", Decimal(12), Decimal(12)),
        ("json:dumps", [1], "[1]"),
    ],
)
def test_transforms(spec: str, value: object, expected: object) -> None:
    assert parse_transform(spec).apply(value) == expected


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ("date:%Y%m%d", "19801301"),
        ("decimal:2", "12,50"),
        ("decimal:2", "NaN"),
        ("int", "1.5"),
        ("ebcdic-packed", bytes([0x1A, 0x0C])),
        ("upper", 5),
    ],
)
def test_bad_values_name_column_not_value(spec: str, value: object) -> None:
    info = TableInfo("T", (Column("K", "integer"), Column("V", "text")), key=("K",))
    mapper = RowMapper(
        TablePlan(source="T", target="t", columns={"V": {"to": "v", "transform": spec}}), info
    )
    with pytest.raises(LegacyReadError) as caught:
        mapper.map({"K": 1, "V": value})
    with pytest.raises(LegacyReadError, match="column V"):
        mapper.values({"K": 1, "V": value})
    assert "column V" in str(caught.value)
    assert spec in str(caught.value)
    assert str(value) not in str(caught.value).replace(spec, "")


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"NOPE": "x"}, "no such source column: NOPE"),
        ({"BALANCE": {"to": "b", "transform": "upper"}}, "is for text"),
        ({"DOB": {"to": "d", "transform": "date:Ymd"}}, "strptime format"),
        ({"STATUS": {"to": "s", "transform": "map:A"}}, "is not FROM=TO"),
        ({"STATUS": {"to": "s", "transform": "nosuchmodule_x:f"}}, "cannot import"),
        ({"STATUS": "surname", "SURNAME": "surname"}, "two columns map to surname"),
    ],
)
def test_plan_errors_up_front(columns: dict[str, object], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        RowMapper(plan(**columns), INFO)


def test_key_from_plan_or_source_or_pseudo() -> None:
    info = TableInfo("F", (Column("A", "text"),))
    with pytest.raises(PlanError, match="no key"):
        RowMapper(TablePlan(source="F", target="f"), info)
    mapper = RowMapper(TablePlan(source="F", target="f", key=["_record"]), info)
    assert mapper.target_key == ("_record",)
    assert mapper.map({"_record": 3, "A": "x"}) == {"_record": 3, "a": "x"}
    with pytest.raises(PlanError, match="no such key column"):
        RowMapper(TablePlan(source="F", target="f", key=["B"]), info)


def as_text(value: object) -> str:
    return f"<{value}>"


as_text.target_type = "text"  # type: ignore[attr-defined]


def test_callable_target_type() -> None:
    info = TableInfo("T", (Column("K", "integer"), Column("V", "integer")), key=("K",))
    plan_ = TablePlan.model_validate(
        {
            "source": "T",
            "target": "t",
            "key": ["K"],
            "columns": {"V": {"to": "v", "transform": "tests.adapters.test_mapping:as_text"}},
        }
    )
    mapper = RowMapper(plan_, info)
    assert mapper.target_columns[1].type == "text"
    assert mapper.map({"K": 1, "V": 2}) == {"k": 1, "v": "<2>"}


ODD_TEXT = ["  O'Brien ", "ΟΔΟΣ Σίσυφος", "straße", "ǆemal", "\u2003wide\xa0", "", "x\x1cy",
            "Zoë 😀", None, "tab\tin"]  # fmt: skip


def text_batch(rows: list[dict[str, object]], line_columns: tuple[str, ...] = ()) -> TextBatch:
    """A batch as ``SqlSource.read_text`` gives it for INFO's columns (MariaDB's text)."""
    kinds = {"BALANCE": "decimal"}
    names = [c.name for c in INFO.columns if c.name not in line_columns or c.name == "ELECTOR_ID"]

    def text(value: object) -> bytes | None:
        return None if value is None else str(value).encode()

    return TextBatch(
        names=names,
        kinds=[kinds.get(n, "text") for n in names],
        columns=[[text(r.get(n)) for r in rows] for n in names],
        rows=len(rows),
        line_columns=line_columns,
        lines=[b"line"] * len(rows) if line_columns else None,
    )


def test_text_batches_map_to_the_values_rows_map_to() -> None:
    # Column-wise mapping of the database's text gives the values row-by-row mapping gives.
    for transform in ("strip", "upper", "lower", "title", "null_if:|N/A", "map:O=P"):
        mapper = RowMapper(plan(SURNAME={"to": "surname", "transform": transform},
                                BALANCE={"to": "balance", "transform": "decimal:2"},
                                STATUS={"to": "status", "transform": "upper"}), INFO)  # fmt: skip
        rows = [{"ELECTOR_ID": f"E{i}", "SURNAME": name, "BALANCE": Decimal("1.234"),
                 "STATUS": "a" if i % 2 else None} for i, name in enumerate(ODD_TEXT)]  # fmt: skip
        mapped = mapper.map_text(text_batch(rows))
        assert [c.name for c in mapped.targets] == [c.name for c in mapper.target_columns]
        want = [mapper.values(r) for r in rows]
        for index, (values, is_text) in enumerate(zip(mapped.columns, mapped.text, strict=True)):
            got = [v.decode() if is_text and v is not None else v for v in values]
            expected = [w[index] for w in want]
            if mapper.target_columns[index].name == "balance":
                got = [Decimal(v) for v in got]
            assert got == expected, (transform, mapper.target_columns[index].name)


def test_lines_carry_untransformed_columns_and_the_rest_follows() -> None:
    mapper = RowMapper(plan(SURNAME={"to": "surname", "transform": "strip"},
                            BALANCE={"to": "balance", "transform": "decimal:3"},
                            DOB={"to": "born", "transform": "date:%Y%m%d"}), INFO)  # fmt: skip
    # decimal:3 of a DECIMAL(9,3) cannot change a value: it travels in the line as it is
    assert mapper.line_sources == ("ELECTOR_ID", "BALANCE", "STATUS", "Notes")
    rows = [{"ELECTOR_ID": "E1", "SURNAME": " a ", "DOB": "19610312"}]
    mapped = mapper.map_text(text_batch(rows, mapper.line_sources))
    assert [c.name for c in mapped.targets] == ["elector_id", "balance", "status", "notes",
                                                "surname", "born"]  # fmt: skip
    assert mapped.lines == [b"line"]
    assert mapped.columns == [[b"a"], [date(1961, 3, 12)]]
    assert mapped.text == [True, False]
    with pytest.raises(PlanError, match="SURNAME is transformed"):
        mapper.map_text(text_batch(rows, ("ELECTOR_ID", "SURNAME")))


def test_a_bad_value_in_a_text_batch_names_its_column() -> None:
    mapper = RowMapper(plan(DOB={"to": "born", "transform": "date:%Y%m%d"}), INFO)
    batch = text_batch([{"ELECTOR_ID": "E1", "DOB": "31/12/99"}])
    with pytest.raises(LegacyReadError, match="column DOB") as caught:
        mapper.map_text(batch)
    assert "31/12/99" not in str(caught.value)

"""RowMapper and the named transforms: parsed once, applied exactly, errors without values."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from adapters.mapping import RowMapper, parse_transform
from config.migration_plan import TablePlan
from domain.errors import LegacyReadError, PlanError
from legacy_connectors.base import Column, TableInfo

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

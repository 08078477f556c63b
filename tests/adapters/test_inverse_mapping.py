"""The plan's mapping inverted: a legacy row mapped forward and back is the row again, for
random rows of every transform that has an inverse; a transform without one needs the
plan's ``inverse``; a plan that cannot be inverted says why."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from adapters.inverse_mapping import InverseMapper, inverse_problems
from adapters.mapping import RowMapper
from config.migration_plan import TablePlan, parse_plan
from domain.errors import PlanError
from legacy_connectors.base import Column, TableInfo

INFO = TableInfo(
    name="PERSON",
    columns=(
        Column("ID", "integer", nullable=False),
        Column("SURNAME", "text"),
        Column("NINO", "text"),
        Column("DOB", "text"),
        Column("BORN", "date"),
        Column("BALANCE", "decimal(10,2)", precision=10, scale=2),
        Column("AMOUNT", "text"),
        Column("COUNT_TXT", "text"),
        Column("STATUS", "text"),
        Column("FLAG", "text"),
        Column("NOTES", "text"),
    ),
    key=("ID",),
)
TABLE = TablePlan(
    source="PERSON",
    target="people",
    columns={
        "ID": "person_id",
        "SURNAME": {"to": "surname", "transform": "strip"},
        "NINO": {"to": "nino", "transform": "upper", "inverse": "keep"},
        "DOB": {"to": "date_of_birth", "transform": "date:%Y%m%d"},
        "BORN": {"to": "born", "transform": "date:%d/%m/%Y"},
        "BALANCE": {"to": "balance", "transform": "decimal:2"},
        "AMOUNT": {"to": "amount", "transform": "decimal:2"},
        "COUNT_TXT": {"to": "count", "transform": "int"},
        "STATUS": {"to": "status", "transform": "map:A=active|D=dormant"},
        "FLAG": {"to": "flag", "transform": "null_if:-"},
    },
)


def _random_row(rng: random.Random) -> dict[str, Any]:
    born = date(1930, 1, 1) + timedelta(days=rng.randrange(30_000))
    return {
        "ID": rng.randrange(1, 10**6),
        "SURNAME": rng.choice(["SMITH", "O'NEIL", "Ng", "Åberg"]),
        "NINO": rng.choice(["ab123456c", "AB123456C"]),
        "DOB": born.strftime("%Y%m%d"),
        "BORN": born,
        "BALANCE": Decimal(rng.randrange(-(10**6), 10**6)).scaleb(-2),
        "AMOUNT": format(Decimal(rng.randrange(10**5)).scaleb(-2), "f"),
        "COUNT_TXT": str(rng.randrange(1000)),
        "STATUS": rng.choice(["A", "D", "X"]),
        "FLAG": rng.choice(["-", "Y", "N"]),
        "NOTES": rng.choice([None, "seen at the counter"]),
    }


@pytest.mark.parametrize("seed", range(20))
def test_a_row_mapped_forward_and_back_is_the_row_again(seed: int) -> None:
    rng = random.Random(seed)
    forward, back = RowMapper(TABLE, INFO), InverseMapper(TABLE, INFO)
    for _ in range(50):
        row = _random_row(rng)
        returned = back.row(forward.map(row))
        assert "NINO" not in returned  # kept: legacy's value stays
        assert returned == {name: value for name, value in row.items() if name != "NINO"}
        assert back.key(forward.map_key((row["ID"],))) == (row["ID"],)


def test_columns_modern_no_longer_has_are_left_as_legacy_holds_them() -> None:
    forward, back = RowMapper(TABLE, INFO), InverseMapper(TABLE, INFO)
    target = forward.map(_random_row(random.Random(1)))
    del target["notes"], target["status"]
    assert {"NOTES", "STATUS"}.isdisjoint(back.row(target))


def test_a_null_from_null_if_goes_back_as_legacys_own_marker() -> None:
    back = InverseMapper(TABLE, INFO)
    assert back.row({"flag": None})["FLAG"] == "-"


def test_a_value_modern_wrote_fits_the_legacy_columns_type() -> None:
    back = InverseMapper(TABLE, INFO)
    returned = back.row({"amount": Decimal("12.50"), "count": 7, "date_of_birth": date(2001, 2, 3)})
    assert returned == {"AMOUNT": "12.50", "COUNT_TXT": "7", "DOB": "20010203"}


def test_a_transform_without_an_inverse_takes_the_plans() -> None:
    columns = {
        **TABLE.model_dump()["columns"],
        "NINO": {"to": "nino", "transform": "upper", "inverse": "lower"},
    }
    plan_table = TablePlan.model_validate({**TABLE.model_dump(), "columns": columns})
    assert InverseMapper(plan_table, INFO).row({"nino": "AB123456C"})["NINO"] == "ab123456c"


@pytest.mark.parametrize(
    ("column", "mapping", "problem"),
    [
        ("NINO", {"to": "nino", "transform": "upper"}, "transform upper has no inverse"),
        ("STATUS", {"to": "status", "transform": "map:A=x|B=x"}, "has no inverse"),
        ("SURNAME", {"to": "s", "transform": "string:capwords"}, "has no inverse"),
        ("ID", {"to": "person_id", "inverse": "keep"}, "a key column cannot keep"),
    ],
)
def test_a_mapping_that_cannot_be_inverted_gives_no_way_back_and_says_why(
    column: str, mapping: dict[str, str], problem: str
) -> None:
    plan = parse_plan(_PLAN.replace("COLUMNS", f"{column}: {mapping}"))
    problems = inverse_problems(plan)
    assert len(problems) == 1
    assert problem in problems[0]
    assert f"column {column}" in problems[0]
    with pytest.raises(PlanError, match="inverse"):
        InverseMapper(plan.tables[0], INFO)


def test_a_file_source_has_no_way_back() -> None:
    plan = parse_plan(
        _PLAN.replace("kind: sql", "kind: csv")
        .replace("url: x", "path: /tmp/x")
        .replace("COLUMNS", "")
    )
    assert inverse_problems(plan) == [
        "legacy is a csv source: files cannot take modern's writes back"
    ]


def test_an_unknown_inverse_is_refused_when_the_plan_is_read() -> None:
    with pytest.raises(PlanError, match="unknown inverse 'backwards'"):
        parse_plan(
            _PLAN.replace("COLUMNS", "NINO: {to: nino, transform: upper, inverse: backwards}")
        )


_PLAN = """
system: {id: legacy-test, name: Test}
source: {kind: sql, url: x}
target: {url: "postgresql+psycopg://postgres@127.0.0.1/modern"}
tables:
  - source: PERSON
    target: people
    key: [ID]
    columns: {COLUMNS}
"""

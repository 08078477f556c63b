"""Field-level comparison: the normalisations engines force on each other, and tolerances."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from adapters.reconciliation import ColumnRule, changed_columns, column_rules, values_equal
from adapters.reconciliation.compare import TargetColumnType
from config.migration_plan import TablePlan

PLAIN = ColumnRule("c")


@pytest.mark.parametrize(
    ("legacy", "target"),
    [
        (Decimal("2.5"), Decimal("2.50")),  # decimal scale
        (0.0, -0.0),  # -0 and 0
        (Decimal("0"), -0.0),
        (0.1, Decimal("0.1")),  # a float and a decimal of the same value
        (True, 1),
        (None, None),
        (b"\x00\xff", memoryview(b"\x00\xff")),
        (dt.datetime(2020, 1, 1, 12, tzinfo=dt.UTC), dt.datetime(2020, 1, 1, 12)),
    ],
)
def test_equal_after_normalisation(legacy: object, target: object) -> None:
    assert values_equal(PLAIN, legacy, target)


@pytest.mark.parametrize(
    ("legacy", "target"),
    [
        (Decimal("2.5"), Decimal("2.51")),
        (None, ""),  # unless the plan says so
        ("ab ", "ab"),  # trailing blanks matter outside CHAR columns
        (dt.datetime(2020, 1, 1, 0, 0, 0, 123456), dt.datetime(2020, 1, 1, 0, 0, 0, 123000)),
        ("1", 1),
    ],
)
def test_different(legacy: object, target: object) -> None:
    assert not values_equal(PLAIN, legacy, target)


def test_char_padding_is_not_a_difference_in_a_char_column() -> None:
    assert values_equal(ColumnRule("c", char=True), "ab  ", "ab")


def test_timestamps_at_the_target_precision_truncated_or_rounded() -> None:
    rule = ColumnRule("c", fraction_digits=3)
    legacy = dt.datetime(2020, 1, 1, 0, 0, 0, 123789)
    assert values_equal(rule, legacy, dt.datetime(2020, 1, 1, 0, 0, 0, 123000))  # truncated
    assert values_equal(rule, legacy, dt.datetime(2020, 1, 1, 0, 0, 0, 124000))  # rounded
    assert not values_equal(rule, legacy, dt.datetime(2020, 1, 1, 0, 0, 0, 125000))


def test_tolerances_and_null_as_empty_come_from_the_plan() -> None:
    plan = TablePlan(
        source="T", target="t", tolerance={"amount": 0.01, "seen": 2},
        columns={"NOTE": {"to": "note", "transform": "null_if:"},
                 "AMOUNT": "amount", "SEEN": "seen"},
    )  # fmt: skip
    rules = column_rules(plan, [("AMOUNT", "amount"), ("SEEN", "seen"), ("NOTE", "note")],
                         {"seen": TargetColumnType(fraction_digits=0)})  # fmt: skip
    start = dt.datetime(2020, 1, 1)
    legacy = {"amount": Decimal("10.00"), "seen": start, "note": None}
    inside = {"amount": Decimal("10.01"), "seen": start + dt.timedelta(seconds=2), "note": ""}
    assert changed_columns(rules, legacy, inside) == {}
    outside = {"amount": Decimal("10.02"), "seen": start + dt.timedelta(seconds=3), "note": "x"}
    assert changed_columns(rules, legacy, outside) == {
        "amount": (Decimal("10.00"), Decimal("10.02")),
        "seen": (start, start + dt.timedelta(seconds=3)),
        "note": (None, "x"),
    }

"""Field-level comparison of a mapped legacy row with its target row.

Checksums only say *where* rows may differ; this decides *whether* they do. Values are
compared after the normalisations two engines force on each other:

* numbers by value: ``2.5`` equals ``2.50`` (decimal scale), ``-0.0`` equals ``0``, a float
  equals a decimal of the same value; within the plan's ``tolerance`` when it gives one;
* text in a CHAR(n) target column without trailing blanks (CHAR pads, SQL ignores it);
* timestamps at the target column's fractional precision (truncated or rounded: engines
  differ), naive and UTC-aware alike; a tolerance on a timestamp column is in seconds;
* a duration (MariaDB's TIME) and a time of day by their time since midnight;
* NULL and the empty string alike where the plan says they are (a ``null_if:`` transform
  that names the empty string).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from config.migration_plan import TablePlan


@dataclass(frozen=True)
class TargetColumnType:
    """What the target's schema says about a column, beyond the portable type."""

    char: bool = False
    """A fixed-width CHAR(n): trailing blanks are padding."""
    fraction_digits: int | None = None
    """A timestamp's or time's declared fractional-second digits (0..6)."""


@dataclass(frozen=True)
class ColumnRule:
    """How one target column is compared."""

    name: str
    tolerance: Decimal | None = None
    null_equals_empty: bool = False
    char: bool = False
    fraction_digits: int | None = None


def column_rules(
    table_plan: TablePlan,
    mapped: Sequence[tuple[str, str]],
    target_types: Mapping[str, TargetColumnType],
) -> list[ColumnRule]:
    """The comparison rule of every mapped column.

    Args:
        table_plan: the plan's table (tolerances, transforms).
        mapped: (source column, target column) pairs, in the mapper's order.
        target_types: what the target's schema says per target column.
    """
    rules = []
    for source, target in mapped:
        transform = table_plan.column_mapping(source).transform or ""
        nulls = transform.partition(":")[2].split("|") if transform.startswith("null_if:") else []
        tolerance = table_plan.tolerance.get(target)
        kind = target_types.get(target, TargetColumnType())
        rules.append(
            ColumnRule(
                name=target,
                tolerance=None if tolerance is None else Decimal(str(tolerance)),
                null_equals_empty="" in nulls,
                char=kind.char,
                fraction_digits=kind.fraction_digits,
            )
        )
    return rules


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        try:
            return Decimal(repr(value))
        except InvalidOperation:
            return None
    return None


def _utc_naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _at_precision(value: dt.datetime, digits: int, *, rounded: bool) -> dt.datetime:
    step = 10 ** (6 - digits)
    micro = value.microsecond
    if rounded:
        return value.replace(microsecond=0) + dt.timedelta(
            microseconds=int(
                (Decimal(micro) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step
            )
        )
    return value.replace(microsecond=micro - micro % step)


def _duration(value: dt.timedelta | dt.time) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    return dt.timedelta(hours=value.hour, minutes=value.minute, seconds=value.second,
                        microseconds=value.microsecond)  # fmt: skip


def values_equal(rule: ColumnRule, legacy: Any, target: Any) -> bool:
    """Whether a mapped legacy value and the target's value are the same, under ``rule``."""
    if rule.null_equals_empty:
        legacy = None if legacy == "" else legacy
        target = None if target == "" else target
    if legacy is None or target is None:
        return legacy is None and target is None
    if isinstance(legacy, str) and isinstance(target, str):
        if rule.char:
            return legacy.rstrip(" ") == target.rstrip(" ")
        return legacy == target
    a, b = _number(legacy), _number(target)
    if a is not None and b is not None:
        if rule.tolerance is not None:
            return abs(a - b) <= rule.tolerance
        return a == b
    if isinstance(legacy, dt.datetime) and isinstance(target, dt.datetime):
        left, right = _utc_naive(legacy), _utc_naive(target)
        if rule.tolerance is not None:
            return abs((left - right).total_seconds()) <= rule.tolerance
        if left == right:
            return True
        digits = rule.fraction_digits
        if digits is None or digits >= 6:
            return False
        # The copy lost precision: the target holds the legacy value truncated or rounded.
        return right in (
            _at_precision(left, digits, rounded=False),
            _at_precision(left, digits, rounded=True),
        )
    if isinstance(legacy, dt.timedelta | dt.time) and isinstance(target, dt.timedelta | dt.time):
        # MariaDB's TIME is a duration; a target may hold it as a time of day.
        return _duration(legacy) == _duration(target)
    if isinstance(legacy, bytes | bytearray | memoryview) and isinstance(
        target, bytes | bytearray | memoryview
    ):
        return bytes(legacy) == bytes(target)
    return bool(legacy == target)


def changed_columns(
    rules: Sequence[ColumnRule], legacy: Mapping[str, Any], target: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """The columns whose values differ, each with (legacy value, target value)."""
    out = {}
    for rule in rules:
        a, b = legacy.get(rule.name), target.get(rule.name)
        if not values_equal(rule, a, b):
            out[rule.name] = (a, b)
    return out

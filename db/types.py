"""Column types and the column shapes the models share.

Both types exist so that the default SQLite database behaves like PostgreSQL:
SQLite has no time zones and no decimal type.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from sqlalchemy import BigInteger, Dialect, Integer, Numeric, String
from sqlalchemy.orm import mapped_column
from sqlalchemy.types import DateTime, TypeDecorator, TypeEngine

PENNY = Decimal("0.01")


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime, stored in UTC, read back aware in UTC on every backend.

    PostgreSQL stores ``timestamptz``. SQLite has no time zone, so the UTC wall time is
    stored and UTC is attached again on the way out. Naive datetimes are refused: guessing
    their zone is how timestamps end up an hour out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: pass a timezone-aware datetime (UTC)")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):  # pragma: no cover - drivers give datetimes
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Money(TypeDecorator[Decimal]):
    """An amount in pounds with two decimal places, exact on every backend.

    PostgreSQL stores ``NUMERIC(12, 2)``. SQLite would store NUMERIC as a binary float, so
    there the amount is kept as whole pence in an integer; sums stay exact either way.
    Floats are refused, and so are amounts with fractions of a penny.
    """

    impl = Numeric(12, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(12, 2, asdecimal=True))

    def process_bind_param(self, value: Any | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = to_money(value)
        if dialect.name == "sqlite":
            return int(amount / PENNY)
        return amount

    def process_result_value(self, value: Any | None, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) * PENNY).quantize(PENNY)
        return Decimal(value).quantize(PENNY)


def to_money(value: Decimal | int | str) -> Decimal:
    """An amount in pounds as a Decimal with two places.

    Raises:
        TypeError: for floats, which cannot hold pence exactly.
        ValueError: for non-numbers, and for amounts with a fraction of a penny.
    """
    if isinstance(value, float | bool):
        raise TypeError("money must be a Decimal, int or str, never a float")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"not an amount of money: {value!r}")
    rounded = amount.quantize(PENNY)
    if rounded != amount:
        raise ValueError(f"amount has a fraction of a penny: {value!r}")
    return rounded


def json_ready(value: Any) -> Any:
    """``value`` as the JSON column will give it back: decimals, dates and UUIDs as strings.

    Storing this form means what is written compares equal to what is read, which the
    audit chain's hashes and idempotent repeats rely on.

    Raises:
        TypeError: a value JSON cannot hold.
        ValueError: NaN or infinity, which PostgreSQL's JSON refuses.
    """
    return json.loads(canonical_json(value))


def canonical_json(value: Any) -> str:
    """One JSON text per value: keys sorted, no spaces, decimals/dates/UUIDs as strings."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} cannot be stored as JSON")


# Reused column shapes (warehouse style). BIGINT on PostgreSQL; on SQLite only an
# INTEGER primary key is the auto-incrementing rowid.
_BIGINT = BigInteger().with_variant(Integer(), "sqlite")
IntPK = Annotated[int, mapped_column(_BIGINT, primary_key=True)]
RowRef = Annotated[int, mapped_column(_BIGINT)]
"""A reference to an ``IntPK`` of another table: the same type on every backend."""
Sha256 = Annotated[str, mapped_column(String(64))]
FormType = Annotated[str, mapped_column(String(100))]
WorkflowId = Annotated[str, mapped_column(String(255))]
StorageKey = Annotated[str, mapped_column(String(1024))]
Actor = Annotated[str, mapped_column(String(255))]
CreatedAt = Annotated[dt.datetime, mapped_column(UTCDateTime(), default=utcnow)]
Timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime())]

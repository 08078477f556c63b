"""The canonical text form of a row, and the checksums reconciliation builds on it.

The same logical row gives the same checksum whether MariaDB computes it, PostgreSQL
computes it, or Python computes it from streamed rows, so a legacy table can be reconciled
against a target on another engine segment by segment. ``legacy_connectors.sql`` holds the
SQL spelling of every rule below; tests check the three agree.

Canonical form of one value:

==================  ===============================================================
value               canonical text
==================  ===============================================================
NULL (and zero      ``~``
dates)
anything else       ``<length>:<text>``, length in characters, with ``text``:
boolean             ``1`` or ``0`` (MariaDB has no boolean: TINYINT(1) holds 1/0)
integer             decimal digits, ``-`` for negatives
decimal             fixed point, exactly the column's declared scale (``2.50``);
                    as stored when the column declares none
float               rounded half away from zero to 6 decimals after reading it with
                    15 significant digits (``444.555000``): engines print floats
                    differently, this is what all three can produce alike
date                ``YYYY-MM-DD``
datetime            ``YYYY-MM-DD HH:MM:SS.ffffff`` (always 6 fraction digits; aware
                    values in UTC)
time                ``HH:MM:SS.ffffff``
text                as is; CHAR(n) without its trailing blanks
bytes               lower-case hex
==================  ===============================================================

A row's canonical form is its values' forms, in the order the caller names the columns
(names are not part of it, so differently named columns on two sides still compare),
joined with ``|``. The length prefix makes the joining unambiguous. A row's *fold* is the
first 15 hex digits (60 bits) of the md5 of that form's UTF-8 bytes, as an integer; a
segment's checksum is the sum of its rows' folds modulo 2**64. A sum, unlike an xor,
does not cancel two identical rows, and it does not depend on row order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

NULL = "~"
SEPARATOR = "|"
FOLD_HEX_DIGITS = 15
CHECKSUM_MODULUS = 2**64
_FLOAT_QUANTUM = Decimal("0.000001")
_WIDE = Context(prec=400, Emax=999_999, Emin=-999_999)
"""Room for any float (up to 1.8e308) or DECIMAL to six places without InvalidOperation."""


def canonical_value(value: Any, scale: int | None = None) -> str:
    """The canonical text of one value (see the module's table).

    Args:
        value: a value as a source returns it.
        scale: the declared scale of a decimal column, if it declares one.

    Returns:
        ``~`` for None, otherwise ``<length>:<text>``.
    """
    if value is None:
        return NULL
    text = _text(value, scale)
    return f"{len(text)}:{text}"


def _text(value: Any, scale: int | None) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if scale is not None:
            value = value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP, context=_WIDE)
        return format(value, "f")
    if isinstance(value, float):
        rounded = Decimal(format(value, ".15g")).quantize(
            _FLOAT_QUANTUM, rounding=ROUND_HALF_UP, context=_WIDE
        )
        return format(rounded, "f")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return (
            f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
        )
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if isinstance(value, time):
        return f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    if isinstance(value, timedelta):
        # MariaDB's TIME arrives as a timedelta (it may exceed a day or be negative).
        sign = "-" if value < timedelta(0) else ""
        micros = abs(value) // timedelta(microseconds=1)
        seconds, micro = divmod(micros, 1_000_000)
        minutes, second = divmod(seconds, 60)
        hours, minute = divmod(minutes, 60)
        return f"{sign}{hours:02d}:{minute:02d}:{second:02d}.{micro:06d}"
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def canonical_row(values: Sequence[Any], scales: Sequence[int | None] | None = None) -> str:
    """The canonical text of a row's values, in the given column order."""
    if scales is None:
        return SEPARATOR.join(canonical_value(v) for v in values)
    return SEPARATOR.join(canonical_value(v, s) for v, s in zip(values, scales, strict=True))


def row_md5(values: Sequence[Any], scales: Sequence[int | None] | None = None) -> str:
    """The md5 (hex) of a row's canonical form: also the ``_row_hash`` key of a row."""
    return hashlib.md5(canonical_row(values, scales).encode(), usedforsecurity=False).hexdigest()


def row_fold(values: Sequence[Any], scales: Sequence[int | None] | None = None) -> int:
    """A row's contribution to its segment's checksum."""
    return int(row_md5(values, scales)[:FOLD_HEX_DIGITS], 16)


def checksum(
    rows: Iterable[Sequence[Any]], scales: Sequence[int | None] | None = None
) -> tuple[int, int]:
    """Row count and checksum of rows, computed in Python (the streamed fallback).

    Args:
        rows: each row's values in the checksum's column order.
        scales: declared decimal scales per column (None where not a decimal).

    Returns:
        ``(rows, checksum)``; the checksum is independent of row order.
    """
    count = 0
    total = 0
    for values in rows:
        count += 1
        total += row_fold(values, scales)
    return count, total % CHECKSUM_MODULUS

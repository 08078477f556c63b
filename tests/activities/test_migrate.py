"""The copy's read-ahead: batches in order, errors carried over, an early stop closes the
source's reader. (The activities against real databases: tests/migration.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from activities.migrate import _ReadAhead, key_from_wire
from domain.errors import LegacyReadError
from legacy_connectors.base import Column, Row, TableInfo


def test_batches_in_order() -> None:
    batches = [[{"k": i}] for i in range(50)]
    ahead = _ReadAhead(iter(batches))
    try:
        assert list(ahead) == batches
    finally:
        ahead.close()


def test_a_read_error_reaches_the_loader() -> None:
    def failing() -> Iterator[list[Row]]:
        yield [{"k": 1}]
        raise LegacyReadError("bad record", table="T", record=2)

    ahead = _ReadAhead(failing())
    seen: list[list[Row]] = []
    with pytest.raises(LegacyReadError, match="record 2"):
        seen.extend(ahead)
    ahead.close()
    assert seen == [[{"k": 1}]]


def test_an_early_stop_closes_the_reader() -> None:
    closed = []

    def endless() -> Iterator[list[Row]]:
        try:
            n = 0
            while True:
                n += 1
                yield [{"k": n}]
        finally:
            closed.append(True)

    ahead = _ReadAhead(endless())
    for batch in ahead:
        if batch[0]["k"] == 3:
            break
    ahead.close()
    assert closed == [True]


def test_keys_from_their_json_form() -> None:
    info = TableInfo("T", (Column("D", "date"), Column("N", "decimal(9,2)"), Column("S", "text")))
    wire = ["2001-02-03", "1.50", "x"]
    assert key_from_wire(info, ["D", "N", "S"], wire) == (date(2001, 2, 3), Decimal("1.50"), "x")
    assert key_from_wire(info, ["_record"], [7]) == (7,)
    assert key_from_wire(info, ["D"], None) is None

"""Timestamps and money survive the round trip on both backends exactly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.exc import StatementError

from db.ledger import add_ledger_entry, ledger_totals
from db.models import LedgerKind
from db.review import decide_review, get_review_task
from db.session import session_scope
from db.types import json_ready, to_money
from domain.errors import DatabaseError
from tests.db.factories import make_task

LONDON_SUMMER = dt.timezone(dt.timedelta(hours=1))


def test_timestamps_come_back_aware_in_utc(db_url: str) -> None:
    due = dt.datetime(2026, 7, 1, 9, 30, 15, 123456, tzinfo=LONDON_SUMMER)
    with session_scope(db_url) as session:
        task_id = make_task(session, due_at=due).id
    with session_scope(db_url) as session:
        task = get_review_task(session, task_id)
    assert task.due_at == due
    assert task.due_at.tzinfo == dt.UTC
    assert task.due_at.hour == 8
    assert task.created_at.tzinfo == dt.UTC


def test_naive_timestamps_are_refused(db_url: str) -> None:
    with session_scope(db_url) as session:
        task = make_task(session)
        naive = dt.datetime(2026, 1, 1)
        with pytest.raises(StatementError, match="naive datetime"):
            decide_review(session, task.id, approve=True, decided_by="cw", at=naive)
        session.rollback()


def test_money_sums_are_exact(db_url: str) -> None:
    # 0.1 + 0.2 is not 0.3 in binary floating point; in pence it is.
    with session_scope(db_url) as session:
        for i, amount in enumerate(["0.10", "0.20", "9999999999.99", "-0.01"]):
            add_ledger_entry(
                session,
                kind=LedgerKind.FORM,
                subject="f",
                ref=str(i),
                amount_gbp=Decimal(amount),
                occurred_on=dt.date(2026, 1, 1),
            )
    with session_scope(db_url) as session:
        (total,) = ledger_totals(session)
    assert total.total_gbp == Decimal("10000000000.28")
    assert str(total.total_gbp) == "10000000000.28"


def test_to_money_refuses_floats_and_fractions_of_a_penny() -> None:
    assert to_money("6.8") == Decimal("6.80")
    assert to_money(7) == Decimal("7.00")
    with pytest.raises(TypeError):
        to_money(6.8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="penny"):
        to_money(Decimal("0.005"))
    with pytest.raises(ValueError, match="not an amount"):
        to_money("NaN")


def test_json_ready_gives_what_json_columns_give_back() -> None:
    value = {"b": Decimal("1.50"), "a": dt.date(2026, 1, 2), "c": (1, 2)}
    assert json_ready(value) == {"a": "2026-01-02", "b": "1.50", "c": [1, 2]}
    with pytest.raises(ValueError):
        json_ready({"x": float("nan")})
    with pytest.raises(TypeError):
        json_ready({"x": object()})


def test_database_error_is_retryable() -> None:
    assert DatabaseError.retryable

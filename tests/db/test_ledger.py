"""The savings ledger: one entry per thing saved on, totals by kind and subject."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from db.ledger import LedgerTotal, add_ledger_entry, ledger_totals, list_ledger_entries
from db.models import LedgerKind
from db.session import session_scope
from domain.errors import ConflictError

JAN = dt.date(2026, 1, 15)
FEB = dt.date(2026, 2, 15)


def _add(db_url: str, kind: LedgerKind, subject: str, ref: str, amount: str, on: dt.date) -> None:
    with session_scope(db_url) as session:
        add_ledger_entry(
            session, kind=kind, subject=subject, ref=ref, amount_gbp=Decimal(amount), occurred_on=on
        )


def test_an_entry_per_ref_is_idempotent(db_url: str) -> None:
    _add(db_url, LedgerKind.FORM, "register-to-vote", "17", "6.38", JAN)
    _add(db_url, LedgerKind.FORM, "register-to-vote", "17", "6.38", JAN)  # retried activity
    _add(db_url, LedgerKind.FORM, "register-to-vote", "17", "6.38", FEB)  # retried days later
    # The same ref under another kind is another thing saved on.
    _add(db_url, LedgerKind.SYSTEM, "legacy-electoral", "17", "1150.68", JAN)
    with session_scope(db_url) as session:
        entries = list_ledger_entries(session)
    assert [(e.kind, e.ref, e.amount_gbp) for e in entries] == [
        (LedgerKind.FORM, "17", Decimal("6.38")),
        (LedgerKind.SYSTEM, "17", Decimal("1150.68")),
    ]


def test_a_different_entry_for_the_same_ref_is_refused(db_url: str) -> None:
    _add(db_url, LedgerKind.FORM, "register-to-vote", "17", "6.38", JAN)
    with pytest.raises(ConflictError):
        _add(db_url, LedgerKind.FORM, "register-to-vote", "17", "7.00", JAN)
    with session_scope(db_url) as session:
        assert list_ledger_entries(session)[0].amount_gbp == Decimal("6.38")


def test_floats_are_refused(db_url: str) -> None:
    with pytest.raises(TypeError), session_scope(db_url) as session:
        add_ledger_entry(
            session,
            kind=LedgerKind.FORM,
            subject="x",
            ref="1",
            amount_gbp=6.38,  # type: ignore[arg-type]
            occurred_on=JAN,
        )


def test_totals_by_kind_and_subject(db_url: str) -> None:
    for ref in range(3):
        _add(db_url, LedgerKind.FORM, "register-to-vote", f"r{ref}", "6.38", JAN)
    _add(db_url, LedgerKind.FORM, "blue-badge", "b1", "12.10", FEB)
    _add(db_url, LedgerKind.SYSTEM, "legacy-electoral", "legacy-electoral", "1150.68", FEB)
    with session_scope(db_url) as session:
        assert ledger_totals(session) == [
            LedgerTotal(LedgerKind.FORM, "blue-badge", 1, Decimal("12.10")),
            LedgerTotal(LedgerKind.FORM, "register-to-vote", 3, Decimal("19.14")),
            LedgerTotal(LedgerKind.SYSTEM, "legacy-electoral", 1, Decimal("1150.68")),
        ]
        assert ledger_totals(session, kind=LedgerKind.SYSTEM) == [
            LedgerTotal(LedgerKind.SYSTEM, "legacy-electoral", 1, Decimal("1150.68"))
        ]
        february = ledger_totals(session, since=dt.date(2026, 2, 1), until=dt.date(2026, 3, 1))
        assert [(t.subject, t.count) for t in february] == [
            ("blue-badge", 1),
            ("legacy-electoral", 1),
        ]
        assert ledger_totals(session, since=dt.date(2027, 1, 1)) == []

"""The savings ledger: one entry per thing saved on, totals by kind and subject, and a
retired system's savings accrued day by day (checked against a hand calculation)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from db.ledger import (
    LedgerTotal,
    accrue_system_savings,
    add_ledger_entry,
    ledger_totals,
    list_ledger_entries,
)
from db.models import LedgerKind
from db.programme import move_system, register_system, system_summaries
from db.session import session_scope
from domain.errors import ConflictError
from domain.systems import SystemStage

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


# --- retired systems: run cost avoided day by day, migration cost charged once -----------

RETIRED_AT = dt.datetime(2027, 12, 30, 16, 45, tzinfo=dt.UTC)


def _retire(db_url: str, system_id: str = "legacy-electoral", at: dt.datetime = RETIRED_AT) -> None:
    with session_scope(db_url) as session:
        register_system(
            session, system_id=system_id, name="Electoral Register", department="LGS",
            risk_score=22, annual_run_cost_gbp=Decimal("420000"),
            migration_cost_gbp=Decimal("60000"), actor="engineer",
        )  # fmt: skip
        move_system(session, system_id, SystemStage.RETIRED, actor="engineer", at=at)


def test_retired_system_savings_match_a_hand_calculation(db_url: str) -> None:
    _retire(db_url)
    with session_scope(db_url) as session:
        added = accrue_system_savings(session, today=dt.date(2028, 1, 2))
    with session_scope(db_url) as session:
        entries = list_ledger_entries(session, kind=LedgerKind.SYSTEM)
        summary = {s.id: s for s in system_summaries(session)}["legacy-electoral"]
    # By hand: 420000 / 365 = 1150.6849... -> 1150.68 for each day of 2027;
    # 420000 / 366 = 1147.5409... -> 1147.54 for each day of 2028 (a leap year).
    assert added == 5
    assert [(e.occurred_on, e.ref, e.amount_gbp) for e in entries] == [
        (dt.date(2027, 12, 30), "legacy-electoral:migration-cost", Decimal("-60000.00")),
        (dt.date(2027, 12, 30), "legacy-electoral:run-cost:2027-12-30", Decimal("1150.68")),
        (dt.date(2027, 12, 31), "legacy-electoral:run-cost:2027-12-31", Decimal("1150.68")),
        (dt.date(2028, 1, 1), "legacy-electoral:run-cost:2028-01-01", Decimal("1147.54")),
        (dt.date(2028, 1, 2), "legacy-electoral:run-cost:2028-01-02", Decimal("1147.54")),
    ]
    # 2 x 1150.68 + 2 x 1147.54 - 60000 = 2301.36 + 2295.08 - 60000 = -55403.56
    hand = 2 * Decimal("1150.68") + 2 * Decimal("1147.54") - Decimal("60000")
    assert hand == Decimal("-55403.56")
    assert sum(e.amount_gbp for e in entries) == hand
    assert summary.savings_to_date_gbp == hand
    assert summary.projected_savings_per_year_gbp == Decimal("420000.00")
    # Each entry names its basis.
    by_ref = {e.ref: e for e in entries}
    assert by_ref["legacy-electoral:run-cost:2028-01-01"].basis == {
        "annual_run_cost_gbp": "420000.00",
        "days_in_year": 366,
        "day": "2028-01-01",
        "retired_on": "2027-12-30",
        "source": "plan",
    }
    assert by_ref["legacy-electoral:migration-cost"].basis == {
        "migration_cost_gbp": "60000.00",
        "retired_on": "2027-12-30",
        "source": "plan",
    }


def test_accrual_is_idempotent_and_adds_only_new_days(db_url: str) -> None:
    _retire(db_url)
    with session_scope(db_url) as session:
        assert accrue_system_savings(session, today=dt.date(2028, 1, 2)) == 5
    with session_scope(db_url) as session:
        assert accrue_system_savings(session, today=dt.date(2028, 1, 2)) == 0
        assert accrue_system_savings(session, today=dt.date(2027, 12, 31)) == 0
    with session_scope(db_url) as session:
        assert accrue_system_savings(session, today=dt.date(2028, 1, 4)) == 2
    with session_scope(db_url) as session:
        totals = ledger_totals(session, kind=LedgerKind.SYSTEM)
        first = list_ledger_entries(session, kind=LedgerKind.SYSTEM)[0]
    assert totals == [
        LedgerTotal(
            LedgerKind.SYSTEM, "legacy-electoral", 7, Decimal("-55403.56") + 2 * Decimal("1147.54")
        )
    ]
    # The first entries were not rewritten by the later runs.
    assert first.ref == "legacy-electoral:migration-cost"
    assert first.amount_gbp == Decimal("-60000.00")


def test_a_whole_leap_year_adds_up_within_the_rounding(db_url: str) -> None:
    _retire(db_url, at=dt.datetime(2028, 1, 1, tzinfo=dt.UTC))
    with session_scope(db_url) as session:
        assert accrue_system_savings(session, today=dt.date(2028, 12, 31)) == 367
    with session_scope(db_url) as session:
        (total,) = ledger_totals(session, kind=LedgerKind.SYSTEM)
    # 366 x 1147.54 = 419999.64: each day rounded to the penny, never more than half a
    # penny a day from the exact share.
    assert total.total_gbp == 366 * Decimal("1147.54") - Decimal("60000")
    assert abs(total.total_gbp + Decimal("60000") - Decimal("420000")) <= Decimal("1.83")


def test_only_retired_systems_accrue(db_url: str) -> None:
    with session_scope(db_url) as session:
        register_system(
            session, system_id="legacy-benefits", name="Benefits", department="DWP",
            risk_score=12, annual_run_cost_gbp=Decimal("100000"),
            migration_cost_gbp=Decimal("5000"), actor="engineer",
        )  # fmt: skip
        move_system(session, "legacy-benefits", SystemStage.ARCHIVED, actor="engineer")
    _retire(db_url, at=dt.datetime(2028, 3, 1, tzinfo=dt.UTC))
    with session_scope(db_url) as session:
        # Before the retirement day there is nothing to accrue.
        assert accrue_system_savings(session, today=dt.date(2028, 2, 28)) == 0
        assert accrue_system_savings(session, today=dt.date(2028, 3, 1)) == 2
        subjects = {e.subject for e in list_ledger_entries(session)}
    assert subjects == {"legacy-electoral"}


def test_an_entry_keeps_its_basis(db_url: str) -> None:
    with session_scope(db_url) as session:
        add_ledger_entry(
            session, kind=LedgerKind.FORM, subject="register-to-vote", ref="form-record:1",
            amount_gbp=Decimal("6.38"), occurred_on=JAN,
            basis={"paper_gbp": "6.80", "digital_gbp": "0.42", "source": "template"},
        )  # fmt: skip
    with session_scope(db_url) as session:
        (entry,) = list_ledger_entries(session)
    assert entry.basis == {"paper_gbp": "6.80", "digital_gbp": "0.42", "source": "template"}

"""The cost-savings ledger: what each digitised form and each retired system saves.

The ledger is append-only: entries are added, never updated or deleted, and each names
its ``basis`` (the figures and dates its amount was worked out from). A correction is a
new entry, so a figure once reported can always be traced.

A retired system earns one entry a day from its retirement day on: its yearly run cost
divided by the days of that calendar year (365, or 366 in a leap year), rounded half up
to the penny (``accrue_system_savings``). Rounding each day means a whole year's
entries can differ from the yearly figure by up to half a penny a day (at most £1.83 a
year); each entry is then an exact amount of money that a person can check by hand. The
migration cost is charged once, as a negative entry on the retirement day.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.log import get_logger
from db.models import LedgerEntry, LedgerKind, System
from db.session import insert_or_ignore
from db.types import PENNY, to_money
from domain.errors import ConflictError
from domain.systems import SystemStage

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LedgerTotal:
    """The entries of one kind and subject, added up."""

    kind: LedgerKind
    subject: str
    count: int
    total_gbp: Decimal


def add_ledger_entry(
    session: Session,
    *,
    kind: LedgerKind,
    subject: str,
    ref: str,
    amount_gbp: Decimal | int | str,
    occurred_on: dt.date,
    note: str | None = None,
    basis: dict[str, Any] | None = None,
) -> LedgerEntry:
    """Record a saving, once per (kind, ref): a retried activity does not count it twice.

    The first entry stands, day, note and basis included: entries are never changed.

    Args:
        session: the caller's session.
        kind: a form digitised or a system retired.
        subject: the form type or the system id.
        ref: what the saving is on, unique within the kind: a form record id, a system id.
        amount_gbp: pounds saved, with at most two decimal places (never a float).
        occurred_on: the day the saving happened.
        note: free text for people.
        basis: the figures and dates the amount was worked out from, JSON-able
            (e.g. ``{"annual_run_cost_gbp": "420000.00", "days_in_year": 365, ...}``).

    Raises:
        ConflictError: an entry for (kind, ref) exists with another subject or amount.
        TypeError: ``amount_gbp`` is a float.
    """
    kind = LedgerKind(kind)
    amount = to_money(amount_gbp)
    statement = (
        insert_or_ignore(session, LedgerEntry)
        .values(
            kind=kind,
            subject=subject,
            ref=ref,
            amount_gbp=amount,
            occurred_on=occurred_on,
            note=note,
            basis=basis,
        )
        .on_conflict_do_nothing(index_elements=[LedgerEntry.kind, LedgerEntry.ref])
    )
    session.execute(statement)
    entry = session.execute(
        select(LedgerEntry)
        .where(LedgerEntry.kind == kind, LedgerEntry.ref == ref)
        .execution_options(populate_existing=True)
    ).scalar_one()
    # The day is not compared: a retry after midnight is still the same saving.
    if (entry.subject, entry.amount_gbp) != (subject, amount):
        raise ConflictError(f"ledger already holds a different {kind} entry for {ref}")
    log.info("ledger.entry", kind=str(kind), subject=subject, ref=ref, amount_gbp=str(amount))
    return entry


def run_cost_ref(system_id: str, day: dt.date) -> str:
    """The ref of a retired system's run cost avoided on one day."""
    return f"{system_id}:run-cost:{day.isoformat()}"


def migration_cost_ref(system_id: str) -> str:
    """The ref of a retired system's one-off migration cost."""
    return f"{system_id}:migration-cost"


def days_in_year(year: int) -> int:
    """365, or 366 in a leap year."""
    return 366 if calendar.isleap(year) else 365


def daily_run_cost(annual_run_cost_gbp: Decimal, day: dt.date) -> Decimal:
    """One day's share of a yearly run cost: the cost over the days of that calendar
    year, rounded half up to the penny (see the module's note on rounding)."""
    share = Decimal(annual_run_cost_gbp) / days_in_year(day.year)
    return share.quantize(PENNY, rounding=ROUND_HALF_UP)


_INSERT_CHUNK = 500


def accrue_system_savings(session: Session, *, today: dt.date) -> int:
    """Bring every retired system's savings up to date, up to and including ``today``.

    For each system at the retired stage: one entry per day from its ``retired_on`` day
    to ``today`` (ref ``<system>:run-cost:<YYYY-MM-DD>``, the day's share of its yearly
    run cost), and once, on the retirement day, its migration cost as a negative entry
    (ref ``<system>:migration-cost``). Each entry's basis names the figures (from the
    plan, through the system's row) and the dates. Days already in the ledger are left
    as they are, so running this again, or after a crash, adds only what is missing; a
    change to a system's yearly figure applies from the next day accrued.

    A system with no yearly run cost earns no daily entries (there is nothing avoided).

    Args:
        session: the caller's session; entries commit with it.
        today: the last day to accrue (normally the current UTC date).

    Returns:
        How many entries were added.
    """
    systems = session.scalars(
        select(System)
        .where(System.stage == SystemStage.RETIRED, System.retired_on.is_not(None))
        .order_by(System.id)
    ).all()
    added = sum(_accrue_system(session, system, today) for system in systems)
    log.info("ledger.accrued", systems=len(systems), entries=added, until=today.isoformat())
    return added


def _accrue_system(session: Session, system: System, today: dt.date) -> int:
    retired_on = system.retired_on
    if retired_on is None or retired_on > today:
        return 0
    existing = set(
        session.scalars(
            select(LedgerEntry.ref).where(
                LedgerEntry.kind == LedgerKind.SYSTEM, LedgerEntry.subject == system.id
            )
        )
    )
    rows: list[dict[str, Any]] = []
    migration_cost = to_money(system.migration_cost_gbp)
    if migration_cost_ref(system.id) not in existing:
        rows.append(
            {
                "ref": migration_cost_ref(system.id),
                "amount_gbp": -migration_cost,
                "occurred_on": retired_on,
                "note": "one-off migration cost, charged on the retirement day",
                "basis": {
                    "migration_cost_gbp": str(migration_cost),
                    "retired_on": retired_on.isoformat(),
                    "source": "plan",
                },
            }
        )
    annual = to_money(system.annual_run_cost_gbp)
    day = retired_on
    while annual > 0 and day <= today:
        ref = run_cost_ref(system.id, day)
        if ref not in existing:
            days = days_in_year(day.year)
            rows.append(
                {
                    "ref": ref,
                    "amount_gbp": daily_run_cost(annual, day),
                    "occurred_on": day,
                    "note": f"run cost avoided: {annual} a year / {days} days",
                    "basis": {
                        "annual_run_cost_gbp": str(annual),
                        "days_in_year": days,
                        "day": day.isoformat(),
                        "retired_on": retired_on.isoformat(),
                        "source": "plan",
                    },
                }
            )
        day += dt.timedelta(days=1)
    if not rows:
        return 0
    before = _system_entries(session, system.id)
    statement = insert_or_ignore(session, LedgerEntry).on_conflict_do_nothing(
        index_elements=[LedgerEntry.kind, LedgerEntry.ref]
    )
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = [
            {**row, "kind": LedgerKind.SYSTEM, "subject": system.id}
            for row in rows[start : start + _INSERT_CHUNK]
        ]
        session.execute(statement, chunk)
    return _system_entries(session, system.id) - before


def _system_entries(session: Session, system_id: str) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(LedgerEntry)
        .where(LedgerEntry.kind == LedgerKind.SYSTEM, LedgerEntry.subject == system_id)
    )
    return int(count or 0)


def ledger_totals(
    session: Session,
    *,
    kind: LedgerKind | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> list[LedgerTotal]:
    """Savings added up by kind and subject, ordered by kind then subject.

    Args:
        session: the caller's session.
        kind: only this kind.
        since: only entries on or after this day.
        until: only entries before this day.
    """
    statement = select(
        LedgerEntry.kind,
        LedgerEntry.subject,
        func.count(LedgerEntry.id),
        func.sum(LedgerEntry.amount_gbp),
    ).group_by(LedgerEntry.kind, LedgerEntry.subject)
    if kind is not None:
        statement = statement.where(LedgerEntry.kind == LedgerKind(kind))
    if since is not None:
        statement = statement.where(LedgerEntry.occurred_on >= since)
    if until is not None:
        statement = statement.where(LedgerEntry.occurred_on < until)
    statement = statement.order_by(LedgerEntry.kind, LedgerEntry.subject)
    return [
        LedgerTotal(kind=LedgerKind(k), subject=s, count=int(n), total_gbp=to_money(total))
        for k, s, n, total in session.execute(statement)
    ]


def list_ledger_entries(
    session: Session,
    *,
    kind: LedgerKind | None = None,
    subject: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> Sequence[LedgerEntry]:
    """Entries, oldest day first, optionally of one kind and subject (CSV export)."""
    statement = select(LedgerEntry)
    if kind is not None:
        statement = statement.where(LedgerEntry.kind == LedgerKind(kind))
    if subject is not None:
        statement = statement.where(LedgerEntry.subject == subject)
    statement = statement.order_by(LedgerEntry.occurred_on, LedgerEntry.id)
    return session.scalars(statement.limit(limit).offset(offset)).all()

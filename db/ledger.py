"""The cost-savings ledger: what each digitised form and each retired system saves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.log import get_logger
from db.models import LedgerEntry, LedgerKind
from db.session import insert_or_ignore
from db.types import to_money
from domain.errors import ConflictError

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
) -> LedgerEntry:
    """Record a saving, once per (kind, ref): a retried activity does not count it twice.

    The first entry stands, day and note included.

    Args:
        session: the caller's session.
        kind: a form digitised or a system retired.
        subject: the form type or the system id.
        ref: what the saving is on, unique within the kind: a form record id, a system id.
        amount_gbp: pounds saved, with at most two decimal places (never a float).
        occurred_on: the day the saving happened.
        note: free text for people.

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

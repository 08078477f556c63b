"""The outbox of approved records and their deliveries, one per destination.

``enqueue_approved`` runs in the transaction that approves a record, so a record is
approved if and only if its outbox entry exists. The delivery workflow then lists each
entry's destinations (``expand_entry``), delivers each, and marks it delivered or dead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from config.log import get_logger
from db.models import Delivery, DeliveryState, FormRecord, OutboxEntry
from db.session import insert_or_ignore
from db.types import utcnow
from domain.errors import ConflictError, NotFoundError

log = get_logger(__name__)

MAX_ERROR_CHARS = 2000


def enqueue_approved(session: Session, record: FormRecord) -> OutboxEntry:
    """Put an approved record in the outbox, in the caller's (the approval's) transaction.

    The same approval written again (same ``decided_at``) finds its entry and adds none; a
    later approval of the same record is a new version.
    """
    assert record.decided_at is not None, "an approved record has a decision time"
    latest = session.execute(
        select(OutboxEntry)
        .where(OutboxEntry.record_id == record.id)
        .order_by(OutboxEntry.version.desc())
        .limit(1)
    ).scalar_one_or_none()
    if latest is not None and latest.approved_at == record.decided_at:
        return latest
    entry = OutboxEntry(
        record_id=record.id,
        version=(latest.version + 1) if latest is not None else 1,
        form_type=record.form_type,
        approved_at=record.decided_at,
    )
    session.add(entry)
    session.flush()
    log.info("outbox.enqueued", record_id=record.id, version=entry.version)
    return entry


def unexpanded_entries(session: Session, *, limit: int) -> Sequence[OutboxEntry]:
    """Outbox entries whose deliveries are not listed yet, oldest first."""
    return session.scalars(
        select(OutboxEntry)
        .where(OutboxEntry.expanded_at.is_(None))
        .order_by(OutboxEntry.id)
        .limit(limit)
    ).all()


def expand_entry(
    session: Session, entry: OutboxEntry, destinations: Sequence[tuple[str, str]]
) -> int:
    """List an entry's deliveries, one per ``(name, kind)`` destination; idempotent.

    Returns:
        How many deliveries were added.
    """
    added = 0
    for name, kind in destinations:
        statement = (
            insert_or_ignore(session, Delivery)
            .values(
                outbox_id=entry.id,
                record_id=entry.record_id,
                version=entry.version,
                destination=name,
                kind=kind,
                state=DeliveryState.PENDING,
                attempts=0,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=[Delivery.outbox_id, Delivery.destination])
        )
        added += cast(CursorResult[Any], session.execute(statement)).rowcount or 0
    session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.id == entry.id, OutboxEntry.expanded_at.is_(None))
        .values(expanded_at=utcnow())
    )
    return added


def pending_deliveries(session: Session, *, limit: int) -> Sequence[Delivery]:
    """Deliveries still to make, oldest first."""
    return session.scalars(
        select(Delivery)
        .where(Delivery.state == DeliveryState.PENDING)
        .order_by(Delivery.id)
        .limit(limit)
    ).all()


def get_delivery(session: Session, delivery_id: int) -> Delivery:
    """The delivery with this id.

    Raises:
        NotFoundError: no such delivery.
    """
    delivery = session.execute(
        select(Delivery).where(Delivery.id == delivery_id).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if delivery is None:
        raise NotFoundError(f"no delivery {delivery_id}")
    return delivery


def record_attempt(session: Session, delivery_id: int, *, attempt: int, error: str | None) -> None:
    """Note an attempt (and its failure, without field values) on a pending delivery."""
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.PENDING)
        .values(
            attempts=attempt,
            last_error=error[:MAX_ERROR_CHARS] if error else None,
            updated_at=utcnow(),
        )
    )


def mark_delivered(
    session: Session, delivery_id: int, *, attempt: int, at: dt.datetime | None = None
) -> None:
    """Mark a delivery made (a dead one a late attempt made is delivered after all)."""
    when = at or utcnow()
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state != DeliveryState.DELIVERED)
        .values(
            state=DeliveryState.DELIVERED,
            delivered_at=when,
            dead_at=None,
            last_error=None,
            attempts=attempt,
            updated_at=when,
        )
    )
    log.info("delivery.delivered", delivery_id=delivery_id)


def mark_dead(session: Session, delivery_id: int, *, reason: str) -> Delivery:
    """Dead-letter a pending delivery with the reason it failed (never a field value)."""
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.PENDING)
        .values(
            state=DeliveryState.DEAD,
            dead_at=utcnow(),
            last_error=reason[:MAX_ERROR_CHARS],
            updated_at=utcnow(),
        )
    )
    delivery = get_delivery(session, delivery_id)
    log.warning("delivery.dead", delivery_id=delivery_id, destination=delivery.destination)
    return delivery


def redrive(session: Session, delivery_ids: Sequence[int] | None = None) -> list[int]:
    """Put dead deliveries back to pending with their attempts reset: all of them, or those
    named. Returns the ids re-driven.

    Raises:
        NotFoundError: a named delivery does not exist.
        ConflictError: a named delivery is not dead.
    """
    statement = select(Delivery).where(Delivery.state == DeliveryState.DEAD)
    if delivery_ids is not None:
        for delivery_id in delivery_ids:
            delivery = get_delivery(session, delivery_id)
            if delivery.state is not DeliveryState.DEAD:
                raise ConflictError(f"delivery {delivery_id} is {delivery.state.value}, not dead")
        statement = statement.where(Delivery.id.in_(list(delivery_ids)))
    ids = [d.id for d in session.scalars(statement.order_by(Delivery.id))]
    if ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.DEAD)
            .values(state=DeliveryState.PENDING, attempts=0, dead_at=None, updated_at=utcnow())
        )
    log.info("delivery.redriven", count=len(ids))
    return ids


def list_deliveries(
    session: Session, *, state: DeliveryState | None = None, limit: int = 200
) -> Sequence[Delivery]:
    """Deliveries, newest first, optionally of one state."""
    statement = select(Delivery)
    if state is not None:
        statement = statement.where(Delivery.state == DeliveryState(state))
    return session.scalars(statement.order_by(Delivery.id.desc()).limit(limit)).all()

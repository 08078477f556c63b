"""The audit trail: an append-only, hash-chained log of who did what.

Each event's ``hash`` is the sha256 of the previous event's hash followed by the event's
own canonical content (``canonical_json`` of its time, actor, action, subject and detail).
Changing, removing or reordering an event breaks every hash after it, which
``verify_audit_chain`` finds. Removing events from the *end* leaves a valid shorter chain,
and so does rewriting every hash from an edited event on: the head (the last event's id
and hash, ``audit_head``) is written out daily to write-once storage, and
``verify_audit_chain(expected=...)`` checks the chain still holds that event unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from config.log import get_logger
from db.models import AuditEvent
from db.types import canonical_json, json_ready, utcnow

log = get_logger(__name__)

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first event."""

# Any fixed number, the same in every process: the key of the PostgreSQL advisory lock
# that lets one transaction at a time append. It spells "audt".
AUDIT_LOCK_ID = 0x61756474


@dataclass(frozen=True, slots=True)
class AuditChainReport:
    """What ``verify_audit_chain`` found.

    Attributes:
        ok: the chain is intact (and ends at ``expected_head`` when one was given).
        events_checked: how many events were read.
        head_hash: the hash of the last event (``GENESIS_HASH`` when there is none).
        broken_at: the id of the first event that does not fit, if any.
        problem: what is wrong, for a person.
    """

    ok: bool
    events_checked: int
    head_hash: str
    broken_at: int | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class AuditHead:
    """Where the chain ends: its last event, kept elsewhere to detect truncation.

    Attributes:
        event_id: the last event's id (0 for an empty trail).
        hash: its hash (``GENESIS_HASH`` for an empty trail).
        events: how many events the chain held.
    """

    event_id: int
    hash: str
    events: int

    def as_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "hash": self.hash, "events": self.events}


def audit_head(session: Session) -> AuditHead:
    """The chain's head now."""
    last = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).one_or_none()
    count = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    if last is None:
        return AuditHead(event_id=0, hash=GENESIS_HASH, events=0)
    return AuditHead(event_id=last.id, hash=last.hash, events=count)


def event_hash(
    prev_hash: str,
    *,
    occurred_at: dt.datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    detail: Mapping[str, Any],
) -> str:
    """The hash of an event that follows ``prev_hash``."""
    content = canonical_json(
        {
            "occurred_at": occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "detail": detail,
        }
    )
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def append_audit_event(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | int,
    detail: Mapping[str, Any] | None = None,
    occurred_at: dt.datetime | None = None,
) -> AuditEvent:
    """Append an event to the audit trail, chained to the last one.

    Appends are serialised: on PostgreSQL by a transaction-level advisory lock held until
    the caller's transaction ends, on SQLite by the write lock every engine transaction
    takes at BEGIN (see ``db.session``). So two appenders never chain to the same event.
    Keep the surrounding transaction short: the next appender waits for it.

    Args:
        session: the caller's session; the event commits with the caller's other changes.
        actor: who: a caseworker, an engineer, or ``system``/a workflow id.
        action: what, e.g. ``review.approved``.
        subject_type: the kind of thing acted on, e.g. ``review_task``.
        subject_id: its id.
        detail: more about it, JSON-able. Field names, not personal data.
        occurred_at: when; default now.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": AUDIT_LOCK_ID})
    prev_hash = session.execute(
        select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none()
    prev_hash = prev_hash or GENESIS_HASH
    when = (occurred_at or utcnow()).astimezone(dt.UTC)
    content = {
        "occurred_at": when,
        "actor": actor,
        "action": action,
        "subject_type": subject_type,
        "subject_id": str(subject_id),
        "detail": json_ready(dict(detail or {})),
    }
    event = AuditEvent(**content, prev_hash=prev_hash, hash=event_hash(prev_hash, **content))
    session.add(event)
    session.flush()
    log.info("audit.appended", audit_id=event.id, action=action, subject_type=subject_type)
    return event


def verify_audit_chain(
    session: Session,
    *,
    expected_head: str | None = None,
    expected: AuditHead | None = None,
    batch_size: int = 1000,
) -> AuditChainReport:
    """Recompute the chain from the first event and report the first event that breaks it.

    Args:
        session: a session to read with.
        expected_head: a head hash recorded earlier; the chain must still end there, or
            continue past it. Detects events removed from the end.
        expected: a head exported earlier (``audit_head``): the chain must still hold that
            event with that hash. Names the event when it is gone or rewritten.
        batch_size: events read per round trip.
    """
    expected_prev = GENESIS_HASH
    checked = 0
    last_id = 0
    seen_expected_head = expected_head is None or expected_head == GENESIS_HASH
    events = session.scalars(
        select(AuditEvent)
        .order_by(AuditEvent.id)
        .execution_options(yield_per=batch_size, populate_existing=True)
    )
    for event in events:
        checked += 1
        if event.prev_hash != expected_prev:
            return _broken(checked, expected_prev, event, "does not follow the event before it")
        recomputed = event_hash(
            event.prev_hash,
            occurred_at=event.occurred_at,
            actor=event.actor,
            action=event.action,
            subject_type=event.subject_type,
            subject_id=event.subject_id,
            detail=event.detail,
        )
        if recomputed != event.hash:
            return _broken(checked, expected_prev, event, "content does not match its hash")
        if expected is not None and event.id == expected.event_id and event.hash != expected.hash:
            return _broken(
                checked, expected_prev, event,
                "differs from the exported head: it, or an event before it, was rewritten",
            )  # fmt: skip
        expected_prev = event.hash
        last_id = event.id
        seen_expected_head = seen_expected_head or event.hash == expected_head
    if expected is not None and expected.event_id > last_id:
        log.error("audit.chain_truncated", events_checked=checked)
        return AuditChainReport(
            ok=False,
            events_checked=checked,
            head_hash=expected_prev,
            broken_at=expected.event_id,
            problem=f"audit event {expected.event_id}: missing; the exported head ends there "
            f"but the chain ends at event {last_id}: events were removed from the end",
        )
    if not seen_expected_head:
        log.error("audit.chain_truncated", events_checked=checked)
        return AuditChainReport(
            ok=False,
            events_checked=checked,
            head_hash=expected_prev,
            problem="the expected head is not in the chain: events were removed or rewritten",
        )
    return AuditChainReport(ok=True, events_checked=checked, head_hash=expected_prev)


def _broken(checked: int, head: str, event: AuditEvent, problem: str) -> AuditChainReport:
    log.error("audit.chain_broken", audit_id=event.id, problem=problem)
    return AuditChainReport(
        ok=False,
        events_checked=checked,
        head_hash=head,
        broken_at=event.id,
        problem=f"audit event {event.id}: {problem}",
    )


def audit_events_for(
    session: Session, subjects: list[tuple[str, str | int]], *, limit: int = 500
) -> list[AuditEvent]:
    """The events about any of ``subjects`` (``(subject_type, subject_id)`` pairs), oldest
    first: a record's timeline is the events of the record and of its document.
    """
    if not subjects:
        return []
    condition = or_(
        *(
            and_(AuditEvent.subject_type == kind, AuditEvent.subject_id == str(ident))
            for kind, ident in subjects
        )
    )
    return list(
        session.scalars(select(AuditEvent).where(condition).order_by(AuditEvent.id).limit(limit))
    )

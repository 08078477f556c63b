"""A legacy system's retirement checklist and its archives, in the engine database.

The checklist is the plan's ``decommission.checklist``, one row per item in the plan's
order (positions from 1). A named person closes each item once, with a note and
optionally a file of evidence kept in the object store; every close is also written to
the audit trail and to the system's cutover history. Archives are recorded per run, so
a system archived twice keeps both, and ``latest_archive`` finds the newest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.log import get_logger
from db.audit import append_audit_event
from db.cutover import record_cutover_event
from db.models import ChecklistItem, System, SystemArchive
from db.session import insert_or_ignore
from db.types import utcnow
from domain.cutover import (
    ArchiveResult,
    ChecklistItemStatus,
    ChecklistStatus,
    CutoverEventKind,
)
from domain.errors import BadInputError, ConflictError, NotFoundError

log = get_logger(__name__)


def _system(session: Session, system_id: str) -> System:
    system = session.get(System, system_id)
    if system is None:
        raise NotFoundError(f"no legacy system {system_id!r}")
    return system


def _items(session: Session, system_id: str) -> list[ChecklistItem]:
    return list(
        session.scalars(
            select(ChecklistItem)
            .where(ChecklistItem.system_id == system_id)
            .order_by(ChecklistItem.position)
            .execution_options(populate_existing=True)
        )
    )


def _status(items: Sequence[ChecklistItem]) -> ChecklistStatus:
    return ChecklistStatus(
        items=[
            ChecklistItemStatus(
                position=item.position,
                item=item.item,
                closed_by=item.closed_by,
                closed_at=item.closed_at,
                note=item.note,
                evidence_name=item.evidence_name,
            )
            for item in items
        ]
    )


def evidence_key(system_id: str, position: int, sha256: str, filename: str) -> str:
    """The object store key for a checklist item's evidence file, for the web app and CLI
    to store the upload at before closing the item with it.

    ``evidence/<system>/<position>/<sha256>/<file name>``: the sum keeps two uploads of
    the same name apart, and the name (its last part only, never a path) keeps it
    recognisable to the person who reads the evidence later.
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name in ("", ".", "..") or name.startswith(".tmp-"):
        name = "evidence"
    return f"evidence/{system_id}/{position}/{sha256}/{name}"


def open_checklist(session: Session, system_id: str, items: Sequence[str]) -> ChecklistStatus:
    """Create a system's retirement checklist from the plan's items, in their order.

    Idempotent: items already open or closed stay as they are (closes are never undone),
    so a retried activity, or a plan that gained items at its end, is safe.

    Args:
        session: the caller's session.
        system_id: the plan's system id.
        items: the plan's checklist, in order; position 1 is the first.

    Returns:
        The whole checklist as it now stands.

    Raises:
        NotFoundError: no such system.
        ConflictError: the checklist exists with different wording at a position (the
            plan changed after people began closing items: change it back, or close
            the existing items).
        BadInputError: an empty item.
    """
    _system(session, system_id)
    wanted = [item.strip() for item in items]
    if any(not item for item in wanted):
        raise BadInputError("a checklist item needs words", where=f"system {system_id}")
    if wanted:
        statement = insert_or_ignore(session, ChecklistItem).on_conflict_do_nothing(
            index_elements=[ChecklistItem.system_id, ChecklistItem.position]
        )
        session.execute(
            statement,
            [
                {"system_id": system_id, "position": position, "item": item}
                for position, item in enumerate(wanted, start=1)
            ],
        )
    stored = _items(session, system_id)
    for row in stored:
        if row.position <= len(wanted) and row.item != wanted[row.position - 1]:
            raise ConflictError(
                f"checklist item {row.position} reads {row.item!r}, the plan says "
                f"{wanted[row.position - 1]!r}",
                where=f"system {system_id}",
            )
    log.info("checklist.opened", system_id=system_id, items=len(stored))
    return _status(stored)


def checklist(session: Session, system_id: str) -> ChecklistStatus:
    """A system's checklist in order, with who closed each item, when and with what.

    Raises:
        NotFoundError: no such system.
    """
    _system(session, system_id)
    return _status(_items(session, system_id))


def close_checklist_item(
    session: Session,
    system_id: str,
    position: int,
    *,
    actor: str,
    note: str,
    evidence_key: str | None = None,
    evidence_name: str | None = None,
    at: dt.datetime | None = None,
) -> ChecklistItemStatus:
    """Close one checklist item with evidence, once, in the name of a person.

    The close is written three times over, in the caller's transaction: on the item,
    in the hash-chained audit trail (``checklist.closed``; the note stays on the item,
    since notes are free text) and as a ``checklist_closed`` line of the system's
    cutover history.

    Args:
        session: the caller's session.
        system_id: the plan's system id.
        position: the item's position, from 1.
        actor: who closes it (their username).
        note: what shows the item is done ("contract 4471 ended 31 March, letter filed").
        evidence_key: the object store key of a file of evidence, if one was uploaded.
        evidence_name: that file's name as the person gave it.
        at: when; default now.

    Raises:
        BadInputError: no note, or no actor.
        NotFoundError: no such system, or no item at that position.
        ConflictError: the item is already closed.
    """
    where = f"system {system_id}, checklist item {position}"
    if not note or not note.strip():
        raise BadInputError("closing a checklist item needs a note saying why", where=where)
    if not actor or not actor.strip():
        raise BadInputError("closing a checklist item needs the person's name", where=where)
    if evidence_name is not None and evidence_key is None:
        raise BadInputError("evidence has a name but no stored file", where=where)
    _system(session, system_id)
    item = session.execute(
        select(ChecklistItem)
        .where(ChecklistItem.system_id == system_id, ChecklistItem.position == position)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if item is None:
        raise NotFoundError("no such checklist item", where=where)
    if item.closed_by is not None:
        raise ConflictError(
            f"already closed by {item.closed_by} at {item.closed_at:%Y-%m-%d %H:%M} UTC",
            where=where,
        )
    now = (at or utcnow()).astimezone(dt.UTC)
    item.closed_by = actor
    item.closed_at = now
    item.note = note.strip()
    item.evidence_key = evidence_key
    item.evidence_name = evidence_name
    session.flush()
    append_audit_event(
        session,
        actor=actor,
        action="checklist.closed",
        subject_type="system",
        subject_id=system_id,
        detail={
            "position": position,
            "item": item.item,
            "evidence_key": evidence_key,
            "evidence_name": evidence_name,
        },
        occurred_at=now,
    )
    record_cutover_event(
        session,
        system_id,
        CutoverEventKind.CHECKLIST_CLOSED,
        actor=actor,
        note=f"{position}. {item.item}",
        at=now,
    )
    log.info("checklist.closed", system_id=system_id, position=position)
    return _status([item]).items[0]


def record_archive(
    session: Session,
    system_id: str,
    result: ArchiveResult,
    *,
    verified_at: dt.datetime | None = None,
    at: dt.datetime | None = None,
) -> SystemArchive:
    """Record an archive written to the object store (and when it was read back).

    Args:
        session: the caller's session.
        system_id: the plan's system id.
        result: what the archive holds: its manifest's key and sum, and totals.
        verified_at: when every object was read back and matched; None if not (yet).
        at: when it was made; default now.

    Raises:
        NotFoundError: no such system.
    """
    _system(session, system_id)
    if result.verified and verified_at is None:
        verified_at = at or utcnow()
    archive = SystemArchive(
        system_id=system_id, manifest_key=result.manifest_key,
        manifest_sha256=result.manifest_sha256, files=result.files, rows=result.rows,
        bytes=result.bytes, verified_at=verified_at, created_at=at or utcnow(),
    )  # fmt: skip
    session.add(archive)
    session.flush()
    log.info("archive.recorded", system_id=system_id, files=result.files, rows=result.rows)
    return archive


def latest_archive(session: Session, system_id: str) -> SystemArchive | None:
    """The system's newest archive, or None if it has none."""
    return session.scalars(
        select(SystemArchive)
        .where(SystemArchive.system_id == system_id)
        .order_by(SystemArchive.created_at.desc(), SystemArchive.id.desc())
        .limit(1)
    ).first()

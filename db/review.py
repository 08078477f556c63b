"""The review queue: records that need a caseworker, and the caseworkers' decisions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session, joinedload

from config.log import get_logger
from db.models import FormRecord, ReviewStatus, ReviewTask
from db.session import insert_or_ignore
from db.types import json_ready, utcnow
from domain.errors import ConflictError, NotFoundError
from domain.forms import ReviewReason

log = get_logger(__name__)


def open_review_task(
    session: Session,
    *,
    record_id: int,
    workflow_id: str,
    form_type: str | None,
    reasons: Sequence[ReviewReason],
    due_at: dt.datetime,
) -> ReviewTask:
    """Put a record in the review queue; a record has one task, so a second call returns it.

    Args:
        session: the caller's session.
        record_id: the form record to review.
        workflow_id: the workflow waiting for the decision.
        form_type: the record's form type, for filtering the queue.
        reasons: why a person must look at it.
        due_at: the SLA deadline (timezone-aware); escalation after it.
    """
    statement = (
        insert_or_ignore(session, ReviewTask)
        .values(
            record_id=record_id,
            workflow_id=workflow_id,
            form_type=form_type,
            reasons=[reason.model_dump(mode="json") for reason in reasons],
            status=ReviewStatus.OPEN,
            due_at=due_at,
        )
        .on_conflict_do_nothing(index_elements=[ReviewTask.record_id])
    )
    if cast(CursorResult[Any], session.execute(statement)).rowcount:
        log.info("review_task.opened", record_id=record_id, workflow_id=workflow_id)
    return session.execute(
        select(ReviewTask)
        .where(ReviewTask.record_id == record_id)
        .execution_options(populate_existing=True)
    ).scalar_one()


def get_review_task(session: Session, task_id: int, *, with_record: bool = False) -> ReviewTask:
    """The task with this id.

    Args:
        session: the caller's session.
        task_id: the task's id.
        with_record: load ``task.record`` and ``task.record.document`` too (the review page
            shows the scan beside the fields).

    Raises:
        NotFoundError: no such task.
    """
    statement = select(ReviewTask).where(ReviewTask.id == task_id)
    if with_record:
        statement = statement.options(joinedload(ReviewTask.record).joinedload(FormRecord.document))
    task = session.execute(statement.execution_options(populate_existing=True)).scalar_one_or_none()
    if task is None:
        raise NotFoundError(f"no review task {task_id}")
    return task


def list_review_tasks(
    session: Session,
    *,
    status: ReviewStatus | None = ReviewStatus.OPEN,
    form_type: str | None = None,
    overdue_at: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[ReviewTask]:
    """The queue: tasks soonest due first (then oldest first).

    Args:
        session: the caller's session.
        status: only tasks in this status (default open); None for all.
        form_type: only tasks of this form type.
        overdue_at: only tasks due before this time.
        limit: at most this many.
        offset: skip this many first (paging).
    """
    statement = select(ReviewTask)
    if status is not None:
        statement = statement.where(ReviewTask.status == ReviewStatus(status))
    if form_type is not None:
        statement = statement.where(ReviewTask.form_type == form_type)
    if overdue_at is not None:
        statement = statement.where(ReviewTask.due_at < overdue_at)
    statement = statement.order_by(ReviewTask.due_at, ReviewTask.id)
    return session.scalars(statement.limit(limit).offset(offset)).all()


def record_escalation(
    session: Session, task_id: int, *, at: dt.datetime | None = None
) -> ReviewTask:
    """Note that a task's SLA passed and it was escalated; the first escalation time stays.

    Raises:
        NotFoundError: no such task.
    """
    session.execute(
        update(ReviewTask)
        .where(ReviewTask.id == task_id, ReviewTask.escalated_at.is_(None))
        .values(escalated_at=at or utcnow())
    )
    task = get_review_task(session, task_id)
    log.info("review_task.escalated", task_id=task_id, status=str(task.status))
    return task


def decide_review(
    session: Session,
    task_id: int,
    *,
    approve: bool,
    decided_by: str,
    corrections: Mapping[str, Any] | None = None,
    reason: str | None = None,
    at: dt.datetime | None = None,
) -> ReviewTask:
    """Approve (with corrections) or reject an open task, once.

    The change is one conditional UPDATE, so of two caseworkers deciding at once exactly
    one wins. The same decision made again by the same person (a retried activity) returns
    the task as decided; any other decision on a decided task is refused.

    Args:
        session: the caller's session.
        task_id: the task to decide.
        approve: True to approve, False to reject.
        decided_by: the caseworker.
        corrections: corrected field values by field name (approval).
        reason: why (required to reject).
        at: when; default now.

    Raises:
        NotFoundError: no such task.
        ConflictError: the task is already decided otherwise.
        ValueError: a rejection without a reason.
    """
    if not approve and not reason:
        raise ValueError("a rejection needs a reason")
    status = ReviewStatus.APPROVED if approve else ReviewStatus.REJECTED
    decision = json_ready({"corrections": dict(corrections or {}), "reason": reason})
    result = session.execute(
        update(ReviewTask)
        .where(ReviewTask.id == task_id, ReviewTask.status == ReviewStatus.OPEN)
        .values(status=status, decided_by=decided_by, decision=decision, decided_at=at or utcnow())
    )
    task = get_review_task(session, task_id)
    if cast(CursorResult[Any], result).rowcount:
        # The names of corrected fields, never their values.
        log.info(
            "review_task.decided",
            task_id=task_id,
            status=str(status),
            corrected_fields=sorted(decision["corrections"]),
        )
        return task
    if task.status == status and task.decided_by == decided_by and task.decision == decision:
        return task
    raise ConflictError(f"review task {task_id} is already {task.status} by {task.decided_by}")


def claim_task(
    session: Session,
    task_id: int,
    *,
    by: str,
    lease: dt.timedelta,
    now: dt.datetime | None = None,
) -> ReviewTask:
    """Claim an open task for one caseworker for ``lease``, or renew their own claim.

    One conditional UPDATE: it succeeds only while the task is open and unclaimed, claimed
    by ``by``, or its claim has expired. Two caseworkers claiming at once cannot both win.

    Args:
        session: the caller's session.
        task_id: the task to claim.
        by: the caseworker.
        lease: how long the claim lasts; claiming again renews it.
        now: the current time; default now.

    Raises:
        NotFoundError: no such task.
        ConflictError: the task is decided, or someone else holds an unexpired claim.
    """
    now = now or utcnow()
    result = session.execute(
        update(ReviewTask)
        .where(
            ReviewTask.id == task_id,
            ReviewTask.status == ReviewStatus.OPEN,
            or_(
                ReviewTask.claimed_by.is_(None),
                ReviewTask.claimed_by == by,
                ReviewTask.claim_expires_at.is_(None),
                ReviewTask.claim_expires_at <= now,
            ),
        )
        .values(claimed_by=by, claim_expires_at=now + lease)
    )
    task = get_review_task(session, task_id)
    if cast(CursorResult[Any], result).rowcount:
        log.info("review_task.claimed", task_id=task_id)
        return task
    if task.status is not ReviewStatus.OPEN:
        raise ConflictError(f"review task {task_id} is already {task.status}")
    raise ConflictError(f"review task {task_id} is claimed by {task.claimed_by}")


def release_claim(session: Session, task_id: int, *, by: str) -> bool:
    """Give up a caseworker's claim on a task, so that someone else can take it.

    Returns:
        True when ``by`` held the claim and it is released; False when they did not hold it
        (nothing changes: a claim is never released on someone else's behalf).

    Raises:
        NotFoundError: no such task.
    """
    result = session.execute(
        update(ReviewTask)
        .where(ReviewTask.id == task_id, ReviewTask.claimed_by == by)
        .values(claimed_by=None, claim_expires_at=None)
    )
    get_review_task(session, task_id)
    released = bool(cast(CursorResult[Any], result).rowcount)
    if released:
        log.info("review_task.released", task_id=task_id)
    return released


def claim_holder(task: ReviewTask, *, now: dt.datetime | None = None) -> str | None:
    """Who holds an unexpired claim on the task, if anyone."""
    if task.claimed_by is None or task.claim_expires_at is None:
        return None
    return task.claimed_by if task.claim_expires_at > (now or utcnow()) else None

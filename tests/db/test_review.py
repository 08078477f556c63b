"""The review queue: one task per record, decided once, escalated once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from db.models import ReviewStatus
from db.review import (
    decide_review,
    get_review_task,
    list_review_tasks,
    open_review_task,
    record_escalation,
)
from db.session import session_scope
from domain.errors import ConflictError, NotFoundError
from tests.db.factories import LOW_CONFIDENCE, make_record, make_task

DAY = dt.timedelta(days=1)
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_a_record_has_one_task(db_url: str) -> None:
    with session_scope(db_url) as session:
        record = make_record(session)
        ids = {
            open_review_task(
                session,
                record_id=record.id,
                workflow_id=record.workflow_id,
                form_type=record.form_type,
                reasons=[LOW_CONFIDENCE],
                due_at=T0 + DAY,
            ).id
            for _ in range(2)
        }
    assert len(ids) == 1
    with session_scope(db_url) as session:
        task = get_review_task(session, ids.pop(), with_record=True)
    assert task.status is ReviewStatus.OPEN
    assert task.reasons == [LOW_CONFIDENCE.model_dump(mode="json")]
    assert task.record.fields["surname"]["confidence"] == 0.41
    assert task.record.document.content_type == "image/png"


def test_queue_lists_open_tasks_soonest_due_first_and_filters(db_url: str) -> None:
    with session_scope(db_url) as session:
        late = make_task(session, form_type="a", due_at=T0 + 3 * DAY).id
        soon = make_task(session, form_type="b", due_at=T0 + DAY).id
        middle = make_task(session, form_type="a", due_at=T0 + 2 * DAY).id
        decided = make_task(session, form_type="a", due_at=T0).id
        decide_review(session, decided, approve=True, decided_by="cw1")
    with session_scope(db_url) as session:
        assert [t.id for t in list_review_tasks(session)] == [soon, middle, late]
        assert [t.id for t in list_review_tasks(session, form_type="a")] == [middle, late]
        assert [t.id for t in list_review_tasks(session, status=ReviewStatus.APPROVED)] == [decided]
        assert len(list_review_tasks(session, status=None)) == 4
        overdue = list_review_tasks(session, overdue_at=T0 + 2 * DAY + dt.timedelta(hours=1))
        assert [t.id for t in overdue] == [soon, middle]
        assert [t.id for t in list_review_tasks(session, limit=1, offset=1)] == [middle]


def test_approve_with_corrections(db_url: str) -> None:
    with session_scope(db_url) as session:
        task_id = make_task(session).id
    at = T0 + DAY
    with session_scope(db_url) as session:
        decide_review(
            session,
            task_id,
            approve=True,
            decided_by="caseworker-7",
            corrections={"surname": "OKAFOR", "date_of_birth": dt.date(1961, 3, 12)},
            at=at,
        )
    with session_scope(db_url) as session:
        task = get_review_task(session, task_id)
    assert task.status is ReviewStatus.APPROVED
    assert task.decided_by == "caseworker-7"
    assert task.decided_at == at
    assert task.decision == {
        "corrections": {"surname": "OKAFOR", "date_of_birth": "1961-03-12"},
        "reason": None,
    }


def test_the_same_decision_again_is_idempotent(db_url: str) -> None:
    with session_scope(db_url) as session:
        task_id = make_task(session).id
    for _ in range(2):
        with session_scope(db_url) as session:
            task = decide_review(
                session, task_id, approve=False, decided_by="cw", reason="illegible"
            )
    assert task.status is ReviewStatus.REJECTED


@pytest.mark.parametrize(
    ("approve", "decided_by", "reason"),
    [(True, "cw", None), (False, "someone-else", "illegible"), (False, "cw", "another reason")],
)
def test_a_decided_task_is_never_overwritten(
    db_url: str, approve: bool, decided_by: str, reason: str | None
) -> None:
    with session_scope(db_url) as session:
        task_id = make_task(session).id
        decide_review(session, task_id, approve=False, decided_by="cw", reason="illegible")
    with pytest.raises(ConflictError, match="already rejected"), session_scope(db_url) as session:
        decide_review(session, task_id, approve=approve, decided_by=decided_by, reason=reason)
    with session_scope(db_url) as session:
        task = get_review_task(session, task_id)
    assert (task.status, task.decided_by) == (ReviewStatus.REJECTED, "cw")
    assert task.decision == {"corrections": {}, "reason": "illegible"}


def test_two_caseworkers_at_once_one_wins(db_url: str) -> None:
    with session_scope(db_url) as session:
        task_id = make_task(session).id
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(who: str) -> None:
        barrier.wait()
        try:
            with session_scope(db_url) as session:
                decide_review(session, task_id, approve=True, decided_by=who)
            outcomes[who] = "won"
        except ConflictError:
            outcomes[who] = "conflict"

    threads = [threading.Thread(target=decide, args=(who,)) for who in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["conflict", "won"]
    with session_scope(db_url) as session:
        winner = next(who for who, outcome in outcomes.items() if outcome == "won")
        assert get_review_task(session, task_id).decided_by == winner


def test_a_rejection_needs_a_reason(db_url: str) -> None:
    with session_scope(db_url) as session:
        task_id = make_task(session).id
        with pytest.raises(ValueError, match="reason"):
            decide_review(session, task_id, approve=False, decided_by="cw")


def test_escalation_keeps_the_first_time(db_url: str) -> None:
    with session_scope(db_url) as session:
        task_id = make_task(session).id
    with session_scope(db_url) as session:
        assert record_escalation(session, task_id, at=T0 + DAY).escalated_at == T0 + DAY
    with session_scope(db_url) as session:
        assert record_escalation(session, task_id, at=T0 + 2 * DAY).escalated_at == T0 + DAY


def test_unknown_task(db_url: str) -> None:
    with session_scope(db_url) as session:
        with pytest.raises(NotFoundError):
            get_review_task(session, 404)
        with pytest.raises(NotFoundError):
            decide_review(session, 404, approve=True, decided_by="cw")
        with pytest.raises(NotFoundError):
            record_escalation(session, 404)

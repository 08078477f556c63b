"""Claims on review tasks: a lease that one caseworker holds at a time, renewable, expiring."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from db.review import claim_holder, claim_task, decide_review, get_review_task, release_claim
from db.session import session_scope
from domain.errors import ConflictError, NotFoundError
from tests.db.factories import make_task

T0 = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=30)


def test_a_claim_is_held_renewed_and_refused_to_others(db_url: str) -> None:
    with session_scope(db_url) as session:
        task_id = make_task(session).id
    with session_scope(db_url) as session:
        task = claim_task(session, task_id, by="cw1", lease=LEASE, now=T0)
        assert (task.claimed_by, task.claim_expires_at) == ("cw1", T0 + LEASE)
        assert claim_holder(task, now=T0 + dt.timedelta(minutes=1)) == "cw1"
    with session_scope(db_url) as session, pytest.raises(ConflictError, match="claimed by cw1"):
        claim_task(session, task_id, by="cw2", lease=LEASE, now=T0 + dt.timedelta(minutes=5))
    with session_scope(db_url) as session:
        renewed = claim_task(session, task_id, by="cw1", lease=LEASE, now=T0 + LEASE / 2)
        assert renewed.claim_expires_at == T0 + LEASE / 2 + LEASE


def test_an_expired_claim_can_be_taken_over(db_url: str) -> None:
    with session_scope(db_url) as session:
        task_id = make_task(session).id
        claim_task(session, task_id, by="cw1", lease=LEASE, now=T0)
    later = T0 + LEASE + dt.timedelta(seconds=1)
    with session_scope(db_url) as session:
        assert claim_holder(get_review_task(session, task_id), now=later) is None
        task = claim_task(session, task_id, by="cw2", lease=LEASE, now=later)
        assert task.claimed_by == "cw2"


def test_release_only_by_the_holder(db_url: str) -> None:
    with session_scope(db_url) as session:
        task_id = make_task(session).id
        claim_task(session, task_id, by="cw1", lease=LEASE, now=T0)
    with session_scope(db_url) as session:
        assert release_claim(session, task_id, by="cw2") is False
        assert get_review_task(session, task_id).claimed_by == "cw1"
        assert release_claim(session, task_id, by="cw1") is True
        assert get_review_task(session, task_id).claimed_by is None
    with session_scope(db_url) as session:
        claim_task(session, task_id, by="cw2", lease=LEASE, now=T0)


def test_a_decided_task_cannot_be_claimed(db_url: str) -> None:
    with session_scope(db_url) as session:
        task_id = make_task(session).id
        decide_review(session, task_id, approve=True, decided_by="cw1")
    with session_scope(db_url) as session, pytest.raises(ConflictError, match="approved"):
        claim_task(session, task_id, by="cw1", lease=LEASE, now=T0)


def test_an_unknown_task(db_url: str) -> None:
    with session_scope(db_url) as session, pytest.raises(NotFoundError):
        claim_task(session, 999_999, by="cw1", lease=LEASE)
    with session_scope(db_url) as session, pytest.raises(NotFoundError):
        release_claim(session, 999_999, by="cw1")


def test_of_many_simultaneous_claims_exactly_one_wins(db_url: str) -> None:
    with session_scope(db_url) as session:
        task_id = make_task(session).id
    barrier = threading.Barrier(6)
    winners: list[str] = []
    losers: list[str] = []

    def claim(who: str) -> None:
        barrier.wait()
        try:
            with session_scope(db_url) as session:
                claim_task(session, task_id, by=who, lease=LEASE)
            winners.append(who)
        except ConflictError:
            losers.append(who)

    threads = [threading.Thread(target=claim, args=(f"cw{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert len(losers) == 5
    with session_scope(db_url) as session:
        assert get_review_task(session, task_id).claimed_by == winners[0]

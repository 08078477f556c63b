"""The decision activities against a real (SQLite) engine database: who may decide, the
refusal and the decision in the audit chain, and a retried record written once."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.decisions import DecisionActivities
from db import accounts
from db.audit import audit_events_for, verify_audit_chain
from db.migrate import upgrade
from db.session import dispose_engines, session_scope
from domain.migration import RecordDecisionInput


@pytest.fixture
def decisions(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'switchover.db'}"
    upgrade(url)
    with session_scope(url) as session:
        accounts.create_user(session, username="erin", roles=["engineer"], password_hash=None)
        accounts.create_user(session, username="carl", roles=["caseworker"], password_hash=None)
        gone = accounts.create_user(session, username="gone", roles=["engineer"],
                                    password_hash=None)  # fmt: skip
        gone.active = False
    yield DecisionActivities(url)
    dispose_engines()


def trail(activities: DecisionActivities) -> list[tuple[str, str, bool]]:
    with session_scope(activities.database_url) as session:
        assert verify_audit_chain(session).ok
        events = audit_events_for(session, [("system", "legacy-x")])
        return [(e.actor, e.action, e.detail["accepted"]) for e in events]


def decision(actor: str, update_id: str = "u-1") -> RecordDecisionInput:
    return RecordDecisionInput(actor=actor, action="migration.gate_accept", system_id="legacy-x",
                               detail={"table": "A", "reason": "agreed",
                                       "update_id": update_id})  # fmt: skip


def test_only_an_active_engineer_may_decide_and_refusals_are_recorded(
    decisions: DecisionActivities,
) -> None:
    decisions.authorise_decision(decision("erin"))
    for someone in ("carl", "gone", "nobody"):
        with pytest.raises(ApplicationError) as refused:
            decisions.authorise_decision(decision(someone, update_id=f"u-{someone}"))
        assert refused.value.type == "NotPermittedError"
        assert refused.value.non_retryable
        assert refused.value.message.startswith(f"{someone} is not an active engineer")
    assert trail(decisions) == [
        ("carl", "migration.gate_accept", False),
        ("gone", "migration.gate_accept", False),
        ("nobody", "migration.gate_accept", False),
    ]


def test_a_retried_record_is_written_once(decisions: DecisionActivities) -> None:
    decisions.record_decision(decision("erin"))
    decisions.record_decision(decision("erin"))  # the retry of an attempt that committed
    decisions.record_decision(decision("erin", update_id="u-2"))  # a second decision
    assert trail(decisions) == [
        ("erin", "migration.gate_accept", True),
        ("erin", "migration.gate_accept", True),
    ]
    with session_scope(decisions.database_url) as session:
        events = audit_events_for(session, [("system", "legacy-x")])
        assert [e.detail["update_id"] for e in events] == ["u-1", "u-2"]
        assert events[0].detail["reason"] == "agreed"

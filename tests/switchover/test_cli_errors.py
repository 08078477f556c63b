"""Every failure of a command is one line on stderr with the exit code of DESIGN.md, even
one that is not ours: a Temporal client error, a workflow's failure, a bug."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.service import RPCError, RPCStatusCode

from switchover import migrate


def failing_with(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    async def views(*_: Any, **__: Any) -> Any:
        raise error

    monkeypatch.setattr(migrate, "migration_views", views)


def bad_record() -> WorkflowFailureError:
    cause = ApplicationError("people.csv, record 3, byte offset 33: 2 fields where the header "
                             "has 3", type="LegacyReadError", non_retryable=True)  # fmt: skip
    activity = ActivityError("activity failed", scheduled_event_id=5, started_event_id=6,
                             identity="w", activity_type="copy_batch", activity_id="1",
                             retry_state=RetryState.NON_RETRYABLE_FAILURE)  # fmt: skip
    activity.__cause__ = cause
    return WorkflowFailureError(cause=activity)


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (RPCError("connection reset", RPCStatusCode.UNAVAILABLE, b""), 3,
         "switchover: Temporal refused: Temporal or its workers did not answer (connection "
         "reset); is a worker running?"),
        (bad_record(), 2, "switchover: the workflow failed: people.csv, record 3, byte offset 33: "
         "2 fields where the header has 3"),
        (RuntimeError("boom\nsecond line"), 1,
         "switchover: unexpected RuntimeError: boom second line (a bug; "
         "SWITCHOVER_LOG_LEVEL=DEBUG shows where)"),
    ],
)  # fmt: skip
def test_a_failure_not_ours_is_one_line_with_its_exit_code(
    run: Any, monkeypatch: pytest.MonkeyPatch, error: Exception, code: int, line: str
) -> None:
    failing_with(monkeypatch, error)
    result = run("migrate", "status")
    assert result.exit_code == code
    assert result.stderr.splitlines() == [line]
    assert result.stdout == ""

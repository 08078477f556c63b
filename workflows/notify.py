"""How workflows tell people: one call, which never fails the workflow that makes it.

A notification that cannot be sent (Notify down for an hour, refused, not configured, or
a worker without the activity) is logged and the workflow goes on: the event itself is
in the engine database and on the web pages either way.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain import delivery as names
    from domain.delivery import NotifyInput, NotifyResult

from workflows.calls import CallPolicy, call

NOTIFY = CallPolicy(
    start_to_close=timedelta(seconds=30),
    schedule_to_close=timedelta(hours=1),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        non_retryable_error_types=["NotFoundError", "NotificationRefused"],
    ),
)
"""Notify retried for up to an hour; a refusal, or a worker without the activity, at once."""


async def notify(request: NotifyInput) -> bool:
    """Send a notification; whether it was sent."""
    try:
        result = await call(names.NOTIFY, request, NOTIFY, result_type=NotifyResult)
    except ActivityError:
        workflow.logger.warning("notification not sent", extra={"kind": request.kind.value})
        return False
    return result.sent

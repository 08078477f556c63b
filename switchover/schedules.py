"""The engine's recurring work, as Temporal Schedules created once and left to Temporal.

``ensure_schedules`` is idempotent: the embedded stack and every worker that serves the
workflow queue call it at start-up, and the first one creates what is missing.
"""

from __future__ import annotations

from contextlib import suppress

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)

from config.log import get_logger
from config.settings import TASK_QUEUE_WORKFLOWS
from workflows.savings import AccrueSavingsWorkflow

log = get_logger(__name__)

ACCRUE_SAVINGS_SCHEDULE = "switchover-accrue-savings"


async def ensure_schedules(client: Client) -> None:
    """Create the nightly savings accrual (00:10 UTC) unless it exists."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            AccrueSavingsWorkflow.run,
            id="accrue-savings",
            task_queue=TASK_QUEUE_WORKFLOWS,
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(0)], minute=[ScheduleRange(10)])]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    with suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(ACCRUE_SAVINGS_SCHEDULE, schedule)
        log.info("schedule created", schedule=ACCRUE_SAVINGS_SCHEDULE)

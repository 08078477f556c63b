"""The engine's recurring work, as Temporal Schedules created once and left to Temporal.

``ensure_schedules`` is idempotent: the embedded stack and every worker that serves the
workflow queue call it at start-up, and the first one creates what is missing.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)

from config.log import get_logger
from config.settings import TASK_QUEUE_WORKFLOWS
from domain.delivery import DELIVERY_WORKFLOW_ID, DeliverRecordsInput
from workflows.audit import ExportAuditHeadWorkflow
from workflows.delivery import DeliverRecordsWorkflow
from workflows.savings import AccrueSavingsWorkflow

log = get_logger(__name__)

ACCRUE_SAVINGS_SCHEDULE = "switchover-accrue-savings"
EXPORT_AUDIT_HEAD_SCHEDULE = "switchover-export-audit-head"
DELIVER_RECORDS_SCHEDULE = "switchover-deliver-records"


async def ensure_schedules(client: Client) -> None:
    """Create what is missing: the nightly savings accrual (00:10 UTC) and the delivery of
    approved records (every minute)."""
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
    await _ensure_audit_head_export(client)


async def _ensure_audit_head_export(client: Client) -> None:
    """Write the audit chain's head out daily (00:20 UTC), so truncation is detectable."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ExportAuditHeadWorkflow.run, id="export-audit-head", task_queue=TASK_QUEUE_WORKFLOWS
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(0)], minute=[ScheduleRange(20)])]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    with suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(EXPORT_AUDIT_HEAD_SCHEDULE, schedule)
        log.info("schedule created", schedule=EXPORT_AUDIT_HEAD_SCHEDULE)
    # Approved records to their destinations: a pass every minute, never two at once.
    deliveries = Schedule(
        action=ScheduleActionStartWorkflow(
            DeliverRecordsWorkflow.run,
            DeliverRecordsInput(),
            id=DELIVERY_WORKFLOW_ID,
            task_queue=TASK_QUEUE_WORKFLOWS,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    with suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(DELIVER_RECORDS_SCHEDULE, deliveries)
        log.info("schedule created", schedule=DELIVER_RECORDS_SCHEDULE)

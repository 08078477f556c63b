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
    ScheduleUpdate,
)
from temporalio.service import RPCError, RPCStatusCode

from config.log import get_logger
from config.migration_plan import MigrationPlan
from config.settings import TASK_QUEUE_WORKFLOWS
from domain.delivery import (
    DELIVERY_WORKFLOW_ID,
    RETENTION_WORKFLOW_ID,
    DeliverRecordsInput,
    RetentionInput,
)
from workflows.audit import ExportAuditHeadWorkflow
from workflows.delivery import DeliverRecordsWorkflow
from workflows.retention import ApplyRetentionWorkflow
from workflows.savings import AccrueSavingsWorkflow

log = get_logger(__name__)

ACCRUE_SAVINGS_SCHEDULE = "switchover-accrue-savings"
EXPORT_AUDIT_HEAD_SCHEDULE = "switchover-export-audit-head"
DELIVER_RECORDS_SCHEDULE = "switchover-deliver-records"
APPLY_RETENTION_SCHEDULE = "switchover-apply-retention"


async def ensure_schedules(client: Client) -> None:
    """Create what is missing: the nightly savings accrual (00:10 UTC), the audit head's
    export, the delivery of approved records and retention."""
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
    await _ensure_delivery_and_retention(client)


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


async def _ensure_delivery_and_retention(client: Client) -> None:
    """Deliver approved records every minute (never two passes at once); apply retention
    nightly at 02:30 UTC."""
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
    retention = Schedule(
        action=ScheduleActionStartWorkflow(
            ApplyRetentionWorkflow.run,
            RetentionInput(),
            id=RETENTION_WORKFLOW_ID,
            task_queue=TASK_QUEUE_WORKFLOWS,
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(2)], minute=[ScheduleRange(30)])]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    with suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(APPLY_RETENTION_SCHEDULE, retention)
        log.info("schedule created", schedule=APPLY_RETENTION_SCHEDULE)


def reconcile_schedule_id(system_id: str) -> str:
    """The schedule of a system's reconciliation after cutover."""
    return f"reconcile-{system_id}"


async def ensure_reconcile_schedule(
    client: Client, plan: MigrationPlan, plan_ref: str
) -> str | None:
    """Create or update the schedule of a plan's ``reconcile.every`` (reconciliation only,
    each run reading the stored plan ``plan_ref``), unpaused; None when the plan has none
    (and the schedule of an earlier version that had one is deleted).

    Returns:
        The schedule's id.
    """
    from workflows.reconcile import ScheduledReconcileInput, ScheduledReconcileWorkflow

    every = plan.reconcile
    schedule_id = reconcile_schedule_id(plan.system.id)
    if every.every is None:  # none, or no longer: an earlier version's schedule goes
        try:
            await client.get_schedule_handle(schedule_id).delete()
        except RPCError as e:
            if e.status is not RPCStatusCode.NOT_FOUND:
                raise
        return None
    interval = every.interval_s()
    if interval is not None:
        spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=interval))])
    else:
        spec = ScheduleSpec(cron_expressions=[every.cron() or ""])
    run = ScheduledReconcileInput(
        plan_path=plan_ref, system_id=plan.system.id, schedule_id=schedule_id
    )
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledReconcileWorkflow.run, run, id=schedule_id, task_queue=TASK_QUEUE_WORKFLOWS
        ),
        spec=spec,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)
        await handle.update(lambda _: ScheduleUpdate(schedule=schedule))
        await handle.unpause(note=f"plan version {plan_ref.removeprefix('plan:')[:12]}")
    log.info("schedule set", schedule=schedule_id, every=every.every)
    return schedule_id

"""The engine's recurring work, as Temporal Schedules created once and left to Temporal.

``ensure_schedules`` is idempotent: the embedded stack and every worker that serves the
workflow queue call it at start-up, and the first one creates what is missing.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta
from typing import Any

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


def _daily_at(hour: int, minute: int) -> ScheduleSpec:
    return ScheduleSpec(
        calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=[ScheduleRange(minute)])]
    )


def _schedule(run: Any, *args: Any, workflow_id: str, spec: ScheduleSpec) -> Schedule:
    """A schedule that starts ``run`` on the workflow queue, never two runs at once."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            run, args=args, id=workflow_id, task_queue=TASK_QUEUE_WORKFLOWS
        ),
        spec=spec,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedules(client: Client) -> None:
    """Create what is missing: the savings accrual (nightly, 00:10 UTC), the audit chain's
    head written out (00:20 UTC, so truncation is detectable), the delivery of approved
    records (every minute) and retention (02:30 UTC)."""
    wanted = {
        ACCRUE_SAVINGS_SCHEDULE: _schedule(
            AccrueSavingsWorkflow.run, workflow_id="accrue-savings", spec=_daily_at(0, 10)
        ),
        EXPORT_AUDIT_HEAD_SCHEDULE: _schedule(
            ExportAuditHeadWorkflow.run, workflow_id="export-audit-head", spec=_daily_at(0, 20)
        ),
        DELIVER_RECORDS_SCHEDULE: _schedule(
            DeliverRecordsWorkflow.run,
            DeliverRecordsInput(),
            workflow_id=DELIVERY_WORKFLOW_ID,
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]),
        ),
        APPLY_RETENTION_SCHEDULE: _schedule(
            ApplyRetentionWorkflow.run,
            RetentionInput(),
            workflow_id=RETENTION_WORKFLOW_ID,
            spec=_daily_at(2, 30),
        ),
    }
    for schedule_id, schedule in wanted.items():
        with suppress(ScheduleAlreadyRunningError):
            await client.create_schedule(schedule_id, schedule)
            log.info("schedule created", schedule=schedule_id)


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
    schedule = _schedule(ScheduledReconcileWorkflow.run, run, workflow_id=schedule_id, spec=spec)
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)
        await handle.update(lambda _: ScheduleUpdate(schedule=schedule))
        await handle.unpause(note=f"plan version {plan_ref.removeprefix('plan:')[:12]}")
    log.info("schedule set", schedule=schedule_id, every=every.every)
    return schedule_id

"""``ScheduledReconcileWorkflow``: reconciliation only, on a Temporal Schedule, after
cutover and until the system is retired.

A plan's ``reconcile.every`` makes ``migrate run`` create the schedule
(``switchover.schedules.ensure_reconcile_schedule``), whose action starts this workflow
with the run's stored plan version. Each run reconciles every table within the plan's
budgets (``reconcile.max_minutes``, ``reconcile.max_differences``) and stores the
reports; a run over a budget, or with more differences than it may find, fails with the
reason, which the schedule's list of recent runs and the Temporal UI show. A run before
the system is cut over does nothing (the migration's gates reconcile until then); the
first run that finds the system retired pauses the schedule, saying why, and ends.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, Field

    from activities import names
    from domain.migration import ProfileInput, ReconcileTableResult
    from domain.systems import SystemStage

from workflows.calls import QUICK, RECONCILE, call


class ScheduledReconcileInput(BaseModel):
    """What a schedule starts each run with.

    Attributes:
        plan_path: the stored plan version (``plan:<sha256>``).
        system_id: the plan's system.
        schedule_id: the schedule that starts these runs (paused once the system retires).
    """

    plan_path: str
    system_id: str
    schedule_id: str


class ScheduledReconcileResult(BaseModel):
    """A run that passed, or did nothing: the system is not cut over yet (the migration's
    own gates reconcile until then) or is retired."""

    system_id: str
    stage: str | None = None
    retired: bool = False
    skipped: bool = False
    tables: list[ReconcileTableResult] = Field(default_factory=list)


@workflow.defn
class ScheduledReconcileWorkflow:
    """One scheduled reconciliation of a system: passed, failed with the reason, or
    retired (the schedule then stops)."""

    @workflow.run
    async def run(self, request: ScheduledReconcileInput) -> ScheduledReconcileResult:
        stage = await call(names.SYSTEM_STAGE, request.system_id, QUICK, result_type=str)
        done = ScheduledReconcileResult(system_id=request.system_id, stage=stage or None)
        if stage == SystemStage.RETIRED:
            await call(names.PAUSE_SCHEDULE, request.schedule_id, QUICK)
            return done.model_copy(update={"retired": True})
        if not stage or SystemStage(stage).order < SystemStage.CUTOVER.order:
            return done.model_copy(update={"skipped": True})
        tables = await call(
            names.RECONCILE_SCHEDULED,
            ProfileInput(plan_path=request.plan_path),
            RECONCILE,
            result_type=list[ReconcileTableResult],
        )
        failed = [t for t in tables if not t.passed]
        if failed:
            raise ApplicationError(
                f"reconciliation of {request.system_id} failed: "
                + "; ".join(_why(t) for t in failed),
                type="ReconciliationFailed",
                non_retryable=True,
            )
        return done.model_copy(update={"tables": tables})


def _why(table: ReconcileTableResult) -> str:
    if table.stopped:
        return f"{table.table}: {table.stopped}"
    found = (f"{table.missing} missing, {table.extra} extra, {table.changed} changed"
             + (f", {table.quarantined} quarantined" if table.quarantined else ""))  # fmt: skip
    return f"{table.table}: {found}, over the run's difference budget"

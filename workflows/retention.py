"""``ApplyRetentionWorkflow``: each form type's retention schedule, applied once a day.

A Temporal Schedule (``switchover.schedules``) starts it nightly. Retention is judged at
the workflow's own clock (``workflow.now()``, or ``as_of`` when given), so a test moves
the clock forward with the time-skipping server rather than patching anything.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import delivery as names
    from domain.delivery import RetentionInput, RetentionResult

from workflows.calls import CallPolicy, call

RETENTION = CallPolicy(start_to_close=timedelta(minutes=30))
"""One batch of deletions: storage and the engine database."""
MAX_BATCHES = 1_000
"""Batches in one run; a backlog larger than this is finished by the next night's run."""


@workflow.defn
class ApplyRetentionWorkflow:
    """Delete what retention says is due: scans, then whole records."""

    @workflow.run
    async def run(self, request: RetentionInput) -> RetentionResult:
        as_of = request.as_of or workflow.now()
        total = RetentionResult()
        for _ in range(MAX_BATCHES):
            batch = await call(
                names.APPLY_RETENTION,
                RetentionInput(as_of=as_of, limit=request.limit),
                RETENTION,
                result_type=RetentionResult,
            )
            total.scans_deleted += batch.scans_deleted
            total.records_deleted += batch.records_deleted
            if not batch.more:
                break
        return total

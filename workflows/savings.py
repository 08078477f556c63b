"""``AccrueSavingsWorkflow``: bring the savings ledger up to today, once a day.

A Temporal Schedule (``switchover.schedules``) starts it every night; every run is
idempotent (one ledger entry per system per day), so a missed night is made up by the
next one and a run started twice adds nothing.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities import names
    from config.settings import TASK_QUEUE_IO
    from domain.cutover import AccrueSavingsInput


@workflow.defn
class AccrueSavingsWorkflow:
    """Every retired system's avoided run cost, day by day, up to today."""

    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity(
            names.ACCRUE_SAVINGS,
            AccrueSavingsInput(),
            result_type=int,
            task_queue=TASK_QUEUE_IO,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )

"""``AccrueSavingsWorkflow``: bring the savings ledger up to today, once a day.

A Temporal Schedule (``switchover.schedules``) starts it every night; every run is
idempotent (one ledger entry per system per day), so a missed night is made up by the
next one and a run started twice adds nothing.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import names
    from domain.cutover import AccrueSavingsInput

from workflows.calls import SAVINGS, call


@workflow.defn
class AccrueSavingsWorkflow:
    """Every retired system's avoided run cost, day by day, up to today."""

    @workflow.run
    async def run(self) -> int:
        return await call(names.ACCRUE_SAVINGS, AccrueSavingsInput(), SAVINGS, result_type=int)

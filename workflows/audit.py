"""``ExportAuditHeadWorkflow``: write the audit chain's head out, once a day.

A Temporal Schedule (``switchover.schedules``) starts it every night. Each run writes a
new object (never replacing one), so a run started twice only writes the head twice.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.names import EXPORT_AUDIT_HEAD
    from domain.audit import ExportAuditHeadInput, ExportedAuditHead

from workflows.calls import CallPolicy, call

EXPORT = CallPolicy(start_to_close=timedelta(minutes=5))


@workflow.defn
class ExportAuditHeadWorkflow:
    """The chain's last event id and hash, to write-once storage."""

    @workflow.run
    async def run(self) -> ExportedAuditHead:
        return await call(
            EXPORT_AUDIT_HEAD, ExportAuditHeadInput(), EXPORT, result_type=ExportedAuditHead
        )

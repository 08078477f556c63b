"""Migration workflows: one legacy system's staged migration, and one table's copy.

``MigrateSystemWorkflow`` runs the stages of DESIGN.md's migration flow up to the hand-off
for cutover: profile → copy (a ``CopyTableWorkflow`` child per table, a few at a time) →
reconcile → gate → catch-up (re-copy what changed, reconcile again, gate again). A table
that fails its gate waits, durably, for the engineer: re-sync the differing keys, accept
with a reason, or abort. Every stage and gate is recorded for the programme dashboard.

Engineers decide a gate (``decide_gate``) and pause, resume or cancel the run
(``control``) by updates: the workflow checks in the engine database that the person is
an active engineer, refuses anyone else whatever client they use, and records every
decision, refusals too, in the audit trail before it answers. (The ``pause``, ``resume``
and ``cancel`` signals stay for runs and tools that used them; they check no one.)

``CopyTableWorkflow`` copies one table (or one part of its keys, with the plan's
``parallel``: several run at once, on any workers) in key order, one activity per key
range; each activity heartbeats its last key so a retry resumes there, and the workflow
continues as new every few batches so its history stays bounded at any row count. It answers a
``progress`` query and obeys ``pause``, ``resume`` and ``cancel`` signals.

Only references cross Temporal: the stored plan's version (``plan:<sha256>``; a path in
runs from before plans were stored), table names, keys and counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities import names
    from domain.delivery import NotificationKind, NotifyInput
    from domain.migration import (
        CatchUpInput,
        CatchUpResult,
        CopyBatchInput,
        CopyBatchResult,
        CopyTableInput,
        CopyTableProgress,
        CopyTableResult,
        GateAction,
        GateDecision,
        KeyValues,
        MigrateSystemInput,
        MigrateSystemResult,
        MigrationStage,
        MigrationStatus,
        PrepareTargetInput,
        ProfileInput,
        ProfileResult,
        ReconcileTableResult,
        RecordDecisionInput,
        RecordStageInput,
        RunControl,
        RunControlAction,
        RunState,
        StreamLag,
        TableProfile,
        TableState,
        TableStatus,
    )
    from domain.workflow_ids import copy_id, copy_part_id, cutover_id

from workflows.calls import BRIEF, COPY, PROFILE, QUICK, ROUTER, ReconcileRounds, call
from workflows.cutover import CutoverRunInput, CutoverWorkflow, read_cutover_plan
from workflows.notify import notify

AUTO_RESYNC_ROUNDS = 3
"""In catch-up, differences are changes made during the copy: re-sync them this many
times by itself before asking the engineer."""
PARALLEL_COPIES = "migrate-parallel-copies"
"""The patch behind splitting a table's copy into the plan's ``parallel`` key ranges. A
run that began before it replays as it ran: one copy per table."""
DECISIONS_CHECKED = "migrate-decisions-checked"
"""The patch behind checking a gate decision's engineer and recording it in the audit
trail. A run that took a decision before it replays as it ran, and goes on taking its
decisions unchecked (a patch holds for the whole run); every other run checks them."""


def _elapsed(since: datetime | None) -> float:
    return (workflow.now() - since).total_seconds() if since else 0.0


def _range_end(request: CopyTableInput, after: list[object] | None) -> list[object] | None:
    """The end of the next key range, for a single integer key; None otherwise.

    A range ends its query by itself: a copy that stopped a table-long query after
    ``batch_max_rows`` rows would leave the driver discarding the rest of the table, every
    batch (quadratic at millions of rows).
    """
    if not (request.upto and request.lowest and len(request.upto) == len(request.lowest) == 1):
        return None
    low, high = request.lowest[0], request.upto[0]
    if type(low) is not int or type(high) is not int:
        return None
    start = after[0] if after else low - 1
    if type(start) is not int:
        return None
    span = -(-request.batch_max_rows * (high - low + 1) // max(request.rows_total, 1))
    return [min(start + max(span, 1), high)]


@workflow.defn
class CopyTableWorkflow:
    """One table, copied range by range into the target, resumable at any point."""

    def __init__(self) -> None:
        self._paused = False
        self._cancelled = False
        self._progress = CopyTableProgress(table="")

    @workflow.run
    async def run(self, request: CopyTableInput) -> CopyTableResult:
        self._paused = self._paused or request.paused
        started = request.started_at or workflow.now()
        progress = self._progress
        progress.table, progress.rows_total = request.table, request.rows_total
        progress.rows_copied, progress.last_key = request.rows_copied, request.after
        progress.runs = request.run_number
        if request.started_at is None:
            await call(
                names.PREPARE_TARGET,
                PrepareTargetInput(plan_path=request.plan_path, table=request.table),
                ROUTER,
            )
        copy = dataclasses.replace(COPY, heartbeat=timedelta(seconds=request.heartbeat_timeout_s))
        batches = 0
        while True:
            progress.state = TableState.PAUSED if self._paused else TableState.COPYING
            await workflow.wait_condition(lambda: not self._paused or self._cancelled)
            if self._cancelled:
                progress.state = TableState.CANCELLED
                return CopyTableResult(
                    table=request.table, rows_copied=progress.rows_copied, cancelled=True
                )
            progress.state = TableState.COPYING
            if batches >= request.batches_per_run:
                workflow.continue_as_new(
                    request.model_copy(
                        update={
                            "after": progress.last_key,
                            "rows_copied": progress.rows_copied,
                            "started_at": started,
                            "paused": self._paused,
                            "batches_per_run": request.batches_per_run,
                            "rows_total": max(request.rows_total, progress.rows_copied),
                            "run_number": request.run_number + 1,
                        }
                    )
                )
            range_end = _range_end(request, progress.last_key)
            result = await call(
                names.COPY_BATCH,
                CopyBatchInput(
                    plan_path=request.plan_path,
                    table=request.table,
                    after=progress.last_key,
                    upto=range_end or request.upto,
                    max_rows=request.batch_max_rows,
                ),
                copy,
                result_type=CopyBatchResult,
            )
            batches += 1
            progress.rows_copied += result.rows
            if result.last_key is not None:
                progress.last_key = result.last_key
            seconds = _elapsed(started)
            progress.rows_per_second = progress.rows_copied / seconds if seconds > 0 else 0.0
            left = max(progress.rows_total - progress.rows_copied, 0)
            progress.eta_seconds = (
                left / progress.rows_per_second if progress.rows_per_second else None
            )
            if result.done and range_end is not None and range_end != request.upto:
                progress.last_key = range_end  # this range is exhausted: on to the next
                continue
            if result.done:
                progress.state = TableState.COPIED
                progress.eta_seconds = 0.0
                return CopyTableResult(table=request.table, rows_copied=progress.rows_copied)

    @workflow.query
    def progress(self) -> CopyTableProgress:
        """Rows copied, rate and ETA, and the last key copied."""
        return self._progress

    @workflow.signal
    def pause(self) -> None:
        """Stop after the current batch, until ``resume``."""
        self._paused = True

    @workflow.signal
    def resume(self) -> None:
        self._paused = False

    @workflow.signal
    def cancel(self) -> None:
        """Stop after the current batch; what is copied stays (a new run upserts over it)."""
        self._cancelled = True


@workflow.defn
class MigrateSystemWorkflow:
    """One legacy system, from profile to the hand-off for cutover."""

    def __init__(self) -> None:
        self._status = MigrationStatus()
        self._paused = False
        self._cancelled = False
        self._decisions: dict[str, GateDecision] = {}
        self._copying: dict[str, str] = {}  # table (or table#part) -> child workflow id
        self._plan_path = ""

    @workflow.run
    async def run(self, request: MigrateSystemInput) -> MigrateSystemResult:
        result = await self._stages(request)
        # A decision that ended the run (abort, cancel) is answered once it is recorded.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _stages(self, request: MigrateSystemInput) -> MigrateSystemResult:
        self._plan_path = request.plan_path
        # The plan's heartbeat timeout: a catch-up on a dead worker resumes as soon as a copy.
        catch_up = dataclasses.replace(
            COPY, heartbeat=timedelta(seconds=request.heartbeat_timeout_s)
        )
        status = self._status
        status.stage = MigrationStage.PROFILE
        profile = await call(
            names.PROFILE_SYSTEM,
            ProfileInput(plan_path=request.plan_path),
            PROFILE,
            result_type=ProfileResult,
        )
        status.system_id = profile.system_id
        for table in profile.tables:
            status.tables[table.table] = TableStatus(table=table.table, rows_total=table.rows)
        total = sum(t.rows for t in profile.tables)
        await self._record("migrating", note="profiled", rows_total=total, rows_migrated=0)
        if request.until is MigrationStage.PROFILE:
            return self._result(RunState.STOPPED)

        status.stage = MigrationStage.COPY
        status.copy_started_at = workflow.now()
        limit = asyncio.Semaphore(request.max_parallel_tables)
        await asyncio.gather(*(self._copy(request, table, limit) for table in profile.tables))
        copied = sum(t.rows_copied for t in status.tables.values())
        if self._cancelled:
            await self._record("migrating", note="cancelled during copy", rows_migrated=copied)
            return self._result(RunState.CANCELLED)
        await self._record("migrating", note="copied", rows_migrated=copied)
        if request.until is MigrationStage.COPY:
            return self._result(RunState.STOPPED)

        status.stage = MigrationStage.RECONCILE
        await self._record("reconciling", note="reconciling")
        for table in profile.tables:
            if self._cancelled or not await self._gate(table.table, auto_rounds=0):
                return await self._stopped()
        await self._record("reconciling", note="reconciled", reconciliation_passed=True)
        if request.until is MigrationStage.RECONCILE:
            return self._result(RunState.STOPPED)

        status.stage = MigrationStage.CATCH_UP
        since = status.copy_started_at
        for table in profile.tables:
            if self._cancelled:
                return await self._stopped()
            await self._table(table.table, TableState.COPYING)
            caught_up = await call(
                names.CATCH_UP_TABLE,
                CatchUpInput(plan_path=request.plan_path, table=table.table, since=since),
                catch_up,
                result_type=CatchUpResult,
            )
            status.change_stream = StreamLag.of(caught_up, workflow.now()) or status.change_stream
            if self._cancelled or not await self._gate(table.table, auto_rounds=AUTO_RESYNC_ROUNDS):
                return await self._stopped()
        await self._record("reconciling", note="caught up", reconciliation_passed=True)
        if request.until is MigrationStage.CATCH_UP:
            return self._result(RunState.STOPPED)
        return await self._hand_over(request, since)

    async def _hand_over(
        self, request: MigrateSystemInput, caught_up_at: datetime | None
    ) -> MigrateSystemResult:
        """Start the system's cutover, which runs on by itself for days or weeks.

        A plan without a cutover section ends here, ready for one.
        """
        plan = await read_cutover_plan(request.plan_path)
        if plan is None:
            return self._result(RunState.READY_FOR_CUTOVER)
        system_id = self._status.system_id or plan.system_id
        # A cutover for this system that runs already is the one to follow.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await workflow.start_child_workflow(
                CutoverWorkflow.run,
                CutoverRunInput(
                    plan_path=request.plan_path,
                    system_id=system_id,
                    decommission=request.until is not MigrationStage.CUTOVER,
                    caught_up_at=caught_up_at,
                ),
                id=cutover_id(system_id),
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        self._status.stage = MigrationStage.CUTOVER
        return self._result(RunState.CUTOVER_STARTED)

    # --- copy ------------------------------------------------------------------------

    async def _copy(
        self, request: MigrateSystemInput, table: TableProfile, limit: asyncio.Semaphore
    ) -> None:
        async with limit:
            if self._cancelled:
                return
            entry = self._status.tables[table.table]
            entry.state = TableState.PAUSED if self._paused else TableState.COPYING
            ranges: list[list[KeyValues]] = []
            if workflow.patched(PARALLEL_COPIES):
                ranges = await call(
                    names.COPY_RANGES,
                    PrepareTargetInput(plan_path=request.plan_path, table=table.table),
                    PROFILE,
                    result_type=list[list[KeyValues]],
                )
            if len(ranges) > 1:
                # The parts write at once: the target table is made ready before any does.
                await call(
                    names.PREPARE_TARGET,
                    PrepareTargetInput(plan_path=request.plan_path, table=table.table),
                    ROUTER,
                )
            parts = ranges if len(ranges) > 1 else []
            copies = [self._copy_part(request, table, parts, i) for i in range(len(parts) or 1)]
            try:
                results = await asyncio.gather(*copies)
            except ChildWorkflowError as e:
                entry.state = TableState.FAILED  # the run fails with the copy's reason
                self._status.state = RunState.FAILED
                self._status.reason = f"the copy of {table.table} failed: {root_message(e)}"
                raise
            entry.rows_copied = sum(r.rows_copied for r in results)
            cancelled = any(r.cancelled for r in results)
            entry.state = TableState.CANCELLED if cancelled else TableState.COPIED

    async def _copy_part(
        self,
        request: MigrateSystemInput,
        table: TableProfile,
        parts: list[list[KeyValues]],
        index: int,
    ) -> CopyTableResult:
        """One key range of a table, by its own ``CopyTableWorkflow``; the whole table when
        there are no ``parts`` (and then the copy makes the target table ready itself)."""
        parent = workflow.info().workflow_id
        child_id = copy_id(parent, table.table)
        part: dict[str, object] = {}
        key = table.table
        if parts:
            (first,), (last,) = parts[index]
            width = table.highest[0] - table.lowest[0] + 1 if table.highest and table.lowest else 1
            child_id = copy_part_id(parent, table.table, index + 1)
            key = f"{table.table}#{index + 1}"
            part = {"after": [first - 1], "lowest": [first], "upto": [last],
                    "rows_total": -(-table.rows * (last - first + 1) // max(width, 1)),
                    "started_at": workflow.now()}  # fmt: skip
        handle = await workflow.start_child_workflow(
            CopyTableWorkflow.run,
            CopyTableInput(
                plan_path=request.plan_path,
                table=table.table,
                upto=table.highest,
                lowest=table.lowest,
                rows_total=table.rows,
                batch_max_rows=request.batch_max_rows,
                batches_per_run=request.batches_per_run,
                heartbeat_timeout_s=request.heartbeat_timeout_s,
                paused=self._paused,
                parent_workflow_id=parent,
            ).model_copy(update=part),
            id=child_id,
        )
        self._copying[key] = child_id
        try:
            return await handle
        finally:
            self._copying.pop(key, None)

    # --- reconcile and gate --------------------------------------------------------------

    async def _gate(self, table: str, *, auto_rounds: int) -> bool:
        """Reconcile a table until it passes or the engineer accepts; False to stop the run."""
        rounds = ReconcileRounds(
            plan_path=self._plan_path,
            table=table,
            resync_rounds=auto_rounds,
            on_step=lambda state: self._set_table(table, state),
            on_report=lambda report: self._keep_report(table, report),
        )
        report = await rounds.until_passed()
        while not report.passed:
            await self._table(table, TableState.AWAITING_DECISION)
            self._status.state = RunState.AWAITING_DECISION
            found = (
                f"gate failed for {table}: {report.missing} missing, {report.extra} extra, "
                f"{report.changed} changed{'; ' + report.stopped if report.stopped else ''}"
            )
            self._status.reason = f"{found}; waiting for an engineer to re-sync, accept or abort"
            await self._record(
                "reconciling", note=f"{found}; waiting for the engineer",
                reconciliation_passed=False,
            )  # fmt: skip
            if workflow.patched("notify-migration-gate-failed"):
                await notify(NotifyInput(
                    kind=NotificationKind.GATE_FAILED, subject=self._system_id(),
                    detail=f"reconciliation gate of {table}",
                    count=report.missing + report.extra + report.changed,
                    path=f"/dashboard/systems/{self._system_id()}",
                    reference=f"gate-failed-{self._system_id()}-{table}-"
                    f"{workflow.now():%Y%m%dT%H%M%S}",
                ))  # fmt: skip
            await workflow.wait_condition(lambda: table in self._decisions or self._cancelled)
            if self._cancelled:
                return False
            self._status.state = RunState.RUNNING
            self._status.reason = None
            decision = self._decisions.pop(table)
            self._status.tables[table].decision = decision
            if decision.action is GateAction.ACCEPT:
                await self._record(
                    "reconciling",
                    note=f"gate for {table} accepted by {decision.decided_by}: {decision.reason}",
                )
                await self._table(table, TableState.ACCEPTED)
                return True
            if decision.action is GateAction.ABORT:
                self._status.state = RunState.ABORTED
                self._status.reason = (
                    f"aborted at the gate for {table} by {decision.decided_by}: {decision.reason}"
                )
                await self._record("reconciling", note=self._status.reason)
                return False
            report = await rounds.until_passed(resync_first=True)
        await self._table(table, TableState.PASSED)
        return True

    @workflow.update
    async def decide_gate(self, decision: GateDecision) -> str:
        """The engineer's answer to a table's failed gate: re-sync, accept (with a reason),
        or abort.

        The engineer's role is checked in the engine database first (anyone else is
        refused with ``NotPermittedError``), and the decision is in the audit trail before
        the answer.
        """
        if not workflow.patched(DECISIONS_CHECKED):
            self._decisions[decision.table] = decision
            return f"{decision.action.value} {decision.table}"
        action = f"migration.gate_{decision.action.value}"
        detail = {"table": decision.table, "reason": decision.reason}
        await self._authorise(decision.decided_by, action, detail)
        self._check_decision(decision)  # the state may have moved on during the check
        self._decisions[decision.table] = decision
        await self._audit(decision.decided_by, action, detail)
        return f"{decision.action.value} {decision.table}"

    @decide_gate.validator
    def _check_decision(self, decision: GateDecision) -> None:
        entry = self._status.tables.get(decision.table)
        if self._cancelled or entry is None or entry.state is not TableState.AWAITING_DECISION:
            waiting = [t for t, e in self._status.tables.items()
                       if e.state is TableState.AWAITING_DECISION]  # fmt: skip
            raise ApplicationError(
                f"table {decision.table} is not waiting for a decision"
                + (f" ({', '.join(waiting)} is)" if waiting else " (no table is)"),
                type="ConflictError",
            )
        if decision.table in self._decisions:
            raise ApplicationError(
                f"a decision for {decision.table} is already being carried out",
                type="ConflictError",
            )
        if decision.action is not GateAction.RESYNC and not (decision.reason or "").strip():
            raise ApplicationError(f"{decision.action.value} needs a reason", type="BadInputError")

    @workflow.update
    async def control(self, request: RunControl) -> str:
        """An engineer's pause, resume or cancel of the whole run: checked and recorded in
        the audit trail like a gate decision."""
        action = f"migration.{request.action.value}"
        detail = {"reason": request.reason}
        await self._authorise(request.actor, action, detail)
        self._check_control(request)  # the state may have moved on during the check
        by = f"by {request.actor}" + (f": {request.reason}" if request.reason else "")
        if request.action is RunControlAction.PAUSE:
            await self._pause()
            self._status.reason = f"paused {by}"
        elif request.action is RunControlAction.RESUME:
            await self._resume()
        else:
            await self._cancel()
            self._status.reason = f"cancelled {by}"
        await self._audit(request.actor, action, detail)
        return f"{request.action.value} accepted for {self._system_id()}"

    @control.validator
    def _check_control(self, request: RunControl) -> None:
        if not request.actor.strip():
            raise ApplicationError("a decision needs the engineer's name", type="BadInputError")
        refused = None
        if self._cancelled:
            refused = "it is cancelled already"
        elif request.action is RunControlAction.PAUSE and self._paused:
            refused = "it is paused already"
        elif request.action is RunControlAction.PAUSE and self._status.stage not in (
            MigrationStage.PROFILE,
            MigrationStage.COPY,
        ):
            refused = f"only a copy pauses, and the run is at {self._status.stage.value}"
        elif request.action is RunControlAction.RESUME and not self._paused:
            refused = "it is not paused"
        if refused:
            raise ApplicationError(
                f"cannot {request.action.value} the migration of {self._system_id()}: {refused}",
                type="ConflictError",
            )

    async def _authorise(self, actor: str, action: str, detail: Mapping[str, object]) -> None:
        """Refuse (and record the refusal of) anyone who is not an active engineer."""
        try:
            await call(names.AUTHORISE_DECISION, self._decision(actor, action, detail), BRIEF)
        except ActivityError as e:
            cause = e.cause
            if isinstance(cause, ApplicationError) and cause.type == "NotPermittedError":
                raise ApplicationError(cause.message, type="NotPermittedError") from None
            raise

    async def _audit(self, actor: str, action: str, detail: Mapping[str, object]) -> None:
        await call(names.RECORD_DECISION, self._decision(actor, action, detail), BRIEF)

    def _decision(
        self, actor: str, action: str, detail: Mapping[str, object]
    ) -> RecordDecisionInput:
        update = workflow.current_update_info()
        ids = {"workflow_id": workflow.info().workflow_id,
               "update_id": update.id if update else None}  # fmt: skip
        return RecordDecisionInput(
            actor=actor, action=action, system_id=self._system_id(), detail={**detail, **ids}
        )

    def _system_id(self) -> str:
        return self._status.system_id or workflow.info().workflow_id

    # --- control -------------------------------------------------------------------------

    @workflow.query
    def status(self) -> MigrationStatus:
        """The stage, and each table's state, counts and last reconciliation."""
        return self._status

    @workflow.signal
    async def pause(self) -> None:
        """Pause every table's copy after its current batch (unchecked: ``control``)."""
        await self._pause()

    @workflow.signal
    async def resume(self) -> None:
        await self._resume()

    @workflow.signal
    async def cancel(self) -> None:
        """Stop: copies end after their current batch, a waiting gate stops waiting."""
        await self._cancel()

    async def _pause(self) -> None:
        self._paused = True
        self._status.state = RunState.PAUSED
        await self._tell_copies("pause")

    async def _resume(self) -> None:
        self._paused = False
        self._status.state = RunState.RUNNING
        self._status.reason = None
        await self._tell_copies("resume")

    async def _cancel(self) -> None:
        self._cancelled = True
        self._status.state = RunState.CANCELLED
        self._status.reason = "cancelled"
        await self._tell_copies("cancel")

    async def _tell_copies(self, signal: str) -> None:
        for child_id in list(self._copying.values()):
            await workflow.get_external_workflow_handle(child_id).signal(signal)

    # --- bookkeeping -----------------------------------------------------------------------

    async def _table(self, table: str, state: TableState) -> None:
        self._set_table(table, state)

    def _set_table(self, table: str, state: TableState) -> None:
        self._status.tables[table].state = state

    def _keep_report(self, table: str, report: ReconcileTableResult) -> None:
        self._status.tables[table].reconciliation = report

    async def _record(
        self,
        stage: str,
        *,
        note: str | None = None,
        rows_total: int | None = None,
        rows_migrated: int | None = None,
        reconciliation_passed: bool | None = None,
    ) -> None:
        await call(
            names.RECORD_MIGRATION_STAGE,
            RecordStageInput(
                plan_path=self._plan_path,
                stage=stage,
                note=note,
                rows_total=rows_total,
                rows_migrated=rows_migrated,
                reconciliation_passed=reconciliation_passed,
            ),
            QUICK,
        )

    async def _stopped(self) -> MigrateSystemResult:
        """The result of a run cancelled, or aborted at a gate (already recorded)."""
        if self._cancelled:
            await self._record("reconciling", note=f"cancelled during {self._status.stage.value}")
            return self._result(RunState.CANCELLED)
        return self._result(RunState.ABORTED)

    def _result(self, state: RunState) -> MigrateSystemResult:
        self._status.state = state
        if state not in (RunState.CANCELLED, RunState.ABORTED):
            self._status.reason = None
        return MigrateSystemResult(
            system_id=self._status.system_id or "",
            state=state,
            stage=self._status.stage,
            tables=self._status.tables,
            reason=self._status.reason,
        )


def root_message(error: BaseException) -> str:
    """The innermost failure's message: what went wrong, not the layers it went through
    (a child workflow's activity's ``LegacyReadError`` names the file, record and offset)."""
    message = str(error)
    while isinstance(error, FailureError) and error.cause is not None:
        error = error.cause
        message = getattr(error, "message", None) or str(error) or message
    return message

"""``CutoverWorkflow``: move a migrated system's traffic to the modern service in gated
stages, make modern the system of record, then freeze, archive and retire the legacy
system.

Started by ``MigrateSystemWorkflow`` once catch-up has passed (or by hand), with the id
``cutover/<system>``. The stages, in order:

    shadow      all traffic on legacy; reads also go to modern and the answers are compared
    N %         for each share of the plan (5, 25, 50, 100): soak, then judge the gates —
                modern's error rate and p95, the shadow mismatch rate, a minimum number of
                requests, and a fresh catch-up and reconciliation of the data
    complete    a final catch-up and reconciliation, then modern becomes the system of
                record (writes go there)
    final soak  with the plan's ``final_soak_minutes``: modern's writes are carried back to
                legacy (the way back, docs/cutover.md) until it ends or the engineer
                advances; a rollback makes legacy the system of record again, losing
                nothing, and the cutover waits at the last stage for the engineer
    decommission  freeze legacy, archive it, wait for the retirement checklist, retire

A failed gate rolls back to the previous stage or holds where it is (``on_gate_failure``)
and waits for the engineer. Where the plan asks for approval, each stage waits for an
engineer's ``approve``. Engineers act by the ``act`` update; the workflow checks the role
in the engine database, so someone who is not an engineer is refused whatever client they
use. Every step is written to the engine database (``cutover_events``) for the web app.

A cutover runs for weeks, catching up every table every ``catch_up_every_s`` of a soak, so
its history is kept small: it continues as new as each stage begins (an approval given in
one run starts its stage in the next) and, during a soak, when a run passes
``HISTORY_LIMIT`` events. ``CutoverRunInput`` carries the plan, the status, the stage, the
approvals and any accepted action; an ``act`` update under way finishes first.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import names
    from domain.cutover import (
        ApplySettingInput,
        ArchiveResult,
        CheckActorInput,
        ChecklistStatus,
        CutoverEventInput,
        CutoverEventKind,
        CutoverInput,
        CutoverPhase,
        CutoverPlanView,
        CutoverStatus,
        DecommissionInput,
        EngineerAction,
        EngineerActionKind,
        FreezeResult,
        GateFigures,
        GateInput,
        HoldWritesInput,
        HoldWritesResult,
        ReleaseWritesInput,
        ReleaseWritesResult,
        ReverseCatchUpResult,
        RouterSetting,
        Side,
        WayBackInput,
        WayBackStatus,
    )
    from domain.delivery import NotificationKind, NotifyInput
    from domain.migration import CatchUpInput, CatchUpResult, StreamLag

from workflows.calls import (
    ARCHIVE,
    BRIEF,
    COPY,
    LEGACY_CHANGE,
    QUICK,
    ROUTER,
    ReconcileRounds,
    call,
)
from workflows.notify import notify

SHADOW = -1
"""The stage index of the shadow phase (stages proper count from 0)."""
RESYNC_ROUNDS = 3
"""Differences a stage's reconciliation finds are writes legacy took during the stage:
re-sync them this many times before calling the reconciliation gate failed."""
CHECKLIST_RECHECK = timedelta(hours=6)
"""The checklist is re-read this often even without a ``checklist_changed`` signal."""
CHECKLIST_STALE_AFTER = timedelta(days=7)
"""A checklist with open items and no change this long is stale: the team is told (then
again after as long again)."""
NOTIFY_GATE_FAILED = "notify-gate-failed"
NOTIFY_APPROVAL_WAITING = "notify-approval-waiting"
NOTIFY_CHECKLIST_STALE = "notify-checklist-stale"
"""Patches behind the notifications: runs that passed these points before replay without."""
HISTORY_LIMIT = 1_000
"""Events in one run past which a soak continues as new (at its next catch-up). A soak's
catch-up adds about six events per table, so a run stays well under Temporal's limits
and quick to replay whatever the soak's length, the catch-up interval or the tables."""
CONTINUE_AS_NEW = "cutover-continue-as-new"
"""The patch behind continuing as new: runs begun before it never do (they replay as they
ran); runs begun after it continue as new at each stage and during long soaks."""
WAY_BACK = "cutover-way-back"
"""The patch behind the way back after the switch (reverse replication during the plan's
final soak, and rollback from it): runs begun before it go on to decommission at once."""


class CutoverRunInput(CutoverInput):
    """``CutoverInput``, with where the cutover had got to when a run continued as new.

    A cutover's first run has none of it. Every field has a default, so an input written
    before these fields existed still loads.
    """

    plan: CutoverPlanView | None = None
    """The plan's cutover as the first run read it: a cutover does not change course
    because the plan file was edited under it."""
    status: CutoverStatus | None = None
    """The status so far: phase, stage, the router setting (its version), last figures,
    when the stage began (its gates count requests from then)."""
    stage_index: int | None = None
    """The stage to begin, already approved where the plan asks for approval."""
    approved: int = -2
    """The highest stage index an engineer has approved."""
    soak_ends_at: datetime | None = None
    """Set: the run continued in the middle of the soak of ``status.stage_index``, which
    it carries on until then (its traffic is already on that stage)."""
    action: EngineerAction | None = None
    """An engineer's action accepted but not yet carried out."""
    final_soak_ends_at: datetime | None = None
    """Set: the run continued in the middle of the final soak after the switch, which it
    carries on until then (modern is the system of record, the way back open)."""


async def read_cutover_plan(plan_path: str) -> CutoverPlanView | None:
    """The plan's cutover, as the workflows need it (None: the plan has none)."""
    plan: CutoverPlanView | None = await call(
        names.READ_CUTOVER_PLAN,
        plan_path,
        QUICK,
        result_type=CutoverPlanView | None,  # type: ignore[arg-type]
    )
    return plan


class _Interrupt(Exception):
    """An engineer's action cut a soak or a wait short."""


@workflow.defn
class CutoverWorkflow:
    """One system's cutover, from shadow to retirement."""

    def __init__(self) -> None:
        self._status = CutoverStatus(system_id="")
        self._plan: CutoverPlanView | None = None
        self._request: CutoverRunInput | None = None
        self._action: EngineerAction | None = None
        self._checklist_changed = False
        self._caught_up_at: datetime | None = None
        self._index = SHADOW  # the stage the stage loop is at
        self._approved = -2  # the highest stage index an engineer has approved
        self._bounded = False  # continues as new (see CONTINUE_AS_NEW)
        self._entered = False  # this run has put traffic on a stage
        self._way_back = False  # may keep a way back after the switch (see WAY_BACK)

    # --- the run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: CutoverRunInput) -> CutoverStatus:
        self._bounded = workflow.patched(CONTINUE_AS_NEW)
        self._way_back = workflow.patched(WAY_BACK)
        self._request = request
        if request.status is not None:
            self._status = request.status.model_copy(deep=True)
        self._status.system_id = request.system_id
        plan = request.plan or await read_cutover_plan(request.plan_path)
        if plan is None:
            raise ApplicationError(
                f"the plan for {request.system_id} has no cutover section", type="PlanError"
            )
        self._plan = plan
        self._status.stages = list(plan.stages)
        self._caught_up_at = request.caught_up_at or workflow.now()
        self._action = request.action
        self._approved = request.approved
        if request.soak_ends_at is not None:
            self._index = self._status.stage_index
            self._entered = True  # traffic is on that stage: the next one starts afresh
        elif request.stage_index is not None:
            self._index = request.stage_index
        else:
            self._index = SHADOW if plan.shadow else 0
        soak_ends_at, final_ends = request.soak_ends_at, request.final_soak_ends_at
        while True:
            if final_ends is None:
                await self._stages(plan, soak_ends_at=soak_ends_at)
                soak_ends_at = None
                await self._complete()
                if not self._way_back_open():
                    break
                final_ends = workflow.now() + timedelta(minutes=plan.final_soak_minutes)
            if not await self._final_soak(final_ends):
                break
            final_ends = None
            # Rolled back: legacy is the system of record at the last stage again.
            last, lowest = len(plan.stages) - 1, SHADOW if plan.shadow else 0
            self._index = await self._hold(last, lowest, why="rolled back after the switch")
        if request.decommission and plan.decommission:
            await self._decommission(plan)
        return self._status

    async def _stages(self, plan: CutoverPlanView, *, soak_ends_at: datetime | None) -> None:
        """Each stage in turn: approval where asked, traffic on, soak, gates; a failed gate
        rolls back or holds. ``soak_ends_at`` resumes the current stage's soak."""
        lowest = SHADOW if plan.shadow else 0
        ends = soak_ends_at
        while True:
            index = self._index
            if ends is None:
                if index >= 0 and plan.approval == "required" and self._approved < index:
                    action = await self._await_approval(index)
                    if action.kind is EngineerActionKind.ROLLBACK:
                        index = max(self._status.stage_index - 1, lowest)
                        await self._enter(index, kind=CutoverEventKind.ROLLED_BACK, actor=action)
                        why = "rolled back by the engineer"
                        self._index = await self._hold(index, lowest, why=why)
                        continue
                    self._approved = index
                await self._stage_boundary()
                await self._enter(index)
                ends = workflow.now() + timedelta(minutes=plan.soak_minutes)
            try:
                await self._soak(ends)
            except _Interrupt:
                action = self._take_action()
                if action.kind is EngineerActionKind.ROLLBACK:
                    index = max(index - 1, lowest)
                    await self._enter(index, kind=CutoverEventKind.ROLLED_BACK, actor=action)
                    self._index = await self._hold(index, lowest, why="rolled back by the engineer")
                    continue
                if action.kind is EngineerActionKind.FREEZE:
                    await self._event(CutoverEventKind.FROZEN, actor=action)
                    self._index = await self._hold(index, lowest, why="held by the engineer")
                    continue  # advance resumes the stage with a fresh soak
                # advance: judge the stage now
            finally:
                ends = None
            figures = await self._judge(index)
            self._status.last_figures = figures
            if figures.passed:
                await self._event(CutoverEventKind.GATE_PASSED, figures=figures)
                if index == len(plan.stages) - 1:
                    return
                self._index = index + 1
                continue
            await self._event(CutoverEventKind.GATE_FAILED, figures=figures,
                              note="; ".join(figures.failures))  # fmt: skip
            failed = index
            if workflow.patched(NOTIFY_GATE_FAILED):
                await self._notify(NotificationKind.GATE_FAILED, plan.system_id,
                                   detail=f"cutover gate at {self._label(failed)}",
                                   count=len(figures.failures))  # fmt: skip
            if plan.on_gate_failure == "rollback" and not figures.too_few_requests:
                index = max(index - 1, lowest)
                await self._enter(index, kind=CutoverEventKind.ROLLED_BACK,
                                  note=f"gate failed at {self._label(failed)}")  # fmt: skip
            else:
                await self._event(CutoverEventKind.FROZEN, note=f"held at {self._label(failed)}")
            why = f"gate failed at {self._label(failed)}"
            self._index = await self._hold(index, lowest, why=why, retry=failed)

    # --- bounded history ------------------------------------------------------------------

    async def _stage_boundary(self) -> None:
        """Continue as new before a stage begins, once this run has run one: each stage
        starts a fresh history, its approval carried over."""
        if self._bounded and self._entered:
            await self._continue_as_new()

    def _history_full(self) -> bool:
        if not self._bounded:
            return False
        info = workflow.info()
        return (
            info.get_current_history_length() >= HISTORY_LIMIT
            or info.is_continue_as_new_suggested()
        )

    async def _continue_as_new(
        self, *, soak_ends_at: datetime | None = None, final_soak_ends_at: datetime | None = None
    ) -> NoReturn:
        """Carry on in a fresh run, at ``self._index`` (or in its soak, until
        ``soak_ends_at``, or in the final soak after the switch, until
        ``final_soak_ends_at``), with the status, approvals and any accepted action.

        An ``act`` update still checking its engineer's role finishes first, so its
        answer reaches the engineer and its action is carried over.
        """
        assert self._request is not None
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            self._request.model_copy(
                update={
                    "plan": self._plan,
                    "status": self._status.model_copy(deep=True),
                    "caught_up_at": self._caught_up_at,
                    "stage_index": self._index,
                    "approved": self._approved,
                    "soak_ends_at": soak_ends_at,
                    "final_soak_ends_at": final_soak_ends_at,
                    "action": self._action,
                }
            )
        )

    async def _hold(self, index: int, lowest: int, *, why: str, retry: int | None = None) -> int:
        """Wait at a stage for the engineer; the stage to go on with.

        ``advance`` retries ``retry`` (the stage whose gate failed) or this stage;
        ``rollback`` goes one stage further back and keeps waiting.
        """
        self._status.held = True
        self._status.phase = CutoverPhase.AWAITING_ENGINEER
        while True:
            self._status.waiting_for = f"the engineer: {why} (advance to retry, or roll back)"
            await workflow.wait_condition(lambda: self._action is not None)
            action = self._take_action()
            if action.kind is EngineerActionKind.ROLLBACK and index > lowest:
                index -= 1
                await self._enter(index, kind=CutoverEventKind.ROLLED_BACK, actor=action)
                self._status.phase = CutoverPhase.AWAITING_ENGINEER
                self._status.held = True
                retry = None
                continue
            if action.kind is EngineerActionKind.ADVANCE:
                self._status.phase = CutoverPhase.STAGE  # answered: moving on
                await self._event(CutoverEventKind.ADVANCED, actor=action)
                self._status.held = False
                self._status.waiting_for = None
                return retry if retry is not None else index

    async def _await_approval(self, index: int) -> EngineerAction:
        """Wait for an engineer to approve a stage, or to roll back instead.

        Other actions (an ``advance`` sent as the previous stage ended) are stale: dropped.
        """
        self._status.phase = CutoverPhase.AWAITING_APPROVAL
        self._status.waiting_for = f"an engineer's approval to move to {self._label(index)}"
        if self._plan is not None and workflow.patched(NOTIFY_APPROVAL_WAITING):
            await self._notify(NotificationKind.APPROVAL_WAITING, self._plan.system_id,
                               detail=f"stage {self._label(index)}")  # fmt: skip
        while True:
            await workflow.wait_condition(lambda: self._action is not None)
            action = self._take_action()
            if action.kind in (EngineerActionKind.APPROVE, EngineerActionKind.ROLLBACK):
                break
        # Answered: the status must not invite a second answer while the stage starts.
        self._status.phase = CutoverPhase.STAGE
        self._status.waiting_for = None
        if action.kind is EngineerActionKind.APPROVE:
            await self._event(CutoverEventKind.APPROVED, actor=action,
                              modern_percent=self._percent(index))  # fmt: skip
        return action

    async def _soak(self, ends: datetime, *, final: bool = False) -> None:
        """Let a stage run until its soak ends, catching up legacy's changes as it goes; an
        engineer's action ends it early. A long soak continues as new as it goes.

        ``final``: the final soak after the switch, which carries modern's writes back to
        legacy instead."""
        assert self._plan is not None
        every = timedelta(seconds=self._plan.catch_up_every_s)
        self._status.soak_ends_at = ends
        self._status.waiting_for = (
            "the final soak: legacy is kept current from modern until it ends (advance ends "
            "it now and goes on to the freeze; rollback makes legacy the system of record)"
            if final
            else f"the soak of {self._label(self._status.stage_index)}"
        )
        try:
            while True:
                left = ends - workflow.now()
                if left <= timedelta(0):
                    return
                if self._action is None and self._history_full():
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    if self._action is None:
                        await self._continue_as_new(
                            **({"final_soak_ends_at": ends} if final else {"soak_ends_at": ends})
                        )
                try:
                    await workflow.wait_condition(
                        lambda: self._action is not None, timeout=min(left, every)
                    )
                except TimeoutError:
                    if ends - workflow.now() > timedelta(0):
                        await (self._reverse_catch_up() if final else self._catch_up())
                    continue
                raise _Interrupt
        finally:
            self._status.soak_ends_at = None
            self._status.waiting_for = None

    async def _judge(self, index: int) -> GateFigures:
        """Catch up and reconcile the data, then judge the router's figures."""
        assert self._request is not None
        reconciled = await self._catch_up_and_reconcile()
        started = self._status.stage_started_at or workflow.now()
        return await call(
            names.EVALUATE_GATES,
            GateInput(
                plan_path=self._request.plan_path,
                system_id=self._request.system_id,
                since=started,
                setting_version=self._status.setting.version,
                shadow_only=index == SHADOW,
                reconciliation_passed=reconciled,
            ),
            ROUTER,
            result_type=GateFigures,
        )

    async def _catch_up_and_reconcile(self, resync_rounds: int = RESYNC_ROUNDS) -> bool:
        """Re-copy what legacy changed since the last catch-up, and reconcile every table
        (re-syncing differences a few times: they are writes legacy took meanwhile)."""
        assert self._request is not None
        assert self._plan is not None
        await self._catch_up()
        passed = True
        for table in self._plan.tables:
            rounds = ReconcileRounds(
                plan_path=self._request.plan_path, table=table, resync_rounds=resync_rounds
            )
            report = await rounds.until_passed()
            passed = passed and report.passed
        return passed

    async def _catch_up(self) -> None:
        """Re-copy every table's rows legacy changed since the last catch-up."""
        assert self._request is not None
        assert self._plan is not None
        since = self._caught_up_at or workflow.now()
        self._caught_up_at = workflow.now()
        for table in self._plan.tables:
            caught_up = await call(
                names.CATCH_UP_TABLE,
                CatchUpInput(plan_path=self._request.plan_path, table=table, since=since),
                COPY,
                result_type=CatchUpResult,
            )
            lag = StreamLag.of(caught_up, workflow.now())
            self._status.change_stream = lag or self._status.change_stream

    async def _complete(self) -> None:
        """Make modern the system of record, after a final catch-up and reconciliation.

        Nothing is copied from legacy afterwards: modern takes writes from then on, and a
        re-copy could overwrite them. So the switch happens under a write hold where the
        router can hold writes (``_switch_under_hold``); a router that cannot (an AWS
        load balancer) switches as it always did, and a write that reaches legacy between
        the final catch-up and the router taking the new setting is not carried over.
        """
        while not await self._catch_up_and_reconcile():
            await self._event(CutoverEventKind.GATE_FAILED,
                              note="final reconciliation found differences")  # fmt: skip
            index = len(self._status.stages) - 1
            await self._hold(index, index, why="the final reconciliation found differences")
        assert self._plan is not None
        if workflow.patched("cutover-write-hold"):
            await self._switch_under_hold()
        await self._open_way_back()  # (already open, unless the router cannot hold writes)
        await self._apply(
            CutoverPhase.COMPLETE,
            RouterSetting(modern_percent=100, shadow=False, system_of_record=Side.MODERN),
        )
        self._status.phase = CutoverPhase.COMPLETE
        note = "modern is the system of record"
        if self._way_back and self._plan.final_soak_minutes > 0 and self._plan.no_way_back:
            self._status.way_back = WayBackStatus(reason=self._plan.no_way_back)
            note += f"; no way back: {self._plan.no_way_back}"
        await self._event(CutoverEventKind.COMPLETED, modern_percent=100, note=note)

    async def _switch_under_hold(self) -> None:
        """Hold writes at the routers, catch up the last of legacy's writes and reconcile,
        then release the held writes to modern as it becomes the system of record.

        Legacy takes no write while the hold lasts, so what the final catch-up copies is
        all there is: no acknowledged write is left behind. The hold is short (the plan's
        ``hold_max_s``): if it runs out first, the routers send the held writes to legacy
        and the switch is tried again; if the reconciliation under the hold fails, writes
        go back to legacy and the engineer decides.
        """
        assert self._request is not None
        assert self._plan is not None
        where = {"plan_path": self._request.plan_path, "system_id": self._plan.system_id}
        while True:
            hold = await call(
                names.HOLD_WRITES, HoldWritesInput(**where), ROUTER, result_type=HoldWritesResult
            )
            if not hold.held:
                return  # the router cannot hold writes: switch as before
            # Legacy is quiet: differences now are not writes in flight, so one re-sync.
            if await self._catch_up_and_reconcile(resync_rounds=1):
                # Modern's first write must be logged for the way back: capture begins now.
                await self._open_way_back()
                released = await self._release(where, Side.MODERN)
                if released.released:
                    return
                await self._event(CutoverEventKind.GATE_FAILED,
                                  note="the write hold ran out before the switch")  # fmt: skip
                continue
            await self._release(where, Side.LEGACY)
            why = "reconciliation under the write hold found differences"
            await self._event(CutoverEventKind.GATE_FAILED, note=why)
            index = len(self._status.stages) - 1
            await self._hold(index, index, why="reconciliation under the write hold failed")

    async def _release(
        self, where: dict[str, str], side: Side, *, modern_percent: int | None = None
    ) -> ReleaseWritesResult:
        if modern_percent is None and side is Side.MODERN:
            modern_percent = 100
        request = ReleaseWritesInput(**where, system_of_record=side, modern_percent=modern_percent)
        return await call(names.RELEASE_WRITES, request, ROUTER, result_type=ReleaseWritesResult)

    # --- the way back after the switch ------------------------------------------------------

    def _way_back_open(self) -> bool:
        return self._status.way_back is not None and self._status.way_back.open

    def _way_back_input(self) -> WayBackInput:
        assert self._request is not None
        return WayBackInput(plan_path=self._request.plan_path, system_id=self._request.system_id)

    async def _open_way_back(self) -> None:
        """Begin capturing modern's writes for the way back, where the plan asks for a final
        soak and its mapping can be inverted; once per switch."""
        assert self._plan is not None
        plan = self._plan
        wanted = self._way_back and plan.final_soak_minutes > 0 and plan.no_way_back is None
        if not wanted or self._way_back_open():
            return
        await call(names.INSTALL_REVERSE_CAPTURE, self._way_back_input(), ROUTER)
        self._status.way_back = WayBackStatus(open=True)

    async def _final_soak(self, ends: datetime) -> bool:
        """Keep legacy current from modern's writes until ``ends`` or the engineer's
        ``advance``, then close the way back; True when the engineer rolled back instead."""
        try:
            await self._soak(ends, final=True)
            interrupted = self._action is not None  # accepted as the soak ran out
        except _Interrupt:
            interrupted = True
        if interrupted:
            action = self._take_action()
            if action.kind is EngineerActionKind.ROLLBACK:
                await self._switch_back(action)
                return True
            await self._event(
                CutoverEventKind.ADVANCED, actor=action, note="the final soak ended by the engineer"
            )
        await self._close_way_back()
        return False

    async def _switch_back(self, action: EngineerAction) -> None:
        """Make legacy the system of record again, losing none of modern's writes: hold
        writes, carry the last of modern's to legacy, release the held ones to legacy at
        the last stage's share; then close the way back.

        A router that cannot hold writes switches without a hold: what modern took until
        it did is carried over when the way back closes, after the switch."""
        assert self._plan is not None
        where = {"plan_path": self._way_back_input().plan_path, "system_id": self._plan.system_id}
        last = len(self._status.stages) - 1
        while True:
            hold = await call(
                names.HOLD_WRITES, HoldWritesInput(**where), ROUTER, result_type=HoldWritesResult
            )
            await self._reverse_catch_up()
            if not hold.held:
                break
            released = await self._release(where, Side.LEGACY, modern_percent=self._percent(last))
            if released.released:
                break
            await self._event(
                CutoverEventKind.GATE_FAILED, note="the write hold ran out before the switch back"
            )
        await self._enter(
            last,
            kind=CutoverEventKind.ROLLED_BACK,
            actor=action,
            note="legacy is the system of record again",
        )
        await self._close_way_back()

    async def _reverse_catch_up(self) -> None:
        """Carry modern's writes so far to legacy; the way back's lag goes in the status."""
        done = await call(
            names.APPLY_REVERSE_CHANGES,
            self._way_back_input(),
            COPY,
            result_type=ReverseCatchUpResult,
        )
        way_back = self._status.way_back
        assert way_back is not None
        way_back.rows_applied += done.log_rows
        way_back.rows_waiting = done.rows_waiting
        way_back.oldest_waiting_s = done.oldest_waiting_s
        way_back.behind_s = done.behind_s
        way_back.caught_up_at = workflow.now()

    async def _close_way_back(self) -> None:
        """Carry the last of modern's writes to legacy and stop capturing them."""
        done = await call(
            names.CLOSE_WAY_BACK, self._way_back_input(), COPY, result_type=ReverseCatchUpResult
        )
        way_back = self._status.way_back
        assert way_back is not None
        way_back.open = False
        way_back.rows_applied += done.log_rows
        way_back.rows_waiting = 0
        way_back.oldest_waiting_s = 0.0
        way_back.caught_up_at = workflow.now()

    async def _decommission(self, plan: CutoverPlanView) -> None:
        """Freeze legacy, archive it, wait for the checklist, retire it."""
        assert self._request is not None
        job = DecommissionInput(plan_path=self._request.plan_path, system_id=plan.system_id)
        self._status.decommission_step = "freezing"
        await call(names.FREEZE_LEGACY, job, LEGACY_CHANGE, result_type=FreezeResult)
        self._status.decommission_step = "legacy_frozen"
        if plan.archive:
            self._status.decommission_step = "archiving"
            await call(names.ARCHIVE_LEGACY, job, ARCHIVE, result_type=ArchiveResult)
            self._status.decommission_step = "archived"
        status = await self._checklist(names.OPEN_CHECKLIST, job)
        self._status.decommission_step = "checklist"
        quiet_since = workflow.now()
        while not status.all_closed:
            left = sum(1 for item in status.items if not item.closed_by)
            self._status.waiting_for = f"the retirement checklist ({left} items open)"
            self._checklist_changed = False
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._checklist_changed, timeout=CHECKLIST_RECHECK
                )
            if self._checklist_changed:
                quiet_since = workflow.now()
            elif workflow.now() - quiet_since >= CHECKLIST_STALE_AFTER and workflow.patched(
                NOTIFY_CHECKLIST_STALE
            ):
                await self._notify(NotificationKind.CHECKLIST_STALE, plan.system_id,
                                   detail="retirement checklist", count=left)  # fmt: skip
                quiet_since = workflow.now()
            status = await self._checklist(names.CHECKLIST_STATUS, job)
        self._status.waiting_for = None
        await call(names.RETIRE_SYSTEM, job, LEGACY_CHANGE)
        self._status.decommission_step = "retired"

    async def _notify(
        self, kind: NotificationKind, system_id: str, *, detail: str, count: int | None = None
    ) -> None:
        """Tell the team by GOV.UK Notify (ids and counts only; never fails the cutover)."""
        stamp = workflow.now().strftime("%Y%m%dT%H%M%S")
        await notify(NotifyInput(
            kind=kind, subject=system_id, detail=detail, count=count,
            path=f"/dashboard/systems/{system_id}", reference=f"{kind.value}-{system_id}-{stamp}",
        ))  # fmt: skip

    async def _checklist(self, activity: str, job: DecommissionInput) -> ChecklistStatus:
        return await call(activity, job, QUICK, result_type=ChecklistStatus)

    # --- moving traffic and keeping the history ---------------------------------------------

    def _percent(self, index: int) -> int:
        return 0 if index == SHADOW else self._status.stages[index]

    def _label(self, index: int) -> str:
        return "shadow" if index == SHADOW else f"{self._percent(index)}%"

    async def _enter(
        self,
        index: int,
        *,
        kind: CutoverEventKind | None = None,
        actor: EngineerAction | None = None,
        note: str | None = None,
    ) -> None:
        """Put traffic on a stage's setting and record it."""
        assert self._plan is not None
        phase = CutoverPhase.SHADOW if index == SHADOW else CutoverPhase.STAGE
        setting = RouterSetting(
            modern_percent=self._percent(index),
            shadow=self._plan.shadow,
            system_of_record=Side.LEGACY,
        )
        await self._apply(phase, setting)
        self._entered = True
        self._status.stage_index = index
        self._status.held = False
        if kind is None:
            kind = (
                CutoverEventKind.SHADOW_STARTED
                if index == SHADOW
                else CutoverEventKind.STAGE_STARTED
            )
        await self._event(kind, actor=actor, note=note, modern_percent=setting.modern_percent)

    async def _apply(self, phase: CutoverPhase, setting: RouterSetting) -> None:
        assert self._request is not None
        applied = await call(
            names.APPLY_ROUTER_SETTING,
            ApplySettingInput(
                plan_path=self._request.plan_path,
                system_id=self._request.system_id,
                phase=phase,
                setting=setting,
            ),
            ROUTER,
            result_type=RouterSetting,
        )
        self._status.setting = applied
        self._status.phase = phase
        self._status.stage_started_at = workflow.now()

    async def _event(
        self,
        kind: CutoverEventKind,
        *,
        actor: EngineerAction | None = None,
        figures: GateFigures | None = None,
        note: str | None = None,
        modern_percent: int | None = None,
    ) -> None:
        assert self._request is not None
        if actor is not None and actor.reason:
            note = f"{note}; {actor.reason}" if note else actor.reason
        await call(
            names.RECORD_CUTOVER_EVENT,
            CutoverEventInput(
                plan_path=self._request.plan_path,
                system_id=self._request.system_id,
                kind=kind,
                actor=actor.actor if actor else "cutover-workflow",
                modern_percent=(
                    modern_percent
                    if modern_percent is not None
                    else self._status.setting.modern_percent
                ),
                figures=figures,
                note=note,
            ),
            QUICK,
        )

    def _take_action(self) -> EngineerAction:
        action = self._action
        assert action is not None
        self._action = None
        return action

    # --- what people see and do ---------------------------------------------------------

    @workflow.query
    def status(self) -> CutoverStatus:
        """The phase, the live setting, what the workflow waits for, the last figures."""
        return self._status

    @workflow.update
    async def act(self, action: EngineerAction) -> str:
        """An engineer's approve, advance, rollback or freeze.

        The actor's engineer role is checked in the engine database first; anyone else is
        refused with ``NotPermittedError``.
        """
        try:
            await call(names.CHECK_ACTOR_ROLE, CheckActorInput(actor=action.actor), BRIEF)
        except ActivityError as e:
            cause = e.cause
            if isinstance(cause, ApplicationError) and cause.type == "NotPermittedError":
                raise ApplicationError(cause.message, type="NotPermittedError") from None
            raise
        # The state may have moved on while the role was checked.
        self._check_fits(action)
        self._action = action
        return f"{action.kind.value} accepted for {self._status.system_id}"

    @act.validator
    def _validate_act(self, action: EngineerAction) -> None:
        self._check_fits(action)

    def _check_fits(self, action: EngineerAction) -> None:
        phase, kind = self._status.phase, action.kind
        if not action.actor.strip():
            raise ApplicationError("an action needs the engineer's name", type="BadInputError")
        if self._action is not None:
            raise ApplicationError(
                f"a {self._action.kind.value} is already being carried out", type="ConflictError"
            )
        # The final soak after the switch: advance ends it, rollback switches back.
        final_soak = (
            phase is CutoverPhase.COMPLETE
            and self._way_back_open()
            and self._status.soak_ends_at is not None
        )
        fits = {
            EngineerActionKind.APPROVE: phase is CutoverPhase.AWAITING_APPROVAL,
            EngineerActionKind.ADVANCE: phase
            in (CutoverPhase.SHADOW, CutoverPhase.STAGE, CutoverPhase.AWAITING_ENGINEER)
            or final_soak,
            EngineerActionKind.ROLLBACK: (
                phase
                in (
                    CutoverPhase.STAGE,
                    CutoverPhase.AWAITING_APPROVAL,
                    CutoverPhase.AWAITING_ENGINEER,
                )
                and self._status.stage_index > (SHADOW if self._plan and self._plan.shadow else 0)
            )
            or final_soak,
            EngineerActionKind.FREEZE: phase in (CutoverPhase.SHADOW, CutoverPhase.STAGE),
        }[kind]
        if not fits:
            where = phase.value.replace("_", " ")
            raise ApplicationError(
                f"cannot {kind.value} {self._status.system_id or 'this system'} now: its cutover "
                f"is {where}" + (f" at {self._label(self._status.stage_index)}"
                                 if self._status.stages else ""),
                type="ConflictError",
            )  # fmt: skip

    @workflow.signal
    def checklist_changed(self) -> None:
        """A retirement checklist item was closed: read the checklist again."""
        self._checklist_changed = True

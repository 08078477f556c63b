"""CutoverWorkflow on the time-skipping test server, with fake activities registered under
the real names: stages in order with soaks of simulated hours, a gate that fails on
injected errors and rolls back, the engineer's advance after the fault is fixed,
approvals refused to non-engineers, a hold, and decommissioning that waits for the
checklist. (The real activities, router and databases are tested in
tests/activities/test_cutover.py and the end-to-end test.)"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities import names
from config.settings import TASK_QUEUE_IO, TASK_QUEUE_WORKFLOWS
from domain.cutover import (
    ApplySettingInput,
    ArchiveResult,
    CheckActorInput,
    ChecklistItemStatus,
    ChecklistStatus,
    CutoverEventInput,
    CutoverEventKind,
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
    RouterSetting,
    Side,
)
from domain.migration import (
    CatchUpInput,
    CatchUpResult,
    ReconcileTableInput,
    ReconcileTableResult,
    ResyncKeysInput,
    ResyncKeysResult,
)
from switchover.worker import ActivitySet
from tests.conftest import ended, on_a_fresh_server, skip_time, timed_out
from tests.fakes.workers import running_workers
from workflows.cutover import CutoverRunInput, CutoverWorkflow

ENGINEERS = {"erin"}
T = TypeVar("T")


@dataclass
class FakeCutover:
    """Records every call; the modern service fails while ``faulty`` is set."""

    stages: list[int] = field(default_factory=lambda: [5, 25, 100])
    approval: str = "auto"
    on_gate_failure: str = "rollback"
    faulty_from: int = 101  # modern fails at this share of traffic or more
    requests: int = 500
    checklist_items: int = 2
    shadow: bool = True
    soak_minutes: float = 30
    catch_up_every_s: float = 600
    tables: list[str] = field(default_factory=lambda: ["people"])
    role_check_s: float = 0.0  # how long the engineer's role check takes (real seconds)
    applied: list[RouterSetting] = field(default_factory=list)
    events: list[tuple[CutoverEventKind, int | None, str]] = field(default_factory=list)
    decommission: list[str] = field(default_factory=list)
    closed: int = 0
    reconciliations: int = 0
    catch_ups: int = 0
    can_hold: bool = True  # False: a router that cannot hold writes (an AWS load balancer)
    hold_expires: int = 0  # how many holds run out before their release
    holds: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @activity.defn(name=names.READ_CUTOVER_PLAN)
    def read_cutover_plan(self, plan_path: str) -> CutoverPlanView:
        return CutoverPlanView(system_id="legacy-test", stages=self.stages, shadow=self.shadow,
                               soak_minutes=self.soak_minutes,
                               catch_up_every_s=self.catch_up_every_s, approval=self.approval,
                               on_gate_failure=self.on_gate_failure, tables=self.tables,
                               decommission=True, archive=True)  # fmt: skip

    @activity.defn(name=names.APPLY_ROUTER_SETTING)
    def apply_router_setting(self, request: ApplySettingInput) -> RouterSetting:
        with self.lock:
            last = self.applied[-1] if self.applied else RouterSetting()
            same = last.model_dump(exclude={"version"}) == request.setting.model_dump(
                exclude={"version"}
            )
            setting = request.setting.model_copy(
                update={"version": last.version if same else last.version + 1}
            )
            if not same:
                self.applied.append(setting)
        return setting

    @activity.defn(name=names.EVALUATE_GATES)
    def evaluate_gates(self, request: GateInput) -> GateFigures:
        share = self.applied[-1].modern_percent
        failing = share >= self.faulty_from
        failures = ["error rate 20.00% > 1.00%"] if failing else []
        if request.reconciliation_passed is False:
            failures.append("reconciliation found differences")
        return GateFigures(requests=self.requests, error_rate=0.2 if failing else 0.0,
                           p95_ms=40.0, mismatch_rate=0.0,
                           reconciliation_passed=request.reconciliation_passed,
                           failures=failures)  # fmt: skip

    @activity.defn(name=names.RECORD_CUTOVER_EVENT)
    def record_cutover_event(self, request: CutoverEventInput) -> None:
        with self.lock:
            self.events.append((request.kind, request.modern_percent, request.actor))

    @activity.defn(name=names.CHECK_ACTOR_ROLE)
    def check_actor_role(self, request: CheckActorInput) -> None:
        time.sleep(self.role_check_s)
        if request.actor not in ENGINEERS:
            raise ApplicationError(f"{request.actor} is not an engineer",
                                   type="NotPermittedError", non_retryable=True)  # fmt: skip

    @activity.defn(name=names.CATCH_UP_TABLE)
    def catch_up_table(self, request: CatchUpInput) -> CatchUpResult:
        with self.lock:
            self.catch_ups += 1
        return CatchUpResult(rows=0, by_updated_at=True)

    @activity.defn(name=names.RECONCILE_TABLE)
    def reconcile_table(self, request: ReconcileTableInput) -> ReconcileTableResult:
        with self.lock:
            self.reconciliations += 1
        return ReconcileTableResult(table=request.table, passed=True, legacy_rows=10,
                                    target_rows=10)  # fmt: skip

    @activity.defn(name=names.RESYNC_KEYS)
    def resync_keys(self, request: ResyncKeysInput) -> ResyncKeysResult:
        return ResyncKeysResult(upserted=0, deleted=0)

    @activity.defn(name=names.FREEZE_LEGACY)
    def freeze_legacy(self, request: DecommissionInput) -> FreezeResult:
        self.decommission.append("freeze")
        return FreezeResult(statements_run=1, write_refused=True, detail="refused")

    @activity.defn(name=names.ARCHIVE_LEGACY)
    def archive_legacy(self, request: DecommissionInput) -> ArchiveResult:
        self.decommission.append("archive")
        return ArchiveResult(manifest_key="archives/x/manifest.json", manifest_sha256="0" * 64,
                             files=1, rows=10, bytes=100, verified=True)  # fmt: skip

    def _checklist(self) -> ChecklistStatus:
        return ChecklistStatus(items=[
            ChecklistItemStatus(position=i + 1, item=f"item {i + 1}",
                                closed_by="erin" if i < self.closed else None)
            for i in range(self.checklist_items)
        ])  # fmt: skip

    @activity.defn(name=names.OPEN_CHECKLIST)
    def open_checklist(self, request: DecommissionInput) -> ChecklistStatus:
        self.decommission.append("checklist")
        return self._checklist()

    @activity.defn(name=names.CHECKLIST_STATUS)
    def checklist_status(self, request: DecommissionInput) -> ChecklistStatus:
        return self._checklist()

    @activity.defn(name=names.RETIRE_SYSTEM)
    def retire_system(self, request: DecommissionInput) -> None:
        self.decommission.append("retire")

    @activity.defn(name=names.HOLD_WRITES)
    def hold_writes(self, request: HoldWritesInput) -> HoldWritesResult:
        with self.lock:
            self.holds.append("hold")
        return HoldWritesResult(held=self.can_hold, proxies=2 if self.can_hold else 0)

    @activity.defn(name=names.RELEASE_WRITES)
    def release_writes(self, request: ReleaseWritesInput) -> ReleaseWritesResult:
        with self.lock:
            self.holds.append(f"release to {request.system_of_record.value}")
            expired = self.hold_expires > 0
            self.hold_expires -= expired
        return ReleaseWritesResult(released=not expired, proxies=2)

    def all(self) -> list[Callable[..., Any]]:
        return [self.read_cutover_plan, self.apply_router_setting, self.evaluate_gates,
                self.record_cutover_event, self.check_actor_role, self.catch_up_table,
                self.reconcile_table, self.resync_keys, self.freeze_legacy, self.archive_legacy,
                self.open_checklist, self.checklist_status, self.retire_system,
                self.hold_writes, self.release_writes]  # fmt: skip

    def kinds(self) -> list[tuple[str, int | None]]:
        return [(kind.value, percent) for kind, percent, _actor in self.events]


@asynccontextmanager
async def running(client: Client, fake: FakeCutover) -> AsyncIterator[None]:
    activities = ActivitySet(ocr=[], io=fake.all())
    async with running_workers(client, activities, queues=(TASK_QUEUE_WORKFLOWS, TASK_QUEUE_IO)):
        yield


async def start(
    client: Client, *, decommission: bool = True
) -> WorkflowHandle[CutoverWorkflow, CutoverStatus]:
    return await client.start_workflow(
        CutoverWorkflow.run,
        CutoverRunInput(plan_path="plan.yaml", system_id="legacy-test", decommission=decommission),
        id=f"cutover/{uuid.uuid4()}",
        task_queue=TASK_QUEUE_WORKFLOWS,
    )


async def _asked_again(ask: Callable[[], Awaitable[T]], attempts: int = 5) -> T:
    """``ask()``, asked again when the test server lets it time out. A query sent as the
    workflow continues as new (each stage starts a fresh run) waits on the new run's
    first task; on a loaded machine the server gives up on it at times."""
    for _ in range(attempts - 1):
        try:
            return await ask()
        except RPCError as err:
            if not timed_out(err):
                raise
            await asyncio.sleep(1)
    return await ask()


async def status(handle: WorkflowHandle[Any, Any]) -> CutoverStatus:
    """The workflow's status (asked again if the server times out)."""
    return await _asked_again(lambda: handle.query(CutoverWorkflow.status))


async def until(
    env: WorkflowEnvironment,
    handle: WorkflowHandle[Any, Any],
    check: Callable[[CutoverStatus], bool],
) -> CutoverStatus:
    """Poll the status, skipping a simulated minute between looks (soaks are timers)."""
    state = None
    for _ in range(600):
        state = await status(handle)
        if check(state):
            return state
        await skip_time(env, timedelta(minutes=1))
    raise AssertionError(f"never reached: {state}")


def act(kind: EngineerActionKind, actor: str = "erin", reason: str | None = None) -> EngineerAction:
    return EngineerAction(kind=kind, actor=actor, reason=reason)


async def close_checklist(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], fake: FakeCutover
) -> None:
    await until(env, handle, lambda s: s.decommission_step == "checklist")
    for _ in range(fake.checklist_items):
        fake.closed += 1
        await handle.signal(CutoverWorkflow.checklist_changed)


@on_a_fresh_server
async def test_stages_in_order_then_modern_becomes_system_of_record_and_legacy_retires(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fake = FakeCutover()
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client)
        await close_checklist(time_skipping_env, handle, fake)
        result = await ended(time_skipping_env, handle)
    assert [(s.modern_percent, s.shadow, s.system_of_record) for s in fake.applied] == [
        (0, True, Side.LEGACY),
        (5, True, Side.LEGACY),
        (25, True, Side.LEGACY),
        (100, True, Side.LEGACY),
        (100, False, Side.MODERN),
    ]
    assert fake.kinds() == [
        ("shadow_started", 0), ("gate_passed", 0),
        ("stage_started", 5), ("gate_passed", 5),
        ("stage_started", 25), ("gate_passed", 25),
        ("stage_started", 100), ("gate_passed", 100),
        ("completed", 100),
    ]  # fmt: skip
    assert fake.decommission == ["freeze", "archive", "checklist", "retire"]
    assert result.phase is CutoverPhase.COMPLETE
    assert result.decommission_step == "retired"
    assert result.setting.system_of_record is Side.MODERN
    # Every gate reconciled afresh, once more before the switch, and again under the hold.
    assert fake.reconciliations == 4 + 1 + 1
    # Each 30-minute soak caught up every 10 minutes (twice), each judgement once more,
    # and the switch twice: before the write hold and under it.
    assert fake.catch_ups == 4 * 2 + 4 + 1 + 1
    assert fake.holds == ["hold", "release to modern"]


@on_a_fresh_server
async def test_a_failed_gate_rolls_back_and_waits_then_passes_once_the_fault_is_fixed(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fake = FakeCutover(faulty_from=25)
    client = time_skipping_env.client
    env = time_skipping_env
    async with running(client, fake):
        handle = await start(client, decommission=False)
        held = await until(env, handle, lambda s: s.phase is CutoverPhase.AWAITING_ENGINEER)
        assert held.setting.modern_percent == 5  # rolled back from 25
        assert held.last_figures is not None
        assert held.last_figures.failures == ["error rate 20.00% > 1.00%"]
        assert "gate failed at 25%" in (held.waiting_for or "")
        # Someone who is not an engineer cannot move it on.
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.ADVANCE,
                                                                 actor="casey"))  # fmt: skip
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == "NotPermittedError"
        fake.faulty_from = 101  # the fault is fixed
        answer = await handle.execute_update(
            CutoverWorkflow.act, act(EngineerActionKind.ADVANCE, reason="fixed the pool size")
        )
        assert "advance" in answer
        result = await ended(env, handle)
    assert fake.kinds() == [
        ("shadow_started", 0), ("gate_passed", 0),
        ("stage_started", 5), ("gate_passed", 5),
        ("stage_started", 25), ("gate_failed", 25), ("rolled_back", 5),
        ("advanced", 5), ("stage_started", 25), ("gate_passed", 25),
        ("stage_started", 100), ("gate_passed", 100),
        ("completed", 100),
    ]  # fmt: skip
    assert ("advanced", 5, "erin") in [(k.value, p, a) for k, p, a in fake.events]
    assert result.phase is CutoverPhase.COMPLETE
    assert fake.decommission == []


@on_a_fresh_server
async def test_each_stage_waits_for_an_engineers_approval(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fake = FakeCutover(approval="required", stages=[50, 100])
    client = time_skipping_env.client
    env = time_skipping_env
    async with running(client, fake):
        handle = await start(client, decommission=False)
        waiting = await until(env, handle, lambda s: s.phase is CutoverPhase.AWAITING_APPROVAL)
        assert waiting.setting.modern_percent == 0  # still in shadow
        assert "approval to move to 50%" in (waiting.waiting_for or "")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.APPROVE,
                                                                 actor="mallory"))  # fmt: skip
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == "NotPermittedError"
        # Nothing moved for the refused approval.
        assert (await status(handle)).setting.modern_percent == 0
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.APPROVE))
        second = await until(
            env,
            handle,
            lambda s: s.phase is CutoverPhase.AWAITING_APPROVAL and s.setting.modern_percent == 50,
        )
        assert "approval to move to 100%" in (second.waiting_for or "")
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.APPROVE))
        result = await ended(env, handle)
    approvals = [(p, a) for k, p, a in fake.events if k is CutoverEventKind.APPROVED]
    assert approvals == [(50, "erin"), (100, "erin")]
    assert result.phase is CutoverPhase.COMPLETE


@on_a_fresh_server
async def test_an_action_that_does_not_fit_the_phase_is_refused(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fake = FakeCutover(stages=[100], approval="required")
    client = time_skipping_env.client
    env = time_skipping_env
    async with running(client, fake):
        handle = await start(client, decommission=False)
        await until(env, handle, lambda s: s.phase is CutoverPhase.AWAITING_APPROVAL)
        for kind in (EngineerActionKind.FREEZE, EngineerActionKind.ROLLBACK):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(CutoverWorkflow.act, act(kind))
            assert isinstance(refused.value.cause, ApplicationError)
            assert refused.value.cause.type == "ConflictError"
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.APPROVE))
        await ended(env, handle)


@on_a_fresh_server
async def test_freeze_on_gate_failure_holds_the_stage_and_rollback_goes_back(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fake = FakeCutover(on_gate_failure="freeze", faulty_from=25)
    client = time_skipping_env.client
    env = time_skipping_env
    async with running(client, fake):
        handle = await start(client, decommission=False)
        held = await until(env, handle, lambda s: s.phase is CutoverPhase.AWAITING_ENGINEER)
        assert held.setting.modern_percent == 25  # held where it failed
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.ROLLBACK,
                                                             reason="too many errors"))  # fmt: skip
        back = await until(
            env,
            handle,
            lambda s: s.setting.modern_percent == 5 and s.phase is CutoverPhase.AWAITING_ENGINEER,
        )
        assert back.held
        fake.faulty_from = 101
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.ADVANCE))
        result = await ended(env, handle)
    kinds = fake.kinds()
    assert kinds[kinds.index(("gate_failed", 25)) :][:4] == [
        ("gate_failed", 25), ("frozen", 25), ("rolled_back", 5), ("advanced", 5),
    ]  # fmt: skip
    assert result.phase is CutoverPhase.COMPLETE


@on_a_fresh_server
async def test_the_engineer_can_end_a_soak_early_or_hold_a_stage(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fake = FakeCutover(stages=[50, 100])
    client = time_skipping_env.client
    env = time_skipping_env
    async with running(client, fake):
        handle = await start(client, decommission=False)
        await until(
            env, handle, lambda s: s.phase is CutoverPhase.STAGE and s.soak_ends_at is not None
        )
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.FREEZE,
                                                             reason="month-end"))  # fmt: skip
        held = await until(env, handle, lambda s: s.phase is CutoverPhase.AWAITING_ENGINEER)
        assert held.setting.modern_percent == 50
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.ADVANCE))
        result = await ended(env, handle)
    assert ("frozen", 50) in fake.kinds()
    assert result.phase is CutoverPhase.COMPLETE


@on_a_fresh_server
async def test_a_write_hold_that_runs_out_before_the_switch_is_taken_again(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fake = FakeCutover(stages=[100], hold_expires=1)
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client, decommission=False)
        result = await ended(time_skipping_env, handle)
    assert fake.holds == ["hold", "release to modern", "hold", "release to modern"]
    assert result.setting.system_of_record is Side.MODERN
    assert [kind for kind, _ in fake.kinds()].count("gate_failed") == 1


@on_a_fresh_server
async def test_a_router_that_cannot_hold_writes_switches_as_before(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fake = FakeCutover(stages=[100], can_hold=False)
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client, decommission=False)
        result = await ended(time_skipping_env, handle)
    assert fake.holds == ["hold"]
    assert result.phase is CutoverPhase.COMPLETE
    assert result.setting.system_of_record is Side.MODERN

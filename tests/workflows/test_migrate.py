"""MigrateSystemWorkflow and CopyTableWorkflow on the time-skipping test server, with fake
activities registered under the real names: copy in ranges across continue-as-new, pause,
resume, cancel, and gates that wait for the engineer."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities import names
from activities.migrate import MigrationActivities, split_key_range
from activities.names import COPY_RANGES
from config.settings import TASK_QUEUE_IO, TASK_QUEUE_WORKFLOWS
from domain.migration import (
    CatchUpInput,
    CatchUpResult,
    CopyBatchInput,
    CopyBatchResult,
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
    ReconcileTableInput,
    ReconcileTableResult,
    RecordDecisionInput,
    RecordStageInput,
    ResyncKeysInput,
    ResyncKeysResult,
    RunControl,
    RunControlAction,
    RunState,
    TableProfile,
    TableState,
)
from switchover.worker import ActivitySet
from tests.fakes.workers import running_workers
from workflows.migrate import CopyTableWorkflow, MigrateSystemWorkflow


@dataclass
class FakeMigration:
    """Tables of integer keys 1..N; records every call; reconciliation fails on demand."""

    rows: dict[str, int] = field(default_factory=lambda: {"A": 95, "B": 40})
    system_id: str = "legacy-test"
    failing: Counter[str] = field(default_factory=Counter)  # table -> reconciliations to fail
    changed_during_copy: Counter[str] = field(default_factory=Counter)
    """table -> reconciliations to fail once catch-up began (rows changed during the copy)"""
    copy_delay_s: float = 0.0
    reconcile_delay_s: float = 0.0
    copied: Counter[tuple[str, int]] = field(default_factory=Counter)
    copy_calls: list[CopyBatchInput] = field(default_factory=list)
    resyncs: list[str] = field(default_factory=list)
    catch_ups: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    prepared: list[str] = field(default_factory=list)
    engineers: set[str] = field(default_factory=lambda: {"engineer", "ada"})
    decisions: list[RecordDecisionInput] = field(default_factory=list)
    """What reached the audit trail, refusals included."""
    parallel: dict[str, int] = field(default_factory=dict)
    """table -> key ranges its copy is split into (the plan's ``parallel``)"""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @activity.defn(name=names.PROFILE_SYSTEM)
    def profile_system(self, request: ProfileInput) -> ProfileResult:
        tables = [TableProfile(table=t, target=t.lower(), key=["ID"], rows=n, lowest=[1],
                               highest=[n]) for t, n in self.rows.items()]  # fmt: skip
        return ProfileResult(system_id=self.system_id, system_name="Test", tables=tables,
                             batch_rows=10)  # fmt: skip

    @activity.defn(name=names.PREPARE_TARGET)
    def prepare_target(self, request: PrepareTargetInput) -> bool:
        self.prepared.append(request.table)
        return True

    @activity.defn(name=COPY_RANGES)
    def copy_ranges(self, request: PrepareTargetInput) -> list[list[KeyValues]]:
        return split_key_range([1], [self.rows[request.table]], self.parallel.get(request.table, 1))

    @activity.defn(name=names.COPY_BATCH)
    def copy_batch(self, request: CopyBatchInput) -> CopyBatchResult:
        time.sleep(self.copy_delay_s)
        after = request.after[0] if request.after else 0
        upto = request.upto[0] if request.upto else self.rows[request.table]
        keys = list(range(after + 1, min(after + request.max_rows, upto) + 1))
        with self.lock:
            self.copy_calls.append(request)
            for key in keys:
                self.copied[(request.table, key)] += 1
        return CopyBatchResult(rows=len(keys), last_key=[keys[-1]] if keys else None,
                               done=not keys or keys[-1] >= upto)  # fmt: skip

    @activity.defn(name=names.RECONCILE_TABLE)
    def reconcile_table(self, request: ReconcileTableInput) -> ReconcileTableResult:
        time.sleep(self.reconcile_delay_s)
        with self.lock:
            failed = self.failing[request.table] > 0
            if failed:
                self.failing[request.table] -= 1
        n = self.rows[request.table]
        return ReconcileTableResult(table=request.table, passed=not failed, legacy_rows=n,
                                    target_rows=n, changed=2 if failed else 0)  # fmt: skip

    @activity.defn(name=names.RESYNC_KEYS)
    def resync_keys(self, request: ResyncKeysInput) -> ResyncKeysResult:
        assert request.keys is None  # no key lists through Temporal
        self.resyncs.append(request.table)
        return ResyncKeysResult(upserted=2, deleted=0)

    @activity.defn(name=names.CATCH_UP_TABLE)
    def catch_up_table(self, request: CatchUpInput) -> CatchUpResult:
        self.catch_ups.append(request.table)
        self.failing[request.table] += self.changed_during_copy[request.table]
        return CatchUpResult(rows=0, by_updated_at=False)

    @activity.defn(name=names.RECORD_MIGRATION_STAGE)
    def record_migration_stage(self, request: RecordStageInput) -> None:
        self.notes.append(f"{request.stage}: {request.note}")

    @activity.defn(name=names.READ_CUTOVER_PLAN)
    def read_cutover_plan(self, plan_path: str) -> None:
        return None  # a plan without a cutover section: the run ends ready for one

    @activity.defn(name=names.AUTHORISE_DECISION)
    def authorise_decision(self, request: RecordDecisionInput) -> None:
        if request.actor not in self.engineers:
            self.decisions.append(request.model_copy(update={"accepted": False}))
            raise ApplicationError(f"{request.actor} is not an engineer",
                                   type="NotPermittedError", non_retryable=True)  # fmt: skip

    @activity.defn(name=names.RECORD_DECISION)
    def record_decision(self, request: RecordDecisionInput) -> None:
        self.decisions.append(request)

    def all(self) -> list[Callable[..., Any]]:
        return [self.profile_system, self.prepare_target, self.copy_ranges, self.copy_batch,
                self.reconcile_table,
                self.resync_keys, self.catch_up_table, self.record_migration_stage,
                self.read_cutover_plan, self.authorise_decision,
                self.record_decision]  # fmt: skip


@asynccontextmanager
async def running(client: Client, fake: FakeMigration) -> AsyncIterator[None]:
    activities = ActivitySet(ocr=[], io=fake.all())
    async with running_workers(client, activities, queues=(TASK_QUEUE_WORKFLOWS, TASK_QUEUE_IO)):
        yield


async def start(
    client: Client, **options: Any
) -> WorkflowHandle[MigrateSystemWorkflow, MigrateSystemResult]:
    request = MigrateSystemInput(plan_path="plan.yaml", batch_max_rows=10, batches_per_run=3,
                                 **options)  # fmt: skip
    return await client.start_workflow(
        MigrateSystemWorkflow.run, request, id=f"migrate-{uuid.uuid4()}",
        task_queue=TASK_QUEUE_WORKFLOWS,
    )  # fmt: skip


async def status(handle: WorkflowHandle[Any, Any]) -> MigrationStatus:
    return await handle.query(MigrateSystemWorkflow.status)


async def until(
    handle: WorkflowHandle[Any, Any], check: Callable[[MigrationStatus], bool]
) -> MigrationStatus:
    for _ in range(400):
        state = await status(handle)
        if check(state):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached: {state}")


def waiting(table: str) -> Callable[[MigrationStatus], bool]:
    return lambda s: table in s.tables and s.tables[table].state is TableState.AWAITING_DECISION


async def test_copies_every_row_once_across_continue_as_new(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fake = FakeMigration()
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client)
        result = await handle.result()
        child = client.get_workflow_handle(f"{handle.id}/copy/A")
        progress = await child.query(CopyTableWorkflow.progress)
    assert result.state is RunState.READY_FOR_CUTOVER
    assert result.stage is MigrationStage.CATCH_UP
    assert {t: s.rows_copied for t, s in result.tables.items()} == {"A": 95, "B": 40}
    assert all(s.state is TableState.PASSED for s in result.tables.values())
    expected = {(t, k) for t, n in fake.rows.items() for k in range(1, n + 1)}
    assert set(fake.copied) == expected
    assert set(fake.copied.values()) == {1}  # no range copied twice, none skipped
    assert sorted(fake.prepared) == ["A", "B"]  # once per table, not once per run
    assert sorted(fake.catch_ups) == ["A", "B"]
    # 10 batches of A with 3 per run: the copy continued as new, with a small history.
    history = await child.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id
    assert len(history.events) < 40
    assert progress.rows_copied == 95
    assert progress.runs == 4
    assert progress.state is TableState.COPIED
    assert fake.notes[0] == "migrating: profiled"
    assert fake.notes[-1] == "reconciling: caught up"


async def test_a_table_copies_in_parallel_key_ranges_each_key_once(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fake = FakeMigration(rows={"A": 95, "B": 40}, parallel={"A": 3})
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client, until=MigrationStage.COPY)
        result = await handle.result()
        parts = [client.get_workflow_handle(f"{handle.id}/copy/A/part-{i}") for i in (1, 2, 3)]
        progress = [await part.query(CopyTableWorkflow.progress) for part in parts]
    assert result.state is RunState.STOPPED
    assert {t: s.rows_copied for t, s in result.tables.items()} == {"A": 95, "B": 40}
    assert result.tables["A"].state is TableState.COPIED
    expected = {(t, k) for t, n in fake.rows.items() for k in range(1, n + 1)}
    assert set(fake.copied) == expected
    assert set(fake.copied.values()) == {1}  # no key twice, none skipped, across the parts
    assert [p.rows_copied for p in progress] == [32, 32, 31]
    assert [p.last_key for p in progress] == [[32], [64], [95]]
    assert sorted(fake.prepared) == ["A", "B"]  # the target made ready once, before the parts
    # Each part read only its own range.
    ranges = {(c.after[0] if c.after else 0, c.upto[0] if c.upto else None)
              for c in fake.copy_calls if c.table == "A"}  # fmt: skip
    assert all(upto is not None and upto <= 95 for _, upto in ranges)


def test_split_key_range() -> None:
    assert split_key_range([1], [10], 3) == [[[1], [4]], [[5], [8]], [[9], [10]]]
    assert split_key_range([5], [6], 4) == [[[5], [5]], [[6], [6]]]
    assert split_key_range([1], [10], 1) == []
    assert split_key_range(["a"], ["z"], 2) == []  # a text key is copied as one range
    assert split_key_range([1, 1], [2, 2], 2) == []
    assert split_key_range([3], [3], 2) == []
    assert split_key_range(None, None, 2) == []


def test_the_workflow_names_the_activity_that_splits() -> None:
    from temporalio.activity import _Definition

    # The workflow calls names.COPY_RANGES; the activity must be registered under it.
    definition = _Definition.from_callable(MigrationActivities.copy_ranges)
    assert definition is not None
    assert definition.name == COPY_RANGES


async def test_until_copy_stops_after_the_copy(time_skipping_env: WorkflowEnvironment) -> None:
    fake = FakeMigration()
    client = time_skipping_env.client
    async with running(client, fake):
        result = await (await start(client, until=MigrationStage.COPY)).result()
    assert result.state is RunState.STOPPED
    assert result.stage is MigrationStage.COPY
    assert not fake.catch_ups


async def test_pause_resume_and_cancel(time_skipping_env: WorkflowEnvironment) -> None:
    fake = FakeMigration(rows={"A": 400, "B": 10}, copy_delay_s=0.05)
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client, max_parallel_tables=1)
        await until(handle, lambda s: s.tables.get("A") is not None
                    and s.tables["A"].state is TableState.COPYING)  # fmt: skip
        child = client.get_workflow_handle(f"{handle.id}/copy/A")
        for _ in range(400):  # pause once the copy has copied something
            with contextlib.suppress(RPCError):
                if (await child.query(CopyTableWorkflow.progress)).rows_copied > 0:
                    break
            await asyncio.sleep(0.05)
        await handle.signal(MigrateSystemWorkflow.pause)
        for _ in range(100):
            progress = await child.query(CopyTableWorkflow.progress)
            if progress.state is TableState.PAUSED:
                break
            await asyncio.sleep(0.05)
        assert progress.state is TableState.PAUSED
        calls = len(fake.copy_calls)
        await asyncio.sleep(0.5)
        assert len(fake.copy_calls) == calls  # nothing copied while paused
        assert (await status(handle)).state is RunState.PAUSED
        assert 0 < progress.rows_copied < 400
        assert progress.rows_per_second > 0

        await handle.signal(MigrateSystemWorkflow.resume)
        for _ in range(100):
            if len(fake.copy_calls) > calls + 1:
                break
            await asyncio.sleep(0.05)
        assert len(fake.copy_calls) > calls + 1

        await handle.signal(MigrateSystemWorkflow.cancel)
        result = await handle.result()
    assert result.state is RunState.CANCELLED
    assert result.tables["A"].state is TableState.CANCELLED
    assert 0 < result.tables["A"].rows_copied < 400
    assert result.tables["B"].rows_copied == 0  # never started: only one table at a time
    assert fake.notes[-1] == "migrating: cancelled during copy"


async def test_gate_waits_then_resync_then_accept(time_skipping_env: WorkflowEnvironment) -> None:
    fake = FakeMigration(failing=Counter({"A": 2, "B": 1}))
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client)
        state = await until(handle, waiting("A"))
        assert state.state is RunState.AWAITING_DECISION
        assert state.stage is MigrationStage.RECONCILE
        assert state.tables["A"].reconciliation is not None
        assert state.tables["A"].reconciliation.changed == 2
        # B is not waiting: a decision for it is refused, as is an accept without a reason.
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                MigrateSystemWorkflow.decide_gate, GateDecision(table="B", action=GateAction.RESYNC)
            )
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                MigrateSystemWorkflow.decide_gate, GateDecision(table="A", action=GateAction.ACCEPT)
            )
        await handle.execute_update(MigrateSystemWorkflow.decide_gate,
                                    GateDecision(table="A", action=GateAction.RESYNC))  # fmt: skip
        await until(handle, lambda s: fake.resyncs == ["A"] and waiting("A")(s))
        await handle.execute_update(
            MigrateSystemWorkflow.decide_gate,
            GateDecision(table="A", action=GateAction.ACCEPT, reason="2 rounding diffs agreed",
                         decided_by="ada"),
        )  # fmt: skip
        await until(handle, waiting("B"))
        await handle.execute_update(MigrateSystemWorkflow.decide_gate,
                                    GateDecision(table="B", action=GateAction.RESYNC))  # fmt: skip
        result = await handle.result()
    assert result.state is RunState.READY_FOR_CUTOVER
    assert result.tables["A"].state is TableState.PASSED  # passed again at catch-up
    assert result.tables["A"].decision is not None
    assert fake.resyncs == ["A", "B"]
    assert "reconciling: gate for A accepted by ada: 2 rounding diffs agreed" in fake.notes
    assert any(n.startswith("reconciling: gate failed for A: 0 missing, 0 extra, 2 changed")
               for n in fake.notes)  # fmt: skip


async def test_abort_at_the_gate(time_skipping_env: WorkflowEnvironment) -> None:
    fake = FakeMigration(failing=Counter({"A": 1}))
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client)
        await until(handle, waiting("A"))
        await handle.execute_update(
            MigrateSystemWorkflow.decide_gate,
            GateDecision(table="A", action=GateAction.ABORT, reason="wrong source"),
        )
        result = await handle.result()
    assert result.state is RunState.ABORTED
    assert result.stage is MigrationStage.RECONCILE
    assert fake.notes[-1] == "reconciling: aborted at the gate for A by engineer: wrong source"


async def test_catch_up_resyncs_changes_by_itself(time_skipping_env: WorkflowEnvironment) -> None:
    # The first reconciliation passes; at catch-up, two reconciliations find changes.
    fake = FakeMigration(rows={"A": 20}, changed_during_copy=Counter({"A": 2}))
    client = time_skipping_env.client
    async with running(client, fake):
        result = await (await start(client)).result()
    assert result.state is RunState.READY_FOR_CUTOVER
    assert fake.resyncs == ["A", "A"]  # by itself: nobody was asked


async def test_gate_wait_survives_days(time_skipping_env: WorkflowEnvironment) -> None:
    fake = FakeMigration(rows={"A": 5}, failing=Counter({"A": 1}))
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client)
        await until(handle, waiting("A"))
        await time_skipping_env.sleep(7 * 24 * 3600)
        assert waiting("A")(await status(handle))
        await handle.execute_update(
            MigrateSystemWorkflow.decide_gate,
            GateDecision(table="A", action=GateAction.ACCEPT, reason="checked by hand"),
        )
        result = await handle.result()
    assert result.state is RunState.READY_FOR_CUTOVER


async def test_cancel_between_steps(time_skipping_env: WorkflowEnvironment) -> None:
    fake = FakeMigration(reconcile_delay_s=0.5)
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client)
        await until(handle, lambda s: s.stage is MigrationStage.RECONCILE)
        await handle.signal(MigrateSystemWorkflow.cancel)
        result = await handle.result()
    assert result.state is RunState.CANCELLED
    assert result.stage is MigrationStage.RECONCILE
    assert not fake.catch_ups  # the run stopped after the step under way


def test_key_ranges_for_integer_keys_only() -> None:
    from domain.migration import CopyTableInput
    from workflows.migrate import _range_end

    dense = CopyTableInput(plan_path="p", table="T", lowest=[1], upto=[95], rows_total=95,
                           batch_max_rows=10)  # fmt: skip
    assert _range_end(dense, None) == [10]
    assert _range_end(dense, [90]) == [95]
    sparse = dense.model_copy(update={"upto": [1_000_000], "rows_total": 1000})
    assert _range_end(sparse, [1]) == [10_001]  # about 10 rows' worth of keys
    assert _range_end(dense.model_copy(update={"lowest": ["A"], "upto": ["Z"]}), None) is None
    assert _range_end(dense.model_copy(update={"lowest": [1, 1], "upto": [9, 9]}), None) is None
    assert _range_end(dense.model_copy(update={"lowest": None}), None) is None


def refused_type(error: WorkflowUpdateFailedError) -> str | None:
    cause = error.cause
    return cause.type if isinstance(cause, ApplicationError) else None


async def test_a_gate_decision_needs_an_engineer_and_is_recorded(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fake = FakeMigration(rows={"A": 30}, failing=Counter({"A": 1}))
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client)
        state = await until(handle, waiting("A"))
        assert state.reason is not None
        assert state.reason.startswith("gate failed for A")
        accept = GateDecision(table="A", action=GateAction.ACCEPT, reason="rounding agreed",
                              decided_by="carol")  # fmt: skip
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(MigrateSystemWorkflow.decide_gate, accept)
        assert refused_type(refused.value) == "NotPermittedError"
        assert waiting("A")(await status(handle))  # nothing was decided
        answer = await handle.execute_update(
            MigrateSystemWorkflow.decide_gate, accept.model_copy(update={"decided_by": "ada"})
        )
        result = await handle.result()
    assert answer == "accept A"
    assert result.state is RunState.READY_FOR_CUTOVER
    assert result.reason is None
    assert [(d.actor, d.action, d.accepted) for d in fake.decisions] == [
        ("carol", "migration.gate_accept", False),
        ("ada", "migration.gate_accept", True),
    ]
    recorded = fake.decisions[1]
    assert recorded.system_id == "legacy-test"
    assert recorded.detail["table"] == "A"
    assert recorded.detail["reason"] == "rounding agreed"
    assert recorded.detail["workflow_id"] == handle.id
    assert recorded.detail["update_id"]


async def test_an_abort_is_the_results_reason(time_skipping_env: WorkflowEnvironment) -> None:
    fake = FakeMigration(rows={"A": 5}, failing=Counter({"A": 1}))
    client = time_skipping_env.client
    async with running(client, fake):
        handle = await start(client)
        await until(handle, waiting("A"))
        await handle.execute_update(
            MigrateSystemWorkflow.decide_gate,
            GateDecision(table="A", action=GateAction.ABORT, reason="wrong source",
                         decided_by="ada"),
        )  # fmt: skip
        result = await handle.result()
    assert result.state is RunState.ABORTED
    assert result.reason == "aborted at the gate for A by ada: wrong source"
    assert [(d.action, d.accepted) for d in fake.decisions] == [("migration.gate_abort", True)]


async def test_pause_resume_and_cancel_by_an_engineer(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fake = FakeMigration(rows={"A": 400}, copy_delay_s=0.05)
    client = time_skipping_env.client

    def order(action: RunControlAction, actor: str = "ada", reason: str | None = None) -> Any:
        return handle.execute_update(
            MigrateSystemWorkflow.control, RunControl(action=action, actor=actor, reason=reason)
        )

    async with running(client, fake):
        handle = await start(client)
        await until(handle, lambda s: "A" in s.tables
                    and s.tables["A"].state is TableState.COPYING)  # fmt: skip
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await order(RunControlAction.PAUSE, actor="carol")
        assert refused_type(refused.value) == "NotPermittedError"
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await order(RunControlAction.RESUME)
        assert refused_type(refused.value) == "ConflictError"  # it is not paused

        await order(RunControlAction.PAUSE, reason="legacy backup tonight")
        state = await status(handle)
        assert state.state is RunState.PAUSED
        assert state.reason == "paused by ada: legacy backup tonight"
        await order(RunControlAction.RESUME)
        assert (await status(handle)).reason is None
        await order(RunControlAction.CANCEL, reason="wrong plan")
        result = await handle.result()
    assert result.state is RunState.CANCELLED
    assert result.reason == "cancelled by ada: wrong plan"
    assert [(d.actor, d.action, d.accepted) for d in fake.decisions] == [
        ("carol", "migration.pause", False),
        ("ada", "migration.pause", True),
        ("ada", "migration.resume", True),
        ("ada", "migration.cancel", True),
    ]

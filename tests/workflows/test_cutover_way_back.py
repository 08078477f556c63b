"""The way back after the switch, on the time-skipping server with the fakes of
``test_cutover`` (fake activities under the real names): the reverse capture begins under
the write hold before modern takes writes; the final soak carries modern's writes to
legacy; a rollback holds writes, drains them to legacy and makes legacy the system of
record again; the cutover goes on, completes again and freezes only once the way back is
closed. A plan that cannot be inverted switches as before and says why, and a long final
soak continues as new."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities import names
from domain.cutover import (
    CutoverPhase,
    CutoverPlanView,
    CutoverStatus,
    DecommissionInput,
    EngineerActionKind,
    FreezeResult,
    HoldWritesInput,
    HoldWritesResult,
    ReleaseWritesInput,
    ReleaseWritesResult,
    ReverseCatchUpResult,
    Side,
    WayBackInput,
)
from tests.conftest import ended, on_a_fresh_server
from tests.workflows.test_cutover import (
    FakeCutover,
    act,
    close_checklist,
    running,
    start,
    until,
)
from tests.workflows.test_cutover_history import run_histories, sizes
from workflows.cutover import CutoverWorkflow


@dataclass
class FakeWayBack(FakeCutover):
    """A cutover whose plan asks for a final soak. Modern takes ``writes_per_catch_up``
    writes between catch-ups while it is the system of record; ``steps`` records the
    hold, the reverse capture and the freeze in the order they happen."""

    final_soak_minutes: float = 120
    no_way_back: str | None = None
    writes_per_catch_up: int = 3
    steps: list[str] = field(default_factory=list)
    waiting: int = 0  # modern's writes not yet carried to legacy
    in_legacy: int = 0  # modern's writes carried to legacy
    capturing: bool = False

    @activity.defn(name=names.READ_CUTOVER_PLAN)
    def read_cutover_plan(self, plan_path: str) -> CutoverPlanView:
        view = super().read_cutover_plan(plan_path)
        return view.model_copy(update={"final_soak_minutes": self.final_soak_minutes,
                                       "no_way_back": self.no_way_back})  # fmt: skip

    @activity.defn(name=names.HOLD_WRITES)
    def hold_writes(self, request: HoldWritesInput) -> HoldWritesResult:
        self.steps.append("hold")
        return super().hold_writes(request)

    @activity.defn(name=names.RELEASE_WRITES)
    def release_writes(self, request: ReleaseWritesInput) -> ReleaseWritesResult:
        self.steps.append(f"release to {request.system_of_record.value} "
                          f"at {request.modern_percent}%")  # fmt: skip
        return super().release_writes(request)

    @activity.defn(name=names.INSTALL_REVERSE_CAPTURE)
    def install_reverse_capture(self, request: WayBackInput) -> None:
        self.steps.append("install")
        self.capturing = True

    @activity.defn(name=names.APPLY_REVERSE_CHANGES)
    def apply_reverse_changes(self, request: WayBackInput) -> ReverseCatchUpResult:
        self.steps.append("apply")
        applied, self.waiting = self.waiting, self.writes_per_catch_up
        self.in_legacy += applied
        return ReverseCatchUpResult(log_rows=applied, upserts=applied, behind_s=12.0,
                                    rows_waiting=self.waiting, oldest_waiting_s=1.5)  # fmt: skip

    @activity.defn(name=names.CLOSE_WAY_BACK)
    def close_way_back(self, request: WayBackInput) -> ReverseCatchUpResult:
        self.steps.append("close")
        applied, self.waiting = self.waiting, 0
        self.in_legacy += applied
        self.capturing = False
        return ReverseCatchUpResult(log_rows=applied, upserts=applied)

    @activity.defn(name=names.FREEZE_LEGACY)
    def freeze_legacy(self, request: DecommissionInput) -> FreezeResult:
        assert not self.capturing, "legacy frozen while modern's writes were still captured"
        self.steps.append("freeze")
        return super().freeze_legacy(request)

    def all(self) -> list[Callable[..., Any]]:
        return [*super().all(), self.install_reverse_capture, self.apply_reverse_changes,
                self.close_way_back]  # fmt: skip


def final_soaking(status: CutoverStatus) -> bool:
    """In the final soak after the switch, with the way back open."""
    return (
        status.phase is CutoverPhase.COMPLETE
        and status.way_back is not None
        and status.way_back.open
        and status.soak_ends_at is not None
    )


def carrying_back(status: CutoverStatus) -> bool:
    """In the final soak, and modern's writes have reached legacy."""
    return (
        final_soaking(status) and status.way_back is not None and status.way_back.rows_applied > 0
    )


@on_a_fresh_server
async def test_rollback_in_the_final_soak_makes_legacy_the_system_of_record_losing_nothing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    fake = FakeWayBack(stages=[50, 100], shadow=False, catch_up_every_s=600)
    async with running(env.client, fake):
        handle = await start(env.client)
        soaking = await until(env, handle, carrying_back)
        # The capture began under the hold, once reconciled, before modern took writes.
        assert fake.steps[:3] == ["hold", "install", "release to modern at 100%"]
        assert soaking.setting.system_of_record is Side.MODERN
        assert soaking.way_back is not None
        assert (soaking.way_back.rows_waiting, soaking.way_back.behind_s) == (3, 12.0)
        # Only rollback and advance fit the final soak.
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.FREEZE))
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == "ConflictError"
        fake.steps.clear()
        rollback = act(EngineerActionKind.ROLLBACK, reason="payments failing")
        await handle.execute_update(CutoverWorkflow.act, rollback)
        back = await until(env, handle, lambda s: s.phase is CutoverPhase.AWAITING_ENGINEER)
        # Writes held, modern's drained to legacy, held writes released to legacy.
        assert fake.steps == ["hold", "apply", "release to legacy at 100%", "close"]
        assert back.way_back is not None
        assert fake.waiting == 0  # every write modern took is in legacy
        assert back.way_back.rows_applied == fake.in_legacy
        assert back.setting.system_of_record is Side.LEGACY
        assert back.setting.modern_percent == 100
        assert not back.way_back.open
        assert "rolled back after the switch" in (back.waiting_for or "")
        assert ("rolled_back", 100) in fake.kinds()
        # The fault fixed, the engineer goes on: the last stage again, the switch again.
        fake.steps.clear()
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.ADVANCE))
        await until(env, handle, final_soaking)
        assert fake.steps[:3] == ["hold", "install", "release to modern at 100%"]
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.ADVANCE))
        await close_checklist(env, handle, fake)
        result = await ended(env, handle)
    assert fake.steps[-2:] == ["close", "freeze"]
    assert fake.decommission == ["freeze", "archive", "checklist", "retire"]
    assert fake.waiting == 0
    assert result.phase is CutoverPhase.COMPLETE
    assert result.setting.system_of_record is Side.MODERN
    assert result.decommission_step == "retired"
    assert [kind for kind, _ in fake.kinds()].count("completed") == 2


@on_a_fresh_server
async def test_the_final_soak_runs_out_then_legacy_is_frozen(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    fake = FakeWayBack(stages=[100], shadow=False, final_soak_minutes=60, catch_up_every_s=600)
    async with running(env.client, fake):
        handle = await start(env.client)
        await close_checklist(env, handle, fake)
        result = await ended(env, handle)
    assert fake.steps == ["hold", "install", "release to modern at 100%",
                          *["apply"] * 5, "close", "freeze"]  # fmt: skip
    assert result.way_back is not None
    assert result.way_back.rows_applied == fake.in_legacy == 5 * 3
    assert not result.way_back.open


@on_a_fresh_server
async def test_a_plan_whose_mapping_cannot_be_inverted_switches_as_before_and_says_why(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    why = "table PERSON, column NINO: transform upper has no inverse"
    fake = FakeWayBack(stages=[100], shadow=False, no_way_back=why)
    async with running(env.client, fake):
        handle = await start(env.client, decommission=False)
        result = await ended(env, handle)
    assert fake.steps == ["hold", "release to modern at 100%"]
    assert result.way_back is not None
    assert result.way_back.reason == why
    assert not result.way_back.open


@on_a_fresh_server
async def test_no_final_soak_is_todays_cutover(time_skipping_env: WorkflowEnvironment) -> None:
    env = time_skipping_env
    fake = FakeWayBack(stages=[100], shadow=False, final_soak_minutes=0)
    async with running(env.client, fake):
        handle = await start(env.client)
        await close_checklist(env, handle, fake)
        result = await ended(env, handle)
    assert fake.steps == ["hold", "release to modern at 100%", "freeze"]
    assert result.way_back is None


@on_a_fresh_server
async def test_a_long_final_soak_continues_as_new_and_keeps_its_way_back(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    fake = FakeWayBack(stages=[100], shadow=False, soak_minutes=0, final_soak_minutes=5,
                       catch_up_every_s=1)  # fmt: skip
    async with running(env.client, fake):
        handle = await start(env.client, decommission=False)
        result = await ended(env, handle)
        histories = await run_histories(env.client, handle)
    assert len(histories) > 1
    assert max(sizes(histories)) < 2_000
    assert result.way_back is not None
    assert result.way_back.rows_applied == fake.in_legacy
    assert fake.steps.count("install") == 1
    assert fake.steps[-1] == "close"

"""The cutover activities against a real engine database (SQLite here; the queries are
tested on both backends in tests/db/test_cutover.py), with a recording router: the gates'
verdicts, the setting recorded and applied, the dashboard's stage, and the engineer check.
(The routers themselves are tested in tests/adapters/router.)"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.cutover import CutoverActivities, judge
from config.migration_plan import CutoverPlan, GatesPlan, MigrationPlan
from config.settings import Settings
from db.accounts import create_user
from db.cutover import cutover_history, cutover_state, hold_writes, set_cutover_state
from db.migrate import upgrade
from db.models import System
from db.programme import register_system
from db.session import session_scope
from domain.cutover import (
    ApplySettingInput,
    CheckActorInput,
    CutoverEventInput,
    CutoverEventKind,
    CutoverPhase,
    GateInput,
    HoldWritesInput,
    ReleaseWritesInput,
    RouterMetrics,
    RouterSetting,
    Side,
    SideMetrics,
    WriteHold,
    empty_histogram,
    latency_bucket,
)
from domain.systems import SystemStage

PLAN = """\
system: {id: legacy-x, name: X, annual_run_cost_gbp: 1000}
source: {kind: sql, url: "sqlite:///legacy.db"}
target: {url: "postgresql+psycopg://postgres@127.0.0.1/modern"}
tables: [{source: T, target: t, key: [ID]}]
cutover:
  legacy_url: http://127.0.0.1:9001
  modern_url: http://127.0.0.1:9002
  stages: [10, 100]
  gates: {max_error_rate: 0.01, max_p95_ms: 500, max_mismatch_rate: 0.01, min_requests: 100}
"""


def _side(requests: int, errors: int, latency_ms: float) -> SideMetrics:
    histogram = empty_histogram()
    histogram[latency_bucket(latency_ms)] = requests
    return SideMetrics(requests=requests, errors=errors, latency_histogram=histogram)


def _metrics(requests: int = 200, errors: int = 0, latency_ms: float = 50.0,
             compared: int = 100, mismatched: int = 0) -> RouterMetrics:  # fmt: skip
    return RouterMetrics(legacy=_side(1000, 0, 20.0), modern=_side(requests, errors, latency_ms),
                         shadow_compared=compared, shadow_mismatched=mismatched)  # fmt: skip


GATES = CutoverPlan(legacy_url="http://l", modern_url="http://m",
                    gates=GatesPlan(max_error_rate=0.01, max_p95_ms=500, max_mismatch_rate=0.01,
                                    min_requests=100))  # fmt: skip


def test_a_healthy_stage_passes() -> None:
    figures = judge(_metrics(), GATES, shadow_only=False, reconciliation_passed=True)
    assert figures.passed
    assert figures.requests == 200
    assert figures.mismatch_rate == 0.0


@pytest.mark.parametrize(
    ("metrics", "reconciled", "failure"),
    [
        (_metrics(errors=10), True, "error rate 5.00% > 1.00%"),
        (_metrics(latency_ms=900.0), True, "p95"),
        (_metrics(mismatched=5), True, "shadow mismatch rate 5.00% > 1.00%"),
        (_metrics(), False, "reconciliation found differences"),
    ],
)
def test_each_gate_can_fail_the_stage(
    metrics: RouterMetrics, reconciled: bool, failure: str
) -> None:
    figures = judge(metrics, GATES, shadow_only=False, reconciliation_passed=reconciled)
    assert not figures.passed
    assert len(figures.failures) == 1
    assert figures.failures[0].startswith(failure)
    assert not figures.too_few_requests


def test_too_few_requests_is_its_own_kind_of_failure() -> None:
    quiet = judge(_metrics(requests=40), GATES, shadow_only=False, reconciliation_passed=True)
    assert quiet.failures == ["only 40 requests on modern (at least 100)"]
    assert quiet.too_few_requests  # hold and ask, rather than roll back
    noisy = judge(_metrics(requests=40, errors=40), GATES, shadow_only=False,
                  reconciliation_passed=True)  # fmt: skip
    assert len(noisy.failures) == 2
    assert not noisy.too_few_requests  # errors are a reason to roll back


@dataclass
class RecordingRouter:
    name: str = "recording"
    applied: list[RouterSetting] = field(default_factory=list)
    metrics_asked: list[tuple[dt.datetime, int | None]] = field(default_factory=list)
    closed: int = 0

    def apply(self, setting: RouterSetting) -> None:
        self.applied.append(setting)

    def metrics(self, since: dt.datetime, *, setting_version: int | None = None) -> RouterMetrics:
        self.metrics_asked.append((since, setting_version))
        return _metrics(errors=20)

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def world(tmp_path: Path) -> tuple[CutoverActivities, RecordingRouter, str]:
    settings = Settings(home=tmp_path / "state")
    upgrade(settings.resolved_database_url)
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(PLAN, encoding="utf-8")
    router = RecordingRouter()

    def opener(plan: MigrationPlan, _settings: Settings) -> Any:
        assert plan.system.id == "legacy-x"
        return router

    with session_scope(settings.resolved_database_url) as session:
        register_system(session, system_id="legacy-x", name="X", department="D", risk_score=20,
                        annual_run_cost_gbp=Decimal(1000), migration_cost_gbp=Decimal(0),
                        actor="test")  # fmt: skip
        create_user(session, username="erin", roles=["engineer"], password_hash=None)
        create_user(session, username="casey", roles=["caseworker"], password_hash=None)
        create_user(session, username="gone", roles=["engineer"], password_hash=None).active = False
    return CutoverActivities(settings, router_opener=opener), router, str(plan_path)


def test_reading_the_plan_gives_the_workflow_what_it_needs(
    world: tuple[CutoverActivities, RecordingRouter, str],
) -> None:
    activities, _router, plan_path = world
    view = activities.read_cutover_plan(plan_path)
    assert view is not None
    assert (view.system_id, view.stages, view.tables) == ("legacy-x", [10, 100], ["t"])
    assert (view.approval, view.on_gate_failure, view.shadow) == ("required", "rollback", True)


@pytest.mark.parametrize(
    ("final_soak", "columns", "no_way_back"),
    [
        (0, "{NAME: {to: name, transform: upper}}", None),  # no final soak: none asked for
        (30, "{NAME: {to: name, transform: strip}}", None),
        (30, "{NAME: {to: name, transform: upper, inverse: keep}}", None),
        (30, "{NAME: {to: name, transform: upper}}", "column NAME: transform upper has no inv"),
    ],
)
def test_the_final_soak_and_why_there_is_no_way_back_come_with_the_plan(
    tmp_path: Path, final_soak: int, columns: str, no_way_back: str | None
) -> None:
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(
        PLAN.replace("key: [ID]", f"key: [ID], columns: {columns}")
        + f"  final_soak_minutes: {final_soak}\n",
        encoding="utf-8",
    )
    view = CutoverActivities(Settings(home=tmp_path)).read_cutover_plan(str(plan_path))
    assert view is not None
    assert view.final_soak_minutes == final_soak
    if no_way_back is None:
        assert view.no_way_back is None
    else:
        assert no_way_back in (view.no_way_back or "")


def test_a_setting_is_recorded_applied_and_shown_on_the_dashboard_once(
    world: tuple[CutoverActivities, RecordingRouter, str],
) -> None:
    activities, router, plan_path = world
    request = ApplySettingInput(plan_path=plan_path, system_id="legacy-x",
                                phase=CutoverPhase.STAGE,
                                setting=RouterSetting(modern_percent=10, shadow=True))  # fmt: skip
    first = activities.apply_router_setting(request)
    retried = activities.apply_router_setting(request)  # a retry after a crash
    assert first.version == retried.version == 1
    assert [s.modern_percent for s in router.applied] == [10, 10]
    assert router.closed == 2
    with session_scope(activities.database_url) as session:
        state = cutover_state(session, "legacy-x")
        assert state is not None
        assert (state.phase, state.modern_percent, state.shadow) == (CutoverPhase.STAGE, 10, True)
        system = session.get(System, "legacy-x")
        assert system is not None
        assert (system.stage, system.cutover_percent) == (SystemStage.CUTOVER, 10)
        assert len([c for c in system_changes(session) if c == (SystemStage.CUTOVER, 10)]) == 1


def system_changes(session: Any) -> list[tuple[SystemStage, int | None]]:
    from db.programme import stage_history

    _system, history = stage_history(session, "legacy-x")
    return [(change.stage, change.cutover_percent) for change in history]


def test_gates_are_judged_on_the_stages_own_figures(
    world: tuple[CutoverActivities, RecordingRouter, str],
) -> None:
    activities, router, plan_path = world
    since = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    figures = activities.evaluate_gates(GateInput(plan_path=plan_path, system_id="legacy-x",
                                                  since=since, setting_version=4,
                                                  reconciliation_passed=True))  # fmt: skip
    assert router.metrics_asked == [(since, 4)]
    assert figures.failures == ["error rate 10.00% > 1.00%"]


def test_events_are_kept_in_the_history(
    world: tuple[CutoverActivities, RecordingRouter, str],
) -> None:
    activities, _router, plan_path = world
    activities.record_cutover_event(CutoverEventInput(plan_path=plan_path, system_id="legacy-x",
                                                      kind=CutoverEventKind.APPROVED,
                                                      actor="erin", modern_percent=10))  # fmt: skip
    with session_scope(activities.database_url) as session:
        history = cutover_history(session, "legacy-x")
        assert [(e.kind, e.actor, e.modern_percent) for e in history] == [
            (CutoverEventKind.APPROVED, "erin", 10)
        ]


def test_only_an_active_engineer_may_act(
    world: tuple[CutoverActivities, RecordingRouter, str],
) -> None:
    activities, _router, _plan = world
    activities.check_actor_role(CheckActorInput(actor="erin"))
    for someone in ("casey", "gone", "nobody"):
        with pytest.raises(ApplicationError) as refused:
            activities.check_actor_role(CheckActorInput(actor=someone))
        assert refused.value.type == "NotPermittedError"
        assert refused.value.non_retryable
        assert someone in str(refused.value)


# --- the write hold at the switch (the builtin router, with no proxy running) -------------


def test_a_router_that_cannot_hold_says_so_and_changes_nothing(
    world: tuple[CutoverActivities, RecordingRouter, str],
) -> None:
    activities, router, plan_path = world
    held = activities.hold_writes(HoldWritesInput(plan_path=plan_path, system_id="legacy-x"))
    assert not held.held
    assert "cannot hold writes" in (held.detail or "")
    released = activities.release_writes(ReleaseWritesInput(
        plan_path=plan_path, system_id="legacy-x", system_of_record=Side.MODERN))  # fmt: skip
    assert not released.released
    assert router.closed == 2
    assert activities.hold_writes in activities.all()
    assert activities.release_writes in activities.all()


def test_hold_then_release_switches_the_system_of_record(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "state")
    upgrade(settings.resolved_database_url)
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(PLAN, encoding="utf-8")
    activities = CutoverActivities(settings)  # the real builtin router
    url = settings.resolved_database_url
    with session_scope(url) as session:
        register_system(session, system_id="legacy-x", name="X", department="D", risk_score=20,
                        annual_run_cost_gbp=Decimal(1000), migration_cost_gbp=Decimal(0),
                        actor="test")  # fmt: skip
    hold_input = HoldWritesInput(plan_path=str(plan_path), system_id="legacy-x")
    # Nothing to hold before the cutover begins: a conflict, not worth retrying.
    with pytest.raises(ApplicationError) as refused:
        activities.hold_writes(hold_input)
    assert refused.value.type == "ConflictError"
    with session_scope(url) as session:
        set_cutover_state(session, "legacy-x", phase=CutoverPhase.STAGE,
                          setting=RouterSetting(modern_percent=100))  # fmt: skip
    held = activities.hold_writes(hold_input)
    assert (held.held, held.hold_id, held.proxies, held.hold_max_s) == (True, 1, 0, 10.0)
    assert activities.hold_writes(hold_input).hold_id == 1  # a retry keeps the same hold
    release = ReleaseWritesInput(plan_path=str(plan_path), system_id="legacy-x",
                                 system_of_record=Side.MODERN, modern_percent=100)  # fmt: skip
    released = activities.release_writes(release)
    assert released.released
    assert released.setting is not None
    assert released.setting.system_of_record is Side.MODERN
    assert activities.release_writes(release).released  # a retry finds it done
    with session_scope(url) as session:
        state = cutover_state(session, "legacy-x")
        assert state is not None
        assert (state.hold_state, state.system_of_record) == (WriteHold.RELEASED, Side.MODERN)

    # A hold that ran out is not released: the workflow holds again.
    with session_scope(url) as session:
        hold_writes(session, "legacy-x", max_s=10,
                    at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30))  # fmt: skip
    late = activities.release_writes(release.model_copy(update={"system_of_record": Side.LEGACY}))
    assert not late.released
    assert "ran out" in (late.detail or "")

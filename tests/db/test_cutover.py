"""Cutover state, history and router figures in the engine database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from db.cutover import (
    cutover_history,
    cutover_state,
    record_cutover_event,
    record_metric_window,
    router_metrics,
    set_cutover_state,
    setting_of,
)
from db.programme import register_system
from db.session import session_scope
from domain.cutover import (
    CutoverEventKind,
    CutoverPhase,
    GateFigures,
    RouterSetting,
    Side,
    SideMetrics,
    empty_histogram,
    latency_bucket,
)

T0 = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)


def _system(url: str) -> None:
    with session_scope(url) as session:
        register_system(session, system_id="legacy-x", name="X", department="D", risk_score=20,
                        annual_run_cost_gbp=Decimal("1000"), migration_cost_gbp=Decimal("10"),
                        actor="test")  # fmt: skip


def _side(requests: int, errors: int, latencies_ms: list[float]) -> SideMetrics:
    histogram = empty_histogram()
    for latency in latencies_ms:
        histogram[latency_bucket(latency)] += 1
    return SideMetrics(requests=requests, errors=errors, latency_histogram=histogram)


def test_the_version_rises_only_when_the_split_changes(db_url: str) -> None:
    _system(db_url)
    with session_scope(db_url) as session:
        assert cutover_state(session, "legacy-x") is None
        assert setting_of(None) == RouterSetting()
        shadow = CutoverPhase.SHADOW
        first = set_cutover_state(
            session, "legacy-x", phase=shadow, setting=RouterSetting(shadow=True), at=T0
        )
        again = set_cutover_state(
            session, "legacy-x", phase=shadow, setting=RouterSetting(shadow=True, version=9), at=T0
        )
        moved = set_cutover_state(
            session, "legacy-x", phase=CutoverPhase.STAGE,
            setting=RouterSetting(modern_percent=25, shadow=True), at=T0 + dt.timedelta(hours=1),
        )  # fmt: skip
    assert (first.version, again.version, moved.version) == (1, 1, 2)
    with session_scope(db_url) as session:
        state = cutover_state(session, "legacy-x")
        assert state is not None
        assert state.phase is CutoverPhase.STAGE
        assert state.stage_started_at == T0 + dt.timedelta(hours=1)
        assert setting_of(state) == RouterSetting(
            modern_percent=25, shadow=True, system_of_record=Side.LEGACY, version=2
        )


def test_history_keeps_every_step_with_its_figures_in_order(db_url: str) -> None:
    _system(db_url)
    figures = GateFigures(
        requests=400,
        error_rate=0.05,
        p95_ms=120.0,
        mismatch_rate=0.0,
        reconciliation_passed=True,
        failures=["error rate 5.00% > 1.00%"],
    )
    with session_scope(db_url) as session:
        record_cutover_event(session, "legacy-x", CutoverEventKind.STAGE_STARTED,
                             actor="cutover-workflow", modern_percent=25, at=T0)  # fmt: skip
        record_cutover_event(session, "legacy-x", CutoverEventKind.GATE_FAILED, actor="wf",
                             modern_percent=25, figures=figures,
                             at=T0 + dt.timedelta(minutes=30))  # fmt: skip
        record_cutover_event(session, "legacy-x", CutoverEventKind.ROLLED_BACK, actor="wf",
                             modern_percent=5, at=T0 + dt.timedelta(minutes=30))  # fmt: skip
    with session_scope(db_url) as session:
        history = cutover_history(session, "legacy-x")
        assert [(e.kind, e.modern_percent) for e in history] == [
            (CutoverEventKind.STAGE_STARTED, 25),
            (CutoverEventKind.GATE_FAILED, 25),
            (CutoverEventKind.ROLLED_BACK, 5),
        ]
        assert GateFigures.model_validate(history[1].figures) == figures


def test_figures_from_several_proxies_add_up_per_setting_version(db_url: str) -> None:
    _system(db_url)
    with session_scope(db_url) as session:
        for instance, start in (("proxy-a", T0), ("proxy-b", T0)):
            record_metric_window(
                session, system_id="legacy-x", setting_version=3, side=Side.MODERN,
                instance=instance, window_start=start, window_end=start + dt.timedelta(seconds=5),
                metrics=_side(50, 2, [10.0] * 45 + [900.0] * 5),
                shadow_compared=40, shadow_mismatched=1,
            )  # fmt: skip
        record_metric_window(
            session, system_id="legacy-x", setting_version=3, side=Side.LEGACY,
            instance="proxy-a", window_start=T0, window_end=T0 + dt.timedelta(seconds=5),
            metrics=_side(900, 0, [5.0] * 900),
        )  # fmt: skip
        # An older setting's window, and one that ended before the stage began.
        record_metric_window(
            session, system_id="legacy-x", setting_version=2, side=Side.MODERN,
            instance="proxy-a", window_start=T0, window_end=T0 + dt.timedelta(seconds=5),
            metrics=_side(1000, 1000, [1.0] * 1000),
        )  # fmt: skip
        record_metric_window(
            session, system_id="legacy-x", setting_version=3, side=Side.MODERN,
            instance="proxy-a", window_start=T0 - dt.timedelta(hours=1),
            window_end=T0 - dt.timedelta(minutes=59), metrics=_side(7, 7, [1.0] * 7),
        )  # fmt: skip
    with session_scope(db_url) as session:
        metrics = router_metrics(session, "legacy-x", since=T0, setting_version=3)
        everything = router_metrics(session, "legacy-x", since=T0 - dt.timedelta(days=1))
    assert metrics.modern.requests == 100
    assert metrics.modern.errors == 4
    assert metrics.modern.error_rate == 0.04
    assert metrics.legacy.requests == 900
    assert (metrics.shadow_compared, metrics.shadow_mismatched) == (80, 2)
    assert metrics.mismatch_rate == 0.025
    p50, p95 = metrics.modern.percentile_ms(0.5), metrics.modern.percentile_ms(0.95)
    assert p50 is not None
    assert 10.0 <= p50 < 12.5
    assert p95 is not None
    assert 900.0 <= p95 < 1125.0
    assert everything.modern.requests == 1107

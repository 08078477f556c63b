"""Cutover state, history and router figures in the engine database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from db.cutover import (
    cutover_history,
    cutover_state,
    hold_writes,
    live_proxies,
    recent_writes,
    record_cutover_event,
    record_metric_window,
    release_writes,
    report_proxy,
    router_metrics,
    set_applied_up_to,
    set_cutover_state,
    setting_of,
    share_recent_writes,
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
    WriteHold,
    empty_histogram,
    latency_bucket,
)
from domain.errors import ConflictError

T0 = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


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


def test_a_write_hold_is_kept_on_retry_and_released_with_the_new_system_of_record(
    db_url: str,
) -> None:
    _system(db_url)
    with session_scope(db_url) as session:
        set_cutover_state(session, "legacy-x", phase=CutoverPhase.STAGE,
                          setting=RouterSetting(modern_percent=50), at=T0)  # fmt: skip
        first = hold_writes(session, "legacy-x", max_s=10, at=T0)
        assert (first.hold_id, first.hold_state) == (1, WriteHold.HOLDING)
        again = hold_writes(session, "legacy-x", max_s=10, at=T0 + dt.timedelta(seconds=3))
        assert again.hold_id == 1  # still in force: the same hold
        with pytest.raises(ConflictError):
            release_writes(session, "legacy-x", hold_id=2, system_of_record=Side.MODERN)
        setting = release_writes(session, "legacy-x", hold_id=1, system_of_record=Side.MODERN,
                                 modern_percent=100, at=T0 + dt.timedelta(seconds=4))  # fmt: skip
        assert (setting.system_of_record, setting.modern_percent, setting.version) == (
            Side.MODERN, 100, 2)  # fmt: skip
        state = cutover_state(session, "legacy-x")
        assert state is not None
        assert state.hold_state is WriteHold.RELEASED
        # After a release (or once run out) the next hold is a new one.
        later = hold_writes(session, "legacy-x", max_s=10, at=T0 + dt.timedelta(seconds=5))
        assert later.hold_id == 2


def test_proxies_report_and_only_recent_ones_are_live(db_url: str) -> None:
    _system(db_url)
    with session_scope(db_url) as session:
        for instance, seen in (("p1", T0), ("p2", T0 - dt.timedelta(minutes=5))):
            report_proxy(session, "legacy-x", instance, setting_version=3, hold_id=1,
                         hold_state="holding", in_flight_writes=2, held_writes=0,
                         at=seen)  # fmt: skip
        report_proxy(session, "legacy-x", "p1", setting_version=3, hold_id=1,
                     hold_state="holding", in_flight_writes=0, held_writes=4, at=T0)  # fmt: skip
        live = live_proxies(session, "legacy-x", seen_since=T0 - dt.timedelta(seconds=10))
        assert [(p.instance, p.in_flight_writes, p.held_writes) for p in live] == [("p1", 0, 4)]


def test_recent_writes_are_shared_until_the_mark_passes_them(db_url: str) -> None:
    _system(db_url)
    with session_scope(db_url) as session:
        assert set_applied_up_to(session, "legacy-x", T0) is None  # no cutover yet
        set_cutover_state(session, "legacy-x", phase=CutoverPhase.STAGE,
                          setting=RouterSetting(modern_percent=50), at=T0)  # fmt: skip
        share_recent_writes(session, "legacy-x", [("a" * 32, T0), ("b" * 32, T0 + SECOND * 2)])
        shared = recent_writes(session, "legacy-x", after_id=0)
        assert [key for _, key, _ in shared] == ["a" * 32, "b" * 32]
        assert recent_writes(session, "legacy-x", after_id=shared[0][0])[0][1] == "b" * 32
        assert set_applied_up_to(session, "legacy-x", T0 + SECOND) == T0 + SECOND
        assert [key for _, key, _ in recent_writes(session, "legacy-x", after_id=0)] == ["b" * 32]
        # The mark never moves back.
        assert set_applied_up_to(session, "legacy-x", T0) == T0 + SECOND

"""Cutover state, its history, and the routers' traffic figures, in the engine database.

``cutover_states`` holds one row per system: the setting every router for it applies.
The builtin proxy polls it, so changing the row (``set_cutover_state``) is how traffic
moves; ``version`` rises with each change so figures can be kept per setting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import CutoverEvent, CutoverState, RouterMetricWindow
from domain.cutover import (
    CutoverEventKind,
    CutoverPhase,
    GateFigures,
    RouterMetrics,
    RouterSetting,
    Side,
    SideMetrics,
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def cutover_state(session: Session, system_id: str) -> CutoverState | None:
    """A system's live traffic setting, or None before its cutover begins."""
    return session.get(CutoverState, system_id)


def setting_of(state: CutoverState | None) -> RouterSetting:
    """The router setting a state row describes (all traffic on legacy when there is none)."""
    if state is None:
        return RouterSetting()
    return RouterSetting(
        modern_percent=state.modern_percent,
        shadow=state.shadow,
        system_of_record=state.system_of_record,
        version=state.version,
    )


def set_cutover_state(
    session: Session,
    system_id: str,
    *,
    phase: CutoverPhase,
    setting: RouterSetting,
    at: dt.datetime | None = None,
) -> RouterSetting:
    """Make ``setting`` the system's live one (``setting.version`` is ignored).

    The version rises only when the traffic split changes, so a retried activity that
    sets the same thing again does not start a new stage's figures.

    Returns:
        The setting as stored, with its version.
    """
    now = at or _now()
    state = session.get(CutoverState, system_id, with_for_update=True)
    if state is None:
        state = CutoverState(
            system_id=system_id, phase=phase, modern_percent=setting.modern_percent,
            shadow=setting.shadow, system_of_record=setting.system_of_record, version=1,
            stage_started_at=now, updated_at=now,
        )  # fmt: skip
        session.add(state)
    else:
        changed = (state.modern_percent, state.shadow, state.system_of_record) != (
            setting.modern_percent,
            setting.shadow,
            setting.system_of_record,
        )
        if changed:
            state.version += 1
            state.stage_started_at = now
            state.modern_percent = setting.modern_percent
            state.shadow = setting.shadow
            state.system_of_record = setting.system_of_record
        state.phase = phase
        state.updated_at = now
    session.flush()
    return setting_of(state)


def record_cutover_event(
    session: Session,
    system_id: str,
    kind: CutoverEventKind,
    *,
    actor: str,
    modern_percent: int | None = None,
    figures: GateFigures | None = None,
    note: str | None = None,
    at: dt.datetime | None = None,
) -> CutoverEvent:
    """Add one line to a system's cutover history."""
    event = CutoverEvent(
        system_id=system_id, occurred_at=at or _now(), kind=kind, modern_percent=modern_percent,
        actor=actor, figures=figures.model_dump(mode="json") if figures else None, note=note,
    )  # fmt: skip
    session.add(event)
    session.flush()
    return event


def cutover_history(session: Session, system_id: str) -> Sequence[CutoverEvent]:
    """A system's cutover and decommissioning history, oldest first."""
    return (
        session.execute(
            select(CutoverEvent)
            .where(CutoverEvent.system_id == system_id)
            .order_by(CutoverEvent.occurred_at, CutoverEvent.id)
        )
        .scalars()
        .all()
    )


def record_metric_window(
    session: Session,
    *,
    system_id: str,
    setting_version: int,
    side: Side,
    instance: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    metrics: SideMetrics,
    shadow_compared: int = 0,
    shadow_mismatched: int = 0,
) -> None:
    """Store what one proxy saw on one side during one window."""
    session.add(
        RouterMetricWindow(
            system_id=system_id, setting_version=setting_version, side=side, instance=instance,
            window_start=window_start, window_end=window_end, requests=metrics.requests,
            errors=metrics.errors, latency_histogram=list(metrics.latency_histogram),
            shadow_compared=shadow_compared, shadow_mismatched=shadow_mismatched,
        )
    )  # fmt: skip
    session.flush()


def router_metrics(
    session: Session,
    system_id: str,
    *,
    since: dt.datetime,
    setting_version: int | None = None,
) -> RouterMetrics:
    """Every window that ended after ``since`` (under one setting version, when given),
    added up per side."""
    query = select(RouterMetricWindow).where(
        RouterMetricWindow.system_id == system_id, RouterMetricWindow.window_end > since
    )
    if setting_version is not None:
        query = query.where(RouterMetricWindow.setting_version == setting_version)
    totals = {Side.LEGACY: SideMetrics(), Side.MODERN: SideMetrics()}
    compared = mismatched = 0
    for window in session.execute(query).scalars():
        totals[window.side] = totals[window.side].add(
            SideMetrics(
                requests=window.requests,
                errors=window.errors,
                latency_histogram=list(window.latency_histogram),
            )
        )
        compared += window.shadow_compared
        mismatched += window.shadow_mismatched
    return RouterMetrics(
        legacy=totals[Side.LEGACY],
        modern=totals[Side.MODERN],
        shadow_compared=compared,
        shadow_mismatched=mismatched,
    )

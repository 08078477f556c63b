"""Cutover state, its history, and the routers' traffic figures, in the engine database.

``cutover_states`` holds one row per system: the setting every router for it applies.
The builtin proxy polls it, so changing the row (``set_cutover_state``) is how traffic
moves; ``version`` rises with each change so figures can be kept per setting.

The same row carries the write hold at the switch of the system of record
(``hold_writes``, ``release_writes``) and the mark the catch-up publishes for
read-your-writes (``set_applied_up_to``). Each builtin proxy reports itself in
``router_proxies`` (``report_proxy``); citizens' recent writes are shared between proxies
in ``router_recent_writes``, by the hash of their key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.models import (
    CutoverEvent,
    CutoverState,
    RouterMetricWindow,
    RouterProxy,
    RouterRecentWrite,
)
from domain.cutover import (
    CutoverEventKind,
    CutoverPhase,
    GateFigures,
    RouterMetrics,
    RouterSetting,
    Side,
    SideMetrics,
    WriteHold,
)
from domain.errors import ConflictError


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


# --- the write hold ---------------------------------------------------------------------


def _locked_state(session: Session, system_id: str) -> CutoverState:
    state = session.get(CutoverState, system_id, with_for_update=True)
    if state is None:
        raise ConflictError(f"{system_id} has no cutover state yet: nothing to hold")
    return state


def hold_writes(
    session: Session, system_id: str, *, max_s: float, at: dt.datetime | None = None
) -> CutoverState:
    """Tell every builtin proxy of the system to hold writes, for at most ``max_s``.

    A hold still in force is kept as it is (a retried activity starts no second hold);
    otherwise a new one begins with a new ``hold_id``.

    Raises:
        ConflictError: the system's cutover has not begun.
    """
    now = at or _now()
    state = _locked_state(session, system_id)
    in_force = (
        state.hold_state is WriteHold.HOLDING
        and state.hold_started_at is not None
        and now < state.hold_started_at + dt.timedelta(seconds=state.hold_max_s or 0)
    )
    if not in_force:
        state.hold_id += 1
        state.hold_state = WriteHold.HOLDING
        state.hold_started_at = now
        state.hold_max_s = max_s
        state.updated_at = now
    session.flush()
    return state


def release_writes(
    session: Session,
    system_id: str,
    *,
    hold_id: int,
    system_of_record: Side,
    modern_percent: int | None = None,
    at: dt.datetime | None = None,
) -> RouterSetting:
    """Release hold ``hold_id`` to ``system_of_record``, in the same row (and so the same
    poll of every proxy) as the setting that makes it the system of record.

    When the system of record changes, the applied-up-to mark and the shared recent
    writes are dropped: they spoke of the other side.

    Raises:
        ConflictError: that hold is not the one in force.
    """
    now = at or _now()
    state = _locked_state(session, system_id)
    if state.hold_id != hold_id or state.hold_state is WriteHold.NONE:
        raise ConflictError(f"hold {hold_id} of {system_id} is not the one in force")
    percent = state.modern_percent if modern_percent is None else modern_percent
    if (state.system_of_record, state.modern_percent) != (system_of_record, percent):
        if state.system_of_record is not system_of_record:
            state.applied_up_to = None
            session.execute(
                delete(RouterRecentWrite).where(RouterRecentWrite.system_id == system_id)
            )
        state.version += 1
        state.stage_started_at = now
        state.system_of_record = system_of_record
        state.modern_percent = percent
    state.hold_state = WriteHold.RELEASED
    state.updated_at = now
    session.flush()
    return setting_of(state)


def report_proxy(
    session: Session,
    system_id: str,
    instance: str,
    *,
    setting_version: int,
    hold_id: int,
    hold_state: str,
    in_flight_writes: int,
    held_writes: int,
    at: dt.datetime | None = None,
) -> None:
    """Store what one proxy serves now: its heartbeat, and its part in the write hold."""
    row = session.get(RouterProxy, (system_id, instance))
    if row is None:
        row = RouterProxy(system_id=system_id, instance=instance)
        session.add(row)
    row.seen_at = at or _now()
    row.setting_version = setting_version
    row.hold_id = hold_id
    row.hold_state = hold_state
    row.in_flight_writes = in_flight_writes
    row.held_writes = held_writes
    session.flush()


def live_proxies(session: Session, system_id: str, *, seen_since: dt.datetime) -> list[RouterProxy]:
    """The proxies of a system that reported themselves since ``seen_since``."""
    query = select(RouterProxy).where(
        RouterProxy.system_id == system_id, RouterProxy.seen_at >= seen_since
    )
    return list(session.execute(query.order_by(RouterProxy.instance)).scalars())


# --- read-your-writes ----------------------------------------------------------------------


def set_applied_up_to(session: Session, system_id: str, up_to: dt.datetime) -> dt.datetime | None:
    """Publish that the side which is not the system of record has applied the system of
    record's changes committed up to ``up_to`` (the catch-up or the change stream calls
    this after each batch it applied). The mark never moves back; recent writes it has
    passed are forgotten.

    Returns:
        The mark now stored (None when the system's cutover has not begun).
    """
    state = session.get(CutoverState, system_id, with_for_update=True)
    if state is None:
        return None
    if state.applied_up_to is None or up_to > state.applied_up_to:
        state.applied_up_to = up_to
        session.execute(
            delete(RouterRecentWrite).where(
                RouterRecentWrite.system_id == system_id, RouterRecentWrite.written_at <= up_to
            )
        )
    session.flush()
    return state.applied_up_to


def share_recent_writes(
    session: Session, system_id: str, writes: Sequence[tuple[str, dt.datetime]]
) -> None:
    """Store citizens' recent writes (key hash, when acknowledged) for the other proxies."""
    session.add_all(
        RouterRecentWrite(system_id=system_id, key_hash=key_hash, written_at=written_at)
        for key_hash, written_at in writes
    )
    session.flush()


def recent_writes(
    session: Session, system_id: str, *, after_id: int
) -> list[tuple[int, str, dt.datetime]]:
    """Recent writes shared after row ``after_id`` that the mark has not passed yet."""
    state = session.get(CutoverState, system_id)
    query = select(RouterRecentWrite.id, RouterRecentWrite.key_hash, RouterRecentWrite.written_at)
    query = query.where(RouterRecentWrite.system_id == system_id, RouterRecentWrite.id > after_id)
    if state is not None and state.applied_up_to is not None:
        query = query.where(RouterRecentWrite.written_at > state.applied_up_to)
    rows = session.execute(query.order_by(RouterRecentWrite.id)).all()
    return [(row[0], row[1], row[2]) for row in rows]

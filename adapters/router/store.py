"""The engine database as the builtin router sees it: two small interfaces, their
SQLAlchemy implementations, and an in-memory one of both for tests.

The proxy (``RouterStore``) reads one thing (``read``: the live setting, the write hold
and the applied-up-to mark, all from the system's ``cutover_states`` row in one query)
and writes three: its figures (``store``), its report (``report``: heartbeat, hold
taken, writes in flight) and citizens' recent writes for the other proxies
(``share_writes``).

The controller (``ControllerStore``, used by ``BuiltinRouter``) sets the live setting and
the write hold, and reads back what the proxies reported: their acknowledgements, their
part in the hold, their figures.

Every call blocks: the proxy runs them in a thread.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from domain.cutover import (
    CutoverPhase,
    RouterMetrics,
    RouterSetting,
    Side,
    SideMetrics,
    WriteHold,
    empty_histogram,
)

if TYPE_CHECKING:
    from db.models import CutoverState


@dataclass
class WindowTally:
    """One side's figures under one setting version, since the last flush."""

    requests: int = 0
    errors: int = 0
    histogram: list[int] = field(default_factory=empty_histogram)
    compared: int = 0
    mismatched: int = 0

    def merge(self, other: WindowTally) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.compared += other.compared
        self.mismatched += other.mismatched
        for i, count in enumerate(other.histogram):
            self.histogram[i] += count


Windows = dict[tuple[int, Side], WindowTally]


@dataclass(frozen=True)
class HoldOrder:
    """The write hold the proxies are told to follow."""

    hold_id: int = 0
    state: WriteHold = WriteHold.NONE
    max_s: float = 0.0
    started_at: dt.datetime | None = None

    def remaining_s(self, now: dt.datetime) -> float:
        """How much of the hold is left (all of it when its start is unknown): a proxy
        that starts late in a hold, or long after one nobody released, holds no longer
        than the hold itself."""
        if self.started_at is None:
            return self.max_s
        return min(self.max_s, (self.started_at - now).total_seconds() + self.max_s)


@dataclass(frozen=True)
class LiveState:
    """Everything a proxy follows, read at once so that a release and the setting that
    names the new system of record are always taken together."""

    setting: RouterSetting = field(default_factory=RouterSetting)
    hold: HoldOrder = field(default_factory=HoldOrder)
    applied_up_to: dt.datetime | None = None


@dataclass(frozen=True)
class ProxyReport:
    """What one proxy tells the controller: the version it serves and its part in the
    hold (``hold_state``: ``none``, ``holding``, ``released`` or ``expired``)."""

    instance: str
    setting_version: int
    hold_id: int = 0
    hold_state: str = "none"
    in_flight_writes: int = 0
    held_writes: int = 0


class RouterStore(Protocol):
    """The engine database, as one system's builtin proxies use it."""

    def read(self) -> LiveState:
        """The live setting, write hold and applied-up-to mark."""
        ...

    def store(self, windows: Windows, start: dt.datetime, end: dt.datetime) -> None:
        """Store figures gathered between ``start`` and ``end``, one window per key."""
        ...

    def report(self, report: ProxyReport) -> None:
        """Store this proxy's heartbeat and its part in the write hold."""
        ...

    def share_writes(self, writes: Sequence[tuple[str, dt.datetime]]) -> None:
        """Publish citizens' recent writes (key hash, when acknowledged)."""
        ...

    def recent_writes(self, after_id: int) -> list[tuple[int, str, dt.datetime]]:
        """Recent writes other proxies shared after ``after_id``, the mark not yet past."""
        ...


class ControllerStore(Protocol):
    """The engine database, as the controller of one system's builtin proxies uses it."""

    def live(self) -> LiveState:
        """The live setting, write hold and applied-up-to mark."""
        ...

    def set_setting(self, setting: RouterSetting, phase: CutoverPhase | None) -> RouterSetting:
        """Make ``setting`` the live one (its version rises only when the split changes).

        Args:
            phase: the phase stored with it; None keeps the stored one (a first setting
                is then ``shadow`` when it only shadows, else ``stage``).

        Returns:
            The setting as stored, with its version.
        """
        ...

    def acknowledged(self, version: int) -> bool:
        """Whether some proxy has stored a window for ``version`` or a later one."""
        ...

    def proxies(self, seen_since: dt.datetime) -> list[ProxyReport]:
        """The last report of every proxy heard from since ``seen_since``."""
        ...

    def metrics(self, since: dt.datetime, setting_version: int | None) -> RouterMetrics:
        """Every proxy's figures since ``since``, added up per side."""
        ...

    def hold(self, max_s: float) -> HoldOrder:
        """Order a write hold of at most ``max_s`` (a hold still in force is kept)."""
        ...

    def release(
        self, system_of_record: Side, *, hold_id: int, modern_percent: int | None = None
    ) -> RouterSetting:
        """Release hold ``hold_id`` with the setting naming ``system_of_record``, together.

        Raises:
            ConflictError: that hold is not the one in force.
        """
        ...


class SqlRouterStore:
    """``RouterStore`` and ``ControllerStore`` on the engine database (SQLite or
    PostgreSQL), through ``db.cutover``."""

    def __init__(self, database_url: str, system_id: str, instance: str) -> None:
        self.database_url = database_url
        self.system_id = system_id
        self.instance = instance  # the proxy's name in its metric windows

    # --- RouterStore (the proxy) ---

    def read(self) -> LiveState:
        from db.cutover import cutover_state
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            return _live_state(cutover_state(session, self.system_id))

    def store(self, windows: Windows, start: dt.datetime, end: dt.datetime) -> None:
        from db.cutover import record_metric_window
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            for (version, side), tally in windows.items():
                record_metric_window(
                    session, system_id=self.system_id, setting_version=version, side=side,
                    instance=self.instance, window_start=start, window_end=end,
                    metrics=SideMetrics(requests=tally.requests, errors=tally.errors,
                                        latency_histogram=tally.histogram),
                    shadow_compared=tally.compared, shadow_mismatched=tally.mismatched,
                )  # fmt: skip

    def report(self, report: ProxyReport) -> None:
        from db.cutover import report_proxy
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            report_proxy(
                session, self.system_id, report.instance,
                setting_version=report.setting_version, hold_id=report.hold_id,
                hold_state=report.hold_state, in_flight_writes=report.in_flight_writes,
                held_writes=report.held_writes,
            )  # fmt: skip

    def share_writes(self, writes: Sequence[tuple[str, dt.datetime]]) -> None:
        from db.cutover import share_recent_writes
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            share_recent_writes(session, self.system_id, writes)

    def recent_writes(self, after_id: int) -> list[tuple[int, str, dt.datetime]]:
        from db.cutover import recent_writes
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            return recent_writes(session, self.system_id, after_id=after_id)

    # --- ControllerStore (the controller) ---

    def live(self) -> LiveState:
        return self.read()

    def set_setting(self, setting: RouterSetting, phase: CutoverPhase | None) -> RouterSetting:
        from db.cutover import cutover_state, set_cutover_state
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            if phase is None:
                state = cutover_state(session, self.system_id)
                phase = state.phase if state is not None else _first_phase(setting)
            return set_cutover_state(session, self.system_id, phase=phase, setting=setting)

    def acknowledged(self, version: int) -> bool:
        from sqlalchemy import func, select

        from db.models import RouterMetricWindow
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            count = session.scalar(
                select(func.count())
                .select_from(RouterMetricWindow)
                .where(
                    RouterMetricWindow.system_id == self.system_id,
                    RouterMetricWindow.setting_version >= version,
                )
            )
        return bool(count)

    def proxies(self, seen_since: dt.datetime) -> list[ProxyReport]:
        from db.cutover import live_proxies
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            return [
                ProxyReport(p.instance, p.setting_version, p.hold_id, p.hold_state,
                            p.in_flight_writes, p.held_writes)
                for p in live_proxies(session, self.system_id, seen_since=seen_since)
            ]  # fmt: skip

    def metrics(self, since: dt.datetime, setting_version: int | None) -> RouterMetrics:
        from db.cutover import router_metrics
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            return router_metrics(
                session, self.system_id, since=since, setting_version=setting_version
            )

    def hold(self, max_s: float) -> HoldOrder:
        from db.cutover import hold_writes
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            return _live_state(hold_writes(session, self.system_id, max_s=max_s)).hold

    def release(
        self, system_of_record: Side, *, hold_id: int, modern_percent: int | None = None
    ) -> RouterSetting:
        from db.cutover import release_writes
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            return release_writes(session, self.system_id, hold_id=hold_id,
                                  system_of_record=system_of_record,
                                  modern_percent=modern_percent)  # fmt: skip


def _first_phase(setting: RouterSetting) -> CutoverPhase:
    only_shadows = setting.shadow and setting.modern_percent == 0
    return CutoverPhase.SHADOW if only_shadows else CutoverPhase.STAGE


def _live_state(state: CutoverState | None) -> LiveState:
    from db.cutover import setting_of

    if state is None:
        return LiveState()
    return LiveState(
        setting=setting_of(state),
        hold=HoldOrder(
            state.hold_id, state.hold_state, state.hold_max_s or 0.0, state.hold_started_at
        ),
        applied_up_to=state.applied_up_to,
    )


class MemoryRouterStore:
    """``RouterStore`` and ``ControllerStore`` in memory, shared by the proxies and the
    controller of one test; ``mark`` stands in for the catch-up, ``fail`` for a database
    that went away."""

    def __init__(self, setting: RouterSetting | None = None) -> None:
        self.state = LiveState(setting=setting or RouterSetting())
        self.windows: list[tuple[dt.datetime, dt.datetime, Windows]] = []
        self.reports: dict[str, ProxyReport] = {}
        self.seen: dict[str, dt.datetime] = {}
        self.shared: list[tuple[int, str, dt.datetime]] = []
        self.fail = False  # make every call fail, as an unreachable database would
        self._lock = threading.Lock()

    def _check(self) -> None:
        if self.fail:
            from domain.errors import DatabaseError

            raise DatabaseError("the engine database failed (test)")

    # --- RouterStore ---

    def read(self) -> LiveState:
        self._check()
        return self.state

    def store(self, windows: Windows, start: dt.datetime, end: dt.datetime) -> None:
        self._check()
        with self._lock:
            self.windows.append((start, end, windows))

    def report(self, report: ProxyReport) -> None:
        self._check()
        with self._lock:
            self.reports[report.instance] = report
            self.seen[report.instance] = dt.datetime.now(dt.UTC)

    def share_writes(self, writes: Sequence[tuple[str, dt.datetime]]) -> None:
        self._check()
        with self._lock:
            for key_hash, at in writes:
                self.shared.append((len(self.shared) + 1, key_hash, at))

    def recent_writes(self, after_id: int) -> list[tuple[int, str, dt.datetime]]:
        self._check()
        mark = self.state.applied_up_to
        with self._lock:
            return [w for w in self.shared if w[0] > after_id and (mark is None or w[2] > mark)]

    # --- ControllerStore ---

    def live(self) -> LiveState:
        self._check()
        return self.state

    def set_setting(
        self, setting: RouterSetting, phase: CutoverPhase | None = None
    ) -> RouterSetting:
        self._check()
        live = self.state.setting
        split = (setting.modern_percent, setting.shadow, setting.system_of_record)
        if split == (live.modern_percent, live.shadow, live.system_of_record):
            return live
        stored = setting.model_copy(update={"version": live.version + 1})
        self.state = replace(self.state, setting=stored)
        return stored

    def acknowledged(self, version: int) -> bool:
        with self._lock:
            return any(key[0] >= version for _, _, windows in self.windows for key in windows)

    def proxies(self, seen_since: dt.datetime) -> list[ProxyReport]:
        self._check()
        with self._lock:
            return [r for name, r in sorted(self.reports.items()) if self.seen[name] >= seen_since]

    def metrics(self, since: dt.datetime, setting_version: int | None = None) -> RouterMetrics:
        self._check()
        totals = {Side.LEGACY: SideMetrics(), Side.MODERN: SideMetrics()}
        compared = mismatched = 0
        with self._lock:
            for _, end, windows in self.windows:
                for (version, side), tally in windows.items():
                    if end <= since or setting_version not in (None, version):
                        continue
                    totals[side] = totals[side].add(
                        SideMetrics(requests=tally.requests, errors=tally.errors,
                                    latency_histogram=list(tally.histogram))
                    )  # fmt: skip
                    compared += tally.compared
                    mismatched += tally.mismatched
        return RouterMetrics(legacy=totals[Side.LEGACY], modern=totals[Side.MODERN],
                             shadow_compared=compared, shadow_mismatched=mismatched)  # fmt: skip

    def hold(self, max_s: float) -> HoldOrder:
        self._check()
        now = dt.datetime.now(dt.UTC)
        hold = self.state.hold
        if hold.state is WriteHold.HOLDING and hold.remaining_s(now) > 0:
            return hold  # still in force: kept
        hold = HoldOrder(hold.hold_id + 1, WriteHold.HOLDING, max_s, now)
        self.state = replace(self.state, hold=hold)
        return hold

    def release(
        self,
        system_of_record: Side,
        *,
        hold_id: int | None = None,
        modern_percent: int | None = None,
    ) -> RouterSetting:
        self._check()
        hold = self.state.hold
        if hold_id not in (None, hold.hold_id) or hold.state is WriteHold.NONE:
            from domain.errors import ConflictError

            raise ConflictError(f"hold {hold_id} is not the one in force")
        live = self.state.setting
        percent = live.modern_percent if modern_percent is None else modern_percent
        setting = live
        if (live.system_of_record, live.modern_percent) != (system_of_record, percent):
            setting = live.model_copy(update={"system_of_record": system_of_record,
                                              "modern_percent": percent,
                                              "version": live.version + 1})  # fmt: skip
        if setting.system_of_record is not live.system_of_record:
            self.state = replace(self.state, applied_up_to=None)
            with self._lock:
                self.shared.clear()
        self.state = replace(
            self.state, setting=setting, hold=replace(hold, state=WriteHold.RELEASED)
        )
        return setting

    # --- the catch-up's side ---

    def mark(self, up_to: dt.datetime) -> None:
        self.state = replace(self.state, applied_up_to=up_to)

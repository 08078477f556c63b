"""The engine database as the builtin proxy sees it: a small interface, its SQLAlchemy
implementation, and an in-memory one for tests.

A proxy reads one thing (``read``: the live setting, the write hold and the
applied-up-to mark, all from the system's ``cutover_states`` row in one query) and
writes three: its figures (``store``), its report (``report``: heartbeat, hold taken,
writes in flight) and citizens' recent writes for the other proxies
(``share_writes``). The controller (``BuiltinRouter``) talks to the database through
``db.cutover`` directly.

Every call blocks: the proxy runs them in a thread.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from domain.cutover import RouterSetting, Side, WriteHold, empty_histogram


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


class SqlRouterStore:
    """``RouterStore`` on the engine database (SQLite or PostgreSQL)."""

    def __init__(self, database_url: str, system_id: str, instance: str) -> None:
        self.database_url = database_url
        self.system_id = system_id
        self.instance = instance  # the proxy's name in its metric windows

    def read(self) -> LiveState:
        from db.cutover import cutover_state, setting_of
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            state = cutover_state(session, self.system_id)
            if state is None:
                return LiveState()
            return LiveState(
                setting=setting_of(state),
                hold=HoldOrder(
                    state.hold_id, state.hold_state, state.hold_max_s or 0.0, state.hold_started_at
                ),
                applied_up_to=state.applied_up_to,
            )

    def store(self, windows: Windows, start: dt.datetime, end: dt.datetime) -> None:
        from db.cutover import record_metric_window
        from db.session import session_scope
        from domain.cutover import SideMetrics

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


class MemoryRouterStore:
    """``RouterStore`` in memory, shared by the proxies of one test, with the controller's
    side (``set_setting``, ``hold``, ``release``, ``mark``) for the test to drive."""

    def __init__(self, setting: RouterSetting | None = None) -> None:
        self.state = LiveState(setting=setting or RouterSetting())
        self.windows: list[tuple[dt.datetime, dt.datetime, Windows]] = []
        self.reports: dict[str, ProxyReport] = {}
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

    # --- the controller's side ---

    def set_setting(self, **changes: object) -> RouterSetting:
        setting = self.state.setting.model_copy(
            update={**changes, "version": self.state.setting.version + 1}
        )
        self.state = replace(self.state, setting=setting)
        return setting

    def hold(self, max_s: float) -> int:
        hold_id = self.state.hold.hold_id + 1
        hold = HoldOrder(hold_id, WriteHold.HOLDING, max_s, dt.datetime.now(dt.UTC))
        self.state = replace(self.state, hold=hold)
        return hold_id

    def release(self, system_of_record: Side, modern_percent: int | None = None) -> None:
        setting = self.state.setting.model_copy(
            update={
                "system_of_record": system_of_record,
                "modern_percent": self.state.setting.modern_percent
                if modern_percent is None
                else modern_percent,
                "version": self.state.setting.version + 1,
            }
        )
        hold = replace(self.state.hold, state=WriteHold.RELEASED)
        self.state = replace(self.state, setting=setting, hold=hold)

    def mark(self, up_to: dt.datetime) -> None:
        self.state = replace(self.state, applied_up_to=up_to)

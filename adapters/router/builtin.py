"""The built-in router: our own proxy (``adapters.router.proxy``), steered through the
engine database by the controller here (``BuiltinRouter``).

``run_proxy`` serves the proxy under uvicorn in front of a system's legacy and modern
services; any number of proxy processes can run for one system. The controller writes
the system's ``cutover_states`` row (the setting, the write hold, through ``db.cutover``)
and reads back what the proxies report (their acknowledgements, their part in the hold,
their figures). The proxy reaches the database only through a ``RouterStore``
(``adapters.router.store``), so it can be tested in memory.

The write hold at the switch of the system of record (``hold_writes`` then
``release_writes``; see docs/cutover.md): the controller sets the hold and waits until
every live proxy has taken it and has no write in flight to the old system of record;
the release names the new system of record in the same row, and the controller waits
until every proxy has let its held writes go there.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from dataclasses import dataclass

import httpx
from sqlalchemy.orm import Session

from adapters.router.proxy import ADMIN_PREFIX, VERSION_HEADER, CutoverProxy, live_within
from adapters.router.routing import probe_sides
from adapters.router.store import SqlRouterStore
from adapters.router.writes import HoldState
from config.log import get_logger
from config.migration_plan import CutoverPlan, MigrationPlan, load_plan
from config.settings import Settings
from domain.cutover import (
    CutoverPhase,
    HoldWritesResult,
    ReleaseWritesResult,
    RouterHealth,
    RouterMetrics,
    RouterSetting,
    Side,
    WriteHold,
)
from domain.errors import RouterError

log = get_logger(__name__)

__all__ = ["BuiltinRouter", "CutoverProxy", "build_proxy", "run_proxy"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- running it ---------------------------------------------------------------------------


def build_proxy(
    plan: MigrationPlan, settings: Settings, *, port: int | None = None
) -> CutoverProxy:
    """The proxy app for a plan's system, steered through the settings' engine database."""
    cutover = _cutover(plan)
    instance = f"{socket.gethostname()}:{os.getpid()}" + (f":{port}" if port else "")
    store = SqlRouterStore(settings.resolved_database_url, plan.system.id, instance)
    return CutoverProxy(cutover, plan.system.id, store=store, instance=instance)


def run_proxy(plan_path: str, settings: Settings, host: str, port: int) -> None:
    """Serve the built-in router for a plan's system until interrupted (blocks).

    Args:
        plan_path: the migration plan; its ``cutover`` section names both services.
        settings: where the engine database is.
        host: address to listen on.
        port: port to listen on.
    """
    import uvicorn

    plan = load_plan(plan_path)
    app = build_proxy(plan, settings, port=port)
    # httpx logs every request's URL at INFO: a path may carry a citizen's id, and a line
    # per request would cost more than the proxying.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    log.info("router starting", system=plan.system.id, host=host, port=port)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # request lines may carry citizens' ids
        lifespan="on",
        timeout_graceful_shutdown=10,
        server_header=False,  # the upstream's own Server and Date headers pass through
        date_header=False,
    )


def _cutover(plan: MigrationPlan) -> CutoverPlan:
    if plan.cutover is None:
        raise RouterError(f"the plan for {plan.system.id} has no cutover section")
    return plan.cutover


# --- the router the cutover activities use -------------------------------------------------


class BuiltinRouter:
    """Steers the built-in proxies of one system through the engine database.

    ``apply`` writes the system's ``cutover_states`` row, then waits until the proxies
    serve the new version: each address in ``builtin.proxy_urls`` must report it on
    ``GET /_switchover/setting``; with none listed, a proxy's acknowledgement in the
    engine database is enough.
    """

    name = "builtin"

    def __init__(
        self,
        plan: MigrationPlan,
        settings: Settings,
        *,
        phase: CutoverPhase | None = None,
    ) -> None:
        self.plan = plan
        self.cutover = _cutover(plan)
        self.options = self.cutover.builtin
        self.system_id = plan.system.id
        self.database_url = settings.resolved_database_url
        self.phase = phase
        self.client = httpx.Client(timeout=5, trust_env=False)

    def apply(self, setting: RouterSetting) -> None:
        """Make ``setting`` the live one and wait for the proxies to take it.

        The phase stored with it is the one given to the constructor, else the row's
        current phase, else shadow or stage as the setting suggests.

        Raises:
            RouterError: no proxy took the new version within ``apply_timeout_s``.
        """
        from db.cutover import cutover_state, set_cutover_state
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            state = cutover_state(session, self.system_id)
            phase = self.phase or (state.phase if state is not None else None)
            if phase is None:
                phase = (
                    CutoverPhase.SHADOW
                    if setting.shadow and setting.modern_percent == 0
                    else CutoverPhase.STAGE
                )
            stored = set_cutover_state(session, self.system_id, phase=phase, setting=setting)
        self._wait_for(stored.version)

    def _wait_for(self, version: int) -> None:
        deadline = time.monotonic() + self.options.apply_timeout_s
        waiting: list[str] = list(self.options.proxy_urls) or ["the engine database"]
        while True:
            if self.options.proxy_urls:
                waiting = [url for url in waiting if self._proxy_version(url) < version]
            elif self._acknowledged(version):
                waiting = []
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise RouterError(
                    f"no builtin proxy took setting version {version} of {self.system_id} "
                    f"within {self.options.apply_timeout_s:g} s (waiting on "
                    f"{', '.join(waiting)}); is `switchover router` running?"
                )
            time.sleep(min(0.1, self.options.poll_s / 4))

    def _proxy_version(self, url: str) -> int:
        try:
            response = self.client.get(url.rstrip("/") + ADMIN_PREFIX + "setting")
            return int(response.headers.get(VERSION_HEADER, "-1"))
        except (httpx.HTTPError, ValueError):
            return -1

    def _acknowledged(self, version: int) -> bool:
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

    def current(self) -> RouterSetting:
        """What the first listed proxy serves; with none listed, the stored live setting."""
        if self.options.proxy_urls:
            url = self.options.proxy_urls[0].rstrip("/") + ADMIN_PREFIX + "setting"
            try:
                response = self.client.get(url)
                response.raise_for_status()
                return RouterSetting.model_validate(response.json())
            except (httpx.HTTPError, ValueError) as e:
                raise RouterError(f"cannot read the proxy's setting at {url}: {e}") from e
        from db.cutover import cutover_state, setting_of
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            return setting_of(cutover_state(session, self.system_id))

    def health(self) -> RouterHealth:
        """Each side's answer to the plan's health path, as the first proxy sees it (or
        as this process does, when no proxy is listed)."""
        if self.options.proxy_urls:
            url = self.options.proxy_urls[0].rstrip("/") + ADMIN_PREFIX + "health"
            try:
                response = self.client.get(url, timeout=15)
                response.raise_for_status()
                return RouterHealth.model_validate(response.json())
            except (httpx.HTTPError, ValueError) as e:
                return RouterHealth(legacy=False, modern=False, detail=f"proxy at {url}: {e}")
        return probe_sides(self.client, self.cutover)

    def metrics(self, since: dt.datetime, *, setting_version: int | None = None) -> RouterMetrics:
        """Every proxy's stored windows since ``since``, added up per side."""
        from db.cutover import router_metrics
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            return router_metrics(
                session, self.system_id, since=since, setting_version=setting_version
            )

    # --- the write hold at the switch of the system of record ---

    def hold_writes(self) -> HoldWritesResult:
        """Hold every proxy's writes, and wait until each live proxy has taken the hold
        and has no write in flight.

        Waits at most half the hold (``hold_max_s``): the rest is for the final catch-up
        and the release. A retried call keeps a hold still in force.

        Raises:
            RouterError: a proxy did not take the hold or drain in time; the hold is then
                released to the old system of record (no write is lost), and holding again
                may succeed.
        """
        from db.cutover import hold_writes
        from db.session import session_scope

        started = time.monotonic()
        with session_scope(self.database_url) as session:
            state = hold_writes(session, self.system_id, max_s=self.options.hold_max_s)
            hold_id, max_s = state.hold_id, state.hold_max_s or self.options.hold_max_s
        deadline = started + max_s / 2
        in_flight = 0
        while True:
            proxies = self._live_proxies()
            mine = [p for p in proxies if p.hold_id == hold_id]
            in_flight = max(in_flight, sum(p.in_flight_writes for p in mine))
            ran_out = [p for p in mine if p.hold_state in (HoldState.EXPIRED, HoldState.FENCED)]
            waiting = [
                p for p in proxies
                if not (p.hold_id == hold_id and p.hold_state == HoldState.HOLDING
                        and p.in_flight_writes == 0)
            ]  # fmt: skip
            if not waiting and not ran_out:
                waited = time.monotonic() - started
                log.info("writes held", system=self.system_id, hold_id=hold_id,
                         proxies=len(proxies), in_flight=in_flight,
                         waited_s=round(waited, 3))  # fmt: skip
                return HoldWritesResult(held=True, hold_id=hold_id, proxies=len(proxies),
                                        in_flight=in_flight, waited_s=waited,
                                        hold_max_s=max_s)  # fmt: skip
            if ran_out or time.monotonic() > deadline:
                self._give_up(hold_id)
                raise RouterError(
                    f"{len(waiting)} of {len(proxies)} builtin proxies of {self.system_id} did "
                    f"not take write hold {hold_id} and drain within {max_s / 2:g} s; the "
                    "held writes went on to the old system of record"
                )
            time.sleep(min(0.05, self.options.poll_s / 4))

    def _give_up(self, hold_id: int) -> None:
        from db.cutover import cutover_state, release_writes
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            state = cutover_state(session, self.system_id)
            if state is not None and state.hold_id == hold_id:
                release_writes(session, self.system_id, hold_id=hold_id,
                               system_of_record=state.system_of_record)  # fmt: skip

    def release_writes(
        self, system_of_record: Side, *, modern_percent: int | None = None
    ) -> ReleaseWritesResult:
        """Release the hold in force to ``system_of_record`` (the setting naming it goes
        live with the release), and wait until every live proxy has let its held writes
        go there.

        Refused (``released=False``, nothing changed) when no hold is in force, or when
        the hold has run out or is about to (within one poll and a second): a proxy might
        then already have sent its held writes to the old system of record, so the
        switch must begin again with a new hold.

        Raises:
            RouterError: a proxy did not take the release within ``apply_timeout_s``.
        """
        from db.cutover import cutover_state, release_writes
        from db.session import session_scope

        margin = self.options.poll_s + 1.0
        with session_scope(self.database_url) as session:
            state = cutover_state(session, self.system_id)
            if state is None or state.hold_state is WriteHold.NONE:
                return ReleaseWritesResult(released=False, detail="no write hold is in force")
            hold_id = state.hold_id
            done = state.hold_state is WriteHold.RELEASED
            if done and state.system_of_record is not system_of_record:
                return ReleaseWritesResult(
                    released=False,
                    detail=f"hold {hold_id} was released to {state.system_of_record.value}",
                )
            if not done:
                ends = (state.hold_started_at or _utcnow()) + dt.timedelta(
                    seconds=state.hold_max_s or 0
                )
                ran_out = [
                    p for p in self._live_proxies(session)
                    if p.hold_id == hold_id and p.hold_state != HoldState.HOLDING
                ]  # fmt: skip
                if ran_out or _utcnow() + dt.timedelta(seconds=margin) >= ends:
                    return ReleaseWritesResult(
                        released=False,
                        detail=f"write hold {hold_id} ran out before the release: hold again",
                    )
            setting = release_writes(session, self.system_id, hold_id=hold_id,
                                     system_of_record=system_of_record,
                                     modern_percent=modern_percent)  # fmt: skip
        return self._wait_released(hold_id, setting)

    def _wait_released(self, hold_id: int, setting: RouterSetting) -> ReleaseWritesResult:
        deadline = time.monotonic() + self.options.apply_timeout_s
        while True:
            proxies = self._live_proxies()
            waiting = [
                p for p in proxies
                if p.setting_version < setting.version
                or (p.hold_id == hold_id and p.hold_state == HoldState.HOLDING)
            ]  # fmt: skip
            if not waiting:
                mine = [p for p in proxies if p.hold_id == hold_id]
                late = [p for p in mine if p.hold_state != HoldState.RELEASED]
                held = sum(p.held_writes for p in mine)
                log.info("writes released", system=self.system_id, hold_id=hold_id,
                         proxies=len(proxies), held=held,
                         system_of_record=setting.system_of_record.value)  # fmt: skip
                return ReleaseWritesResult(
                    released=True, setting=setting, proxies=len(proxies), held_writes=held,
                    detail=f"{len(late)} proxies ran out before the release" if late else None,
                )  # fmt: skip
            if time.monotonic() > deadline:
                raise RouterError(
                    f"{len(waiting)} builtin proxies of {self.system_id} did not take the "
                    f"release of write hold {hold_id} within "
                    f"{self.options.apply_timeout_s:g} s"
                )
            time.sleep(min(0.05, self.options.poll_s / 4))

    def _live_proxies(self, session: Session | None = None) -> list[_ProxySeen]:
        """The live proxies' last reports (in ``session`` when given: a second session
        in the same thread would wait on the first's lock under SQLite)."""
        from db.cutover import live_proxies
        from db.session import session_scope

        seen_since = _utcnow() - dt.timedelta(seconds=live_within(self.options))
        if session is None:
            with session_scope(self.database_url) as own:
                return self._live_proxies(own)
        return [
            _ProxySeen(p.setting_version, p.hold_id, p.hold_state, p.in_flight_writes,
                       p.held_writes)
            for p in live_proxies(session, self.system_id, seen_since=seen_since)
        ]  # fmt: skip

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True)
class _ProxySeen:
    """One live proxy's last report."""

    setting_version: int
    hold_id: int
    hold_state: str
    in_flight_writes: int
    held_writes: int

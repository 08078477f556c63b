"""The built-in router's controller: ``BuiltinRouter`` steers one system's builtin
proxies (``adapters.router.proxy``, served by ``adapters.router.serving``) through the
engine database.

It writes the live setting and the write hold, and reads back what the proxies report
(their acknowledgements, their part in the hold, their figures), all through a
``ControllerStore`` (``adapters.router.store``); the proxies reach the same database
through a ``RouterStore``. Neither holds the other's code: any number of proxy processes
can run for one system, each following the database on its own.

The write hold at the switch of the system of record (``hold_writes`` then
``release_writes``; see docs/cutover.md): the controller sets the hold and waits until
every live proxy has taken it and has no write in flight to the old system of record;
the release names the new system of record in the same row, and the controller waits
until every proxy has let its held writes go there.
"""

from __future__ import annotations

import datetime as dt
import time

import httpx

from adapters.router.proxy import ADMIN_PREFIX, VERSION_HEADER, CutoverProxy, live_within
from adapters.router.routing import probe_sides
from adapters.router.store import ControllerStore, ProxyReport, SqlRouterStore
from adapters.router.writes import HoldState
from config.log import get_logger
from config.migration_plan import MigrationPlan
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


def build_proxy(
    plan: MigrationPlan, settings: Settings, *, port: int | None = None
) -> CutoverProxy:
    """The proxy app for a plan's system (see ``adapters.router.serving``)."""
    from adapters.router.serving import build_proxy as build

    return build(plan, settings, port=port)


def run_proxy(plan_path: str, settings: Settings, host: str, port: int) -> None:
    """Serve the built-in router for a plan's system until interrupted (blocks); see
    ``adapters.router.serving.run_proxy``. Here for ``switchover router``."""
    from adapters.router.serving import run_proxy as run

    run(plan_path, settings, host, port)


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
        store: ControllerStore | None = None,
    ) -> None:
        if plan.cutover is None:
            raise RouterError(f"the plan for {plan.system.id} has no cutover section")
        self.plan = plan
        self.cutover = plan.cutover
        self.options = self.cutover.builtin
        self.system_id = plan.system.id
        self.store: ControllerStore = store or SqlRouterStore(
            settings.resolved_database_url, plan.system.id, instance="controller"
        )
        self.phase = phase
        self.client = httpx.Client(timeout=5, trust_env=False)

    def apply(self, setting: RouterSetting) -> None:
        """Make ``setting`` the live one and wait for the proxies to take it.

        The phase stored with it is the one given to the constructor, else the row's
        current phase, else shadow or stage as the setting suggests.

        Raises:
            RouterError: no proxy took the new version within ``apply_timeout_s``.
        """
        stored = self.store.set_setting(setting, self.phase)
        self._wait_for(stored.version)

    def _wait_for(self, version: int) -> None:
        deadline = time.monotonic() + self.options.apply_timeout_s
        waiting: list[str] = list(self.options.proxy_urls) or ["the engine database"]
        while True:
            if self.options.proxy_urls:
                waiting = [url for url in waiting if self._proxy_version(url) < version]
            elif self.store.acknowledged(version):
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
        return self.store.live().setting

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
        return self.store.metrics(since, setting_version)

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
        started = time.monotonic()
        hold = self.store.hold(self.options.hold_max_s)
        hold_id, max_s = hold.hold_id, hold.max_s or self.options.hold_max_s
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
        live = self.store.live()
        if live.hold.hold_id == hold_id:
            self.store.release(live.setting.system_of_record, hold_id=hold_id)

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
        margin = self.options.poll_s + 1.0
        live = self.store.live()
        hold, record = live.hold, live.setting.system_of_record
        if hold.state is WriteHold.NONE:
            return ReleaseWritesResult(released=False, detail="no write hold is in force")
        hold_id = hold.hold_id
        done = hold.state is WriteHold.RELEASED
        if done and record is not system_of_record:
            return ReleaseWritesResult(
                released=False, detail=f"hold {hold_id} was released to {record.value}"
            )
        if not done:
            ends = (hold.started_at or _utcnow()) + dt.timedelta(seconds=hold.max_s)
            ran_out = [
                p for p in self._live_proxies()
                if p.hold_id == hold_id and p.hold_state != HoldState.HOLDING
            ]  # fmt: skip
            if ran_out or _utcnow() + dt.timedelta(seconds=margin) >= ends:
                return ReleaseWritesResult(
                    released=False,
                    detail=f"write hold {hold_id} ran out before the release: hold again",
                )
        setting = self.store.release(system_of_record, hold_id=hold_id,
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

    def _live_proxies(self) -> list[ProxyReport]:
        """The last reports of the proxies the controller counts live."""
        return self.store.proxies(_utcnow() - dt.timedelta(seconds=live_within(self.options)))

    def close(self) -> None:
        self.client.close()

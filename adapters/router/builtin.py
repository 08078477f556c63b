"""The built-in router: our own asynchronous reverse proxy, steered through the engine
database.

``run_proxy`` serves a plain ASGI app (``CutoverProxy``) under uvicorn in front of a
system's legacy and modern services. Any number of proxy processes can run for one
system: each polls the system's ``cutover_states`` row every ``poll_s`` and applies the
newest version, and each stores what it saw (per setting version and side) as a
``router_metric_windows`` row every ``flush_s``. When a proxy takes a new version it
stores an empty window at once: that is its acknowledgement, which ``BuiltinRouter.apply``
waits for when the plan lists no proxy addresses to ask.

Per request: a write goes to the system of record and is never shadowed; a read goes to
the side its sticky key (or a random draw) picks; when shadowing, a GET or HEAD is also
sent to the other side in the background and the two answers are compared after the
client has its own. Errors are 5xx answers and failures to get one (refused
connections, timeouts: the client then gets 502 or 504); latency is the time the
upstream took. Paths under ``/_switchover/`` belong to the proxy itself.

Upstream requests go through ``adapters.router.upstream`` (kept-alive HTTP/1.1
connections per side, h11 framing), not httpx: see that module for the measurement
that decided it. httpx serves the blocking ``BuiltinRouter`` (admin and health calls).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapters.router.routing import (
    SHADOWED_METHODS,
    StickyKey,
    choose_side,
    is_write,
    probe_sides,
)
from adapters.router.shadow import IgnorePath, parse_ignore_path, same_answer
from adapters.router.upstream import UpstreamError, UpstreamPool, UpstreamTimeout
from config.log import get_logger
from config.migration_plan import BuiltinRouterOptions, CutoverPlan, MigrationPlan, load_plan
from config.settings import Settings
from domain.cutover import (
    CutoverPhase,
    RouterHealth,
    RouterMetrics,
    RouterSetting,
    Side,
    SideMetrics,
    empty_histogram,
    latency_bucket,
)
from domain.errors import RouterError, SwitchoverError

log = get_logger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ADMIN_PREFIX = "/_switchover/"
VERSION_HEADER = "x-switchover-version"

# Hop-by-hop headers (RFC 9110, 7.6.1) are for one connection, not for the next hop.
_HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade", "proxy-connection", "host",
    }
)  # fmt: skip


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- figures ----------------------------------------------------------------------------


@dataclass
class _Tally:
    """One side's figures under one setting version, since the last flush."""

    requests: int = 0
    errors: int = 0
    histogram: list[int] = field(default_factory=empty_histogram)
    compared: int = 0
    mismatched: int = 0

    def merge(self, other: _Tally) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.compared += other.compared
        self.mismatched += other.mismatched
        for i, count in enumerate(other.histogram):
            self.histogram[i] += count


class _Figures:
    """What a proxy saw, per (setting version, side), until the next flush.

    Only the event loop's thread touches it, so it needs no lock.
    """

    def __init__(self) -> None:
        self.tallies: dict[tuple[int, Side], _Tally] = {}

    def _tally(self, version: int, side: Side) -> _Tally:
        key = (version, side)
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = _Tally()
        return tally

    def request(self, version: int, side: Side, *, error: bool, seconds: float) -> None:
        tally = self._tally(version, side)
        tally.requests += 1
        tally.errors += error
        tally.histogram[latency_bucket(seconds * 1000)] += 1

    def comparison(self, version: int, shadowed: Side, *, matched: bool) -> None:
        tally = self._tally(version, shadowed)
        tally.compared += 1
        tally.mismatched += not matched

    def take(self) -> dict[tuple[int, Side], _Tally]:
        taken, self.tallies = self.tallies, {}
        return taken

    def put_back(self, taken: dict[tuple[int, Side], _Tally]) -> None:
        for (version, side), tally in taken.items():
            self._tally(version, side).merge(tally)


# --- the engine database, as the proxy uses it ------------------------------------------


class _SettingStore:
    """The proxy's blocking calls to the engine database (run in a thread)."""

    def __init__(self, database_url: str, system_id: str, instance: str) -> None:
        self.database_url = database_url
        self.system_id = system_id
        self.instance = instance

    def read(self) -> RouterSetting:
        from db.cutover import cutover_state, setting_of
        from db.session import session_scope

        with session_scope(self.database_url) as session:
            return setting_of(cutover_state(session, self.system_id))

    def store(
        self,
        windows: dict[tuple[int, Side], _Tally],
        start: dt.datetime,
        end: dt.datetime,
    ) -> None:
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


# --- the proxy ----------------------------------------------------------------------------


@dataclass
class _Answer:
    """An upstream's whole answer, kept when it is to be compared."""

    status: int
    body: bytes


class CutoverProxy:
    """The ASGI app: splits one system's requests between legacy and modern.

    Args:
        plan: the system's cutover section.
        system_id: whose ``cutover_states`` row to follow.
        store: the engine database; None runs on ``initial`` alone (unit tests).
        initial: the setting to start with before the first poll.
        instance: this proxy's name in its metric windows.
    """

    def __init__(
        self,
        plan: CutoverPlan,
        system_id: str,
        *,
        store: _SettingStore | None,
        initial: RouterSetting | None = None,
        instance: str | None = None,
    ) -> None:
        self.plan = plan
        self.options: BuiltinRouterOptions = plan.builtin
        self.system_id = system_id
        self.store = store
        self.setting = initial or RouterSetting()
        self.instance = instance or f"{socket.gethostname()}:{os.getpid()}"
        self.sticky = StickyKey.parse(plan.sticky_key) if plan.sticky_key else None
        self.ignore: list[IgnorePath] = [parse_ignore_path(p) for p in plan.shadow_ignore]
        self.bases = {Side.LEGACY: plan.legacy_url, Side.MODERN: plan.modern_url}
        self.figures = _Figures()
        self.pools: dict[Side, UpstreamPool] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._window_start = _utcnow()
        self._random = random.Random()

    # --- lifespan ---

    async def startup(self) -> None:
        """Open the upstream connection pools, read the live setting, start the loops."""
        self.pools = {
            side: UpstreamPool(
                base,
                max_connections=self.options.max_connections,
                connect_timeout=self.options.connect_timeout_s,
                timeout=self.options.upstream_timeout_s,
            )
            for side, base in self.bases.items()
        }
        if self.store is not None:
            # No setting, no start: routing on a default would send writes to legacy even
            # after modern became the system of record.
            await self._poll_once()
            self._spawn(self._poll_loop())
            self._spawn(self._flush_loop())

    async def shutdown(self) -> None:
        """Stop the loops, store the last figures, close the pool."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.store is not None:
            with contextlib.suppress(SwitchoverError):
                await self.flush()
        for pool in self.pools.values():
            await pool.aclose()

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll_once(self) -> None:
        assert self.store is not None
        newest = await asyncio.to_thread(self.store.read)
        if newest.version != self.setting.version:
            self.setting = newest
            log.info(
                "router setting taken",
                system=self.system_id,
                version=newest.version,
                modern_percent=newest.modern_percent,
                shadow=newest.shadow,
            )
            if newest.version > 0:
                # An empty window is this proxy's acknowledgement of the version.
                now = _utcnow()
                ack = {(newest.version, Side.LEGACY): _Tally()}
                await asyncio.to_thread(self.store.store, ack, now, now)

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.poll_s)
            try:
                await self._poll_once()
            except SwitchoverError as e:
                # Keep routing on the last setting known; the database may come back.
                log.warning("cannot read the router setting", system=self.system_id, error=str(e))

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.flush_s)
            try:
                await self.flush()
            except SwitchoverError as e:
                log.warning("cannot store router figures", system=self.system_id, error=str(e))

    async def flush(self) -> None:
        """Store the figures gathered since the last flush as one window per version and
        side; on failure keep them for the next flush."""
        assert self.store is not None
        taken = self.figures.take()
        start, end = self._window_start, _utcnow()
        if not taken:
            self._window_start = end
            return
        try:
            await asyncio.to_thread(self.store.store, taken, start, end)
        except BaseException:
            self.figures.put_back(taken)
            raise
        self._window_start = end

    # --- ASGI ---

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets are not proxied
        if scope["path"].startswith(ADMIN_PREFIX):
            await self._admin(scope, send)
            return
        await self._proxy(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as e:  # uvicorn reports it and exits
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _admin(self, scope: Scope, send: Send) -> None:
        setting = self.setting
        if scope["path"] == ADMIN_PREFIX + "setting":
            await _send_json(send, 200, setting.model_dump(mode="json"), setting.version)
        elif scope["path"] == ADMIN_PREFIX + "health":
            health = await self.health()
            await _send_json(send, 200, health.model_dump(mode="json"), setting.version)
        else:
            await _send_json(send, 404, {"error": "no such admin path"}, setting.version)

    async def health(self) -> RouterHealth:
        """Whether each side answers the plan's health path below 500."""

        async def answers(side: Side) -> str | None:
            try:
                async with asyncio.timeout(5):
                    response = await self.pools[side].request(
                        "GET", self.plan.health_path, [], b"", retry=True
                    )
                    try:
                        await response.read()
                    finally:
                        await response.aclose()
            except (UpstreamError, TimeoutError) as e:
                return f"{side.value}: {type(e).__name__}"
            return f"{side.value}: {response.status}" if response.status >= 500 else None

        legacy, modern = await asyncio.gather(answers(Side.LEGACY), answers(Side.MODERN))
        problems = [p for p in (legacy, modern) if p]
        return RouterHealth(
            legacy=legacy is None, modern=modern is None, detail="; ".join(problems) or None
        )

    def _route(self, scope: Scope, headers: dict[str, str]) -> tuple[Side, bool]:
        method = scope["method"]
        setting = self.setting
        sticky = self.sticky.value(scope["path"], headers) if self.sticky else None
        side = choose_side(setting, method, sticky, self._random.randrange(100))
        shadow = setting.shadow and not is_write(method) and method in SHADOWED_METHODS
        return side, shadow

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        side, shadow = self._route(scope, headers)
        version = self.setting.version
        forwarded = [
            (k, v)
            for k, v in raw_headers
            if k.decode("latin-1").lower() not in _HOP_BY_HOP and k.lower() != b"x-forwarded-for"
        ]
        client_addr = scope.get("client")
        prior = headers.get("x-forwarded-for")
        if client_addr:
            chain = f"{prior}, {client_addr[0]}" if prior else client_addr[0]
            forwarded.append((b"x-forwarded-for", chain.encode("latin-1")))
        elif prior:
            forwarded.append((b"x-forwarded-for", prior.encode("latin-1")))
        target = scope["raw_path"].decode("latin-1") if scope.get("raw_path") else scope["path"]
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        method = scope["method"]

        if shadow:
            body = await _read_body(receive)
            shadow_task = asyncio.ensure_future(
                self._fetch_whole(side.other, method, target, forwarded, body, version)
            )
            answer = await self._relay(side, method, target, forwarded, body, version, send,
                                       keep=True)  # fmt: skip
            self._spawn(self._compare(answer, shadow_task, side.other, version))
            return
        # A read's body (rare) is read whole so the read can be retried; a write's streams.
        content = _body_stream(receive) if is_write(method) else await _read_body(receive)
        await self._relay(side, method, target, forwarded, content, version, send, keep=False)

    async def _relay(
        self,
        side: Side,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        content: bytes | AsyncIterator[bytes],
        version: int,
        send: Send,
        *,
        keep: bool,
    ) -> _Answer | None:
        """Forward a request and stream the answer back as it arrives.

        Args:
            keep: also keep the answer (up to ``max_compare_bytes``) to compare it with the
                shadow's; larger answers are streamed all the same but not compared.
        """
        started = time.perf_counter()
        try:
            response = await self.pools[side].request(
                method, target, headers, content, retry=not is_write(method)
            )
        except UpstreamError as e:
            self.figures.request(version, side, error=True, seconds=time.perf_counter() - started)
            await _send_gateway_error(send, e, side, version)
            return None
        kept: bytearray | None = bytearray() if keep else None
        error = response.status >= 500
        try:
            await send(_start(response.status, response.headers, side, version))
            # Each chunk is held until the next one comes, so the last one goes out with
            # the end of the answer: one write to the client fewer per request.
            held = b""
            async for chunk in response.body():
                if kept is not None:
                    kept += chunk
                    if len(kept) > self.options.max_compare_bytes:
                        kept = None
                if held:
                    await send({"type": "http.response.body", "body": held, "more_body": True})
                held = chunk
            await send({"type": "http.response.body", "body": held, "more_body": False})
        except UpstreamError:
            # The upstream broke off mid-answer; the client's answer is cut short too.
            error, kept = True, None
        finally:
            await response.aclose()
        self.figures.request(version, side, error=error, seconds=time.perf_counter() - started)
        if kept is None:
            return None
        encoding = response.header(b"content-encoding")
        return _Answer(response.status, _decoded(bytes(kept), encoding))

    async def _fetch_whole(
        self,
        side: Side,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        version: int,
    ) -> _Answer | None:
        """One side's whole answer (None when it could not be had), counted in figures."""
        started = time.perf_counter()
        try:
            response = await self.pools[side].request(method, target, headers, body, retry=True)
            try:
                content = await response.read()
            finally:
                await response.aclose()
        except UpstreamError:
            self.figures.request(version, side, error=True, seconds=time.perf_counter() - started)
            return None
        self.figures.request(
            version, side, error=response.status >= 500, seconds=time.perf_counter() - started
        )
        return _Answer(response.status, _decoded(content, response.header(b"content-encoding")))

    async def _compare(
        self,
        primary: _Answer | None,
        shadow_task: asyncio.Future[_Answer | None],
        shadowed: Side,
        version: int,
    ) -> None:
        shadow = await shadow_task
        if primary is None or shadow is None:
            return  # a failure is counted as an error of its side, not as a comparison
        matched = same_answer(
            (primary.status, primary.body), (shadow.status, shadow.body), self.ignore
        )
        self.figures.comparison(version, shadowed, matched=matched)


def _decoded(body: bytes, encoding: bytes | None) -> bytes:
    if not encoding or encoding == b"identity":
        return body
    import gzip
    import zlib

    try:
        if encoding == b"gzip":
            return gzip.decompress(body)
        if encoding == b"deflate":
            return zlib.decompress(body)
    except (OSError, zlib.error):
        return body
    return body


def _start(
    status: int, raw_headers: list[tuple[bytes, bytes]], side: Side, version: int
) -> Message:
    headers = [(k, v) for k, v in raw_headers if k.lower().decode("latin-1") not in _HOP_BY_HOP]
    headers.append((VERSION_HEADER.encode(), str(version).encode()))
    headers.append((b"x-switchover-side", side.value.encode()))
    return {"type": "http.response.start", "status": status, "headers": headers}


async def _send_gateway_error(send: Send, error: UpstreamError, side: Side, version: int) -> None:
    status = 504 if isinstance(error, UpstreamTimeout) else 502
    body = json.dumps(
        {"error": f"the {side.value} service did not answer ({type(error).__name__})"}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(_start(status, headers, side, version))
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_json(send: Send, status: int, data: Any, version: int) -> None:
    body = json.dumps(data).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (VERSION_HEADER.encode(), str(version).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _read_body(receive: Receive) -> bytes:
    chunks = [chunk async for chunk in _body_stream(receive)]
    return b"".join(chunks)


async def _body_stream(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


# --- running it ---------------------------------------------------------------------------


def build_proxy(
    plan: MigrationPlan, settings: Settings, *, port: int | None = None
) -> CutoverProxy:
    """The proxy app for a plan's system, steered through the settings' engine database."""
    cutover = _cutover(plan)
    instance = f"{socket.gethostname()}:{os.getpid()}" + (f":{port}" if port else "")
    store = _SettingStore(settings.resolved_database_url, plan.system.id, instance)
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

    def close(self) -> None:
        self.client.close()

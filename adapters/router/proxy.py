"""The built-in router's proxy: a plain ASGI app (``CutoverProxy``) that splits one
system's requests between its legacy and modern services, counts what it saw, and holds
writes at the switch of the system of record.

It follows the engine database through a ``RouterStore`` (``adapters.router.store``):
every ``poll_s`` it reads the system's live state (setting, write hold, applied-up-to
mark) and reports itself (the version it serves, its part in the hold, its writes in
flight); every ``flush_s`` it stores what it saw (per setting version and side) as a
metric window. When it takes a new version it stores an empty window at once: that is
its acknowledgement, which ``BuiltinRouter.apply`` waits for when the plan lists no
proxy addresses to ask. The controller that sets the live state is
``adapters.router.builtin.BuiltinRouter``.

Per request: a write goes to the system of record and is never shadowed; while a write
hold is in force it waits first (``adapters.router.writes``). A read goes to the side its
sticky key (or a random draw) picks, except that a citizen whose last write the other
side has not applied yet reads from the system of record; when shadowing, a GET or HEAD
is also sent to the other side in the background and the two answers are compared after
the client has its own. Errors are 5xx answers and failures to get one (refused
connections, timeouts: the client then gets 502 or 504); latency is the time the
upstream took. Paths under ``/_switchover/`` belong to the proxy itself.

A proxy that has not read the engine database for ``fence_s`` answers writes 503 with
Retry-After: it cannot know whether a hold is in force or which side is the system of
record, and the controller no longer counts it as live.

Upstream requests go through ``adapters.router.upstream`` (kept-alive HTTP/1.1
connections per side), not httpx: see that module for the measurement that decided it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from adapters.router.routing import (
    SHADOWED_METHODS,
    StickyKey,
    choose_side,
    is_write,
)
from adapters.router.shadow import IgnorePath, parse_ignore_path, same_answer
from adapters.router.store import LiveState, ProxyReport, RouterStore, Windows, WindowTally
from adapters.router.upstream import UpstreamError, UpstreamPool, UpstreamTimeout
from adapters.router.writes import HoldState, RecentWriters, WriteGate
from config.log import get_logger
from config.migration_plan import BuiltinRouterOptions, CutoverPlan
from domain.cutover import (
    RouterHealth,
    RouterSetting,
    Side,
    WriteHold,
    latency_bucket,
)
from domain.errors import SwitchoverError

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
        b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
        b"trailer", b"transfer-encoding", b"upgrade", b"proxy-connection", b"host",
    }
)  # fmt: skip
_VERSION_HEADER = VERSION_HEADER.encode()
_SIDE_HEADER = {side: side.value.encode() for side in Side}


def fence_after(options: BuiltinRouterOptions) -> float:
    """Seconds without reading the engine database after which a proxy refuses writes."""
    return max(3.0, 2 * options.poll_s + 1.0)


def live_within(options: BuiltinRouterOptions) -> float:
    """Seconds since its last report within which the controller counts a proxy live:
    longer than ``fence_after``, so a proxy it no longer counts already refuses writes."""
    return fence_after(options) + options.poll_s + 2.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- figures ----------------------------------------------------------------------------


class _Figures:
    """What a proxy saw, per (setting version, side), until the next flush.

    Only the event loop's thread touches it, so it needs no lock.
    """

    def __init__(self) -> None:
        self.tallies: Windows = {}

    def _tally(self, version: int, side: Side) -> WindowTally:
        key = (version, side)
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = WindowTally()
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

    def take(self) -> Windows:
        taken, self.tallies = self.tallies, {}
        return taken

    def put_back(self, taken: Windows) -> None:
        for (version, side), tally in taken.items():
            self._tally(version, side).merge(tally)


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
        store: the engine database (``SqlRouterStore``, or ``MemoryRouterStore`` in
            tests); None runs on ``initial`` alone, with no hold (unit tests).
        initial: the setting to start with before the first poll.
        instance: this proxy's name in its metric windows and reports.
    """

    def __init__(
        self,
        plan: CutoverPlan,
        system_id: str,
        *,
        store: RouterStore | None,
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
        # The one request header the sticky key is read from, if any.
        self._wanted_name = (
            None if self.sticky is None or self.sticky.kind == "path"
            else self.sticky.name if self.sticky.kind == "header" else "cookie"
        )  # fmt: skip
        self._wanted = self._wanted_name.encode("latin-1") if self._wanted_name else None
        self.ignore: list[IgnorePath] = [parse_ignore_path(p) for p in plan.shadow_ignore]
        self.bases = {Side.LEGACY: plan.legacy_url, Side.MODERN: plan.modern_url}
        self.figures = _Figures()
        self.pools: dict[Side, UpstreamPool] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._window_start = _utcnow()
        self._random = random.Random()
        self.gate = WriteGate(changed=self._hold_changed)
        self.recent = RecentWriters(system_id)
        self._read_at = time.monotonic()  # the last successful read of the live state
        self._fence_s = fence_after(self.options)

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
        """Read the live state and take it; report; share recent writes."""
        assert self.store is not None
        live = await asyncio.to_thread(self.store.read)
        self._read_at = time.monotonic()
        newest = live.setting
        changed = newest.version != self.setting.version
        if changed:
            if newest.system_of_record is not self.setting.system_of_record:
                self.recent.clear()
            self.setting = newest
            log.info(
                "router setting taken",
                system=self.system_id,
                version=newest.version,
                modern_percent=newest.modern_percent,
                shadow=newest.shadow,
                system_of_record=newest.system_of_record.value,
            )
        # The hold right after the setting, with no await between: a release comes with
        # the setting naming the new system of record (one query), so held writes go there.
        self._take_hold(live)
        self.recent.set_mark(live.applied_up_to)
        if changed and newest.version > 0:
            # An empty window is this proxy's acknowledgement of the version.
            now = _utcnow()
            ack = {(newest.version, Side.LEGACY): WindowTally()}
            await asyncio.to_thread(self.store.store, ack, now, now)
        await self.report()
        if self._tracks_writes() or len(self.recent):
            await self._share_writes()

    def _take_hold(self, live: LiveState) -> None:
        hold = live.hold
        if hold.hold_id > self.gate.hold_id:
            remaining = hold.remaining_s(_utcnow())
            if hold.state is not WriteHold.HOLDING:
                self.gate.skip(hold.hold_id, HoldState.RELEASED)
            elif remaining <= 0:
                self.gate.skip(hold.hold_id, HoldState.EXPIRED)
            else:
                self.gate.take(hold.hold_id, remaining, fenced=self._fenced)
        elif (
            hold.hold_id == self.gate.hold_id
            and hold.state is WriteHold.RELEASED
            and self.gate.state == HoldState.HOLDING
        ):
            self.gate.release()

    def _fenced(self) -> bool:
        return self.store is not None and time.monotonic() - self._read_at > self._fence_s

    def _hold_changed(self) -> None:
        gate = self.gate
        log.info(
            "write hold " + gate.state,
            system=self.system_id,
            hold_id=gate.hold_id,
            in_flight=gate.in_flight,
            held=gate.held,
            held_s=round(gate.held_s, 3) if gate.held_s is not None else None,
        )
        if self.store is not None:
            self._spawn(self._report_quietly())

    async def _report_quietly(self) -> None:
        with contextlib.suppress(SwitchoverError):
            await self.report()

    async def report(self) -> None:
        """Tell the controller the version served, the hold taken, the writes in flight."""
        assert self.store is not None
        gate = self.gate
        report = ProxyReport(
            instance=self.instance, setting_version=self.setting.version,
            hold_id=gate.hold_id, hold_state=gate.state, in_flight_writes=gate.in_flight,
            held_writes=gate.held,
        )  # fmt: skip
        await asyncio.to_thread(self.store.report, report)

    def _tracks_writes(self) -> bool:
        """Whether some citizens read from, or are compared with, the side that is not the
        system of record, now or at a later stage: their writes are then remembered
        until the catch-up's mark passes them. Their reads are sent to the system of
        record only once a mark has come (without one they could never go back to their
        side); a shadowed read of a write not known to be applied is not compared
        either way."""
        setting = self.setting
        if self.sticky is None:
            return False
        if setting.system_of_record is Side.LEGACY:
            return True  # shadowed, or a stage, or the next stage
        return setting.shadow or setting.modern_percent < 100

    async def _share_writes(self) -> None:
        assert self.store is not None
        mine = self.recent.take_unshared()
        try:
            if mine:
                await asyncio.to_thread(self.store.share_writes, mine)
        except BaseException:
            self.recent.put_back(mine)
            raise
        theirs = await asyncio.to_thread(self.store.recent_writes, self.recent.shared_after)
        self.recent.learn(theirs)

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

    def _route(self, method: str, sticky: str | None) -> tuple[Side, bool]:
        """A read's side, and whether it is shadowed."""
        setting = self.setting
        drawn = self._random.randrange(100) if sticky is None else 0
        side = choose_side(setting, method, sticky, drawn)
        # The other side may not hold this citizen's last write yet: they read from the
        # system of record (read-your-writes), and a shadowed answer from the other side
        # would differ for no fault of its own, so it is not compared.
        pending = sticky is not None and bool(self.recent) and self.recent.read_from_record(sticky)
        if pending and self.recent.mark is not None:
            side = setting.system_of_record
        shadow = setting.shadow and method in SHADOWED_METHODS and not pending
        return side, shadow

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        forwarded, wanted, has_body = _pass_on(scope["headers"], scope.get("client"),
                                               self._wanted)  # fmt: skip
        sticky = None
        if self.sticky is not None:
            headers = {}
            if wanted is not None and self._wanted_name is not None:
                headers[self._wanted_name] = wanted.decode("latin-1")
            sticky = self.sticky.value(scope["path"], headers)
        raw_path = scope.get("raw_path")
        target = raw_path.decode("latin-1") if raw_path else scope["path"]
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")

        if is_write(method):
            await self._write(method, sticky, target, forwarded, receive, send)
            return
        side, shadow = self._route(method, sticky)
        version = self.setting.version
        # A read's body (rare) is read whole so the read can be retried.
        body = await _read_body(receive) if has_body else b""
        if shadow:
            shadow_task = asyncio.ensure_future(
                self._fetch_whole(side.other, method, target, forwarded, body, version)
            )
            answer = await self._relay(side, method, target, forwarded, body, version, send,
                                       keep=True)  # fmt: skip
            self._spawn(self._compare(answer, shadow_task, side.other, version))
            return
        await self._relay(side, method, target, forwarded, body, version, send, keep=False)

    async def _write(
        self,
        method: str,
        sticky: str | None,
        target: str,
        headers: list[tuple[bytes, bytes]],
        receive: Receive,
        send: Send,
    ) -> None:
        """A write: past the hold (if any), to the system of record, body streamed."""
        if self._fenced():
            await _send_unavailable(send, self.setting.version)
            return
        turn = None
        if self.gate.busy:
            turn = await self.gate.enter(sticky)
            if turn is None:
                await _send_unavailable(send, self.setting.version)
                return
        # The side is chosen after the hold: a release has named the system of record.
        setting = self.setting
        side = setting.system_of_record
        # Every citizen's write is tracked, wherever their reads go now: the next stage
        # may send their reads to the other side before it has applied this write.
        tracked = sticky is not None and self._tracks_writes()
        if tracked:
            assert sticky is not None
            self.recent.wrote(sticky, share=False)  # reads while it is in flight, too
        self.gate.sent()  # no await between the hold's check and here
        try:
            await self._relay(side, method, target, headers, _body_stream(receive),
                              setting.version, send, keep=False)  # fmt: skip
        finally:
            self.gate.answered()
            if turn is not None:
                self.gate.leave(turn)
        if tracked:
            assert sticky is not None
            # shared with the other proxies once there is a mark to forget them by
            self.recent.wrote(sticky, share=self.recent.mark is not None)

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
        error = response.status >= 500
        whole = response.whole
        if whole is not None:
            # The usual case: the whole answer came with its head; one message each.
            response.close()
            await send(_start(response.status, response.headers, side, version))
            await send({"type": "http.response.body", "body": whole, "more_body": False})
            self.figures.request(version, side, error=error, seconds=time.perf_counter() - started)
            if not keep or len(whole) > self.options.max_compare_bytes:
                return None
            encoding = response.header(b"content-encoding")
            return _Answer(response.status, _decoded(whole, encoding))
        kept: bytearray | None = bytearray() if keep else None
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
    # The upstream client gives header names lower-cased.
    headers = [(k, v) for k, v in raw_headers if k not in _HOP_BY_HOP]
    headers.append((_VERSION_HEADER, b"%d" % version))
    headers.append((b"x-switchover-side", _SIDE_HEADER[side]))
    return {"type": "http.response.start", "status": status, "headers": headers}


async def _send_gateway_error(send: Send, error: UpstreamError, side: Side, version: int) -> None:
    status = 504 if isinstance(error, UpstreamTimeout) else 502
    body = json.dumps(
        {"error": f"the {side.value} service did not answer ({type(error).__name__})"}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(_start(status, headers, side, version))
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_unavailable(send: Send, version: int) -> None:
    """A write this proxy cannot place: no side has it; the client may send it again."""
    body = b'{"error": "writes are paused for a moment; please retry"}'
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
                (VERSION_HEADER.encode(), str(version).encode()),
            ],
        }
    )
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


def _pass_on(
    raw_headers: list[tuple[bytes, bytes]], client: tuple[str, int] | None, wanted: bytes | None
) -> tuple[list[tuple[bytes, bytes]], bytes | None, bool]:
    """One pass over a request's headers: those to pass on (hop-by-hop ones left out,
    this client added to X-Forwarded-For), the value of the one named ``wanted`` (the
    sticky key's header or the cookies), and whether a body follows."""
    forwarded: list[tuple[bytes, bytes]] = []
    found: bytes | None = None
    prior: bytes | None = None
    has_body = False
    for name, value in raw_headers:
        lowered = name.lower()
        if lowered == wanted:
            found = value
        if lowered in _HOP_BY_HOP:
            has_body = has_body or lowered == b"transfer-encoding"
        elif lowered == b"x-forwarded-for":
            prior = value if prior is None else prior + b", " + value
        else:
            if lowered == b"content-length":
                has_body = value.strip() != b"0"
            forwarded.append((name, value))
    if client:
        address = client[0].encode("latin-1")
        forwarded.append((b"x-forwarded-for", prior + b", " + address if prior else address))
    elif prior:
        forwarded.append((b"x-forwarded-for", prior))
    return forwarded, found, has_body


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

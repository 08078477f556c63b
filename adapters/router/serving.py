"""How the builtin proxy is served: ``run_proxy`` runs one system's ``CutoverProxy``
behind ``ProxyServer``, steered through the engine database by a ``SqlRouterStore``;
any number of proxy processes can run for one system.

``ProxyServer`` is a small HTTP/1.1 server for ASGI apps on asyncio protocols, parsing
with httptools (uvloop's loop where installed). It replaces uvicorn here because, with a
service that answers at once, uvicorn's own work per request was a third of the proxy's
(a task wrapper, a flow-control object and an event per request, a keep-alive timer
armed and cancelled per answer, two regular expressions per header sent) and it wrote
an answer's head and its body in two system calls, which on loopback cost as much as the
rest. Here an answer's head waits for its first body part and both leave in one write.

What it does: keep-alive and pipelined requests (answered in order), request bodies
streamed to the app as they arrive (chunked ones de-chunked by httptools), ``Expect:
100-continue``, answers framed by the app's ``Content-Length`` or else chunked (HTTP/1.0
clients: until the close), HEAD, 204 and 304 without a body, flow control both ways, 400
for a request it cannot parse, 500 when the app fails before answering. Idle
connections close after ``keep_alive_s``. Not: TLS, HTTP/2, WebSockets (the proxy passes
none of them on).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import unquote

import httptools

from adapters.router.proxy import CutoverProxy
from adapters.router.store import SqlRouterStore
from config.log import get_logger
from config.migration_plan import MigrationPlan, load_plan
from config.settings import Settings
from domain.errors import RouterError

log = get_logger(__name__)

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

_STATUS_LINE = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, HTTPStatus(code).phrase.encode())
    for code in range(100, 600)
    if code in HTTPStatus._value2member_map_
}
_NO_BODY = frozenset({204, 304})
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection"})
_HIGH_WATER = 262_144  # request body bytes buffered past which the connection stops reading
_ASGI = {"version": "3.0", "spec_version": "2.3"}


def _status_line(status: int) -> bytes:
    return _STATUS_LINE.get(status) or b"HTTP/1.1 %d \r\n" % status


class _Exchange:
    """One request and its answer on a connection: the app's ``receive`` and ``send``."""

    __slots__ = (
        "_body",
        "_connection",
        "_continue",
        "_head",
        "_waiter",
        "chunked",
        "complete",
        "head_only",
        "keep_alive",
        "more_body",
        "scope",
        "started",
    )

    def __init__(
        self, connection: _Connection, scope: dict[str, Any], *, keep_alive: bool, expect: bool
    ) -> None:
        self._connection = connection
        self.scope = scope
        self.keep_alive = keep_alive
        self.head_only = scope["method"] == "HEAD"
        self._continue = expect  # owes the client a 100 Continue before reading the body
        self._body = bytearray()
        self.more_body = True
        self._waiter: asyncio.Future[None] | None = None
        self._head: bytes | None = None
        self.started = False
        self.complete = False
        self.chunked = False

    # --- from the connection ---

    def body_part(self, data: bytes) -> None:
        self._body += data
        if len(self._body) > _HIGH_WATER:
            self._connection.pause_reading()
        self.wake()

    def body_done(self) -> None:
        self.more_body = False
        self.wake()

    def wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- ASGI ---

    async def receive(self) -> Message:
        connection = self._connection
        if connection.closed or self.complete:
            return {"type": "http.disconnect"}
        if self._continue:
            self._continue = False
            if not self.started:
                connection.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        while not self._body and self.more_body:
            connection.resume_reading()
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
            if connection.closed:
                return {"type": "http.disconnect"}
        body = bytes(self._body)
        self._body.clear()
        connection.resume_reading()
        return {"type": "http.request", "body": body, "more_body": self.more_body}

    async def send(self, message: Message) -> None:
        connection = self._connection
        if connection.closed:
            return
        if not self.started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"expected http.response.start, got {message['type']}")
            self._head = self._start(message["status"], message.get("headers", []))
            self.started = True
            return  # sent with the first part of the body
        if message["type"] != "http.response.body" or self.complete:
            raise RuntimeError(f"unexpected {message['type']} after the answer began or ended")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if self.head_only:
            data = b""  # nothing follows the head of an answer to HEAD
        elif self.chunked:
            data = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
            if not more:
                data += b"0\r\n\r\n"
        else:
            data = body
        if self._head is not None:
            data, self._head = self._head + data, None
        if data:
            await connection.drain()
            connection.write(data)
        if not more:
            self.complete = True
            connection.answered(self)

    def _start(self, status: int, headers: list[tuple[bytes, bytes]]) -> bytes:
        lines = [_status_line(status)]
        framed = False
        for name, value in headers:
            lines += (name, b": ", value, b"\r\n")
            lowered = name.lower()
            if lowered in _FRAMING:
                if lowered == b"connection":
                    self.keep_alive = self.keep_alive and b"close" not in value.lower()
                else:
                    framed = True
                    self.chunked = self.chunked or (
                        lowered == b"transfer-encoding" and b"chunked" in value.lower()
                    )
        if not framed and not self.head_only and status not in _NO_BODY and status >= 200:
            if self.scope["http_version"] == "1.1":
                self.chunked = True
                lines.append(b"transfer-encoding: chunked\r\n")
            else:
                self.keep_alive = False  # an HTTP/1.0 client reads to the close
        if not self.keep_alive:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        head = b"".join(lines)
        # One scan for a line break inside a name or value (response splitting).
        breaks = head.count(b"\n")
        if breaks != len(lines) - 3 * len(headers) or head.count(b"\r") != breaks:
            raise RuntimeError("a header holds a line break")
        return head


class _Connection(asyncio.Protocol):
    """One client connection: parses requests and runs the app on each, in order."""

    def __init__(self, server: ProxyServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.client: tuple[str, int] | None = None
        self.address: tuple[str, int] | None = None
        self.current: _Exchange | None = None  # being answered
        self.incoming: _Exchange | None = None  # whose body is being read
        self.waiting: deque[_Exchange] = deque()  # pipelined, not yet begun
        self.idle_since: float | None = time.monotonic()
        self._reading = True
        self._drained: asyncio.Future[None] | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._expect = False

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self.client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None
        self.address = (str(local[0]), int(local[1])) if isinstance(local, tuple) else None
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.idle_since = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(b"501 Not Implemented", b"upgrades are not proxied")
        except httptools.HttpParserError:
            self._refuse(b"400 Bad Request", b"malformed request")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        for exchange in (self.current, self.incoming, *self.waiting):
            if exchange is not None:
                exchange.wake()
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = self.loop.create_future()

    def resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # --- httptools callbacks ---

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._expect = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        self._headers.append((name, value))
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect = True

    def on_headers_complete(self) -> None:
        parser = self.parser
        url = httptools.parse_url(self._url)
        raw_path = url.path
        path = raw_path.decode("ascii", "replace")
        if "%" in path:
            path = unquote(path)
        version = parser.get_http_version()
        headers = self._headers
        scope = {
            "type": "http", "asgi": _ASGI, "http_version": version, "scheme": "http",
            "method": parser.get_method().decode("ascii"), "path": path,
            "raw_path": raw_path, "query_string": url.query or b"", "root_path": "",
            "headers": headers, "client": self.client, "server": self.address,
        }  # fmt: skip
        exchange = _Exchange(
            self, scope, keep_alive=parser.should_keep_alive(), expect=self._expect
        )
        self.incoming = exchange
        if self.current is None:
            self._begin(exchange)
        else:
            self.waiting.append(exchange)
            self.pause_reading()  # one answer at a time: read on once this one is sent

    def on_body(self, body: bytes) -> None:
        if self.incoming is not None:
            self.incoming.body_part(body)

    def on_message_complete(self) -> None:
        if self.incoming is not None:
            self.incoming.body_done()

    # --- for the exchanges ---

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not self.closed and not transport.is_closing():
            transport.write(data)

    async def drain(self) -> None:
        if self._drained is not None:
            await self._drained

    def pause_reading(self) -> None:
        if self._reading and self.transport is not None and not self.closed:
            self._reading = False
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self._reading and self.transport is not None and not self.closed:
            self._reading = True
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def answered(self, exchange: _Exchange) -> None:
        """The answer to the current request was sent whole."""
        if not exchange.keep_alive:
            self.close()
            return
        self.current = None
        if self.waiting:
            self._begin(self.waiting.popleft())
        else:
            self.idle_since = time.monotonic()
        self.resume_reading()

    def _begin(self, exchange: _Exchange) -> None:
        self.current = exchange
        self.server.run(self, exchange)

    def _refuse(self, status: bytes, reason: bytes) -> None:
        if self.current is None or not self.current.started:
            self.write(b"HTTP/1.1 %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
                       b"connection: close\r\n\r\n%s" % (status, len(reason), reason))  # fmt: skip
        self.close()


class ProxyServer:
    """Serves an ASGI app over HTTP/1.1 (see the module's docstring).

    Args:
        app: the ASGI app (``http`` scopes only: its start-up and shut-down are the
            caller's).
        keep_alive_s: how long an idle client connection is kept open.
    """

    def __init__(self, app: App, *, keep_alive_s: float = 5.0) -> None:
        self.app = app
        self.keep_alive_s = keep_alive_s
        self.connections: set[_Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_address=True, backlog=2048
        )
        self._sweeper = loop.call_later(1.0, self._sweep)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def run(self, connection: _Connection, exchange: _Exchange) -> None:
        task = connection.loop.create_task(self._answer(connection, exchange))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, connection: _Connection, exchange: _Exchange) -> None:
        try:
            await self.app(exchange.scope, exchange.receive, exchange.send)
        except Exception:
            log.exception("the proxy failed on a request")
            if not exchange.started and not connection.closed:
                connection.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n"
                                 b"connection: close\r\n\r\n")  # fmt: skip
            connection.close()
            return
        if not exchange.complete:
            connection.close()  # the app ended without finishing its answer

    def _sweep(self) -> None:
        """Close connections idle for longer than ``keep_alive_s``."""
        cutoff = time.monotonic() - self.keep_alive_s
        for connection in list(self.connections):
            if connection.idle_since is not None and connection.idle_since < cutoff:
                connection.close()
        self._sweeper = asyncio.get_running_loop().call_later(1.0, self._sweep)

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop taking connections, let the requests in progress finish (at most
        ``grace_s``), then close every connection."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            if connection.current is None:
                connection.close()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace_s)
        for connection in list(self.connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()


# --- running the proxy ----------------------------------------------------------------------


def build_proxy(
    plan: MigrationPlan, settings: Settings, *, port: int | None = None
) -> CutoverProxy:
    """The proxy app for a plan's system, steered through the settings' engine database."""
    if plan.cutover is None:
        raise RouterError(f"the plan for {plan.system.id} has no cutover section")
    instance = f"{socket.gethostname()}:{os.getpid()}" + (f":{port}" if port else "")
    store = SqlRouterStore(settings.resolved_database_url, plan.system.id, instance)
    return CutoverProxy(plan.cutover, plan.system.id, store=store, instance=instance)


async def serve_proxy(proxy: CutoverProxy, host: str, port: int) -> None:
    """Start the proxy, serve it until SIGINT or SIGTERM, then stop it gracefully.

    Raises:
        SwitchoverError: the proxy could not start (it cannot read its live setting).
    """
    await proxy.startup()
    server = ProxyServer(proxy)
    try:
        await server.start(host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        log.info("router listening", system=proxy.system_id, host=host, port=port)
        await stop.wait()
        await server.stop()
    finally:
        await proxy.shutdown()


def run_proxy(plan_path: str, settings: Settings, host: str, port: int) -> None:
    """Serve the built-in router for a plan's system until interrupted (blocks).

    Args:
        plan_path: the migration plan; its ``cutover`` section names both services.
        settings: where the engine database is.
        host: address to listen on.
        port: port to listen on.
    """
    plan = load_plan(plan_path)
    proxy = build_proxy(plan, settings, port=port)
    log.info("router starting", system=plan.system.id, host=host, port=port)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it on Linux
        asyncio.run(serve_proxy(proxy, host, port))
    else:
        uvloop.run(serve_proxy(proxy, host, port))

"""The proxy's HTTP/1.1 client to legacy and modern: kept-alive connections per side,
one request at a time on each, bodies streamed both ways.

Why not httpx: measured on this project's 2-core machine, an ``httpx.AsyncClient`` cost
the proxy about 1.5 ms per request (its pool scans every connection for each request,
and httpcore retries a failed ``import sniffio`` on every call when sniffio is not
installed): the proxy reached a twentieth of direct throughput. A first version of this
client framed messages with h11 and was then the proxy's largest cost after the
server's own parsing, so messages are framed here directly. A second one read through
``asyncio`` streams, with an ``asyncio.timeout`` around every read: per request that
was a timer armed and cancelled two or three times, a ``StreamReader`` wake-up per read
and an async generator per body, a fifth of the proxy's time. Each connection is now a
protocol that gathers bytes in a buffer; a small answer is usually whole in it when its
head is, and is handed over as one ``bytes`` (``UpstreamResponse.whole``). Time-outs are
deadlines that one timer per pool checks while a request waits.

The subset is small: a request line and headers out (a streamed body of unknown length
goes chunked); an answer's head in, then its body by ``Content-Length``, by chunks, or
until the upstream closes. Anything else is an ``UpstreamError`` (the client then gets
502).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Literal, cast
from urllib.parse import urlsplit

_READ_SIZE = 65_536
_MAX_HEAD = 65_536
_HIGH_WATER = 262_144  # buffered answer bytes past which the connection stops reading
# Methods whose requests carry no body unless one is given.
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"})
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"host", b"connection"})

Framing = Literal["none", "length", "chunked", "close"]


class UpstreamError(Exception):
    """The upstream could not be reached, or broke the exchange off."""


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer (or go on answering) in time."""


class _Connection(asyncio.Protocol):
    """One connection to the service: what arrives is kept in ``buffer`` until the
    exchange in progress takes it; ``wait`` gives way until more comes."""

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.reused = False
        self.deadline = 0.0  # monotonic; the pool's timer fails a wait past it
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._drained: asyncio.Future[None] | None = None

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._wake()
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # --- for the exchange ---

    def usable(self) -> bool:
        return not self.eof and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise UpstreamError(f"{self.pool.address} closed the connection")
        try:
            transport.write(data)
        except (OSError, RuntimeError) as e:  # uvloop: "the handler is closed"
            raise UpstreamError(f"sending to {self.pool.address} failed: {e}") from e

    async def drain(self) -> None:
        if self._drained is not None:
            await self._drained
        if self.eof:
            raise UpstreamError(f"{self.pool.address} closed the connection")

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def time_out(self) -> None:
        """Fail the wait in progress (the pool's timer calls this past the deadline)."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(UpstreamTimeout(f"{self.pool.address} did not answer in time"))

    async def wait(self) -> None:
        """Give way until more bytes (or the end) arrive, at most the pool's timeout.

        Raises:
            UpstreamTimeout: nothing came in time.
        """
        if self.eof:
            return
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self.deadline = time.monotonic() + self.pool.timeout
        self.pool.watch(self)
        await waiter

    async def read_some(self, size: int) -> bytes:
        """Up to ``size`` bytes; b"" once the upstream closed and nothing is left."""
        while not self.buffer:
            if self.eof:
                return b""
            await self.wait()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def read_line(self) -> bytes:
        """One CRLF-ended line, without its end."""
        start = 0
        while True:
            end = self.buffer.find(b"\r\n", start)
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 2]
                return line
            if len(self.buffer) > _MAX_HEAD:
                raise UpstreamError(f"{self.pool.address} sent a header or line over 64 KiB")
            if self.eof:
                raise UpstreamError(f"{self.pool.address} closed the connection")
            start = max(0, len(self.buffer) - 1)
            await self.wait()


class UpstreamResponse:
    """An answer whose body is read as it arrives; ``aclose`` gives the connection back
    (kept alive when the body was read to its end and the upstream allows it).

    ``whole`` is the body when it had all arrived with the head (None otherwise): read it
    from there, or through ``body``/``read``, which give it too.
    """

    def __init__(
        self,
        pool: UpstreamPool,
        connection: _Connection,
        status: int,
        headers: list[tuple[bytes, bytes]],
        framing: Framing,
        length: int,
        keep_alive: bool,
    ) -> None:
        self.status = status
        self.headers = headers
        self._pool = pool
        self._connection: _Connection | None = connection
        self._framing = framing
        self._length = length
        self._keep_alive = keep_alive and framing != "close"
        self._done = framing == "none"
        self.whole: bytes | None = b"" if self._done else None
        if framing == "length" and len(connection.buffer) >= length:
            buffer = connection.buffer
            self.whole = bytes(buffer[:length])
            del buffer[:length]
            self._done = True

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def body(self) -> AsyncIterator[bytes]:
        """The body's bytes as they come (as sent: no content decoding)."""
        if self.whole is not None:
            if self.whole:
                yield self.whole
            return
        connection = self._connection
        assert connection is not None
        address = self._pool.address
        if self._framing == "length":
            remaining = self._length
            while remaining:
                data = await connection.read_some(min(remaining, _READ_SIZE))
                if not data:
                    raise UpstreamError(f"{address} ended the answer {remaining} bytes early")
                remaining -= len(data)
                yield data
        elif self._framing == "chunked":
            while True:
                line = await connection.read_line()
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError as e:
                    raise UpstreamError(f"{address} sent a bad chunk size") from e
                if size == 0:
                    while await connection.read_line():
                        pass  # trailers: dropped
                    break
                while size:
                    data = await connection.read_some(min(size, _READ_SIZE))
                    if not data:
                        raise UpstreamError(f"{address} ended a chunk early")
                    size -= len(data)
                    yield data
                if await connection.read_line():
                    raise UpstreamError(f"{address} sent a chunk longer than it said")
        elif self._framing == "close":
            while data := await connection.read_some(_READ_SIZE):
                yield data
        self._done = True

    async def read(self) -> bytes:
        if self.whole is not None:
            return self.whole
        return b"".join([chunk async for chunk in self.body()])

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        """Give the connection back (the same as ``aclose``, without an await)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            reusable = self._done and self._keep_alive and not connection.buffer
            self._pool.release(connection, reusable=reusable)


class UpstreamPool:
    """Kept-alive connections to one service (``http://host:port`` or ``https://``).

    Args:
        base_url: the service's address; a path in it is ignored (targets are absolute).
        max_connections: connections open at most; more requests wait for one.
        connect_timeout: seconds to open a connection.
        timeout: seconds to wait for the answer's head, and for each part of its body.
    """

    def __init__(
        self, base_url: str, *, max_connections: int, connect_timeout: float, timeout: float
    ) -> None:
        parts = urlsplit(base_url)
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.tls else 80)
        self.address = f"{self.host}:{self.port}"
        default_port = self.port == (443 if self.tls else 80)
        self.host_header = (self.host if default_port else self.address).encode()
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._idle: deque[_Connection] = deque()
        self._free = max_connections  # connections that may still be taken
        self._queue: deque[asyncio.Future[None]] = deque()  # requests waiting for one
        self._ssl = ssl.create_default_context() if self.tls else None
        # Connections waiting on the upstream, and the timer that fails those past their
        # deadline: one timer for the pool, not one per wait.
        self._waiting: set[_Connection] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._tick = max(0.01, min(0.1, timeout / 10))

    # --- time-outs ---

    def watch(self, connection: _Connection) -> None:
        self._waiting.add(connection)
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._tick, self._check_deadlines)

    def _check_deadlines(self) -> None:
        self._timer = None
        now = time.monotonic()
        for connection in list(self._waiting):
            if connection._waiter is None or connection._waiter.done():
                self._waiting.discard(connection)
            elif now >= connection.deadline:
                self._waiting.discard(connection)
                connection.time_out()
        if self._waiting:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._tick, self._check_deadlines)

    # --- connections ---

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self), self.host, self.port, ssl=self._ssl
                )
        except TimeoutError as e:
            raise UpstreamTimeout(f"connecting to {self.address} timed out") from e
        except OSError as e:
            raise UpstreamError(f"cannot connect to {self.address}: {e}") from e
        return connection

    async def _acquire(self) -> _Connection:
        if self._free > 0 and not self._queue:
            self._free -= 1
        else:
            waiter = asyncio.get_running_loop().create_future()
            self._queue.append(waiter)
            try:
                await waiter  # a release hands its slot over
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._give_slot()  # handed over just as the wait was cancelled
                elif waiter in self._queue:
                    self._queue.remove(waiter)
                raise
        try:
            while self._idle:
                connection = self._idle.pop()
                if connection.usable():
                    connection.reused = True
                    return connection
                connection.close()
            return await self._connect()
        except BaseException:
            self._give_slot()
            raise

    def _give_slot(self) -> None:
        while self._queue:
            waiter = self._queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    def release(self, connection: _Connection, *, reusable: bool) -> None:
        self._waiting.discard(connection)
        if reusable and connection.usable():
            self._idle.append(connection)
        else:
            connection.close()
        self._give_slot()

    # --- one exchange ---

    async def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes],
        *,
        retry: bool = False,
    ) -> UpstreamResponse:
        """Send one request and wait for the answer's head.

        Args:
            method: the HTTP method.
            target: path and query, as the client sent them.
            headers: the headers to pass on (framing and hop-by-hop ones are set here).
            body: the whole body, or its parts as they arrive.
            retry: when the request failed on a reused connection before any answer
                came, send it once more on a new one (the upstream may have closed an
                idle connection just as it was taken). Only for reads, whose body is in
                hand: a write is never sent twice.

        Raises:
            UpstreamTimeout: no answer within the timeout.
            UpstreamError: the service could not be reached or broke off.
        """
        for attempt in (1, 2):
            connection = await self._acquire()
            try:
                return await self._exchange(connection, method, target, headers, body)
            except UpstreamTimeout:
                self.release(connection, reusable=False)
                raise
            except UpstreamError:
                self.release(connection, reusable=False)
                can_retry = retry and connection.reused and isinstance(body, bytes)
                if attempt == 2 or not can_retry:
                    raise
            except BaseException:
                self.release(connection, reusable=False)
                raise
        raise AssertionError("unreachable")

    def _head(
        self,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes],
    ) -> tuple[bytes, bool]:
        """The request's head, and whether a streamed body goes chunked."""
        if "\r" in target or "\n" in target or " " in target:
            raise UpstreamError("the request target holds a space or line break")
        lines = [f"{method} {target} HTTP/1.1\r\nhost: ".encode("latin-1"), self.host_header]
        length: bytes | None = None
        breaks = 3  # the request line's, and the blank line's two
        for name, value in headers:
            lowered = name.lower()
            if lowered in _FRAMING:
                if lowered == b"content-length":
                    length = value
                continue
            lines += (b"\r\n", name, b": ", value)
            breaks += 1
        chunked = False
        if isinstance(body, bytes):
            if body or method not in _BODYLESS:
                lines += (b"\r\ncontent-length: ", str(len(body)).encode())
                breaks += 1
        elif length is not None:
            lines += (b"\r\ncontent-length: ", length)
            breaks += 1
        else:
            lines.append(b"\r\ntransfer-encoding: chunked")
            chunked = True
            breaks += 1
        lines.append(b"\r\n\r\n")
        head = b"".join(lines)
        if head.count(b"\n") != breaks or head.count(b"\r") != breaks:
            # A line break inside a header (a parsed request never has one): leave it out.
            clean = [(n, v) for n, v in headers if not {10, 13} & set(n + v)]
            if len(clean) == len(headers):
                raise UpstreamError("a header holds a line break")
            return self._head(method, target, clean, body)
        return head, chunked

    async def _exchange(
        self,
        connection: _Connection,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes],
    ) -> UpstreamResponse:
        head, chunked = self._head(method, target, headers, body)
        if isinstance(body, bytes):
            connection.write(head + body if body else head)
        else:
            connection.write(head)
            async for part in body:
                if not part:
                    continue
                if chunked:
                    connection.write(b"%x\r\n%s\r\n" % (len(part), part))
                else:
                    connection.write(part)
                await connection.drain()
            if chunked:
                connection.write(b"0\r\n\r\n")
        while True:
            status, answer_headers, keep_alive = await self._answer_head(connection)
            if 100 <= status < 200:
                continue  # 100 Continue and the like: the final answer follows
            return self._response(connection, method, status, answer_headers, keep_alive)

    async def _answer_head(
        self, connection: _Connection
    ) -> tuple[int, list[tuple[bytes, bytes]], bool]:
        buffer = connection.buffer
        start = 0
        while (end := buffer.find(b"\r\n\r\n", start)) < 0:
            if len(buffer) > _MAX_HEAD:
                raise UpstreamError(f"{self.address} sent a header or line over 64 KiB")
            if connection.eof:
                raise UpstreamError(f"{self.address} closed the connection")
            start = max(0, len(buffer) - 3)
            await connection.wait()
        lines = bytes(buffer[:end]).split(b"\r\n")
        del buffer[: end + 4]
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise UpstreamError(f"{self.address} did not answer in HTTP/1.1")
        headers: list[tuple[bytes, bytes]] = []
        keep_alive = parts[0] == b"HTTP/1.1"
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name[0] in b" \t" or name[-1] in b" \t":
                raise UpstreamError(f"{self.address} sent a malformed header line")
            name = name.lower()
            value = value.strip()
            if name == b"connection" and b"close" in value.lower():
                keep_alive = False
            headers.append((name, value))
        return int(parts[1]), headers, keep_alive

    def _response(
        self,
        connection: _Connection,
        method: str,
        status: int,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
    ) -> UpstreamResponse:
        encodings = b""
        lengths: set[bytes] = set()
        for name, value in headers:
            if name == b"content-length":
                lengths.add(value)
            elif name == b"transfer-encoding":
                encodings = encodings + b"," + value if encodings else value
        framing: Framing
        length = 0
        if method == "HEAD" or status in (204, 304):
            framing = "none"
        elif encodings:
            # Chunked must come last (RFC 9112, 6.3); anything else runs to the close.
            framing = "chunked" if encodings.lower().rstrip().endswith(b"chunked") else "close"
        elif lengths:
            if len(lengths) > 1 or not next(iter(lengths)).isdigit():
                raise UpstreamError(f"{self.address} sent a bad Content-Length")
            framing, length = "length", int(next(iter(lengths)))
        else:
            framing = "close"
        return UpstreamResponse(self, connection, status, headers, framing, length, keep_alive)

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._idle:
            self._idle.pop().close()

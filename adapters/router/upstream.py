"""The proxy's HTTP/1.1 client to legacy and modern: kept-alive connections per side,
one request at a time on each, bodies streamed both ways.

Why not httpx: measured on this project's 2-core machine, an ``httpx.AsyncClient`` cost
the proxy about 1.5 ms per request (its pool scans every connection for each request,
and httpcore retries a failed ``import sniffio`` on every call when sniffio is not
installed): the proxy reached a twentieth of direct throughput. A first version of this
client framed messages with h11 and was then the proxy's largest cost after the
server's own parsing, so messages are framed here directly. The subset is small: a
request line and headers out (a streamed body of unknown length goes chunked); an
answer's head in, then its body by ``Content-Length``, by chunks, or until the upstream
closes. Anything else is an ``UpstreamError`` (the client then gets 502).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

_READ_SIZE = 65_536
_MAX_HEAD = 65_536
# Methods whose requests carry no body unless one is given.
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"})
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"host", b"connection"})


class UpstreamError(Exception):
    """The upstream could not be reached, or broke the exchange off."""


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer (or go on answering) in time."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False

    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class UpstreamResponse:
    """An answer whose body is read as it arrives; ``aclose`` gives the connection back
    (kept alive when the body was read to its end and the upstream allows it)."""

    def __init__(
        self,
        pool: UpstreamPool,
        connection: _Connection,
        status: int,
        headers: list[tuple[bytes, bytes]],
        framing: Literal["none", "length", "chunked", "close"],
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

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def body(self) -> AsyncIterator[bytes]:
        """The body's bytes as they come (as sent: no content decoding)."""
        connection = self._connection
        assert connection is not None
        pool = self._pool
        if self._framing == "length":
            remaining = self._length
            while remaining:
                data = await pool.read(connection.reader, min(remaining, _READ_SIZE))
                if not data:
                    raise UpstreamError(f"{pool.address} ended the answer {remaining} bytes early")
                remaining -= len(data)
                yield data
        elif self._framing == "chunked":
            while True:
                line = await pool.read_line(connection.reader)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError as e:
                    raise UpstreamError(f"{pool.address} sent a bad chunk size") from e
                if size == 0:
                    while await pool.read_line(connection.reader):
                        pass  # trailers: dropped
                    break
                while size:
                    data = await pool.read(connection.reader, min(size, _READ_SIZE))
                    if not data:
                        raise UpstreamError(f"{pool.address} ended a chunk early")
                    size -= len(data)
                    yield data
                if await pool.read_line(connection.reader):
                    raise UpstreamError(f"{pool.address} sent a chunk longer than it said")
        elif self._framing == "close":
            while data := await pool.read(connection.reader, _READ_SIZE):
                yield data
        self._done = True

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.body()])

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.release(connection, reusable=self._done and self._keep_alive)


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
        self._slots = asyncio.Semaphore(max_connections)
        self._ssl = ssl.create_default_context() if self.tls else None

    # --- reading, with the timeout and errors turned into ours ---

    async def read(self, reader: asyncio.StreamReader, size: int) -> bytes:
        try:
            async with asyncio.timeout(self.timeout):
                return await reader.read(size)
        except TimeoutError as e:
            raise UpstreamTimeout(f"{self.address} did not answer in time") from e
        except OSError as e:
            raise UpstreamError(f"reading from {self.address} failed: {e}") from e

    async def read_line(self, reader: asyncio.StreamReader) -> bytes:
        """One CRLF-ended line, without its end."""
        return (await self._read_until(reader, b"\r\n"))[:-2]

    async def _read_until(self, reader: asyncio.StreamReader, end: bytes) -> bytes:
        try:
            async with asyncio.timeout(self.timeout):
                return await reader.readuntil(end)
        except TimeoutError as e:
            raise UpstreamTimeout(f"{self.address} did not answer in time") from e
        except asyncio.IncompleteReadError as e:
            raise UpstreamError(f"{self.address} closed the connection") from e
        except asyncio.LimitOverrunError as e:
            raise UpstreamError(f"{self.address} sent a header or line over 64 KiB") from e
        except OSError as e:
            raise UpstreamError(f"reading from {self.address} failed: {e}") from e

    # --- connections ---

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self._ssl, limit=_MAX_HEAD
                )
        except TimeoutError as e:
            raise UpstreamTimeout(f"connecting to {self.address} timed out") from e
        except OSError as e:
            raise UpstreamError(f"cannot connect to {self.address}: {e}") from e
        return _Connection(reader, writer)

    async def _acquire(self) -> _Connection:
        await self._slots.acquire()
        try:
            while self._idle:
                connection = self._idle.pop()
                if connection.usable():
                    connection.reused = True
                    return connection
                connection.close()
            return await self._connect()
        except BaseException:
            self._slots.release()
            raise

    def release(self, connection: _Connection, *, reusable: bool) -> None:
        if reusable and connection.usable():
            self._idle.append(connection)
        else:
            connection.close()
        self._slots.release()

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
        if any(c in target for c in "\r\n "):
            raise UpstreamError("the request target holds a space or line break")
        lines = [f"{method} {target} HTTP/1.1\r\n".encode("latin-1"), b"host: ", self.host_header]
        length: bytes | None = None
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                length = value
            if lowered in _FRAMING or b"\r" in value or b"\n" in value:
                continue
            lines += [b"\r\n", name, b": ", value]
        chunked = False
        if isinstance(body, bytes):
            if body or method not in _BODYLESS:
                lines += [b"\r\ncontent-length: ", str(len(body)).encode()]
        elif length is not None:
            lines += [b"\r\ncontent-length: ", length]
        else:
            lines.append(b"\r\ntransfer-encoding: chunked")
            chunked = True
        lines.append(b"\r\n\r\n")
        return b"".join(lines), chunked

    async def _exchange(
        self,
        connection: _Connection,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes],
    ) -> UpstreamResponse:
        head, chunked = self._head(method, target, headers, body)
        writer = connection.writer
        try:
            if isinstance(body, bytes):
                writer.write(head + body if body else head)
            else:
                writer.write(head)
                async for part in body:
                    if not part:
                        continue
                    if chunked:
                        writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                    else:
                        writer.write(part)
                    await writer.drain()
                if chunked:
                    writer.write(b"0\r\n\r\n")
            await writer.drain()
        except OSError as e:
            raise UpstreamError(f"sending to {self.address} failed: {e}") from e
        while True:
            status, answer_headers, keep_alive = await self._answer_head(connection.reader)
            if 100 <= status < 200:
                continue  # 100 Continue and the like: the final answer follows
            return self._response(connection, method, status, answer_headers, keep_alive)

    async def _answer_head(
        self, reader: asyncio.StreamReader
    ) -> tuple[int, list[tuple[bytes, bytes]], bool]:
        raw = await self._read_until(reader, b"\r\n\r\n")
        lines = raw[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise UpstreamError(f"{self.address} did not answer in HTTP/1.1")
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise UpstreamError(f"{self.address} sent a malformed header line")
            headers.append((name.lower(), value.strip()))
        connection_tokens = b",".join(v for k, v in headers if k == b"connection").lower()
        keep_alive = parts[0] == b"HTTP/1.1" and b"close" not in connection_tokens
        return int(parts[1]), headers, keep_alive

    def _response(
        self,
        connection: _Connection,
        method: str,
        status: int,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
    ) -> UpstreamResponse:
        encodings = b",".join(v for k, v in headers if k == b"transfer-encoding").lower()
        lengths = {v for k, v in headers if k == b"content-length"}
        framing: Literal["none", "length", "chunked", "close"]
        length = 0
        if method == "HEAD" or status in (204, 304):
            framing = "none"
        elif encodings:
            # Chunked must come last (RFC 9112, 6.3); anything else runs to the close.
            framing = "chunked" if encodings.rstrip().endswith(b"chunked") else "close"
        elif lengths:
            if len(lengths) > 1 or not next(iter(lengths)).isdigit():
                raise UpstreamError(f"{self.address} sent a bad Content-Length")
            framing, length = "length", int(next(iter(lengths)))
        else:
            framing = "close"
        return UpstreamResponse(self, connection, status, headers, framing, length, keep_alive)

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()

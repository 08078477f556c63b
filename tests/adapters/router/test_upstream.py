"""The proxy's upstream client against real sockets: answers framed by length, by chunks
and by closing the connection; request bodies streamed; connections kept alive and
reused; an idle connection the server closed is retried for a read, never for a write;
timeouts and refused connections are told apart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from adapters.router.upstream import UpstreamError, UpstreamPool, UpstreamTimeout
from tests.adapters.router.conftest import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    body = b""
    lines = head.lower().split(b"\r\n")
    lengths = [int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:")]
    length = lengths[0] if lengths else 0
    if any(line.startswith(b"transfer-encoding: chunked") for line in lines):
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    elif length:
        body = await reader.readexactly(length)
    return head, body


class RawServer:
    """A TCP server whose answers the test writes byte by byte; counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.port = free_port()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    def pool(self, timeout: float = 2.0) -> UpstreamPool:
        return UpstreamPool(f"http://127.0.0.1:{self.port}", max_connections=4,
                            connect_timeout=2, timeout=timeout)  # fmt: skip


async def _get(pool: UpstreamPool, target: str = "/", method: str = "GET",
               body: bytes | AsyncIterator[bytes] = b"") -> tuple[int, bytes]:  # fmt: skip
    read = method in ("GET", "HEAD")
    response = await pool.request(method, target, [(b"x-citizen-id", b"c1")], body, retry=read)
    try:
        return response.status, await response.read()
    finally:
        await response.aclose()


async def test_lengths_chunks_and_kept_alive_connections() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await _read_request(reader)
            seen.append((head, body))
            if head.startswith(b"GET /chunked"):
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                             b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")  # fmt: skip
            else:
                answer = b"got " + body
                writer.write(b"HTTP/1.1 201 Created\r\ncontent-length: %d\r\n\r\n%s"
                             % (len(answer), answer))  # fmt: skip
            await writer.drain()

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"a" * 70_000, b"b" * 5):
            yield part

    async with RawServer(handler) as server:
        pool = server.pool()
        assert await _get(pool, "/chunked") == (200, b"hello world")
        assert await _get(pool, "/x", "POST", b"form") == (201, b"got form")
        status, answer = await _get(pool, "/upload", "PUT", parts())
        assert (status, len(answer)) == (201, 4 + 70_005)
        assert server.connections == 1  # one connection, kept alive for all three
        assert b"host: 127.0.0.1:" in seen[0][0].lower()
        assert b"transfer-encoding: chunked" in seen[2][0].lower()  # streamed, length unknown
        await pool.aclose()


async def test_an_answer_that_ends_by_closing_is_read_to_the_end() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
        await writer.drain()

    async with RawServer(handler) as server:
        pool = server.pool()
        assert await _get(pool) == (200, b"until the end")
        assert await _get(pool) == (200, b"until the end")
        assert server.connections == 2  # not reused: it was closed


async def test_a_read_on_a_connection_the_server_dropped_is_sent_again() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        # Keep-alive is announced, but the next request on this connection is dropped.
        await _read_request(reader)

    async with RawServer(handler) as server:
        pool = server.pool()
        assert await _get(pool) == (200, b"ok")
        assert await _get(pool) == (200, b"ok")  # dropped once, sent again on a new one
        assert server.connections == 2
        assert await _get(pool) == (200, b"ok")
        assert server.connections == 3
        # A write is never sent twice: the drop is the caller's to report.
        with pytest.raises(UpstreamError):
            await _get(pool, "/claims", "POST", b"{}")
        assert server.connections == 3  # no new connection: the write was not sent again


async def test_timeouts_and_refusals_are_told_apart() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    async with RawServer(handler) as server:
        with pytest.raises(UpstreamTimeout):
            await _get(server.pool(timeout=0.3))
    refused = UpstreamPool(f"http://127.0.0.1:{free_port()}", max_connections=1,
                           connect_timeout=1, timeout=1)  # fmt: skip
    with pytest.raises(UpstreamError, match="cannot connect") as caught:
        await _get(refused)
    assert not isinstance(caught.value, UpstreamTimeout)

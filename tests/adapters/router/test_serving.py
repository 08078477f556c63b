"""The proxy's HTTP/1.1 server (``ProxyServer``) against raw sockets, with a small ASGI
app: kept-alive and pipelined requests answered in order; chunked request bodies and
``Expect: 100-continue``; answers framed by length, by chunks, or (HTTP/1.0) by the
close; HEAD without a body; 400 for a request it cannot parse, 500 when the app fails;
``stop`` lets a request in progress finish."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from adapters.router.serving import ProxyServer
from tests.adapters.router.conftest import read_body


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    path = scope["path"]
    if path == "/fail":
        raise RuntimeError("the app failed")
    body = await read_body(receive)
    if path == "/slow":
        await asyncio.sleep(0.3)
    if path == "/big":  # 3 MB in parts, while the client may be slow to read
        part = b"b" * 65_536
        headers = [(b"content-length", b"%d" % (48 * len(part)))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(48):
            await send({"type": "http.response.body", "body": part, "more_body": i < 47})
        return
    if path == "/stream":  # no length: the server frames it
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    answer = json.dumps({
        "method": scope["method"], "path": path, "query": scope["query_string"].decode(),
        "body": body.decode(), "client": scope["client"][0],
    }).encode()  # fmt: skip
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


@asynccontextmanager
async def serving() -> AsyncIterator[ProxyServer]:
    server = ProxyServer(app)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.stop(grace_s=2)


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One answer: status line, headers (lower-cased names), body as framed."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding") == b"chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    else:
        body = await reader.read()  # to the close
    return lines[0], headers, body


async def test_kept_alive_and_pipelined_requests_are_answered_in_order() -> None:
    async with serving() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /a?x=1 HTTP/1.1\r\nhost: h\r\n\r\n")
        status, _, body = await read_answer(reader)
        assert status == b"HTTP/1.1 200 OK"
        assert json.loads(body) == {"method": "GET", "path": "/a", "query": "x=1", "body": "",
                                    "client": "127.0.0.1"}  # fmt: skip
        # Two at once on the same connection: the slow one first, still answered first.
        writer.write(b"GET /slow HTTP/1.1\r\nhost: h\r\n\r\nPOST /b HTTP/1.1\r\nhost: h\r\n"
                     b"content-length: 2\r\n\r\nhi")  # fmt: skip
        first = json.loads((await read_answer(reader))[2])
        second = json.loads((await read_answer(reader))[2])
        assert (first["path"], second["path"], second["body"]) == ("/slow", "/b", "hi")
        writer.close()


async def test_chunked_bodies_and_100_continue() -> None:
    async with serving() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"PUT /up HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n"
                     b"expect: 100-continue\r\n\r\n")  # fmt: skip
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        _, _, body = await read_answer(reader)
        assert json.loads(body)["body"] == "hello world"
        # An answer of unknown length goes chunked to an HTTP/1.1 client, kept alive.
        writer.write(b"GET /stream HTTP/1.1\r\nhost: h\r\n\r\n")
        _, headers, body = await read_answer(reader)
        assert headers[b"transfer-encoding"] == b"chunked"
        assert body == b"one two three"
        writer.close()


async def test_head_http10_and_failures() -> None:
    async with serving() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"HEAD /a HTTP/1.1\r\nhost: h\r\n\r\nGET /a HTTP/1.1\r\nhost: h\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"content-length: " in head  # the length a GET would have had, no body
        _, _, body = await read_answer(reader)  # the next answer follows at once
        assert json.loads(body)["method"] == "GET"
        # An answer of unknown length to HEAD: no chunks either.
        writer.write(b"HEAD /stream HTTP/1.1\r\nhost: h\r\n\r\nGET /a HTTP/1.1\r\nhost: h\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"transfer-encoding" not in head
        _, _, body = await read_answer(reader)
        assert json.loads(body)["path"] == "/a"
        writer.close()

        # HTTP/1.0 without a length: the body runs to the close.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /stream HTTP/1.0\r\n\r\n")
        _, headers, body = await read_answer(reader)
        assert headers[b"connection"] == b"close"
        assert body == b"one two three"

        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /fail HTTP/1.1\r\nhost: h\r\n\r\n")
        status, headers, _ = await read_answer(reader)
        assert status.startswith(b"HTTP/1.1 500")
        assert await reader.read() == b""  # closed

        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        status, _, _ = await read_answer(reader)
        assert status.startswith(b"HTTP/1.1 400")


async def test_large_bodies_both_ways() -> None:
    async with serving() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        upload = b"u" * 3_000_000
        writer.write(b"POST /up HTTP/1.1\r\nhost: h\r\ncontent-length: %d\r\n\r\n" % len(upload))
        for i in range(0, len(upload), 100_000):
            writer.write(upload[i : i + 100_000])
            await writer.drain()
        _, _, body = await read_answer(reader)
        assert len(json.loads(body)["body"]) == 3_000_000
        writer.write(b"GET /big HTTP/1.1\r\nhost: h\r\n\r\n")
        await asyncio.sleep(0.2)  # the server must wait for the client to read
        _, _, body = await read_answer(reader)
        assert body == b"b" * 48 * 65_536
        writer.close()


async def test_stop_lets_a_request_in_progress_finish() -> None:
    server = ProxyServer(app)
    await server.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /slow HTTP/1.1\r\nhost: h\r\n\r\n")
    await asyncio.sleep(0.05)
    stopping = asyncio.ensure_future(server.stop(grace_s=5))
    status, _, body = await read_answer(reader)
    assert status == b"HTTP/1.1 200 OK"
    assert json.loads(body)["path"] == "/slow"
    await stopping
    assert await reader.read() == b""

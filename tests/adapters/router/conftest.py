"""Real HTTP services for the router tests: a legacy and a modern service (uvicorn in a
thread each) that say which side answered, count what they received, and can be told to
fail, stall or answer differently on chosen paths."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn

from switchover.devserver import free_port

# The engine databases of the db tests (SQLite, PostgreSQL) for the builtin proxy.
from tests.db.conftest import db_url, postgres_url, sqlite_template  # noqa: F401 (fixtures)


def wait_for_port(port: int, *, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds:g} s")
        time.sleep(0.05)


async def read_body(receive: Any) -> bytes:
    """An ASGI request's whole body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


@dataclass
class SideService:
    """One side's service. ``GET /items/{id}`` answers the same data on both sides (plus a
    ``fetched_at`` that differs: the plan ignores it); paths in ``fail`` answer 500,
    paths in ``stall`` answer after ``stall_s``, paths in ``differ`` answer other data.
    Writes answer 201 and are counted in ``writes``, and logged in ``write_log`` (arrival
    on the monotonic clock, path, body)."""

    side: str
    port: int = field(default_factory=free_port)
    reads: Counter[str] = field(default_factory=Counter)
    writes: Counter[str] = field(default_factory=Counter)
    fail: set[str] = field(default_factory=set)
    stall: set[str] = field(default_factory=set)
    differ: set[str] = field(default_factory=set)
    hold: dict[str, threading.Event] = field(default_factory=dict)
    stall_s: float = 3.0
    write_log: list[tuple[float, str, bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.reads.clear()
        self.writes.clear()
        self.fail.clear()
        self.stall.clear()
        self.differ.clear()
        self.hold.clear()
        self.write_log.clear()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        path, method = scope["path"], scope["method"]
        status = 200
        if method in ("GET", "HEAD"):
            self.reads[path] += 1
            if path in self.stall:
                await asyncio.sleep(self.stall_s)
            if path in self.hold:  # answer only once the test lets go
                await asyncio.to_thread(self.hold[path].wait, 30)
            data: dict[str, Any] = {
                "side": self.side if path.startswith("/whoami") else "any",
                "path": path,
                "amount": 12.5,
                "items": [{"n": 1, "etag": f"{self.side}-{time.monotonic_ns()}"}],
                "fetched_at": time.time_ns(),
            }
            if path in self.differ:
                data["amount"] = 99
            if path in self.fail:
                status, data = 500, {"error": "broken"}
        else:
            self.writes[method] += 1
            self.write_log.append((time.monotonic(), path, body))
            status, data = 201, {"side": self.side, "received": len(body)}
        payload = json.dumps(data).encode()
        if path == "/big" and method == "GET":
            payload = self.side.encode()[:1] * 3_000_000
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-served-by", self.side.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload if method != "HEAD" else b""})


class ServiceThread:
    """A uvicorn server for one ASGI app, in a thread of the test process."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                lifespan="off", access_log=False)  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = port

    def __enter__(self) -> ServiceThread:
        self.thread.start()
        wait_for_port(self.port)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Services:
    legacy: SideService
    modern: SideService

    def side(self, name: str) -> SideService:
        return self.legacy if name == "legacy" else self.modern


@pytest.fixture(scope="module")
def running_services() -> Iterator[Services]:
    services = Services(SideService("legacy"), SideService("modern"))
    with (
        ServiceThread(services.legacy, services.legacy.port),
        ServiceThread(services.modern, services.modern.port),
    ):
        yield services


@pytest.fixture
def services(running_services: Services) -> Services:
    """Both services, their counters and faults cleared."""
    running_services.legacy.reset()
    running_services.modern.reset()
    return running_services

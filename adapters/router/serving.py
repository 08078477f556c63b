"""How the builtin proxy is served: ``run_proxy`` runs one system's ``CutoverProxy``
under uvicorn (httptools, and uvloop where installed), steered through the engine
database by a ``SqlRouterStore``; any number of proxy processes can run for one system.
Each answer is sent to the citizen in one write.

uvicorn writes an answer's head as soon as the app starts it, and its body with the next
message: two ``send`` system calls per answer. On loopback a send also does the
receiver's share of the work, so they were a third of the proxy's time against a
service that answers at once. ``OneWriteProtocol`` gives uvicorn a transport that
gathers what is written during one turn of the event loop and sends it at the end of
the turn: an answer the proxy has whole (the usual case) goes out in one write, and a
streamed one loses nothing but the wait for the turn to end.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from adapters.router.proxy import CutoverProxy
from adapters.router.store import SqlRouterStore
from config.log import get_logger
from config.migration_plan import MigrationPlan, load_plan
from config.settings import Settings
from domain.errors import RouterError

log = get_logger(__name__)


class _GatheringTransport(asyncio.Transport):
    """A transport that sends what it is given during one turn of the loop at the end
    of the turn, in one write; everything else is the real transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._pending is None:
            self._pending = [bytes(data)]
            self._loop.call_soon(self._flush)
        else:
            self._pending.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        pending = sum(len(data) for data in self._pending) if self._pending else 0
        return pending + self._transport.get_write_buffer_size()


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a ``_GatheringTransport``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        real = cast(asyncio.Transport, transport)
        super().connection_made(_GatheringTransport(real, self.loop))


def build_proxy(
    plan: MigrationPlan, settings: Settings, *, port: int | None = None
) -> CutoverProxy:
    """The proxy app for a plan's system, steered through the settings' engine database."""
    if plan.cutover is None:
        raise RouterError(f"the plan for {plan.system.id} has no cutover section")
    instance = f"{socket.gethostname()}:{os.getpid()}" + (f":{port}" if port else "")
    store = SqlRouterStore(settings.resolved_database_url, plan.system.id, instance)
    return CutoverProxy(plan.cutover, plan.system.id, store=store, instance=instance)


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
    log.info("router starting", system=plan.system.id, host=host, port=port)
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=OneWriteProtocol,
        log_level="warning",
        access_log=False,  # request lines may carry citizens' ids
        # X-Forwarded-For is the proxy's to extend, not uvicorn's to take as the client.
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        server_header=False,  # the upstream's own Server and Date headers pass through
        date_header=False,
    )

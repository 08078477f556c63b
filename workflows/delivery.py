"""``DeliverRecordsWorkflow``: send approved records from the outbox to their destinations.

A Temporal Schedule (``switchover.schedules``) starts a pass every minute; a pass lists
the pending deliveries page by page and makes each (several at once), until none is left.
Each delivery is one activity whose retries, with backoff, are Temporal's; when they run
out, or the destination refuses for good, the delivery is dead-lettered with the reason
and waits for ``switchover records redrive``. Deliveries are idempotent at the
destination, so a worker killed mid-delivery costs a retry, never a second copy.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import delivery as names
    from domain.delivery import (
        DeadLetterInput,
        DeliverInput,
        DeliverRecordsInput,
        DeliverRecordsResult,
        DeliverResult,
        DeliveryPage,
        ListDeliveriesInput,
        PendingDelivery,
    )

from workflows.calls import QUICK, CallPolicy, call


def _attempt_policy(request: DeliverRecordsInput, max_attempts: int) -> CallPolicy:
    return CallPolicy(
        start_to_close=timedelta(seconds=request.attempt_timeout_s),
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=request.first_retry_s),
            backoff_coefficient=request.backoff,
            maximum_interval=timedelta(seconds=request.max_retry_s),
            maximum_attempts=max_attempts,
            non_retryable_error_types=["DeliveryRefused", "NotFoundError"],
        ),
    )


def _reason(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type or 'Error'}: {cause.message}"
    return f"{type(cause).__name__ if cause else 'ActivityError'}: {cause or error}"


@workflow.defn
class DeliverRecordsWorkflow:
    """One pass over the outbox: every pending delivery made or dead-lettered."""

    @workflow.run
    async def run(self, request: DeliverRecordsInput) -> DeliverRecordsResult:
        result = DeliverRecordsResult(delivered=request.delivered, dead=request.dead)
        pages = 0
        while True:
            page = await call(
                names.LIST_DELIVERIES,
                ListDeliveriesInput(limit=request.page_size),
                QUICK,
                result_type=DeliveryPage,
            )
            if not page.deliveries:
                return result
            policy = _attempt_policy(request, request.max_attempts or page.max_attempts)
            slots = asyncio.Semaphore(request.concurrency)
            outcomes = await asyncio.gather(
                *(self._deliver(one, policy, slots) for one in page.deliveries)
            )
            result.delivered += sum(outcomes)
            result.dead += len(outcomes) - sum(outcomes)
            pages += 1
            if pages >= request.pages_per_run:
                workflow.continue_as_new(
                    request.model_copy(update={"delivered": result.delivered, "dead": result.dead})
                )

    async def _deliver(
        self, pending: PendingDelivery, policy: CallPolicy, slots: asyncio.Semaphore
    ) -> bool:
        async with slots:
            try:
                await call(
                    names.DELIVER_RECORD,
                    DeliverInput(delivery_id=pending.delivery_id),
                    policy,
                    result_type=DeliverResult,
                )
                return True
            except ActivityError as e:
                reason = _reason(e)
            workflow.logger.warning(
                "delivery dead-lettered",
                extra={"delivery_id": pending.delivery_id, "destination": pending.destination},
            )
            await call(
                names.DEAD_LETTER_DELIVERY,
                DeadLetterInput(delivery_id=pending.delivery_id, reason=reason),
                QUICK,
            )
            return False

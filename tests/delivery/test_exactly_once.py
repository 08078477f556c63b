"""Exactly once under SIGKILL: approved records delivered by a real ``switchover worker``
process that is killed again and again mid-delivery, to a real PostgreSQL table and a
real HTTP webhook server.

The table must hold every record once with one delivered mark each; the webhook receiver
must have processed every record's idempotency key once (it may have received a key more
than once: sending to a webhook is at least once, and the key makes it once).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from config.settings import TASK_QUEUE_WORKFLOWS
from db.models import Delivery, DeliveryState
from db.session import session_scope
from domain.delivery import DeliverRecordsInput, DeliverRecordsResult
from tests.delivery.conftest import SECRET, Receiver, approve_records, target_rows, write_template
from tests.fakes.workers import start_worker_process as start_worker
from workflows.delivery import DeliverRecordsWorkflow

RECORDS = 240
KILLS = 4

pytestmark = pytest.mark.slow


def delivered(engine_url: str) -> int:
    with session_scope(engine_url) as session:
        return int(session.scalar(
            select(func.count()).select_from(Delivery)
            .where(Delivery.state == DeliveryState.DELIVERED)
        ) or 0)  # fmt: skip


async def test_killed_worker_delivers_each_approved_record_exactly_once(
    local_env: WorkflowEnvironment, engine_url: str, target_url: str, receiver: Receiver,
    tmp_path: Path,
) -> None:  # fmt: skip
    forms = write_template(tmp_path / "forms", target_url, receiver.url, "chaos.voters")
    ids = approve_records(engine_url, RECORDS)
    receiver.delay_s = 0.02  # a webhook that takes a moment: kills land inside requests
    env = {
        **os.environ,
        "SWITCHOVER_HOME": str(tmp_path / "state"),
        "SWITCHOVER_DATABASE_URL": engine_url,
        "SWITCHOVER_FORMS_DIR": str(forms),
        "SWITCHOVER_DELIVERY_WEBHOOK_SECRET": SECRET,
        "SWITCHOVER_TEMPORAL_ADDRESS": local_env.client.service_client.config.target_host,
        "SWITCHOVER_LOG_FORMAT": "json",
    }
    log = tmp_path / "worker.log"
    handle = await local_env.client.start_workflow(
        DeliverRecordsWorkflow.run,
        # Many attempts: the kills' timed-out attempts must not dead-letter anything.
        DeliverRecordsInput(max_attempts=100, attempt_timeout_s=3, first_retry_s=0.2,
                            backoff=1.5, max_retry_s=1, page_size=40, concurrency=8,
                            pages_per_run=3),
        id="deliver-chaos", task_queue=TASK_QUEUE_WORKFLOWS,
    )  # fmt: skip
    rng = random.Random()
    total = 2 * RECORDS
    at_kills: list[int] = []
    worker = start_worker(env, log)
    try:
        last = 0
        while len(at_kills) < KILLS:
            for _ in range(600):
                if await asyncio.to_thread(delivered, engine_url) > last:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(rng.uniform(0.0, 0.6))
            if worker.poll() is not None:
                pytest.fail(f"the worker exited by itself: {log.read_text()[-2000:]}")
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            last = await asyncio.to_thread(delivered, engine_url)
            at_kills.append(last)
            worker = start_worker(env, log)
        result: DeliverRecordsResult = await asyncio.wait_for(handle.result(), timeout=600)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    print(f"deliveries recorded at each kill: {at_kills} of {total}")
    assert sum(0 < n < total for n in at_kills) >= KILLS - 1, at_kills  # kills mid-delivery
    assert result.dead == 0

    with session_scope(engine_url) as session:
        states = dict(session.execute(
            select(Delivery.state, func.count()).group_by(Delivery.state)
        ).all())  # fmt: skip
    assert states == {DeliveryState.DELIVERED: total}

    # The table: each record once, with one delivered mark.
    (count, distinct) = target_rows(target_url, "SELECT count(*), count(DISTINCT record_id) "
                                                "FROM chaos.voters")[0]  # fmt: skip
    assert count == distinct == RECORDS
    marks = target_rows(target_url, "SELECT record_id, version FROM chaos.voters_deliveries")
    assert sorted(marks) == [(i, 1) for i in ids]

    # The webhook: each key processed once; some sent again after a kill, and deduplicated.
    assert receiver.bad_signatures == 0
    assert sorted(receiver.processed) == sorted(f"record-{i}-v1" for i in ids)
    resent = sum(n - 1 for n in receiver.requests.values())
    already = log.read_text().count('"already": true')
    print(f"webhook requests {sum(receiver.requests.values())} for {RECORDS} records "
          f"({resent} resent after a kill and deduplicated by key); deliveries an earlier "
          f"attempt had made, found so by the retry: {already}")  # fmt: skip

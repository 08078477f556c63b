"""Approved records delivered by the delivery workflow on a real Temporal dev server, to a
real PostgreSQL table and a real HTTP webhook server; retries, dead letters, re-drive."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from activities.delivery import DeliveryActivities
from config.form_template import load_templates
from config.settings import TASK_QUEUE_IO, TASK_QUEUE_WORKFLOWS, Settings
from db import outbox
from db.models import DeliveryState
from db.session import session_scope
from domain.delivery import DeliverRecordsInput, DeliverRecordsResult
from switchover.worker import ActivitySet
from tests.delivery.conftest import (
    SECRET,
    Receiver,
    approve_records,
    target_rows,
    write_template,
)
from tests.fakes.workers import running_workers
from workflows.delivery import DeliverRecordsWorkflow

QUICK_RETRIES = {"first_retry_s": 0.05, "backoff": 1.0, "max_retry_s": 0.05}


async def deliver_pass(env: WorkflowEnvironment, activities: DeliveryActivities,
                       **options: object) -> DeliverRecordsResult:  # fmt: skip
    io = activities.all()
    queues = (TASK_QUEUE_WORKFLOWS, TASK_QUEUE_IO)
    async with running_workers(env.client, ActivitySet(ocr=[], io=io), queues=queues):
        return await env.client.execute_workflow(
            DeliverRecordsWorkflow.run,
            DeliverRecordsInput.model_validate({**QUICK_RETRIES, **options}),
            id=f"deliver-{uuid.uuid4().hex[:8]}",
            task_queue=TASK_QUEUE_WORKFLOWS,
        )


def activities_for(engine_url: str, forms: Path, **settings: object) -> DeliveryActivities:
    configured = Settings(database_url=engine_url, forms_dir=forms,
                          delivery_webhook_secret=SECRET, **settings)  # type: ignore[arg-type]  # fmt: skip
    return DeliveryActivities(configured, load_templates(forms))


async def test_each_approved_record_reaches_the_table_and_the_webhook_once(
    local_env: WorkflowEnvironment, engine_url: str, target_url: str, receiver: Receiver,
    tmp_path: Path,
) -> None:  # fmt: skip
    forms = write_template(tmp_path / "forms", target_url, receiver.url, "electoral.voters")
    ids = approve_records(engine_url, 5)
    activities = activities_for(engine_url, forms)
    result = await deliver_pass(local_env, activities)
    assert (result.delivered, result.dead) == (10, 0)

    rows = target_rows(target_url, "SELECT record_id, version, fields FROM electoral.voters "
                                   "ORDER BY record_id")  # fmt: skip
    assert [(r[0], r[1]) for r in rows] == [(i, 1) for i in ids]
    assert rows[0][2]["surname"] == "SURNAME0"
    marks = target_rows(target_url, "SELECT record_id, version FROM electoral.voters_deliveries")
    assert sorted(marks) == [(i, 1) for i in ids]
    assert receiver.bad_signatures == 0
    assert sorted(receiver.processed) == sorted(f"record-{i}-v1" for i in ids)
    body = receiver.processed[f"record-{ids[0]}-v1"]
    assert body["fields"]["national_insurance_number"] == "QQ000000C"
    assert body["form_type"] == "register-to-vote"

    # A second pass finds nothing to do.
    again = await deliver_pass(local_env, activities)
    assert (again.delivered, again.dead) == (0, 0)
    assert sum(receiver.requests.values()) == 5
    activities.close()


async def test_retried_then_dead_lettered_with_the_reason_and_redriven(
    local_env: WorkflowEnvironment, engine_url: str, target_url: str, receiver: Receiver,
    tmp_path: Path,
) -> None:  # fmt: skip
    forms = write_template(tmp_path / "forms", target_url, receiver.url, "retry_voters")
    flaky, refused, down = approve_records(engine_url, 3)
    receiver.answers[f"record-{flaky}-v1"] = [503, 503]
    receiver.always[f"record-{refused}-v1"] = 422
    receiver.always[f"record-{down}-v1"] = 503
    activities = activities_for(engine_url, forms, delivery_max_attempts=4)
    result = await deliver_pass(local_env, activities)
    assert (result.delivered, result.dead) == (4, 2)
    assert receiver.requests[f"record-{flaky}-v1"] == 3  # two refusals, then accepted
    assert receiver.requests[f"record-{refused}-v1"] == 1  # refused for good: no retry
    assert receiver.requests[f"record-{down}-v1"] == 4  # the attempt limit

    with session_scope(engine_url) as session:
        dead = {d.record_id: d for d in outbox.list_deliveries(session, state=DeliveryState.DEAD)}
    assert set(dead) == {refused, down}
    assert "422" in (dead[refused].last_error or "")
    assert dead[refused].attempts == 1
    assert "503" in (dead[down].last_error or "")
    assert dead[down].attempts == 4
    assert all(d.destination == "caseworking" for d in dead.values())

    # The receiver is mended; re-driven, both go through.
    receiver.always.clear()
    with session_scope(engine_url) as session:
        assert sorted(outbox.redrive(session)) == sorted(d.id for d in dead.values())
    result = await deliver_pass(local_env, activities)
    assert (result.delivered, result.dead) == (2, 0)
    assert sorted(receiver.processed) == sorted(f"record-{i}-v1" for i in (flaky, refused, down))
    activities.close()


async def test_a_destination_the_template_no_longer_names_is_dead_lettered(
    local_env: WorkflowEnvironment, engine_url: str, target_url: str, receiver: Receiver,
    tmp_path: Path,
) -> None:  # fmt: skip
    forms = write_template(tmp_path / "forms", target_url, receiver.url, "gone_voters")
    (_record,) = approve_records(engine_url, 1)
    activities = activities_for(engine_url, forms)
    with session_scope(engine_url) as session:
        for entry in outbox.unexpanded_entries(session, limit=10):
            outbox.expand_entry(session, entry, [("archive-share", "webhook")])
    result = await deliver_pass(local_env, activities)
    assert result.dead == 1
    with session_scope(engine_url) as session:
        (dead,) = outbox.list_deliveries(session, state=DeliveryState.DEAD)
    assert "archive-share" in (dead.last_error or "")
    assert json.dumps(receiver.processed) == "{}"
    activities.close()


def test_a_bad_signature_is_refused(receiver: Receiver) -> None:
    import httpx

    response = httpx.post(receiver.url, content=b"{}", headers={
        "X-Switchover-Timestamp": "1", "X-Switchover-Signature": "sha256=00"})  # fmt: skip
    assert response.status_code == 401
    assert receiver.bad_signatures == 1


def test_a_request_cut_short_by_a_killed_sender_is_dropped_not_judged(receiver: Receiver) -> None:
    """A worker killed mid-request leaves the receiver a body shorter than it said: the
    connection broke, and the receiver drops it, as a server drops the connection,
    rather than count it a forged signature."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(receiver.url)
    assert url.hostname is not None
    with socket.create_connection((url.hostname, url.port or 80), timeout=5) as sock:
        sock.sendall(
            b"POST /records HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
            b'X-Switchover-Timestamp: 1\r\nX-Switchover-Signature: sha256=00\r\n\r\n{"cut":'
        )
        sock.shutdown(socket.SHUT_WR)  # the sender is gone
        assert sock.recv(1024) == b""  # no answer: the connection is closed
    assert receiver.bad_signatures == 0
    assert sum(receiver.requests.values()) == 0

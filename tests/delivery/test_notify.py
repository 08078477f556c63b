"""Notifications through GOV.UK Notify's client against a local server speaking its API:
a passed review deadline sends exactly one email request, with no personal data."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.notify import NotifyActivities
from adapters.notify import Notifier, safe_value
from config.settings import TASK_QUEUE_WORKFLOWS, Settings
from domain.delivery import NotificationKind, NotificationRefused, NotifyInput
from domain.digitise import DigitiseFormInput, DigitiseFormStatus
from switchover.worker import ActivitySet
from tests.delivery.notify_server import NotifyServer, notify_server
from tests.fakes.digitise_activities import FakeDigitiseActivities, document
from tests.fakes.workers import running_workers
from workflows.digitise import DigitiseFormWorkflow

TEMPLATES = {kind: str(uuid.uuid4()) for kind in NotificationKind}


@pytest.fixture
def notify() -> Iterator[NotifyServer]:
    with notify_server() as server:
        yield server


def settings_for(server: NotifyServer) -> Settings:
    return Settings(
        notify_api_key=server.api_key,  # type: ignore[arg-type]
        notify_base_url=server.url,
        notify_email_to="migration-team@example.gov.uk",
        notify_template_review_overdue=TEMPLATES[NotificationKind.REVIEW_OVERDUE],
        notify_template_gate_failed=TEMPLATES[NotificationKind.GATE_FAILED],
        notify_template_approval_waiting=TEMPLATES[NotificationKind.APPROVAL_WAITING],
        notify_template_checklist_stale=TEMPLATES[NotificationKind.CHECKLIST_STALE],
        public_url="https://switchover.example.gov.uk",
    )


async def test_a_passed_review_deadline_sends_one_request_without_personal_data(
    time_skipping_env: WorkflowEnvironment, notify: NotifyServer
) -> None:
    fake = FakeDigitiseActivities(sla_seconds=48 * 3600)
    notifier = NotifyActivities(Notifier(settings_for(notify)))
    activities = ActivitySet(ocr=[fake.extract_form], io=[*fake.all(), *notifier.all()])
    client = time_skipping_env.client
    async with running_workers(client, activities):
        handle = await client.start_workflow(
            DigitiseFormWorkflow.run, DigitiseFormInput(document=document("d")),
            id=f"test-{uuid.uuid4()}", task_queue=TASK_QUEUE_WORKFLOWS,
        )  # fmt: skip
        await time_skipping_env.sleep(timedelta(hours=47))
        assert notify.emails == []  # not yet due
        await time_skipping_env.sleep(timedelta(hours=30))  # past the deadline, and on
        state = await handle.query(DigitiseFormWorkflow.status, result_type=DigitiseFormStatus)
        await handle.terminate()
    assert state.escalated
    assert notify.refused == 0
    assert len(notify.emails) == 1
    (email,) = notify.emails
    assert email["template_id"] == TEMPLATES[NotificationKind.REVIEW_OVERDUE]
    assert email["email_address"] == "migration-team@example.gov.uk"
    assert email["personalisation"]["subject"] == f"review task {state.task_id}"
    assert email["personalisation"]["link"] == (
        f"https://switchover.example.gov.uk/review/tasks/{state.task_id}"
    )
    sent = json.dumps(email)
    for value in ("OKAFOR", "SW1A", "1AA", "scan.png"):  # the fake form's personal data
        assert value not in sent


def test_personal_data_is_refused_before_any_request(notify: NotifyServer) -> None:
    notifier = Notifier(settings_for(notify))
    for value in ("QQ 12 34 56 C", "SW1A 1AA", "ann@example.com", "12/03/1980"):
        with pytest.raises(NotificationRefused):
            notifier.send(NotifyInput(kind=NotificationKind.GATE_FAILED, subject="legacy-x",
                                      detail=value, reference="r"))  # fmt: skip
    assert notify.emails == []
    assert safe_value("subject", "legacy-electoral") == "legacy-electoral"


def test_a_wrong_key_is_refused_by_the_server(notify: NotifyServer) -> None:
    wrong = f"switchover_test-{notify.service_id}-{uuid.uuid4()}"
    settings = settings_for(notify).model_copy(update={"notify_api_key": SecretStr(wrong)})
    with pytest.raises(NotificationRefused, match="403"):
        Notifier(settings).send(NotifyInput(kind=NotificationKind.APPROVAL_WAITING,
                                            subject="legacy-x", reference="r"))  # fmt: skip
    assert notify.refused == 1


def test_not_configured_sends_nothing_and_says_why() -> None:
    result = NotifyActivities(Notifier(Settings())).notify(
        NotifyInput(kind=NotificationKind.CHECKLIST_STALE, subject="legacy-x", reference="r")
    )
    assert not result.sent
    assert "NOTIFY_API_KEY" in (result.why_not or "")

"""Who is acting, from the command line: personal tokens (stored hashed, expiring,
revocable) prove the name, and the worker's role check accepts a name only with the grant
the proving shell wrote, so a name sent straight to Temporal is refused. The token itself
never reaches Temporal."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from click.testing import CliRunner, Result
from sqlalchemy import select
from temporalio import activity, workflow
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities import names
from config.settings import Settings, get_settings
from db import accounts, tokens
from db.migrate import upgrade
from db.models import AuditEvent, PersonalToken
from db.session import dispose_engines, session_scope
from domain.cutover import CutoverInput, CutoverStatus, EngineerAction, EngineerActionKind
from domain.digitise import (
    CheckDecisionInput,
    Decision,
    RecordStatus,
    ReviewDecision,
    ReviewOutcome,
)
from domain.errors import NotPermittedError
from switchover.cli import main
from switchover.codec import data_converter
from switchover.identity import GrantCheck, grant
from tests.switchover.test_cutover_cli import RoleCheck, StandInCutover

QUEUE = "test-tokens"
REVIEW_QUEUE = "test-tokens-review"


@pytest.fixture
def settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_env: WorkflowEnvironment
) -> Iterator[Settings]:
    monkeypatch.setenv("SWITCHOVER_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SWITCHOVER_TEMPORAL_ADDRESS",
                       local_env.client.service_client.config.target_host)  # fmt: skip
    monkeypatch.setenv("SWITCHOVER_LOG_FORMAT", "json")
    monkeypatch.delenv("SWITCHOVER_TOKEN", raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    upgrade(settings.resolved_database_url)
    with session_scope(settings.resolved_database_url) as session:
        for name, roles in (("erin", ["engineer"]), ("mo", ["manager"]),
                            ("carl", ["caseworker"]), ("ed", ["engineer"])):  # fmt: skip
            accounts.create_user(session, username=name, roles=roles, password_hash=None)
    try:
        yield settings
    finally:
        get_settings.cache_clear()
        dispose_engines()


async def cli(*args: str, token: str | None = None) -> Result:
    runner = CliRunner()
    env = {"SWITCHOVER_TOKEN": token or ""}
    get_settings.cache_clear()  # the settings are read again, with this token
    try:
        return await asyncio.to_thread(runner.invoke, main, list(args), env=env,
                                       catch_exceptions=False)  # fmt: skip
    finally:
        get_settings.cache_clear()


def refusal(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("switchover:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


async def new_token(username: str, *extra: str) -> str:
    made = await cli("users", "token", "create", username, "--name", "laptop", *extra, "--json")
    assert made.exit_code == 0, made.output
    return str(json.loads(made.stdout)["token"])


@pytest_asyncio.fixture
async def cutover(
    local_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[WorkflowHandle[object, object]]:
    """A stand-in cutover awaiting approval, on a worker with the production grant check."""
    url = settings.resolved_database_url
    system_id = f"legacy-{uuid.uuid4().hex[:8]}"
    worker = Worker(local_env.client, task_queue=QUEUE, workflows=[StandInCutover],
                    activities=[RoleCheck(url).check_actor_role], interceptors=[GrantCheck(url)],
                    workflow_runner=UnsandboxedWorkflowRunner())  # fmt: skip
    async with worker:
        handle = await local_env.client.start_workflow(
            "CutoverWorkflow", CutoverInput(plan_path="plan.yaml", system_id=system_id),
            id=f"cutover/{system_id}", task_queue=QUEUE,
        )  # fmt: skip
        yield handle
        await handle.signal("finish")
        await handle.result()


# --- the tokens ---------------------------------------------------------------------------


async def test_tokens_are_kept_hashed_listed_without_themselves_and_revoked(settings) -> None:
    token = await new_token("erin", "--days", "30")
    assert token.startswith("swo_")
    path = Path(settings.resolved_database_url.removeprefix("sqlite:///"))
    database = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert token.encode() not in database
    assert tokens.token_sha256(token).encode() in database

    listed = await cli("users", "token", "list", "erin", "--json")
    (row,) = json.loads(listed.stdout)
    assert token not in listed.stdout
    assert (row["username"], row["name"], row["revoked_at"]) == ("erin", "laptop", None)
    assert row["expires_at"][:10] == (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime(
        "%Y-%m-%d"
    )

    revoked = await cli("users", "token", "revoke", row["id"])
    assert revoked.exit_code == 0
    with (
        session_scope(settings.resolved_database_url) as session,
        pytest.raises(NotPermittedError, match="revoked"),
    ):
        tokens.verify_token(session, token)
    events = await asyncio.to_thread(_actions, settings)
    assert events[-2:] == [("token.created", "erin"), ("token.revoked", "erin")]


async def test_only_engineers_and_managers_hold_tokens(settings) -> None:
    assert (await new_token("mo")).startswith("swo_")
    refused = await cli("users", "token", "create", "carl", "--name", "x")
    assert refused.exit_code == 1
    assert "engineer or manager" in refusal(refused)
    unknown = await cli("users", "token", "create", "zoe", "--name", "x")
    assert unknown.exit_code == 2


async def test_an_expired_token_or_a_lapsed_account_proves_nothing(settings) -> None:
    token = await new_token("ed")
    url = settings.resolved_database_url
    with session_scope(url) as session:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
        with pytest.raises(NotPermittedError, match="expired"):
            tokens.verify_token(session, token, now=later)
        assert tokens.verify_token(session, token).user.username == "ed"
        session.scalars(select(PersonalToken)).first()
        accounts.get_user_by_username(session, "ed").active = False  # type: ignore[union-attr]
    with session_scope(url) as session, pytest.raises(NotPermittedError, match="no longer"):
        tokens.verify_token(session, token)
    for forged in ("swo_abc_def", "", "not a token", token + "x"):
        with session_scope(url) as session, pytest.raises(NotPermittedError, match="not known"):
            tokens.verify_token(session, forged)


# --- acting with them ---------------------------------------------------------------------


async def test_the_token_names_who_acts_and_as_must_match_it(settings, cutover) -> None:
    system_id = cutover.id.removeprefix("cutover/")
    erin = await new_token("erin")
    none = await cli("cutover", "approve", system_id, "--as", "erin")
    assert none.exit_code == 1
    assert "personal token" in refusal(none)
    other = await cli("cutover", "approve", system_id, "--as", "ed", token=erin)
    assert other.exit_code == 1
    assert "erin's" in refusal(other)

    done = await cli("cutover", "approve", system_id, "--json", token=erin)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["answer"] == "approved by erin: 25% of traffic goes to modern"
    status = await cutover.query("status", result_type=CutoverStatus)
    assert status.setting.modern_percent == 25
    # The action is in the audit trail, from the command line, as erin.
    events = await asyncio.to_thread(_actions, settings)
    assert ("cutover.approve", "erin") in events


async def test_a_name_sent_straight_to_temporal_is_refused(settings, cutover, local_env) -> None:
    # Someone who can reach Temporal (its UI, its API) but not the engine database.
    forged = EngineerAction(kind=EngineerActionKind.APPROVE, actor="erin")
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await cutover.execute_update("act", forged, result_type=str)
    assert "did not prove who they are" in str(caught.value.cause)
    status = await cutover.query("status", result_type=CutoverStatus)
    assert status.setting.modern_percent == 5
    events = await asyncio.to_thread(_actions, settings)
    assert ("identity.refused", "erin") in events

    # A grant serves once: the real action after it works, a replay of it does not.
    erin = await new_token("erin")
    system_id = cutover.id.removeprefix("cutover/")
    assert (await cli("cutover", "approve", system_id, token=erin)).exit_code == 0
    with pytest.raises(WorkflowUpdateFailedError):
        await cutover.execute_update("act", forged.model_copy(update={"kind": "approve"}),
                                     result_type=str)  # fmt: skip


async def test_the_token_is_nowhere_in_the_workflow_history(settings, cutover) -> None:
    erin = await new_token("erin")
    system_id = cutover.id.removeprefix("cutover/")
    assert (await cli("cutover", "approve", system_id, token=erin)).exit_code == 0
    history = await cutover.fetch_history()
    plain = history.to_json()
    assert "approve" not in plain  # sealed: the action is not readable either
    opened = await Client.connect(
        cutover._client.service_client.config.target_host,
        data_converter=data_converter(settings),
    )
    decoded = await opened.get_workflow_handle(cutover.id).fetch_history()
    text = json.dumps([str(e) for e in decoded.events])
    secret = erin.split("_", 2)[2]
    assert secret not in plain
    assert secret not in text
    assert tokens.token_sha256(erin) not in plain


def _actions(settings: Settings) -> list[tuple[str, str]]:
    with session_scope(settings.resolved_database_url) as session:
        return [(e.action, e.actor if not e.action.startswith("token.") else e.subject_id)
                for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]  # fmt: skip


# --- a caseworker's review decision ---------------------------------------------------------


@activity.defn(name=names.CHECK_DECISION)
async def stand_in_check_decision(request: CheckDecisionInput) -> ReviewOutcome:
    return ReviewOutcome(accepted=True, status=RecordStatus.APPROVED, fields=request.fields)


@workflow.defn(name="StandInReview")
class StandInReview:
    """The decision step of a form's workflow: the decision goes through ``check_decision``."""

    @workflow.run
    async def run(self, decided_by: str) -> str:
        decision = ReviewDecision(decision=Decision.APPROVE, decided_by=decided_by)
        outcome = await workflow.execute_activity(
            names.CHECK_DECISION,
            CheckDecisionInput(form_type="register-to-vote", fields={}, decision=decision),
            start_to_close_timeout=dt.timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
            result_type=ReviewOutcome,
        )
        return outcome.status.value


async def test_a_review_decision_in_a_name_nobody_proved_is_refused(settings, local_env) -> None:
    url = settings.resolved_database_url
    worker = Worker(local_env.client, task_queue=REVIEW_QUEUE, workflows=[StandInReview],
                    activities=[stand_in_check_decision], interceptors=[GrantCheck(url)],
                    workflow_runner=UnsandboxedWorkflowRunner())  # fmt: skip
    async with worker:
        forged_id = f"digitise-{uuid.uuid4().hex}"
        with pytest.raises(WorkflowFailureError) as caught:
            await local_env.client.execute_workflow(
                StandInReview.run, "carl", id=forged_id, task_queue=REVIEW_QUEUE
            )
        refusal = caught.value.cause.__cause__ or caught.value.cause  # the activity's error
        assert "did not prove who they are" in str(refusal)
        events = await asyncio.to_thread(_actions, settings)
        assert ("identity.refused", "carl") in events

        proved_id = f"digitise-{uuid.uuid4().hex}"
        await grant(settings, "carl", proved_id)  # what switchover.review.decide does first
        status = await local_env.client.execute_workflow(
            StandInReview.run, "carl", id=proved_id, task_queue=REVIEW_QUEUE
        )
        assert status == RecordStatus.APPROVED.value

"""``switchover cutover`` and ``switchover retire`` against a real Temporal dev server.

The cutover workflow itself is a stand-in here, registered under the real name
``CutoverWorkflow``: it keeps the contract of ``domain.cutover`` (the ``status`` query,
the ``act`` update that checks the actor's engineer role in the engine database, the
``checklist_changed`` signal) and nothing else, so these tests prove the command line
around it. The real workflow has its own tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from click.testing import CliRunner, Result
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from adapters.storage import open_store
from config.settings import Settings, get_settings
from db import accounts
from db.cutover import record_cutover_event, set_cutover_state
from db.migrate import upgrade
from db.models import ChecklistItem
from db.programme import register_system
from db.session import dispose_engines, session_scope
from domain.cutover import (
    CheckActorInput,
    CutoverEventKind,
    CutoverInput,
    CutoverPhase,
    CutoverStatus,
    EngineerAction,
    EngineerActionKind,
    GateFigures,
    RouterSetting,
)
from switchover.cli import main
from tests.switchover.tokens import token_env

QUEUE = "test-cutover-cli"
FIGURES = GateFigures(
    requests=1250, error_rate=0.004, p95_ms=312.5, mismatch_rate=0.0, reconciliation_passed=True
)


# --- the stand-in workflow -------------------------------------------------------------


class RoleCheck:
    """The actor's role, looked up in the engine database, as the real activity does."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    @activity.defn(name="check_actor_role")
    async def check_actor_role(self, request: CheckActorInput) -> None:
        await asyncio.to_thread(self._check, request)

    def _check(self, request: CheckActorInput) -> None:
        with session_scope(self.database_url) as session:
            user = accounts.get_user_by_username(session, request.actor)
            if user is None or request.role not in user.roles:
                raise ApplicationError(
                    f"{request.actor} is not an {request.role}",
                    type="NotPermittedError",
                    non_retryable=True,
                )


@workflow.defn(name="CutoverWorkflow")
class StandInCutover:
    """Waits for approval at 5%; an approval moves it to 25%, anything else is refused."""

    def __init__(self) -> None:
        self._status = CutoverStatus(system_id="")
        self._checklist_signals = 0
        self._done = False

    @workflow.run
    async def run(self, request: CutoverInput) -> None:
        self._status = CutoverStatus(
            system_id=request.system_id,
            phase=CutoverPhase.AWAITING_APPROVAL,
            stages=[5, 25, 50, 100],
            stage_index=0,
            setting=RouterSetting(modern_percent=5, shadow=True, version=2),
            waiting_for="an engineer's approval to begin 25%",
            last_figures=FIGURES,
        )
        await workflow.wait_condition(lambda: self._done)

    @workflow.query
    def status(self) -> CutoverStatus:
        return self._status

    @workflow.query
    def checklist_signals(self) -> int:
        return self._checklist_signals

    @workflow.update
    async def act(self, action: EngineerAction) -> str:
        try:
            await workflow.execute_activity(
                "check_actor_role",
                CheckActorInput(actor=action.actor),
                start_to_close_timeout=dt.timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as e:
            cause = e.cause
            if isinstance(cause, ApplicationError) and cause.type == "NotPermittedError":
                raise ApplicationError(cause.message, type="NotPermittedError") from None
            raise
        if (
            action.kind is not EngineerActionKind.APPROVE
            or self._status.phase is not CutoverPhase.AWAITING_APPROVAL
        ):
            raise ApplicationError(
                f"cannot {action.kind.value} now: the cutover is "
                f"{self._status.phase.value.replace('_', ' ')}",
                type="ConflictError",
            )
        self._status = self._status.model_copy(
            update={
                "phase": CutoverPhase.STAGE,
                "stage_index": 1,
                "setting": RouterSetting(modern_percent=25, shadow=True, version=3),
                "waiting_for": "the stage to soak",
            }
        )
        return f"approved by {action.actor}: 25% of traffic goes to modern"

    @workflow.signal
    def checklist_changed(self) -> None:
        self._checklist_signals += 1

    @workflow.signal
    def finish(self) -> None:
        self._done = True


@dataclass
class Cutover:
    """A stand-in cutover running on the test server, with its worker."""

    settings: Settings
    system_id: str
    handle: WorkflowHandle[Any, Any]


@contextlib.asynccontextmanager
async def running_stand_in(
    client: Client, database_url: str
) -> AsyncIterator[Callable[[str], Awaitable[WorkflowHandle[Any, Any]]]]:
    """A worker for the stand-in; what it yields starts a cutover for a system id, and
    every cutover started is finished on the way out."""
    handles: list[WorkflowHandle[Any, Any]] = []
    worker = Worker(
        client,
        task_queue=QUEUE,
        workflows=[StandInCutover],
        activities=[RoleCheck(database_url).check_actor_role],
        # A test fake defined beside its tests: the sandbox would re-import this module.
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_activities=2,
    )

    async def start(system_id: str) -> WorkflowHandle[Any, Any]:
        handle = await client.start_workflow(
            "CutoverWorkflow",
            CutoverInput(plan_path="plan.yaml", system_id=system_id),
            id=f"cutover/{system_id}",
            task_queue=QUEUE,
        )
        handles.append(handle)
        return handle

    async with worker:
        yield start
        for handle in handles:
            with contextlib.suppress(RPCError):  # a test may have finished it already
                await handle.signal("finish")
            await handle.result()


@pytest_asyncio.fixture
async def stand_in_worker(
    local_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[Callable[[str], Awaitable[WorkflowHandle[Any, Any]]]]:
    async with running_stand_in(local_env.client, settings.resolved_database_url) as start:
        yield start


def register(settings: Settings, system_id: str) -> None:
    """A known system with a three-item retirement checklist."""
    with session_scope(settings.resolved_database_url) as session:
        register_system(
            session, system_id=system_id, name="Electoral Register", department="Local Gov",
            risk_score=22, annual_run_cost_gbp=Decimal("420000"),
            migration_cost_gbp=Decimal("60000"), actor="eng",
        )  # fmt: skip
        for position, text in enumerate(
            ["Supplier contract ended", "DNS records removed", "Data retention agreed"], start=1
        ):
            session.add(ChecklistItem(system_id=system_id, position=position, item=text))


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_env: WorkflowEnvironment
) -> Iterator[Settings]:
    """The CLI's settings (by environment): a fresh state folder and the test server."""
    address = local_env.client.service_client.config.target_host
    monkeypatch.setenv("SWITCHOVER_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SWITCHOVER_TEMPORAL_ADDRESS", address)
    monkeypatch.setenv("SWITCHOVER_LOG_FORMAT", "json")
    get_settings.cache_clear()
    settings = get_settings()
    upgrade(settings.resolved_database_url)
    with session_scope(settings.resolved_database_url) as session:
        accounts.create_user(session, username="eng1", roles=["engineer"], password_hash=None)
        accounts.create_user(session, username="pm1", roles=["manager"], password_hash=None)
    try:
        yield settings
    finally:
        get_settings.cache_clear()
        dispose_engines()


@pytest.fixture
def system_id() -> str:
    return f"legacy-electoral-{uuid.uuid4().hex[:8]}"


async def cli(*args: str) -> Result:
    """Run the command in a thread: it runs its own event loop, the worker runs in ours.
    A ``--as NAME`` acts with a personal token of NAME's, as a person would."""
    runner = CliRunner()
    env = token_env(get_settings().resolved_database_url, args)
    get_settings.cache_clear()
    try:
        return await asyncio.to_thread(runner.invoke, main, list(args), env=env,
                                       catch_exceptions=False)  # fmt: skip
    finally:
        get_settings.cache_clear()


def refusal(result: Result) -> str:
    """The one ``switchover:`` line a failing command prints on stderr."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("switchover:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- status -----------------------------------------------------------------------------


async def test_status_of_a_running_cutover_comes_from_the_workflow(
    settings, stand_in_worker, system_id
) -> None:
    register(settings, system_id)
    with session_scope(settings.resolved_database_url) as session:
        record_cutover_event(session, system_id, CutoverEventKind.GATE_PASSED, actor="cutover",
                             modern_percent=5, figures=FIGURES)  # fmt: skip
    await stand_in_worker(system_id)

    result = await cli("cutover", "status", system_id, "--json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["source"] == "workflow"
    assert view["running"] is True
    assert view["phase"] == "awaiting_approval"
    assert view["modern_percent"] == 5
    assert view["system_of_record"] == "legacy"
    assert view["waiting_for"] == "an engineer's approval to begin 25%"
    assert view["last_figures"]["requests"] == 1250
    assert [h["kind"] for h in view["history"]] == ["gate_passed"]

    text = await cli("cutover", "status", system_id)
    assert text.exit_code == 0
    assert "awaiting approval" in text.stdout
    assert "on modern:         5%" in text.stdout
    assert "system of record:  legacy" in text.stdout
    assert "1250 requests, errors 0.40%, p95 312 ms" in text.stdout


async def test_status_without_a_workflow_comes_from_the_engine_database(
    settings, system_id
) -> None:
    register(settings, system_id)
    failed = FIGURES.model_copy(update={"error_rate": 0.04, "failures": ["error rate 4.0% > 1.0%"]})
    with session_scope(settings.resolved_database_url) as session:
        set_cutover_state(session, system_id, phase=CutoverPhase.AWAITING_ENGINEER,
                          setting=RouterSetting(modern_percent=5, shadow=True))  # fmt: skip
        record_cutover_event(session, system_id, CutoverEventKind.GATE_FAILED, actor="cutover",
                             modern_percent=25, figures=failed)  # fmt: skip
        record_cutover_event(session, system_id, CutoverEventKind.ROLLED_BACK, actor="cutover",
                             modern_percent=5, note="error rate over the gate")  # fmt: skip

    result = await cli("cutover", "status", system_id)
    assert result.exit_code == 0, result.output
    assert "awaiting engineer" in result.stdout
    assert "[from the engine database]" in result.stdout
    assert "an engineer: a gate failed" in result.stdout
    assert "failed: error rate 4.0% > 1.0%" in result.stdout
    assert result.stdout.index("gate failed 25%") < result.stdout.index("rolled back 5%")
    assert "no cutover workflow has run" in refusal(result)

    as_json = json.loads((await cli("cutover", "status", system_id, "--json")).stdout)
    assert as_json["source"] == "engine database"
    assert as_json["last_figures"]["failures"] == ["error rate 4.0% > 1.0%"]


async def test_status_of_an_unknown_system_is_bad_input(settings) -> None:
    result = await cli("cutover", "status", "no-such-system")
    assert result.exit_code == 2
    assert "no-such-system" in refusal(result)


# --- actions ----------------------------------------------------------------------------


async def test_an_engineer_approves_and_the_workflow_moves_on(
    settings, stand_in_worker, system_id
) -> None:
    handle = await stand_in_worker(system_id)
    result = await cli("cutover", "approve", system_id, "--as", "eng1", "--reason", "gates fine",
                       "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "system": system_id, "action": "approve", "actor": "eng1",
        "answer": "approved by eng1: 25% of traffic goes to modern",
    }  # fmt: skip
    status = await handle.query("status", result_type=CutoverStatus)
    assert status.setting.modern_percent == 25


async def test_an_approval_by_a_non_engineer_is_refused_by_the_workflow(
    settings, stand_in_worker, system_id
) -> None:
    handle = await stand_in_worker(system_id)
    result = await cli("cutover", "approve", system_id, "--as", "pm1")
    assert result.exit_code == 1
    line = refusal(result)
    assert "pm1 is not an engineer" in line
    assert (await handle.query("status", result_type=CutoverStatus)).setting.modern_percent == 5


async def test_an_action_that_does_not_fit_the_phase_is_refused(
    settings, stand_in_worker, system_id
) -> None:
    await stand_in_worker(system_id)
    result = await cli("cutover", "rollback", system_id, "--as", "eng1")
    assert result.exit_code == 1
    assert "cannot rollback now: the cutover is awaiting approval" in refusal(result)


async def test_no_running_cutover_exits_2(settings, system_id) -> None:
    result = await cli("cutover", "freeze", system_id, "--as", "eng1")
    assert result.exit_code == 2
    assert f"no cutover is running for {system_id}" in refusal(result)


async def test_a_finished_cutover_is_not_running(settings, stand_in_worker, system_id) -> None:
    handle = await stand_in_worker(system_id)
    await handle.signal("finish")
    await handle.result()
    result = await cli("cutover", "approve", system_id, "--as", "eng1")
    assert result.exit_code == 2
    assert f"no cutover is running for {system_id}" in refusal(result)


async def test_temporal_unreachable_exits_3(settings, monkeypatch, system_id) -> None:
    monkeypatch.setenv("SWITCHOVER_TEMPORAL_ADDRESS", "127.0.0.1:1")
    get_settings.cache_clear()
    result = await cli("cutover", "advance", system_id, "--as", "eng1")
    assert result.exit_code == 3
    assert "cannot reach Temporal" in refusal(result)


# --- the retirement checklist -------------------------------------------------------------


async def test_closing_an_item_stores_the_evidence_and_tells_the_workflow(
    settings, stand_in_worker, system_id, tmp_path
) -> None:
    register(settings, system_id)
    handle = await stand_in_worker(system_id)
    letter = tmp_path / "termination-letter.pdf"
    letter.write_bytes(b"%PDF-1.4 contract ended")

    result = await cli("retire", "close", system_id, "1", "--as", "pm1",
                       "--note", "Supplier confirmed in writing", "--evidence", str(letter),
                       "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    closed = json.loads(result.stdout)
    assert closed["closed_by"] == "pm1"
    assert closed["workflow_told"] is True
    assert await handle.query("checklist_signals", result_type=int) == 1

    listing = json.loads((await cli("retire", "checklist", system_id, "--json")).stdout)
    assert [item["closed"] for item in listing] == [True, False, False]
    assert listing[0]["note"] == "Supplier confirmed in writing"
    assert listing[0]["evidence_name"] == "termination-letter.pdf"
    with session_scope(settings.resolved_database_url) as session:
        key = session.get_one(ChecklistItem, _item_id(settings, system_id, 1)).evidence_key
    assert key is not None
    assert open_store(settings.resolved_storage_url, settings).get(key) == letter.read_bytes()

    text = await cli("retire", "checklist", system_id)
    assert "[x] 1. Supplier contract ended" in text.stdout
    assert "[ ] 2. DNS records removed" in text.stdout


def _item_id(settings: Settings, system_id: str, position: int) -> int:
    from sqlalchemy import select

    with session_scope(settings.resolved_database_url) as session:
        return session.scalars(
            select(ChecklistItem.id).where(
                ChecklistItem.system_id == system_id, ChecklistItem.position == position
            )
        ).one()


async def test_closing_twice_unknown_items_and_strangers_are_refused(settings, system_id) -> None:
    register(settings, system_id)
    first = await cli("retire", "close", system_id, "2", "--as", "eng1", "--note", "zone gone")
    assert first.exit_code == 0, first.output
    assert "no cutover workflow is running" in refusal(first)  # closed, but nobody to tell

    again = await cli("retire", "close", system_id, "2", "--as", "eng1", "--note", "again")
    assert again.exit_code == 1
    refusal(again)
    unknown = await cli("retire", "close", system_id, "9", "--as", "eng1", "--note", "x")
    assert unknown.exit_code == 2
    refusal(unknown)
    stranger = await cli("retire", "close", system_id, "3", "--as", "nobody", "--note", "x")
    assert stranger.exit_code == 1
    assert "personal token" in refusal(stranger)  # nobody has no account, so no token
    blank = await cli("retire", "close", system_id, "3", "--as", "eng1", "--note", "  ")
    assert blank.exit_code == 2
    assert "needs a note" in refusal(blank)
    listing = json.loads((await cli("retire", "checklist", system_id, "--json")).stdout)
    assert [item["closed_by"] for item in listing] == [None, "eng1", None]
    assert listing[1]["note"] == "zone gone"


async def test_status_falls_back_to_the_database_when_temporal_is_unreachable(
    settings, monkeypatch, system_id
) -> None:
    register(settings, system_id)
    with session_scope(settings.resolved_database_url) as session:
        set_cutover_state(session, system_id, phase=CutoverPhase.STAGE,
                          setting=RouterSetting(modern_percent=50))  # fmt: skip
    monkeypatch.setenv("SWITCHOVER_TEMPORAL_ADDRESS", "127.0.0.1:1")
    get_settings.cache_clear()
    result = await cli("cutover", "status", system_id, "--json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert (view["source"], view["running"], view["modern_percent"]) == ("engine database",
                                                                         False, 50)  # fmt: skip
    assert "Temporal is unreachable" in view["note"]


async def test_router_needs_an_existing_plan(settings, tmp_path) -> None:
    result = await cli("router", str(tmp_path / "missing.yaml"), "--port", "9000")
    assert result.exit_code == 2
    assert "missing.yaml" in result.output

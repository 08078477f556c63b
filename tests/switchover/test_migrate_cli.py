"""``switchover migrate decide | pause | resume | cancel | status | run`` against a real
Temporal dev server, the real ``MigrateSystemWorkflow`` and the real decision activities
on an engine database: an engineer's decisions go through and into the audit trail, a
caseworker's are refused; waiting, cancelled and failed runs show as such with their
reason; a bad legacy record with quarantine off is one line and exit code 2.

Copy and reconciliation are the workflow tests' fakes where the data does not matter;
the failed run reads a real CSV file into a real PostgreSQL target.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities import names
from activities.decisions import DecisionActivities
from activities.migrate import MigrationActivities
from config.settings import TASK_QUEUE_IO, TASK_QUEUE_WORKFLOWS, Settings, get_settings
from db import accounts
from db.audit import audit_events_for, verify_audit_chain
from db.migrate import upgrade
from db.session import dispose_engines, session_scope
from domain.migration import (
    CopyBatchInput,
    CopyBatchResult,
    MigrateSystemInput,
    MigrateSystemResult,
    MigrationStatus,
    RunState,
    TableState,
)
from domain.workflow_ids import copy_id, migration_id
from switchover.devserver import free_port, start_dev_server
from switchover.worker import ActivitySet
from tests.conftest import sealing_data_converter
from tests.fakes.workers import running_workers
from tests.migration.conftest import plan_reader, postgres_name  # noqa: F401
from tests.switchover.tokens import token_env
from tests.workflows.test_migrate import FakeMigration


@dataclass
class Engine:
    """The engine database the workers and the CLI share, with an engineer and a
    caseworker."""

    settings: Settings
    url: str


@pytest.fixture
def engine(
    tmp_path: Path, local_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    monkeypatch.setenv("SWITCHOVER_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SWITCHOVER_LOG_FORMAT", "json")
    monkeypatch.setenv("SWITCHOVER_TEMPORAL_ADDRESS",
                       local_env.client.service_client.config.target_host)  # fmt: skip
    get_settings.cache_clear()
    settings = get_settings()
    url = settings.resolved_database_url
    upgrade(url)
    with session_scope(url) as session:
        accounts.create_user(session, username="erin", roles=["engineer"], password_hash=None)
        # A manager holds a personal token, but is no engineer: the workflow refuses him.
        accounts.create_user(session, username="carl", roles=["manager"], password_hash=None)
    try:
        yield Engine(settings, url)
    finally:
        get_settings.cache_clear()
        dispose_engines()


PROGRAM = Path(sys.executable).parent / "switchover"
RESTART_DOWN_S = 12.0
HEARTBEAT_S = 240.0
"""The restart test's plan: longer than the outage, and found again in the copy's calls."""
"""How long the restarted Temporal server stays away: past the client library's own
retries, so the command's waiting is what rides it out."""


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command in its own process, as an engineer runs it (its stderr is its
    own: in this process the workers' logs would mix in); the workers run meanwhile."""
    return await asyncio.to_thread(
        subprocess.run, [str(PROGRAM), *args], capture_output=True, text=True, timeout=300,
        env={**os.environ, **token_env(get_settings().resolved_database_url, args)}, check=False,
    )  # fmt: skip


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The command's one line on stderr (log lines, if any, are JSON)."""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@dataclass
class HeldCopy(FakeMigration):
    """The fake migration, whose copies wait until ``go`` is set."""

    go: threading.Event = field(default_factory=threading.Event)
    copying: threading.Event = field(default_factory=threading.Event)
    """Set once a copy batch has begun (and is waiting for ``go``)."""

    @activity.defn(name=names.COPY_BATCH)
    def copy_batch(self, request: CopyBatchInput) -> CopyBatchResult:
        self.copying.set()
        # Long enough to outlast a restart on a loaded machine: a copy that finished
        # while the server was away would lose its completion and wait for its
        # heartbeat timeout to be tried again.
        self.go.wait(120)
        return super().copy_batch(request)


@asynccontextmanager
async def workers(client: Client, engine: Engine, fake: FakeMigration) -> AsyncIterator[None]:
    """The real workflows; the fake's copy and reconciliation under their real names; the
    real decision activities on the engine database."""
    fakes = [a for a in fake.all() if a.__name__ not in ("authorise_decision", "record_decision")]
    activities = ActivitySet(ocr=[], io=[*fakes, *DecisionActivities(engine.url).all()])
    async with running_workers(client, activities, queues=(TASK_QUEUE_WORKFLOWS, TASK_QUEUE_IO)):
        yield


async def start(client: Client, system_id: str, **options: Any) -> Any:
    request = MigrateSystemInput(plan_path="plan.yaml", batch_max_rows=10, batches_per_run=3,
                                 **options)  # fmt: skip
    return await client.start_workflow("MigrateSystemWorkflow", request,
                                       id=migration_id(system_id), task_queue=TASK_QUEUE_WORKFLOWS,
                                       result_type=MigrateSystemResult)  # fmt: skip


async def until(client: Client, system_id: str, check: Callable[[MigrationStatus], bool]) -> None:
    handle = client.get_workflow_handle(migration_id(system_id))
    state = None
    for _ in range(600):
        try:
            state = await handle.query("status", result_type=MigrationStatus)
        except RPCError as e:  # not started yet (by a command still starting up)
            if e.status is not RPCStatusCode.NOT_FOUND:
                raise
        if state is not None and check(state):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached: {state}")


def audited(engine: Engine, system_id: str) -> list[tuple[str, str, bool, str | None]]:
    with session_scope(engine.url) as session:
        assert verify_audit_chain(session).ok
        return [(e.actor, e.action, e.detail["accepted"], e.detail.get("reason"))
                for e in audit_events_for(session, [("system", system_id)])]  # fmt: skip


async def test_an_engineer_answers_the_gate_and_a_caseworker_is_refused(
    local_env: WorkflowEnvironment, engine: Engine
) -> None:
    system_id = f"legacy-gate-{uuid.uuid4().hex[:8]}"
    fake = FakeMigration(rows={"A": 30, "B": 20}, failing=Counter({"A": 1}), system_id=system_id)
    client = local_env.client
    async with workers(client, engine, fake):
        handle = await start(client, system_id)
        await until(client, system_id, lambda s: "A" in s.tables
                    and s.tables["A"].state is TableState.AWAITING_DECISION)  # fmt: skip
        shown = await cli("migrate", "status", system_id)
        assert shown.returncode == 0, shown.stderr
        assert f"{system_id}: reconcile, awaiting decision" in shown.stdout
        assert "why: gate failed for A: 0 missing, 0 extra, 2 changed" in shown.stdout
        assert "A: awaiting_decision" in shown.stdout

        refused = await cli("migrate", "decide", system_id, "accept", "--reason", "agreed",
                            "--as", "carl")  # fmt: skip
        assert refused.returncode == 1, refused.stderr
        assert one_line(refused).startswith("switchover: carl is not an active engineer")
        nobody = await cli("migrate", "decide", system_id, "accept", "--reason", "agreed",
                           "--as", "nobody")  # fmt: skip
        assert nobody.returncode == 1, nobody.stderr
        assert "personal token" in one_line(nobody)  # no account, so no token: not sent
        wrong_table = await cli("migrate", "decide", system_id, "resync", "--table", "B",
                                "--reason", "try", "--as", "erin")  # fmt: skip
        assert wrong_table.returncode == 1, wrong_table.stderr
        assert "table B is not waiting for a decision (A is)" in one_line(wrong_table)

        why = "two rounding differences, agreed with finance"
        accepted = await cli("migrate", "decide", system_id, "accept", "--reason", why,
                             "--as", "erin")  # fmt: skip
        assert accepted.returncode == 0, accepted.stderr
        assert accepted.stdout.strip() == "accept A"
        result = await handle.result()
    assert result.state is RunState.READY_FOR_CUTOVER
    assert audited(engine, system_id) == [
        ("carl", "migration.gate_accept", False, "agreed"),
        ("erin", "migration.gate_accept", True, why),
    ]


async def test_pause_resume_cancel_and_the_cancelled_run_shown(
    local_env: WorkflowEnvironment, engine: Engine
) -> None:
    system_id = f"legacy-ctl-{uuid.uuid4().hex[:8]}"
    fake = HeldCopy(rows={"A": 200}, system_id=system_id)
    client = local_env.client
    async with workers(client, engine, fake):
        await start(client, system_id)
        await until(client, system_id, lambda s: "A" in s.tables
                    and s.tables["A"].state is TableState.COPYING)  # fmt: skip
        paused = await cli("migrate", "pause", system_id, "--as", "erin", "--reason", "backup")
        assert paused.returncode == 0, paused.stderr
        assert paused.stdout.strip() == f"pause accepted for {system_id}"
        fake.go.set()
        shown = await cli("migrate", "status", system_id)
        assert f"{system_id}: copy, paused" in shown.stdout
        assert "why: paused by erin: backup" in shown.stdout
        again = await cli("migrate", "pause", system_id, "--as", "erin")
        assert again.returncode == 1
        assert one_line(again).endswith("it is paused already")
        # Hold the copy again, so the run is still copying when the cancels come.
        fake.go.clear()
        resumed = await cli("migrate", "resume", system_id, "--as", "erin")
        assert resumed.returncode == 0, resumed.stderr
        refused = await cli("migrate", "cancel", system_id, "--as", "carl")
        assert refused.returncode == 1, refused.stderr
        cancelled = await cli("migrate", "cancel", system_id, "--as", "erin", "--reason",
                              "wrong plan")  # fmt: skip
        assert cancelled.returncode == 0, cancelled.stderr
        fake.go.set()
        await client.get_workflow_handle(migration_id(system_id)).result()
        shown = await cli("migrate", "status", system_id, "--json")
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)[0]
    assert (view["state"], view["running"]) == ("cancelled", False)
    assert view["reason"] == "cancelled by erin: wrong plan"
    assert [(a, what, ok) for a, what, ok, _ in audited(engine, system_id)] == [
        ("erin", "migration.pause", True),
        ("erin", "migration.resume", True),
        ("carl", "migration.cancel", False),
        ("erin", "migration.cancel", True),
    ]
    missing = await cli("migrate", "pause", "no-such-system", "--as", "erin")
    assert missing.returncode == 2
    assert one_line(missing) == "switchover: no migration of no-such-system is running"


def bad_record_plan(
    tmp_path: Path, system_id: str, postgres: str, *, heartbeat_timeout_s: float = 5
) -> Path:
    """A CSV export whose third record lacks a field, and a plan with quarantine off."""
    data = tmp_path / "people.csv"
    data.write_text("ID,NAME,AMOUNT\n1,Ann,10\n2,Bob,20\n3,Cy\n4,Di,40\n", encoding="utf-8")
    plan = {
        "system": {"id": system_id, "name": "People"},
        "source": {"kind": "csv", "path": str(data)},
        "target": {"url": f"postgresql+psycopg://postgres@127.0.0.1/{postgres}",
                   "schema": f"s_{uuid.uuid4().hex[:8]}"},
        "tables": [{"source": "people", "target": "people", "key": ["ID"]}],
        "heartbeat_timeout_s": heartbeat_timeout_s,
    }  # fmt: skip
    path = tmp_path / "people.yaml"
    path.write_text(yaml.safe_dump(plan), encoding="utf-8")
    return path


async def test_a_bad_record_is_one_line_and_the_failed_run_shows_why(
    local_env: WorkflowEnvironment,
    engine: Engine,
    postgres_name: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    system_id = f"legacy-bad-{uuid.uuid4().hex[:8]}"
    plan = bad_record_plan(tmp_path, system_id, postgres_name)
    activities = ActivitySet(ocr=[], io=[*MigrationActivities(engine.url).all(),
                                         plan_reader(engine.url),
                                         *DecisionActivities(engine.url).all()])  # fmt: skip
    async with running_workers(local_env.client, activities,
                               queues=(TASK_QUEUE_WORKFLOWS, TASK_QUEUE_IO)):  # fmt: skip
        ran = await cli("migrate", "run", str(plan), "--wait")
        shown = await cli("migrate", "status", system_id)
        listed = await cli("migrate", "status", "--json")
    assert ran.returncode == 2, ran.stderr
    line = one_line(ran)
    assert line.startswith(f"switchover: the migration of {system_id} failed: ")
    assert line.endswith("people.csv, record 3, byte offset 33: 2 fields where the header has 3")
    assert shown.returncode == 0, shown.stderr
    assert f"{system_id}: profile, failed" in shown.stdout
    assert "why: " in shown.stdout
    assert "people.csv, record 3, byte offset 33: 2 fields where the header has 3" in shown.stdout
    views = {v["system"]: v for v in json.loads(listed.stdout)}
    assert views[system_id]["state"] == "failed"
    assert "record 3" in views[system_id]["reason"]


async def test_run_wait_rides_out_a_temporal_restart(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, port, ui_port = tmp_path / "temporal", free_port(), free_port()
    server = start_dev_server(home, port=port, ui_port=ui_port)
    try:
        address = f"127.0.0.1:{port}"
        monkeypatch.setenv("SWITCHOVER_TEMPORAL_ADDRESS", address)
        client = await Client.connect(address, data_converter=sealing_data_converter())
        system_id = f"legacy-restart-{uuid.uuid4().hex[:8]}"
        # The fake reads no plan; its copy waits for the restart without heartbeating.
        plan = bad_record_plan(tmp_path, system_id, "unused", heartbeat_timeout_s=HEARTBEAT_S)
        fake = HeldCopy(rows={"A": 50}, system_id=system_id)
        async with workers(client, engine, fake):
            waiting = asyncio.create_task(
                cli("migrate", "run", str(plan), "--wait", "--until", "copy", "--json")
            )
            # Stopped while the copy batch waits: an activity that ended while the server
            # was away (the copy's prepare_target, say) would lose its completion and
            # wait out its whole timeout before being tried again.
            assert await asyncio.to_thread(fake.copying.wait, 120)
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(RESTART_DOWN_S)  # longer than the client's own retries
            server = await asyncio.to_thread(start_dev_server, home, port=port, ui_port=ui_port)
            fake.go.set()
            ran = await waiting
        copy = client.get_workflow_handle(copy_id(migration_id(system_id), "A"))
        history = await copy.fetch_history()
    finally:
        server.stop()
    heartbeats = {e.activity_task_scheduled_event_attributes.heartbeat_timeout.ToSeconds()
                  for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
                  and e.activity_task_scheduled_event_attributes.activity_type.name
                  == "copy_batch"}  # fmt: skip
    assert heartbeats == {HEARTBEAT_S}  # the plan's, not the default
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["state"] == "stopped"
    assert result["tables"]["A"]["rows_copied"] == 50
    assert "temporal.waiting_for_server" in ran.stderr  # it did lose the server meanwhile

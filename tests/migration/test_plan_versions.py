"""Plans that travel with the run: ``migrate run`` stores the plan in the engine database,
the run carries ``plan:<version>``, and activities read that version, not the file.

A copybook travels with the plan (written out by its hash where the worker lacks it); a
data file that changed since the plan was stored is refused with its name; a changed
plan for a system with a run in flight is refused unless ``--new-version``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from config.migration_plan import load_plan, use_stored_plans
from config.settings import Settings, get_settings
from db.migrate import upgrade
from db.plans import StoredPlans, plan_ref, serve_stored_plans, store_plan
from db.session import dispose_engines, session_scope
from domain.errors import ConflictError, PlanError
from domain.migration import MigrateSystemInput
from domain.workflow_ids import migration_id
from switchover.migrate import PLAN_MEMO, start_run
from switchover.temporal import connect


def _csv_plan(folder: Path, *, system: str = "legacy-lib", batch_rows: int = 100) -> Path:
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "members.csv").write_text("ID,NAME\n1,Ann\n2,Bob\n", encoding="utf-8")
    plan = {
        "system": {"id": system, "name": "Library members"},
        "source": {"kind": "csv", "path": "data/members.csv"},
        "target": {"url": "postgresql+psycopg://postgres@127.0.0.1/nowhere"},
        "tables": [{"source": "members", "target": "members", "key": ["ID"]}],
        "batch_rows": batch_rows,
    }
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan), encoding="utf-8")
    return path


@pytest.fixture
def engine_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'engine.db'}"
    upgrade(url)
    try:
        yield url
    finally:
        use_stored_plans(None)
        dispose_engines()


def _store(url: str, plan_file: Path) -> str:
    with session_scope(url) as session:
        return store_plan(session, plan_file).version


def test_a_stored_version_reads_without_the_plan_file(engine_url: str, tmp_path: Path) -> None:
    plan_file = _csv_plan(tmp_path)
    version = _store(engine_url, plan_file)
    assert _store(engine_url, plan_file) == version  # the same plan is one version
    plan_file.unlink()  # the engineer's file is gone: the run does not need it
    serve_stored_plans(engine_url, tmp_path / "cache")
    plan = load_plan(plan_ref(version))
    assert plan.system.id == "legacy-lib"
    assert plan.source.path == (tmp_path / "data" / "members.csv").resolve()  # type: ignore[union-attr]
    assert plan.batch_rows == 100


def test_an_edited_plan_is_another_version_and_the_first_is_unchanged(
    engine_url: str, tmp_path: Path
) -> None:
    plan_file = _csv_plan(tmp_path)
    first = _store(engine_url, plan_file)
    plan_file.write_text(plan_file.read_text().replace("batch_rows: 100", "batch_rows: 7"))
    second = _store(engine_url, plan_file)
    assert first != second
    plans = StoredPlans(engine_url, tmp_path / "cache")
    assert plans.load(plan_ref(first)).batch_rows == 100
    assert plans.load(plan_ref(second)).batch_rows == 7


def test_a_data_file_changed_since_the_plan_was_stored_is_refused_by_name(
    engine_url: str, tmp_path: Path
) -> None:
    version = _store(engine_url, _csv_plan(tmp_path))
    plans = StoredPlans(engine_url, tmp_path / "cache")
    plans.load(plan_ref(version))
    data = tmp_path / "data" / "members.csv"
    # Touched but the same bytes: still the file the plan was stored with.
    os.utime(data, ns=(1_000_000_000, 1_000_000_000))
    plans.load(plan_ref(version))
    data.write_text("ID,NAME\n1,Ann\n2,Bob\n3,Cy\n", encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        plans.load(plan_ref(version))
    assert str(data) in caught.value.message
    assert "changed since the run stored its plan" in caught.value.message
    assert "--new-version" in caught.value.message
    data.unlink()
    with pytest.raises(PlanError, match="not on this worker"):
        plans.load(plan_ref(version))


def test_an_unknown_version_is_a_plan_error(engine_url: str, tmp_path: Path) -> None:
    plans = StoredPlans(engine_url, tmp_path / "cache")
    with pytest.raises(PlanError, match="no stored plan version"):
        plans.load(plan_ref("ab" * 32))
    with pytest.raises(PlanError, match="not a stored plan's reference"):
        plans.load("plan:../elsewhere.yaml")


COPYBOOK = """       01  MEMBER.
           05  MEMBER-ID    PIC 9(6).
           05  NAME         PIC X(10).
"""


def test_a_copybook_travels_with_the_plan_named_by_its_hash(
    engine_url: str, tmp_path: Path
) -> None:
    engineer = tmp_path / "engineer"
    engineer.mkdir()
    (engineer / "member.cpy").write_text(COPYBOOK, encoding="ascii")
    (engineer / "member.dat").write_bytes("000001Ann       ".encode("cp037"))
    plan = {
        "system": {"id": "legacy-mf", "name": "Members"},
        "source": {"kind": "copybook", "copybook": "member.cpy", "data": "member.dat"},
        "target": {"url": "postgresql+psycopg://postgres@127.0.0.1/nowhere"},
        "tables": [{"source": "MEMBER", "target": "members", "key": ["MEMBER-ID"]}],
    }
    plan_file = engineer / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(plan), encoding="utf-8")
    version = _store(engine_url, plan_file)
    (engineer / "member.cpy").unlink()  # this worker has the data file only
    loaded = StoredPlans(engine_url, tmp_path / "cache").load(plan_ref(version))
    copybook = loaded.source.copybook  # type: ignore[union-attr]
    sha = hashlib.sha256(COPYBOOK.encode("ascii")).hexdigest()
    assert copybook == tmp_path / "cache" / f"{sha}.cpy"
    assert copybook.read_text(encoding="ascii") == COPYBOOK


# --- a run in flight -------------------------------------------------------------------


@pytest.fixture
def settings(
    tmp_path: Path, local_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("SWITCHOVER_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SWITCHOVER_TEMPORAL_ADDRESS",
                       local_env.client.service_client.config.target_host)  # fmt: skip
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        get_settings.cache_clear()
        dispose_engines()


async def test_a_changed_plan_is_refused_while_a_run_is_in_flight_unless_new_version(
    settings: Settings, local_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # No worker serves these runs: they stay in flight, as a long copy would.
    system = f"legacy-lib-{uuid.uuid4().hex[:8]}"
    plan_file = _csv_plan(tmp_path, system=system)
    client = local_env.client
    first = await start_run(settings, plan_file, until=None, parallel=1)
    try:
        described = await client.get_workflow_handle(first.workflow_id).describe()
        assert (await described.memo())[PLAN_MEMO] == first.plan_version
        with pytest.raises(ConflictError, match="already running this plan"):
            await start_run(settings, plan_file, until=None, parallel=1)

        plan_file.write_text(plan_file.read_text().replace("batch_rows: 100", "batch_rows: 9"))
        with pytest.raises(ConflictError, match="--new-version") as caught:
            await start_run(settings, plan_file, until=None, parallel=1)
        assert first.plan_version
        assert first.plan_version[:12] in caught.value.message
        still = await client.get_workflow_handle(first.workflow_id, run_id=first.run_id).describe()
        assert still.status is WorkflowExecutionStatus.RUNNING  # the refusal changed nothing

        second = await start_run(settings, plan_file, until=None, parallel=1, new_version=True)
        assert second.plan_version != first.plan_version
        replaced = await client.get_workflow_handle(
            first.workflow_id, run_id=first.run_id
        ).describe()
        assert replaced.status is WorkflowExecutionStatus.TERMINATED
        handle = client.get_workflow_handle(migration_id(system))
        running = await handle.describe()
        assert running.run_id == second.run_id
        assert (await running.memo())[PLAN_MEMO] == second.plan_version
        serve_stored_plans(settings.resolved_database_url, tmp_path / "cache")
        # The workflow carries the stored version, which reads as the edited plan.
        ours = await connect(settings)  # payloads are encrypted as the settings say
        history = await ours.get_workflow_handle(migration_id(system)).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        [request] = await ours.data_converter.decode(
            list(started.input.payloads), [MigrateSystemInput]
        )
        assert request.plan_path == f"plan:{second.plan_version}"
        assert load_plan(f"plan:{second.plan_version}").batch_rows == 9
    finally:
        handle = client.get_workflow_handle(migration_id(system))
        await handle.terminate(reason="test over")


async def test_migrate_run_refuses_a_changed_plan_in_one_line_with_exit_1(
    settings: Settings, local_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from switchover.cli import main

    system = f"legacy-lib-{uuid.uuid4().hex[:8]}"
    plan_file = _csv_plan(tmp_path, system=system)
    runner = CliRunner()
    try:
        first = await asyncio.to_thread(runner.invoke, main, ["migrate", "run", str(plan_file)])
        assert first.exit_code == 0, first.output
        assert "with plan version" in first.stdout
        plan_file.write_text(plan_file.read_text().replace("batch_rows: 100", "batch_rows: 9"))
        refused = await asyncio.to_thread(runner.invoke, main, ["migrate", "run", str(plan_file)])
        assert refused.exit_code == 1
        lines = [line for line in refused.stderr.splitlines() if not line.startswith("{")]
        assert len(lines) == 1, refused.stderr
        assert "--new-version" in lines[0]
        replaced = await asyncio.to_thread(
            runner.invoke, main, ["migrate", "run", str(plan_file), "--new-version", "--json"]
        )
        assert replaced.exit_code == 0, replaced.output
        assert f'"system": "{system}"' in replaced.stdout
    finally:
        await local_env.client.get_workflow_handle(migration_id(system)).terminate(reason="over")

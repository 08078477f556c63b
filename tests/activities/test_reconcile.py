"""The reconcile activity and ``switchover reconcile``: MariaDB legacy, PostgreSQL target,
reports stored in a SQLite engine database."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select
from temporalio import activity
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities import names
from activities.migrate import MigrationActivities
from activities.reconcile import ReconcileActivities
from config.migration_plan import load_plan
from config.settings import TASK_QUEUE_IO, TASK_QUEUE_WORKFLOWS, get_settings
from db.migrate import upgrade
from db.models import ReconciliationReport, System
from db.programme import register_system
from db.session import dispose_engines, session_scope
from domain.migration import (
    GateAction,
    GateDecision,
    MigrateSystemInput,
    MigrationStatus,
    ReconcileTableInput,
    ReconcileTableResult,
    RunState,
    TableState,
)
from domain.reconciliation import TableReport
from switchover.cli import main
from switchover.worker import ActivitySet, build_workers, run_workers
from tests.adapters.reconciliation.conftest import (  # noqa: F401 (module fixtures)
    legacy_db,
    make_target,
    people_rows,
    planted_rows,
    target_db,
    target_url,
)
from tests.migration.conftest import (  # noqa: F401 (module fixtures)
    decision_activities,
    engine_db_url,
    load_electors,
    mariadb_name,
    plan_file,
    plan_reader,
    postgres_name,
)
from workflows.migrate import MigrateSystemWorkflow


@pytest.fixture(scope="module")
def targets(target_db: str) -> str:  # noqa: F811
    make_target(target_db, "people_exact", people_rows())
    make_target(target_db, "people_planted", planted_rows())
    return target_db


def write_plan(path: Path, legacy: str, target: str, table: str) -> Path:
    plan = {
        "system": {"id": "legacy-people", "name": "People register"},
        "source": {"kind": "sql", "url": legacy},
        "target": {"url": target},
        "tables": [{"source": "people", "target": table, "key": ["id"],
                    "tolerance": {"balance": 0.01}}],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(plan), encoding="utf-8")
    return path


@pytest.fixture
def engine_db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'engine.db'}"
    upgrade(url)
    yield url
    dispose_engines()


def test_the_activity_answers_the_gate_and_stores_the_report(
    tmp_path: Path,
    legacy_db: str,  # noqa: F811
    targets: str,
    engine_db: str,
) -> None:
    with session_scope(engine_db) as session:
        register_system(session, system_id="legacy-people", name="People", department="D",
                        risk_score=20, annual_run_cost_gbp=1, migration_cost_gbp=1,
                        actor="test")  # fmt: skip
    plan = write_plan(tmp_path / "plan.yaml", legacy_db, target_url(targets), "people_planted")
    notes: list[str] = []
    acts = ReconcileActivities(engine_db, heartbeat=notes.append)
    result = ActivityEnvironment().run(
        acts.reconcile_table, ReconcileTableInput(plan_path=str(plan), table="people")
    )
    assert not result.passed
    assert (result.missing, result.extra, result.changed) == (1, 2, 2)
    assert sorted(result.differing_keys) == [[17], [291], [451], [700], [3001]]
    assert notes  # heartbeats carried progress
    assert all("Smyth" not in note for note in notes)
    with session_scope(engine_db) as session:
        stored = session.get(ReconciliationReport, result.report_id)
        assert stored is not None
        assert (stored.system_id, stored.table_name, stored.passed) == (
            "legacy-people", "people_planted", False)  # fmt: skip
        report = TableReport.model_validate(stored.report)
        system = session.get(System, "legacy-people")
        assert system is not None
        assert system.last_reconciliation_passed is False
        assert system.last_reconciliation_at is not None
    assert report.missing == [[17]]
    assert [c.key for c in report.changed] == [[451], [700]]


def test_the_activity_reconciles_only_the_keys_it_is_given(
    tmp_path: Path,
    legacy_db: str,  # noqa: F811
    targets: str,
    engine_db: str,
) -> None:
    plan = write_plan(tmp_path / "plan.yaml", legacy_db, target_url(targets), "people_planted")
    request = ReconcileTableInput(plan_path=str(plan), table="people", keys=[[17], [451], [5]])
    result = ActivityEnvironment().run(ReconcileActivities(engine_db).reconcile_table, request)
    assert (result.missing, result.extra, result.changed) == (1, 0, 1)
    assert sorted(result.differing_keys) == [[17], [451]]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SWITCHOVER_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SWITCHOVER_LOG_FORMAT", "json")
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    yield invoke
    get_settings.cache_clear()
    dispose_engines()


def test_cli_prints_design_json_and_exits_1_on_mismatches(
    run,
    tmp_path: Path,
    legacy_db: str,  # noqa: F811
    targets: str,
) -> None:
    plan = write_plan(tmp_path / "plan.yaml", legacy_db, target_url(targets), "people_planted")
    result = run("reconcile", str(plan), "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["system", "passed", "tables"]
    assert (data["system"], data["passed"]) == ("legacy-people", False)
    (table,) = data["tables"]
    assert table["table"] == "people_planted"
    assert (table["legacy_rows"], table["target_rows"]) == (len(people_rows()),
                                                            len(people_rows()) + 1)  # fmt: skip
    assert (table["missing"], table["extra"]) == ([[17]], [[291], [3001]])
    assert table["changed"][0] == {
        "key": [451],
        "columns": {"surname": [next(r[1] for r in people_rows() if r[0] == 451), "Smyth"]},
    }
    assert table["passed"] is False
    assert "differences found" in result.stderr
    with session_scope(get_settings().resolved_database_url) as session:
        assert len(session.scalars(select(ReconciliationReport)).all()) == 1


def test_cli_exits_0_when_the_copy_is_faithful(
    run,
    tmp_path: Path,
    legacy_db: str,  # noqa: F811
    targets: str,
) -> None:
    plan = write_plan(tmp_path / "plan.yaml", legacy_db, target_url(targets), "people_exact")
    result = run("reconcile", str(plan), "--table", "people")
    assert result.exit_code == 0, result.output
    assert "people_exact: passed" in result.stdout


def test_cli_exits_2_on_a_bad_plan_or_table(run, tmp_path: Path, legacy_db: str) -> None:  # noqa: F811
    bad = tmp_path / "bad.yaml"
    bad.write_text("system: {id: x}\n", encoding="utf-8")
    assert run("reconcile", str(bad)).exit_code == 2
    plan = write_plan(tmp_path / "plan.yaml", legacy_db, "sqlite:///nowhere.db", "people")
    result = run("reconcile", str(plan), "--table", "no_such_table")
    assert result.exit_code == 2
    assert "no table 'no_such_table'" in result.stderr


def test_cli_exits_3_when_the_target_is_unreachable(
    run,
    tmp_path: Path,
    legacy_db: str,  # noqa: F811
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = f"postgresql+psycopg://postgres@127.0.0.1:{port}/nothing"
    plan = write_plan(tmp_path / "plan.yaml", legacy_db, target, "people")
    result = run("reconcile", str(plan))
    assert result.exit_code == 3
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("switchover: ")
    assert "cannot reach the target database" in last


# --- in the migration workflow ------------------------------------------------------------


class SabotagedCopy:
    """The real reconcile activity; before its first run it breaks two target rows, as a
    faulty copy would, so that the gate fails and the engineer re-syncs."""

    def __init__(self, real: ReconcileActivities, plan_path: Path) -> None:
        self.real = real
        self.plan_path = plan_path
        self.broken = False

    @activity.defn(name=names.RECONCILE_TABLE)
    def reconcile_table(self, request: ReconcileTableInput) -> ReconcileTableResult:
        if not self.broken:
            self.broken = True
            plan = load_plan(self.plan_path)
            url = plan.target.url.replace("postgresql+psycopg://", "postgresql://")
            name = f'"{plan.target.db_schema}"."{request.table.lower()}"'
            with psycopg.connect(url) as conn:
                conn.execute(f"DELETE FROM {name} WHERE elector_id = 'E0000005'")
                conn.execute(f"UPDATE {name} SET surname = 'Wrong' WHERE elector_id = 'E0000006'")
        return self.real.reconcile_table(request)


async def test_the_migration_gate_runs_on_the_real_reconciliation(
    local_env: WorkflowEnvironment,
    mariadb_name: str,  # noqa: F811
    engine_db_url: str,  # noqa: F811
    plan_file: Callable[..., Path],  # noqa: F811
) -> None:
    await asyncio.to_thread(load_electors, mariadb_name, "ELECTOR_E", 600)
    plan = plan_file(["ELECTOR_E"], batch_rows=200)
    reconcile = SabotagedCopy(ReconcileActivities(engine_db_url), plan)
    workers = build_workers(
        local_env.client,
        ActivitySet(ocr=[], io=[*MigrationActivities(engine_db_url).all(),
                                reconcile.reconcile_table, plan_reader(engine_db_url),
                                *decision_activities(engine_db_url)]),
        queues=(TASK_QUEUE_WORKFLOWS, TASK_QUEUE_IO),
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(workers, stop))
    try:
        handle = await local_env.client.start_workflow(
            MigrateSystemWorkflow.run, MigrateSystemInput(plan_path=str(plan)),
            id=f"reconcile-e2e-{plan.stem}", task_queue=TASK_QUEUE_WORKFLOWS,
        )  # fmt: skip
        state = MigrationStatus()
        for _ in range(600):
            state = await handle.query(MigrateSystemWorkflow.status, result_type=MigrationStatus)
            entry = state.tables.get("ELECTOR_E")
            if entry is not None and entry.state is TableState.AWAITING_DECISION:
                break
            await asyncio.sleep(0.1)
        entry = state.tables["ELECTOR_E"]
        assert entry.state is TableState.AWAITING_DECISION, state
        assert entry.reconciliation is not None
        gate = entry.reconciliation
        assert (gate.missing, gate.extra, gate.changed) == (1, 0, 1)
        assert sorted(gate.differing_keys) == [["E0000005"], ["E0000006"]]
        await handle.execute_update(
            MigrateSystemWorkflow.decide_gate,
            GateDecision(table="ELECTOR_E", action=GateAction.RESYNC),
        )
        result = await asyncio.wait_for(handle.result(), timeout=180)
    finally:
        stop.set()
        await task
    assert result.state is RunState.READY_FOR_CUTOVER, result
    with session_scope(engine_db_url) as session:
        reports = session.scalars(
            select(ReconciliationReport).order_by(ReconciliationReport.id)
        ).all()
        first = TableReport.model_validate(reports[0].report)
        assert reports[0].passed is False
        assert all(r.passed for r in reports[1:])
        assert len(reports) >= 2
        system = session.get(System, "legacy-electoral")
        assert system is not None
        assert system.last_reconciliation_passed is True
    assert first.missing == [["E0000005"]]
    assert [(c.key, list(c.columns)) for c in first.changed] == [(["E0000006"], ["surname"])]
    assert first.method == "streamed"

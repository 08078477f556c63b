"""``switchover migrate validate | run | status`` against real MariaDB, PostgreSQL and a
Temporal dev server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from temporalio.testing import WorkflowEnvironment

from activities.migrate import MigrationActivities
from config.migration_plan import load_plan
from config.settings import TASK_QUEUE_IO, TASK_QUEUE_WORKFLOWS, get_settings
from switchover.cli import main
from switchover.worker import ActivitySet, build_workers, run_workers
from tests.migration.conftest import load_electors, mariadb, plan_reader
from tests.migration.test_end_to_end import ExactReconciliation


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("SWITCHOVER_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SWITCHOVER_LOG_FORMAT", "json")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_validate_passes_a_good_plan(mariadb_name: str, plan_file: Callable[..., Path]) -> None:
    load_electors(mariadb_name, "ELECTOR_V", 200)
    result = CliRunner().invoke(main, ["migrate", "validate", str(plan_file(["ELECTOR_V"])),
                                       "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["passed"] is True
    assert report["tables"][0]["rows"] == 196
    assert report["tables"][0]["sampled"] == 196


def test_validate_reports_every_problem(mariadb_name: str, plan_file: Callable[..., Path]) -> None:
    load_electors(mariadb_name, "ELECTOR_W", 100)
    with mariadb(mariadb_name) as conn, conn.cursor() as cur:
        # a copy of the table without its primary key, holding a repeated key, and a date
        # the plan's format cannot read
        cur.execute("CREATE TABLE ELECTOR_D AS SELECT * FROM ELECTOR_W")
        cur.execute("INSERT INTO ELECTOR_D SELECT * FROM ELECTOR_W WHERE ELECTOR_ID IN "
                    "('E0000003', 'E0000004')")  # fmt: skip
        cur.execute("UPDATE ELECTOR_D SET DOB = '31/12/99' WHERE ELECTOR_ID = 'E0000009'")
    plan = plan_file(["ELECTOR_W", "ELECTOR_D"])
    loaded = load_plan(plan)
    url = loaded.target.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{loaded.target.db_schema}"')
        conn.execute(f'CREATE TABLE "{loaded.target.db_schema}".elector_w '
                     "(elector_id text PRIMARY KEY, balance double precision)")  # fmt: skip
    result = CliRunner().invoke(main, ["migrate", "validate", str(plan)])
    assert result.exit_code == 1
    out = result.stdout
    assert "ELECTOR_W -> elector_w: PROBLEMS" in out
    assert "target elector_w: no column surname" in out
    assert "target elector_w: balance is double precision, the plan gives decimal(11,2)" in out
    assert "ELECTOR_D -> elector_d: PROBLEMS" in out
    assert "the key (ELECTOR_ID) is not unique: 2 key values repeat" in out
    assert "repeated key ['E0000003']" in out
    assert "column DOB: the value does not match the date format '%Y%m%d'" in out
    assert "1 of the first 100 rows" in out
    assert "31/12/99" not in result.output
    assert result.stderr.startswith("switchover: the plan has problems")


def test_validate_unreachable_source(plan_file: Callable[..., Path], tmp_path: Path) -> None:
    plan = plan_file(["ELECTOR_V"])
    text = plan.read_text().replace("@127.0.0.1/", "@127.0.0.1:1/")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = CliRunner().invoke(main, ["migrate", "validate", str(bad)])
    assert result.exit_code == 1
    assert "plan: source:" in result.stdout


async def test_run_wait_and_status(
    local_env: WorkflowEnvironment,
    mariadb_name: str,
    engine_db_url: str,
    plan_file: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await asyncio.to_thread(load_electors, mariadb_name, "ELECTOR_S", 600)
    plan = plan_file(["ELECTOR_S"], batch_rows=100)
    address = local_env.client.service_client.config.target_host
    monkeypatch.setenv("SWITCHOVER_TEMPORAL_ADDRESS", address)
    # The command stores the plan where the workers read it: the same engine database.
    monkeypatch.setenv("SWITCHOVER_DATABASE_URL", engine_db_url)
    get_settings.cache_clear()
    acts = MigrationActivities(engine_db_url)
    check = ExactReconciliation(mariadb_name, plan)
    workers = build_workers(
        local_env.client, ActivitySet(ocr=[], io=[*acts.all(), check.reconcile_table,
                                 plan_reader(engine_db_url)]),
        queues=(TASK_QUEUE_WORKFLOWS, TASK_QUEUE_IO),
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(workers, stop))
    runner = CliRunner()
    try:
        args = ["migrate", "run", str(plan), "--wait", "--until", "copy", "--json"]
        ran = await asyncio.to_thread(runner.invoke, main, args)
        assert ran.exit_code == 0, ran.output
        result = json.loads(ran.stdout)
        assert result["state"] == "stopped"
        assert result["tables"]["ELECTOR_S"]["rows_copied"] == 588
        shown = await asyncio.to_thread(runner.invoke, main,
                                        ["migrate", "status", "legacy-electoral"])  # fmt: skip
        assert shown.exit_code == 0, shown.output
        assert "legacy-electoral: copy, stopped" in shown.stdout
        assert "ELECTOR_S: copied  588/588 rows" in shown.stdout
        listed = await asyncio.to_thread(runner.invoke, main, ["migrate", "status", "--json"])
        assert listed.exit_code == 0, listed.output
        assert "legacy-electoral" in {m["system"] for m in json.loads(listed.stdout)}
        missing = await asyncio.to_thread(runner.invoke, main, ["migrate", "status", "nope"])
        assert missing.exit_code == 2
        assert missing.stderr.startswith("switchover: no migration of nope")
    finally:
        stop.set()
        await task

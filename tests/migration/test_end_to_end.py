"""A MariaDB table with oddities migrated into PostgreSQL by the real workflows and
activities on a real Temporal dev server; the target is then checked row by row.

Reconciliation here is a stand-in registered under the real activity name that compares
the tables exactly in Python (the reconciliation engine's own activity replaces it in the
worker); the re-sync after a failed gate is the real one, which asks the engine for the
differing keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities import names
from activities.migrate import MigrationActivities
from config.migration_plan import load_plan
from config.settings import TASK_QUEUE_IO, TASK_QUEUE_WORKFLOWS
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
from switchover.worker import ActivitySet, build_workers, run_workers
from tests.migration.conftest import decision_activities, load_electors, plan_reader
from tests.migration.test_activities import expected, legacy_rows, same, target_rows
from workflows.migrate import MigrateSystemWorkflow


class ExactReconciliation:
    """Compares every row; the first time, it first breaks two target rows, as a faulty
    copy would, so that the gate fails and the engineer re-syncs."""

    def __init__(self, legacy_db: str, plan_path: Path) -> None:
        self.legacy_db = legacy_db
        self.plan_path = plan_path
        self.sabotaged = False

    def _break_two_rows(self, table: str) -> None:
        plan = load_plan(self.plan_path)
        url = plan.target.url.replace("postgresql+psycopg://", "postgresql://")
        name = f'"{plan.target.db_schema}"."{table}"'
        with psycopg.connect(url) as conn:
            conn.execute(f"DELETE FROM {name} WHERE elector_id = 'E0000005'")
            conn.execute(f"UPDATE {name} SET surname = 'Wrong' WHERE elector_id = 'E0000006'")

    @activity.defn(name=names.RECONCILE_TABLE)
    def reconcile_table(self, request: ReconcileTableInput) -> ReconcileTableResult:
        target_table = request.table.lower()
        if request.table == "ELECTOR_E" and not self.sabotaged:
            self.sabotaged = True
            self._break_two_rows(target_table)
        want = {r[0]: expected(r) for r in legacy_rows(self.legacy_db, request.table)}
        got = {r[0]: r for r in target_rows(self.plan_path, target_table)}
        missing = [k for k in want if k not in got]
        extra = [k for k in got if k not in want]
        changed = [k for k in want if k in got and want[k] != got[k]]
        return ReconcileTableResult(
            table=request.table, passed=not (missing or extra or changed),
            legacy_rows=len(want), target_rows=len(got), missing=len(missing),
            extra=len(extra), changed=len(changed),
            differing_keys=[[k] for k in (missing + extra + changed)[:10]],
        )  # fmt: skip


async def test_migrate_mariadb_to_postgres(
    local_env: WorkflowEnvironment,
    mariadb_name: str,
    engine_db_url: str,
    plan_file: Callable[..., Path],
) -> None:
    await asyncio.to_thread(load_electors, mariadb_name, "ELECTOR_E", 3_000)
    await asyncio.to_thread(load_electors, mariadb_name, "ELECTOR_F", 400, seed=3)
    plan = plan_file(["ELECTOR_E", "ELECTOR_F"], batch_rows=250)
    acts = MigrationActivities(engine_db_url)
    check = ExactReconciliation(mariadb_name, plan)
    client = local_env.client
    workers = build_workers(
        client, ActivitySet(ocr=[], io=[*acts.all(), check.reconcile_table,
                                 plan_reader(engine_db_url),
                                 *decision_activities(engine_db_url)]),
        queues=(TASK_QUEUE_WORKFLOWS, TASK_QUEUE_IO),
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(workers, stop))
    try:
        handle = await client.start_workflow(
            MigrateSystemWorkflow.run,
            MigrateSystemInput(plan_path=str(plan), batch_max_rows=700, batches_per_run=2),
            id=f"migrate-e2e-{plan.stem}", task_queue=TASK_QUEUE_WORKFLOWS,
        )  # fmt: skip
        state = MigrationStatus()
        for _ in range(600):
            state = await handle.query(MigrateSystemWorkflow.status)
            if state.tables.get("ELECTOR_E", None) and (
                state.tables["ELECTOR_E"].state is TableState.AWAITING_DECISION
            ):
                break
            await asyncio.sleep(0.1)
        entry = state.tables["ELECTOR_E"]
        assert entry.state is TableState.AWAITING_DECISION, state
        assert entry.reconciliation is not None
        assert (entry.reconciliation.missing, entry.reconciliation.changed) == (1, 1)
        await handle.execute_update(
            MigrateSystemWorkflow.decide_gate,
            GateDecision(table="ELECTOR_E", action=GateAction.RESYNC),
        )
        result = await asyncio.wait_for(handle.result(), timeout=180)
    finally:
        stop.set()
        await task
    assert result.state is RunState.READY_FOR_CUTOVER, result
    assert result.tables["ELECTOR_E"].rows_copied == 3_000 - 60
    assert result.tables["ELECTOR_F"].rows_copied == 400 - 8
    for table in ("ELECTOR_E", "ELECTOR_F"):
        same(legacy_rows(mariadb_name, table), target_rows(plan, table.lower()))

    from db.programme import stage_history
    from db.session import session_scope

    with session_scope(engine_db_url) as session:
        system, history = stage_history(session, "legacy-electoral")
        notes: list[Any] = [h.note for h in history]
    assert system.rows_migrated == 3_000 - 60 + 400 - 8
    assert system.last_reconciliation_passed is True
    assert any(n and n.startswith("gate failed for ELECTOR_E: 1 missing, 0 extra, 1 changed")
               for n in notes)  # fmt: skip
    assert notes[-1] == "caught up"

"""Record histories of today's workflows for ``test_replay``:
``.venv/bin/python -m tests.workflows.record_histories PREFIX [cutover|migrate|parallel]``.

Runs a few scenarios on the time-skipping server with the fakes of the workflow tests and
writes each run's history to ``histories/PREFIX<scenario>[_runN].json``. Record before a
change that must not alter what running workflows do; the files then guard it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities import names
from domain.cutover import CutoverPhase, EngineerActionKind
from domain.migration import (
    GateAction,
    GateDecision,
    ReconcileTableInput,
    ReconcileTableResult,
    RunControl,
    RunControlAction,
    TableState,
)
from tests.workflows import test_cutover as cutover
from tests.workflows import test_migrate as migrate
from tests.workflows.test_cutover_history import run_histories
from workflows.cutover import CutoverWorkflow
from workflows.migrate import MigrateSystemWorkflow

HISTORIES = Path(__file__).parent / "histories"
TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


class DifferingCutover(cutover.FakeCutover):
    """Reconciliation finds differences twice, so the re-sync rounds run."""

    differing: int = 2

    @activity.defn(name=names.RECONCILE_TABLE)
    def reconcile_table(self, request: ReconcileTableInput) -> ReconcileTableResult:
        with self.lock:
            self.reconciliations += 1
            failed = self.differing > 0
            self.differing -= 1
        return ReconcileTableResult(table=request.table, passed=not failed, legacy_rows=10,
                                    target_rows=10, changed=1 if failed else 0)  # fmt: skip


def save(name: str, workflow_id: str, history: WorkflowHistory) -> None:
    recorded = {"workflow_id": workflow_id, "history": json.loads(history.to_json())}
    (HISTORIES / f"{name}.json").write_text(json.dumps(recorded, indent=1) + "\n")
    print(f"{name}: {len(history.events)} events")


async def save_runs(
    name: str, client: Client, handle: WorkflowHandle[Any, Any], most: int = 3
) -> None:
    runs = await run_histories(client, handle)
    for number, history in enumerate(runs[:most], start=1):
        save(f"{name}_run{number}" if len(runs) > 1 else name, handle.id, history)


async def cutover_scenarios(prefix: str, env: WorkflowEnvironment) -> None:
    client = env.client
    act = cutover.act
    # Approvals, a failed gate rolled back, the engineer's advance, re-sync rounds, then
    # decommissioning with the checklist.
    fake = DifferingCutover(approval="required", stages=[50, 100], faulty_from=100)
    async with cutover.running(client, fake):
        handle = await cutover.start(client)
        for percent in (0, 50):
            await cutover.until(env, handle, lambda s, p=percent: s.phase
                                is CutoverPhase.AWAITING_APPROVAL
                                and s.setting.modern_percent == p)  # fmt: skip
            await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.APPROVE))
        await cutover.until(env, handle, lambda s: s.phase is CutoverPhase.AWAITING_ENGINEER)
        fake.faulty_from = 101
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.ADVANCE))
        await cutover.close_checklist(env, handle, fake)
        await handle.result()
        await save_runs(f"{prefix}cutover_approvals_rollback_decommission", client, handle, 9)
    # The engineer freezes a soak, then advances.
    fake = cutover.FakeCutover(stages=[50, 100])
    async with cutover.running(client, fake):
        handle = await cutover.start(client, decommission=False)
        await cutover.until(env, handle, lambda s: s.phase is CutoverPhase.STAGE
                            and s.soak_ends_at is not None)  # fmt: skip
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.FREEZE))
        await cutover.until(env, handle, lambda s: s.phase is CutoverPhase.AWAITING_ENGINEER)
        await handle.execute_update(CutoverWorkflow.act, act(EngineerActionKind.ADVANCE))
        await handle.result()
        await save_runs(f"{prefix}cutover_freeze_in_soak", client, handle, 9)
    # A soak long enough, with catch-ups often enough, to continue as new in its middle.
    fake = cutover.FakeCutover(stages=[100], shadow=False, soak_minutes=1, catch_up_every_s=1,
                               tables=[f"table_{n}" for n in range(6)])  # fmt: skip
    async with cutover.running(client, fake):
        handle = await cutover.start(client, decommission=False)
        await handle.result()
        await save_runs(f"{prefix}cutover_long_soak", client, handle, 2)


async def migrate_scenarios(prefix: str, env: WorkflowEnvironment) -> None:
    client = env.client
    fake = migrate.FakeMigration(failing=Counter({"A": 2, "B": 1}),
                                 changed_during_copy=Counter({"A": 2}))  # fmt: skip
    async with migrate.running(client, fake):
        handle = await migrate.start(client)
        await migrate.until(handle, migrate.waiting("A"))
        resync = GateDecision(table="A", action=GateAction.RESYNC)
        await handle.execute_update(MigrateSystemWorkflow.decide_gate, resync)
        await migrate.until(handle, lambda s: fake.resyncs == ["A"] and migrate.waiting("A")(s))
        accept = GateDecision(table="A", action=GateAction.ACCEPT, reason="agreed",
                              decided_by="ada")  # fmt: skip
        await handle.execute_update(MigrateSystemWorkflow.decide_gate, accept)
        await migrate.until(handle, migrate.waiting("B"))
        resync = GateDecision(table="B", action=GateAction.RESYNC)
        await handle.execute_update(MigrateSystemWorkflow.decide_gate, resync)
        await handle.result()
        save(f"{prefix}migrate_gates_resync_accept", handle.id, await handle.fetch_history())
        child = client.get_workflow_handle(f"{handle.id}/copy/B")
        save(f"{prefix}copy_table_first_run", child.id, await child.fetch_history())
    await migrate_control_scenario(prefix, env)


async def migrate_control_scenario(prefix: str, env: WorkflowEnvironment) -> None:
    """An engineer pauses, resumes and cancels a copy by the ``control`` update, and a
    caseworker's pause is refused (the role check and the audit trail's activities)."""
    client = env.client
    fake = migrate.FakeMigration(rows={"A": 400}, copy_delay_s=0.05)
    async with migrate.running(client, fake):
        handle = await migrate.start(client)
        await migrate.until(handle, lambda s: "A" in s.tables
                            and s.tables["A"].state is TableState.COPYING)  # fmt: skip
        for action, actor in [
            (RunControlAction.PAUSE, "carol"),
            (RunControlAction.PAUSE, "ada"),
            (RunControlAction.RESUME, "ada"),
            (RunControlAction.CANCEL, "ada"),
        ]:
            with contextlib.suppress(WorkflowUpdateFailedError):
                await handle.execute_update(MigrateSystemWorkflow.control,
                                            RunControl(action=action, actor=actor))  # fmt: skip
        await handle.result()
        save(f"{prefix}migrate_control_cancel", handle.id, await handle.fetch_history())


async def migrate_parallel_scenario(prefix: str, env: WorkflowEnvironment) -> None:
    """A table copied as three key ranges at once (the plan's ``parallel``), one not."""
    client = env.client
    fake = migrate.FakeMigration(rows={"A": 95, "B": 40}, parallel={"A": 3})
    async with migrate.running(client, fake):
        handle = await migrate.start(client)
        await handle.result()
        save(f"{prefix}migrate_parallel_copies", handle.id, await handle.fetch_history())


async def main(prefix: str, only: str | None = None) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(TEST_SERVER)
    )
    try:
        if only in (None, "cutover"):
            await cutover_scenarios(prefix, env)
        if only in (None, "migrate"):
            await migrate_scenarios(prefix, env)
        if only in (None, "parallel"):
            await migrate_parallel_scenario(prefix, env)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    # PREFIX [cutover|migrate|parallel]: every scenario, or only those.
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "",
                     sys.argv[2] if len(sys.argv) > 2 else None))  # fmt: skip

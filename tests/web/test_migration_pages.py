"""The system page's migration part and the engineer's decisions on it.

The web app runs in-process on a fresh SQLite engine database; the real
``MigrateSystemWorkflow`` runs on a real Temporal dev server with the workflow tests'
fake copy and reconciliation and the real decision activities, so every decision really
goes through a Temporal update, a role check and the audit trail.
"""

from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from db.audit import audit_events_for, verify_audit_chain
from db.programme import register_system
from db.session import session_scope
from domain.migration import MigrationStatus, RunState, TableState
from tests.switchover.test_migrate_cli import Engine, start, until, workers
from tests.web.conftest import csrf_of
from tests.web.test_cutover_pages import call, settings  # noqa: F401 (pointed at Temporal)
from tests.workflows.test_migrate import FakeMigration


@pytest.fixture
def system_id(settings: Settings) -> str:  # noqa: F811
    system_id = f"benefits-{uuid.uuid4().hex[:8]}"
    with session_scope(settings.resolved_database_url) as session:
        register_system(session, system_id=system_id, name="Benefits ledger",
                        department="Welfare", risk_score=12,
                        annual_run_cost_gbp=Decimal("90000"), migration_cost_gbp=Decimal("20000"),
                        actor="eng1")  # fmt: skip
    return system_id


def waiting(s: Any) -> bool:
    return "A" in s.tables and s.tables["A"].state is TableState.AWAITING_DECISION


async def test_an_engineer_decides_the_gate_on_the_page(
    local_env: WorkflowEnvironment,
    settings: Settings,  # noqa: F811
    system_id: str,
    client_for: Any,
) -> None:
    engine = Engine(settings, settings.resolved_database_url)
    fake = FakeMigration(rows={"A": 30}, failing=Counter({"A": 1}), system_id=system_id)
    engineer = client_for("eng1", "engineer")
    manager = client_for("pm1", "manager")
    caseworker = client_for("cw1", "caseworker")
    url = f"/dashboard/systems/{system_id}"
    async with workers(local_env.client, engine, fake):
        handle = await start(local_env.client, system_id)
        await until(local_env.client, system_id, waiting)

        page = await call(engineer.get, url)
        assert page.status_code == 200, page.text
        part = page.text.split('id="migration"')[1].split('id="cutover"')[0]
        assert "Waiting for an engineer" in part
        assert "Gate failed for A: 0 missing, 0 extra, 2 changed" in part
        assert 'id="migration-actions"' in part
        for label in ("Re-sync and reconcile again", "Accept the differences",
                      "Abort the migration", "Cancel the migration"):  # fmt: skip
            assert label in part
        shown = await call(manager.get, url)
        assert "Waiting for an engineer" in shown.text
        assert 'id="migration-actions"' not in shown.text  # a manager reads, never decides

        decision = {"action": "accept", "table": "A", "reason": "rounding, agreed"}
        for someone in (manager, caseworker):
            token = csrf_of(someone.get("/").text)
            refused = await call(someone.post, f"{url}/migration", follow_redirects=False,
                                 data={**decision, "csrf_token": token})  # fmt: skip
            assert refused.status_code == 403
        token = csrf_of(engineer.get("/").text)
        bare = await call(engineer.post, f"{url}/migration",
                          data={**decision, "reason": " ", "csrf_token": token})  # fmt: skip
        assert bare.status_code == 400
        assert "Enter why you accept" in bare.text
        assert waiting(await handle.query("status", result_type=MigrationStatus))  # undecided

        answer = await call(engineer.post, f"{url}/migration",
                            data={**decision, "csrf_token": token})  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert "The migration workflow accepted: accept A" in answer.text
        result = await handle.result()
    assert result.state is RunState.READY_FOR_CUTOVER
    with session_scope(settings.resolved_database_url) as session:
        assert verify_audit_chain(session).ok
        decided = [(e.actor, e.action, e.detail.get("accepted"), e.detail.get("reason"))
                   for e in audit_events_for(session, [("system", system_id)])
                   if e.action.startswith("migration.")]  # fmt: skip
    assert decided == [("eng1", "migration.gate_accept", True, "rounding, agreed")]


async def test_the_page_says_when_no_migration_ran(system_id: str, client_for: Any) -> None:
    engineer = client_for("eng1", "engineer")
    page = await call(engineer.get, f"/dashboard/systems/{system_id}")
    assert page.status_code == 200
    assert "No migration of this system has run on the workers." in page.text

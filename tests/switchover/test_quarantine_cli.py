"""``switchover migrate quarantine`` on a real copy: a copybook file with planted bad
records copied into PostgreSQL with quarantine on (storage and engine database from the
settings, as the worker has them); the CLI lists every bad record with its record number,
offset, reason and state; reconciliation fails until an engineer accepts them (each in the
audit trail), then passes; a caseworker is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.migrate import MigrationActivities
from activities.reconcile import ReconcileActivities
from adapters.storage import open_store
from config.settings import get_settings
from db import accounts
from db.audit import verify_audit_chain
from db.migrate import upgrade
from db.models import AuditEvent
from db.quarantine import AUDIT_ACTION
from db.session import session_scope
from domain.errors import ExitCode
from domain.migration import PrepareTargetInput, ReconcileTableInput
from switchover.migrate import QUARANTINE_ACCEPT_REFUSED
from tests.migration.conftest import postgres_name  # noqa: F401
from tests.migration.test_activities import copy_all
from tests.migration.test_quarantine import write_file, write_plan
from tests.switchover.tokens import token_env


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_engineers_list_and_accept_quarantined_records_and_the_gate_then_passes(
    run: Any,
    tmp_path: Path,
    postgres_name: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run("--help")  # the fixture's settings (state folder) are in place from here
    settings = get_settings()
    upgrade(settings.resolved_database_url)
    with session_scope(settings.resolved_database_url) as session:
        accounts.create_user(session, username="erin", roles=["engineer"], password_hash=None)
        # A manager holds a personal token, but is no engineer.
        accounts.create_user(session, username="carl", roles=["manager"], password_hash=None)
    plain_run = run

    def run(*args: str) -> Any:  # a --as NAME acts with a token of NAME's
        token = token_env(settings.resolved_database_url, args)["SWITCHOVER_TOKEN"]
        monkeypatch.setenv("SWITCHOVER_TOKEN", token)
        get_settings.cache_clear()
        return plain_run(*args)

    folder = tmp_path / "accounts-cli"
    folder.mkdir()
    planted = write_file(folder, 46, 80)
    plan = write_plan(folder, postgres_name)
    system = folder.name
    acts = MigrationActivities.from_settings(settings)
    acts.heartbeat = lambda *_: None
    acts.prepare_target(PrepareTargetInput(plan_path=str(plan), table="ACCOUNT"))
    assert copy_all(acts, plan, "ACCOUNT", 11) == len(planted.good)

    listed = _json(run("migrate", "quarantine", system, "--json"))
    assert [(r["table"], r["record"]) for r in listed] == [
        ("ACCOUNT", n) for n, _, _ in planted.bad
    ]
    store = open_store(settings.resolved_storage_url, settings)
    for row, (_number, raw, _kind) in zip(listed, planted.bad, strict=True):
        assert store.get(row["raw_key"]) == raw
        assert row["state"] == "open"
        assert row["byte_offset"] is not None
    text = run("migrate", "quarantine", system, "--table", "ACCOUNT").stdout
    assert f"ACCOUNT  record {planted.bad[0][0]}  offset " in text
    assert _json(run("migrate", "quarantine", system, "--table", "OTHER", "--json")) == []

    def gate() -> Any:
        request = ReconcileTableInput(plan_path=str(plan), table="ACCOUNT")
        reconcile = ReconcileActivities(settings.resolved_database_url).reconcile_table
        return ActivityEnvironment().run(reconcile, request)

    assert not gate().passed
    refused = run("migrate", "quarantine", "accept", system, "--table", "ACCOUNT", "--all",
                  "--reason", "looks fine", "--as", "carl")  # fmt: skip
    assert refused.exit_code == ExitCode.CHECK_FAILED
    assert "carl is not an active engineer" in refused.output
    first = planted.bad[0][0]
    one = run("migrate", "quarantine", "accept", system, "--table", "ACCOUNT", "--record",
              str(first), "--reason", "on paper in the archive", "--as", "erin")  # fmt: skip
    assert one.stdout.strip() == "accepted 1 quarantined record of ACCOUNT"
    assert gate().quarantined == len(planted.bad) - 1
    rest = _json(run("migrate", "quarantine", "accept", system, "--table", "ACCOUNT", "--all",
                     "--reason", "closed accounts", "--as", "erin", "--json"))  # fmt: skip
    assert rest["accepted"] == len(planted.bad) - 1
    result = gate()
    assert result.passed, result.stopped
    again = run("migrate", "quarantine", "accept", system, "--table", "ACCOUNT", "--all",
                "--reason", "again", "--as", "erin")  # fmt: skip
    assert again.exit_code == ExitCode.CHECK_FAILED  # nothing open is left

    listed = _json(run("migrate", "quarantine", system, "--json"))
    assert {r["state"] for r in listed} == {"accepted"}
    assert listed[0]["decision_reason"] == "on paper in the archive"
    with session_scope(settings.resolved_database_url) as session:
        events = session.query(AuditEvent).filter(AuditEvent.subject_id == system).all()
        assert sorted(e.detail["record"] for e in events if e.action == AUDIT_ACTION) == [
            n for n, _, _ in planted.bad
        ]
        assert [e.actor for e in events if e.action == QUARANTINE_ACCEPT_REFUSED] == ["carl"]
        assert verify_audit_chain(session).ok


@pytest.mark.parametrize(
    "args",
    [["--all", "--record", "3"], []],
)
def test_accept_needs_either_records_or_all(run: Any, args: list[str]) -> None:
    result = run("migrate", "quarantine", "accept", "sys", "--table", "T", *args,
                 "--reason", "r", "--as", "erin")  # fmt: skip
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "--record N" in result.output

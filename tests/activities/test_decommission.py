"""The decommissioning activities under Temporal's ActivityEnvironment: a real SQLite legacy
database frozen and archived to a local store, a checklist closed, the system retired,
and its savings accrued in a migrated SQLite engine database."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import names
from activities.decommission import DecommissionActivities
from adapters.storage import LocalStore
from config.settings import Settings
from db.cutover import cutover_history
from db.decommission import close_checklist_item, latest_archive
from db.ledger import list_ledger_entries
from db.migrate import upgrade
from db.models import AuditEvent, LedgerKind, System
from db.programme import register_system
from db.session import dispose_engines, session_scope
from domain.cutover import AccrueSavingsInput, CutoverEventKind, DecommissionInput
from domain.systems import SystemStage
from tests.adapters.decommission.conftest import SQLITE_FREEZE, SYSTEM, make_sqlite, write_plan

CHECKLIST = ["Supplier contract ended", "DNS records removed", "Data retention agreed"]


@pytest.fixture(scope="module")
def engine_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("engine") / "switchover.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def engine_db(engine_template: Path, tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "switchover.db"
    with sqlite3.connect(engine_template) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    url = f"sqlite:///{path}"
    with session_scope(url) as session:
        register_system(
            session, system_id=SYSTEM, name="Electoral Register", department="LGS",
            risk_score=22, annual_run_cost_gbp=Decimal("420000"),
            migration_cost_gbp=Decimal("60000"), actor="engineer",
        )  # fmt: skip
    yield url
    dispose_engines()


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2027, 12, 28, 10, 0, tzinfo=dt.UTC))


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    folder = tmp_path / "legacy"
    folder.mkdir()
    make_sqlite(folder / "legacy.db")
    return folder / "legacy.db"


def plan_path(tmp_path: Path, legacy: Path, **decommission: Any) -> str:
    decommission = {"freeze_sql": SQLITE_FREEZE, "checklist": CHECKLIST, **decommission}
    write_plan(tmp_path, {"kind": "sql", "url": f"sqlite:///{legacy}"}, tables=["people"],
               **decommission)  # fmt: skip
    return str(tmp_path / "plan.yaml")


@pytest.fixture
def activities(engine_db: str, tmp_path: Path, clock: Clock) -> DecommissionActivities:
    return DecommissionActivities(engine_db, LocalStore(tmp_path / "objects"), clock=clock)


def stage_of(engine_db: str) -> SystemStage:
    with session_scope(engine_db) as session:
        system = session.get(System, SYSTEM)
        assert system is not None
        return system.stage


def test_freeze_archive_checklist_retire_and_savings(
    activities: DecommissionActivities,
    engine_db: str,
    tmp_path: Path,
    legacy: Path,
    clock: Clock,
) -> None:
    request = DecommissionInput(plan_path=plan_path(tmp_path, legacy), system_id=SYSTEM)
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)

    frozen = env.run(activities.freeze_legacy, request)
    assert frozen.write_refused
    assert stage_of(engine_db) is SystemStage.FROZEN

    clock.now += dt.timedelta(hours=2)
    archived = env.run(activities.archive_legacy, request)
    assert archived.verified
    assert archived.rows == 6
    assert ("tables/people.parquet: 3 rows",) in beats
    assert (
        f"reading back {archived.manifest_key.rsplit('/', 1)[0]}/tables/people.parquet",
    ) in beats
    assert stage_of(engine_db) is SystemStage.ARCHIVED
    with session_scope(engine_db) as session:
        recorded = latest_archive(session, SYSTEM)
        assert recorded is not None
        assert (recorded.manifest_key, recorded.rows) == (archived.manifest_key, 6)
        assert recorded.verified_at == clock.now

    status = env.run(activities.open_checklist, request)
    assert [i.item for i in status.items] == CHECKLIST
    assert env.run(activities.open_checklist, request) == status  # idempotent

    with session_scope(engine_db) as session:
        close_checklist_item(session, SYSTEM, 1, actor="amina", note="contract ended", at=clock.now)
    with pytest.raises(ApplicationError) as refused:
        env.run(activities.retire_system, request)
    assert refused.value.type == "ConflictError"
    assert refused.value.non_retryable
    assert "2 checklist item(s) still open: 2. DNS records removed; 3. Data retention" in str(
        refused.value
    )
    assert stage_of(engine_db) is SystemStage.ARCHIVED

    with session_scope(engine_db) as session:
        close_checklist_item(session, SYSTEM, 2, actor="amina", note="zone file", at=clock.now)
        close_checklist_item(session, SYSTEM, 3, actor="bob", note="DPO agreed", at=clock.now)
    assert env.run(activities.checklist_status, request).all_closed

    clock.now = dt.datetime(2027, 12, 30, 16, 0, tzinfo=dt.UTC)
    env.run(activities.retire_system, request)
    env.run(activities.retire_system, request)  # retried: nothing doubles
    assert stage_of(engine_db) is SystemStage.RETIRED

    added = env.run(
        activities.accrue_savings,
        AccrueSavingsInput(today=dt.datetime(2028, 1, 2, 23, 0, tzinfo=dt.UTC)),
    )
    assert added == 3  # 2027-12-31, 2028-01-01, 2028-01-02; the 30th came with retirement
    clock.now = dt.datetime(2028, 1, 2, 23, 30, tzinfo=dt.UTC)
    assert env.run(activities.accrue_savings, AccrueSavingsInput()) == 0

    with session_scope(engine_db) as session:
        system = session.get(System, SYSTEM)
        assert system is not None
        assert system.retired_on == dt.date(2027, 12, 30)
        entries = list_ledger_entries(session, kind=LedgerKind.SYSTEM)
        kinds = [e.kind for e in cutover_history(session, SYSTEM)]
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    # By hand: 2 x 420000/365 (1150.68) + 2 x 420000/366 (1147.54) - 60000.
    assert sum(e.amount_gbp for e in entries) == Decimal("-55403.56")
    assert len(entries) == 5
    assert kinds == [
        CutoverEventKind.LEGACY_FROZEN,
        CutoverEventKind.ARCHIVED,
        CutoverEventKind.CHECKLIST_CLOSED,
        CutoverEventKind.CHECKLIST_CLOSED,
        CutoverEventKind.CHECKLIST_CLOSED,
        CutoverEventKind.RETIRED,
    ]
    assert actions == [
        "legacy.frozen",
        "legacy.archived",
        "checklist.closed",
        "checklist.closed",
        "checklist.closed",
        "system.retired",
    ]


def test_a_freeze_that_does_not_hold_fails_and_leaves_the_stage(
    activities: DecommissionActivities, engine_db: str, tmp_path: Path, legacy: Path
) -> None:
    request = DecommissionInput(
        plan_path=plan_path(tmp_path, legacy, freeze_sql=["SELECT 1"]), system_id=SYSTEM
    )
    with pytest.raises(ApplicationError) as failed:
        ActivityEnvironment().run(activities.freeze_legacy, request)
    assert failed.value.type == "ValidationFailed"
    assert failed.value.non_retryable
    assert "the freeze did not hold" in str(failed.value)
    assert stage_of(engine_db) is SystemStage.PLANNED


def test_an_unknown_system_is_refused_before_the_legacy_is_touched(
    engine_template: Path, tmp_path: Path, legacy: Path
) -> None:
    empty = tmp_path / "empty.db"
    with sqlite3.connect(engine_template) as src, sqlite3.connect(empty) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    activities = DecommissionActivities(f"sqlite:///{empty}", LocalStore(tmp_path / "objects"))
    path = plan_path(tmp_path, legacy)
    with pytest.raises(ApplicationError) as failed:
        ActivityEnvironment().run(
            activities.freeze_legacy, DecommissionInput(plan_path=path, system_id=SYSTEM)
        )
    dispose_engines()
    assert failed.value.type == "NotFoundError"
    with sqlite3.connect(legacy) as db:
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE type='trigger'").fetchone() == (
            0,
        )
    db.close()


def test_the_plan_must_name_the_system(
    activities: DecommissionActivities, tmp_path: Path, legacy: Path
) -> None:
    request = DecommissionInput(plan_path=plan_path(tmp_path, legacy), system_id="other")
    with pytest.raises(ApplicationError) as failed:
        ActivityEnvironment().run(activities.checklist_status, request)
    # checklist_status reads only the database: an unknown system is NotFound there.
    assert failed.value.type == "NotFoundError"
    with pytest.raises(ApplicationError) as failed:
        ActivityEnvironment().run(activities.open_checklist, request)
    assert failed.value.type == "PlanError"


def test_retiring_needs_the_archive_the_plan_asks_for(
    activities: DecommissionActivities, engine_db: str, tmp_path: Path, legacy: Path
) -> None:
    request = DecommissionInput(
        plan_path=plan_path(tmp_path, legacy, checklist=[]), system_id=SYSTEM
    )
    with pytest.raises(ApplicationError, match="none is recorded") as failed:
        ActivityEnvironment().run(activities.retire_system, request)
    assert failed.value.type == "ConflictError"
    without = DecommissionInput(
        plan_path=plan_path(tmp_path, legacy, checklist=[], archive=False), system_id=SYSTEM
    )
    ActivityEnvironment().run(activities.retire_system, without)
    assert stage_of(engine_db) is SystemStage.RETIRED
    with pytest.raises(ApplicationError) as failed:
        ActivityEnvironment().run(activities.archive_legacy, without)
    assert failed.value.type == "PlanError"


def test_all_lists_every_activity_under_its_name(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / ".switchover")
    activities = DecommissionActivities.from_settings(settings)
    defined = {fn.__temporal_activity_definition.name for fn in activities.all()}  # type: ignore[attr-defined]
    assert defined == {
        names.FREEZE_LEGACY,
        names.ARCHIVE_LEGACY,
        names.OPEN_CHECKLIST,
        names.CHECKLIST_STATUS,
        names.RETIRE_SYSTEM,
        names.ACCRUE_SAVINGS,
    }

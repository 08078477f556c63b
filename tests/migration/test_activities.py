"""The migration activities against real MariaDB and PostgreSQL, without Temporal: copy in
ranges, resume from a heartbeat, re-run a batch, re-sync keys, catch up, record stages."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.migrate import MigrationActivities
from config.migration_plan import load_plan
from domain.migration import (
    CatchUpInput,
    CopyBatchInput,
    PrepareTargetInput,
    ProfileInput,
    RecordStageInput,
    ResyncKeysInput,
)
from tests.migration.conftest import load_electors, mariadb

ROWS = 2_000
STATUS = {"A": "active", "S": "suspended"}


def expected(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """What the plan's mapping must make of a legacy row, written out independently."""
    key, surname, dob, balance, status, flag, photo, notes, created, updated = row
    return (
        key,
        surname.strip() if surname is not None else None,
        datetime.strptime(dob, "%Y%m%d").date() if dob else None,
        balance.quantize(Decimal("0.01"), ROUND_HALF_UP) if balance is not None else None,
        STATUS.get(status, status),
        flag, photo, notes, created, updated,
    )  # fmt: skip


def legacy_rows(database: str, table: str) -> list[tuple[Any, ...]]:
    with mariadb(database) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM `{table}` WHERE STATUS <> 'X' ORDER BY ELECTOR_ID")
        return list(cur.fetchall())


def target_rows(plan_path: Path, table: str) -> list[tuple[Any, ...]]:
    plan = load_plan(plan_path)
    url = plan.target.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            f"SELECT elector_id, surname, date_of_birth, balance, status, flag, photo, notes, "
            f'created, updated_at FROM "{plan.target.db_schema}"."{table}" ORDER BY elector_id'
        )
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in cur]


def same(legacy: list[tuple[Any, ...]], target: list[tuple[Any, ...]]) -> None:
    want = [expected(r) for r in legacy]
    assert len(target) == len(want)
    assert len({r[0] for r in target}) == len(target)
    for got, row in zip(target, want, strict=True):
        assert got == row, row[0]  # the key only: values are personal data in real runs


@pytest.fixture
def acts(engine_db_url: str) -> MigrationActivities:
    return MigrationActivities(engine_db_url, heartbeat=lambda *_details: None)


def copy_all(acts: MigrationActivities, plan: Path, table: str, max_rows: int) -> int:
    env = ActivityEnvironment()
    after, calls, rows = None, 0, 0
    while True:
        request = CopyBatchInput(plan_path=str(plan), table=table, after=after, max_rows=max_rows)
        result = env.run(acts.copy_batch, request)
        calls, rows = calls + 1, rows + result.rows
        after = result.last_key or after
        if result.done:
            return rows


def test_profile_copy_and_rerun(
    acts: MigrationActivities, mariadb_name: str, plan_file: Callable[..., Path]
) -> None:
    load_electors(mariadb_name, "ELECTOR", ROWS)
    plan = plan_file(["ELECTOR"])
    profile = acts.profile_system(ProfileInput(plan_path=str(plan)))
    legacy = legacy_rows(mariadb_name, "ELECTOR")
    assert profile.tables[0].rows == len(legacy) == ROWS - ROWS // 50
    assert profile.tables[0].lowest == ["E0000001"]
    assert profile.tables[0].highest == [f"E{ROWS - 1:07d}"]  # E0002000 is STATUS X
    assert acts.prepare_target(PrepareTargetInput(plan_path=str(plan), table="ELECTOR"))
    assert not acts.prepare_target(PrepareTargetInput(plan_path=str(plan), table="ELECTOR"))
    assert copy_all(acts, plan, "ELECTOR", 700) == len(legacy)
    same(legacy, target_rows(plan, "elector"))
    assert copy_all(acts, plan, "ELECTOR", 10_000) == len(legacy)  # everything again
    same(legacy, target_rows(plan, "elector"))
    target = {r[0]: r for r in target_rows(plan, "elector")}
    assert target["E0000070"][1] == "O'Brien"  # padded in the legacy table
    assert target["E0000017"][2] is None  # a blank date
    assert target["E0000001"][2] == date(1931, 2, 2)


def test_a_retry_resumes_after_its_last_heartbeat(
    acts: MigrationActivities, mariadb_name: str, plan_file: Callable[..., Path]
) -> None:
    load_electors(mariadb_name, "ELECTOR_R", 1_000)
    plan = plan_file(["ELECTOR_R"])
    acts.prepare_target(PrepareTargetInput(plan_path=str(plan), table="ELECTOR_R"))
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    # The attempt before this one loaded up to E0000600 and said so, then its worker died.
    env.info = dataclasses.replace(env.info, heartbeat_details=[[["E0000600"], 588]])
    beating = MigrationActivities(acts.database_url)  # heartbeats through the environment
    result = env.run(beating.copy_batch, CopyBatchInput(plan_path=str(plan), table="ELECTOR_R"))
    assert result.done
    assert result.rows == 588 + 392  # 1000 rows less the 20 with STATUS X
    assert result.last_key == ["E0000999"]
    assert beats[0][0][0] > ["E0000600"]
    rows = target_rows(plan, "elector_r")
    assert rows[0][0] == "E0000601"  # nothing before the heartbeat was read again


def test_resync_and_catch_up(
    acts: MigrationActivities, mariadb_name: str, plan_file: Callable[..., Path]
) -> None:
    load_electors(mariadb_name, "ELECTOR_C", 300)
    plan = plan_file(["ELECTOR_C"])
    acts.prepare_target(PrepareTargetInput(plan_path=str(plan), table="ELECTOR_C"))
    copy_all(acts, plan, "ELECTOR_C", 1000)
    copied_at = datetime.now()
    with mariadb(mariadb_name) as conn, conn.cursor() as cur:
        cur.execute("UPDATE ELECTOR_C SET SURNAME='Changed', UPDATED_AT=NOW() "
                    "WHERE ELECTOR_ID IN ('E0000010', 'E0000011')")  # fmt: skip
        cur.execute(
            "INSERT INTO ELECTOR_C SELECT 'E9999999', SURNAME, DOB, BALANCE, STATUS, FLAG,"
            " PHOTO, NOTES, CREATED, NOW() FROM ELECTOR_C WHERE ELECTOR_ID='E0000001'"
        )
        cur.execute("UPDATE ELECTOR_C SET SURNAME='Quiet' WHERE ELECTOR_ID='E0000020'")
        cur.execute("DELETE FROM ELECTOR_C WHERE ELECTOR_ID='E0000030'")
    result = acts.catch_up_table(CatchUpInput(plan_path=str(plan), table="ELECTOR_C",
                                              since=copied_at))  # fmt: skip
    assert result.by_updated_at
    assert result.rows == 3
    target = {r[0]: r for r in target_rows(plan, "elector_c")}
    assert target["E0000010"][1] == "Changed"
    assert "E9999999" in target
    # Changes the updated_at column does not show are for re-diffing and re-sync:
    assert target["E0000020"][1] != "Quiet"
    resynced = acts.resync_keys(ResyncKeysInput(plan_path=str(plan), table="ELECTOR_C",
                                                keys=[["E0000020"], ["E0000030"]]))  # fmt: skip
    assert (resynced.upserted, resynced.deleted) == (1, 1)
    same(legacy_rows(mariadb_name, "ELECTOR_C"), target_rows(plan, "elector_c"))


def test_record_stage(acts: MigrationActivities, plan_file: Callable[..., Path]) -> None:
    from db.programme import stage_history
    from db.session import session_scope

    plan = str(plan_file(["ELECTOR"]))
    acts.record_migration_stage(RecordStageInput(plan_path=plan, stage="migrating",
                                                 rows_total=10, rows_migrated=0))  # fmt: skip
    acts.record_migration_stage(RecordStageInput(plan_path=plan, stage="migrating"))  # a retry
    acts.record_migration_stage(
        RecordStageInput(plan_path=plan, stage="reconciling", rows_migrated=10,
                         reconciliation_passed=True)
    )  # fmt: skip
    with session_scope(acts.database_url) as session:
        system, history = stage_history(session, "legacy-electoral")
        assert [h.stage.value for h in history] == ["planned", "migrating", "reconciling"]
        assert (system.rows_total, system.rows_migrated) == (10, 10)
        assert system.last_reconciliation_passed is True

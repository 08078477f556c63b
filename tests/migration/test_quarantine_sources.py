"""Quarantined legacy records beyond the mainframe: a CSV export and a dBase table with
planted bad records (a record with a field too many, an undecodable byte, a date that is
not one) copied into PostgreSQL with quarantine on: the good rows exact, every bad one
kept with its record number, byte offset, reason and raw bytes; reconciliation does not
pass until an engineer accepts them.

And the mainframe file of ``test_quarantine`` through the real ``MigrateSystemWorkflow``
(real activities, a Temporal dev server): the gate waits, saying the records are
quarantined, until an engineer accepts them and asks for a re-sync; the run then ends
ready for cutover with every good row exact.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.migrate import MigrationActivities
from activities.reconcile import ReconcileActivities
from adapters.storage import DocumentStore, LocalStore
from config.migration_plan import load_plan
from config.settings import TASK_QUEUE_IO, TASK_QUEUE_WORKFLOWS
from db.quarantine import accept_records, quarantined_records
from db.session import session_scope
from domain.migration import (
    GateAction,
    GateDecision,
    MigrateSystemInput,
    MigrateSystemResult,
    MigrationStatus,
    PrepareTargetInput,
    ReconcileTableInput,
    ReconcileTableResult,
    RunState,
    TableState,
)
from switchover.worker import ActivitySet
from tests.fakes.workers import running_workers
from tests.migration.conftest import decision_activities, plan_reader
from tests.migration.test_activities import copy_all
from tests.migration.test_quarantine import target_rows, write_file, write_plan
from workflows.migrate import MigrateSystemWorkflow


@dataclass(frozen=True)
class Planted:
    """A file's good rows (as the target holds them) and its bad records: record number,
    raw bytes, and a word the reason must contain."""

    good: list[tuple[Any, ...]]
    bad: list[tuple[int, bytes, str]]


def write_csv(folder: Path, seed: int, records: int) -> Planted:
    """A cp1252 CSV export in shuffled key order; some records have a field too many,
    some a byte cp1252 does not define."""
    rng = random.Random(seed)
    ids = rng.sample(range(1, 99_999), records)
    spoiled = dict.fromkeys(rng.sample(range(records), 5), "")
    kinds = iter(["fields", "0x81", "fields", "0x81", rng.choice(["fields", "0x81"])])
    data, good, bad = bytearray(b"ID,NAME,TOWN\r\n"), [], []
    for index, key in enumerate(ids):
        name = rng.choice(["Ann", "Bob", "Cé", "Dee", "Ezra"])
        line = f"{key},{name},Town {index % 7}\r\n".encode("cp1252")
        if index in spoiled:
            kind = next(kinds)
            line = (line.replace(b"\r\n", b",extra\r\n") if kind == "fields"
                    else line.replace(b",", b",\x81", 1))  # fmt: skip
            bad.append((index + 1, line, "fields" if kind == "fields" else "0x81"))
        else:
            good.append((str(key), name, f"Town {index % 7}"))
        data += line
    (folder / "members.csv").write_bytes(bytes(data))
    return Planted(sorted(good), bad)


def _dbf(records: list[bytes], fields: list[tuple[str, str, int]]) -> bytes:
    """A dBase III table (code page 1252) of ready-made records."""
    header_len = 32 + 32 * len(fields) + 1
    record_len = 1 + sum(length for _, _, length in fields)
    head = struct.pack("<BBBBIHH", 0x03, 126, 12, 3, len(records), header_len, record_len)
    head += bytes(17) + bytes([0x03]) + bytes(2)  # language driver 0x03: code page 1252
    for name, kind, length in fields:
        head += name.encode().ljust(11, b"\0") + kind.encode() + bytes(4)
        head += bytes([length, 0]) + bytes(14)
    return head + b"\r" + b"".join(b" " + r for r in records) + b"\x1a"


def write_dbf(folder: Path, seed: int, records: int) -> Planted:
    """A dBase table whose planted records hold dates that are not dates."""
    rng = random.Random(seed)
    fields = [("MEMBER_ID", "N", 6), ("NAME", "C", 10), ("BORN", "D", 8)]
    rows, good, bad = [], [], []
    spoiled = set(rng.sample(range(records), 4))
    header_len = 32 + 32 * len(fields) + 1
    for index, key in enumerate(rng.sample(range(1, 999_999), records)):
        born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(30_000))
        name = rng.choice(["Ann", "Bob", "Dee", "Ezra"])
        text = born.strftime("%Y%m%d") if index not in spoiled else rng.choice(
            ["NotAYear", "20231345", "1999-2-x"])  # fmt: skip
        record = f"{key:6d}".encode() + name.encode().ljust(10) + text.encode()
        rows.append(record)
        if index in spoiled:
            bad.append((index + 1, b" " + record, "BORN"))
        else:
            good.append((key, name, born))
    (folder / "members.dbf").write_bytes(_dbf(rows, fields))
    del header_len
    return Planted(sorted(good), bad)


def source_plan(folder: Path, postgres_name: str, kind: str) -> Path:
    source: dict[str, Any] = (
        {"kind": "csv", "path": str(folder / "members.csv"), "encoding": "cp1252"}
        if kind == "csv" else {"kind": "dbf", "path": str(folder / "members.dbf")}
    )  # fmt: skip
    key = "ID" if kind == "csv" else "MEMBER_ID"
    plan = {
        "system": {"id": folder.name, "name": f"Members ({kind})"},
        "source": {**source, "quarantine_bad_records": True},
        "target": {"url": f"postgresql+psycopg://postgres@127.0.0.1/{postgres_name}",
                   "schema": f"s_{uuid.uuid4().hex[:8]}"},
        "tables": [{"source": "members", "target": "members", "key": [key]}],
    }  # fmt: skip
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan), encoding="utf-8")
    return path


def members(plan_path: Path) -> list[tuple[Any, ...]]:
    plan = load_plan(plan_path)
    url = plan.target.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        return sorted(tuple(r) for r in conn.execute(
            f'SELECT * FROM "{plan.target.db_schema}".members'))  # fmt: skip


def reconciled(engine_db_url: str, plan: Path) -> ReconcileTableResult:
    request = ReconcileTableInput(plan_path=str(plan), table="members")
    return ActivityEnvironment().run(ReconcileActivities(engine_db_url).reconcile_table, request)


WRITERS: dict[str, Callable[[Path, int, int], Planted]] = {"csv": write_csv, "dbf": write_dbf}


@pytest.mark.parametrize(("kind", "seed"), [("csv", 61), ("csv", 62), ("dbf", 63), ("dbf", 64)])
def test_bad_records_of_a_csv_or_dbase_file_are_kept_and_block_the_gate(
    engine_db_url: str, tmp_path: Path, postgres_name: str, kind: str, seed: int
) -> None:
    folder = tmp_path / f"members-{kind}-{seed}"
    folder.mkdir()
    planted = WRITERS[kind](folder, seed, 80)
    plan = source_plan(folder, postgres_name, kind)
    store: DocumentStore = LocalStore(tmp_path / "store")
    acts = MigrationActivities(engine_db_url, heartbeat=lambda *_: None, store=store)
    acts.prepare_target(PrepareTargetInput(plan_path=str(plan), table="members"))
    for _ in range(2):  # a copy run twice keeps each bad record once
        assert copy_all(acts, plan, "members", 7) == len(planted.good)
    got = members(plan)
    if kind == "dbf":
        got = [(int(i), n.strip(), b) for i, n, b in got]
    assert got == planted.good
    with session_scope(engine_db_url) as session:
        kept = quarantined_records(session, folder.name, table="members")
        assert [r.record_number for r in kept] == [n for n, _, _ in planted.bad]
        for row, (_number, raw, word) in zip(kept, planted.bad, strict=True):
            if word != "fields":  # see the test below
                assert store.get(row.raw_key or "").rstrip(b"\r\n") == raw.rstrip(b"\r\n")
            assert row.byte_offset is not None
            assert row.byte_offset > 0
            assert word in row.reason, row.reason
            assert row.state.value == "open"
    result = reconciled(engine_db_url, plan)
    assert not result.passed  # never passes silently
    assert (result.missing, result.extra, result.changed) == (0, 0, 0)
    assert result.quarantined == len(planted.bad)
    with session_scope(engine_db_url) as session:
        accept_records(session, folder.name, "members", actor="eng", reason="kept on paper")
    assert reconciled(engine_db_url, plan).passed


async def test_quarantined_records_hold_the_workflows_gate_until_accepted(
    local_env: WorkflowEnvironment, engine_db_url: str, tmp_path: Path, postgres_name: str
) -> None:
    folder = tmp_path / f"accounts-flow-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    planted = write_file(folder, 71, 60)
    plan = write_plan(folder, postgres_name)
    store = LocalStore(tmp_path / "store")
    io = [*MigrationActivities(engine_db_url, store=store).all(),
          *ReconcileActivities(engine_db_url).all(), plan_reader(engine_db_url),
          *decision_activities(engine_db_url)]  # fmt: skip
    client = local_env.client
    async with running_workers(client, ActivitySet(ocr=[], io=io),
                               queues=(TASK_QUEUE_WORKFLOWS, TASK_QUEUE_IO)):  # fmt: skip
        handle = await client.start_workflow(
            MigrateSystemWorkflow.run,
            MigrateSystemInput(plan_path=str(plan), batch_max_rows=20, batches_per_run=2),
            id=f"migrate-{folder.name}", task_queue=TASK_QUEUE_WORKFLOWS,
            result_type=MigrateSystemResult,
        )  # fmt: skip
        status: MigrationStatus | None = None
        for _ in range(600):
            status = await handle.query(MigrateSystemWorkflow.status)
            account = status.tables.get("ACCOUNT")
            if account is not None and account.state is TableState.AWAITING_DECISION:
                break
            await asyncio.sleep(0.1)
        assert status is not None
        assert status.state is RunState.AWAITING_DECISION
        assert f"{len(planted.bad)} quarantined records of ACCOUNT" in (status.reason or "")
        report = status.tables["ACCOUNT"].reconciliation
        assert report is not None
        assert report.quarantined == len(planted.bad)
        with session_scope(engine_db_url) as session:
            kept = quarantined_records(session, folder.name, table="ACCOUNT")
            assert [r.record_number for r in kept] == [n for n, _, _ in planted.bad]
            assert {r.run_id for r in kept} == {f"{handle.id}/copy/ACCOUNT"}
            accept_records(session, folder.name, "ACCOUNT", actor="engineer",
                           reason="the paper ledger holds these")  # fmt: skip
        await handle.execute_update(
            MigrateSystemWorkflow.decide_gate,
            GateDecision(table="ACCOUNT", action=GateAction.RESYNC, decided_by="engineer"),
        )
        result = await asyncio.wait_for(handle.result(), timeout=300)
    assert result.state is RunState.READY_FOR_CUTOVER
    assert result.tables["ACCOUNT"].state is TableState.PASSED
    assert target_rows(plan) == sorted(planted.good)


def test_a_csv_record_with_a_field_too_many_is_kept_with_its_raw_bytes(tmp_path: Path) -> None:
    from legacy_connectors import ReadStats
    from legacy_connectors.text_files import TextFileSource

    (tmp_path / "m.csv").write_bytes(b"ID,NAME\r\n1,Ann\r\n2,Bob,extra\r\n3,Cy\r\n")
    stats = ReadStats()
    source = TextFileSource(tmp_path / "m.csv", quarantine_bad_records=True)
    assert [len(b) for b in source.read("m", ["ID"], stats=stats)] == [2]
    (skipped,) = stats.skipped
    assert skipped.raw == b"2,Bob,extra\r\n"

"""A mainframe file with planted bad records (a bad packed decimal, a short record,
letters in a numeric field), copied into PostgreSQL with quarantine on: the good rows
exact, every bad one kept with its record number, byte offset, reason and raw bytes,
once however often a batch runs; reconciliation does not pass until they are accepted."""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.migrate import MigrationActivities
from activities.reconcile import ReconcileActivities
from adapters.storage import DocumentStore, LocalStore
from config.migration_plan import load_plan
from db.quarantine import accept_records, quarantined_records
from db.session import session_scope
from domain.errors import LegacyReadError
from domain.migration import PrepareTargetInput, ReconcileTableInput, ReconcileTableResult
from switchover.reconcile import reconcile_plan
from tests.legacy_connectors.copybook.test_bad_input import COPYBOOK
from tests.migration.test_activities import copy_all


def _packed(cents: int) -> bytes:
    digits = f"{abs(cents):07d}"
    sign = "d" if cents < 0 else "c"
    return bytes.fromhex(digits + sign)


def _record(number: int, name: str, cents: int, visits: int) -> bytes:
    return (f"{number:06d}".encode("cp037") + name.ljust(10).encode("cp037") + _packed(cents)
            + visits.to_bytes(2, "big", signed=True))  # fmt: skip


@dataclass(frozen=True)
class Planted:
    """A file's records: the good ones as rows, the bad ones as (record number, raw, kind)."""

    good: list[tuple[int, str, Decimal, int]]
    bad: list[tuple[int, bytes, str]]


def _spoil(rec: bytes, kind: str, rng: random.Random) -> bytes:
    if kind == "packed":  # a digit nibble of 0xA-0xF in BALANCE (bytes 16-19)
        at = 16 + rng.randrange(3)
        return rec[:at] + bytes([0xA0 | (rec[at] & 0x0F)]) + rec[at + 1 :]
    if kind == "short":
        return rec[: rng.randrange(1, len(rec) - 1)]
    at = rng.randrange(6)  # a letter among ACCOUNT-ID's digits
    return rec[:at] + rng.choice("ABCXYZ").encode("cp037") + rec[at + 1 :]


def write_file(folder: Path, seed: int, records: int, *, spoil: bool = True) -> Planted:
    """A variable-length (RDW) file in shuffled key order with bad records planted at
    random places, some of every kind (``spoil=False``: the same file with them good, as a
    fixed plan would read it)."""
    rng = random.Random(seed)
    ids = rng.sample(range(1, 999_999), records)
    kinds = ["packed", "short", "letters"] + [rng.choice(["packed", "short", "letters"])
                                              for _ in range(rng.randrange(1, 5))]  # fmt: skip
    spoiled = dict(zip(rng.sample(range(records), len(kinds)), kinds, strict=True))
    good, bad, data = [], [], bytearray()
    for index, account in enumerate(ids):
        name = "".join(rng.choice("ABCDEFGHIJ ") for _ in range(rng.randrange(1, 11))).strip()
        cents, visits = rng.randrange(-9_999_999, 9_999_999), rng.randrange(-9999, 10_000)
        rec = _record(account, name, cents, visits)
        if index in spoiled and spoil:
            rec = _spoil(rec, spoiled[index], random.Random(seed * 1000 + index))
            bad.append((index + 1, rec, spoiled[index]))
        else:
            good.append((account, name, Decimal(cents).scaleb(-2), visits))
        data += (len(rec) + 4).to_bytes(2, "big") + b"\x00\x00" + rec
    (folder / "accounts.cpy").write_text(COPYBOOK)
    (folder / "accounts.dat").write_bytes(bytes(data))
    return Planted(good, bad)


def write_plan(folder: Path, postgres_name: str, *, quarantine: bool = True) -> Path:
    """A plan whose system id is the folder's name: each test its own system."""
    plan = {
        "system": {"id": folder.name, "name": "Accounts (mainframe)"},
        "source": {"kind": "copybook", "copybook": str(folder / "accounts.cpy"),
                   "data": str(folder / "accounts.dat"), "record_format": "V",
                   "quarantine_bad_records": quarantine},
        "target": {"url": f"postgresql+psycopg://postgres@127.0.0.1/{postgres_name}",
                   "schema": f"s_{uuid.uuid4().hex[:8]}"},
        "tables": [{"source": "ACCOUNT", "target": "account", "key": ["ACCOUNT-ID"],
                    "columns": {"ACCOUNT-ID": "account_id", "NAME": "name",
                                "BALANCE": "balance", "VISITS": "visits"}}],
    }  # fmt: skip
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def target_rows(plan_path: Path) -> list[tuple[Any, ...]]:
    plan = load_plan(plan_path)
    url = plan.target.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT account_id, name, balance, visits FROM "
                           f'"{plan.target.db_schema}".account ORDER BY account_id')  # fmt: skip
        return list(cur)


@pytest.fixture
def store(tmp_path: Path) -> DocumentStore:
    return LocalStore(tmp_path / "store")


def copied(engine_db_url: str, store: DocumentStore, folder: Path, postgres_name: str,
           seed: int, *, times: int = 1) -> tuple[Path, Planted]:  # fmt: skip
    """The planted file copied ``times`` over in small batches (each re-reads the file)."""
    planted = write_file(folder, seed, 60)
    plan = write_plan(folder, postgres_name)
    acts = MigrationActivities(engine_db_url, heartbeat=lambda *_: None, store=store)
    acts.prepare_target(PrepareTargetInput(plan_path=str(plan), table="ACCOUNT"))
    for _ in range(times):
        assert copy_all(acts, plan, "ACCOUNT", 9) == len(planted.good)
    return plan, planted


@pytest.mark.parametrize("seed", [41, 42, 43])
def test_bad_records_are_kept_and_the_good_ones_copied_exactly(
    engine_db_url: str, store: DocumentStore, tmp_path: Path, postgres_name: str, seed: int
) -> None:
    folder = tmp_path / f"accounts-{seed}"
    folder.mkdir()
    plan, planted = copied(engine_db_url, store, folder, postgres_name, seed, times=2)
    assert target_rows(plan) == sorted(planted.good)
    with session_scope(engine_db_url) as session:
        kept = quarantined_records(session, folder.name, table="ACCOUNT")
        assert [r.record_number for r in kept] == [n for n, _, _ in planted.bad]  # once each
        for row, (_number, raw, kind) in zip(kept, planted.bad, strict=True):
            assert store.get(row.raw_key or "") == raw
            assert row.byte_offset is not None
            assert row.byte_offset >= 0
            field = {"packed": "BALANCE", "letters": "ACCOUNT-ID", "short": "shorter"}[kind]
            assert field in row.reason
            assert row.state.value == "open"


def test_strict_mode_stops_at_the_first_bad_record_naming_file_record_and_offset(
    engine_db_url: str, store: DocumentStore, tmp_path: Path, postgres_name: str
) -> None:
    folder = tmp_path / "accounts-strict"
    folder.mkdir()
    planted = write_file(folder, 44, 60)
    plan = write_plan(folder, postgres_name, quarantine=False)
    acts = MigrationActivities(engine_db_url, heartbeat=lambda *_: None, store=store)
    acts.prepare_target(PrepareTargetInput(plan_path=str(plan), table="ACCOUNT"))
    with pytest.raises(ApplicationError) as e:
        copy_all(acts, plan, "ACCOUNT", 9)
    assert e.value.type == LegacyReadError.__name__
    assert e.value.non_retryable
    # Read by key, a bad key is met before a bad value of an earlier record.
    named = re.search(r"accounts\.dat, ACCOUNT, record (\d+), byte offset \d+: \S", str(e.value))
    assert named is not None
    assert int(named[1]) in {number for number, _, _ in planted.bad}
    assert "\n" not in str(e.value)
    with session_scope(engine_db_url) as session:
        assert quarantined_records(session, folder.name) == []


def reconciled(engine_db_url: str, plan: Path) -> ReconcileTableResult:
    request = ReconcileTableInput(plan_path=str(plan), table="ACCOUNT")
    return ActivityEnvironment().run(ReconcileActivities(engine_db_url).reconcile_table, request)


def test_reconciliation_does_not_pass_until_the_quarantined_records_are_accepted(
    engine_db_url: str, store: DocumentStore, tmp_path: Path, postgres_name: str
) -> None:
    folder = tmp_path / "accounts-gate"
    folder.mkdir()
    plan, planted = copied(engine_db_url, store, folder, postgres_name, 45)
    result = reconciled(engine_db_url, plan)
    assert not result.passed
    assert (result.missing, result.extra, result.changed) == (0, 0, 0)
    assert result.quarantined == len(planted.bad)
    assert f"{len(planted.bad)} quarantined records of ACCOUNT" in (result.stopped or "")
    assert "switchover migrate quarantine accept" in (result.stopped or "")
    first = planted.bad[0][0]
    with session_scope(engine_db_url) as session:
        accept_records(session, folder.name, "ACCOUNT", actor="eng", reason="on paper",
                       records=[first])  # fmt: skip
    result = reconciled(engine_db_url, plan)
    assert not result.passed
    assert result.quarantined == len(planted.bad) - 1
    with session_scope(engine_db_url) as session:
        accept_records(session, folder.name, "ACCOUNT", actor="eng", reason="on paper")
    result = reconciled(engine_db_url, plan)
    assert result.passed, result.stopped
    assert result.quarantined == 0
    assert reconcile_plan(engine_db_url, load_plan(plan)).passed  # `switchover reconcile` too


def test_records_a_fixed_plan_reads_are_marked_rerun_and_the_gate_passes(
    engine_db_url: str, store: DocumentStore, tmp_path: Path, postgres_name: str
) -> None:
    folder = tmp_path / "accounts-rerun"
    folder.mkdir()
    plan, planted = copied(engine_db_url, store, folder, postgres_name, 47)
    assert not reconciled(engine_db_url, plan).passed
    fixed = write_file(folder, 47, 60, spoil=False)  # as a corrected plan reads the file
    assert len(fixed.good) == len(planted.good) + len(planted.bad)
    acts = MigrationActivities(engine_db_url, heartbeat=lambda *_: None, store=store)
    assert copy_all(acts, plan, "ACCOUNT", 9) == len(fixed.good)
    result = reconciled(engine_db_url, plan)
    assert result.passed, result.stopped
    assert target_rows(plan) == sorted(fixed.good)
    with session_scope(engine_db_url) as session:
        kept = quarantined_records(session, folder.name)
        assert [(r.record_number, r.state.value) for r in kept] == [
            (number, "rerun") for number, _, _ in planted.bad
        ]

"""A multi-segment mainframe file not in key order, migrated into PostgreSQL by the copy
activities: every record exact in the target, reconciliation passes, and a file whose key
repeats stops the copy naming both records."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from temporalio.exceptions import ApplicationError

from activities.migrate import MigrationActivities
from config.migration_plan import load_plan
from domain.errors import LegacyReadError
from domain.migration import PrepareTargetInput
from legacy_connectors.base import RECORD_NUMBER
from switchover.reconcile import reconcile_plan
from tests.legacy_connectors.copybook.test_key_order import open_segmented, segmented_records
from tests.migration.test_activities import copy_all

TABLES = {
    "HEADER": ("header", ["ACCOUNT-ID"], {"ACCOUNT-ID": "account_id", "SURNAME": "surname",
                                          "OPENED": "opened"}),
    "DETAIL": ("detail", ["ACCOUNT-ID", "SEQ"], {"ACCOUNT-ID": "account_id", "SEQ": "seq",
                                                 "AMOUNT": "amount", "MEMO": "memo"}),
}  # fmt: skip


def write_plan(folder: Path, postgres_name: str) -> Path:
    plan = {
        "system": {"id": "legacy-accounts", "name": "Accounts (mainframe)"},
        "source": {"kind": "copybook", "copybook": str(folder / "segments.cpy"),
                   "data": str(folder / "accounts.dat"), "record_format": "V",
                   "segment_field": "KIND", "segments": {"H": "HEADER", "D": "DETAIL"}},
        "target": {"url": f"postgresql+psycopg://postgres@127.0.0.1/{postgres_name}",
                   "schema": f"s_{uuid.uuid4().hex[:8]}"},
        "tables": [{"source": source, "target": target, "key": key, "columns": columns}
                   for source, (target, key, columns) in TABLES.items()],
    }  # fmt: skip
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def target_rows(plan_path: Path, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    plan = load_plan(plan_path)
    url = plan.target.url.replace("postgresql+psycopg://", "postgresql://")
    names = ", ".join(columns)
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            f'SELECT {names} FROM "{plan.target.db_schema}"."{table}" ORDER BY {names}'
        )
        return list(cur)


@pytest.fixture
def acts(engine_db_url: str) -> MigrationActivities:
    return MigrationActivities(engine_db_url, heartbeat=lambda *_details: None)


@pytest.mark.parametrize("seed", [21, 22])
def test_shuffled_multi_segment_file_migrates_exactly(
    acts: MigrationActivities, engine_db_url: str, postgres_name: str, tmp_path: Path, seed: int
) -> None:
    records = list(segmented_records(seed, 400))
    random.Random(seed).shuffle(records)
    source = open_segmented(tmp_path, "accounts.dat", records)
    plan = write_plan(tmp_path, postgres_name)
    for table, (target, _key, columns) in TABLES.items():
        acts.prepare_target(PrepareTargetInput(plan_path=str(plan), table=table))
        legacy = [r for b in source.read(table, [RECORD_NUMBER]) for r in b]
        # Small batches: each copy activity sorts what is left after the last key.
        assert copy_all(acts, plan, table, 97) == len(legacy)
        want = sorted(tuple(r[c] for c in columns) for r in legacy)
        assert target_rows(plan, target, list(columns.values())) == want
    report = reconcile_plan(engine_db_url, load_plan(plan))
    assert report.passed, report


def test_a_repeated_key_stops_the_copy(
    acts: MigrationActivities, postgres_name: str, tmp_path: Path
) -> None:
    records = list(segmented_records(23, 50))
    header = next(r for r in records if r[:1] == "H".encode("cp037"))
    records.insert(17, header)
    random.Random(23).shuffle(records)
    open_segmented(tmp_path, "accounts.dat", records)
    plan = write_plan(tmp_path, postgres_name)
    acts.prepare_target(PrepareTargetInput(plan_path=str(plan), table="HEADER"))
    with pytest.raises(
        ApplicationError, match=r"key ACCOUNT-ID repeats: record \d+ \(byte offset"
    ) as e:
        copy_all(acts, plan, "HEADER", 1000)
    assert e.value.type == LegacyReadError.__name__
    assert e.value.non_retryable

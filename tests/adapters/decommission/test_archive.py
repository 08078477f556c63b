"""Archives: every table as Parquet (values exact), a file source's originals byte for
byte, a manifest of sums, and a read-back that finds any object that differs."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adapters.decommission import (
    archive_legacy,
    freeze_legacy,
    open_legacy_source,
    verify_archive,
)
from adapters.storage import DocumentStore, LocalStore
from domain.cutover import ArchiveManifest
from domain.errors import ValidationFailed
from legacy_connectors import RECORD_NUMBER
from tests.adapters.decommission.conftest import (
    COLUMNS,
    EVENTS,
    PEOPLE,
    SHIFT_VALUES,
    SYSTEM,
    make_sqlite,
    write_plan,
)
from tests.conftest import need_corpus

NOW = dt.datetime(2028, 1, 3, 9, 30, tzinfo=dt.UTC)
PREFIX = f"archives/{SYSTEM}/20280103T093000Z"


def manifest_of(store: DocumentStore, key: str) -> ArchiveManifest:
    return ArchiveManifest.model_validate_json(store.get(key))


def parquet(store: DocumentStore, key: str) -> pa.Table:
    return pq.read_table(io.BytesIO(store.get(key)))


def assert_people_round_trip(store: DocumentStore, key: str) -> None:
    table = parquet(store, key)
    assert table.column_names == COLUMNS
    assert table.schema.field("balance").type == pa.decimal128(12, 2)
    assert table.schema.field("born").type == pa.date32()
    assert table.schema.field("seen").type == pa.timestamp("us")
    assert table.schema.field("photo").type == pa.binary()
    assert table.schema.field("name").type == pa.string()
    rows = [tuple(r[c] for c in COLUMNS) for r in table.to_pylist()]
    assert rows == PEOPLE
    # The decimal scale is kept: 0.00, not 0.
    assert str(rows[2][2]) == "0.00"


def test_a_sql_source_round_trips_through_parquet(tmp_path: Path, store: DocumentStore) -> None:
    url = make_sqlite(tmp_path / "legacy.db")
    plan = write_plan(tmp_path, {"kind": "sql", "url": url}, tables=["people"])

    result = archive_legacy(plan, store, now=NOW)

    assert result.verified
    assert result.manifest_key == f"{PREFIX}/manifest.json"
    assert result.files == 2  # people and events: every table, not only the plan's
    assert result.rows == len(PEOPLE) + len(EVENTS)
    manifest_bytes = store.get(result.manifest_key)
    assert hashlib.sha256(manifest_bytes).hexdigest() == result.manifest_sha256
    manifest = manifest_of(store, result.manifest_key)
    assert manifest.source_kind == "sql"
    assert {e.name: e.rows for e in manifest.entries} == {
        "tables/events.parquet": 3,
        "tables/people.parquet": 3,
    }
    for entry in manifest.entries:
        data = store.get(entry.key)
        assert hashlib.sha256(data).hexdigest() == entry.sha256
        assert len(data) == entry.bytes
    assert result.bytes == sum(e.bytes for e in manifest.entries)
    assert_people_round_trip(store, f"{PREFIX}/tables/people.parquet")
    events = parquet(store, f"{PREFIX}/tables/events.parquet")
    assert sorted(events.to_pylist(), key=lambda r: (r["code"], r["amount"] is None)) == [
        {"code": c, "amount": a} for c, a in EVENTS
    ]


def test_a_mariadb_source_round_trips_through_parquet(
    tmp_path: Path, mariadb_url: str, local_store: LocalStore
) -> None:
    plan = write_plan(tmp_path, {"kind": "sql", "url": mariadb_url}, tables=["people"])
    result = archive_legacy(plan, local_store, now=NOW)
    assert result.verified
    assert result.rows == len(PEOPLE) + len(EVENTS) + len(SHIFT_VALUES)
    assert_people_round_trip(local_store, f"{PREFIX}/tables/people.parquet")
    events = parquet(local_store, f"{PREFIX}/tables/events.parquet")
    assert events.schema.field("amount").type == pa.decimal128(5, 1)
    assert sorted(events.column("code").to_pylist()) == ["AAA", "AAA", "ZZZ"]
    shifts = parquet(local_store, f"{PREFIX}/tables/shifts.parquet")
    assert shifts.schema.field("length").type == pa.duration("us")
    assert shifts.schema.field("counter").type == pa.decimal128(20, 0)
    assert [tuple(r.values()) for r in shifts.to_pylist()] == SHIFT_VALUES


def test_row_groups_bound_memory(tmp_path: Path, local_store: LocalStore) -> None:
    url = make_sqlite(tmp_path / "legacy.db")
    plan = write_plan(tmp_path, {"kind": "sql", "url": url}, tables=["people"])
    said: list[str] = []
    archive_legacy(plan, local_store, now=NOW, row_group_rows=2, progress=said.append)
    data = local_store.get(f"{PREFIX}/tables/people.parquet")
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    assert (metadata.num_rows, metadata.num_row_groups) == (3, 2)
    # Progress after every row group: what an activity heartbeats with on a long table.
    people = [s for s in said if s.startswith("tables/people.parquet")]
    assert people == [
        "tables/people.parquet: 2 rows",
        "tables/people.parquet: 3 rows",
        "tables/people.parquet: stored",
    ]


def test_an_empty_table_is_archived_with_its_columns(
    tmp_path: Path, local_store: LocalStore
) -> None:
    url = make_sqlite(tmp_path / "legacy.db", empty=True)
    plan = write_plan(tmp_path, {"kind": "sql", "url": url}, tables=["people"])
    result = archive_legacy(plan, local_store, now=NOW)
    assert (result.verified, result.rows) == (True, 0)
    table = parquet(local_store, f"{PREFIX}/tables/people.parquet")
    assert (table.num_rows, table.column_names) == (0, COLUMNS)


def test_a_copybook_source_keeps_its_files_and_its_tables(
    tmp_path: Path, store: DocumentStore
) -> None:
    base = need_corpus("mainframe", "cobrix-test3-fixed")
    copybook, data = base / "test3_copybook.cpy", base / "TRAN2.AUG31.DATA.dat"
    source = {"kind": "copybook", "copybook": str(copybook), "data": str(data)}
    reader = open_legacy_source(write_plan(tmp_path, source, tables=["X"]).source)
    try:
        (info,) = reader.describe()
        expected = [r for b in reader.read(info.name, [RECORD_NUMBER]) for r in b]
    finally:
        reader.close()
    plan = write_plan(tmp_path, source, tables=[info.name])

    result = archive_legacy(plan, store, now=NOW)

    assert result.verified
    assert result.rows == len(expected) == 1000
    manifest = manifest_of(store, result.manifest_key)
    names = {e.name for e in manifest.entries}
    assert names == {
        f"tables/{info.name}.parquet",
        "files/test3_copybook.cpy",
        "files/TRAN2.AUG31.DATA.dat",
    }
    # The originals, byte for byte.
    assert store.get(f"{PREFIX}/files/TRAN2.AUG31.DATA.dat") == data.read_bytes()
    assert store.get(f"{PREFIX}/files/test3_copybook.cpy") == copybook.read_bytes()
    # The decoded table, value for value, decimals exact.
    table = parquet(store, f"{PREFIX}/tables/{info.name}.parquet")
    got = table.to_pylist()
    columns = [c.name for c in info.columns]
    assert [[r[c] for c in columns] for r in got] == [[r[c] for c in columns] for r in expected]
    assert isinstance(got[0]["AMOUNT"], Decimal)
    assert json.loads(table.schema.metadata[b"switchover.columns"])[0]["name"] == columns[0]


def test_a_dbase_source_keeps_its_memo_file(tmp_path: Path, store: DocumentStore) -> None:
    base = need_corpus("dbf", "infused-dbf")
    # Its header declares no code page; the text is Windows text (as tests/legacy_connectors).
    source = {"kind": "dbf", "path": str(base / "dbase_83.dbf"), "encoding": "cp1252"}
    plan = write_plan(tmp_path, source, tables=["dbase_83"])
    result = archive_legacy(plan, store, now=NOW)
    assert result.verified
    assert result.rows == 67
    assert store.get(f"{PREFIX}/files/dbase_83.dbt") == (base / "dbase_83.dbt").read_bytes()
    assert store.get(f"{PREFIX}/files/dbase_83.dbf") == (base / "dbase_83.dbf").read_bytes()
    table = parquet(store, f"{PREFIX}/tables/dbase_83.parquet")
    reader = open_legacy_source(plan.source)
    try:
        expected = [r for b in reader.read("dbase_83", [RECORD_NUMBER]) for r in b]
    finally:
        reader.close()
    for got, want in zip(table.to_pylist(), expected, strict=True):
        assert got == {k: v for k, v in want.items() if k != RECORD_NUMBER}


def test_a_file_changed_after_the_freeze_is_refused(
    tmp_path: Path, local_store: LocalStore
) -> None:
    base = need_corpus("dbf", "dbfread")
    folder = tmp_path / "legacy"
    folder.mkdir()
    people = Path(shutil.copy2(base / "people.dbf", folder / "people.dbf"))
    plan = write_plan(tmp_path, {"kind": "dbf", "path": str(people)}, tables=["people"])
    freeze_legacy(plan, local_store)
    # Untouched since the freeze: the archive's sums match the freeze's.
    assert archive_legacy(plan, local_store, now=NOW).verified
    # Root can still write a read-only file; the archive is where that shows.
    people.chmod(0o644)
    data = bytearray(people.read_bytes())
    data[-2] ^= 0x01
    people.write_bytes(bytes(data))
    with pytest.raises(ValidationFailed, match=r"people\.dbf changed since the freeze"):
        archive_legacy(plan, local_store, now=NOW + dt.timedelta(hours=1))


def _archive(tmp_path: Path, store: DocumentStore) -> tuple[str, dict[str, Any]]:
    url = make_sqlite(tmp_path / "legacy.db")
    plan = write_plan(tmp_path, {"kind": "sql", "url": url}, tables=["people"])
    result = archive_legacy(plan, store, now=NOW)
    entries = {e.name: e for e in manifest_of(store, result.manifest_key).entries}
    return result.manifest_key, entries


def test_a_corrupted_object_is_found(tmp_path: Path, store: DocumentStore) -> None:
    manifest_key, entries = _archive(tmp_path, store)
    assert verify_archive(store, manifest_key).ok
    people = entries["tables/people.parquet"]
    data = bytearray(store.get(people.key))
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    store.put_at(people.key, bytes(data))
    check = verify_archive(store, manifest_key)
    assert not check.ok
    assert any(p == f"{people.key} does not match its sha256" for p in check.problems)
    # The other table is still fine: only the damaged object is named.
    assert not any(entries["tables/events.parquet"].key in p for p in check.problems)


def test_a_truncated_or_missing_object_is_found(tmp_path: Path, store: DocumentStore) -> None:
    manifest_key, entries = _archive(tmp_path, store)
    people, events = entries["tables/people.parquet"], entries["tables/events.parquet"]
    store.put_at(people.key, store.get(people.key)[:-10])
    store.delete(events.key)
    problems = verify_archive(store, manifest_key).problems
    assert f"{events.key} is missing" in problems
    assert any(f"{people.key} holds {people.bytes - 10} bytes" in p for p in problems)
    assert any(f"{people.key} is not a readable Parquet file" in p for p in problems)


def test_a_changed_manifest_or_fewer_source_rows_are_found(
    tmp_path: Path, local_store: LocalStore
) -> None:
    manifest_key, _ = _archive(tmp_path, local_store)
    recorded = hashlib.sha256(local_store.get(manifest_key)).hexdigest()
    check = verify_archive(local_store, manifest_key, source_rows={"tables/people.parquet": 4})
    assert check.problems == [f"{PREFIX}/tables/people.parquet holds 3 rows, the source holds 4"]
    local_store.put_at(manifest_key, local_store.get(manifest_key) + b"\n")
    check = verify_archive(local_store, manifest_key, manifest_sha256=recorded)
    assert check.problems == [f"the manifest {manifest_key} does not match its recorded sha256"]


def test_a_postgres_source_round_trips_through_parquet(
    tmp_path: Path, postgres_url: str, local_store: LocalStore
) -> None:
    plan = write_plan(tmp_path, {"kind": "sql", "url": postgres_url}, tables=["people"])
    result = archive_legacy(plan, local_store, now=NOW)
    assert (result.verified, result.rows, result.files) == (True, len(PEOPLE), 1)
    assert_people_round_trip(local_store, f"{PREFIX}/tables/people.parquet")


def test_an_access_source_keeps_its_file_and_every_table(
    tmp_path: Path, local_store: LocalStore
) -> None:
    mdb = need_corpus("access", "testV1997.mdb")
    plan = write_plan(tmp_path, {"kind": "access", "path": str(mdb)}, tables=["Table1"])
    result = archive_legacy(plan, local_store, now=NOW)
    assert result.verified
    manifest = manifest_of(local_store, result.manifest_key)
    rows = {e.name: e.rows for e in manifest.entries}
    # Table1 holds 2 rows; Table2 (89 columns), Table3 and Table4 are empty.
    assert rows == {
        "files/testV1997.mdb": None,
        "tables/Table1.parquet": 2,
        "tables/Table2.parquet": 0,
        "tables/Table3.parquet": 0,
        "tables/Table4.parquet": 0,
    }
    assert local_store.get(f"{PREFIX}/files/testV1997.mdb") == mdb.read_bytes()
    table2 = parquet(local_store, f"{PREFIX}/tables/Table2.parquet")
    assert table2.num_columns == 89


def test_a_folder_of_csv_exports_is_archived_whole(tmp_path: Path, local_store: LocalStore) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "electors.csv").write_bytes("id;surname\r\n1;Ångström\r\n2;O'Brien\r\n".encode())
    (exports / "wards.csv").write_bytes(b"code,name\nW1,North\n")
    (exports / "export.log").write_bytes(b"exported 1998-04-01 by the night batch\n")
    plan = write_plan(tmp_path, {"kind": "csv", "path": str(exports)}, tables=["electors"])
    result = archive_legacy(plan, local_store, now=NOW)
    manifest = manifest_of(local_store, result.manifest_key)
    assert {e.name: e.rows for e in manifest.entries} == {
        "tables/electors.parquet": 2,
        "tables/wards.parquet": 1,
        # Every file of the export, not only those read as tables.
        "files/export.log": None,
        "files/electors.csv": None,
        "files/wards.csv": None,
    }
    for name in ("export.log", "electors.csv", "wards.csv"):
        assert local_store.get(f"{PREFIX}/files/{name}") == (exports / name).read_bytes()
    electors = parquet(local_store, f"{PREFIX}/tables/electors.parquet")
    assert electors.to_pylist() == [
        {"id": "1", "surname": "Ångström"},
        {"id": "2", "surname": "O'Brien"},
    ]


def test_a_dbase_file_naming_two_fields_alike_archives_both(
    tmp_path: Path, local_store: LocalStore
) -> None:
    # dbase_03 names two fields Point_ID (a C and an N): the source calls the second
    # Point_ID_2, so both reach the archive.
    dbf = need_corpus("dbf", "infused-dbf", "dbase_03.dbf")
    plan = write_plan(tmp_path, {"kind": "dbf", "path": str(dbf)}, tables=["dbase_03"])
    result = archive_legacy(plan, local_store, now=NOW)
    assert (result.verified, result.rows) == (True, 14)
    table = parquet(local_store, f"{PREFIX}/tables/dbase_03.parquet")
    assert table.schema.field("Point_ID").type == pa.string()
    assert table.schema.field("Point_ID_2").type == pa.int64()
    assert json.loads(table.schema.metadata[b"switchover.repeated_names"]) == []
    # The original file is in the archive as it was.
    assert local_store.get(f"{PREFIX}/files/dbase_03.dbf") == dbf.read_bytes()


def test_table_names_a_key_cannot_hold_do_not_collide(
    tmp_path: Path, local_store: LocalStore
) -> None:
    path = tmp_path / "odd.db"
    with sqlite3.connect(path) as db:
        db.execute('CREATE TABLE "a/b" (id INTEGER PRIMARY KEY)')
        db.execute('CREATE TABLE "a_b" (id INTEGER PRIMARY KEY)')
        db.executemany('INSERT INTO "a/b" VALUES (?)', [(1,), (2,)])
        db.execute('INSERT INTO "a_b" VALUES (7)')
    db.close()
    plan = write_plan(tmp_path, {"kind": "sql", "url": f"sqlite:///{path}"}, tables=["a_b"])
    result = archive_legacy(plan, local_store, now=NOW)
    rows = {e.name: e.rows for e in manifest_of(local_store, result.manifest_key).entries}
    assert rows == {"tables/a_b.parquet": 2, "tables/a_b~2.parquet": 1}

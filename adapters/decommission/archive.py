"""Archive a legacy source to the object store, with a manifest, and read it all back.

Layout, under ``archives/<system>/<UTC stamp>/``:

* ``tables/<table>.parquet``: every table the source describes, all of its rows (the
  plan's ``where`` filters do not apply: an archive keeps everything), streamed in row
  groups of ``ROW_GROUP_ROWS`` so memory is bounded by a row group, never a table.
* ``files/<name>``: for a file source (copybook, csv, dbf with its memo file, access),
  the original files byte for byte, since the Parquet copy is only our reading of them.
* ``manifest.json``: ``domain.cutover.ArchiveManifest``, every object's key, sha256,
  size and (tables) row count.

Then every object is read back (``verify_archive``): its sha256 and size must match the
manifest, each Parquet file must decode and hold as many rows as the source counts, and
a file source's files must have the sums taken when it was frozen. An archive that does
not verify is an error: it is never reported as done.

Column types in Parquet, from the source's portable types:

=====================  =========================================================
source                 Parquet (Arrow)
=====================  =========================================================
integer                int64; decimal128(p, 0) when declared wider than 18 digits
decimal(p,s)           decimal128(p, s) (decimal256 beyond 38 digits); exact
decimal (no scale)     string, the exact decimal text (Arrow needs a fixed scale)
float                  float64
boolean                bool
date                   date32
datetime               timestamp[us]; timestamp[us, UTC] when the values are aware
time                   time64[us] (duration[us] if the values are intervals)
interval               duration[us] (MariaDB TIME, PostgreSQL interval)
bytes                  binary
text and anything else string
=====================  =========================================================
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from adapters.decommission.freeze import read_freeze_record
from adapters.decommission.sources import open_legacy_source, source_files
from adapters.storage import DocumentStore
from config.log import get_logger
from config.migration_plan import MigrationPlan
from domain.cutover import ArchiveEntry, ArchiveManifest, ArchiveResult
from domain.errors import LegacyReadError, NotFoundError, ValidationFailed
from legacy_connectors import (
    RECORD_NUMBER,
    ROW_HASH,
    ChecksumPushDown,
    Column,
    LegacySource,
    Row,
    TableInfo,
)

log = get_logger(__name__)

ROW_GROUP_ROWS = 50_000
"""Rows per Parquet row group, and per read from the source."""

PARQUET_TYPE = "application/vnd.apache.parquet"
_CHUNK = 1024 * 1024


def archive_prefix(system_id: str, created_at: dt.datetime) -> str:
    """``archives/<system>/<UTC stamp>``: one folder per archive run."""
    return f"archives/{system_id}/{created_at.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"


def table_entry_name(table: str) -> str:
    """The manifest name of a table's Parquet file (a key part cannot hold '/')."""
    safe = table.replace("/", "_").replace("\\", "_").strip() or "_"
    if safe in (".", ".."):
        safe = f"_{safe}"
    return f"tables/{safe}.parquet"


def archive_legacy(
    plan: MigrationPlan,
    store: DocumentStore,
    *,
    now: dt.datetime | None = None,
    row_group_rows: int = ROW_GROUP_ROWS,
    progress: Callable[[str], None] | None = None,
) -> ArchiveResult:
    """Export every table (and a file source's files) to the store, then verify it all.

    Args:
        plan: the migration plan (its system id and source).
        store: the object store.
        now: the archive's time, which names its folder; default now.
        row_group_rows: rows per Parquet row group and per source read.
        progress: called often (each row group, each file, each object read back) with
            what is being done, in words: an activity heartbeats with it.

    Returns:
        The manifest's key and sha256 and the totals, ``verified`` True.

    Raises:
        ValidationFailed: the archive did not read back as written, or a file changed
            since the freeze; the message names the objects.
        LegacyReadError, PlanError, DatabaseError: reading the source failed.
        StorageError: the store failed (may pass; the next attempt writes a new folder).
    """
    created_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    prefix = archive_prefix(plan.system.id, created_at)
    tick = progress or _quiet
    source = open_legacy_source(plan.source)
    try:
        entries: list[ArchiveEntry] = []
        source_rows: dict[str, int] = {}
        names = _entry_names([info.name for info in source.describe()])
        for info in source.describe():
            entry = _archive_table(
                source, info, names[info.name], store, prefix, plan.source.kind,
                row_group_rows, tick,
            )  # fmt: skip
            entries.append(entry)
            log.info("archive.table", system=plan.system.id, table=info.name, rows=entry.rows)
        entries += _archive_files(plan, store, prefix, tick)
        manifest = ArchiveManifest(
            system_id=plan.system.id,
            created_at=created_at,
            source_kind=plan.source.kind,
            entries=entries,
        )
        stored = store.put_at(
            f"{prefix}/manifest.json",
            manifest.model_dump_json(indent=2).encode(),
            content_type="application/json",
        )
        # Counted again, independently of the export: rows the export missed show here.
        for info in source.describe():
            source_rows[names[info.name]] = source.count(info.name)
        check = verify_archive(
            store, stored.key, manifest_sha256=stored.sha256, source_rows=source_rows,
            progress=tick,
        )  # fmt: skip
    finally:
        source.close()
    if not check.ok:
        shown = "; ".join(check.problems[:5])
        more = f" (and {len(check.problems) - 5} more)" if len(check.problems) > 5 else ""
        raise ValidationFailed(f"the archive did not verify: {shown}{more}", where=stored.key)
    result = ArchiveResult(
        manifest_key=stored.key,
        manifest_sha256=stored.sha256,
        files=len(entries),
        rows=sum(e.rows or 0 for e in entries),
        bytes=sum(e.bytes for e in entries),
        verified=True,
    )
    log.info("archive.verified", system=plan.system.id, files=result.files, rows=result.rows)
    return result


# --- tables ---------------------------------------------------------------------------


def _quiet(_what: str) -> None:
    """No progress to report to."""


def _read_key(source: LegacySource, info: TableInfo, kind: str) -> list[str]:
    # Files stream in their own order, unsorted; a database in its key's order. A table
    # without a key reads in row-hash order where the engine can hash (MariaDB,
    # PostgreSQL), else (SQLite) in the order of all its columns.
    if kind != "sql":
        return [RECORD_NUMBER]
    if info.key:
        return list(info.key)
    if isinstance(source, ChecksumPushDown):
        return [ROW_HASH]
    return [c.name for c in info.columns]


def _entry_names(tables: list[str]) -> dict[str, str]:
    # Two tables whose names differ only in a character a key cannot hold ("a/b", "a_b")
    # must not overwrite each other: the later one is numbered.
    out: dict[str, str] = {}
    for table in tables:
        name = table_entry_name(table)
        number = 2
        while name in out.values():
            name = table_entry_name(f"{table}~{number}")
            number += 1
        out[table] = name
    return out


def _archive_table(
    source: LegacySource,
    info: TableInfo,
    name: str,
    store: DocumentStore,
    prefix: str,
    kind: str,
    row_group_rows: int,
    progress: Callable[[str], None],
) -> ArchiveEntry:
    rows = 0
    with tempfile.TemporaryDirectory(prefix="switchover-archive-") as folder:
        path = Path(folder) / "table.parquet"
        writer: _TableWriter | None = None
        try:
            for batch in source.read(
                info.name, _read_key(source, info, kind), batch_rows=row_group_rows
            ):
                if writer is None:
                    writer = _TableWriter(path, info, batch)
                writer.write(batch)
                rows += len(batch)
                progress(f"{name}: {rows} rows")
            if writer is None:
                writer = _TableWriter(path, info, [])
        finally:
            if writer is not None:
                writer.close()
        with path.open("rb") as file:
            stored = store.put_at(f"{prefix}/{name}", file, content_type=PARQUET_TYPE)
        progress(f"{name}: stored")
    return ArchiveEntry(
        name=name, key=stored.key, sha256=stored.sha256, bytes=stored.size, rows=rows
    )


class _TableWriter:
    """Writes batches of rows as Parquet row groups, column types fixed at the start."""

    def __init__(self, path: Path, info: TableInfo, first: Sequence[Row]) -> None:
        self.info = info
        # A row holds one value per name. A legacy file that names two fields alike (a
        # dBase name cut to 10 characters) reaches us with the later field's value only:
        # that column is written once, with the later field's type, and the name is
        # listed in the file's metadata. The original file is archived as it is.
        by_name = {column.name: column for column in info.columns}
        repeated = sorted(n for n in by_name if sum(c.name == n for c in info.columns) > 1)
        if repeated:
            log.warning("archive.repeated_column_names", table=info.name, columns=repeated)
        self.columns = [_ArrowColumn.of(column, first) for column in by_name.values()]
        fields = [pa.field(c.column.name, c.type, nullable=True) for c in self.columns]
        described = [{"name": c.name, "type": c.type} for c in info.columns]
        schema = pa.schema(fields).with_metadata(
            {
                "switchover.table": info.name,
                "switchover.columns": json.dumps(described),
                "switchover.repeated_names": json.dumps(repeated),
            }
        )
        self.schema = schema
        self.writer = pq.ParquetWriter(str(path), schema, compression="zstd")

    def write(self, batch: Sequence[Row]) -> None:
        arrays = [
            c.array([row.get(c.column.name) for row in batch], self.info.name) for c in self.columns
        ]
        self.writer.write_batch(
            pa.RecordBatch.from_arrays(arrays, schema=self.schema),
            row_group_size=len(batch) or None,
        )

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True)
class _ArrowColumn:
    """A source column, its Arrow type, and how its values are made ready for it."""

    column: Column
    type: pa.DataType
    convert: Any = None  # value -> value, for values Arrow does not take as they are

    @classmethod
    def of(cls, column: Column, first: Sequence[Row]) -> _ArrowColumn:
        kind = column.type
        sample = next((r.get(column.name) for r in first if r.get(column.name) is not None), None)
        if kind == "integer":
            if column.precision is not None and column.precision > 18:
                return cls(column, _decimal_type(column.precision, 0))
            return cls(column, pa.int64())
        if kind.startswith("decimal"):
            if column.scale is None or column.precision is None:
                return cls(column, pa.string(), _decimal_text)
            return cls(column, _decimal_type(column.precision, column.scale))
        if kind == "float":
            return cls(column, pa.float64(), float)
        if kind == "boolean":
            return cls(column, pa.bool_(), bool)
        if kind == "date":
            return cls(column, pa.date32(), _date_only)
        if kind == "datetime":
            aware = isinstance(sample, dt.datetime) and sample.tzinfo is not None
            return cls(column, pa.timestamp("us", tz="UTC" if aware else None))
        if kind == "interval":
            return cls(column, pa.duration("us"))
        if kind == "time":
            if isinstance(sample, dt.timedelta):
                return cls(column, pa.duration("us"))
            return cls(column, pa.time64("us"))
        if kind == "bytes":
            return cls(column, pa.binary(), bytes)
        return cls(column, pa.string(), _text)

    def array(self, values: list[Any], table: str) -> pa.Array:
        if self.convert is not None:
            values = [None if v is None else self.convert(v) for v in values]
        try:
            return pa.array(values, type=self.type)
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as e:
            # The message names the column and type; never the values.
            raise LegacyReadError(
                f"column {self.column.name} ({self.column.type}) does not fit Parquet "
                f"type {self.type}: {type(e).__name__}",
                table=table,
            ) from e


def _decimal_type(precision: int, scale: int) -> pa.DataType:
    # A scale beyond the precision (COBOL's PPP9(5)) needs the digits up to the point.
    digits = max(precision, scale, 1)
    if digits <= 38:
        return pa.decimal128(digits, scale)
    return pa.decimal256(min(digits, 76), scale)


def _decimal_text(value: Any) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _date_only(value: Any) -> Any:
    return value.date() if isinstance(value, dt.datetime) else value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


# --- files ----------------------------------------------------------------------------


def _archive_files(
    plan: MigrationPlan, store: DocumentStore, prefix: str, progress: Callable[[str], None]
) -> list[ArchiveEntry]:
    """The original files, byte for byte, checked against the sums taken at the freeze."""
    files = source_files(plan.source)
    if not files:
        return []
    frozen = read_freeze_record(store, plan.system.id)
    sums = {f.name: f.sha256 for f in frozen.files} if frozen else {}
    changed: list[str] = []
    entries = []
    for file in files:
        with file.path.open("rb") as stream:
            stored = store.put_at(f"{prefix}/files/{file.name}", stream)
        progress(f"files/{file.name}: stored")
        if file.name in sums and sums[file.name] != stored.sha256:
            changed.append(file.name)
        entries.append(
            ArchiveEntry(
                name=f"files/{file.name}", key=stored.key, sha256=stored.sha256, bytes=stored.size
            )
        )
    if frozen is not None:
        missing = sorted(set(sums) - {f.name for f in files})
        if changed or missing:
            problems = [f"{name} changed since the freeze" for name in changed]
            problems += [f"{name} was frozen but is gone" for name in missing]
            raise ValidationFailed(
                "the legacy files are not as frozen: " + "; ".join(problems),
                where=plan.system.id,
            )
    return entries


# --- reading it back ------------------------------------------------------------------


@dataclass
class ArchiveCheck:
    """What reading an archive back found.

    Attributes:
        manifest: the manifest, when it could be read.
        problems: each object that is missing or differs, in words; none when ``ok``.
        rows: Parquet rows read per table entry.
    """

    manifest: ArchiveManifest | None
    problems: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.manifest is not None and not self.problems


def verify_archive(
    store: DocumentStore,
    manifest_key: str,
    *,
    manifest_sha256: str | None = None,
    source_rows: Mapping[str, int] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ArchiveCheck:
    """Read every object of an archive back and compare it with its manifest.

    Args:
        store: the object store.
        manifest_key: the manifest's key.
        manifest_sha256: the manifest's sum as recorded (a changed manifest shows).
        source_rows: rows the source holds per table entry name, to compare with the
            Parquet files' rows.
        progress: called with each object's key before it is read back.

    Returns:
        The findings; ``ok`` when every object matches.

    Raises:
        StorageError: the store failed in a way that may pass.
    """
    try:
        data = store.get(manifest_key)
    except NotFoundError:
        return ArchiveCheck(None, [f"the manifest {manifest_key} is missing"])
    check = ArchiveCheck(None)
    if manifest_sha256 is not None and hashlib.sha256(data).hexdigest() != manifest_sha256:
        check.problems.append(f"the manifest {manifest_key} does not match its recorded sha256")
    try:
        check.manifest = ArchiveManifest.model_validate_json(data)
    except ValueError:
        check.problems.append(f"the manifest {manifest_key} is not a readable manifest")
        return check
    for entry in check.manifest.entries:
        (progress or _quiet)(f"reading back {entry.key}")
        check.problems += _verify_entry(store, entry, check, source_rows or {})
    return check


def _verify_entry(
    store: DocumentStore, entry: ArchiveEntry, check: ArchiveCheck, source_rows: Mapping[str, int]
) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="switchover-verify-") as folder:
        path = Path(folder) / "object"
        try:
            sha256, size = _download(store, entry.key, path)
        except NotFoundError:
            return [f"{entry.key} is missing"]
        problems = []
        if size != entry.bytes:
            problems.append(f"{entry.key} holds {size} bytes, the manifest says {entry.bytes}")
        if sha256 != entry.sha256:
            problems.append(f"{entry.key} does not match its sha256")
        if entry.rows is None:
            return problems
        try:
            rows = sum(b.num_rows for b in _parquet_batches(path))
        except (pa.ArrowException, OSError) as e:
            return [*problems, f"{entry.key} is not a readable Parquet file ({type(e).__name__})"]
        check.rows[entry.name] = rows
        if rows != entry.rows:
            problems.append(f"{entry.key} holds {rows} rows, the manifest says {entry.rows}")
        expected = source_rows.get(entry.name)
        if expected is not None and rows != expected:
            problems.append(f"{entry.key} holds {rows} rows, the source holds {expected}")
        return problems


def _download(store: DocumentStore, key: str, path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with store.open(key) as stream, path.open("wb") as out:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def _parquet_batches(path: Path) -> Iterator[pa.RecordBatch]:
    # Every row group is decoded, not just the footer's count: the data itself must read.
    parquet = pq.ParquetFile(str(path))
    try:
        yield from parquet.iter_batches(batch_size=ROW_GROUP_ROWS)
    finally:
        parquet.close()

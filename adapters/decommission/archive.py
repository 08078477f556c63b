"""Archive a legacy source to the object store, with a manifest, and read it all back.

Layout, under ``archives/<system>/<UTC stamp>/``:

* ``tables/<table>.parquet``: every table the source describes, all of its rows (the
  plan's ``where`` filters do not apply: an archive keeps everything), streamed in row
  groups of ``ROW_GROUP_ROWS`` so memory is bounded by a row group, never a table. The
  source is read ``READ_ROWS`` at a time, each read made into Arrow columns at once
  (one look at each column's Python types, one ``pyarrow.array`` call per column), and
  a row group is gathered in Arrow's memory, not as Python rows.
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
from operator import itemgetter
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
"""Rows per Parquet row group."""

READ_ROWS = 500
"""Rows per read from the source. Each read becomes Arrow arrays at once, so few Python
objects are alive at a time: a read of a row group's worth kept 50,000 row dicts (and as
many of the driver's rows) alive through Python's full collections, which then took half
of the time. Reads of 250 to 500 rows were the fastest measured (SQLite, PostgreSQL);
1,000 already a quarter slower. A server-side cursor pays a round trip per read."""

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
    read_rows: int = READ_ROWS,
    progress: Callable[[str], None] | None = None,
) -> ArchiveResult:
    """Export every table (and a file source's files) to the store, then verify it all.

    Args:
        plan: the migration plan (its system id and source).
        store: the object store.
        now: the archive's time, which names its folder; default now.
        row_group_rows: rows per Parquet row group.
        read_rows: rows per read from the source (at most ``row_group_rows``).
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
                row_group_rows, read_rows, tick,
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
    read_rows: int,
    progress: Callable[[str], None],
) -> ArchiveEntry:
    with tempfile.TemporaryDirectory(prefix="switchover-archive-") as folder:
        path = Path(folder) / "table.parquet"
        writer = _TableWriter(path, info, row_group_rows)
        try:
            batches = source.read(
                info.name, _read_key(source, info, kind), batch_rows=min(read_rows, row_group_rows)
            )
            for batch in batches:
                if writer.write(batch):
                    progress(f"{name}: {writer.rows} rows")
            if writer.finish():
                progress(f"{name}: {writer.rows} rows")
        finally:
            writer.close()
        with path.open("rb") as file:
            stored = store.put_at(f"{prefix}/{name}", file, content_type=PARQUET_TYPE)
        progress(f"{name}: stored")
    return ArchiveEntry(
        name=name, key=stored.key, sha256=stored.sha256, bytes=stored.size, rows=writer.rows
    )


class _TableWriter:
    """Writes a table's rows as Parquet row groups, taking them in the source's batches.

    Each batch becomes Arrow arrays as it arrives, and a row group is gathered in Arrow's
    memory: only one (small) batch of Python rows is alive at a time. Column types are
    fixed when the file is opened, from the first rows; until every datetime and time
    column has shown a value (aware or naive, time or interval), up to a row group of
    rows wait for it.
    """

    def __init__(self, path: Path, info: TableInfo, row_group_rows: int) -> None:
        self.path = path
        self.info = info
        self.row_group_rows = row_group_rows
        self.rows = 0  # rows in the file's row groups so far
        # A row holds one value per name. A legacy file that names two fields alike (a
        # dBase name cut to 10 characters) reaches us with the later field's value only:
        # that column is written once, with the later field's type, and the name is
        # listed in the file's metadata. The original file is archived as it is.
        self.by_name = {column.name: column for column in info.columns}
        self.names = list(self.by_name)
        self.unsampled = {n for n, c in self.by_name.items() if c.type in ("datetime", "time")}
        self.waiting: list[Sequence[Row]] = []
        self.waiting_rows = 0
        self.group: list[pa.RecordBatch] = []
        self.group_rows = 0
        self.columns: list[_ArrowColumn] = []
        self.schema: pa.Schema | None = None
        self.writer: pq.ParquetWriter | None = None

    def write(self, batch: Sequence[Row]) -> bool:
        """Take a batch of rows; True when a row group was written."""
        if self.writer is None:
            self.waiting.append(batch)
            self.waiting_rows += len(batch)
            self.unsampled = {n for n in self.unsampled if all(row.get(n) is None for row in batch)}
            if self.unsampled and self.waiting_rows < self.row_group_rows:
                return False
            return self._open()
        return self._add(batch)

    def finish(self) -> bool:
        """Write the rows still held; True when that wrote a row group."""
        written = self._open() if self.writer is None else False
        return self._flush() or written

    def close(self) -> None:
        """Close the file (after ``finish``, or on an error: then it is thrown away)."""
        if self.writer is not None:
            self.writer.close()

    def _open(self) -> bool:
        waiting, self.waiting = self.waiting, []
        first = [row for batch in waiting for row in batch]
        columns = self.info.columns
        repeated = sorted(n for n in self.by_name if sum(c.name == n for c in columns) > 1)
        if repeated:
            log.warning("archive.repeated_column_names", table=self.info.name, columns=repeated)
        self.columns = [_ArrowColumn.of(column, first) for column in self.by_name.values()]
        fields = [pa.field(c.column.name, c.type, nullable=True) for c in self.columns]
        described = [{"name": c.name, "type": c.type} for c in self.info.columns]
        self.schema = pa.schema(fields).with_metadata(
            {
                "switchover.table": self.info.name,
                "switchover.columns": json.dumps(described),
                "switchover.repeated_names": json.dumps(repeated),
            }
        )
        self.writer = pq.ParquetWriter(str(self.path), self.schema, compression="zstd")
        written = False
        for batch in waiting:
            written = self._add(batch) or written
        return written

    def _add(self, batch: Sequence[Row]) -> bool:
        if not batch:
            return False
        arrays = [
            c.array(values, self.info.name)
            for c, values in zip(self.columns, _column_values(batch, self.names), strict=True)
        ]
        record = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        written = False
        while record.num_rows:
            # A read that crosses a row group's end is cut there (slices share buffers).
            room = self.row_group_rows - self.group_rows
            self.group.append(record.slice(0, room))
            self.group_rows += min(room, record.num_rows)
            record = record.slice(room)
            if self.group_rows >= self.row_group_rows:
                written = self._flush() or written
        return written

    def _flush(self) -> bool:
        if not self.group or self.writer is None:
            return False
        table = pa.Table.from_batches(self.group, schema=self.schema)
        self.writer.write_table(table, row_group_size=self.group_rows)
        self.rows += self.group_rows
        self.group, self.group_rows = [], 0
        return True


def _column_values(batch: Sequence[Row], names: Sequence[str]) -> list[list[Any]]:
    """The batch's values column by column, in the order of ``names``."""
    # A C-level getter per column, not a dict.get call per value: about half the cost
    # (measured on 7 and 30 columns). A row missing a name (no source yields one, but a
    # row is only a dict) reads as None, as it always has.
    try:
        return [list(map(itemgetter(name), batch)) for name in names]
    except KeyError:
        return [[row.get(name) for row in batch] for name in names]


_NONE = type(None)


@dataclass(frozen=True)
class _ArrowColumn:
    """A source column, its Arrow type, and how its values are made ready for it.

    The type is decided once, from the column's declaration (and, for datetimes and
    times, the first values). Each batch then goes to Arrow as one list: when
    every value's Python type is in ``ready`` (the usual case: a text column of str, a
    date column of date), as it is; otherwise each value passes through ``convert``
    first. ``convert`` is the identity on the ``ready`` types, so both ways give the
    same column.
    """

    column: Column
    type: pa.DataType
    convert: Callable[[Any], Any] | None = None  # for values Arrow does not take as they are
    ready: frozenset[type] = frozenset()  # Python types Arrow takes exactly as they are

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
                return cls(column, pa.string(), _decimal_text, frozenset({str, _NONE}))
            return cls(column, _decimal_type(column.precision, column.scale))
        if kind == "float":
            # Not int: Arrow refuses an int a float64 cannot hold exactly, float() rounds.
            return cls(column, pa.float64(), float, frozenset({float, _NONE}))
        if kind == "boolean":
            return cls(column, pa.bool_(), bool, frozenset({bool, _NONE}))
        if kind == "date":
            return cls(column, pa.date32(), _date_only, frozenset({dt.date, _NONE}))
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
            # Not str: Arrow would take text as its UTF-8 bytes; bytes() refuses it.
            return cls(column, pa.binary(), bytes, frozenset({bytes, _NONE}))
        # Not bytes: Arrow would take them as UTF-8 text; _text writes them in hex.
        return cls(column, pa.string(), _text, frozenset({str, _NONE}))

    def array(self, values: list[Any], table: str) -> pa.Array:
        """One batch of this column's values as an Arrow array of its type.

        Raises:
            LegacyReadError: a value does not fit the column's type (names the column
                and the type, never the value).
        """
        try:
            # One pass over the types in C, stopping at the first type not ready.
            if self.convert is not None and not self.ready.issuperset(map(type, values)):
                convert = self.convert
                values = [None if v is None else convert(v) for v in values]
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

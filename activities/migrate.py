"""Migration activities: profile, prepare the target, copy a key range, re-sync keys,
catch up, record stages. All run on the IO queue.

Each receives references (the run's stored plan version, a table's name, key bounds) and
reads the rows itself, so no row travels through Temporal. The plan is read from the
engine database (``db.plans``), so a worker on another machine needs no plan file. Each
is idempotent: loads upsert by key, so a batch that runs again (a retry after a crash)
leaves one row per key. A copy heartbeats its last committed key after every load; a
retried attempt resumes from there. Logs carry table names and counts, never values.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from temporalio import activity

from activities import names
from activities.errors import translated
from adapters.change_capture import may_stream, open_stream, start_stream
from adapters.mapping import RowMapper
from adapters.storage import DocumentStore, open_store
from adapters.target import PostgresTarget, open_target
from config.log import get_logger
from config.migration_plan import MigrationPlan, TablePlan, load_plan
from config.settings import Settings
from db.plans import serve_stored_plans
from db.quarantine import KeptRecord, keep_records
from db.session import session_scope
from domain.errors import PlanError
from domain.migration import (
    CatchUpInput,
    CatchUpResult,
    CopyBatchInput,
    CopyBatchResult,
    KeyValues,
    PrepareTargetInput,
    ProfileInput,
    ProfileResult,
    RecordStageInput,
    ResyncKeysInput,
    ResyncKeysResult,
    TableProfile,
)
from legacy_connectors import (
    ChangedSinceSource,
    Key,
    LegacySource,
    OneTableSource,
    ReadStats,
    Row,
    SkippedRecord,
    TableInfo,
    TextBatch,
    TextReader,
    open_source,
)

log = get_logger(__name__)

ACTOR = "switchover-migration"
CATCH_UP_MARGIN = dt.timedelta(hours=1)
"""Catch-up re-copies from this long before the copy began: clocks of old systems drift,
and re-copying a row costs nothing but time."""

SourceOpener = Callable[..., LegacySource]
TargetOpener = Callable[[Any], PostgresTarget]


def key_from_wire(info: TableInfo, key: Sequence[str], values: KeyValues | None) -> Key | None:
    """Key values as the source reads them, from their JSON form in Temporal payloads
    (dates and decimals arrive as strings).

    Args:
        info: the source table.
        key: the key's column names.
        values: the values, in key order; None passes through.
    """
    if values is None:
        return None
    out: list[Any] = []
    for name, value in zip(key, values, strict=True):
        try:
            kind = info.column(name).type
        except KeyError:
            kind = "integer" if name == "_record" else "text"
        if isinstance(value, str):
            if kind == "date":
                value = dt.date.fromisoformat(value)
            elif kind == "datetime":
                value = dt.datetime.fromisoformat(value)
            elif kind.startswith("decimal"):
                value = Decimal(value)
            elif kind == "integer":
                value = int(value)
        out.append(value)
    return tuple(out)


class _ReadAhead:
    """Reads the next batch in a thread while the current one loads, so the legacy read
    (the driver, in Python) and the target's COPY (in the database's process) overlap.

    At most two batches wait beside the one loading: memory stays bounded by the batch.
    The source is used by the reading thread only, until ``close`` returns.
    """

    _END = object()

    def __init__(self, batches: Iterator[Any]) -> None:
        self._batches = batches
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="read-ahead", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            for batch in self._batches:
                if not self._put(batch):
                    return
            self._put(self._END)
        except BaseException as e:  # handed to the loading thread, which raises it
            self._put(e)
        finally:
            close = getattr(self._batches, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop reading and wait for the thread, so the source can be closed after."""
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._thread.join(timeout=60)


@dataclass(frozen=True)
class _Load:
    """One batch, ready for the target: COPY text, or rows of target values."""

    rows: int
    last_key: KeyValues
    text: bytes | None = None
    columns: tuple[str, ...] = ()
    values: list[tuple[Any, ...]] | None = None

    def into(self, target: PostgresTarget, table: str, mapper: RowMapper) -> None:
        if self.text is not None:
            target.load_text(table, self.columns, mapper.target_key, self.rows, self.text)
        else:
            names = [c.name for c in mapper.target_columns]
            target.upsert(table, names, mapper.target_key, self.values or [])


def _text_loads(
    batches: Iterator[TextBatch], mapper: RowMapper, target: PostgresTarget
) -> Iterator[_Load]:
    for batch in batches:
        mapped = mapper.map_text(batch)
        yield _Load(
            rows=batch.rows,
            last_key=list(batch.key(-1, mapper.source_key)) if batch.rows else [],
            text=target.copy_text(mapped),
            columns=tuple(c.name for c in mapped.targets),
        )


def _row_loads(batches: Iterator[list[Row]], mapper: RowMapper) -> Iterator[_Load]:
    for batch in batches:
        yield _Load(
            rows=len(batch),
            last_key=[batch[-1][k] for k in mapper.source_key] if batch else [],
            values=[mapper.values(row) for row in batch],
        )


def split_key_range(
    lowest: KeyValues | None, highest: KeyValues | None, parts: int
) -> list[list[KeyValues]]:
    """``[lowest, highest]`` of a single integer key split into up to ``parts`` ranges of
    about equal width, each ``[first, last]`` (inclusive, no gap, no overlap); empty when
    the key is not a single integer or one range is all there is.
    """
    if not (lowest and highest and len(lowest) == len(highest) == 1) or parts < 2:
        return []
    low, high = lowest[0], highest[0]
    if type(low) is not int or type(high) is not int or high <= low:
        return []
    parts = min(parts, high - low + 1)
    width = -(-(high - low + 1) // parts)
    return [[[start], [min(start + width - 1, high)]] for start in range(low, high + 1, width)]


def _table_info(source: LegacySource, table: str) -> TableInfo:
    if isinstance(source, OneTableSource):
        return source.table_info(table)  # this table only: a legacy database may have hundreds
    for info in source.describe():
        if info.name == table:
            return info
    raise PlanError(f"the source has no table {table!r}")


@dataclass
class MigrationActivities:
    """The migration's IO activities, with the source and target openers injected."""

    database_url: str
    source_opener: SourceOpener = open_source
    target_opener: TargetOpener = open_target
    heartbeat: Callable[..., None] = activity.heartbeat
    store: DocumentStore | None = None
    """Where quarantined records' raw bytes go (default: the settings' store)."""

    def __post_init__(self) -> None:
        # A run carries its stored plan's reference: this worker reads it from here.
        serve_stored_plans(self.database_url)

    @classmethod
    def from_settings(cls, settings: Settings) -> MigrationActivities:
        return cls(
            settings.resolved_database_url,
            store=open_store(settings.resolved_storage_url, settings),
        )

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.profile_system,
            self.prepare_target,
            self.copy_ranges,
            self.copy_batch,
            self.resync_keys,
            self.catch_up_table,
            self.record_migration_stage,
        ]

    @contextmanager
    def _source(self, plan: MigrationPlan) -> Iterator[LegacySource]:
        filters = {t.source: t.where for t in plan.tables if t.where}
        source = self.source_opener(plan.source, filters=filters or None)
        try:
            yield source
        finally:
            source.close()

    @contextmanager
    def _target(self, plan: MigrationPlan) -> Iterator[PostgresTarget]:
        target = self.target_opener(plan.target)
        try:
            yield target
        finally:
            target.close()

    @activity.defn(name=names.PROFILE_SYSTEM)
    @translated
    def profile_system(self, request: ProfileInput) -> ProfileResult:
        """Counts, key bounds and mappings of every table; the plan checked against the source."""
        plan = load_plan(request.plan_path)
        tables = []
        with self._source(plan) as source:
            infos = {info.name: info for info in source.describe()}
            for table_plan in plan.tables:
                info = infos.get(table_plan.source)
                if info is None:
                    raise PlanError(f"the source has no table {table_plan.source!r}")
                mapper = RowMapper(table_plan, info)
                rows = source.count(table_plan.source)  # the plan's `where` is a source filter
                bounds = source.key_bounds(table_plan.source, mapper.source_key)
                tables.append(
                    TableProfile(
                        table=table_plan.source,
                        target=table_plan.target,
                        key=list(mapper.source_key),
                        rows=rows,
                        lowest=list(bounds[0]) if bounds else None,
                        highest=list(bounds[1]) if bounds else None,
                    )
                )
            # the stream begins before any row is copied: what the copy misses, it has
            position = None
            if may_stream(plan):
                with self._target(plan) as target:
                    position = start_stream(plan, source, target)
        log.info("profiled", system=plan.system.id, tables=len(tables))
        return ProfileResult(
            system_id=plan.system.id,
            system_name=plan.system.name,
            tables=tables,
            batch_rows=plan.batch_rows,
            change_stream=position,
        )

    @activity.defn(name=names.PREPARE_TARGET)
    @translated
    def prepare_target(self, request: PrepareTargetInput) -> bool:
        """Create the target table from the mapping, or check the existing one."""
        plan = load_plan(request.plan_path)
        table_plan = plan.table(request.table)
        with self._source(plan) as source:
            mapper = RowMapper(table_plan, _table_info(source, table_plan.source))
        with self._target(plan) as target:
            return target.prepare(table_plan.target, mapper.target_columns, mapper.target_key)

    @activity.defn(name=names.COPY_RANGES)
    @translated
    def copy_ranges(self, request: PrepareTargetInput) -> list[list[KeyValues]]:
        """The key ranges the table's copy runs as at once (the plan's ``parallel``), each
        ``[first, last]``; empty: copy it as one range."""
        plan = load_plan(request.plan_path)
        table_plan = plan.table(request.table)
        if table_plan.parallel < 2:
            return []
        with self._source(plan) as source:
            mapper = RowMapper(table_plan, _table_info(source, table_plan.source))
            bounds = source.key_bounds(table_plan.source, mapper.source_key)
        if bounds is None:
            return []
        ranges = split_key_range(list(bounds[0]), list(bounds[1]), table_plan.parallel)
        log.info("copy_split", table=request.table, ranges=len(ranges) or 1)
        return ranges

    @activity.defn(name=names.COPY_BATCH)
    @translated
    def copy_batch(self, request: CopyBatchInput) -> CopyBatchResult:
        """Copy up to ``max_rows`` rows after a key, heartbeating the last key loaded.

        A retried attempt starts after the key its last heartbeat carried.
        """
        plan = load_plan(request.plan_path)
        table_plan = plan.table(request.table)
        after_wire, rows = request.after, 0
        details = activity.info().heartbeat_details if activity.in_activity() else ()
        if details:
            after_wire, rows = details[0][0], int(details[0][1])
        with self._source(plan) as source, self._target(plan) as target:
            info = _table_info(source, table_plan.source)
            mapper = RowMapper(table_plan, info)
            after = key_from_wire(info, mapper.source_key, after_wire)
            upto = key_from_wire(info, mapper.source_key, request.upto)
            last = after_wire
            done = True
            stats = ReadStats()  # what the source sets aside, kept below
            batch_rows = min(plan.batch_rows, request.max_rows)
            loads: Iterator[_Load]
            if isinstance(source, TextReader) and source.reads_text:
                # The source database writes the untransformed columns as COPY's lines; the
                # rest is mapped a column at a time.
                stream = source.read_text(table_plan.source, mapper.source_key,
                                          lines=mapper.line_sources, after=after, upto=upto,
                                          batch_rows=batch_rows)  # fmt: skip
                loads = _text_loads(stream, mapper, target)
            else:
                rows_read = source.read(table_plan.source, mapper.source_key, after=after,
                                        upto=upto, batch_rows=batch_rows, stats=stats)  # fmt: skip
                loads = _row_loads(rows_read, mapper)
            # Reading, mapping and building the next load happen in another thread while
            # the target takes this one.
            ahead = _ReadAhead(loads)
            try:
                for load in ahead:
                    if not load.rows:
                        continue
                    load.into(target, table_plan.target, mapper)
                    rows += load.rows
                    last = load.last_key
                    self.heartbeat([last, rows])
                    if rows >= request.max_rows:
                        done = False
                        break
            finally:
                ahead.close()
        self._keep_quarantined(plan, stats.skipped)
        return CopyBatchResult(rows=rows, last_key=last, done=done)

    def _keep_quarantined(self, plan: MigrationPlan, skipped: Sequence[SkippedRecord]) -> None:
        """Keep the records the source set aside: raw bytes in storage, a row each in the
        engine database. A record read again (a retried batch, or every batch of a range
        sorted by key) is kept once."""
        if not skipped:
            return
        store = self.store or open_store()
        kept = []
        for record in skipped:
            stored = store.put(record.raw) if record.raw is not None else None
            kept.append(KeptRecord(
                record.table, record.record_number, record.byte_offset, record.reason,
                raw_key=stored.key if stored else None,
                raw_sha256=stored.sha256 if stored else None,
                raw_size=stored.size if stored else None,
            ))  # fmt: skip
        run_id = activity.info().workflow_id if activity.in_activity() else None
        with session_scope(self.database_url) as session:
            new = keep_records(session, plan.system.id, kept, run_id=run_id)
        log.warning("records_quarantined", system=plan.system.id, table=skipped[0].table,
                    read=len(kept), new=new)  # fmt: skip

    def _load(
        self, target: PostgresTarget, table_plan: TablePlan, mapper: RowMapper, batch: list[Any]
    ) -> int:
        columns = [c.name for c in mapper.target_columns]
        values = [mapper.values(row) for row in batch]
        return target.upsert(table_plan.target, columns, mapper.target_key, values)

    @activity.defn(name=names.RESYNC_KEYS)
    @translated
    def resync_keys(self, request: ResyncKeysInput) -> ResyncKeysResult:
        """Copy the differing keys again: upsert those the legacy side has, delete the rest.

        Without keys in the request, the reconciliation engine finds them (every one: a
        diff that runs out of budget fails rather than re-syncing part of the table).
        """
        plan = load_plan(request.plan_path)
        table_plan = plan.table(request.table)
        with self._source(plan) as source, self._target(plan) as target:
            info = _table_info(source, table_plan.source)
            mapper = RowMapper(table_plan, info)
            if request.keys is None:
                recopy, delete = self.differing_keys(plan, table_plan.source)
            else:
                given = [key_from_wire(info, mapper.source_key, k) for k in request.keys]
                recopy, delete = [k for k in given if k is not None], []
            found = source.lookup(table_plan.source, mapper.source_key, recopy) if recopy else {}
            upserted = self._load(target, table_plan, mapper, list(found.values())) if found else 0
            delete += [mapper.map_key(k) for k in recopy if k not in found]
            deleted = target.delete_keys(table_plan.target, mapper.target_key, delete)
        log.info("resynced", table=request.table, upserted=upserted, deleted=deleted)
        return ResyncKeysResult(upserted=upserted, deleted=deleted)

    def differing_keys(self, plan: MigrationPlan, table: str) -> tuple[list[Key], list[Key]]:
        """Source keys to copy again and target keys to delete, from the reconciliation engine."""
        from adapters.reconciliation.engine import open_reconciler

        with open_reconciler(plan, progress=lambda _note: self.heartbeat()) as reconciler:
            keys = reconciler.differing_keys(table)
        return list(keys.recopy), list(keys.delete)

    @activity.defn(name=names.CATCH_UP_TABLE)
    @translated
    def catch_up_table(self, request: CatchUpInput) -> CatchUpResult:
        """Bring the target up to legacy: apply the change stream (every table of the
        system at once, so later calls find little to do) where the system has one, else
        re-copy the rows changed since the copy began, by the plan's ``updated_at`` column.

        Without either (or for a file source) nothing is copied here: the reconciliation
        that follows finds the changes and the workflow re-syncs them.
        """
        plan = load_plan(request.plan_path)
        table_plan = plan.table(request.table)
        if may_stream(plan):
            caught_up = self._catch_up_by_stream(plan)
            if caught_up is not None:
                return caught_up
        if table_plan.updated_at is None:
            return CatchUpResult(rows=0, by_updated_at=False)
        since = (request.since - CATCH_UP_MARGIN).replace(tzinfo=None)
        rows = 0
        with self._source(plan) as source, self._target(plan) as target:
            if not isinstance(source, ChangedSinceSource):
                return CatchUpResult(rows=0, by_updated_at=False)
            info = _table_info(source, table_plan.source)
            mapper = RowMapper(table_plan, info)
            for batch in source.read_changed_since(
                table_plan.source,
                mapper.source_key,
                table_plan.updated_at,
                since,
                batch_rows=plan.batch_rows,
            ):
                if batch:
                    rows += self._load(target, table_plan, mapper, batch)
                    self.heartbeat([None, rows])
        log.info("caught up", table=request.table, rows=rows)
        return CatchUpResult(rows=rows, by_updated_at=True)

    def _catch_up_by_stream(self, plan: MigrationPlan) -> CatchUpResult | None:
        """Apply the system's change stream up to now; None when it has none."""
        with (
            self._source(plan) as source,
            self._target(plan) as target,
            open_stream(plan, source, target) as stream,
        ):
            if stream is None:
                return None
            applied, up_to = stream.catch_up(heartbeat=lambda: self.heartbeat())
            self._publish(plan.system.id, up_to)
            position = str(applied.position or stream.applier.position())
        log.info("caught_up", system=plan.system.id, changes=applied.changes,
                 position=position)  # fmt: skip
        return CatchUpResult(
            rows=applied.changes, by_updated_at=False, by_stream=True, position=position,
            seconds_behind=round(max(applied.lag_s, default=0.0), 3),
        )  # fmt: skip

    def _publish(self, system_id: str, up_to: dt.datetime) -> None:
        """Tell the routers how far modern has applied legacy's writes (read-your-writes)."""
        from db.cutover import set_applied_up_to

        with session_scope(self.database_url) as session:
            set_applied_up_to(session, system_id, up_to)

    @activity.defn(name=names.RECORD_MIGRATION_STAGE)
    @translated
    def record_migration_stage(self, request: RecordStageInput) -> None:
        """Record a stage or a gate in the engine database, for the programme dashboard."""
        from db.programme import move_system, register_system
        from domain.systems import SystemStage

        plan = load_plan(request.plan_path)
        stage = SystemStage(request.stage)
        with session_scope(self.database_url) as session:
            system = register_system(
                session,
                system_id=plan.system.id,
                name=plan.system.name,
                department=plan.system.department or "",
                risk_score=plan.system.risk_score or 0,
                annual_run_cost_gbp=Decimal(str(plan.system.annual_run_cost_gbp)),
                migration_cost_gbp=Decimal(str(plan.system.migration_cost_gbp)),
                actor=ACTOR,
            )
            # A retried activity must not record the same step twice.
            if system.stage is not stage or request.note:
                move_system(session, plan.system.id, stage, actor=ACTOR, note=request.note)
            if request.rows_migrated is not None:
                system.rows_migrated = request.rows_migrated
            if request.rows_total is not None:
                system.rows_total = request.rows_total
            if request.reconciliation_passed is not None:
                system.last_reconciliation_passed = request.reconciliation_passed
                system.last_reconciliation_at = dt.datetime.now(dt.UTC)

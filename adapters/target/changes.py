"""Applying a legacy change stream to the target, idempotently, position and data together.

A ``ChangeApplier`` reads committed transactions from a source's change stream
(``legacy_connectors.base.ChangeStream``) from the position last checkpointed in the
target, maps each changed row through the plan exactly as the copy does
(``adapters.mapping.RowMapper``), and writes a batch of whole transactions in one target
transaction together with the new position (table ``_switchover_change_position`` in the
target's schema). A worker killed mid-batch leaves the target as of the last committed
batch and its position; the next run resumes from there, so nothing is lost and nothing
is applied twice.

Inside one batch only each key's last state matters (the batch commits as a whole), so a
batch becomes, per table, one delete of the keys whose last change removed them and one
upsert of the rows whose last change wrote them; a delete followed by a re-insert of the
same key is an upsert, an update that moves a key deletes the old one. Batches are applied
strictly in commit order.

Log lines name systems, tables, counts and positions, never row values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from adapters.mapping import RowMapper
from adapters.target.postgres import PostgresTarget
from config.log import get_logger
from domain.errors import DatabaseError, PlanError
from legacy_connectors.base import (
    ChangeStream,
    CommittedTransaction,
    Key,
    LegacySource,
    RowChange,
    StreamPosition,
    position_from_json,
)

__all__ = ["POSITION_TABLE", "AppliedChanges", "ChangeApplier", "ChangeLag", "change_applier"]

log = get_logger(__name__)

POSITION_TABLE = "_switchover_change_position"
"""Per system, the stream position the target holds every change up to."""


@dataclass
class AppliedChanges:
    """What one ``catch_up`` (or ``apply``) did.

    Attributes:
        transactions: source transactions applied.
        changes: row changes applied (of the plan's tables).
        batches: target transactions committed.
        upserts: rows written; deletes: keys deleted (after folding each batch).
        position: the position checkpointed last (None: nothing was there to apply).
        lag_s: per applied transaction, seconds from its commit on legacy to the commit of
            its batch on the target.
        changed: per watched source table, the source keys the applied changes touched
            (both keys of an update that moved one); reconciliation at a position uses
            them to tell writes in flight from differences.
    """

    transactions: int = 0
    changes: int = 0
    batches: int = 0
    upserts: int = 0
    deletes: int = 0
    position: StreamPosition | None = None
    lag_s: list[float] = field(default_factory=list)
    changed: dict[str, set[Key]] = field(default_factory=dict)

    def add(self, other: AppliedChanges) -> None:
        """Count ``other`` (applied after this) in these totals."""
        self.transactions += other.transactions
        self.changes += other.changes
        self.batches += other.batches
        self.upserts += other.upserts
        self.deletes += other.deletes
        self.position = other.position or self.position
        self.lag_s += other.lag_s
        for table, keys in other.changed.items():
            self.changed.setdefault(table, set()).update(keys)


@dataclass(frozen=True)
class ChangeLag:
    """How far the target is behind legacy.

    Attributes:
        applied: the checkpointed position (None before the stream was started).
        head: the source's newest position.
        changes_behind: row changes of the plan's tables committed on legacy and not yet
            applied (at least this many when ``more`` is set).
        seconds_behind: age of the oldest such change (0 when there is none).
        more: the count stopped at its limit.
    """

    applied: StreamPosition | None
    head: StreamPosition
    changes_behind: int
    seconds_behind: float
    more: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form for status pages and workflow results."""
        return {
            "applied": None if self.applied is None else self.applied.to_json(),
            "head": self.head.to_json(),
            "changes_behind": self.changes_behind,
            "seconds_behind": round(self.seconds_behind, 3),
            "more": self.more,
        }


_Op = tuple[str, Any]  # ("delete", target key) or ("upsert", target values)


class ChangeApplier:
    """Applies one system's change stream to its target tables.

    Args:
        target: the target store (its schema holds the tables and the position table).
        system: the plan's system id: the position's row.
        mappers: one per plan table (``RowMapper(table_plan, info)``).
        batch_changes: about how many changes one target transaction holds (a transaction
            of the source is never split, so a large one makes a larger batch).
    """

    def __init__(
        self,
        target: PostgresTarget,
        system: str,
        mappers: Sequence[RowMapper],
        *,
        batch_changes: int = 2_000,
    ) -> None:
        self.target = target
        self.system = system
        self.mappers = {m.table: m for m in mappers}
        self.batch_changes = batch_changes
        self.tables: dict[str, Sequence[str]] = {m.table: m.source_key for m in mappers}
        self._ready = False

    # --- the position ---------------------------------------------------------------

    def _position_table(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(
            sql.Identifier(self.target.schema), sql.Identifier(POSITION_TABLE)
        )

    def prepare(self) -> None:
        """Create the position table (and schema) if needed. Idempotent."""
        if self._ready:
            return
        with self.target.conn.transaction(), self.target.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.target.schema,))
            cur.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.target.schema))
            )
            cur.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (system text PRIMARY KEY, position jsonb NOT "
                    "NULL, committed_at timestamptz, applied_at timestamptz NOT NULL DEFAULT "
                    "now(), changes_applied bigint NOT NULL DEFAULT 0)"
                ).format(self._position_table())
            )
        self._ready = True

    def position(self) -> StreamPosition | None:
        """The checkpointed position: every change up to it is in the target (None before
        the stream was started: the position table is made only then, so a system that
        never uses a stream gets no bookkeeping table in its schema)."""
        with self.target.conn.transaction(), self.target.conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (self._position_table().as_string(cur),))
            if cur.fetchone() == (None,):
                return None
            cur.execute(
                sql.SQL("SELECT position FROM {} WHERE system = %s").format(self._position_table()),
                (self.system,),
            )
            found = cur.fetchone()
        return None if found is None else position_from_json(found[0])

    def start_at(self, position: StreamPosition) -> StreamPosition:
        """Begin the stream at ``position`` (the source's head taken before the copy began)
        unless a position is already checkpointed. Idempotent.

        Returns:
            The position the stream goes on from.
        """
        self.prepare()
        with self.target.conn.transaction(), self.target.conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (system, position) VALUES (%s, %s) "
                    "ON CONFLICT (system) DO NOTHING"
                ).format(self._position_table()),
                (self.system, json.dumps(position.to_json())),
            )
        found = self.position()
        assert found is not None
        return found

    # --- applying -------------------------------------------------------------------

    def catch_up(
        self,
        stream: ChangeStream,
        *,
        max_changes: int | None = None,
        watch: Collection[str] = (),
    ) -> AppliedChanges:
        """Apply everything the stream holds after the checkpointed position (up to about
        ``max_changes``), batch by batch, then tell the stream what is safely applied.
        The source keys changed in the ``watch`` tables come back in ``changed``.

        Raises:
            PlanError: no position yet (``start_at`` first), or the stream cannot resume.
            DatabaseError, LegacyReadError: as the stream and the target raise them.
        """
        with self._alone():
            after = self.position()
            if after is None:
                raise PlanError(f"no change-stream position for {self.system}: start it first")
            changes = stream.changes(self.tables, after, max_changes=max_changes)
            result = self.apply(changes, watch=watch)
        if result.position is not None:
            stream.confirm(result.position)
        return result

    @contextmanager
    def _alone(self) -> Iterator[None]:
        """Hold the system's applier lock: one applier at a time reads the position and
        applies from it (a retried activity whose first attempt still runs waits; two
        appliers from one position would set the target back while they overlap). The
        lock lives on a connection of its own and goes with it if the worker dies."""
        try:
            lock = psycopg.connect(self.target.url, autocommit=True,
                                   connect_timeout=self.target.connect_timeout_s)  # fmt: skip
        except psycopg.Error as e:
            raise DatabaseError(f"cannot reach the target database: {type(e).__name__}") from e
        key = f"switchover-stream:{self.target.schema}:{self.system}"
        try:
            lock.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            yield
        finally:
            lock.close()

    def apply(
        self, transactions: Iterable[CommittedTransaction], *, watch: Collection[str] = ()
    ) -> AppliedChanges:
        """Apply committed transactions (in commit order) in batches, each batch in one
        target transaction with its position; keys changed in ``watch`` tables are kept."""
        self.prepare()
        result = AppliedChanges()
        batch: list[CommittedTransaction] = []
        size = 0
        for transaction in transactions:
            for change in transaction.changes:
                if change.table in watch:
                    _touched(result.changed.setdefault(change.table, set()), change,
                             self.mappers[change.table].source_key)  # fmt: skip
            batch.append(transaction)
            size += len(transaction.changes)
            if size >= self.batch_changes:
                self._commit(batch, result)
                batch, size = [], 0
        if batch:
            self._commit(batch, result)
        return result

    def follow(
        self,
        stream: ChangeStream,
        *,
        stop: Callable[[], bool],
        poll_s: float = 0.2,
        on_batch: Callable[[AppliedChanges], None] | None = None,
    ) -> AppliedChanges:
        """Keep applying until ``stop()`` says so: ``catch_up`` in a loop, resting
        ``poll_s`` when there was nothing new; ``on_batch`` hears of each batch as it
        commits. Returns the totals."""
        total = AppliedChanges()
        while not stop():
            done = self.catch_up(stream, max_changes=self.batch_changes)
            total.add(done)
            if on_batch is not None and done.transactions:
                on_batch(done)
            if not done.transactions:
                time.sleep(poll_s)
        return total

    def _commit(self, batch: list[CommittedTransaction], result: AppliedChanges) -> None:
        ops = self._fold(batch)
        last = batch[-1]
        changes = sum(len(t.changes) for t in batch)
        upserts = deletes = 0
        with self.target.conn.transaction():
            for table, by_key in ops.items():
                mapper = self.mappers[table]
                gone = [value for op, value in by_key.values() if op == "delete"]
                rows = [value for op, value in by_key.values() if op == "upsert"]
                if gone:
                    deletes += self.target.delete_keys(mapper.target_table, mapper.target_key,
                                                       gone)  # fmt: skip
                if rows:
                    names = [c.name for c in mapper.target_columns]
                    upserts += self.target.upsert(mapper.target_table, names, mapper.target_key,
                                                  rows)  # fmt: skip
            with self.target.conn.cursor() as cur:
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {} AS p (system, position, committed_at, applied_at, "
                        "changes_applied) VALUES (%s, %s, %s, now(), %s) ON CONFLICT (system) "
                        "DO UPDATE SET position = EXCLUDED.position, committed_at = "
                        "EXCLUDED.committed_at, applied_at = now(), changes_applied = "
                        "p.changes_applied + EXCLUDED.changes_applied"
                    ).format(self._position_table()),
                    (self.system, json.dumps(last.position.to_json()), last.committed_at, changes),
                )
        now = datetime.now(UTC)
        result.transactions += len(batch)
        result.changes += changes
        result.batches += 1
        result.upserts += upserts
        result.deletes += deletes
        result.position = last.position
        result.lag_s += [(now - t.committed_at).total_seconds() for t in batch if t.changes]
        log.info("changes_applied", system=self.system, transactions=len(batch),
                 changes=changes, position=str(last.position))  # fmt: skip

    def _fold(self, batch: list[CommittedTransaction]) -> dict[str, dict[Key, _Op]]:
        """Per table and target key, the last thing the batch did to it."""
        ops: dict[str, dict[Key, _Op]] = {}
        for transaction in batch:
            for change in transaction.changes:
                mapper = self.mappers.get(change.table)
                if mapper is None:
                    continue
                by_key = ops.setdefault(change.table, {})
                if change.before is not None:
                    old = tuple(change.before.get(k) for k in mapper.source_key)
                    if old != change.key:
                        target_old = mapper.map_key(old)
                        by_key[target_old] = ("delete", target_old)
                target_key = mapper.map_key(change.key)
                if change.op == "delete":
                    by_key[target_key] = ("delete", target_key)
                else:
                    by_key[target_key] = ("upsert", mapper.values(change.row))
        return ops

    # --- lag ------------------------------------------------------------------------

    def lag(self, stream: ChangeStream, *, limit: int = 100_000) -> ChangeLag:
        """Seconds and changes the target is behind legacy, counted by reading the stream
        from the checkpointed position (nothing is applied)."""
        applied = self.position()
        head = stream.head()
        if applied is None:
            return ChangeLag(None, head, 0, 0.0)
        behind = 0
        oldest: datetime | None = None
        for transaction in stream.changes(self.tables, applied, max_changes=limit):
            if transaction.changes and oldest is None:
                oldest = transaction.committed_at
            behind += len(transaction.changes)
        seconds = 0.0 if oldest is None else max(0.0, (datetime.now(UTC) - oldest).total_seconds())
        return ChangeLag(applied, head, behind, seconds, more=behind >= limit)


def _touched(keys: set[Key], change: RowChange, source_key: Sequence[str]) -> None:
    keys.add(change.key)
    if change.before is not None:
        keys.add(tuple(change.before.get(k) for k in source_key))


def change_applier(
    plan: Any,
    source: LegacySource,
    target: PostgresTarget,
    *,
    batch_changes: int = 2_000,
) -> ChangeApplier:
    """The applier of a plan's tables (``config.migration_plan.MigrationPlan``).

    Raises:
        PlanError: a table with a ``where`` filter (a change cannot be judged against it
            here yet), or a mapping the source does not fit.
    """
    filtered = [t.source for t in plan.tables if t.where]
    if filtered:
        raise PlanError(
            f"change streams do not apply `where` filters yet (table {filtered[0]}): "
            "catch up by re-diff for it"
        )
    infos = {info.name: info for info in source.describe()}
    mappers = []
    for table in plan.tables:
        info = infos.get(table.source)
        if info is None:
            raise PlanError(f"the source has no table {table.source!r}")
        mappers.append(RowMapper(table, info))
    return ChangeApplier(target, plan.system.id, mappers, batch_changes=batch_changes)

"""The way back after the switch: modern's writes carried to legacy until the freeze, so
that a rollback after completion loses nothing.

Capture is by triggers on the target (any PostgreSQL: no ``wal_level``, no slot).
``install`` creates, in the target schema, a log table and an AFTER INSERT/UPDATE/DELETE
row trigger on every plan table; each write on modern adds a log row in its own
transaction naming the table and the changed row's key (both keys when an update moves
one). ``ReverseApplier.catch_up`` then applies the log to legacy, state-based: for each
logged key, modern's current row is read (through the target as a read-only
``SqlSource``), mapped back through the inverse of the plan's mapping
(``adapters.inverse_mapping``) and written to legacy by key (``adapters.legacy_writer``:
an UPDATE of the mapped columns, so legacy columns the plan does not map keep their
values, or an INSERT when legacy has no such row), or deleted from legacy when modern no
longer has it. One legacy transaction per batch; then exactly the log rows applied are
deleted. Log ids are given when a row is inserted, not when it commits, so a position by
id could skip a row whose transaction commits late; deleting what was applied cannot. A
worker that dies between legacy's commit and the delete leaves those rows to be applied
again: the same state, harmless.

Not captured: TRUNCATE (modern's service has no business truncating the tables it took
over), and writes to columns the inverse keeps (``inverse: keep``).

Nothing here logs a row value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from adapters.inverse_mapping import InverseMapper, inverse_problems
from adapters.legacy_writer import LegacyWriter, TableWrites
from adapters.target.postgres import PostgresTarget, open_target
from config.log import get_logger
from config.migration_plan import MigrationPlan
from domain.errors import DatabaseError, PlanError
from legacy_connectors.base import Key, TableInfo
from legacy_connectors.sql import SqlSource

__all__ = [
    "LOG_TABLE",
    "ReverseApplied",
    "ReverseApplier",
    "ReverseLag",
    "open_reverse_applier",
]

log = get_logger(__name__)

LOG_TABLE = "_switchover_reverse_log"
"""Modern's writes not yet carried to legacy: one row per written row."""
_TRIGGER = "_switchover_reverse"
_FUNCTION = "_switchover_reverse_capture"
_FUNCTION_BODY = """
DECLARE
  new_row jsonb;
  old_row jsonb;
  new_key jsonb := '[]';
  old_key jsonb := '[]';
  i int;
BEGIN
  IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW); END IF;
  IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD); END IF;
  FOR i IN 0 .. TG_NARGS - 1 LOOP
    new_key := new_key || jsonb_build_array(new_row -> TG_ARGV[i]);
    old_key := old_key || jsonb_build_array(old_row -> TG_ARGV[i]);
  END LOOP;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO {log} (table_name, key) VALUES (TG_TABLE_NAME, old_key);
  ELSIF TG_OP = 'UPDATE' AND new_key IS DISTINCT FROM old_key THEN
    INSERT INTO {log} (table_name, key, old_key) VALUES (TG_TABLE_NAME, new_key, old_key);
  ELSE
    INSERT INTO {log} (table_name, key) VALUES (TG_TABLE_NAME, new_key);
  END IF;
  RETURN NULL;
END
"""


@dataclass
class ReverseApplied:
    """What one ``catch_up`` did: log rows applied, legacy rows written and deleted,
    legacy transactions, and the age (seconds) of the oldest log row applied."""

    log_rows: int = 0
    upserts: int = 0
    deletes: int = 0
    batches: int = 0
    oldest_s: float = 0.0


@dataclass(frozen=True)
class ReverseLag:
    """How far legacy is behind modern's writes: log rows waiting, and the oldest's age."""

    rows_waiting: int
    oldest_s: float


@dataclass(frozen=True)
class _LogRow:
    id: int
    table: str
    key: list[Any]
    old_key: list[Any] | None
    age_s: float


class ReverseApplier:
    """Carries one system's modern writes back to legacy.

    Args:
        target: the target store (its schema holds the plan's tables and the log).
        modern: the same database read as a read-only source (modern's current rows).
        writer: legacy, writable.
        mappers: one per plan table, the mapping inverted.
        batch_rows: log rows applied per legacy transaction.
    """

    def __init__(
        self,
        target: PostgresTarget,
        modern: SqlSource,
        writer: LegacyWriter,
        mappers: Sequence[InverseMapper],
        *,
        batch_rows: int = 500,
    ) -> None:
        self.target = target
        self.modern = modern
        self.writer = writer
        self.mappers = {m.target_table: m for m in mappers}
        self.batch_rows = batch_rows
        self._infos: dict[str, TableInfo] = {}

    def _log(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(
            sql.Identifier(self.target.schema), sql.Identifier(LOG_TABLE)
        )

    # --- capture ------------------------------------------------------------------------

    def install(self) -> None:
        """Create the log and the trigger on every plan table. Idempotent."""
        schema = sql.Identifier(self.target.schema)
        function = sql.SQL("{}.{}").format(schema, sql.Identifier(_FUNCTION))
        body = _FUNCTION_BODY.format(log=self._log().as_string(self.target.conn))
        with self.target.conn.transaction(), self.target.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.target.schema,))
            cur.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, table_name text NOT "
                    "NULL, key jsonb NOT NULL, old_key jsonb, written_at timestamptz NOT NULL "
                    "DEFAULT now())"
                ).format(self._log())
            )
            cur.execute(
                sql.SQL(
                    "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}"
                ).format(function, sql.Literal(body))
            )
            for mapper in self.mappers.values():
                cur.execute(
                    sql.SQL(
                        "CREATE OR REPLACE TRIGGER {} AFTER INSERT OR UPDATE OR DELETE ON {}.{} "
                        "FOR EACH ROW EXECUTE FUNCTION {}({})"
                    ).format(
                        sql.Identifier(_TRIGGER),
                        schema,
                        sql.Identifier(mapper.target_table),
                        function,
                        sql.SQL(", ").join(map(sql.Literal, mapper.target_key)),
                    )
                )
        log.info("reverse_capture_installed", schema=self.target.schema, tables=len(self.mappers))

    def uninstall(self) -> None:
        """Drop the triggers and their function: modern's writes are no longer logged.
        The log stays (``drop_log`` removes it once applied). Idempotent."""
        schema = sql.Identifier(self.target.schema)
        with self.target.conn.transaction(), self.target.conn.cursor() as cur:
            for mapper in self.mappers.values():
                cur.execute(
                    sql.SQL("DROP TRIGGER IF EXISTS {} ON {}.{}").format(
                        sql.Identifier(_TRIGGER), schema, sql.Identifier(mapper.target_table)
                    )
                )
            cur.execute(
                sql.SQL("DROP FUNCTION IF EXISTS {}.{}()").format(schema, sql.Identifier(_FUNCTION))
            )
        log.info("reverse_capture_uninstalled", schema=self.target.schema)

    def drop_log(self) -> None:
        """Remove the log table. Idempotent."""
        with self.target.conn.transaction(), self.target.conn.cursor() as cur:
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._log()))

    def installed(self) -> bool:
        """Whether modern's writes to the plan tables are being logged."""
        with self.target.conn.transaction(), self.target.conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE t.tgname = %s "
                "AND n.nspname = %s",
                (_TRIGGER, self.target.schema),
            )
            found = cur.fetchone()
        return found is not None and found[0] == len(self.mappers)

    # --- applying -----------------------------------------------------------------------

    def catch_up(self, *, heartbeat: Callable[[], None] | None = None) -> ReverseApplied:
        """Apply the log rows visible now to legacy, in order, a batch per legacy
        transaction; each batch's log rows are deleted once legacy has committed it."""
        with self._alone():
            return self._catch_up(heartbeat)

    def end(self, *, heartbeat: Callable[[], None] | None = None) -> ReverseApplied:
        """The way back closes: apply the log, drop the triggers, apply what was logged
        meanwhile, drop the log. Idempotent."""
        with self._alone():
            done = self._catch_up(heartbeat)
            self.uninstall()
            rest = self._catch_up(heartbeat)
            self.drop_log()
        done.log_rows += rest.log_rows
        done.upserts += rest.upserts
        done.deletes += rest.deletes
        done.batches += rest.batches
        return done

    def _catch_up(self, heartbeat: Callable[[], None] | None) -> ReverseApplied:
        total = ReverseApplied()
        newest = self._newest()
        after = 0
        while newest is not None:
            batch = self._read(after, newest)
            if not batch:
                break
            self._apply(batch, total)
            after = batch[-1].id
            if heartbeat is not None:
                heartbeat()
        return total

    def _newest(self) -> int | None:
        if not self._log_exists():
            return None
        with self.target.conn.transaction(), self.target.conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT max(id) FROM {}").format(self._log()))
            found = cur.fetchone()
        return None if found is None else found[0]

    def _log_exists(self) -> bool:
        with self.target.conn.transaction(), self.target.conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (f'"{self.target.schema}"."{LOG_TABLE}"',))
            found = cur.fetchone()
        return found is not None and found[0] is not None

    def _read(self, after: int, newest: int) -> list[_LogRow]:
        with self.target.conn.transaction(), self.target.conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT id, table_name, key::text, old_key::text, "
                    "extract(epoch FROM now() - written_at)::float8 FROM {} "
                    "WHERE id > %s AND id <= %s ORDER BY id LIMIT %s"
                ).format(self._log()),
                (after, newest, self.batch_rows),
            )
            rows = cur.fetchall()
        return [
            _LogRow(i, t, _json(k), None if o is None else _json(o), age)
            for i, t, k, o, age in rows
        ]

    def _apply(self, batch: list[_LogRow], total: ReverseApplied) -> None:
        """One batch: modern's current state of every key it names, written to legacy in
        one transaction; then the batch's log rows are forgotten."""
        keys: dict[str, set[Key]] = {}
        for row in batch:
            mapper = self.mappers.get(row.table)
            if mapper is None:
                continue  # a table no longer in the plan: nothing to carry back
            typed = keys.setdefault(row.table, set())
            typed.add(self._typed(mapper, row.key))
            if row.old_key is not None:
                typed.add(self._typed(mapper, row.old_key))
        writes = []
        for table, changed in keys.items():
            mapper = self.mappers[table]
            found = self.modern.lookup(table, mapper.target_key, list(changed))
            to_legacy = TableWrites(mapper.table, mapper.source_key)
            for key in changed:
                current = found.get(key)
                if current is None:
                    to_legacy.deletes.append(mapper.key(key))
                else:
                    to_legacy.rows[mapper.key(key)] = mapper.row(current)
            writes.append(to_legacy)
        counts = self.writer.apply(writes)
        self.forget([row.id for row in batch])
        total.log_rows += len(batch)
        total.upserts += counts.updated + counts.inserted
        total.deletes += counts.deleted
        total.batches += 1
        total.oldest_s = max(total.oldest_s, max(row.age_s for row in batch))
        log.info(
            "reverse_changes_applied",
            schema=self.target.schema,
            log_rows=len(batch),
            upserts=counts.updated + counts.inserted,
            deletes=counts.deleted,
        )

    def forget(self, ids: Sequence[int]) -> None:
        """Delete applied log rows: exactly those, whatever committed meanwhile."""
        with self.target.conn.transaction(), self.target.conn.cursor() as cur:
            cur.execute(
                sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(self._log()), (list(ids),)
            )

    def _typed(self, mapper: InverseMapper, values: list[Any]) -> Key:
        """A key from its JSON form, typed as the target's columns read it."""
        info = self._infos.get(mapper.target_table)
        if info is None:
            info = self._infos[mapper.target_table] = self.modern.table_info(mapper.target_table)
        return tuple(
            _typed_value(info, name, value)
            for name, value in zip(mapper.target_key, values, strict=True)
        )

    def lag(self) -> ReverseLag:
        """Log rows waiting, and the age of the oldest (0 when none)."""
        if not self._log_exists():
            return ReverseLag(0, 0.0)
        with self.target.conn.transaction(), self.target.conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(extract(epoch FROM now() - min(written_at)), 0)"
                    "::float8 FROM {}"
                ).format(self._log())
            )
            found = cur.fetchone()
        assert found is not None
        return ReverseLag(int(found[0]), float(found[1]))

    @contextmanager
    def _alone(self) -> Iterator[None]:
        """One applier at a time per schema (a retried activity whose first attempt still
        runs waits for it); the lock goes with its connection if the worker dies."""
        try:
            lock = psycopg.connect(
                self.target.url, autocommit=True, connect_timeout=self.target.connect_timeout_s
            )
        except psycopg.Error as e:
            raise DatabaseError(f"cannot reach the target database: {type(e).__name__}") from e
        try:
            lock.execute(
                "SELECT pg_advisory_lock(hashtext(%s))",
                (f"switchover-reverse:{self.target.schema}",),
            )
            yield
        finally:
            lock.close()


def _json(text: str) -> list[Any]:
    # Numbers exactly as PostgreSQL wrote them: a numeric key must not pass through a float.
    value = json.loads(text, parse_float=Decimal)
    assert isinstance(value, list)
    return value


def _typed_value(info: TableInfo, name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    kind = info.column(name).type
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind.startswith("decimal"):
        return Decimal(value)
    if kind == "bytes":
        return bytes.fromhex(value.removeprefix("\\x"))
    return value


@contextmanager
def open_reverse_applier(plan: MigrationPlan, *, batch_rows: int = 500) -> Iterator[ReverseApplier]:
    """The plan's reverse applier, with legacy (writable), the target and the target read
    as a source open; closes them all.

    Raises:
        PlanError: the plan can have no way back (``inverse_problems``), or its mapping
            does not fit the databases.
        DatabaseError: a database cannot be reached.
    """
    problems = inverse_problems(plan)
    if problems:
        raise PlanError(f"no way back after the switch: {problems[0]}")
    source = plan.source
    assert source.kind == "sql"  # inverse_problems refuses every other kind
    with SqlSource(
        source.url, schema=source.db_schema, connect_timeout_s=source.connect_timeout_s
    ) as legacy:
        mappers = [InverseMapper(t, legacy.table_info(t.source)) for t in plan.tables]
    target = open_target(plan.target, connect_timeout_s=source.connect_timeout_s)
    modern = SqlSource(plan.target.url, schema=target.schema)
    writer = LegacyWriter(
        source.url, schema=source.db_schema, connect_timeout_s=source.connect_timeout_s
    )
    try:
        modern.open()
        writer.open()
        yield ReverseApplier(target, modern, writer, mappers, batch_rows=batch_rows)
    finally:
        writer.close()
        modern.close()
        target.close()

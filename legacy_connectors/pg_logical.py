"""PostgreSQL as a legacy source's change stream: logical decoding from a replication slot.

psycopg 3 has no replication protocol, and none is needed: the SQL functions read a slot
(``pg_logical_slot_peek_changes`` with the ``test_decoding`` plugin, which every
PostgreSQL ships) and move it on (``pg_replication_slot_advance``) only once the target
has committed what was read (``confirm``). Until then the slot keeps its WAL, so a worker
killed at any point reads the same transactions again and skips those the target already
holds (their commit LSN is not after the checkpointed position).

The slot is made explicitly, once, by ``create_slot`` (idempotent): the position it gives
is where the copy's snapshot must start from. ``drop_slot`` ends it when the migration no
longer needs the stream: an abandoned slot keeps WAL on the legacy server for ever.

What the server must have (``logical_problems``): ``wal_level=logical`` (a restart), a
free replication slot, a user with REPLICATION (or a superuser), and ``REPLICA IDENTITY
FULL`` on tables without a primary key (otherwise their updates and deletes do not say
which row). Values are typed with psycopg's own loaders from the columns' types, so they
are those ``SqlSource.read`` gives (CHAR without its padding blanks).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import pq

from config.log import get_logger
from domain.errors import DatabaseError, LegacyReadError, PlanError
from legacy_connectors.base import (
    ROW_HASH,
    CommittedTransaction,
    Key,
    PostgresLsn,
    Row,
    RowChange,
    StreamPosition,
)
from legacy_connectors.canonical import row_md5

if TYPE_CHECKING:
    from legacy_connectors.sql import SqlSource

log = get_logger(__name__)

PLUGIN = "test_decoding"
_OPTIONS = ("include-timestamp", "1", "skip-empty-xacts", "1")
_TABLE_LINE = re.compile(
    r"^table (?P<table>.+?): (?P<op>INSERT|UPDATE|DELETE|TRUNCATE):(?P<rest>.*)$", re.S
)
_COMMIT_LINE = re.compile(r"^COMMIT(?: \d+)?(?: \(at (?P<at>[^)]+)\))?$")
_SIMPLE_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_$]*$")
_TOAST_WORD = "unchanged-toast-datum"
_UNCHANGED_TOAST = object()
"""A value an UPDATE did not change and did not log (a TOASTed column)."""


def slot_name(system_id: str) -> str:
    """The replication slot of a system's migration (letters, digits, underscores)."""
    return "switchover_" + re.sub(r"[^a-z0-9_]", "_", system_id.lower())[:50]


def _libpq(source_url: Any) -> str:
    url = source_url.set(drivername="postgresql")
    return str(url.render_as_string(hide_password=False))


def _connect(conninfo: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(conninfo, autocommit=autocommit, connect_timeout=10)
    except psycopg.Error as e:
        raise DatabaseError(f"cannot reach the legacy database: {type(e).__name__}") from e


def create_slot(source: SqlSource, slot: str) -> PostgresLsn:
    """Create the system's logical replication slot unless it exists. Idempotent.

    Returns:
        The slot's position: changes committed after it come out of the stream (take it
        before the copy begins).

    Raises:
        PlanError: the server cannot have one (``logical_problems`` says why), or a slot
            of that name uses another plugin.
        DatabaseError: the server cannot be reached.
    """
    with _connect(_libpq(source.url)) as conn:
        found = conn.execute(
            "SELECT plugin, confirmed_flush_lsn::text FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (slot,),
        ).fetchone()
        if found is not None:
            if found[0] != PLUGIN:
                raise PlanError(f"replication slot {slot} exists with plugin {found[0]}, "
                                f"not {PLUGIN}: drop it or name another")  # fmt: skip
            return PostgresLsn.parse(found[1])
        try:
            row = conn.execute(
                "SELECT lsn::text FROM pg_create_logical_replication_slot(%s, %s)", (slot, PLUGIN)
            ).fetchone()
        except psycopg.errors.DuplicateObject:
            return create_slot(source, slot)  # made meanwhile by another worker
        except psycopg.Error as e:
            problems = logical_problems(conn, slot, [], source.schema or "public")
            reason = problems[0] if problems else type(e).__name__
            raise PlanError(f"cannot create replication slot {slot}: {reason}") from e
    assert row is not None
    log.info("replication_slot_created", slot=slot, position=row[0])
    return PostgresLsn.parse(row[0])


def drop_slot(source: SqlSource, slot: str) -> None:
    """Drop the slot (the server then frees its WAL). Idempotent."""
    with _connect(_libpq(source.url)) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (slot,),
        )


def logical_problems(
    conn: psycopg.Connection[Any], slot: str, tables: Sequence[str], schema: str = "public"
) -> list[str]:
    """What a DBA must change before changes can be decoded, one clear line each.

    Args:
        conn: a connection as the migration's user.
        slot: the slot the migration uses (may not exist yet).
        tables: the plan's tables; those without a primary key need REPLICA IDENTITY FULL.
        schema: their schema.
    """
    problems = []
    level = conn.execute("SHOW wal_level").fetchone()
    if level is None or level[0] != "logical":
        problems.append(f"wal_level is {level[0] if level else '?'}: set wal_level=logical "
                        "and restart the server")  # fmt: skip
    slots = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE slot_name = %s), "
        "current_setting('max_replication_slots')::int FROM pg_replication_slots",
        (slot,),
    ).fetchone()
    if slots is not None and not slots[1] and slots[0] >= slots[2]:
        problems.append(f"all {slots[2]} replication slots are in use: raise "
                        "max_replication_slots (a restart) or drop an unused slot")  # fmt: skip
    role = conn.execute(
        "SELECT rolname, rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if role is not None and not role[1]:
        problems.append(f"the user {role[0]} lacks REPLICATION: ALTER ROLE {role[0]} REPLICATION")
    if tables:
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relreplident <> 'f' AND NOT "
            "EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) "
            "AND c.relreplident <> 'i' ORDER BY 1",
            (schema, list(tables)),
        ).fetchall()
        problems += [f"table {r[0]} has no primary key: ALTER TABLE {r[0]} REPLICA IDENTITY FULL "
                     "so that its updates and deletes say which row" for r in rows]  # fmt: skip
    return problems


class PostgresLogicalStream:
    """The change stream of a PostgreSQL legacy database, through one logical slot
    (``base.ChangeStream``).

    Args:
        source: the SQL source of the database (its URL, schema and tables' types).
        slot: the slot ``create_slot`` made.
        tables: the plan's tables, for ``problems`` to check their REPLICA IDENTITY.
    """

    def __init__(self, source: SqlSource, slot: str, *, tables: Sequence[str] = ()) -> None:
        self.source = source
        self.slot = slot
        self.tables = tuple(tables)
        self.schema = source.schema or "public"
        self._conninfo = _libpq(source.url)
        self._loaders: dict[str, dict[str, Callable[[str], Any]]] = {}

    def head(self) -> PostgresLsn:
        """The server's current WAL position."""
        with _connect(self._conninfo) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        return PostgresLsn.parse(row[0])

    def start(self) -> PostgresLsn:
        """Create the slot (unless it exists) and return its position: the slot keeps
        every change after it until ``confirm``."""
        return create_slot(self.source, self.slot)

    def problems(self) -> list[str]:
        """What a DBA must enable first (``logical_problems``), one line each."""
        with _connect(self._conninfo) as conn:
            return logical_problems(conn, self.slot, self.tables, self.schema)

    def confirm(self, position: StreamPosition) -> None:
        """Move the slot to ``position`` (the target holds everything up to it), so the
        server may free the WAL before it. Never moves it back."""
        if not isinstance(position, PostgresLsn):
            raise PlanError(f"a PostgreSQL slot cannot move to {position}")
        with _connect(self._conninfo) as conn:
            conn.execute(
                "SELECT pg_replication_slot_advance(slot_name, %s::pg_lsn) "
                "FROM pg_replication_slots WHERE slot_name = %s AND confirmed_flush_lsn < %s",
                (str(position), self.slot, str(position)),
            )

    def stop(self) -> None:
        """Drop the slot, so that the server frees the WAL it keeps for it."""
        drop_slot(self.source, self.slot)

    def close(self) -> None:
        """Nothing held between reads."""

    def changes(
        self,
        tables: Mapping[str, Sequence[str]],
        after: StreamPosition,
        *,
        max_changes: int | None = None,
    ) -> Iterator[CommittedTransaction]:
        """Committed transactions after ``after``, in commit order (``base.ChangeStream``),
        peeked from the slot; the slot itself moves only on ``confirm``.

        Raises:
            PlanError: no such slot, a table whose deletes carry no row (REPLICA IDENTITY),
                or ``after`` is not an LSN.
            LegacyReadError: a TRUNCATE of a plan table, or an update whose unchanged large
                value was not logged (REPLICA IDENTITY FULL fixes both for updates).
            DatabaseError: the connection was lost.
        """
        if not isinstance(after, PostgresLsn):
            raise PlanError(f"a PostgreSQL slot cannot resume from {after}")
        spelled = {self._spelling(t): t for t in tables}
        for table in tables:
            self._table_loaders(table)
        given = 0
        try:
            with _connect(self._conninfo, autocommit=False) as conn:
                conn.execute("SET TIME ZONE 'UTC'")
                conn.execute("SET DateStyle = 'ISO'")
                # an upper bound of changes: the slot may still hold transactions applied
                # already (they are skipped), so this only bounds one read
                bound = None if max_changes is None else max_changes * 4 + 1_000
                with conn.cursor(name="switchover_changes") as cur:
                    cur.itersize = 2_000
                    cur.execute(
                        "SELECT lsn::text, data FROM pg_logical_slot_peek_changes(%s, NULL, %s, "
                        "%s, %s, %s, %s)",
                        (self.slot, bound, *_OPTIONS),
                    )
                    pending: list[RowChange] = []
                    for lsn, data in cur:
                        if data.startswith("BEGIN"):
                            pending = []
                        elif data.startswith("COMMIT"):
                            position = PostgresLsn.parse(lsn)
                            if not after < position:
                                continue  # the target holds it already
                            committed = _commit_time(data)
                            done = tuple(_at(c, position, committed) for c in pending)
                            given += len(done)
                            yield CommittedTransaction(position, committed, done)
                            if max_changes is not None and given >= max_changes:
                                break
                        elif data.startswith("table "):
                            change = self._change(data, spelled, tables)
                            if change is not None:
                                pending.append(change)
                conn.rollback()
        except psycopg.errors.UndefinedObject as e:
            raise PlanError(f"no replication slot {self.slot}: create it first") from e
        except psycopg.errors.ObjectInUse as e:
            raise DatabaseError(f"replication slot {self.slot} is in use by another reader") from e
        except psycopg.Error as e:
            raise DatabaseError(f"lost the logical decoding stream: {type(e).__name__}") from e

    # --- decoding -------------------------------------------------------------------

    def _spelling(self, table: str) -> str:
        return f"{_quote(self.schema)}.{_quote(table)}"

    def _change(
        self, data: str, spelled: Mapping[str, str], tables: Mapping[str, Sequence[str]]
    ) -> RowChange | None:
        match = _TABLE_LINE.match(data)
        if match is None:
            return None
        table = spelled.get(match["table"])
        if table is None:
            return None
        op = match["op"]
        rest = match["rest"]
        if op == "TRUNCATE":
            raise LegacyReadError(
                f"table {table} was truncated on legacy: a change stream cannot apply that; "
                "copy the table again",
                table=table,
            )
        if rest.strip() == "(no-tuple-data)":
            raise PlanError(f"table {table}: its {op.lower()}s carry no row: ALTER TABLE "
                            f"{table} REPLICA IDENTITY FULL")  # fmt: skip
        before: Row | None = None
        at = 0
        if rest.startswith(" old-key:"):
            old, at = _parse_tuple(rest, len(" old-key:"))
            before = self._typed(table, old)
            at = rest.index("new-tuple:", at) + len("new-tuple:")
        values, _ = _parse_tuple(rest, at)
        row = self._typed(table, values)
        for name, value in row.items():
            if value is _UNCHANGED_TOAST:
                if before is None or name not in before:
                    raise LegacyReadError(f"an update's unchanged large value of column {name} "
                                          "was not logged: set REPLICA IDENTITY FULL",
                                          table=table)  # fmt: skip
                row[name] = before[name]
        key_columns = tables[table]
        if list(key_columns) == [ROW_HASH]:
            # (REPLICA IDENTITY FULL) an old image leaves its NULL columns out
            row = self._whole(table, row)
            before = None if before is None else self._whole(table, before)
        if op == "UPDATE" and before is not None and list(key_columns) != [ROW_HASH]:
            # PostgreSQL logs an old key only when the key changed (or with FULL identity)
            before = {**row, **before}
        key: Key = tuple(row.get(k) for k in key_columns)
        kind = {"INSERT": "insert", "UPDATE": "update", "DELETE": "delete"}[op]
        placeholder = PostgresLsn(0)
        return RowChange(kind, table, key, row, placeholder, datetime.min, before)

    def _whole(self, table: str, image: Row) -> Row:
        """Every column in the table's order (absent ones NULL), with its ``_row_hash``."""
        kinds = self.source._table(table).kinds
        whole = {name: image.get(name) for name in kinds}
        whole[ROW_HASH] = row_md5(list(whole.values()), [k.scale for k in kinds.values()])
        return whole

    def _typed(self, table: str, values: Mapping[str, Any]) -> Row:
        loaders = self._table_loaders(table)
        row: Row = {}
        for name, text in values.items():
            if text is None or text is _UNCHANGED_TOAST:
                row[name] = text
            else:
                load = loaders.get(name)
                row[name] = text if load is None else load(text)
        return row

    def _table_loaders(self, table: str) -> dict[str, Callable[[str], Any]]:
        found = self._loaders.get(table)
        if found is not None:
            return found
        t = self.source._table(table)
        with _connect(self._conninfo) as conn:
            rows = conn.execute(
                "SELECT a.attname, a.atttypid FROM pg_attribute a JOIN pg_class c ON c.oid = "
                "a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                "AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
                (self.schema, table),
            ).fetchall()
            loaders: dict[str, Callable[[str], Any]] = {}
            for name, oid in rows:
                kind = t.kinds[name].kind if name in t.kinds else "text"
                loaders[name] = _loader(conn, int(oid), kind)
        self._loaders[table] = loaders
        return loaders


def _loader(conn: psycopg.Connection[Any], oid: int, kind: str) -> Callable[[str], Any]:
    """How test_decoding's text of a column becomes the value ``SqlSource.read`` gives."""
    if kind == "boolean":
        return lambda text: text in ("true", "t")
    cls = conn.adapters.get_loader(oid, pq.Format.TEXT)
    if cls is None:
        return lambda text: text
    load = cls(oid, conn).load
    if kind == "char":
        return lambda text: load(text.encode()).rstrip(" ")
    return lambda text: load(text.encode())


def _at(change: RowChange, position: PostgresLsn, committed: datetime) -> RowChange:
    return RowChange(change.op, change.table, change.key, change.row, position, committed,
                     change.before)  # fmt: skip


def _commit_time(data: str) -> datetime:
    match = _COMMIT_LINE.match(data)
    stamp = match["at"] if match and match["at"] else None
    if stamp is None:
        raise DatabaseError("logical decoding gave a commit without its time")
    if re.search(r"[+-]\d\d$", stamp):
        stamp += ":00"
    return datetime.fromisoformat(stamp)


def _quote(identifier: str) -> str:
    """PostgreSQL's quote_identifier, as test_decoding spells table names (keywords
    aside)."""
    if _SIMPLE_IDENTIFIER.match(identifier):
        return identifier
    return '"' + identifier.replace('"', '""') + '"'


def _parse_tuple(text: str, at: int) -> tuple[dict[str, Any], int]:
    """``name[type]:value ...`` from ``at`` up to ``new-tuple:`` or the end: names to the
    value's text (None for null, a marker for an unchanged TOAST value)."""
    out: dict[str, Any] = {}
    size = len(text)
    while True:
        while at < size and text[at] == " ":
            at += 1
        if at >= size or text.startswith("new-tuple:", at):
            return out, at
        if text[at] == '"':
            end = at + 1
            while True:
                end = text.index('"', end)
                if text.startswith('""', end):
                    end += 2
                    continue
                break
            name = text[at + 1 : end].replace('""', '"')
            at = end + 1
        else:
            end = text.index("[", at)
            name = text[at:end]
            at = end
        at = text.index("]:", at + 1) + 2
        value: Any
        if text.startswith("'", at):
            parts = []
            at += 1
            while True:
                end = text.index("'", at)
                parts.append(text[at:end])
                if text.startswith("''", end):
                    parts.append("'")
                    at = end + 2
                    continue
                at = end + 1
                break
            value = "".join(parts)
        else:
            end = text.find(" ", at)
            end = size if end < 0 else end
            word = text[at:end]
            at = end
            if word == "null":
                value = None
            elif word == _TOAST_WORD:
                value = _UNCHANGED_TOAST
            elif word.startswith("B'"):
                value = word[2:-1]
            else:
                value = word
        out[name] = value


__all__ = [
    "PLUGIN",
    "PostgresLogicalStream",
    "create_slot",
    "drop_slot",
    "logical_problems",
    "slot_name",
]

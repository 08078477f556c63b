"""MariaDB/MySQL's row-based binary log as a change stream (``base.ChangeStream``).

Read with ``mysql-replication`` (``pymysqlreplication``) as a replica would, without
registering as one: the server sends its binlog from a file and offset, and this module
hands out each committed transaction's inserts, updates (both images) and deletes of the
plan's tables, in commit order. A transaction is given out only once its commit (XID) has
been read, so a position is always a commit boundary and resuming from it neither loses
nor repeats a change.

Values come out exactly as ``SqlSource.read`` gives the same row, so a change applied to
the target gives what a copy would have given: the library's raw values are corrected per
column from the table's reflected types (BIT as an integer, YEAR 0, SET as its text,
FLOAT as the server prints it, TIMESTAMP in the session's time zone, zero dates as None).

What the server must have (``binlog_problems``): the binlog on, ``binlog_format=ROW``,
``binlog_row_image=FULL``, ``binlog_row_metadata=FULL`` (column names, signedness and
character sets travel with each row), and a user with REPLICATION SLAVE and REPLICATION
CLIENT (MariaDB: BINLOG MONITOR).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import MariadbGtidEvent, QueryEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent
from sqlalchemy.dialects import mysql

from config.log import get_logger
from domain.errors import DatabaseError, PlanError
from legacy_connectors.base import (
    ROW_HASH,
    BinlogPosition,
    CommittedTransaction,
    Key,
    Row,
    RowChange,
    StreamPosition,
)
from legacy_connectors.canonical import row_md5

if TYPE_CHECKING:
    from legacy_connectors.sql import SqlSource

log = get_logger(__name__)

_EVENTS = [WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, MariadbGtidEvent,
           QueryEvent]  # fmt: skip
_EMPTY_SET = "empty set"  # pymysqlreplication's NONE_SOURCE for a SET holding nothing
_REQUIRED = {
    "log_bin": ("ON", "the binary log is off: start the server with log_bin (log-bin=NAME)"),
    "binlog_format": ("ROW", "binlog_format is {}: set binlog_format=ROW"),
    "binlog_row_image": ("FULL", "binlog_row_image is {}: set binlog_row_image=FULL"),
    "binlog_row_metadata": ("FULL", "binlog_row_metadata is {}: set binlog_row_metadata=FULL"),
}
_REPLICATION_GRANTS = ("REPLICATION SLAVE", "ALL PRIVILEGES")
_MONITOR_GRANTS = ("REPLICATION CLIENT", "BINLOG MONITOR", "SUPER", "ALL PRIVILEGES")


def binlog_problems(connection: Any) -> list[str]:
    """What a DBA must change before the binlog can be read, one clear line each.

    Args:
        connection: an open DBAPI (pymysql or mysqlclient) connection as the migration's user.

    Returns:
        One line per problem; empty when the binlog is ready.
    """
    problems = []
    with connection.cursor() as cur:
        for name, (wanted, message) in _REQUIRED.items():
            cur.execute(f"SHOW GLOBAL VARIABLES LIKE '{name}'")
            found = cur.fetchone()
            if found is None:
                if name == "binlog_row_metadata":
                    problems.append("the server has no binlog_row_metadata: MariaDB 10.5 or "
                                    "MySQL 8.0.1 and later are needed")  # fmt: skip
                continue
            value = str(found[1]).upper()
            if value != wanted:
                problems.append(message.format(value))
        cur.execute("SHOW GRANTS")
        grants = " ".join(str(row[0]).upper() for row in cur.fetchall())
    if not any(g in grants for g in _REPLICATION_GRANTS):
        problems.append("the user lacks REPLICATION SLAVE: GRANT REPLICATION SLAVE ON *.* TO it")
    if not any(g in grants for g in _MONITOR_GRANTS):
        problems.append("the user lacks REPLICATION CLIENT (MariaDB: BINLOG MONITOR): "
                        "GRANT REPLICATION CLIENT ON *.* TO it")  # fmt: skip
    return problems


class BinlogChangeStream:
    """The change stream of one MariaDB/MySQL database (``base.ChangeStream``).

    Args:
        source: the SQL source of the database (its URL and its tables' reflected types).
        server_id: the replica id to read with; random by default (each reader needs its
            own, distinct from the server's and any real replica's).
    """

    def __init__(self, source: SqlSource, *, server_id: int | None = None) -> None:
        self.source = source
        self.server_id = server_id or random.randint(1_000_000, 4_000_000_000)
        url = source.url
        self._settings: dict[str, Any] = {
            "host": url.host or "127.0.0.1",
            "port": url.port or 3306,
            "user": url.username or "root",
            "password": url.password or "",
            "connect_timeout": source.connect_timeout_s,
        }
        socket = url.query.get("unix_socket")
        if socket:
            self._settings["unix_socket"] = socket
        self.database = url.database or ""
        self._converters: dict[str, list[tuple[str, Callable[[Any], Any]]]] = {}
        self._utc_offset: timedelta | None = None

    # --- positions ------------------------------------------------------------------

    def _connect(self) -> Any:
        try:
            return pymysql.connect(**self._settings, autocommit=True)
        except pymysql.err.Error as e:
            raise DatabaseError(f"cannot reach the legacy database for its binlog: "
                                f"{type(e).__name__}", where=self._where()) from e  # fmt: skip

    def _where(self) -> str:
        return self.source.url.render_as_string(hide_password=True)

    def head(self) -> BinlogPosition:
        """The position after the newest committed transaction (``SHOW MASTER STATUS``)."""
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            status = cur.fetchone()
            if status is None:
                raise PlanError("the binary log is off: start the server with log_bin",
                                where=self._where())  # fmt: skip
            gtid = None
            try:
                cur.execute("SELECT @@gtid_binlog_pos")
                found = cur.fetchone()
                gtid = str(found[0]) if found and found[0] else None
            except pymysql.err.Error:
                gtid = None  # MySQL: no MariaDB GTIDs; file and offset suffice
        return BinlogPosition(str(status[0]), int(status[1]), gtid)

    def start(self) -> BinlogPosition:
        """The head: the binlog keeps what follows by the server's own expiry settings."""
        return self.head()

    def problems(self) -> list[str]:
        """What a DBA must enable first (``binlog_problems``), one line each."""
        with self._connect() as conn:
            return binlog_problems(conn)

    def confirm(self, position: StreamPosition) -> None:
        """Nothing to do: the server keeps its binlog by its own expiry settings."""

    def stop(self) -> None:
        """Nothing to release: the server expires its binlog by its own settings."""

    def close(self) -> None:
        """Nothing held between reads."""

    # --- reading --------------------------------------------------------------------

    def changes(
        self,
        tables: Mapping[str, Sequence[str]],
        after: StreamPosition,
        *,
        max_changes: int | None = None,
    ) -> Iterator[CommittedTransaction]:
        """Committed transactions after ``after``, in commit order (``base.ChangeStream``).

        Args:
            tables: the source tables to give changes of, each with its key's columns
                (``[ROW_HASH]`` for a table without a key).
            after: where the previous read stopped (a commit boundary).
            max_changes: stop after the transaction that reaches this many changes.

        Raises:
            PlanError: ``after`` is not a binlog position, or its file is no longer kept.
            DatabaseError: the connection was lost (retryable).
        """
        if not isinstance(after, BinlogPosition):
            raise PlanError(f"a binlog stream cannot resume from {after}", where=self._where())
        self._check_kept(after)
        for table in tables:
            self._converter(table)
        reader = BinLogStreamReader(
            connection_settings=dict(self._settings),
            server_id=self.server_id,
            log_file=after.file,
            log_pos=after.offset,
            resume_stream=True,
            blocking=False,
            only_events=_EVENTS,
            only_schemas=[self.database],
            only_tables=list(tables),
            enable_logging=False,
            # a table's map is parsed once per table id, not once per row event (a DDL
            # gives the table a new id, so a changed table is mapped again)
            freeze_schema=True,
        )
        given = 0
        try:
            pending: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]] = []
            gtid = after.gtid
            for event in reader:
                if isinstance(event, MariadbGtidEvent):
                    gtid = event.gtid
                    pending = []
                elif isinstance(event, WriteRowsEvent | DeleteRowsEvent):
                    op = "insert" if isinstance(event, WriteRowsEvent) else "delete"
                    pending += [(op, event.table, r["values"], r.get("none_sources"))
                                for r in event.rows]  # fmt: skip
                elif isinstance(event, UpdateRowsEvent):
                    for r in event.rows:
                        pending.append(("before", event.table, r["before_values"],
                                        r.get("before_none_sources")))  # fmt: skip
                        pending.append(("update", event.table, r["after_values"],
                                        r.get("after_none_sources")))  # fmt: skip
                elif isinstance(event, XidEvent) or (
                    isinstance(event, QueryEvent) and _ends_transaction(event)
                ):
                    position = BinlogPosition(reader.log_file, int(event.packet.log_pos), gtid)
                    committed = datetime.fromtimestamp(event.timestamp, UTC)
                    changes = self._row_changes(pending, tables, position, committed)
                    pending = []
                    given += len(changes)
                    yield CommittedTransaction(position, committed, changes)
                    if max_changes is not None and given >= max_changes:
                        break
        except pymysql.err.Error as e:
            raise DatabaseError(f"lost the binlog stream: {type(e).__name__}",
                                where=self._where()) from e  # fmt: skip
        finally:
            reader.close()

    def _check_kept(self, after: BinlogPosition) -> None:
        with self._connect() as conn, conn.cursor() as cur:
            try:
                cur.execute("SHOW BINARY LOGS")
            except pymysql.err.Error as e:
                raise PlanError(f"cannot list the binary logs ({type(e).__name__}): "
                                "is the binlog on, with REPLICATION CLIENT granted?",
                                where=self._where()) from e  # fmt: skip
            files = {str(row[0]) for row in cur.fetchall()}
        if after.file not in files:
            raise PlanError(
                f"the binlog file {after.file} is no longer kept: the change stream cannot "
                "resume; copy the tables again",
                where=self._where(),
            )

    def _row_changes(
        self,
        pending: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]],
        tables: Mapping[str, Sequence[str]],
        position: BinlogPosition,
        committed: datetime,
    ) -> tuple[RowChange, ...]:
        out = []
        before: Row | None = None
        for op, table, values, nones in pending:
            key_columns = tables.get(table)
            if key_columns is None:
                continue
            row = self._convert(table, values, nones or {})
            if list(key_columns) == [ROW_HASH]:
                row[ROW_HASH] = row_md5(list(row.values()), self._scales(table))
            if op == "before":
                before = row
                continue
            key: Key = tuple(row[k] for k in key_columns)
            out.append(RowChange(op, table, key, row, position, committed,
                                 before if op == "update" else None))  # fmt: skip
            before = None
        return tuple(out)

    # --- values ---------------------------------------------------------------------

    def _convert(self, table: str, values: dict[str, Any], nones: dict[str, Any]) -> Row:
        row: Row = {}
        for name, convert in self._converter(table):
            value = values.get(name)
            if value is None:
                row[name] = set() if nones.get(name) == _EMPTY_SET else None
            else:
                row[name] = convert(value)
        return row

    def _scales(self, table: str) -> list[int | None]:
        kinds = self.source._table(table).kinds
        return [kind.scale for kind in kinds.values()]

    def _converter(self, table: str) -> list[tuple[str, Callable[[Any], Any]]]:
        """Per column, in the source's column order, what turns the library's value into
        the value ``SqlSource.read`` gives."""
        found = self._converters.get(table)
        if found is not None:
            return found
        t = self.source._table(table)
        out = []
        for column in t.table.columns:
            kind = t.kinds[column.name].kind
            out.append((column.name, self._value_converter(kind, column.type)))
        self._converters[table] = out
        return out

    def _value_converter(self, kind: str, sqltype: Any) -> Callable[[Any], Any]:
        if kind == "bit":
            return lambda v: int(v, 2) if isinstance(v, str) else int(v)
        if kind == "year":
            return lambda v: 0 if v == 1900 else v  # the library reads YEAR 0000 as 1900
        if kind == "boolean":
            return bool
        if kind == "float" and isinstance(sqltype, mysql.FLOAT):
            # a 4-byte float: the server prints (and pymysql reads) 6 significant digits
            return lambda v: float(f"{v:.6g}")
        if isinstance(sqltype, mysql.SET):
            return lambda v: v if isinstance(v, set) else set(v.split(",")) if v else set()
        if kind == "bytes":
            return lambda v: v.encode("latin-1") if isinstance(v, str) else bytes(v)
        if kind == "interval":
            return _negative_time
        if isinstance(sqltype, mysql.TIMESTAMP):
            return self._timestamp
        if kind == "char":
            return lambda v: v.rstrip(" ") if isinstance(v, str) else v
        return _as_is

    def _timestamp(self, value: datetime) -> datetime | None:
        """The library reads a TIMESTAMP in UTC; the driver in the session's time zone."""
        if value == datetime(1970, 1, 1):
            return None  # MariaDB's zero timestamp, read as no date like a zero date
        if self._utc_offset is None:
            with self._connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())")
                found = cur.fetchone()
            self._utc_offset = timedelta(seconds=int(found[0]) if found else 0)
        return value + self._utc_offset


def _as_is(value: Any) -> Any:
    return value


_SECOND = timedelta(seconds=1)


def _negative_time(value: timedelta) -> timedelta:
    """A negative TIME with a fraction, corrected: the library complements the whole
    seconds but not the fraction (-1:00:00.25 came out as -1:00:00.75)."""
    if value >= timedelta(0):
        return value
    magnitude = -value
    fraction = magnitude % _SECOND
    if not fraction:
        return value
    return -(magnitude - fraction + (_SECOND - fraction))


def _ends_transaction(event: Any) -> bool:
    """A statement that ends a transaction without an XID: COMMIT of a non-transactional
    table, or DDL (committed on its own)."""
    query = str(getattr(event, "query", "")).strip().upper()
    return bool(query) and query != "BEGIN"


__all__ = ["BinlogChangeStream", "binlog_problems"]

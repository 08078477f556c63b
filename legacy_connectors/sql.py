"""Any database SQLAlchemy has a dialect for, read-only, streamed, keyset-paginated.

Tested on MariaDB (pymysql), PostgreSQL (psycopg) and SQLite. What this source does with
the oddities of real legacy databases:

* **Read-only.** Every connection is put in read-only mode as it is made (MariaDB and
  PostgreSQL: read-only transactions; SQLite: ``query_only``), so nothing here can write
  to the legacy system even by mistake.
* **Streaming.** ``read`` runs one query per call on a server-side cursor (pymysql's
  unbuffered cursor, a PostgreSQL named cursor) and hands rows out in batches: memory is
  bounded by the batch, never the table. A reader that stops early drops the connection,
  which ends the query, instead of reading the rest of the table.
* **Keyset pagination.** ``after``/``upto`` are expanded into ``k1 > a OR (k1 = a AND
  k2 > b) ...`` rather than row-value comparisons, which every engine supports and whose
  leading ``k1 >= a`` lets the key's index serve the range.
* **Zero dates.** MariaDB's ``0000-00-00`` (or a month or day of 0) is not a date. It is
  read as None and counted per column in ``ReadStats.zero_dates``; checksums treat it as
  NULL too, so it reconciles against a NULL in the target.
* **CHAR padding.** Trailing blanks of CHAR(n) values are removed on every engine, as
  MariaDB already does and as SQL's PAD SPACE comparison treats them.
* **Text encodings.** latin1/cp1252 columns are converted by the server to the
  connection's utf8mb4; values arrive as ``str``.
* **MariaDB's own types.** TIME is a duration (-838:59:59 to 838:59:59), read as a
  ``timedelta`` and portable type ``interval`` (SQLAlchemy would wrap it into a time of
  day); BIT and YEAR are integers; BIGINT UNSIGNED and BIT(64) are ``decimal(20,0)``,
  since they outgrow a signed 64-bit integer.
* **Bulk reads as text.** ``read_text`` (MariaDB/MySQL through mysqlclient or pymysql)
  hands out the server's own text of each value, and can have the server write chosen
  columns of each row as one line of COPY text: a copy then turns no value of those
  columns into a Python object. mysqlclient (``mysql+mysqldb://``) reads about three
  times faster than pymysql; both work.
* **No key.** A table without a primary key is read by a unique key the plan names, or
  by ``_row_hash`` (``legacy_connectors.base.ROW_HASH``): the md5 of the row's canonical
  form, computed by the database. Rows then carry ``_row_hash`` as an extra last entry so
  a copy can resume after it. Identical duplicate rows share one hash: the count check
  of reconciliation shows them.
* **Checksums pushed down.** On MariaDB and PostgreSQL the per-row md5 of the canonical
  form (``legacy_connectors.canonical``) and its per-segment sum are computed by the
  database; only one number per segment crosses the network. Other engines stream the
  rows and compute the same numbers in Python. Reconciliation uses ``row_hashes``,
  ``bucket_checksums`` and ``stored_types``.
* **Errors.** A connection lost mid-read is a retryable ``DatabaseError`` naming the table
  and how many rows had been read; a table or column that does not exist is a
  ``PlanError``. Messages never quote row values (they are personal data).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from importlib import import_module
from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import types as sa_types
from sqlalchemy.dialects import mysql
from sqlalchemy.sql import sqltypes

from config.log import get_logger
from domain.errors import DatabaseError, PlanError
from legacy_connectors.base import (
    ROW_HASH,
    ChangeStream,
    Column,
    InYear,
    Key,
    ReadStats,
    Row,
    SegmentChecksum,
    StartsWith,
    TableInfo,
)
from legacy_connectors.canonical import CHECKSUM_MODULUS, FOLD_HEX_DIGITS, checksum

log = get_logger(__name__)

_MYSQL = ("mysql", "mariadb")
_LOOKUP_CHUNK = 500
# MariaDB errors that mean the query itself is wrong (unknown column, table, database,
# bad syntax): the plan must change, retrying will not help.
_MYSQL_BAD_QUERY = {1044, 1049, 1054, 1064, 1146, 1149}


_RANGES_PER_QUERY = 400
"""Key ranges per ``bucket_checksums`` query (each one an OR'ed condition)."""
_NULL_MARK = 30  # ASCII record separator: stands for NULL in a lean fold
_COLUMN_MARK = 31  # ASCII unit separator: between columns in a lean fold


@dataclass(frozen=True)
class StoredType:
    """What a column's own type says beyond its portable type (``SqlSource.stored_types``).

    Attributes:
        char: a fixed-width CHAR(n): trailing blanks are padding.
        fraction_digits: a timestamp's or time's declared fractional-second digits (0..6).
    """

    char: bool = False
    fraction_digits: int | None = None


@dataclass(frozen=True)
class _ColumnKind:
    """How a column reads and how its canonical text is spelled in SQL."""

    name: str
    # text, char, integer, boolean, decimal, float, date, datetime, time, interval, bytes,
    # and on MariaDB bit and year (integers whose own text is not their number)
    kind: str
    scale: int | None = None
    aware: bool = False  # timestamp with time zone


_UNSIGNED_64 = Column("", "decimal(20,0)", precision=20, scale=0)
"""Where an unsigned 64-bit integer goes: PostgreSQL's bigint stops at 2**63 - 1."""


class _MysqlDuration(mysql.TIME):
    """MariaDB's TIME as the driver reads it: a ``timedelta`` (-838:59:59 to 838:59:59).

    SQLAlchemy's own TIME turns the timedelta into a time of day, silently wrapping a
    negative or longer value ('838:59:59' became 22:59:59).
    """

    cache_ok = True

    def result_processor(self, dialect: Any, coltype: object) -> None:  # type: ignore[override]
        return None  # the driver's timedelta as it is


def _classify(name: str, sqltype: sa_types.TypeEngine[Any]) -> tuple[_ColumnKind, Column, bool]:
    """Our kind and portable column of a reflected type; the bool says "CHAR(n)"."""
    length = getattr(sqltype, "length", None)
    if isinstance(sqltype, sa_types.Boolean):
        return _ColumnKind(name, "boolean"), Column(name, "boolean"), False
    if isinstance(sqltype, mysql.BIT):
        wide = (sqltype.length or 1) >= 64
        column = replace(_UNSIGNED_64, name=name) if wide else Column(name, "integer")
        return _ColumnKind(name, "bit"), column, False
    if isinstance(sqltype, mysql.YEAR):
        return _ColumnKind(name, "year"), Column(name, "integer"), False
    if isinstance(sqltype, sa_types.Integer):
        wide = isinstance(sqltype, sa_types.BigInteger) and getattr(sqltype, "unsigned", False)
        column = replace(_UNSIGNED_64, name=name) if wide else Column(name, "integer")
        return _ColumnKind(name, "integer"), column, False
    if isinstance(sqltype, sa_types.Float):
        return _ColumnKind(name, "float"), Column(name, "float"), False
    if isinstance(sqltype, sa_types.Numeric):
        p, s = sqltype.precision, sqltype.scale
        portable = f"decimal({p},{s})" if p is not None else "decimal"
        column = Column(name, portable, precision=p, scale=s)
        return _ColumnKind(name, "decimal", scale=s), column, False
    if isinstance(sqltype, sa_types.DateTime):
        aware = bool(getattr(sqltype, "timezone", False))
        return _ColumnKind(name, "datetime", aware=aware), Column(name, "datetime"), False
    if isinstance(sqltype, sa_types.Date):
        return _ColumnKind(name, "date"), Column(name, "date"), False
    if isinstance(sqltype, _MysqlDuration | sqltypes._AbstractInterval):
        return _ColumnKind(name, "interval"), Column(name, "interval"), False
    if isinstance(sqltype, sa_types.Time):
        return _ColumnKind(name, "time"), Column(name, "time"), False
    if isinstance(sqltype, sa_types._Binary):
        return _ColumnKind(name, "bytes"), Column(name, "bytes", length=length), False
    if isinstance(sqltype, sa_types.CHAR):
        return _ColumnKind(name, "char"), Column(name, "text", length=length), True
    return _ColumnKind(name, "text"), Column(name, "text", length=length), False


@dataclass
class _Table:
    info: TableInfo
    table: sa.Table
    kinds: dict[str, _ColumnKind]
    char_columns: tuple[str, ...]
    date_columns: tuple[str, ...]


class SqlSource:
    """A legacy database, read through SQLAlchemy. Implements ``LegacySource``.

    Args:
        url: a SQLAlchemy URL, e.g. ``mysql+pymysql://root@127.0.0.1/legacy``.
        schema: the schema (PostgreSQL) to read; default the connection's.
        filters: per-table SQL conditions from the plan's ``where``, applied to every
            count, read, checksum, lookup and candidate search of that table.
        connect_timeout_s: how long to wait for the server before calling it unreachable.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        filters: Mapping[str, str] | None = None,
        connect_timeout_s: int = 10,
    ) -> None:
        self.url = sa.make_url(url)
        self.schema = schema
        self.filters = dict(filters or {})
        self.connect_timeout_s = connect_timeout_s
        self._engine: sa.Engine | None = None
        self._tables: dict[str, _Table] = {}

    # --- connection -------------------------------------------------------------------

    @property
    def dialect(self) -> str:
        """The engine's name: mysql (also MariaDB), postgresql, sqlite..."""
        return self.url.get_backend_name()

    def open(self) -> None:
        """Connect (and check the server answers). Idempotent.

        Raises:
            DatabaseError: the server cannot be reached.
        """
        if self._engine is not None:
            return
        connect_args = self._connect_args()
        engine = sa.create_engine(self.url, pool_pre_ping=True, connect_args=connect_args)
        sa.event.listen(engine, "connect", self._make_read_only)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa_exc.DBAPIError as e:
            engine.dispose()
            raise DatabaseError(
                f"cannot reach the legacy database: {type(e.orig).__name__}",
                where=self._where(),
            ) from e
        self._engine = engine

    def _connect_args(self) -> dict[str, Any]:
        connect_args: dict[str, Any] = {}
        if self.dialect in _MYSQL:
            connect_args["connect_timeout"] = self.connect_timeout_s
            if "charset" not in self.url.query:
                connect_args["charset"] = "utf8mb4"
            if self.url.get_driver_name() == "mysqldb":
                connect_args["conv"] = _mysqldb_conversions()
        elif self.dialect == "postgresql":
            connect_args["connect_timeout"] = self.connect_timeout_s
        return connect_args

    def close(self) -> None:
        """Release every connection. Idempotent."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> SqlSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make_read_only(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if self.dialect in _MYSQL:
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
                # A copy writes each batch to the target while the stream waits; the server
                # must not give up on a slow reader (its default is 60 s).
                cursor.execute("SET SESSION net_write_timeout = 3600")
            elif self.dialect == "postgresql":
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            elif self.dialect == "sqlite":
                cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()
        if self.dialect != "sqlite":
            dbapi_connection.commit()

    def _where(self, table: str | None = None) -> str:
        where = self.url.render_as_string(hide_password=True)
        return f"{where} table {table}" if table else where

    @property
    def engine(self) -> sa.Engine:
        """The connected engine (opens the source if needed)."""
        self.open()
        assert self._engine is not None
        return self._engine

    def change_stream(self, *, slot: str | None = None) -> ChangeStream | None:
        """The database's change stream (``base.ChangeStreamSource``): the row-based binlog
        on MariaDB/MySQL; on PostgreSQL, logical decoding from ``slot`` (made once by
        ``legacy_connectors.pg_logical.create_slot``); None elsewhere or without a slot."""
        # imported here: only sources with a stream need them
        if self.dialect in _MYSQL:
            from legacy_connectors.binlog import BinlogChangeStream

            return BinlogChangeStream(self)
        if self.dialect == "postgresql" and slot is not None:
            from legacy_connectors.pg_logical import PostgresLogicalStream

            return PostgresLogicalStream(self, slot)
        return None

    # --- tables -----------------------------------------------------------------------

    def _table(self, name: str) -> _Table:
        found = self._tables.get(name)
        if found is not None:
            return found
        try:
            table = sa.Table(name, sa.MetaData(), autoload_with=self.engine, schema=self.schema)
        except sa_exc.NoSuchTableError as e:
            raise PlanError(f"the source has no table {name!r}", where=self._where()) from e
        except sa_exc.DBAPIError as e:
            raise self._error(e, name, "describing") from e
        kinds: dict[str, _ColumnKind] = {}
        columns = []
        chars = []
        dates = []
        for col in table.columns:
            if isinstance(col.type, sa_types.Float):
                # MySQL's DOUBLE reflects as "give me Decimals"; a float column reads as float.
                col.type.asdecimal = False
            if self.dialect in _MYSQL and isinstance(col.type, mysql.TIME):
                col.type = _MysqlDuration(fsp=col.type.fsp)
            kind, column, is_char = _classify(col.name, col.type)
            kinds[col.name] = kind
            columns.append(Column(**{**column.__dict__, "nullable": bool(col.nullable)}))
            if is_char:
                chars.append(col.name)
            if kind.kind in ("date", "datetime"):
                dates.append(col.name)
        key = tuple(c.name for c in table.primary_key.columns) or None
        info = TableInfo(name=name, columns=tuple(columns), key=key)
        # MariaDB hands CHAR out without its padding already.
        char_columns = () if self.dialect in _MYSQL else tuple(chars)
        # Only MariaDB has zero dates; the driver gives them as strings.
        date_columns = tuple(dates) if self.dialect in _MYSQL else ()
        found = _Table(info, table, kinds, char_columns, date_columns)
        self._tables[name] = found
        return found

    def table_info(self, name: str) -> TableInfo:
        """One table's columns (portable types), nullability and primary key: ``describe``
        for one table, without reflecting the others.

        Raises:
            PlanError: there is no such table.
        """
        return self._table(name).info

    def describe(self) -> Sequence[TableInfo]:
        """Every table with its columns (portable types), nullability and primary key."""
        try:
            names = sa.inspect(self.engine).get_table_names(schema=self.schema)
        except sa_exc.DBAPIError as e:
            raise self._error(e, None, "listing tables") from e
        return [self._table(name).info for name in names]

    def _columns(self, t: _Table, names: Sequence[str]) -> list[sa.ColumnElement[Any]]:
        out: list[sa.ColumnElement[Any]] = []
        for name in names:
            if name == ROW_HASH:
                out.append(sa.literal_column(self._row_md5_sql(t, list(t.kinds))))
            elif name in t.table.columns:
                out.append(t.table.columns[name])
            else:
                raise PlanError(
                    f"table {t.info.name!r} has no column {name!r}", where=self._where()
                )
        return out

    def _filter(self, t: _Table, where: str | None = None) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        for condition in (self.filters.get(t.info.name), where):
            if condition:
                conditions.append(sa.text(f"({condition})"))  # type: ignore[arg-type]
        return conditions

    # --- reading ----------------------------------------------------------------------

    def count(self, table: str, where: str | None = None) -> int:
        """Rows in the table (after the plan's filter and ``where``)."""
        t = self._table(table)
        stmt = sa.select(sa.func.count()).select_from(t.table).where(*self._filter(t, where))
        return int(self._scalar(stmt, table, "counting") or 0)

    def key_bounds(self, table: str, key: Sequence[str]) -> tuple[Key, Key] | None:
        """The smallest and largest key, or None for an empty table."""
        t = self._table(table)
        cols = self._columns(t, key)
        bounds = []
        for order in (lambda c: c.asc(), lambda c: c.desc()):
            stmt = (
                sa.select(*cols)
                .select_from(t.table)
                .where(*self._filter(t))
                .order_by(*[order(c) for c in cols])
                .limit(1)
            )
            try:
                with self.engine.connect() as conn:
                    row = conn.execute(stmt).first()
            except sa_exc.DBAPIError as e:
                raise self._error(e, table, "finding key bounds") from e
            if row is None:
                return None
            bounds.append(tuple(row))
        return bounds[0], bounds[1]

    def read(
        self,
        table: str,
        key: Sequence[str],
        *,
        after: Key | None = None,
        upto: Key | None = None,
        batch_rows: int = 10_000,
        stats: ReadStats | None = None,
    ) -> Iterator[list[Row]]:
        """Rows ordered by ``key``, strictly after ``after``, up to and including ``upto``.

        One query on a server-side cursor; batches of ``batch_rows``. With ``key`` =
        ``[ROW_HASH]`` each row also carries ``_row_hash``.

        Raises:
            DatabaseError: the connection was lost (retryable; names the table).
            PlanError: the table or a key column does not exist.
        """
        t = self._table(table)
        stmt, names = self._read_statement(t, key, after, upto)
        return self._stream(t, stmt, names, batch_rows, stats)

    def _read_statement(
        self, t: _Table, key: Sequence[str], after: Key | None, upto: Key | None
    ) -> tuple[sa.Select[Any], list[str]]:
        key_cols = self._columns(t, key)
        names = list(t.kinds)
        selected: list[sa.ColumnElement[Any]] = [t.table.columns[n] for n in names]
        if list(key) == [ROW_HASH]:
            selected.append(key_cols[0].label(ROW_HASH))
            names.append(ROW_HASH)
        conditions = self._filter(t)
        if after is not None:
            conditions.append(_key_compare(key_cols, after, ">"))
        if upto is not None:
            conditions.append(_key_compare(key_cols, upto, "<="))
        stmt = sa.select(*selected).select_from(t.table).where(*conditions).order_by(*key_cols)
        return stmt, names

    @property
    def reads_text(self) -> bool:
        """Whether ``read_text`` works here: MariaDB/MySQL through mysqlclient or pymysql."""
        return self.dialect in _MYSQL and self.url.get_driver_name() in ("mysqldb", "pymysql")

    def read_text(
        self,
        table: str,
        key: Sequence[str],
        *,
        lines: Sequence[str] = (),
        after: Key | None = None,
        upto: Key | None = None,
        batch_rows: int = 10_000,
        stats: ReadStats | None = None,
    ) -> Iterator[TextBatch]:
        """The rows ``read`` gives, as the database prints them: for bulk copies.

        No value becomes a Python object unless a caller asks (``TextBatch.values``), which
        is most of the cost of reading with a Python driver. Zero dates are None (and
        counted), BIT columns are digits, CHAR has no padding. With ``lines``, the database
        itself writes those columns of each row as one line of COPY text
        (``TextBatch.lines``); the other columns, and the key's, come one by one. A reader
        that stops early closes the connection rather than draining the query.

        Args:
            table: the table.
            key: the key's columns (``[ROW_HASH]`` for the row hash).
            lines: columns to write as lines, in this order.
            after, upto, batch_rows, stats: as ``read``; zero dates inside lines are NULL
                there but not counted.

        Raises:
            PlanError: not MariaDB/MySQL through mysqlclient or pymysql (``reads_text``),
                or the table or a column does not exist.
            DatabaseError: the connection was lost (retryable; names the table).
        """
        if not self.reads_text:
            raise PlanError(f"reading as text needs MariaDB or MySQL, not {self.url.drivername}")
        t = self._table(table)
        stmt, names = self._read_statement(t, key, after, upto)
        line_set = set(lines)
        unknown = line_set - set(names)
        if unknown:
            raise PlanError(f"table {table!r} has no column {sorted(unknown)[0]!r}",
                            where=self._where())  # fmt: skip
        singles = [n for n in names if n not in line_set or n in key]
        if lines:
            line = sa.literal_column(self._line_sql(t, lines), sa.LargeBinary())
            by_name = dict(zip(names, stmt.selected_columns, strict=True))
            stmt = stmt.with_only_columns(line, *[by_name[n] for n in singles])
        kinds = [t.kinds[n].kind if n in t.kinds else "text" for n in singles]
        compiled = stmt.compile(dialect=self.engine.dialect)
        params = compiled.construct_params()
        # Always some arguments, so that the driver undoes the doubled "%" of literal SQL.
        args: Any = (
            tuple(params[name] for name in compiled.positiontup or ())
            if compiled.positional
            else params
        )
        dates = [i for i, k in enumerate(kinds) if k in ("date", "datetime")]
        bits = [i for i, k in enumerate(kinds) if k == "bit"]
        dbapi = self.engine.dialect.loaded_dbapi
        read = 0
        connection = None
        try:
            connection = self._raw_text_connection()
            cursor = connection.cursor(dbapi.cursors.SSCursor)
            cursor.execute(str(compiled), args)
            while True:
                fetched = cursor.fetchmany(batch_rows)
                if not fetched:
                    break
                columns: list[Sequence[Any]] = list(zip(*fetched, strict=True))
                line_values = columns.pop(0) if lines else None
                for i in dates:
                    columns[i] = _null_zero_dates(columns[i], singles[i], stats)
                for i in bits:
                    columns[i] = [None if v is None else b"%d" % int.from_bytes(v, "big")
                                  for v in columns[i]]  # fmt: skip
                read += len(fetched)
                if stats is not None:
                    stats.rows += len(fetched)
                yield TextBatch(singles, kinds, columns, len(fetched), tuple(lines), line_values)
            cursor.close()
        except dbapi.Error as e:
            wrapped = sa_exc.DBAPIError.instance(None, None, e, dbapi.Error)
            assert isinstance(wrapped, sa_exc.DBAPIError)
            raise self._error(wrapped, table, f"reading (after {read} rows)") from e
        finally:
            if connection is not None:
                # Closing the socket ends the query; closing the cursor would read the rest
                # of it first.
                connection.close()

    def _line_sql(self, t: _Table, columns: Sequence[str]) -> str:
        """MariaDB's spelling of one row's ``columns`` as a line of COPY text: fields split by
        tabs, ``\\N`` for NULL and for dates that are no date, backslash, tab, newline and
        carriage return escaped by a backslash, binary as ``\\x`` and hex. Literals are
        written in hex so that no ``sql_mode`` changes them; the result is binary, so columns
        of different character sets and collations join without conversion errors."""
        parts = []
        for name in columns:
            if name == ROW_HASH:
                parts.append(self._row_md5_sql(t, list(t.kinds)))
                continue
            kind = t.kinds[name].kind
            x = self._quote(name)
            if kind in ("text", "char"):
                field = f"CONVERT({x} USING utf8mb4)"
                for raw, escaped in (
                    ("5C", "5C5C"),
                    ("09", "5C74"),
                    ("0A", "5C6E"),
                    ("0D", "5C72"),
                ):
                    field = f"REPLACE({field}, X'{raw}', X'{escaped}')"
            elif kind == "bytes":
                field = f"CONCAT(X'5C5C78', HEX({x}))"
            elif kind in ("date", "datetime"):
                field = f"CASE WHEN ({x} + INTERVAL 0 DAY) IS NULL THEN NULL ELSE {x} END"
            elif kind == "bit":
                field = f"CAST({x} AS UNSIGNED)"
            else:
                field = x
            parts.append(f"IFNULL(CAST({field} AS BINARY), X'5C4E')")
        return f"CONCAT_WS(X'09', {', '.join(parts)})"

    def _raw_text_connection(self) -> Any:
        """A new DBAPI connection that hands every value out as the bytes the server sent."""
        dialect = self.engine.dialect
        args, kwargs = dialect.create_connect_args(self.url)
        kwargs.update(self._connect_args())
        kwargs["use_unicode"] = False
        dbapi = dialect.loaded_dbapi
        encoders = dbapi.converters.conversions if self.url.get_driver_name() == "mysqldb" else (
            dbapi.converters.encoders)  # fmt: skip
        # Only how Python values are written into SQL; nothing decodes what comes back.
        kwargs["conv"] = {k: v for k, v in encoders.items() if not isinstance(k, int)}
        connection = dbapi.connect(*args, **kwargs)
        try:
            self._make_read_only(connection, None)
        except BaseException:
            connection.close()
            raise
        return connection

    def _stream(
        self,
        t: _Table,
        stmt: sa.Executable,
        names: list[str],
        batch_rows: int,
        stats: ReadStats | None,
    ) -> Iterator[list[Row]]:
        chars = [names.index(c) for c in t.char_columns]
        dates = [names.index(c) for c in t.date_columns]
        read = 0
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(
                    stream_results=True, max_row_buffer=batch_rows
                ).execute(stmt)
                finished = False
                try:
                    while True:
                        fetched = result.fetchmany(batch_rows)
                        if not fetched:
                            break
                        if chars or dates:
                            batch = [self._fix(list(r), names, chars, dates, stats)
                                     for r in fetched]  # fmt: skip
                        else:
                            batch = [dict(zip(names, r, strict=True)) for r in fetched]
                        read += len(batch)
                        if stats is not None:
                            stats.rows += len(batch)
                        yield batch
                    finished = True
                finally:
                    if not finished:
                        # A reader that stopped early: drop the connection, which ends the
                        # query, rather than read the rest of the table to finish it.
                        conn.invalidate()
        except sa_exc.DBAPIError as e:
            raise self._error(e, t.info.name, f"reading (after {read} rows)") from e

    @staticmethod
    def _fix(
        values: list[Any],
        names: list[str],
        chars: list[int],
        dates: list[int],
        stats: ReadStats | None,
    ) -> Row:
        for i in chars:
            if values[i] is not None:
                values[i] = values[i].rstrip(" ")
        for i in dates:
            # pymysql hands back a date it cannot represent (0000-00-00, 2001-05-00) as text.
            if isinstance(values[i], str):
                values[i] = None
                if stats is not None:
                    stats.zero_dates[names[i]] = stats.zero_dates.get(names[i], 0) + 1
        return dict(zip(names, values, strict=True))

    def lookup(self, table: str, key: Sequence[str], keys: Sequence[Key]) -> dict[Key, Row]:
        """The rows with these keys; missing ones are absent from the result."""
        t = self._table(table)
        key_cols = self._columns(t, key)
        names = list(t.kinds)
        found: dict[Key, Row] = {}
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
            if len(key_cols) == 1:
                match: sa.ColumnElement[bool] = key_cols[0].in_([k[0] for k in chunk])
            else:
                match = sa.or_(
                    *[sa.and_(*[c == v for c, v in zip(key_cols, k, strict=True)]) for k in chunk]
                )
            stmt = sa.select(*[t.table.columns[n] for n in names]).where(match, *self._filter(t))
            for batch in self._stream(t, stmt, names, _LOOKUP_CHUNK, None):
                for row in batch:
                    found[tuple(row[k] for k in key)] = row
        return found

    def candidates(self, table: str, blocking: Mapping[str, Any], *, limit: int = 50) -> list[Row]:
        """Rows sharing the blocking values, for fuzzy matching of people.

        A blocking value is compared for equality, or is a ``StartsWith`` (text prefix) or
        an ``InYear`` (a date's year).
        """
        t = self._table(table)
        conditions = self._filter(t)
        for name, value in blocking.items():
            (col,) = self._columns(t, [name])
            if isinstance(value, StartsWith):
                escaped = value.prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                conditions.append(col.like(escaped + "%", escape="\\"))
            elif isinstance(value, InYear):
                conditions.append(col >= date(value.year, 1, 1))
                conditions.append(col < date(value.year + 1, 1, 1))
            elif value is None:
                conditions.append(col.is_(None))
            else:
                conditions.append(col == value)
        names = list(t.kinds)
        order = [t.table.columns[k] for k in t.info.key or ()]
        stmt = (
            sa.select(*[t.table.columns[n] for n in names])
            .where(*conditions)
            .order_by(*order)
            .limit(limit)
        )
        return [row for batch in self._stream(t, stmt, names, limit, None) for row in batch]

    # --- checksums --------------------------------------------------------------------

    def segment_checksums(
        self, table: str, key: Sequence[str], columns: Sequence[str], segments: int
    ) -> list[SegmentChecksum]:
        """Rows and checksum per key range (``legacy_connectors.canonical``).

        The ranges hold about equally many rows: their boundaries are every n-th key,
        found in one ordered scan. MariaDB and PostgreSQL compute each range's checksum
        themselves; other engines stream ``columns`` and it is computed here, alike.
        """
        t = self._table(table)
        key_cols = self._columns(t, key)
        for name in columns:
            if name not in t.kinds:
                raise PlanError(f"table {table!r} has no column {name!r}", where=self._where())
        total = self.count(table)
        if total == 0:
            return []
        step = max(1, math.ceil(total / max(1, segments)))
        bounds: list[Key | None] = [None, *self._boundaries(t, key_cols, step, table), None]
        out = []
        for lower, upper in pairwise(bounds):
            conditions = self._filter(t)
            if lower is not None:
                conditions.append(_key_compare(key_cols, lower, ">="))
            if upper is not None:
                conditions.append(_key_compare(key_cols, upper, "<"))
            rows, value = self._segment(t, columns, conditions, table)
            out.append(SegmentChecksum(lower=lower, upper=upper, rows=rows, checksum=value))
        return out

    def row_hashes(
        self, table: str, key: Sequence[str], columns: Sequence[str], *, batch_rows: int = 10_000
    ) -> Iterator[tuple[Key, str]]:
        """Every row's key and the md5 (hex) of its ``columns``' canonical form
        (``legacy_connectors.canonical.row_md5``), in key order, computed by the database:
        only keys and hashes cross the network.

        Raises:
            PlanError: not MariaDB/MySQL or PostgreSQL, or no such table or column.
            DatabaseError: the connection was lost.
        """
        t = self._table(table)
        keys = self._columns(t, key)
        self._columns(t, columns)
        digest = sa.literal_column(self._row_md5_sql(t, columns), sa.String())
        stmt = sa.select(*keys, digest).where(*self._filter(t)).order_by(*keys)
        width = len(keys)
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(
                    stream_results=True, max_row_buffer=batch_rows
                ).execute(stmt)
                for part in result.partitions(batch_rows):
                    for record in part:
                        yield tuple(record[:width]), record[width]
        except sa_exc.DBAPIError as e:
            raise self._error(e, table, "streaming row hashes") from e

    def bucket_checksums(
        self,
        table: str,
        key: str,
        columns: Sequence[str],
        *,
        origin: int,
        width: int,
        ranges: Sequence[tuple[int, int]],
    ) -> dict[int, tuple[int, int]]:
        """Rows and checksum per bucket ``(key - origin) // width`` of an integer key, over
        the keys in ``ranges`` (each ``[start, end)``), grouped by the database.

        The checksum is a sum of 60-bit folds of each row's md5, leaner than the canonical
        one (no length prefixes): the columns' texts, as MariaDB and PostgreSQL spell them
        alike, joined by a control character, NULL another. Comparable between the two
        databases, never with Python's.

        Raises:
            PlanError: not MariaDB/MySQL or PostgreSQL, or no such table or column.
            DatabaseError: the connection was lost.
        """
        if self.dialect not in _MYSQL and self.dialect != "postgresql":
            raise PlanError(
                f"bucket checksums need MariaDB/MySQL or PostgreSQL, not {self.dialect}"
            )
        t = self._table(table)
        (column,) = self._columns(t, [key])
        self._columns(t, columns)
        divide = "DIV" if self.dialect in _MYSQL else "/"
        # origin and width are integers of ours, never text from outside: safe to spell out.
        bucket = sa.literal_column(
            f"(({self._quote(key)} - {int(origin)}) {divide} {int(width)})", sa.BigInteger()
        )
        fold = sa.literal_column(self._lean_fold_sql(t, columns), sa.Numeric())
        out: dict[int, tuple[int, int]] = {}
        for start in range(0, len(ranges), _RANGES_PER_QUERY):
            chunk = ranges[start : start + _RANGES_PER_QUERY]
            within = sa.or_(*[sa.and_(column >= a, column < b) for a, b in chunk])
            stmt = (
                sa.select(bucket.label("bucket"), sa.func.count(), sa.func.sum(fold))
                .select_from(t.table)
                .where(*self._filter(t), within)
                .group_by(bucket)
            )
            try:
                with self.engine.connect() as conn:
                    for number, rows, total in conn.execute(stmt):
                        out[int(number)] = (int(rows), int(total or 0) % CHECKSUM_MODULUS)
            except sa_exc.DBAPIError as e:
                raise self._error(e, table, "computing checksums") from e
        return out

    def stored_types(self, table: str) -> dict[str, StoredType]:
        """What the database's own column types say beyond the portable ones: fixed-width
        CHAR, and fractional-second digits of timestamps and times.

        Raises:
            PlanError: no such table.
            DatabaseError: the connection was lost.
        """
        t = self._table(table)
        out = {}
        for column in t.table.columns:
            sqltype = column.type
            char = isinstance(sqltype, sa.CHAR) and not isinstance(sqltype, sa.VARCHAR)
            digits = None
            if isinstance(sqltype, sa.DateTime | sa.Time):
                digits = getattr(sqltype, "fsp", getattr(sqltype, "precision", None))
            out[column.name] = StoredType(char=char, fraction_digits=digits)
        return out

    def _boundaries(
        self, t: _Table, key_cols: list[sa.ColumnElement[Any]], step: int, table: str
    ) -> list[Key]:
        labelled = [c.label(f"k{i}") for i, c in enumerate(key_cols)]
        numbered = (
            sa.select(*labelled, sa.func.row_number().over(order_by=key_cols).label("rn"))
            .select_from(t.table)
            .where(*self._filter(t))
            .subquery()
        )
        keys = [numbered.c[f"k{i}"] for i in range(len(key_cols))]
        stmt = (
            sa.select(*keys)
            .where(numbered.c.rn > 1, (numbered.c.rn - 1) % step == 0)
            .order_by(numbered.c.rn)
        )
        try:
            with self.engine.connect() as conn:
                return [tuple(r) for r in conn.execute(stmt)]
        except sa_exc.DBAPIError as e:
            raise self._error(e, table, "finding segment boundaries") from e

    def _segment(
        self,
        t: _Table,
        columns: Sequence[str],
        conditions: list[sa.ColumnElement[bool]],
        table: str,
    ) -> tuple[int, int]:
        if self.dialect in _MYSQL or self.dialect == "postgresql":
            fold: sa.ColumnElement[Any] = sa.literal_column(self._fold_sql(t, columns))
            stmt = (
                sa.select(sa.func.count(), sa.func.sum(fold))
                .select_from(t.table)
                .where(*conditions)
            )
            try:
                with self.engine.connect() as conn:
                    rows, total = conn.execute(stmt).one()
            except sa_exc.DBAPIError as e:
                raise self._error(e, table, "computing checksums") from e
            return int(rows), int(total or 0) % CHECKSUM_MODULUS
        names = list(t.kinds)
        stmt = sa.select(*[t.table.columns[n] for n in names]).where(*conditions)
        scales = [t.kinds[c].scale for c in columns]
        rows_iter = (
            [row[c] for c in columns]
            for batch in self._stream(t, stmt, names, 10_000, None)
            for row in batch
        )
        return checksum(rows_iter, scales)

    def _quote(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)

    def _value_sql(self, kind: _ColumnKind) -> str:
        """The canonical form of one column, spelt for this engine (never NULL)."""
        x = self._quote(kind.name)
        null = f"{x} IS NULL"
        if self.dialect in _MYSQL:
            text = {
                "text": f"CONVERT({x} USING utf8mb4)",
                "char": f"CONVERT({x} USING utf8mb4)",
                "float": f"CAST(CAST({x} AS DECIMAL(65,6)) AS CHAR)",
                # Casts rather than DATE_FORMAT: a '%' would meet the driver's paramstyle.
                "date": f"CAST({x} AS CHAR)",
                "datetime": f"CAST(CAST({x} AS DATETIME(6)) AS CHAR)",
                "time": f"CAST(CAST({x} AS TIME(6)) AS CHAR)",
                "interval": f"CAST(CAST({x} AS TIME(6)) AS CHAR)",
                "bit": f"CAST(CAST({x} AS UNSIGNED) AS CHAR)",
                "year": f"CAST(CAST({x} AS UNSIGNED) AS CHAR)",
                "bytes": f"LOWER(HEX({x}))",
            }.get(kind.kind, f"CAST({x} AS CHAR)")
            if kind.kind in ("date", "datetime"):
                null += f" OR YEAR({x}) = 0 OR MONTH({x}) = 0 OR DAYOFMONTH({x}) = 0"
            return f"CASE WHEN {null} THEN '~' ELSE CONCAT(CHAR_LENGTH({text}), ':', {text}) END"
        ts = f"{x} AT TIME ZONE 'UTC'" if kind.aware else x
        text = {
            "boolean": f"CASE WHEN {x} THEN '1' ELSE '0' END",
            "float": f"round({x}::numeric, 6)::text",
            "date": f"to_char({x}, 'YYYY-MM-DD')",
            "datetime": f"to_char({ts}, 'YYYY-MM-DD HH24:MI:SS.US')",
            "time": f"to_char(DATE '2000-01-01' + {x}, 'HH24:MI:SS.US')",
            "interval": postgres_duration_text(x),
            "bytes": f"encode({x}, 'hex')",
        }.get(kind.kind, f"{x}::text")
        return f"CASE WHEN {null} THEN '~' ELSE char_length({text})::text || ':' || {text} END"

    def _lean_text_sql(self, kind: _ColumnKind) -> str:
        """One column's text for ``bucket_checksums``, as both engines spell it alike
        (``canonical``'s rules, without the length prefix); NULL and zero dates as the
        NULL mark."""
        x = self._quote(kind.name)
        if self.dialect in _MYSQL:
            text = {
                "text": f"CONVERT({x} USING utf8mb4)",
                "char": f"CONVERT({x} USING utf8mb4)",
                "float": f"CAST(CAST({x} AS DECIMAL(65,6)) AS CHAR)",
                "datetime": f"CAST(CAST({x} AS DATETIME(6)) AS CHAR)",
                "time": f"CAST(CAST({x} AS TIME(6)) AS CHAR)",
                "interval": f"CAST(CAST({x} AS TIME(6)) AS CHAR)",
                "bit": f"CAST(CAST({x} AS UNSIGNED) AS CHAR)",
                "year": f"CAST(CAST({x} AS UNSIGNED) AS CHAR)",
                "bytes": f"LOWER(HEX({x}))",
            }.get(kind.kind, f"CAST({x} AS CHAR)")
            if kind.kind in ("date", "datetime"):
                # A zero date is no date: like NULL, as this source reads it.
                zero = f"YEAR({x}) = 0 OR MONTH({x}) = 0 OR DAYOFMONTH({x}) = 0"
                text = f"CASE WHEN {zero} THEN NULL ELSE {text} END"
            return f"COALESCE({text}, CHAR({_NULL_MARK}))"
        stamp = f"{x} AT TIME ZONE 'UTC'" if kind.aware else x
        text = {
            "text": x,
            "boolean": f"CASE WHEN {x} THEN '1' ELSE '0' END",
            "float": f"round({x}::numeric, 6)::text",
            "date": f"to_char({x}, 'YYYY-MM-DD')",
            "datetime": f"to_char({stamp}, 'YYYY-MM-DD HH24:MI:SS.US')",
            "time": f"to_char(DATE '2000-01-01' + {x}, 'HH24:MI:SS.US')",
            "interval": postgres_duration_text(x),
            "bytes": f"encode({x}, 'hex')",
        }.get(kind.kind, f"{x}::text")
        return f"COALESCE({text}, chr({_NULL_MARK}))"

    def _lean_fold_sql(self, t: _Table, columns: Sequence[str]) -> str:
        """A row's fold for ``bucket_checksums``: 60 bits of the md5 of its columns' lean
        texts. Leaner than the canonical fold (no length prefixes, no CASE per column): the
        whole-table pass hashes every row on both sides, and this halves its cost. Texts are
        joined by a control character, and NULL is another, so neither is ambiguous for any
        ordinary data."""
        parts = ", ".join(self._lean_text_sql(t.kinds[c]) for c in columns)
        if self.dialect in _MYSQL:
            md5 = f"md5(concat_ws(CHAR({_COLUMN_MARK}), {parts}))"
            return f"CAST(CONV(SUBSTRING({md5}, 1, {FOLD_HEX_DIGITS}), 16, 10) AS UNSIGNED)"
        md5 = f"md5(concat_ws(chr({_COLUMN_MARK}), {parts}))"
        return f"('x' || substr({md5}, 1, {FOLD_HEX_DIGITS}))::bit({FOLD_HEX_DIGITS * 4})::bigint"

    def _row_md5_sql(self, t: _Table, columns: Sequence[str]) -> str:
        if self.dialect not in _MYSQL and self.dialect != "postgresql":
            raise PlanError(
                f"{ROW_HASH} keys need MariaDB/MySQL or PostgreSQL, not {self.dialect}",
                where=self._where(t.info.name),
            )
        parts = ", ".join(self._value_sql(t.kinds[c]) for c in columns)
        return f"md5(concat_ws('|', {parts}))"

    def _fold_sql(self, t: _Table, columns: Sequence[str]) -> str:
        md5 = self._row_md5_sql(t, columns)
        if self.dialect in _MYSQL:
            return f"CAST(CONV(SUBSTRING({md5}, 1, {FOLD_HEX_DIGITS}), 16, 10) AS UNSIGNED)"
        return f"('x' || substr({md5}, 1, {FOLD_HEX_DIGITS}))::bit({FOLD_HEX_DIGITS * 4})::bigint"

    # --- errors -----------------------------------------------------------------------

    def _scalar(self, stmt: sa.Select[Any], table: str, doing: str) -> Any:
        try:
            with self.engine.connect() as conn:
                return conn.execute(stmt).scalar()
        except sa_exc.DBAPIError as e:
            raise self._error(e, table, doing) from e

    def _error(self, e: sa_exc.DBAPIError, table: str | None, doing: str) -> Exception:
        """Our error for a driver's: lost connections are retryable, bad SQL is the plan's."""
        reason = type(e.orig).__name__
        code = e.orig.args[0] if e.orig is not None and e.orig.args else None
        log.warning("legacy_sql_error", table=table, doing=doing, error=reason, code=code)
        rejected = isinstance(e, sa_exc.ProgrammingError | sa_exc.DataError)
        if self.dialect in _MYSQL and code in _MYSQL_BAD_QUERY:
            rejected = True  # pymysql raises these as OperationalError
        if rejected and not e.connection_invalidated:
            detail = str(e.orig).splitlines()[0] if e.orig is not None else reason
            return PlanError(f"{doing}: the source rejected the query: {detail}",
                             where=self._where(table))  # fmt: skip
        return DatabaseError(
            f"lost the legacy database while {doing}: {reason} {code or ''}".rstrip(),
            where=self._where(table),
        )


@dataclass
class TextBatch:
    """Rows of one ``SqlSource.read_text``, column by column, as the database prints them.

    Each value is ``bytes`` or None (NULL, and zero dates). Per column kind the text is:
    integer, year, bit: decimal digits; decimal: plain decimal text; float: as the server
    prints it (``1e25``, ``-0``); date ``YYYY-MM-DD``; datetime ``YYYY-MM-DD HH:MM:SS[.f]``;
    interval ``[-]HH:MM:SS[.f]`` (hours may exceed 24); text and char: UTF-8; bytes: the
    bytes themselves.

    Attributes:
        names: the columns read one by one, in ``read``'s order (``_row_hash`` last when it
            is the key): those not in ``line_columns``, and the key's.
        kinds: each of those columns' kind (as above).
        columns: per column, the values of every row.
        rows: how many rows.
        line_columns: the columns the database wrote as lines, in their order.
        lines: per row, ``line_columns`` as one line of COPY text (without its newline):
            fields split by tabs, ``\\N`` for NULL, backslash, tab, newline and carriage
            return escaped by a backslash, binary as ``\\x`` and hex. None without lines.
    """

    names: list[str]
    kinds: list[str]
    columns: list[Sequence[Any]]
    rows: int
    line_columns: tuple[str, ...] = ()
    lines: Sequence[bytes] | None = None

    def values(self, name: str) -> list[Any]:
        """One column's values as ``read`` gives them (``int``, ``Decimal``, ``date``...)."""
        index = self.names.index(name)
        parse = _PARSERS.get(self.kinds[index], _parse_text)
        return [None if v is None else parse(v) for v in self.columns[index]]

    def key(self, row: int, key: Sequence[str]) -> Key:
        """The key of one row (``-1``: the last), typed as ``read`` gives it."""
        out = []
        for name in key:
            index = self.names.index(name)
            value = self.columns[index][row]
            parse = _PARSERS.get(self.kinds[index], _parse_text)
            out.append(None if value is None else parse(value))
        return tuple(out)


def _parse_text(value: bytes) -> str:
    return value.decode()


def _parse_interval(value: bytes) -> timedelta:
    text = value.decode()
    negative = text.startswith("-")
    hours, minutes, seconds = text.lstrip("-").split(":")
    whole, _, fraction = seconds.partition(".")
    duration = timedelta(hours=int(hours), minutes=int(minutes), seconds=int(whole),
                         microseconds=int((fraction + "000000")[:6]))  # fmt: skip
    return -duration if negative else duration


_PARSERS: dict[str, Callable[[bytes], Any]] = {
    "text": _parse_text,
    "char": _parse_text,
    "integer": int,
    "bit": int,
    "year": int,
    "boolean": lambda v: v not in (b"0", b"f", b"false"),
    "decimal": lambda v: Decimal(v.decode()),
    "float": float,
    "date": lambda v: date.fromisoformat(v.decode()),
    "datetime": lambda v: datetime.fromisoformat(v.decode()),
    "time": lambda v: time.fromisoformat(v.decode()),
    "interval": _parse_interval,
    "bytes": bytes,
}

# Where a date MariaDB may hold and Python (and PostgreSQL) cannot can show: a zero year,
# month or day, or a day past its month's end (29 February only in some years). MariaDB
# never holds a month past 12 or a day past 31.
_DOUBTFUL_MARKS = (b"\x000000-", b"-00", b"-02-29", b"-02-30", b"-02-31", b"-04-31", b"-06-31",
                   b"-09-31", b"-11-31")  # fmt: skip


def _null_zero_dates(values: Sequence[Any], name: str, stats: ReadStats | None) -> Sequence[Any]:
    """``values`` with MariaDB's no-dates (``0000-00-00``, ``2001-05-00``, ``2001-02-31``)
    as None, counted, as ``read`` reads them. A few scans of the whole column find whether
    any can be there; only the values around a doubtful mark are then checked."""
    joined = b"\x00" + b"\x00".join(filter(None, values)) + b"\x00"
    doubtful: set[bytes] = set()
    for mark in _DOUBTFUL_MARKS:
        at = joined.find(mark)
        while at >= 0:
            start = joined.rfind(b"\x00", 0, at + 1 if mark[0] == 0 else at) + 1
            end = joined.find(b"\x00", at + 1)
            doubtful.add(joined[start:end])
            at = joined.find(mark, end)
    invalid = {v for v in doubtful if not _is_date(v)}
    if not invalid:
        return values
    out = list(values)
    for i, value in enumerate(out):
        if value in invalid:
            out[i] = None
            if stats is not None:
                stats.zero_dates[name] = stats.zero_dates.get(name, 0) + 1
    return out


def _is_date(value: bytes) -> bool:
    try:
        date(int(value[:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return False
    return True


def _mysqldb_conversions() -> dict[Any, Any]:
    """mysqlclient's conversions, except that a date it cannot represent stays text (as
    pymysql leaves it) instead of becoming None: a zero date is then counted, not lost."""
    # imported here: only mysqlclient's URLs need it (and it carries no type hints)
    converters = import_module("MySQLdb.converters")
    field_type = import_module("MySQLdb.constants.FIELD_TYPE")

    def keep(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def convert_or_text(value: Any) -> Any:
            converted = convert(value)
            if converted is None:
                return value.decode() if isinstance(value, bytes) else str(value)
            return converted

        return convert_or_text

    conversions = dict(converters.conversions)
    for field in (field_type.DATE, field_type.DATETIME, field_type.TIMESTAMP):
        conversions[field] = keep(conversions[field])
    return conversions


def postgres_duration_text(x: str) -> str:
    """PostgreSQL's spelling of an interval as canonical text: ``[-]HH:MM:SS.ffffff`` with
    as many hour digits as it needs, as MariaDB prints its TIME and as ``canonical`` prints a
    ``timedelta``. (``to_char`` keeps days apart from hours, so it is built from the epoch.)"""
    seconds = f"abs(extract(epoch FROM {x}))"
    return (
        f"(CASE WHEN {x} < interval '0' THEN '-' ELSE '' END"
        f" || to_char(floor({seconds} / 3600), 'FM999999999900')"
        f" || ':' || to_char(floor(mod({seconds}, 3600) / 60), 'FM00')"
        f" || ':' || to_char(mod({seconds}, 60), 'FM00.000000'))"
    )


def _key_compare(
    cols: Sequence[sa.ColumnElement[Any]], key: Key, op: str
) -> sa.ColumnElement[bool]:
    """``(c1, c2, ...) op (v1, v2, ...)`` in lexicographic order, spelt with AND/OR.

    The leading ``c1 >= v1`` (or ``<=``) is redundant but lets an index on the key serve
    the range on engines that do not see through the OR.
    """
    if len(key) != len(cols):
        raise PlanError(f"a key of {len(cols)} columns was given {len(key)} values")
    strict = op in (">", "<")
    greater = op in (">", ">=")

    def beyond(c: sa.ColumnElement[Any], v: Any) -> sa.ColumnElement[bool]:
        return c > v if greater else c < v

    alternatives = []
    for i in range(len(cols)):
        equal = [cols[j] == key[j] for j in range(i)]
        alternatives.append(sa.and_(*equal, beyond(cols[i], key[i])))
    if not strict:
        alternatives.append(sa.and_(*[c == v for c, v in zip(cols, key, strict=True)]))
    leading = cols[0] >= key[0] if greater else cols[0] <= key[0]
    return sa.and_(leading, sa.or_(*alternatives))


def open_sql_source(config: Any, *, filters: Mapping[str, str] | None = None) -> SqlSource:
    """The source of a plan's ``kind: sql`` section (``SqlSourceConfig``)."""
    return SqlSource(
        config.url,
        schema=config.db_schema,
        filters=filters,
        connect_timeout_s=config.connect_timeout_s,
    )

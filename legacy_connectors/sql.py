"""Any database SQLAlchemy has a dialect for, read-only, streamed, keyset-paginated.

Tested on MariaDB (pymysql), PostgreSQL (psycopg) and SQLite. What this source does with
the oddities of real legacy databases:

* **Read-only.** Every connection is put in read-only mode as it is made (MariaDB and
  PostgreSQL: read-only transactions; SQLite: ``query_only``), so nothing here can write
  to the legacy system even by mistake.
* **Streaming.** ``read`` runs one query per call on a server-side cursor (pymysql's
  unbuffered cursor, a PostgreSQL named cursor) and hands rows out in batches: memory is
  bounded by the batch, never the table.
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
* **No key.** A table without a primary key is read by a unique key the plan names, or
  by ``_row_hash`` (``legacy_connectors.base.ROW_HASH``): the md5 of the row's canonical
  form, computed by the database. Rows then carry ``_row_hash`` as an extra last entry so
  a copy can resume after it. Identical duplicate rows share one hash: the count check
  of reconciliation shows them.
* **Checksums pushed down.** On MariaDB and PostgreSQL the per-row md5 of the canonical
  form (``legacy_connectors.canonical``) and its per-segment sum are computed by the
  database; only one number per segment crosses the network. Other engines stream the
  rows and compute the same numbers in Python.
* **Errors.** A connection lost mid-read is a retryable ``DatabaseError`` naming the table
  and how many rows had been read; a table or column that does not exist is a
  ``PlanError``. Messages never quote row values (they are personal data).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import types as sa_types

from config.log import get_logger
from domain.errors import DatabaseError, PlanError
from legacy_connectors.base import (
    ROW_HASH,
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


@dataclass(frozen=True)
class _ColumnKind:
    """How a column reads and how its canonical text is spelled in SQL."""

    name: str
    kind: str  # text, char, integer, boolean, decimal, float, date, datetime, time, bytes
    scale: int | None = None
    aware: bool = False  # timestamp with time zone


def _classify(name: str, sqltype: sa_types.TypeEngine[Any]) -> tuple[_ColumnKind, Column, bool]:
    """Our kind and portable column of a reflected type; the bool says "CHAR(n)"."""
    length = getattr(sqltype, "length", None)
    if isinstance(sqltype, sa_types.Boolean):
        return _ColumnKind(name, "boolean"), Column(name, "boolean"), False
    if isinstance(sqltype, sa_types.Integer):
        return _ColumnKind(name, "integer"), Column(name, "integer"), False
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
        connect_args: dict[str, Any] = {}
        if self.dialect in _MYSQL:
            connect_args["connect_timeout"] = self.connect_timeout_s
            if "charset" not in self.url.query:
                connect_args["charset"] = "utf8mb4"
        elif self.dialect == "postgresql":
            connect_args["connect_timeout"] = self.connect_timeout_s
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
        return self._stream(t, stmt, names, batch_rows, stats)

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
                while True:
                    fetched = result.fetchmany(batch_rows)
                    if not fetched:
                        break
                    if chars or dates:
                        batch = [self._fix(list(r), names, chars, dates, stats) for r in fetched]
                    else:
                        batch = [dict(zip(names, r, strict=True)) for r in fetched]
                    read += len(batch)
                    if stats is not None:
                        stats.rows += len(batch)
                    yield batch
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
            "bytes": f"encode({x}, 'hex')",
        }.get(kind.kind, f"{x}::text")
        return f"CASE WHEN {null} THEN '~' ELSE char_length({text})::text || ':' || {text} END"

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

"""What every SQL database shares as a legacy source: reflection, keyset-paginated
streamed reads, look-ups, checksums, errors. ``SqlSource(url)`` is the class of the URL's
engine (``mysql``, ``postgresql``, ``sqlite``: each holds its engine's own ways); an engine
without one is read by this class itself, its checksums computed here from the rows."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import types as sa_types
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
    TextBatch,
)
from legacy_connectors.canonical import checksum

log = get_logger(__name__)

_LOOKUP_CHUNK = 500


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
class ColumnKind:
    """How a column reads and how its canonical text is spelled in SQL."""

    name: str
    # text, char, integer, boolean, decimal, float, date, datetime, time, interval, bytes,
    # and on MariaDB bit and year (integers whose own text is not their number)
    kind: str
    scale: int | None = None
    aware: bool = False  # timestamp with time zone


Classified = tuple[ColumnKind, Column, bool]
"""A reflected column's kind, its portable column, and whether it is a CHAR(n)."""


def classify(name: str, sqltype: sa_types.TypeEngine[Any]) -> Classified:
    """Our kind and portable column of a reflected type any engine may have."""
    length = getattr(sqltype, "length", None)
    if isinstance(sqltype, sa_types.Boolean):
        return ColumnKind(name, "boolean"), Column(name, "boolean"), False
    if isinstance(sqltype, sa_types.Integer):
        return ColumnKind(name, "integer"), Column(name, "integer"), False
    if isinstance(sqltype, sa_types.Float):
        return ColumnKind(name, "float"), Column(name, "float"), False
    if isinstance(sqltype, sa_types.Numeric):
        p, s = sqltype.precision, sqltype.scale
        portable = f"decimal({p},{s})" if p is not None else "decimal"
        column = Column(name, portable, precision=p, scale=s)
        return ColumnKind(name, "decimal", scale=s), column, False
    if isinstance(sqltype, sa_types.DateTime):
        aware = bool(getattr(sqltype, "timezone", False))
        return ColumnKind(name, "datetime", aware=aware), Column(name, "datetime"), False
    if isinstance(sqltype, sa_types.Date):
        return ColumnKind(name, "date"), Column(name, "date"), False
    if isinstance(sqltype, sqltypes._AbstractInterval):
        return ColumnKind(name, "interval"), Column(name, "interval"), False
    if isinstance(sqltype, sa_types.Time):
        return ColumnKind(name, "time"), Column(name, "time"), False
    if isinstance(sqltype, sa_types._Binary):
        return ColumnKind(name, "bytes"), Column(name, "bytes", length=length), False
    if isinstance(sqltype, sa_types.CHAR):
        return ColumnKind(name, "char"), Column(name, "text", length=length), True
    return ColumnKind(name, "text"), Column(name, "text", length=length), False


@dataclass
class SourceTable:
    """A reflected table: its description, SQLAlchemy table, and how its columns read."""

    info: TableInfo
    table: sa.Table
    kinds: dict[str, ColumnKind]
    char_columns: tuple[str, ...]
    date_columns: tuple[str, ...]


class SqlSource:
    """A legacy database, read through SQLAlchemy. Implements ``LegacySource``.

    ``SqlSource(url)`` makes the subclass of the URL's engine (see ``backends``).

    Args:
        url: a SQLAlchemy URL, e.g. ``mysql+pymysql://root@127.0.0.1/legacy``.
        schema: the schema (PostgreSQL) to read; default the connection's.
        filters: per-table SQL conditions from the plan's ``where``, applied to every
            count, read, checksum, lookup and candidate search of that table.
        connect_timeout_s: how long to wait for the server before calling it unreachable.
    """

    backends: ClassVar[tuple[str, ...]] = ()
    """The URL backend names a subclass reads (``mysql``, ``mariadb``...)."""
    _by_backend: ClassVar[dict[str, type[SqlSource]]] = {}

    char_padded: ClassVar[bool] = True
    """Whether CHAR(n) values come with their padding blanks (read without them)."""
    zero_dates: ClassVar[bool] = False
    """Whether the engine holds dates that are no date (read as None and counted)."""
    read_only_statements: ClassVar[tuple[str, ...]] = ()
    """What makes a new connection read-only, run as it is made."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for backend in cls.backends:
            SqlSource._by_backend[backend] = cls

    def __new__(cls, url: str, **_options: Any) -> SqlSource:
        if cls is SqlSource:
            cls = SqlSource._by_backend.get(sa.make_url(url).get_backend_name(), SqlSource)
        return object.__new__(cls)

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
        self._tables: dict[str, SourceTable] = {}

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
        """The driver's connection arguments beyond the URL's."""
        return {}

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
            for statement in self.read_only_statements:
                cursor.execute(statement)
        finally:
            cursor.close()
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
        """The database's change stream (``base.ChangeStreamSource``): None, unless the
        engine's class has one."""
        return None

    # --- tables -----------------------------------------------------------------------

    def _table(self, name: str) -> SourceTable:
        found = self._tables.get(name)
        if found is not None:
            return found
        try:
            table = sa.Table(name, sa.MetaData(), autoload_with=self.engine, schema=self.schema)
        except sa_exc.NoSuchTableError as e:
            raise PlanError(f"the source has no table {name!r}", where=self._where()) from e
        except sa_exc.DBAPIError as e:
            raise self._error(e, name, "describing") from e
        kinds: dict[str, ColumnKind] = {}
        columns = []
        chars = []
        dates = []
        for col in table.columns:
            if isinstance(col.type, sa_types.Float):
                # MySQL's DOUBLE reflects as "give me Decimals"; a float column reads as float.
                col.type.asdecimal = False
            self._adapt(col)
            kind, column, is_char = self._classify(col.name, col.type)
            kinds[col.name] = kind
            columns.append(Column(**{**column.__dict__, "nullable": bool(col.nullable)}))
            if is_char:
                chars.append(col.name)
            if kind.kind in ("date", "datetime"):
                dates.append(col.name)
        key = tuple(c.name for c in table.primary_key.columns) or None
        info = TableInfo(name=name, columns=tuple(columns), key=key)
        char_columns = tuple(chars) if self.char_padded else ()
        # The driver gives dates that are no date as strings.
        date_columns = tuple(dates) if self.zero_dates else ()
        found = SourceTable(info, table, kinds, char_columns, date_columns)
        self._tables[name] = found
        return found

    def _adapt(self, column: sa.Column[Any]) -> None:
        """Change a reflected column's type where the engine's reads need another."""

    def _classify(self, name: str, sqltype: sa_types.TypeEngine[Any]) -> Classified:
        """Our kind and portable column of a reflected type."""
        return classify(name, sqltype)

    def table_info(self, name: str) -> TableInfo:
        """One table's columns (portable types), nullability and primary key: ``describe``
        for one table, without reflecting the others (``base.OneTableSource``).

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

    def _columns(self, t: SourceTable, names: Sequence[str]) -> list[sa.ColumnElement[Any]]:
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

    def _filter(self, t: SourceTable, where: str | None = None) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        for condition in (self.filters.get(t.info.name), where):
            if condition:
                conditions.append(sa.text(f"({condition})"))  # type: ignore[arg-type]
        return conditions

    def _row_md5_sql(self, t: SourceTable, columns: Sequence[str]) -> str:
        """The md5 of a row's canonical form, spelt for this engine; this one has none."""
        raise PlanError(
            f"{ROW_HASH} keys need MariaDB/MySQL or PostgreSQL, not {self.dialect}",
            where=self._where(t.info.name),
        )

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

    def read_changed_since(
        self,
        table: str,
        key: Sequence[str],
        column: str,
        since: datetime,
        *,
        batch_rows: int = 10_000,
        stats: ReadStats | None = None,
    ) -> Iterator[list[Row]]:
        """The rows ``read`` gives whose ``column`` (a last-changed time, the plan's
        ``updated_at``) is at or after ``since`` (naive, as stored; whole seconds)
        (``base.ChangedSinceSource``).

        Raises:
            DatabaseError: the connection was lost (retryable; names the table).
            PlanError: the table or a column does not exist.
        """
        t = self._table(table)
        stmt, names = self._read_statement(t, key, None, None)
        # The column as the plan spells it, like its `where`: the database folds its case.
        changed = sa.text(f"({column} >= '{since:%Y-%m-%d %H:%M:%S}')")
        return self._stream(t, stmt.where(changed), names, batch_rows, stats)

    def _read_statement(
        self, t: SourceTable, key: Sequence[str], after: Key | None, upto: Key | None
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
        """Whether ``read_text`` works here (``base.TextReader``): MariaDB/MySQL through
        mysqlclient or pymysql."""
        return False

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
        """The rows ``read`` gives as the database prints them; see ``MysqlSource``.

        Raises:
            PlanError: always: only MariaDB/MySQL (through mysqlclient or pymysql) can.
        """
        raise PlanError(f"reading as text needs MariaDB or MySQL, not {self.url.drivername}")

    def _stream(
        self,
        t: SourceTable,
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

    def repeated_keys(
        self, table: str, key: Sequence[str], *, examples: int
    ) -> tuple[int, list[Key]]:
        """How many values of ``key`` more than one row has, and up to ``examples`` of them,
        grouped by the database: exact, and no row crosses the network
        (``base.RepeatedKeysSource``).

        Raises:
            PlanError: no such table or column.
            DatabaseError: the connection was lost.
        """
        t = self._table(table)
        columns = self._columns(t, key)
        groups = (
            sa.select(*columns)
            .select_from(t.table)
            .where(*self._filter(t))
            .group_by(*columns)
            .having(sa.func.count() > 1)
        )
        try:
            with self.engine.connect() as conn:
                repeated = conn.execute(sa.select(sa.func.count()).select_from(groups.subquery()))
                count = int(repeated.scalar_one())
                found = [tuple(r) for r in conn.execute(groups.limit(examples))]
        except sa_exc.DBAPIError as e:
            raise self._error(e, table, "finding repeated keys") from e
        return count, found

    # --- checksums --------------------------------------------------------------------

    def segment_checksums(
        self, table: str, key: Sequence[str], columns: Sequence[str], segments: int
    ) -> list[SegmentChecksum]:
        """Rows and checksum per key range (``legacy_connectors.canonical``).

        The ranges hold about equally many rows: their boundaries are every n-th key,
        found in one ordered scan. Engines that can compute each range's checksum
        themselves do; here ``columns`` are streamed and it is computed alike.
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
        self, t: SourceTable, key_cols: list[sa.ColumnElement[Any]], step: int, table: str
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
        t: SourceTable,
        columns: Sequence[str],
        conditions: list[sa.ColumnElement[bool]],
        table: str,
    ) -> tuple[int, int]:
        """One key range's rows and checksum: the rows streamed, the checksum computed here."""
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
        rejected = rejected or self._rejects_query(code)
        if rejected and not e.connection_invalidated:
            detail = str(e.orig).splitlines()[0] if e.orig is not None else reason
            return PlanError(f"{doing}: the source rejected the query: {detail}",
                             where=self._where(table))  # fmt: skip
        return DatabaseError(
            f"lost the legacy database while {doing}: {reason} {code or ''}".rstrip(),
            where=self._where(table),
        )

    def _rejects_query(self, code: Any) -> bool:
        """Whether a driver's error code (raised as something other than a programming or
        data error) means the query itself is wrong: the plan must change."""
        return False


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

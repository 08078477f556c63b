"""MariaDB and MySQL as a legacy source: what only they do.

* **Read-only** sessions, and a slow reader is not given up on (``net_write_timeout``).
* **Zero dates.** MariaDB's ``0000-00-00`` (or a month or day of 0) is not a date. It is
  read as None and counted per column in ``ReadStats.zero_dates``; checksums treat it as
  NULL too, so it reconciles against a NULL in the target.
* **CHAR** comes without its padding already.
* **Text encodings.** latin1/cp1252 columns are converted by the server to the
  connection's utf8mb4; values arrive as ``str``.
* **Their own types.** TIME is a duration (-838:59:59 to 838:59:59), read as a
  ``timedelta`` and portable type ``interval`` (SQLAlchemy would wrap it into a time of
  day); BIT and YEAR are integers; BIGINT UNSIGNED and BIT(64) are ``decimal(20,0)``,
  since they outgrow a signed 64-bit integer.
* **Bulk reads as text.** ``read_text`` (through mysqlclient or pymysql) hands out the
  server's own text of each value, and can have the server write chosen columns of each
  row as one line of COPY text: a copy then turns no value of those columns into a Python
  object. mysqlclient (``mysql+mysqldb://``) reads about three times faster than pymysql;
  both work.
* **Change stream**: the row-based binary log (``legacy_connectors.binlog``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import date
from importlib import import_module
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import types as sa_types
from sqlalchemy.dialects import mysql

from domain.errors import PlanError
from legacy_connectors.base import ROW_HASH, ChangeStream, Column, Key, ReadStats, TextBatch
from legacy_connectors.canonical import FOLD_HEX_DIGITS
from legacy_connectors.sql.pushdown import NULL_MARK, PushDownSource
from legacy_connectors.sql.source import Classified, ColumnKind, SourceTable, classify

# Errors that mean the query itself is wrong (unknown column, table, database, bad
# syntax): the plan must change, retrying will not help.
_BAD_QUERY = {1044, 1049, 1054, 1064, 1146, 1149}

_UNSIGNED_64 = Column("", "decimal(20,0)", precision=20, scale=0)
"""Where an unsigned 64-bit integer goes: PostgreSQL's bigint stops at 2**63 - 1."""


class _Duration(mysql.TIME):
    """MariaDB's TIME as the driver reads it: a ``timedelta`` (-838:59:59 to 838:59:59).

    SQLAlchemy's own TIME turns the timedelta into a time of day, silently wrapping a
    negative or longer value ('838:59:59' became 22:59:59).
    """

    cache_ok = True

    def result_processor(self, dialect: Any, coltype: object) -> None:  # type: ignore[override]
        return None  # the driver's timedelta as it is


class MysqlSource(PushDownSource):
    """A MariaDB or MySQL legacy database (``mysql+pymysql://``, ``mysql+mysqldb://``)."""

    backends = ("mysql", "mariadb")
    char_padded = False
    zero_dates = True
    read_only_statements = (
        "SET SESSION TRANSACTION READ ONLY",
        # A copy writes each batch to the target while the stream waits; the server must
        # not give up on a slow reader (its default is 60 s).
        "SET SESSION net_write_timeout = 3600",
    )
    integer_divide: ClassVar[str] = "DIV"

    def _connect_args(self) -> dict[str, Any]:
        connect_args: dict[str, Any] = {"connect_timeout": self.connect_timeout_s}
        if "charset" not in self.url.query:
            connect_args["charset"] = "utf8mb4"
        if self.url.get_driver_name() == "mysqldb":
            connect_args["conv"] = _mysqldb_conversions()
        return connect_args

    def _rejects_query(self, code: Any) -> bool:
        return code in _BAD_QUERY  # pymysql raises these as OperationalError

    def change_stream(self, *, slot: str | None = None) -> ChangeStream | None:
        """The row-based binlog (``base.ChangeStreamSource``); ``slot`` is PostgreSQL's."""
        # imported here: only sources with a stream need it
        from legacy_connectors.binlog import BinlogChangeStream

        return BinlogChangeStream(self)

    # --- types ------------------------------------------------------------------------

    def _adapt(self, column: sa.Column[Any]) -> None:
        if isinstance(column.type, mysql.TIME):
            column.type = _Duration(fsp=column.type.fsp)

    def _classify(self, name: str, sqltype: sa_types.TypeEngine[Any]) -> Classified:
        if isinstance(sqltype, mysql.BIT):
            wide = (sqltype.length or 1) >= 64
            column = replace(_UNSIGNED_64, name=name) if wide else Column(name, "integer")
            return ColumnKind(name, "bit"), column, False
        if isinstance(sqltype, mysql.YEAR):
            return ColumnKind(name, "year"), Column(name, "integer"), False
        if isinstance(sqltype, sa_types.BigInteger) and getattr(sqltype, "unsigned", False):
            return ColumnKind(name, "integer"), replace(_UNSIGNED_64, name=name), False
        if isinstance(sqltype, _Duration):
            return ColumnKind(name, "interval"), Column(name, "interval"), False
        return classify(name, sqltype)

    # --- reading as text ---------------------------------------------------------------

    @property
    def reads_text(self) -> bool:
        """Whether ``read_text`` works here (``base.TextReader``): through mysqlclient or
        pymysql."""
        return self.url.get_driver_name() in ("mysqldb", "pymysql")

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

    def _line_sql(self, t: SourceTable, columns: Sequence[str]) -> str:
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

    # --- checksums --------------------------------------------------------------------

    def _value_sql(self, kind: ColumnKind) -> str:
        x, text = self._quote(kind.name), self._text_sql(kind)
        null = f"{x} IS NULL"
        if kind.kind in ("date", "datetime"):
            null += f" OR {self._zero_date_sql(x)}"
        return f"CASE WHEN {null} THEN '~' ELSE CONCAT(CHAR_LENGTH({text}), ':', {text}) END"

    def _lean_text_sql(self, kind: ColumnKind) -> str:
        x, text = self._quote(kind.name), self._text_sql(kind)
        if kind.kind in ("date", "datetime"):
            # A zero date is no date: like NULL, as this source reads it.
            text = f"CASE WHEN {self._zero_date_sql(x)} THEN NULL ELSE {text} END"
        return f"COALESCE({text}, {self._char_sql(NULL_MARK)})"

    def _text_sql(self, kind: ColumnKind) -> str:
        """A value's canonical text (``canonical``'s rules), as MariaDB spells it."""
        x = self._quote(kind.name)
        return {
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

    @staticmethod
    def _zero_date_sql(x: str) -> str:
        return f"YEAR({x}) = 0 OR MONTH({x}) = 0 OR DAYOFMONTH({x}) = 0"

    def _char_sql(self, code: int) -> str:
        return f"CHAR({code})"

    def _md5_fold_sql(self, md5: str) -> str:
        return f"CAST(CONV(SUBSTRING({md5}, 1, {FOLD_HEX_DIGITS}), 16, 10) AS UNSIGNED)"


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

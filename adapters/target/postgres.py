"""PostgreSQL as the target store, through psycopg 3.

Tables are created from the mapper's target columns (``adapters.mapping.RowMapper``), or an
existing table is checked against them. A batch goes in with ``COPY`` into a temporary
staging table, then one ``INSERT … ON CONFLICT (key) DO UPDATE``: COPY is about ten times
faster than batched INSERTs here (MEASURED.md), and the upsert makes a batch that runs
again (a retried activity) leave exactly one row per key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.adapt import PyFormat, Transformer

from domain.errors import DatabaseError, LegacyReadError, PlanError
from legacy_connectors.base import Column, Key

if TYPE_CHECKING:
    from adapters.mapping import MappedBatch

_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")
_MAX_NUMERIC_PRECISION = 1000
_SIMPLE_TYPES = {
    "text": "text",
    "integer": "bigint",
    "float": "double precision",
    "date": "date",
    "datetime": "timestamp",
    "time": "time",
    "interval": "interval",
    "boolean": "boolean",
    "bytes": "bytea",
    "decimal": "numeric",
}
# What an existing column may be for each of our types (information_schema.data_type).
_COMPATIBLE = {
    "text": {"text", "character varying", "character"},
    "integer": {"bigint", "integer", "smallint", "numeric"},
    "float": {"double precision", "real", "numeric"},
    "date": {"date"},
    "datetime": {"timestamp without time zone", "timestamp with time zone"},
    "time": {"time without time zone"},
    "interval": {"interval"},
    "boolean": {"boolean"},
    "bytes": {"bytea"},
    "decimal": {"numeric"},
}


def postgres_type(column: Column) -> str:
    """The PostgreSQL type for a portable column type: decimals stay exact (NUMERIC).

    Raises:
        PlanError: a portable type PostgreSQL has no column for here.
    """
    match = _DECIMAL.match(column.type)
    if match:
        precision, scale = int(match[1]), int(match[2])
        precision = min(max(precision, scale, 1), _MAX_NUMERIC_PRECISION)
        return f"numeric({precision},{scale})"
    try:
        return _SIMPLE_TYPES[column.type]
    except KeyError:
        raise PlanError(f"column {column.name}: no PostgreSQL type for {column.type!r}") from None


def _libpq_url(url: str) -> str:
    # Plans spell SQLAlchemy URLs (postgresql+psycopg://); libpq knows postgresql://.
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def open_target(target: Any, *, connect_timeout_s: int = 10) -> PostgresTarget:
    """Connect to the target a plan's ``target`` section names.

    Raises:
        PlanError: not a PostgreSQL URL.
        DatabaseError: the database cannot be reached.
    """
    url = str(target.url)
    if not url.startswith(("postgresql://", "postgresql+", "postgres://")):
        raise PlanError("the target must be PostgreSQL (postgresql+psycopg://...)")
    store = PostgresTarget(url, target.db_schema or "public", connect_timeout_s=connect_timeout_s)
    store.open()
    return store


class PostgresTarget:
    """One connection to the target database, and the tables of one schema in it."""

    def __init__(self, url: str, schema: str, *, connect_timeout_s: int = 10) -> None:
        self.url = _libpq_url(url)
        self.schema = schema
        self.connect_timeout_s = connect_timeout_s
        self._conn: psycopg.Connection[Any] | None = None

    def open(self) -> None:
        """Connect. Idempotent.

        Raises:
            DatabaseError: the database cannot be reached.
        """
        if self._conn is not None and not self._conn.closed:
            return
        try:
            self._conn = psycopg.connect(self.url, connect_timeout=self.connect_timeout_s)
        except psycopg.Error as e:
            raise DatabaseError(f"cannot reach the target database: {type(e).__name__}") from e

    def close(self) -> None:
        """Disconnect. Idempotent."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> PostgresTarget:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> psycopg.Connection[Any]:
        self.open()
        assert self._conn is not None
        return self._conn

    def _name(self, table: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(table))

    def prepare(self, table: str, columns: Sequence[Column], key: Sequence[str]) -> bool:
        """Create the table (and schema) from the target columns, or check the one there.

        Args:
            table: the target table.
            columns: the target columns (``RowMapper.target_columns``).
            key: the target key's columns; the table's primary key.

        Returns:
            True when the table was created, False when an existing one matched.

        Raises:
            PlanError: an existing table lacks a column, has an incompatible type, or an
                extra column that must be filled.
            DatabaseError: the database failed.
        """
        existing = self.columns(table)
        if existing:
            self._check(table, columns, existing)
            return False
        definitions = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(c.name),
                sql.SQL(postgres_type(c)),
                sql.SQL("" if c.nullable else " NOT NULL"),
            )
            for c in columns
        ]
        definitions.append(
            sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, key)))
        )
        statement = sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
            self._name(table), sql.SQL(", ").join(definitions)
        )
        with self._transaction() as cur:
            # Tables of one schema are prepared side by side; "IF NOT EXISTS" alone still
            # races in the catalogue, so creations in a schema take turns.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
            cur.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            cur.execute(statement)
        return True

    def columns(self, table: str) -> dict[str, tuple[str, int | None, int | None, bool]]:
        """An existing table's columns: name → (data type, precision, scale, nullable); empty
        when there is no such table."""
        with self._transaction() as cur:
            cur.execute(
                "SELECT column_name, data_type, numeric_precision, numeric_scale, is_nullable, "
                "column_default FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (self.schema, table),
            )
            rows = cur.fetchall()
        return {r[0]: (r[1], r[2], r[3], r[4] == "YES" or r[5] is not None) for r in rows}

    def problems(self, table: str, columns: Sequence[Column]) -> list[str]:
        """What keeps an existing table from taking these columns (empty: it fits, or there
        is no such table yet and ``prepare`` will create it)."""
        existing = self.columns(table)
        return self._problems(columns, existing) if existing else []

    def _check(
        self,
        table: str,
        columns: Sequence[Column],
        existing: dict[str, tuple[str, int | None, int | None, bool]],
    ) -> None:
        problems = self._problems(columns, existing)
        if problems:
            raise PlanError("; ".join(problems), where=f"target table {self.schema}.{table}")

    def _problems(
        self,
        columns: Sequence[Column],
        existing: dict[str, tuple[str, int | None, int | None, bool]],
    ) -> list[str]:
        problems = []
        for column in columns:
            found = existing.get(column.name)
            if found is None:
                problems.append(f"no column {column.name}")
                continue
            kind = "decimal" if column.type.startswith("decimal") else column.type
            data_type, _, scale, _ = found
            if data_type not in _COMPATIBLE.get(kind, set()):
                problems.append(f"{column.name} is {data_type}, the plan gives {column.type}")
            elif (
                kind == "decimal" and column.scale is not None and scale not in (None, column.scale)
            ):
                problems.append(f"{column.name} has scale {scale}, the plan gives {column.scale}")
        wanted = {c.name for c in columns}
        for name, (_, _, _, fillable) in existing.items():
            if name not in wanted and not fillable:
                problems.append(f"{name} is NOT NULL without a default and the plan fills it not")
        return problems

    def upsert(
        self, table: str, columns: Sequence[str], key: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> int:
        """Load rows idempotently: straight COPY when none of the keys is there yet (the
        usual case: a first copy), otherwise COPY into a staging table, then insert-or-update
        by key (a retried batch, a re-sync).

        Args:
            table: the target table.
            columns: the column names, in the order of each row's values.
            key: the key's columns (the table's primary key).
            rows: the values of each row.

        Returns:
            The number of rows loaded.

        Raises:
            LegacyReadError: a value PostgreSQL refuses (a NUL character in text, a number
                too large for its column), or two rows of the batch with one key.
            DatabaseError: the database failed in a way that may pass.
        """
        batch = rows if isinstance(rows, list) else list(rows)

        def write(copy: psycopg.Copy) -> None:
            for row in batch:
                copy.write_row(row)

        return self._load(table, columns, key, len(batch), write)

    def upsert_batch(self, table: str, key: Sequence[str], batch: MappedBatch) -> int:
        """``upsert`` of a batch mapped for a bulk load (``RowMapper.map_text``): the rows go
        to COPY as one block of its text format, the source database's lines as they are
        and the other columns built a column at a time.

        Args:
            table: the target table.
            key: the key's columns.
            batch: the rows, with their target columns (``MappedBatch.targets``).

        Returns:
            The number of rows loaded.

        Raises:
            LegacyReadError, DatabaseError: as ``upsert``.
        """
        names = [c.name for c in batch.targets]
        return self.load_text(table, names, key, batch.rows, self.copy_text(batch))

    def load_text(
        self, table: str, columns: Sequence[str], key: Sequence[str], rows: int, text: bytes
    ) -> int:
        """``upsert`` of rows already in COPY's text format (``copy_text``).

        Returns:
            ``rows``.

        Raises:
            LegacyReadError, DatabaseError: as ``upsert``.
        """
        return self._load(table, columns, key, rows, lambda copy: copy.write(text))

    def copy_text(self, batch: MappedBatch) -> bytes:
        """A mapped batch in COPY's text format, its columns in ``batch.targets`` order:
        fields split by tabs, ``\\N`` for NULL, backslash, tab, newline and carriage return
        escaped, bytea in hex. (No database work: another thread may build the next batch's
        while this connection loads one.)"""
        if batch.rows == 0:
            return b""
        fields: list[Sequence[bytes]] = [] if batch.lines is None else [batch.lines]
        dumpers: dict[type, Any] = {}
        transformer: Any = Transformer(self.conn)
        utf8 = self.conn.info.encoding == "utf-8"
        columns = batch.targets[len(batch.targets) - len(batch.columns) :]
        for column, values, is_text in zip(columns, batch.columns, batch.text, strict=True):
            if column.type == "bytes":
                # bytea's hex form, its backslash already doubled for COPY
                if not is_text:
                    values = [None if v is None else bytes(v) for v in values]
                fields.append([b"\\N" if v is None else b"\\\\x" + v.hex().encode()
                               for v in values])  # fmt: skip
                continue
            if not is_text:
                if utf8 and all(type(v) is str for v in values if v is not None):
                    values = [None if v is None else v.encode() for v in values]
                else:
                    values = [None if v is None else _dump(v, dumpers, transformer)
                              for v in values]  # fmt: skip
            # Only text can hold a tab, newline or backslash; numbers and dates cannot.
            fields.append(_copy_field(values, escape=column.type == "text"))
        if len(fields) == 1:
            return b"\n".join(fields[0]) + b"\n"
        return b"\n".join(map(b"\t".join, zip(*fields, strict=True))) + b"\n"

    def _load(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        count: int,
        write: Callable[[psycopg.Copy], None],
    ) -> int:
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        if self._copy_new(table, names, count, write):
            return count
        stage = sql.Identifier(f"_stage_{table}")
        others = [c for c in columns if c not in key]
        action: sql.Composable
        if others:
            action = sql.SQL("DO UPDATE SET {}").format(
                sql.SQL(", ").join(
                    sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                    for c in others
                )
            )
        else:
            action = sql.SQL("DO NOTHING")
        with self._transaction(table) as cur:
            cur.execute(
                sql.SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS"
                ).format(stage, self._name(table))
            )
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, names)) as copy:
                write(copy)
            cur.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) {}").format(
                    self._name(table),
                    names,
                    names,
                    stage,
                    sql.SQL(", ").join(map(sql.Identifier, key)),
                    action,
                )
            )
        return count

    def _copy_new(
        self,
        table: str,
        names: sql.Composable,
        count: int,
        write: Callable[[psycopg.Copy], None],
    ) -> bool:
        """COPY straight into the table, all or nothing; False when a key is already there.

        Half the database's work of the staging path: a first copy never conflicts.
        """
        if not count:
            return True
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(self._name(table), names)
        try:
            with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(statement) as copy:
                write(copy)
        except psycopg.errors.UniqueViolation:
            return False
        except psycopg.Error:
            # Anything else fails again on the staging path, which reports it properly.
            if self.conn.broken:
                self.conn.close()
            return False
        return True

    def delete_keys(self, table: str, key: Sequence[str], keys: Sequence[Key]) -> int:
        """Delete the rows with these keys (for a re-sync of keys the legacy side lacks).

        Returns:
            The number of rows deleted.
        """
        if not keys:
            return 0
        condition = sql.SQL("({}) = ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, key)),
            sql.SQL(", ").join(sql.Placeholder() for _ in key),
        )
        statement = sql.SQL("DELETE FROM {} WHERE {}").format(self._name(table), condition)
        deleted = 0
        with self._transaction(table) as cur:
            for values in keys:
                cur.execute(statement, tuple(values))
                deleted += cur.rowcount
        return deleted

    def count(self, table: str) -> int:
        """The table's row count."""
        with self._transaction(table) as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(self._name(table)))
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def rows(self, table: str, columns: Sequence[str], key: Sequence[str]) -> list[tuple[Any, ...]]:
        """Every row, ordered by key (for checks and tests on small tables)."""
        statement = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            self._name(table),
            sql.SQL(", ").join(map(sql.Identifier, key)),
        )
        with self._transaction(table) as cur:
            cur.execute(statement)
            return cur.fetchall()

    def _transaction(self, table: str | None = None) -> _Transaction:
        return _Transaction(self.conn, table or self.schema)


_COPY_SPECIAL = re.compile(rb"[\\\t\n\r]")
_COPY_SPECIALS = (b"\\", b"\t", b"\n", b"\r")


def _copy_field(values: Sequence[Any], *, escape: bool) -> Sequence[bytes]:
    """One column's values as COPY text fields. With ``escape``, a few scans of the whole
    column find whether any value needs escaping (most columns have none)."""
    joined = b"\x00".join(filter(None, values)) if escape else b""
    if any(special in joined for special in _COPY_SPECIALS):
        values = [
            None if v is None else (
                v.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")
                .replace(b"\r", b"\\r") if _COPY_SPECIAL.search(v) else v
            )
            for v in values
        ]  # fmt: skip
    if None in values:
        return [b"\\N" if v is None else v for v in values]
    return values


def _dump(value: Any, dumpers: dict[type, Any], transformer: Any) -> bytes:
    """A Python value in PostgreSQL's text form, as psycopg writes it in a COPY row."""
    dumper = dumpers.get(type(value))
    if dumper is None:
        dumper = dumpers[type(value)] = transformer.get_dumper(value, PyFormat.TEXT)
    return bytes(dumper.dump(value))


class _Transaction:
    """A cursor in a transaction that commits, or rolls back and turns psycopg's errors
    into ours: bad data is bad input (never retried), the rest may pass."""

    def __init__(self, conn: psycopg.Connection[Any], table: str) -> None:
        self.conn = conn
        self.table = table

    def __enter__(self) -> psycopg.Cursor[Any]:
        self._tx = self.conn.transaction()
        self._tx.__enter__()
        self._cur = self.conn.cursor()
        return self._cur

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._cur.close()
        try:
            self._tx.__exit__(exc_type, exc, tb)
        except psycopg.Error as e:
            exc = e
        if exc is None:
            return
        if isinstance(exc, psycopg.errors.CardinalityViolation):
            raise LegacyReadError(
                "two rows of one batch have the same key: the key is not unique", table=self.table
            ) from None
        if isinstance(exc, psycopg.errors.DataError | psycopg.errors.IntegrityError):
            # PostgreSQL's message and detail quote the value (personal data): it must not
            # reach logs or Temporal's history, so neither does the psycopg error itself.
            column = exc.diag.column_name
            raise LegacyReadError(
                f"the target refused a value ({type(exc).__name__}, SQLSTATE {exc.sqlstate}"
                f"{', column ' + column if column else ''})",
                table=self.table,
            ) from None
        if isinstance(exc, psycopg.errors.UndefinedTable):
            raise PlanError(
                "no such target table; run the copy's prepare step", where=self.table
            ) from exc
        if isinstance(exc, psycopg.Error):
            if self.conn.broken:
                self.conn.close()
            raise DatabaseError(f"target database: {type(exc).__name__}", where=self.table) from exc

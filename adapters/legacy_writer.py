"""Writing a legacy SQL database: the way back after the switch, and nothing else.

Legacy sources are read-only by design (``legacy_connectors.base``); once modern is the
system of record, reverse replication (``adapters.reverse_replication``) keeps legacy
current from modern's writes until the freeze, so that a rollback loses nothing. This is
the one writer it uses: SQLAlchemy Core on the plan's source URL, any dialect SQLAlchemy
has. File sources (copybook, csv, dbf, access) have no writer, and so no way back.

A row is written by its key: an UPDATE of the columns given (a column not given keeps its
value), or an INSERT when legacy has no row with that key; a key is deleted. One call of
``apply`` is one legacy transaction. Nothing here logs a row value.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from domain.errors import DatabaseError, PlanError
from legacy_connectors.base import Key, Row

__all__ = ["LegacyWriter", "TableWrites"]

_MYSQL = ("mysql", "mariadb")
_CHUNK = 500


@dataclass
class TableWrites:
    """What to write to one legacy table.

    Attributes:
        table: the legacy table; key: its key columns.
        rows: per key, the columns to write (the key's own columns are added).
        deletes: keys to delete.
    """

    table: str
    key: Sequence[str]
    rows: dict[Key, Row] = field(default_factory=dict)
    deletes: list[Key] = field(default_factory=list)


@dataclass
class WriteCounts:
    updated: int = 0
    inserted: int = 0
    deleted: int = 0


class LegacyWriter:
    """Writes rows into a legacy SQL database by key.

    Args:
        url: the plan's source URL (SQLAlchemy form).
        schema: the plan's source schema, if any.
        connect_timeout_s: how long a connection may take.
    """

    def __init__(self, url: str, *, schema: str | None = None, connect_timeout_s: int = 10) -> None:
        self.url = sa.make_url(url)
        self.schema = schema
        self.connect_timeout_s = connect_timeout_s
        self._engine: sa.Engine | None = None
        self._tables: dict[str, sa.Table] = {}

    def open(self) -> None:
        """Connect. Idempotent.

        Raises:
            DatabaseError: the legacy database cannot be reached.
        """
        if self._engine is not None:
            return
        args: dict[str, Any] = {}
        backend = self.url.get_backend_name()
        if backend in _MYSQL or backend == "postgresql":
            args["connect_timeout"] = self.connect_timeout_s
        if backend in _MYSQL and "charset" not in self.url.query:
            args["charset"] = "utf8mb4"
        engine = sa.create_engine(self.url, pool_pre_ping=True, connect_args=args)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa_exc.DBAPIError as e:
            engine.dispose()
            raise DatabaseError(f"cannot reach the legacy database: {type(e.orig).__name__}") from e
        self._engine = engine

    def close(self) -> None:
        """Release every connection. Idempotent."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> LegacyWriter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            raise RuntimeError("LegacyWriter.open() first")
        return self._engine

    def _table(self, name: str) -> sa.Table:
        table = self._tables.get(name)
        if table is None:
            try:
                table = sa.Table(name, sa.MetaData(schema=self.schema), autoload_with=self.engine)
            except sa_exc.NoSuchTableError:
                raise PlanError(f"the legacy database has no table {name!r}") from None
            except sa_exc.DBAPIError as e:
                raise DatabaseError(
                    f"cannot read legacy table {name}: {type(e.orig).__name__}"
                ) from e
            self._tables[name] = table
        return table

    def apply(self, writes: Sequence[TableWrites]) -> WriteCounts:
        """Write every table's rows and deletes in one legacy transaction.

        Raises:
            DatabaseError: the database refused or could not be reached (nothing written).
            PlanError: a table or column legacy does not have.
        """
        counts = WriteCounts()
        try:
            with self.engine.begin() as conn:
                for table_writes in writes:
                    self._apply_table(conn, table_writes, counts)
        except sa_exc.DBAPIError as e:
            raise DatabaseError(
                f"legacy refused the way back's writes: {type(e.orig).__name__}"
            ) from e
        return counts

    def _apply_table(self, conn: sa.Connection, writes: TableWrites, counts: WriteCounts) -> None:
        table = self._table(writes.table)
        unknown = {n for row in writes.rows.values() for n in row} - set(table.columns.keys())
        if unknown:
            raise PlanError(f"legacy table {writes.table} has no column {sorted(unknown)[0]}")
        key_columns = [table.columns[name] for name in writes.key]
        for chunk in _chunks(writes.deletes):
            result = conn.execute(sa.delete(table).where(_matching(key_columns, chunk)))
            counts.deleted += max(result.rowcount, 0)
        for key, row in writes.rows.items():
            match = sa.and_(*[c == v for c, v in zip(key_columns, key, strict=True)])
            values = {n: v for n, v in row.items() if n not in writes.key}
            # The database says whether the key is there (its collation decides, not ours).
            if values:
                there = conn.execute(sa.update(table).where(match).values(values)).rowcount > 0
            else:
                there = (
                    conn.execute(
                        sa.select(sa.func.count()).select_from(table).where(match)
                    ).scalar_one()
                    > 0
                )
            if there:
                counts.updated += 1
            else:
                conn.execute(
                    sa.insert(table).values({**row, **dict(zip(writes.key, key, strict=True))})
                )
                counts.inserted += 1


def _chunks(keys: Sequence[Key]) -> Iterator[Sequence[Key]]:
    for start in range(0, len(keys), _CHUNK):
        yield keys[start : start + _CHUNK]


def _matching(key_columns: Sequence[sa.Column[Any]], keys: Sequence[Key]) -> sa.ColumnElement[bool]:
    if len(key_columns) == 1:
        return key_columns[0].in_([key[0] for key in keys])
    return sa.or_(
        *[sa.and_(*[c == v for c, v in zip(key_columns, key, strict=True)]) for key in keys]
    )

"""Checksums pushed down: engines (MariaDB/MySQL, PostgreSQL) that compute the per-row md5
of the canonical form (``legacy_connectors.canonical``) and its sums themselves, so that
only keys and one number per segment or bucket cross the network. A subclass spells each
column's text in its SQL; the folds and queries are the same on every engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from legacy_connectors.base import Key
from legacy_connectors.canonical import CHECKSUM_MODULUS
from legacy_connectors.sql.source import ColumnKind, SourceTable, SqlSource

_RANGES_PER_QUERY = 400
"""Key ranges per ``bucket_checksums`` query (each one an OR'ed condition)."""
NULL_MARK = 30  # ASCII record separator: stands for NULL in a lean fold
_COLUMN_MARK = 31  # ASCII unit separator: between columns in a lean fold


class PushDownSource(SqlSource, ABC):
    """A SQL source whose database hashes rows (``base.ChecksumPushDown``); ``_row_hash``
    keys then work too. Subclasses say how their SQL spells each column's text."""

    integer_divide: ClassVar[str] = "/"
    """The engine's integer division operator."""

    @abstractmethod
    def _value_sql(self, kind: ColumnKind) -> str:
        """The canonical form of one column, spelt for this engine (never NULL)."""

    @abstractmethod
    def _lean_text_sql(self, kind: ColumnKind) -> str:
        """One column's text for ``bucket_checksums``, as every engine here spells it alike
        (``canonical``'s rules, without the length prefix); NULL and zero dates as the
        NULL mark."""

    @abstractmethod
    def _char_sql(self, code: int) -> str:
        """The character of this ASCII code, spelt for this engine."""

    @abstractmethod
    def _md5_fold_sql(self, md5: str) -> str:
        """The first ``FOLD_HEX_DIGITS`` hex digits of ``md5`` as an integer, in SQL."""

    def _row_md5_sql(self, t: SourceTable, columns: Sequence[str]) -> str:
        parts = ", ".join(self._value_sql(t.kinds[c]) for c in columns)
        return f"md5(concat_ws('|', {parts}))"

    def _lean_fold_sql(self, t: SourceTable, columns: Sequence[str]) -> str:
        """A row's fold for ``bucket_checksums``: 60 bits of the md5 of its columns' lean
        texts. Leaner than the canonical fold (no length prefixes, no CASE per column): the
        whole-table pass hashes every row on both sides, and this halves its cost. Texts are
        joined by a control character, and NULL is another, so neither is ambiguous for any
        ordinary data."""
        parts = ", ".join(self._lean_text_sql(t.kinds[c]) for c in columns)
        return self._md5_fold_sql(f"md5(concat_ws({self._char_sql(_COLUMN_MARK)}, {parts}))")

    def _segment(
        self,
        t: SourceTable,
        columns: Sequence[str],
        conditions: list[sa.ColumnElement[bool]],
        table: str,
    ) -> tuple[int, int]:
        """One key range's rows and checksum, both computed by the database."""
        fold: sa.ColumnElement[Any] = sa.literal_column(
            self._md5_fold_sql(self._row_md5_sql(t, columns))
        )
        stmt = sa.select(sa.func.count(), sa.func.sum(fold)).select_from(t.table).where(*conditions)
        try:
            with self.engine.connect() as conn:
                rows, total = conn.execute(stmt).one()
        except sa_exc.DBAPIError as e:
            raise self._error(e, table, "computing checksums") from e
        return int(rows), int(total or 0) % CHECKSUM_MODULUS

    def row_hashes(
        self, table: str, key: Sequence[str], columns: Sequence[str], *, batch_rows: int = 10_000
    ) -> Iterator[tuple[Key, str]]:
        """Every row's key and the md5 (hex) of its ``columns``' canonical form
        (``legacy_connectors.canonical.row_md5``), in key order, computed by the database:
        only keys and hashes cross the network.

        Raises:
            PlanError: no such table or column.
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
            PlanError: no such table or column.
            DatabaseError: the connection was lost.
        """
        t = self._table(table)
        (column,) = self._columns(t, [key])
        self._columns(t, columns)
        # origin and width are integers of ours, never text from outside: safe to spell out.
        bucket = sa.literal_column(
            f"(({self._quote(key)} - {int(origin)}) {self.integer_divide} {int(width)})",
            sa.BigInteger(),
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

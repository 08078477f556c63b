"""The one read-only interface every legacy source implements.

Migration (copy), reconciliation and the matching of digitised forms against legacy
records all read old systems through ``LegacySource``. Values come out as Python types
with no silent change: ``Decimal`` for money and packed decimals, ``date``/``datetime``
(naive, as stored), ``str`` decoded with the declared code page, ``bytes`` for binary.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Key = tuple[Any, ...]
"""A row's key values, in the order of the key's columns."""

Row = dict[str, Any]
"""One row: column name to value, columns in the order ``describe()`` gives."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a portable name: text, integer, decimal(p,s), date, datetime, boolean, bytes, float
    nullable: bool = True
    length: int | None = None
    precision: int | None = None
    scale: int | None = None


@dataclass(frozen=True)
class TableInfo:
    """A table, or a record layout (copybook), or a file (csv, dbf)."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] | None = None  # the key the source declares, if it declares one
    row_count_hint: int | None = None

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


@dataclass(frozen=True)
class SegmentChecksum:
    """One key range's row count and order-independent checksum."""

    lower: Key | None  # inclusive; None for the start of the table
    upper: Key | None  # exclusive; None for the end of the table
    rows: int
    checksum: int


@dataclass
class SkippedRecord:
    """A record a source could not decode and, as the plan allowed, set aside."""

    table: str
    record_number: int
    byte_offset: int | None
    reason: str
    raw: bytes | None = None


@dataclass
class ReadStats:
    """What a read did, including what it skipped: nothing is dropped silently."""

    rows: int = 0
    skipped: list[SkippedRecord] = field(default_factory=list)
    deleted_skipped: int = 0  # dBase/Access rows marked deleted
    # Dates the source holds as "no date" placeholders (MariaDB's 0000-00-00, a month or day
    # of 0): read as None and counted per column, so a report can show them.
    zero_dates: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StartsWith:
    """A blocking value for ``candidates``: the column's text starts with ``prefix``."""

    prefix: str


@dataclass(frozen=True)
class InYear:
    """A blocking value for ``candidates``: the column's date falls in ``year``."""

    year: int


RECORD_NUMBER = "_record"
"""Pseudo-key of file sources: the 1-based record number, i.e. the file's own order."""

ROW_HASH = "_row_hash"
"""Pseudo-key of SQL tables without a usable key: the md5 of the row's canonical form."""


@runtime_checkable
class LegacySource(Protocol):
    """A read-only legacy system. Nothing in a source writes to the legacy system."""

    def open(self) -> None:
        """Connect or open files. Idempotent."""

    def close(self) -> None:
        """Release connections and files. Idempotent."""

    def describe(self) -> Sequence[TableInfo]:
        """Tables (or record types) with columns, types, nullability and declared keys."""
        ...

    def count(self, table: str, where: str | None = None) -> int: ...

    def key_bounds(self, table: str, key: Sequence[str]) -> tuple[Key, Key] | None:
        """The smallest and largest key, or None for an empty table."""
        ...

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
        """Rows ordered by ``key`` in batches, strictly after ``after`` and up to and
        including ``upto``; memory bounded by the batch, never the table."""
        ...

    def segment_checksums(
        self, table: str, key: Sequence[str], columns: Sequence[str], segments: int
    ) -> list[SegmentChecksum]:
        """Per key range, a row count and an order-independent checksum; computed inside
        the source where it can (SQL), streamed where it cannot."""
        ...

    def lookup(self, table: str, key: Sequence[str], keys: Sequence[Key]) -> dict[Key, Row]:
        """The rows with these keys (missing ones are absent from the result)."""
        ...

    def candidates(self, table: str, blocking: Mapping[str, Any], *, limit: int = 50) -> list[Row]:
        """Rows that share the blocking values (e.g. postcode, or surname's first letter
        and year of birth) for fuzzy matching of people."""
        ...

"""The one read-only interface every legacy source implements.

Migration (copy), reconciliation and the matching of digitised forms against legacy
records all read old systems through ``LegacySource``. Values come out as Python types
with no silent change: ``Decimal`` for money and packed decimals, ``date``/``datetime``
(naive, as stored), ``str`` decoded with the declared code page, ``bytes`` for binary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
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


# --- what some sources can do besides -------------------------------------------------
# Ask a source with isinstance(source, Protocol) what it can do, never what class it is.


@runtime_checkable
class OneTableSource(Protocol):
    """A source that describes one table without looking at the others."""

    def table_info(self, name: str) -> TableInfo:
        """``describe`` for one table.

        Raises:
            PlanError: there is no such table.
        """
        ...


@runtime_checkable
class ChangedSinceSource(Protocol):
    """A source that reads the rows changed since a time, by a column that holds each
    row's last change (the plan's ``updated_at``): a catch-up re-copies only those."""

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
        """The rows ``read`` gives whose ``column`` is at or after ``since``."""
        ...


@runtime_checkable
class RepeatedKeysSource(Protocol):
    """A source that finds repeated key values itself, without streaming the rows."""

    def repeated_keys(
        self, table: str, key: Sequence[str], *, examples: int
    ) -> tuple[int, list[Key]]:
        """How many values of ``key`` more than one row has, and up to ``examples`` of
        them."""
        ...


@runtime_checkable
class ChecksumPushDown(Protocol):
    """A source whose database hashes rows itself, so that only keys and sums cross the
    network. Two such sources compute the same numbers for the same values, and
    ``ROW_HASH`` is a key they can read by."""

    def row_hashes(
        self, table: str, key: Sequence[str], columns: Sequence[str], *, batch_rows: int = 10_000
    ) -> Iterator[tuple[Key, str]]:
        """Every row's key and the md5 (hex) of its ``columns``' canonical form
        (``canonical.row_md5``), in key order."""
        ...

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
        the keys in ``ranges`` (each ``[start, end)``). The checksum is comparable with
        another ``ChecksumPushDown`` source's, never with Python's."""
        ...


@runtime_checkable
class TextReader(Protocol):
    """A source that can hand rows out as its database prints them (``TextBatch``), for
    bulk copies that turn no value into a Python object."""

    @property
    def reads_text(self) -> bool:
        """Whether ``read_text`` works here (a driver may not allow it)."""
        ...

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
        """The rows ``read`` gives, as text; ``lines``: columns the database writes as one
        line of COPY text per row (``TextBatch.lines``)."""
        ...


@dataclass
class TextBatch:
    """Rows of one ``TextReader.read_text``, column by column, as the database prints them.

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


# --- change streams ----------------------------------------------------------------------


@dataclass(frozen=True)
class BinlogPosition:
    """A place in a MariaDB/MySQL binary log: just after one transaction's commit.

    Attributes:
        file: the binlog file's name (``binlog.000042``).
        offset: the byte offset in it where the next transaction starts.
        gtid: the committed transaction's GTID (MariaDB ``domain-server-seq``), when known;
            informative: a stream resumes from ``file`` and ``offset``.
    """

    file: str
    offset: int
    gtid: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form; ``position_from_json`` reads it back."""
        return {"kind": "binlog", "file": self.file, "offset": self.offset, "gtid": self.gtid}

    def __str__(self) -> str:
        return f"{self.file}:{self.offset}"

    def __lt__(self, other: BinlogPosition) -> bool:
        return (self.file, self.offset) < (other.file, other.offset)


@dataclass(frozen=True)
class PostgresLsn:
    """A place in PostgreSQL's write-ahead log: a log sequence number (``16/B374D848``)."""

    lsn: int

    @classmethod
    def parse(cls, text: str) -> PostgresLsn:
        """Read PostgreSQL's ``hi/lo`` spelling of an LSN."""
        high, _, low = text.partition("/")
        return cls((int(high, 16) << 32) + int(low, 16))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form; ``position_from_json`` reads it back."""
        return {"kind": "lsn", "lsn": str(self)}

    def __str__(self) -> str:
        return f"{self.lsn >> 32:X}/{self.lsn & 0xFFFFFFFF:X}"

    def __lt__(self, other: PostgresLsn) -> bool:
        return self.lsn < other.lsn


StreamPosition = BinlogPosition | PostgresLsn
"""Where a change stream is: after the last transaction it has given out."""


def position_from_json(data: Mapping[str, Any] | str) -> StreamPosition:
    """A position from its ``to_json`` form, or from its text (``file:offset``, ``hi/lo``).

    Raises:
        ValueError: not a position.
    """
    if isinstance(data, str):
        if "/" in data and ":" not in data:
            return PostgresLsn.parse(data)
        file, sep, offset = data.rpartition(":")
        if not sep or not offset.isdigit():
            raise ValueError(f"not a stream position: {data!r}")
        return BinlogPosition(file, int(offset))
    kind = data.get("kind")
    if kind == "binlog":
        return BinlogPosition(str(data["file"]), int(data["offset"]), data.get("gtid"))
    if kind == "lsn":
        return PostgresLsn.parse(str(data["lsn"]))
    raise ValueError(f"not a stream position: kind {kind!r}")


@dataclass(frozen=True)
class RowChange:
    """One row's change, as its transaction committed it.

    Attributes:
        op: ``insert``, ``update`` or ``delete``.
        table: the source table.
        key: the row's key values (the key the reader was given), after the change; for a
            delete, before it.
        row: the row after the change (for a delete: before it), valued as ``read`` gives.
        before: an update's row before the change (None for inserts and deletes). Its key
            may differ from ``key``: an update can change a key.
        position: the stream's position just after this change's transaction committed.
        committed_at: when the transaction committed (aware, UTC).
    """

    op: str
    table: str
    key: Key
    row: Row
    position: StreamPosition
    committed_at: datetime
    before: Row | None = None


@dataclass(frozen=True)
class CommittedTransaction:
    """One committed transaction of a change stream: its changes to the tables asked for
    (possibly none: the position still moves on), in the order it made them.

    Attributes:
        position: the stream's position just after the commit: where to resume.
        committed_at: when it committed (aware, UTC).
        changes: its row changes, in order.
    """

    position: StreamPosition
    committed_at: datetime
    changes: tuple[RowChange, ...] = ()


@runtime_checkable
class ChangeStream(Protocol):
    """A source's log of committed changes (MariaDB binlog, PostgreSQL logical decoding).

    Read-only like the source: reading never changes the legacy data (a PostgreSQL slot's
    position is moved only by ``confirm``).
    """

    def head(self) -> StreamPosition:
        """The position after the newest committed transaction."""
        ...

    def start(self) -> StreamPosition:
        """Make the stream ready to be read from now on (PostgreSQL: its slot), and the
        position to read from: taken before a copy begins, every change the copy misses
        comes after it. Idempotent."""
        ...

    def changes(
        self,
        tables: Mapping[str, Sequence[str]],
        after: StreamPosition,
        *,
        max_changes: int | None = None,
    ) -> Iterator[CommittedTransaction]:
        """Committed transactions after ``after``, in commit order, up to the head as it was
        when reading began (or a little past it), with only the changes of ``tables``
        (table name -> key columns). Stops after the transaction that reaches
        ``max_changes`` changes. A transaction is never split.

        Raises:
            DatabaseError: the connection was lost (retryable).
            PlanError: the position is no longer in the log (expired: copy again), or the
                stream is not enabled (``problems`` says what to change).
        """
        ...

    def confirm(self, position: StreamPosition) -> None:
        """Say that everything up to ``position`` is safely applied (a PostgreSQL slot then
        frees its WAL; a binlog needs nothing)."""
        ...

    def stop(self) -> None:
        """Release what the server keeps for the stream (a PostgreSQL slot, which holds
        WAL until it is dropped): the stream cannot resume afterwards. Idempotent."""
        ...

    def problems(self) -> list[str]:
        """What keeps the stream from working, one clear line each (empty: ready)."""
        ...

    def close(self) -> None:
        """Release connections. Idempotent."""
        ...


@runtime_checkable
class ChangeStreamSource(Protocol):
    """A source that may have a change stream (ask it; do not check its class)."""

    def change_stream(self, *, slot: str | None = None) -> ChangeStream | None:
        """The source's change stream, or None when its engine has none (or, for
        PostgreSQL, when no ``slot`` is named: ``pg_logical.create_slot`` makes one)."""
        ...

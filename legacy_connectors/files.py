"""What every file source (csv, dbf, access) shares: keys, order, checksums, look-ups.

A file has no index and no query engine, so a file source only has to say how to
stream its records in file order (``_records``); this base answers the rest of
``LegacySource`` from that stream:

* Key ``[RECORD_NUMBER]`` (``_record``, the 1-based record number) follows the file's own
  order and streams with no sorting; rows then carry ``_record`` as an extra last entry
  so a copy can resume after it. This is the default key of a file.
* Any other key sorts, whatever order the file is in: ``legacy_connectors.key_order``
  sorts in runs spilled to temporary files and merged, so memory stays bounded by a run,
  never the file. A read of a key range sorts only the records in that range. A key that
  repeats is an error naming both records, since rows with the same key could not be told
  apart by a copy or a reconciliation; ``lookup`` reports one among the keys it is asked
  for the same way.
* ``segment_checksums`` streams in key order and computes ``legacy_connectors.canonical``
  checksums, identical to the ones the SQL source computes in the database.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from domain.errors import LegacyReadError, PlanError
from legacy_connectors.base import (
    RECORD_NUMBER,
    InYear,
    Key,
    ReadStats,
    Row,
    SegmentChecksum,
    StartsWith,
    TableInfo,
)
from legacy_connectors.canonical import CHECKSUM_MODULUS, row_fold
from legacy_connectors.key_order import KeySort, Order, RepeatedKey, key_of_order
from legacy_connectors.key_order import key_order as _order


class FileSource(ABC):
    """Base of the file sources. Subclasses give ``describe`` and ``_records``."""

    kind = "file"

    @abstractmethod
    def describe(self) -> Sequence[TableInfo]:
        """Tables (files, or tables inside a file) with their columns."""

    @abstractmethod
    def _records(self, table: str, stats: ReadStats | None) -> Iterator[tuple[int, Row]]:
        """Every live record of ``table`` in file order, as (record number, row).

        Deleted and quarantined records are counted in ``stats`` and not yielded.
        """

    def open(self) -> None:  # noqa: B027 - a file source may have nothing to open
        """Nothing to connect to; files are opened per read. Idempotent."""

    def close(self) -> None:  # noqa: B027
        """Nothing is held between reads. Idempotent."""

    def __enter__(self) -> FileSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def table_info(self, table: str) -> TableInfo:
        """The description of one table.

        Raises:
            PlanError: the source has no such table.
        """
        tables = self.describe()
        for info in tables:
            if info.name == table:
                return info
        known = ", ".join(t.name for t in tables)
        raise PlanError(f"the {self.kind} source has no table {table!r}; it has {known}")

    # --- LegacySource -----------------------------------------------------------------

    def count(self, table: str, where: str | None = None) -> int:
        """Live records of the table (deleted and quarantined ones excluded)."""
        if where:
            raise PlanError(f"`where` is for sql sources; a {self.kind} file cannot filter")
        return sum(1 for _ in self._records(table, None))

    def key_bounds(self, table: str, key: Sequence[str]) -> tuple[Key, Key] | None:
        """The smallest and largest key, or None for an empty table."""
        self._check_key(table, key)
        low: Key | None = None
        high: Key | None = None
        for number, row in self._records(table, None):
            k = _key_of(row, number, key)
            if low is None or _order(k) < _order(low):
                low = k
            if high is None or _order(k) > _order(high):
                high = k
        if low is None or high is None:
            return None
        return low, high

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
        """Rows ordered by ``key`` in batches, strictly after ``after``, up to ``upto``.

        Raises:
            LegacyReadError: a record does not decode (and the plan does not quarantine),
                the file is truncated, or the key repeats.
        """
        self._check_key(table, key)
        low = None if after is None else _order(tuple(after))
        high = None if upto is None else _order(tuple(upto))
        batch: list[Row] = []
        for _k, row in self._ordered(table, key, stats, low=low, high=high):
            batch.append(row)
            if len(batch) >= batch_rows:
                if stats is not None:
                    stats.rows += len(batch)
                yield batch
                batch = []
        if batch:
            if stats is not None:
                stats.rows += len(batch)
            yield batch

    def segment_checksums(
        self, table: str, key: Sequence[str], columns: Sequence[str], segments: int
    ) -> list[SegmentChecksum]:
        """Rows and checksum per key range, streamed (see ``legacy_connectors.canonical``)."""
        info = self.table_info(table)
        for name in columns:
            info.column(name)
        scales = [info.column(c).scale for c in columns]
        total = self.count(table)
        if total == 0:
            return []
        step = max(1, math.ceil(total / max(1, segments)))
        out: list[SegmentChecksum] = []
        lower: Key | None = None
        rows = 0
        fold = 0
        for k, row in self._ordered(table, key, None):
            if rows == step:
                out.append(SegmentChecksum(lower, k, rows, fold % CHECKSUM_MODULUS))
                lower, rows, fold = k, 0, 0
            rows += 1
            fold += row_fold([row[c] for c in columns], scales)
        out.append(SegmentChecksum(lower, None, rows, fold % CHECKSUM_MODULUS))
        return out

    def lookup(self, table: str, key: Sequence[str], keys: Sequence[Key]) -> dict[Key, Row]:
        """The rows with these keys (one pass over the file)."""
        self._check_key(table, key)
        wanted = {tuple(k) for k in keys}
        found: dict[Key, Row] = {}
        numbers: dict[Key, int] = {}
        for number, row in self._records(table, None):
            k = _key_of(row, number, key)
            if k in wanted:
                if k in found:
                    raise _repeated(table, key, numbers[k], number)
                found[k] = row
                numbers[k] = number
        return found

    def candidates(self, table: str, blocking: Mapping[str, Any], *, limit: int = 50) -> list[Row]:
        """Rows sharing the blocking values: equality, ``StartsWith`` or ``InYear``."""
        info = self.table_info(table)
        for name in blocking:
            info.column(name)
        out: list[Row] = []
        for _number, row in self._records(table, None):
            if all(_matches(row.get(name), value) for name, value in blocking.items()):
                out.append(row)
                if len(out) >= limit:
                    break
        return out

    # --- order ------------------------------------------------------------------------

    def _check_key(self, table: str, key: Sequence[str]) -> None:
        if not key:
            raise PlanError("a key needs at least one column")
        info = self.table_info(table)
        if list(key) == [RECORD_NUMBER]:
            return
        for name in key:
            if name == RECORD_NUMBER:
                raise PlanError(f"{RECORD_NUMBER} is a key on its own, not part of one")
            try:
                info.column(name)
            except KeyError:
                raise PlanError(f"table {table!r} has no column {name!r}") from None

    def _ordered(
        self,
        table: str,
        key: Sequence[str],
        stats: ReadStats | None,
        *,
        low: Order | None = None,
        high: Order | None = None,
    ) -> Iterator[tuple[Key, Row]]:
        """(key, row) in key order, strictly after ``low`` and up to ``high``; rows keyed
        by record number carry ``_record``.

        Only the records in range are sorted.
        """
        if list(key) == [RECORD_NUMBER]:
            first = key_of_order(low)[0] if low is not None else None
            last = key_of_order(high)[0] if high is not None else None
            for number, row in self._records(table, stats):
                if first is not None and number <= first:
                    continue
                if last is not None and number > last:
                    return  # file order: nothing later can be in range
                row[RECORD_NUMBER] = number
                yield (number,), row
            return
        with KeySort() as sort:
            for number, row in self._records(table, stats):
                order = _order(_key_of(row, number, key))
                if (low is None or order > low) and (high is None or order <= high):
                    sort.add(order, number, row)
            try:
                for order, _number, row in sort.merged():
                    yield key_of_order(order), row
            except RepeatedKey as e:
                raise _repeated(table, key, e.first[1], e.second[1]) from None


def _repeated(table: str, key: Sequence[str], first: int, second: int) -> LegacyReadError:
    # The key's value is not in the message: keys are often personal (NI numbers).
    return LegacyReadError(
        f"key {', '.join(key)} repeats: record {first} has the same key",
        table=table,
        record=second,
    )


def _key_of(row: Row, number: int, key: Sequence[str]) -> Key:
    if key[0] == RECORD_NUMBER:
        return (number,)
    return tuple(row[k] for k in key)


def _matches(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, StartsWith):
        return isinstance(actual, str) and actual.casefold().startswith(wanted.prefix.casefold())
    if isinstance(wanted, InYear):
        return isinstance(actual, date | datetime) and actual.year == wanted.year
    return bool(actual == wanted)

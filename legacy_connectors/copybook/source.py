"""``LegacySource`` over a mainframe data file described by a COBOL copybook.

Tables: one per 01 record, or, in a multi-segment file, one per layout the ``segments``
option names (a 01 record or a REDEFINES view; a record whose segment field names no
layout is a bad record, never silently passed over). Every table starts with the
``_record`` column: the 1-based position of the record in the file, counting records of
every segment. It is the table's declared key.

Order and resumption: a file has no index. Read by ``_record`` (the file's own order) a
table streams and resumes after any record cheaply (fixed-length files seek straight to
it). Read by another key, the file may be in any order:

* a first pass decodes only the key's fields and checks whether the file is already in
  that key's order (it stops at the first record that is not); the verdict is kept for the
  source's life, for as long as the file is unchanged;
* a file in key order then streams, as by ``_record``;
* any other file is sorted: a second pass keeps each record in range (raw bytes, record
  number, offset) with its key, ``legacy_connectors.key_order`` sorts them in runs spilled
  to temporary files, and the merged records are decoded a batch at a time. Memory is
  bounded by a run, never the file.

Two records with the same key are an error naming both, with their byte offsets: a copy
or a reconciliation could not tell them apart. ``lookup`` reports one among the keys it
is asked for the same way; ``key_bounds`` and ``segment_checksums`` need no order.
"""

from __future__ import annotations

import bisect
import io
import operator
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any

from domain.errors import LegacyReadError, PlanError
from legacy_connectors import canonical
from legacy_connectors.base import (
    RECORD_NUMBER,
    InYear,
    Key,
    ReadStats,
    Row,
    SegmentChecksum,
    SkippedRecord,
    StartsWith,
    TableInfo,
)
from legacy_connectors.copybook.codepages import code_page
from legacy_connectors.copybook.decoder import (
    FieldDecoder,
    FieldInvalid,
    RecordDecoder,
    RecordError,
    field_decoder,
)
from legacy_connectors.copybook.layout import Field, Node, areas, columns_of, flatten, lay_out
from legacy_connectors.copybook.parser import parse_copybook
from legacy_connectors.key_order import KeySort, Order, RepeatedKey, key_order, key_orders

_CHUNK_BYTES = 4 << 20
_KEY_CHUNK = 16_384  # records whose keys one step of the key pass decodes and holds
_SAMPLE = 4096


@dataclass
class _Table:
    info: TableInfo
    decoder: RecordDecoder
    segment_values: frozenset[str] | None
    batch: Any = None
    compiled: bool = False
    # Per key: a decoder of just the key's fields, and its compiled batch (or None).
    key_decoders: dict[Key, tuple[RecordDecoder, Any]] = field(default_factory=dict)


_Located = tuple[Key, int, int, bytes]
"""(key, record number, byte offset, raw record) of one record, as the key pass finds it."""


def _segment_key(value: Any) -> str:
    if isinstance(value, str):
        return value.strip(" \x00")
    return "" if value is None else str(value)


class CopybookSource:
    """A read-only copybook + data file source (see the module docstring)."""

    def __init__(
        self,
        *,
        copybook: Path,
        data: Path,
        encoding: str = "cp037",
        record_format: str = "F",
        rdw_counts_header: bool = True,
        rdw_big_endian: bool = True,
        segment_field: str | None = None,
        segments: Mapping[str, str] | None = None,
        redefines: Mapping[str, str] | None = None,
        quarantine_bad_records: bool = False,
        record_length: int | None = None,
        float_format: str = "ieee754",
    ) -> None:
        if record_format not in ("F", "FB", "V", "VB"):
            raise PlanError(f"record_format must be F, FB, V or VB, not {record_format!r}")
        if float_format not in ("ieee754", "ibm"):
            raise PlanError(f"float_format must be ieee754 or ibm, not {float_format!r}")
        if segments and not segment_field:
            raise PlanError("segments need a segment_field")
        self.copybook = Path(copybook)
        self.data = Path(data)
        self.variable = record_format in ("V", "VB")
        self.rdw_counts_header = rdw_counts_header
        self.rdw_big_endian = rdw_big_endian
        self.quarantine = quarantine_bad_records
        self.cp = code_page(encoding)
        self.float_format = float_format
        self._segment_field = segment_field.upper() if segment_field else None
        self._segments = {str(k).strip(): v.upper() for k, v in (segments or {}).items()}
        self._redefines = {k.upper(): v.upper() for k, v in (redefines or {}).items()}
        self._record_length = record_length
        self._tables: dict[str, _Table] | None = None
        self._segment: tuple[Field, FieldDecoder] | None = None
        self.reclen = 0
        # (table, key) -> (the file's identity when checked, whether it is in key order)
        self._in_order: dict[tuple[str, Key], tuple[tuple[int, int, int], bool]] = {}

    # --- LegacySource ------------------------------------------------------------------

    def open(self) -> None:
        """Parse the copybook and check the data file. Idempotent."""
        if self._tables is not None:
            return
        if not self.data.is_file():
            raise LegacyReadError("data file not found", table="", where=str(self.data))
        try:
            text = self.copybook.read_text(encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            text = self.copybook.read_text(encoding="latin-1")
        except OSError as e:
            raise PlanError(
                f"cannot read the copybook: {e.strerror}", where=str(self.copybook)
            ) from e
        records = parse_copybook(text, path=str(self.copybook))
        nodes = [lay_out(r, str(self.copybook)) for r in records]
        self.reclen = self._record_length or max(n.size for n in nodes)
        self._tables = self._build_tables(nodes)

    def close(self) -> None:
        """Nothing stays open between calls: each read opens and closes the file."""

    def describe(self) -> Sequence[TableInfo]:
        """A table per 01 record, or per segment layout."""
        return [t.info for t in self._all().values()]

    def count(self, table: str, where: str | None = None) -> int:
        """Records of the table in the file, whether or not every field decodes."""
        if where is not None:
            raise PlanError("a copybook source cannot filter with `where`")
        t = self._table(table)
        if not self.variable and t.segment_values is None:
            size = self.data.stat().st_size
            return -(-size // self.reclen)
        total = 0
        try:
            for _, _, rec in self._records(0):
                if t.segment_values is None or self._segment_of(rec) in t.segment_values:
                    total += 1
        except _Framing as e:
            # The rest of the file is one bad record, as a read sets it aside.
            self._bad(table, e.number, e.offset, e.reason, None, ReadStats())
            total += 1
        return total

    def key_bounds(self, table: str, key: Sequence[str]) -> tuple[Key, Key] | None:
        """Smallest and largest key, in one pass over the key's fields (any file order)."""
        key = self._checked_key(table, key)
        low: tuple[Order, Key] | None = None
        high: tuple[Order, Key] | None = None
        for chunk in self._located(table, key, ReadStats()):
            keys = [record[0] for record in chunk]
            orders = list(zip(key_orders(keys), keys, strict=True))
            if orders:
                least, most = min(orders), max(orders)
                low = least if low is None else min(low, least)
                high = most if high is None else max(high, most)
        return None if low is None or high is None else (low[1], high[1])

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
        """Rows in ``key`` order, in batches, strictly after ``after`` and up to ``upto``.

        Raises:
            LegacyReadError: a bad record (unless quarantine is on), or a key that repeats.
        """
        stats = stats if stats is not None else ReadStats()
        key = tuple(key)
        t = self._table(table)
        key = self._checked_key(table, key)
        if key == (RECORD_NUMBER,):
            start = int(after[0]) if after else 0
            stop = int(upto[0]) if upto else None
            for batch in self._stream(table, stats, start=start, batch_rows=batch_rows):
                if stop is not None and batch and batch[-1][RECORD_NUMBER] > stop:
                    batch = [r for r in batch if r[RECORD_NUMBER] <= stop]
                    if batch:
                        stats.rows += len(batch)
                        yield batch
                    return
                if batch:
                    stats.rows += len(batch)
                    yield batch
            return
        if not self._key_ordered(table, key):
            yield from self._read_sorted(t, key, after, upto, batch_rows, stats)
            return
        yield from self._read_in_order(t, key, after, upto, batch_rows, stats)

    def segment_checksums(
        self, table: str, key: Sequence[str], columns: Sequence[str], segments: int
    ) -> list[SegmentChecksum]:
        """Per key range, rows and checksum (``legacy_connectors.canonical``), streamed.

        Ranges: a single numeric key's span is cut into equal parts; other keys are cut at
        quantiles of a sample of their values.
        """
        info = self._table(table).info
        scales = [info.column(c).scale if info.column(c).scale else None for c in columns]
        bounds = self._boundaries(table, self._checked_key(table, key), max(1, segments))
        cuts = [key_order(b) for b in bounds]
        rows = [0] * (len(bounds) + 1)
        sums = [0] * (len(bounds) + 1)
        for batch in self._stream(table, ReadStats()):
            for row in batch:
                i = bisect.bisect_right(cuts, key_order(tuple(row[c] for c in key)))
                rows[i] += 1
                sums[i] += canonical.row_fold([row[c] for c in columns], scales)
        edges: list[Key | None] = [None, *bounds, None]
        return [
            SegmentChecksum(edges[i], edges[i + 1], rows[i], sums[i] % canonical.CHECKSUM_MODULUS)
            for i in range(len(rows))
        ]

    def lookup(self, table: str, key: Sequence[str], keys: Sequence[Key]) -> dict[Key, Row]:
        """Rows with these keys; by ``_record`` in a fixed-length file, read directly."""
        wanted = {tuple(k) for k in keys}
        found: dict[Key, Row] = {}
        if tuple(key) == (RECORD_NUMBER,) and not self.variable:
            for (number,) in sorted(wanted):
                for batch in self._stream(table, ReadStats(), start=int(number) - 1, batch_rows=1):
                    for row in batch:
                        if row[RECORD_NUMBER] == number:
                            found[(number,)] = row
                    break
            return found
        key = self._checked_key(table, key)
        t = self._table(table)
        stats = ReadStats()
        located: dict[Key, _Located] = {}
        for chunk in self._located(table, key, stats, raw=True):
            for record in chunk:
                k = record[0]
                if k in wanted:
                    if k in located:
                        raise self._repeated(table, key, located[k][1:3], record[1:3])
                    located[k] = record
        for k, (_k, number, offset, raw) in located.items():
            decoded = self._exact(t, raw, number, offset, stats)
            if decoded is not None:
                found[k] = decoded
        return found

    def candidates(self, table: str, blocking: Mapping[str, Any], *, limit: int = 50) -> list[Row]:
        """Rows matching every blocking value (equal, ``StartsWith``, ``InYear``), streamed."""
        out: list[Row] = []
        for batch in self._stream(table, ReadStats()):
            for row in batch:
                if all(_matches(row.get(c), v) for c, v in blocking.items()):
                    out.append(row)
                    if len(out) >= limit:
                        return out
        return out

    # --- tables ------------------------------------------------------------------------

    def _all(self) -> dict[str, _Table]:
        self.open()
        assert self._tables is not None
        return self._tables

    def _table(self, name: str) -> _Table:
        tables = self._all()
        if name not in tables:
            raise PlanError(
                f"no table {name!r} in {self.copybook.name}; it has {', '.join(tables)}"
            )
        return tables[name]

    def _build_tables(self, nodes: list[Node]) -> dict[str, _Table]:
        all_areas = {n.name: areas(n) for n in nodes}
        for area, view in self._redefines.items():
            owner = [r for r, a in all_areas.items() if area in a]
            if not owner or view not in all_areas[owner[0]][area]:
                raise PlanError(f"redefines: {area} is not a REDEFINES area with a view {view}")
        odo: dict[str, tuple[int, int]] = {}
        stack = list(nodes)
        while stack:
            node = stack.pop()
            if node.item.depending_on:
                low, high = odo.get(node.item.depending_on, (node.item.occurs_min or 0, 0))
                odo[node.item.depending_on] = (low, max(high, node.occurs))
            stack.extend(node.children)

        def make(
            name: str, node: Node, chosen: dict[str, str], values: frozenset[str] | None
        ) -> _Table:
            fields = flatten(node, chosen)
            decoder = RecordDecoder(
                fields,
                self.cp,
                record_number=RECORD_NUMBER,
                odo_ranges=odo,
                ibm_float=self.float_format == "ibm",
            )
            hint = None
            if values is None and not self.variable and self.data.exists():
                hint = -(-self.data.stat().st_size // self.reclen)
            info = TableInfo(name, columns_of(fields, RECORD_NUMBER), (RECORD_NUMBER,), hint)
            return _Table(info, decoder, values)

        tables: dict[str, _Table] = {}
        if not self._segments:
            for node in nodes:
                tables[node.name] = make(node.name, node, dict(self._redefines), None)
            return tables
        assert self._segment_field is not None
        seg = None
        for node in nodes:
            for f in flatten(node, {}):
                if f.name == self._segment_field and not f.present_if and not f.shifts:
                    seg = f
                    break
            if seg:
                break
        if seg is None:
            raise PlanError(f"segment_field {self._segment_field} is not a field of the copybook")
        self._segment = (
            seg,
            field_decoder(
                seg.type,
                self.cp,
                RecordDecoder([], self.cp, record_number="", odo_ranges={}).alphabet,
            ),
        )
        by_layout: dict[str, set[str]] = {}
        for value, layout in self._segments.items():
            by_layout.setdefault(layout, set()).add(value)
        for layout, values in by_layout.items():
            found = None
            for node in nodes:
                if node.name == layout:
                    found = (node, dict(self._redefines))
                    break
                for area, views in all_areas[node.name].items():
                    if layout in views:
                        found = (node, {**self._redefines, area: layout})
                        break
                if found:
                    break
            if found is None:
                raise PlanError(f"segments: {layout} is neither an 01 record nor a REDEFINES view")
            tables[layout] = make(layout, found[0], found[1], frozenset(values))
        return tables

    # --- records -----------------------------------------------------------------------

    def _segment_of(self, rec: bytes) -> str | None:
        assert self._segment is not None
        f, decode = self._segment
        if len(rec) < f.end:
            return None
        try:
            return _segment_key(decode(rec[f.offset : f.end]))
        except FieldInvalid:
            return None

    def _records(self, start: int) -> Iterator[tuple[int, int, bytes]]:
        """(1-based number, file offset, bytes) of each record after the first ``start``."""
        if not self.variable:
            for first, buf in self._fixed_chunks(start, max(1, _CHUNK_BYTES // self.reclen)):
                for k in range(0, len(buf), self.reclen):
                    yield (
                        first + k // self.reclen + 1,
                        (first * self.reclen) + k,
                        buf[k : k + self.reclen],
                    )
            return
        yield from self._variable_records(start)

    def _fixed_chunks(self, start: int, per_chunk: int) -> Iterator[tuple[int, bytes]]:
        size = self.data.stat().st_size
        with self.data.open("rb") as fh:
            fh.seek(start * self.reclen)
            index = start
            while True:
                # Never ask for more than the file holds: a layout may claim huge records.
                buf = fh.read(min(per_chunk * self.reclen, max(size - fh.tell(), 0)))
                if not buf:
                    return
                yield index, buf
                index += len(buf) // self.reclen
                if len(buf) % self.reclen:
                    return

    def _variable_records(self, start: int) -> Iterator[tuple[int, int, bytes]]:
        size = self.data.stat().st_size
        with self.data.open("rb", buffering=0) as raw:
            fh = io.BufferedReader(raw, buffer_size=1 << 20)
            offset = 0
            number = 0
            while offset < size:
                header = fh.read(4)
                number += 1
                if len(header) < 4:
                    raise _Framing(
                        number,
                        offset,
                        f"the file ends inside a record descriptor word ({len(header)} of 4 bytes)",
                    )
                if self.rdw_big_endian:
                    length = int.from_bytes(header[0:2], "big")
                else:
                    length = int.from_bytes(header[2:4], "little")
                payload = length - 4 if self.rdw_counts_header else length
                if payload < 0:
                    raise _Framing(
                        number,
                        offset,
                        f"the record descriptor word says {length} bytes, less than its own 4",
                    )
                if offset + 4 + payload > size:
                    raise _Framing(
                        number,
                        offset,
                        f"the record descriptor word says {payload} bytes follow, past the end "
                        f"of the file ({size - offset - 4} left)",
                    )
                if number <= start:
                    fh.seek(payload, os.SEEK_CUR)
                    offset += 4 + payload
                    continue
                yield number, offset + 4, fh.read(payload)
                offset += 4 + payload

    def _bad(
        self, table: str, number: int, offset: int, reason: str, raw: bytes | None, stats: ReadStats
    ) -> None:
        if not self.quarantine:
            raise LegacyReadError(
                reason, table=table, record=number, offset=offset, where=f"{self.data}, {table}"
            )
        stats.skipped.append(SkippedRecord(table, number, offset, reason, raw))

    def _exact(
        self, t: _Table, rec: bytes, number: int, offset: int, stats: ReadStats
    ) -> Row | None:
        if not self._in_table(t, rec, number, offset, stats):
            return None
        try:
            return t.decoder.decode(rec, number)
        except RecordError as e:
            self._bad(t.info.name, number, offset + e.offset, e.reason, rec, stats)
            return None

    def _in_table(self, t: _Table, rec: bytes, number: int, offset: int, stats: ReadStats) -> bool:
        """Whether the record is one of the table's segment (a bad segment value is ``_bad``)."""
        name = t.info.name
        if t.segment_values is not None:
            assert self._segment is not None
            seg_field, decode = self._segment
            if len(rec) < seg_field.end:
                self._bad(
                    name,
                    number,
                    offset + len(rec),
                    f"the record is {len(rec)} bytes, too short to hold {seg_field.column}",
                    rec,
                    stats,
                )
                return False
            try:
                value = _segment_key(decode(rec[seg_field.offset : seg_field.end]))
            except FieldInvalid as e:
                self._bad(
                    name,
                    number,
                    offset + seg_field.offset + e.index,
                    f"{seg_field.column}: {e.reason}",
                    rec,
                    stats,
                )
                return False
            if value not in t.segment_values:
                if value in self._segments:
                    return False
                self._bad(
                    name,
                    number,
                    offset + seg_field.offset,
                    f"{seg_field.column} names no layout in `segments`",
                    rec,
                    stats,
                )
                return False
        return True

    def _compiled(self, t: _Table) -> Any:
        if not t.compiled:
            t.compiled = True
            t.batch = t.decoder.compile_batch() if self.cp.total else None
        return t.batch

    def _stream(
        self, table: str, stats: ReadStats, *, start: int = 0, batch_rows: int = 10_000
    ) -> Iterator[list[Row]]:
        """Decoded rows of a table in file order after the first ``start`` records (rows
        are not counted in ``stats.rows``; bad records are, in ``stats.skipped``)."""
        t = self._table(table)
        fast = self._compiled(t)
        if not self.variable and fast is not None and t.segment_values is None:
            yield from self._fast_fixed(t, fast, start, batch_rows, stats)
            return
        out: list[Row] = []
        try:
            for number, offset, rec in self._records(start):
                row = self._exact(t, rec, number, offset, stats)
                if row is not None:
                    out.append(row)
                    if len(out) >= batch_rows:
                        yield out
                        out = []
        except _Framing as e:
            # The record boundaries are lost from here on: the rest is one bad record.
            if out:
                yield out
                out = []
            self._bad(table, e.number, e.offset, e.reason, None, stats)
        if out:
            yield out

    def _fast_fixed(
        self, t: _Table, fast: Any, start: int, batch_rows: int, stats: ReadStats
    ) -> Iterator[list[Row]]:
        reclen = self.reclen
        decode = self.cp.decoder()
        hexed = t.decoder.needs_hex
        per_chunk = max(1, min(batch_rows, _CHUNK_BYTES // reclen))
        for first, buf in self._fixed_chunks(start, per_chunk):
            n = len(buf) // reclen
            text = decode(buf[: n * reclen])
            hx = buf.hex() if hexed else None

            def slow(k: int, buf: bytes = buf, first: int = first) -> Row | None:
                rec = buf[k * reclen : (k + 1) * reclen]
                return self._exact(t, rec, first + k + 1, (first + k) * reclen, stats)

            rows = fast(buf, text, hx, n, reclen, first + 1, slow)
            if len(buf) % reclen:
                row = slow(n)
                if row is not None:
                    rows.append(row)
            if rows:
                yield rows

    # --- key order ---------------------------------------------------------------------

    def _checked_key(self, table: str, key: Sequence[str]) -> Key:
        info = self._table(table).info
        for name in key:
            try:
                info.column(name)
            except KeyError:
                raise PlanError(f"table {table!r} has no column {name!r}") from None
        if not key:
            raise PlanError("a key needs at least one column")
        return tuple(key)

    def _identity(self) -> tuple[int, int, int]:
        st = self.data.stat()
        return st.st_ino, st.st_size, st.st_mtime_ns

    def _key_ordered(self, table: str, key: Key) -> bool:
        """Whether the file is in ``key`` order: one pass over the key's fields that stops at
        the first record out of order, remembered while the file is unchanged.

        Raises:
            LegacyReadError: two neighbouring records have the same key.
        """
        identity = self._identity()
        known = self._in_order.get((table, key))
        if known is not None and known[0] == identity:
            return known[1]
        in_order = True
        previous: tuple[Order, _Located] | None = None
        # Bad records are counted by the read that follows, not by this look.
        for chunk in self._located(table, key, ReadStats()):
            if not chunk:
                continue
            orders = key_orders([record[0] for record in chunk])
            if previous is not None:
                orders.insert(0, previous[0])
                chunk = [previous[1], *chunk]
            if not all(map(operator.lt, orders, orders[1:])):
                at = next(i for i in range(1, len(orders)) if not orders[i - 1] < orders[i])
                if orders[at - 1] == orders[at]:
                    raise self._repeated(table, key, chunk[at - 1][1:3], chunk[at][1:3])
                in_order = False
                break
            previous = (orders[-1], chunk[-1])
        self._in_order[(table, key)] = (identity, in_order)
        return in_order

    def _key_decoder(self, t: _Table, key: Key) -> tuple[RecordDecoder, Any]:
        """A decoder of only the key's fields (and its compiled batch, or None); the whole
        layout's when a key field moves with an OCCURS DEPENDING ON count."""
        if key not in t.key_decoders:
            fields = [f for f in t.decoder.fields if f.column in key]
            if any(f.present_if or f.shifts for f in fields):
                t.key_decoders[key] = (t.decoder, self._compiled(t))
            else:
                decoder = RecordDecoder(
                    fields,
                    self.cp,
                    record_number=RECORD_NUMBER,
                    odo_ranges=t.decoder.odo_ranges,
                    ibm_float=self.float_format == "ibm",
                )
                t.key_decoders[key] = (decoder, decoder.compile_batch() if self.cp.total else None)
        return t.key_decoders[key]

    def _located(
        self, table: str, key: Key, stats: ReadStats, *, raw: bool = False
    ) -> Iterator[list[_Located]]:
        """Every record of the table in file order with its key, a chunk at a time, decoding
        only the key's fields; a record whose key does not decode is ``_bad``. Raw bytes
        only if ``raw``."""
        t = self._table(table)
        decoder, fast = self._key_decoder(t, key)
        if not self.variable and t.segment_values is None and fast is not None:
            yield from self._located_fixed(t, key, decoder, fast, stats, raw)
            return
        pick = _picker(key)
        chunk: list[_Located] = []
        try:
            for number, offset, rec in self._records(0):
                if not self._in_table(t, rec, number, offset, stats):
                    continue
                try:
                    row = decoder.decode(rec, number)
                except RecordError as e:
                    self._bad(table, number, offset + e.offset, e.reason, rec, stats)
                    continue
                chunk.append((pick(row), number, offset, rec))
                if len(chunk) >= _KEY_CHUNK:
                    yield chunk
                    chunk = []
        except _Framing as e:
            self._bad(table, e.number, e.offset, e.reason, None, stats)
        yield chunk

    def _located_fixed(
        self, t: _Table, key: Key, decoder: RecordDecoder, fast: Any, stats: ReadStats, raw: bool
    ) -> Iterator[list[_Located]]:
        reclen = self.reclen
        decode = self.cp.decoder()
        hexed = decoder.needs_hex
        pick = _picker(key)
        for first, buf in self._fixed_chunks(0, max(1, min(_KEY_CHUNK, _CHUNK_BYTES // reclen))):
            n = len(buf) // reclen

            def slow(k: int, buf: bytes = buf, first: int = first) -> Row | None:
                rec = buf[k * reclen : (k + 1) * reclen]
                number, offset = first + k + 1, (first + k) * reclen
                try:
                    return decoder.decode(rec, number)
                except RecordError as e:
                    self._bad(t.info.name, number, offset + e.offset, e.reason, rec, stats)
                    return None

            text = decode(buf[: n * reclen])
            rows = fast(buf, text, buf.hex() if hexed else None, n, reclen, first + 1, slow)
            if len(buf) % reclen:
                row = slow(n)
                if row is not None:
                    rows.append(row)
            keys = [(row[key[0]],) for row in rows] if len(key) == 1 else [pick(r) for r in rows]
            base = first * reclen
            yield [
                (k, number, (number - 1) * reclen, buf[start : start + reclen] if raw else b"")
                for k, number in zip(keys, [row[RECORD_NUMBER] for row in rows], strict=True)
                for start in ((number - 1) * reclen - base,)
            ]

    def _read_in_order(
        self,
        t: _Table,
        key: Key,
        after: Key | None,
        upto: Key | None,
        batch_rows: int,
        stats: ReadStats,
    ) -> Iterator[list[Row]]:
        """``read`` of a file in ``key`` order: streamed, checked against the range a batch
        at a time (the first pass has checked the order)."""
        table = t.info.name
        identity = self._identity()
        low = None if after is None else key_order(tuple(after))
        high = None if upto is None else key_order(tuple(upto))
        pick = _picker(key)
        for batch in self._stream(table, stats, batch_rows=batch_rows):
            if not batch:
                continue
            if low is not None:
                if key_order(pick(batch[-1])) <= low:
                    continue
                at = next(i for i, row in enumerate(batch) if key_order(pick(row)) > low)
                batch, low = batch[at:], None
            if high is not None and key_order(pick(batch[-1])) > high:
                batch = [row for row in batch if key_order(pick(row)) <= high]
                if batch:
                    stats.rows += len(batch)
                    yield batch
                break
            stats.rows += len(batch)
            yield batch
        if self._identity() != identity:
            raise LegacyReadError(
                "the file changed while it was read; read it again",
                table=table,
                where=f"{self.data}, {table}",
            )

    def _read_sorted(
        self,
        t: _Table,
        key: Key,
        after: Key | None,
        upto: Key | None,
        batch_rows: int,
        stats: ReadStats,
    ) -> Iterator[list[Row]]:
        """``read`` of a file not in ``key`` order: the records in range, sorted on disk."""
        table = t.info.name
        low = None if after is None else key_order(tuple(after))
        high = None if upto is None else key_order(tuple(upto))
        with KeySort() as sort:
            for chunk in self._located(table, key, stats, raw=True):
                orders = key_orders([record[0] for record in chunk])
                items = [
                    (o, number, (offset, rec))
                    for o, (_k, number, offset, rec) in zip(orders, chunk, strict=True)
                ]
                if low is not None or high is not None:
                    items = [
                        item
                        for item in items
                        if (low is None or item[0] > low) and (high is None or item[0] <= high)
                    ]
                sort.extend(items, sum(len(item[2][1]) for item in items))
            batch: list[tuple[int, int, bytes]] = []
            try:
                for _o, number, (offset, rec) in sort.merged():
                    batch.append((number, offset, rec))
                    if len(batch) >= batch_rows:
                        rows = self._decoded(t, batch, stats)
                        batch = []
                        if rows:
                            stats.rows += len(rows)
                            yield rows
            except RepeatedKey as e:
                first, second = e.first, e.second
                raise self._repeated(
                    table, key, (first[1], first[2][0]), (second[1], second[2][0])
                ) from None
            rows = self._decoded(t, batch, stats)
            if rows:
                stats.rows += len(rows)
                yield rows

    def _decoded(
        self, t: _Table, batch: list[tuple[int, int, bytes]], stats: ReadStats
    ) -> list[Row]:
        """Rows of (record number, offset, raw bytes) records, in the batch's order."""
        fast = self._compiled(t)
        reclen = self.reclen
        # The records are not neighbours in the file: decode them as records 0..n-1 of one
        # buffer, then give each its own number. Every record is whole (no record is longer
        # than reclen) unless the file's last one is short.
        buf = b"" if fast is None else b"".join([rec for _n, _o, rec in batch])
        whole = fast is not None and len(buf) == len(batch) * reclen
        if self.variable or t.segment_values is not None or not whole:
            exact = (self._exact(t, rec, number, offset, stats) for number, offset, rec in batch)
            return [row for row in exact if row is not None]

        def slow(k: int) -> Row | None:
            number, offset, rec = batch[k]
            row = self._exact(t, rec, number, offset, stats)
            if row is not None:
                row[RECORD_NUMBER] = k  # numbered by position, like the fast rows: see below
            return row

        hx = buf.hex() if t.decoder.needs_hex else None
        rows: list[Row] = fast(buf, self.cp.decoder()(buf), hx, len(batch), reclen, 0, slow)
        for row in rows:
            row[RECORD_NUMBER] = batch[row[RECORD_NUMBER]][0]
        return rows

    def _repeated(
        self, table: str, key: Key, first: tuple[int, int], second: tuple[int, int]
    ) -> LegacyReadError:
        """Two records with one key, as (record number, byte offset) each. The key's value
        stays out of the message: keys are often personal (NI numbers)."""
        return LegacyReadError(
            f"key {', '.join(key)} repeats: record {first[0]} (byte offset {first[1]}) has the "
            "same key",
            table=table,
            record=second[0],
            offset=second[1],
            where=f"{self.data}, {table}",
        )

    def _boundaries(self, table: str, key: Key, segments: int) -> list[Key]:
        if segments <= 1:
            return []
        sample: list[Key] = []
        seen = 0
        step = 1
        for chunk in self._located(table, key, ReadStats()):
            for k, _number, _offset, _raw in chunk:
                seen += 1
                if seen % step:
                    continue
                sample.append(k)
                if len(sample) >= 2 * _SAMPLE:
                    sample = sample[::2]
                    step *= 2
        if not sample:
            return []
        if len(key) == 1 and all(
            isinstance(k[0], int | Decimal) and not isinstance(k[0], bool) for k in sample
        ):
            low, high = min(sample)[0], max(sample)[0]
            width = (high - low) / segments
            cuts = sorted({(low + width * i) for i in range(1, segments)})
            if all(isinstance(k[0], int) for k in sample):
                cuts = sorted({int(low + (high - low) * i // segments) for i in range(1, segments)})
            return [(c,) for c in cuts if low < c <= high]
        sample.sort(key=key_order)
        return sorted(
            {sample[len(sample) * i // segments] for i in range(1, segments)}, key=key_order
        )


def _picker(key: Key) -> Any:
    """A function from a row to its key tuple."""
    if len(key) == 1:
        name = key[0]
        return lambda row: (row[name],)
    getter = itemgetter(*key)
    return lambda row: getter(row)


class _Framing(Exception):
    def __init__(self, number: int, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.number = number
        self.offset = offset
        self.reason = reason


def _matches(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, StartsWith):
        return isinstance(value, str) and value.upper().startswith(wanted.prefix.upper())
    if isinstance(wanted, InYear):
        if hasattr(value, "year"):
            return bool(value.year == wanted.year)
        return value is not None and str(value).strip()[:4] == str(wanted.year)
    if isinstance(value, str) and isinstance(wanted, str):
        return value.strip().upper() == wanted.strip().upper()
    return bool(value == wanted)

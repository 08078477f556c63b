"""Text exports of old systems: delimited (CSV, TSV, semicolon...) and fixed-width files.

* The delimiter is declared in the plan or sniffed from the start of each file; quoting
  follows the plan's ``quotechar`` (a doubled quote inside a quoted field is one quote).
* Text is decoded with the declared code page (latin-1, cp1252, UTF-8...). A UTF-8
  byte-order mark is dropped. Each physical line is decoded on its own, so a byte the
  code page cannot decode is reported with its file, record number and exact byte offset,
  or (``quarantine_bad_records``) the whole record is set aside in ``ReadStats.skipped``
  with its raw bytes. It is never replaced by U+FFFD.
* A record with more or fewer fields than the header is an error or a quarantined record
  too: a shifted column would put a surname in the postcode.
* Fixed-width files take their columns from the plan's ``layout`` (1-based start column
  and width, in characters); values are stripped of their padding; a line shorter than
  the layout (trailing blanks cut off by the old system) reads the missing columns as
  empty.
* Every value is text (``str``), or None for an empty field when ``empty_as_null``; the
  plan's transforms turn text into dates and decimals, so nothing is guessed here.
* A table is a file: the file itself, or each ``.csv``/``.tsv``/``.txt``/``.dat`` file of a
  folder, named by its stem.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import LegacyReadError, PlanError
from legacy_connectors.base import Column, ReadStats, Row, SkippedRecord, TableInfo
from legacy_connectors.files import FileSource

_EXTENSIONS = {".csv", ".tsv", ".txt", ".dat", ".prn"}
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class FixedColumn:
    """One column of a fixed-width layout: 1-based start column and width."""

    name: str
    start: int
    length: int


@dataclass
class _Line:
    text: str
    raw: bytes
    offset: int
    error: str | None  # why the line did not decode, if it did not
    error_offset: int | None


class TextFileSource(FileSource):
    """Delimited or fixed-width text files. Implements ``LegacySource``.

    Args:
        path: a file, or a folder of files (one table each).
        delimiter: the field separator; None to sniff it.
        quotechar: the quote character of delimited files.
        encoding: the code page of the files.
        header: whether the first line holds column names (default: yes for delimited
            files, no for fixed-width ones).
        column_names: names for files without a header.
        layout: fixed-width columns; given, the files are fixed-width.
        empty_as_null: read empty fields as None.
        quarantine_bad_records: set undecodable or misshapen records aside.
    """

    kind = "csv"

    def __init__(
        self,
        path: Path | str,
        *,
        delimiter: str | None = None,
        quotechar: str = '"',
        encoding: str = "utf-8",
        header: bool | None = None,
        column_names: Sequence[str] | None = None,
        layout: Sequence[FixedColumn] | None = None,
        empty_as_null: bool = True,
        quarantine_bad_records: bool = False,
    ) -> None:
        self.path = Path(path)
        self.delimiter = delimiter
        self.quotechar = quotechar
        # The BOM is not data; utf-8-sig drops it and reads BOM-less files alike.
        self.encoding = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
        self.layout = list(layout) if layout else None
        self.header = header if header is not None else self.layout is None
        self.column_names = list(column_names) if column_names else None
        self.empty_as_null = empty_as_null
        self.quarantine = quarantine_bad_records
        self._names: dict[str, tuple[str, ...]] = {}

    def _files(self) -> dict[str, Path]:
        if self.path.is_dir():
            files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in _EXTENSIONS)
        elif self.path.exists():
            files = [self.path]
        else:
            raise PlanError(f"no such file or folder: {self.path}")
        return {p.stem: p for p in files}

    def _file(self, table: str) -> Path:
        files = self._files()
        found = files.get(table) or files.get(Path(table).stem)
        if found is None:
            raise PlanError(f"the csv source has no table {table!r}; it has {', '.join(files)}")
        return found

    def describe(self) -> Sequence[TableInfo]:
        """Each file with its columns (all text): from the header, the plan or the layout."""
        return [
            TableInfo(name, tuple(Column(n, "text") for n in self._columns(name)))
            for name in self._files()
        ]

    def _columns(self, table: str) -> tuple[str, ...]:
        if table in self._names:
            return self._names[table]
        if self.layout is not None:
            names: tuple[str, ...] = tuple(c.name for c in self.layout)
        elif self.column_names is not None:
            names = tuple(self.column_names)
        else:
            names = ()
            for _n, _o, fields, _raw in self._parsed(table, None, with_header=True):
                names = tuple(fields)
                break
        if len(set(names)) != len(names):
            raise LegacyReadError("the header names a column twice", table=table, record=0)
        self._names[table] = names
        return names

    # --- lines and records ------------------------------------------------------------

    def _lines(self, path: Path) -> Iterator[_Line]:
        offset = 0
        decode = codecs.getdecoder(self.encoding)
        with path.open("rb") as f:
            for raw in f:
                try:
                    text = decode(raw)[0]
                    yield _Line(text, raw, offset, None, None)
                except UnicodeDecodeError as e:
                    bad = e.object[e.start]
                    reason = f"byte 0x{bad:02x} is not text in code page {self.encoding}"
                    text = raw.decode(self.encoding, errors="replace")
                    yield _Line(text, raw, offset, reason, offset + e.start)
                # Only the first line can carry the BOM.
                if offset == 0 and self.encoding == "utf-8-sig":
                    decode = codecs.getdecoder("utf-8")
                offset += len(raw)

    def _dialect(self, path: Path) -> Any:
        if self.delimiter is not None:
            delimiter = self.delimiter
        else:
            with path.open("rb") as f:
                sample = f.read(_SNIFF_BYTES).decode(self.encoding, errors="replace")
            try:
                delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
            except csv.Error:
                # The sniffer wants consistent lines; a one-column file or a ragged one
                # (whose bad records we want to report, not hide) has none. The header
                # line is the cleanest evidence left: its most frequent candidate wins.
                first = sample.splitlines()[0] if sample else ""
                delimiter = (
                    max(",;\t|", key=first.count) if any(d in first for d in ",;\t|") else ","
                )

        class Dialect(csv.excel):
            pass

        Dialect.delimiter = delimiter
        Dialect.quotechar = self.quotechar
        return Dialect

    def _parsed(
        self, table: str, stats: ReadStats | None, *, with_header: bool = False
    ) -> Iterator[tuple[int, int, list[str], bytes]]:
        """(record number, byte offset, fields, raw bytes) of every record; record 0 is a
        header.

        Undecodable records raise, or are counted in ``stats`` and not yielded.
        """
        path = self._file(table)
        if self.layout is not None:
            yield from self._fixed(path, table, stats, with_header=with_header)
            return
        pending: list[_Line] = []

        def feed() -> Iterator[str]:
            for line in self._lines(path):
                pending.append(line)
                yield line.text

        reader = csv.reader(feed(), self._dialect(path), strict=True)
        number = 0 if self.header else 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                offset = pending[0].offset if pending else 0
                raise LegacyReadError(
                    f"not valid CSV: {e}", table=table, where=str(path), record=number,
                    offset=offset,
                ) from e  # fmt: skip
            lines, pending[:] = list(pending), []
            if not fields and all(not line.text.strip() for line in lines):
                continue  # a blank line is not a record
            offset = lines[0].offset if lines else 0
            raw = b"".join(line.raw for line in lines)
            bad = next((line for line in lines if line.error), None)
            if bad is not None:
                reason = str(bad.error)
                self._reject(table, path, number, bad.error_offset, reason, raw, stats)
            elif number == 0 and not with_header and self.header:
                pass  # the header is not a record
            else:
                yield number, offset, fields, raw
                if number == 0:
                    return
            number += 1

    def _fixed(
        self, path: Path, table: str, stats: ReadStats | None, *, with_header: bool
    ) -> Iterator[tuple[int, int, list[str], bytes]]:
        assert self.layout is not None
        number = 0 if self.header else 1
        for line in self._lines(path):
            text = line.text.rstrip("\r\n")
            if not text.strip():
                continue
            if line.error:
                reason = str(line.error)
                self._reject(table, path, number, line.error_offset, reason, line.raw, stats)
            elif number > 0:
                yield (
                    number,
                    line.offset,
                    [text[c.start - 1 : c.start - 1 + c.length] for c in self.layout],
                    line.raw,
                )
            number += 1

    def _reject(
        self,
        table: str,
        path: Path,
        number: int,
        offset: int | None,
        reason: str,
        raw: bytes,
        stats: ReadStats | None,
    ) -> None:
        if not self.quarantine or number == 0:
            raise LegacyReadError(
                reason, table=table, where=str(path), record=number, offset=offset
            )
        if stats is not None:
            stats.skipped.append(SkippedRecord(table, number, offset, reason, raw=raw))

    def _records(self, table: str, stats: ReadStats | None) -> Iterator[tuple[int, Row]]:
        names = self._columns(table)
        path = self._file(table)
        width = len(names)
        strip = self.layout is not None
        null = self.empty_as_null
        for number, offset, fields, raw in self._parsed(table, stats):
            if len(fields) != width:
                reason = f"{len(fields)} fields where the header has {width}"
                self._reject(table, path, number, offset, reason, raw, stats)
                continue
            if strip:
                fields = [v.strip() for v in fields]
            row: Row = {
                n: (None if null and v == "" else v) for n, v in zip(names, fields, strict=True)
            }
            yield number, row


def open_csv_source(config: Any) -> TextFileSource:
    """The source of a plan's ``kind: csv`` section (``CsvSourceConfig``)."""
    layout = None
    if config.layout:
        layout = [FixedColumn(c.name, c.start, c.length) for c in config.layout]
    return TextFileSource(
        config.path,
        delimiter=config.delimiter,
        quotechar=config.quotechar,
        encoding=config.encoding,
        header=config.header,
        column_names=config.column_names,
        layout=layout,
        empty_as_null=config.empty_as_null,
        quarantine_bad_records=config.quarantine_bad_records,
    )

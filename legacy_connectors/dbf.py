"""dBase III/IV, FoxPro and Visual FoxPro tables (.dbf) with their memo files (.dbt/.fpt).

dbfread reads the header, the field descriptors and the memo files; the record loop is
ours, so that every record is read at a known byte offset, a truncated file is an error
naming the record and offset (dbfread stops quietly at the end of what is there),
deleted records are counted, and values are exact:

* ``N`` with decimals is a ``Decimal`` (dbfread gives a float: 0.1 would not survive);
  ``N`` without decimals an ``int``; ``F`` (a float by definition) a ``float``;
  ``Y`` (currency) a ``Decimal`` with 4 places.
* ``C``/``M`` text is decoded with the declared code page (the plan's ``encoding``, else
  the one the header's language driver byte names). A byte that code page cannot decode
  is an error naming the file, record, column and byte offset, or (``quarantine_bad_records``)
  the record is set aside in ``ReadStats.skipped``, never replaced by U+FFFD.
* An invalid date (``NotAYear``) is an error or a quarantined record too, not a null.
* Visual FoxPro's ``_NullFlags`` system column is not data: it is left out of the rows.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from dbfread import DBF, FieldParser
from dbfread.exceptions import MissingMemoFile
from dbfread.memo import open_memofile

from domain.errors import LegacyReadError, PlanError
from legacy_connectors.base import Column, ReadStats, Row, SkippedRecord, TableInfo
from legacy_connectors.files import FileSource

_HIDDEN_TYPES = {"0"}  # Visual FoxPro's _NullFlags


class _ExactFieldParser(FieldParser):
    """dbfread's parser, made exact: decimals stay Decimal, bad text is never replaced."""

    def parseN(self, field: Any, data: bytes) -> Any:
        data = data.strip().strip(b"*")
        if not data:
            return None
        if field.decimal_count == 0:
            try:
                return int(data)
            except ValueError:
                pass
        try:
            return Decimal(data.replace(b",", b".").decode("ascii"))
        except (InvalidOperation, UnicodeDecodeError):
            raise ValueError("not a number") from None

    def parseD(self, field: Any, data: bytes) -> Any:
        try:
            return super().parseD(field, data)
        except ValueError:
            raise ValueError("not a date") from None

    def parseL(self, field: Any, data: bytes) -> Any:
        try:
            return super().parseL(field, data)
        except ValueError:
            raise ValueError("not a logical value") from None


def _unique_names(fields: Sequence[Any]) -> list[str]:
    """Column names for a file's fields: a name given again (some files do: ``Point_ID``
    as text and as a number) gets ``_2``, ``_3``..., so no field's value hides another's."""
    seen: set[str] = set()
    out = []
    for field in fields:
        name, n = field.name, 1
        while name.lower() in seen:
            n += 1
            name = f"{field.name}_{n}"
        seen.add(name.lower())
        out.append(name)
    return out


def _portable(field: Any, dbversion: int) -> Column:
    t, length, dec = field.type, field.length, field.decimal_count
    if t == "N":
        if dec:
            return Column(field.name, f"decimal({length},{dec})", precision=length, scale=dec)
        return Column(field.name, "integer", precision=length)
    if t in ("F", "O") or (t == "B" and dbversion in (0x30, 0x31, 0x32)):
        return Column(field.name, "float")
    if t == "Y":
        return Column(field.name, "decimal(19,4)", precision=19, scale=4)
    if t == "D":
        return Column(field.name, "date")
    if t in ("T", "@"):
        return Column(field.name, "datetime")
    if t == "L":
        return Column(field.name, "boolean")
    if t in ("I", "+"):
        return Column(field.name, "integer")
    if t in ("B", "G", "P", "Q"):
        return Column(field.name, "bytes")
    return Column(field.name, "text", length=length if t in ("C", "V") else None)


class DbfSource(FileSource):
    """One .dbf file, or a folder of them (a table per file, named by its stem).

    Args:
        path: a .dbf file or a folder.
        encoding: the code page of the text; None for the one the file declares.
        ignore_missing_memo: memo columns read as None when the memo file is missing.
        quarantine_bad_records: set undecodable records aside instead of failing.
    """

    kind = "dbf"

    def __init__(
        self,
        path: Path | str,
        *,
        encoding: str | None = None,
        ignore_missing_memo: bool = False,
        quarantine_bad_records: bool = False,
    ) -> None:
        self.path = Path(path)
        self.encoding = encoding
        self.ignore_missing_memo = ignore_missing_memo
        self.quarantine = quarantine_bad_records
        self._tables: dict[str, tuple[Path, DBF]] | None = None

    def _files(self) -> dict[str, tuple[Path, DBF]]:
        if self._tables is None:
            if self.path.is_dir():
                paths = sorted(p for p in self.path.iterdir() if p.suffix.lower() == ".dbf")
            elif self.path.exists():
                paths = [self.path]
            else:
                raise PlanError(f"no such file or folder: {self.path}")
            self._tables = {p.stem: (p, self._header(p)) for p in paths}
        return self._tables

    def _header(self, path: Path) -> DBF:
        try:
            table = DBF(
                str(path),
                encoding=self.encoding,
                char_decode_errors="strict",
                ignore_missing_memofile=self.ignore_missing_memo,
                parserclass=_ExactFieldParser,
                load=False,
            )
        except MissingMemoFile as e:
            raise LegacyReadError(
                "its memo file (.dbt/.fpt) is missing; restore it, or set "
                "ignore_missing_memo to read memo columns as null",
                table=path.stem,
                where=str(path),
            ) from e
        except (struct.error, ValueError, OSError, LookupError) as e:
            raise LegacyReadError(
                f"not a readable dBase header: {e}", table=path.stem, where=str(path), offset=0
            ) from e
        size = path.stat().st_size
        if size < table.header.headerlen:
            raise LegacyReadError(
                f"truncated: the header says {table.header.headerlen} bytes, the file has {size}",
                table=path.stem,
                where=str(path),
                offset=size,
            )
        return table

    def open(self) -> None:
        """Read every table's header (and find its memo file). Idempotent."""
        self._files()

    def describe(self) -> Sequence[TableInfo]:
        """Each file's fields as columns; a file declares no key (its record order is one)."""
        out = []
        for name, (_path, table) in self._files().items():
            names = _unique_names(table.fields)
            columns = tuple(
                replace(_portable(f, table.header.dbversion), name=unique)
                for f, unique in zip(table.fields, names, strict=True)
                if f.type not in _HIDDEN_TYPES
            )
            out.append(TableInfo(name, columns, key=None, row_count_hint=table.header.numrecords))
        return out

    def encoding_of(self, table: str) -> str:
        """The code page text of ``table`` is decoded with."""
        return str(self._lookup(table)[1].encoding)

    def _lookup(self, table: str) -> tuple[Path, DBF]:
        files = self._files()
        found = files.get(table) or files.get(Path(table).stem)
        if found is None:
            raise PlanError(f"the dbf source has no table {table!r}; it has {', '.join(files)}")
        return found

    def _records(self, table: str, stats: ReadStats | None) -> Iterator[tuple[int, Row]]:
        path, dbf = self._lookup(table)
        header = dbf.header
        names = _unique_names(dbf.fields)
        fields = [
            (f, f.type not in _HIDDEN_TYPES, unique)
            for f, unique in zip(dbf.fields, names, strict=True)
        ]
        with ExitStack() as opened:
            memo = None
            if dbf.memofilename:
                memo = opened.enter_context(open_memofile(dbf.memofilename, header.dbversion))
            parser = _ExactFieldParser(dbf, memo)
            with path.open("rb") as f:
                f.seek(header.headerlen)
                for number in range(1, header.numrecords + 1):
                    offset = header.headerlen + (number - 1) * header.recordlen
                    data = f.read(header.recordlen)
                    if len(data) < header.recordlen:
                        raise LegacyReadError(
                            f"truncated: the header promises {header.numrecords} records of "
                            f"{header.recordlen} bytes, the file ends inside this one",
                            table=table,
                            where=str(path),
                            record=number,
                            offset=offset,
                        )
                    if data[:1] == b"*":
                        if stats is not None:
                            stats.deleted_skipped += 1
                        continue
                    row = self._decode(parser, fields, data, table, path, number, offset, stats)
                    if row is not None:
                        yield number, row

    def _decode(
        self,
        parser: _ExactFieldParser,
        fields: list[tuple[Any, bool, str]],
        data: bytes,
        table: str,
        path: Path,
        number: int,
        offset: int,
        stats: ReadStats | None,
    ) -> Row | None:
        row: Row = {}
        position = 1  # after the deletion flag
        for field, shown, name in fields:
            raw = data[position : position + field.length]
            try:
                value = parser.parse(field, raw)
            except (ValueError, UnicodeDecodeError, struct.error) as e:
                at = offset + position
                if isinstance(e, UnicodeDecodeError):
                    at += e.start
                    reason = (
                        f"column {field.name}: byte 0x{e.object[e.start]:02x} is not text in "
                        f"code page {parser.encoding}"
                    )
                    if field.type == "M":
                        at = offset + position  # the byte is in the memo file, not here
                        reason += " (in its memo)"
                else:
                    reason = f"column {field.name}: {e}"
                if not self.quarantine:
                    raise LegacyReadError(
                        reason, table=table, where=str(path), record=number, offset=at
                    ) from e
                if stats is not None:
                    stats.skipped.append(SkippedRecord(table, number, at, reason, raw=data))
                return None
            if shown:
                row[name] = value
            position += field.length
        return row


def open_dbf_source(config: Any) -> DbfSource:
    """The source of a plan's ``kind: dbf`` section (``DbfSourceConfig``)."""
    return DbfSource(
        config.path,
        encoding=config.encoding,
        ignore_missing_memo=config.ignore_missing_memo,
        quarantine_bad_records=config.quarantine_bad_records,
    )

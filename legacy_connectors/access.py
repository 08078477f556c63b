"""Microsoft Access databases (.mdb: Jet 3 and Jet 4; .accdb: ACE), read with mdbtools.

Debian's ``mdbtools`` (1.0) reads every Jet/ACE version we meet and skips deleted rows
the way Access does. It runs as a separate program, so a corrupt file can never take a
worker down with it: ``mdb-tables`` lists the user tables, ``mdb-schema`` gives the
column types, and ``mdb-json`` streams the rows, one JSON object per line (a null is an
absent member, which keeps NULL apart from an empty text). Values are then made exact by
their declared type: Currency and Numeric as ``Decimal`` (read from the printed digits,
never through a float), Double/Single as ``float``, DateTime as ``datetime``, Yes/No as
``bool``.

A failure of mdbtools (an unreadable page, a file that is not Access) is a
``LegacyReadError`` naming the file and table with mdbtools' own words, and the page's
byte offset when it names a page. Deleted rows are skipped by mdbtools and cannot be
counted (``ReadStats.deleted_skipped`` stays 0 for Access).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from domain.errors import LegacyReadError, PlanError, UnsupportedFormatError
from legacy_connectors.base import Column, ReadStats, Row, TableInfo
from legacy_connectors.files import FileSource

_COLUMN = re.compile(
    r"^\s*\[(?P<name>[^\]]+)\]\s+(?P<type>[^,(]+?)\s*(\((?P<args>[^)]*)\))?(\s+NOT NULL)?,?\s*$"
)
_PAGE = re.compile(r"page\s+(\d+)", re.I)
_DATETIME = "%Y-%m-%d %H:%M:%S"


def _portable(name: str, access_type: str, args: str | None, nullable: bool) -> Column:
    t = access_type.strip().lower()
    if t in ("byte", "integer", "long integer"):
        return Column(name, "integer", nullable)
    if t in ("single", "double"):
        return Column(name, "float", nullable)
    if t == "currency":
        return Column(name, "decimal(19,4)", nullable, precision=19, scale=4)
    if t == "numeric":
        p, _, s = (args or "18, 0").partition(",")
        precision, scale = int(p), int(s or 0)
        return Column(
            name, f"decimal({precision},{scale})", nullable, precision=precision, scale=scale
        )
    if t == "datetime":
        return Column(name, "datetime", nullable)
    if t == "boolean":
        return Column(name, "boolean", nullable)
    if t in ("ole", "binary"):
        return Column(name, "bytes", nullable)
    length = int(args) if t == "text" and args and args.isdigit() else None
    return Column(name, "text", nullable, length=length)  # text, memo, hyperlink, GUID


class AccessSource(FileSource):
    """A Microsoft Access database file. Implements ``LegacySource``.

    Args:
        path: the .mdb or .accdb file.
    """

    kind = "access"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._info: list[TableInfo] | None = None

    def _run(self, *args: str, table: str | None = None) -> str:
        try:
            done = subprocess.run(
                [*args], capture_output=True, text=True, encoding="utf-8", check=False, timeout=600
            )
        except FileNotFoundError as e:
            raise UnsupportedFormatError(
                "reading Access files needs mdbtools (apt-get install mdbtools)",
                where=str(self.path),
            ) from e
        if done.returncode != 0 or "error" in done.stderr.lower():
            raise self._failure(done.stderr, table)
        return done.stdout

    def _failure(self, stderr: str, table: str | None) -> LegacyReadError:
        said = " ".join(stderr.split())[:300] or "mdbtools failed without saying why"
        page = _PAGE.search(stderr)
        offset = None
        if page:
            offset = int(page.group(1)) * self._page_size()
        return LegacyReadError(
            f"mdbtools cannot read it: {said}",
            table=table or self.path.name,
            where=f"{self.path}" + (f" table {table}" if table else ""),
            offset=offset,
        )

    def _page_size(self) -> int:
        with self.path.open("rb") as f:
            head = f.read(0x15)
        # Jet 3 uses 2 KiB pages; Jet 4 and ACE 4 KiB (version byte at 0x14).
        return 2048 if len(head) > 0x14 and head[0x14] == 0 else 4096

    def open(self) -> None:
        """Check the file exists and mdbtools can read its catalogue. Idempotent."""
        if self._info is not None:
            return
        if not self.path.is_file():
            raise PlanError(f"no such file: {self.path}")
        if shutil.which("mdb-json") is None:
            raise UnsupportedFormatError(
                "reading Access files needs mdbtools (apt-get install mdbtools)",
                where=str(self.path),
            )
        self.describe()

    def describe(self) -> Sequence[TableInfo]:
        """The user tables (system tables left out) with their columns and types."""
        if self._info is None:
            names = [t for t in self._run("mdb-tables", "-1", str(self.path)).splitlines() if t]
            self._info = [self._table_info(name) for name in names]
        return self._info

    def _table_info(self, table: str) -> TableInfo:
        ddl = self._run("mdb-schema", "-T", table, "--no-relations", str(self.path), table=table)
        columns = []
        for line in ddl.splitlines():
            m = _COLUMN.match(line)
            if m:
                nullable = "NOT NULL" not in line
                columns.append(_portable(m["name"], m["type"], m["args"], nullable))
        return TableInfo(table, tuple(columns))

    def _records(self, table: str, stats: ReadStats | None) -> Iterator[tuple[int, Row]]:
        info = self.table_info(table)
        convert = [(c.name, _converter(c)) for c in info.columns]
        args = ["mdb-json", "-D", "%Y-%m-%d", "-T", _DATETIME, str(self.path), table]
        with subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8"
        ) as proc:
            assert proc.stdout is not None
            assert proc.stderr is not None
            number = 0
            try:
                for line in proc.stdout:
                    if not line.strip():
                        continue
                    number += 1
                    try:
                        raw = json.loads(line, parse_float=Decimal, strict=False)
                    except json.JSONDecodeError as e:
                        raise LegacyReadError(
                            f"mdbtools printed a row that is not JSON: {e.msg}", table=table,
                            where=f"{self.path} table {table}", record=number,
                        ) from e  # fmt: skip
                    yield number, {name: fn(raw.get(name)) for name, fn in convert}
            finally:
                if proc.poll() is None:
                    proc.kill()
            stderr = proc.stderr.read()
            if proc.wait() != 0 or "error" in stderr.lower() or "couldn't" in stderr.lower():
                raise self._failure(stderr, table)


def _converter(column: Column) -> Any:
    kind = column.type.split("(")[0]

    def decimal(v: Any) -> Any:
        return None if v is None else Decimal(v) if not isinstance(v, Decimal) else v

    def number(v: Any) -> Any:
        return None if v is None else float(v)

    def boolean(v: Any) -> Any:
        return None if v is None else bool(int(v))

    def when(v: Any) -> Any:
        return None if v in (None, "") else datetime.strptime(v, _DATETIME)

    def integer(v: Any) -> Any:
        return None if v is None else int(v)

    def text(v: Any) -> Any:
        return v if v is None or isinstance(v, str) else str(v)

    def binary(v: Any) -> Any:
        return None if v is None else v.encode("latin-1") if isinstance(v, str) else bytes(v)

    return {
        "decimal": decimal,
        "float": number,
        "boolean": boolean,
        "datetime": when,
        "integer": integer,
        "bytes": binary,
    }.get(kind, text)


def open_access_source(config: Any) -> AccessSource:
    """The source of a plan's ``kind: access`` section (``AccessSourceConfig``)."""
    return AccessSource(config.path)

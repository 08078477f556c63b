"""Access databases of the corpus (access/), read with mdbtools, against both expectations."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from domain.errors import LegacyReadError
from legacy_connectors import RECORD_NUMBER
from legacy_connectors.access import AccessSource
from tests.conftest import IN_CI, need_corpus


@pytest.fixture(autouse=True)
def mdbtools() -> None:
    if shutil.which("mdb-json") is None:
        message = "mdbtools is not installed (Makefile system-deps installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def rows(source: AccessSource, table: str) -> list[dict]:
    out = [r for b in source.read(table, [RECORD_NUMBER]) for r in b]
    for r in out:
        del r[RECORD_NUMBER]
    return out


@pytest.mark.parametrize("name", ["testV1997.mdb", "testV2010.accdb"])
def test_jackcess_assertions(name: str) -> None:
    folder = need_corpus("access")
    expected = json.loads((folder / "expected_jackcess_assertions.json").read_text())
    want = expected["testV1997.mdb|testV2010.accdb"]
    source = AccessSource(folder / name)
    source.open()
    assert [t.name for t in source.describe()] == want["user_tables"]
    table1 = source.table_info("Table1")
    assert [c.name for c in table1.columns] == [n for n, _t in want["Table1"]["columns"]]
    got = rows(source, "Table1")
    assert len(got) == want["Table1"]["row_count"]
    for row in want["Table1"]["rows_any_order"]:
        expected_row = {k: datetime.fromisoformat(v) if k == "G" else v for k, v in row.items()}
        assert any(all(r[k] == v for k, v in expected_row.items()) for r in got)
    # MONEY, which Jackcess does not assert: exact decimals, as mdbtools prints them.
    assert sorted(r["H"] for r in got) == [Decimal("0.0000"), Decimal("3.5000")]
    assert len(source.table_info("Table2").columns) == want["Table2"]["column_count"]
    assert rows(source, "Table2") == []


def test_deleted_rows_are_skipped() -> None:
    folder = need_corpus("access")
    got = rows(AccessSource(folder / "delTestV2003.mdb"), "Table")
    assert [(r["a"], r["b"]) for r in got] == [("z", "y"), ("v", "u")]


def test_numeric_columns_are_exact() -> None:
    folder = need_corpus("access")
    source = AccessSource(folder / "fixedNumericTestV2003.mdb")
    (row,) = rows(source, "test")
    assert row["col1"] == "some data"
    assert [row[f"col{i}"] for i in range(2, 8)] == [
        Decimal(v) for v in ["1", "0", "0", "4", "-1", "1"]
    ]
    assert source.table_info("test").column("col2").type == "decimal(18,0)"


@pytest.mark.parametrize(
    ("db", "table"),
    [("testV1997", "Table1"), ("testV2010", "Table1"), ("delTestV2003", "Table"),
     ("fixedNumericTestV2003", "test"), ("testV1997", "Table3")],
)  # fmt: skip
def test_matches_mdbtools_csv(db: str, table: str) -> None:
    folder = need_corpus("access")
    path = next(folder.glob(f"{db}.*db"))
    expected_csv = folder / "expected_mdbtools_csv" / f"{db}__{table}.csv"
    with expected_csv.open(newline="", encoding="utf-8") as f:
        want = list(csv.DictReader(f))
    got = rows(AccessSource(path), table)
    assert len(got) == len(want)
    for ours, theirs in zip(got, want, strict=True):
        for column, text in theirs.items():
            value = ours[column]
            if isinstance(value, bool):
                assert value == (text == "1")
            elif isinstance(value, datetime):
                assert value.strftime("%Y-%m-%d %H:%M:%S") == text
            elif isinstance(value, float):
                assert value == float(text)
            else:
                assert str(value) == text


def test_unreadable_page(tmp_path: Path) -> None:
    folder = need_corpus("access")
    broken = tmp_path / "broken.mdb"
    data = bytearray((folder / "testV1997.mdb").read_bytes())
    data[2 * 2048 : 3 * 2048] = b"\xde\xad" * 1024  # Jet 3 pages are 2 KiB; page 2 is MSysObjects
    broken.write_bytes(bytes(data))
    with pytest.raises(LegacyReadError) as caught:
        AccessSource(broken).open()
    assert "broken.mdb" in str(caught.value)
    assert caught.value.offset == 2 * 2048
    assert "Page 2" in str(caught.value)

"""dBase/FoxPro files of the corpus (dbf/), read exactly, and broken ones reported exactly."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from domain.errors import LegacyReadError
from legacy_connectors import RECORD_NUMBER, ReadStats
from legacy_connectors.dbf import DbfSource
from tests.conftest import need_corpus

INFUSED = ["cp1251", "dbase_03", "dbase_30", "dbase_31", "dbase_83", "dbase_8b", "dbase_f5"]
# dbfread decoded these with "ascii" (their headers declare no code page) and replaced
# every other byte with U+FFFD. The text is Catalan written on DOS (cp850: "penedès",
# "químic") and Windows text (cp1252: "…"); we declare those code pages, as a plan would,
# and check our characters sit exactly where dbfread put U+FFFD.
DECLARED = {"dbase_f5": "cp850", "dbase_83": "cp1252"}


def records(source: DbfSource, table: str, stats: ReadStats | None = None) -> list[dict]:
    out = [r for b in source.read(table, [RECORD_NUMBER], stats=stats) for r in b]
    for r in out:
        del r[RECORD_NUMBER]
    return out


def as_json(value):
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def same(ours, theirs) -> bool:
    if isinstance(ours, Decimal):
        # dbfread gives floats for N fields (and str() of its Decimal for Y); ours are exact.
        return ours == Decimal(str(theirs))
    if isinstance(ours, str) and isinstance(theirs, str) and "\ufffd" in theirs:
        return len(ours) == len(theirs) and all(
            a == b or (b == "\ufffd" and not a.isascii()) for a, b in zip(ours, theirs, strict=True)
        )
    return as_json(ours) == theirs


def _deduplicated(names: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for name in names:
        unique, n = name, 1
        while unique.lower() in seen:
            n += 1
            unique = f"{name}_{n}"
        seen.add(unique.lower())
        out.append(unique)
    return out


def as_dbfread(row: dict[str, Any], originals: list[str]) -> dict[str, Any]:
    """Our row as dbfread gives it: columns under their file names, a repeated name once
    (where it first appears) with the later field's value."""
    out: dict[str, Any] = {}
    for unique, original in zip(_deduplicated(originals), originals, strict=True):
        out[original] = row[unique]
    return out


@pytest.mark.parametrize("name", INFUSED)
def test_infused_dbf_matches_expected(name: str) -> None:
    folder = need_corpus("dbf", "infused-dbf")
    expected = json.loads((folder / "expected" / f"{name}_records_dbfread.json").read_text())
    source = DbfSource(folder / f"{name}.dbf", encoding=DECLARED.get(name))
    info = source.table_info(name)
    fields = [f for f in expected["fields"] if f["type"] != "0"]
    originals = [f["name"] for f in fields]
    # A name given twice (dbase_03's Point_ID) is a second column, Point_ID_2, here;
    # dbfread keeps one key holding the later field's value. Compared in its terms below.
    assert [c.name for c in info.columns] == _deduplicated(originals)
    stats = ReadStats()
    rows = [as_dbfread(row, originals) for row in records(source, name, stats)]
    assert len(rows) == len(expected["records"])
    assert stats.deleted_skipped == len(expected["deleted_records"])
    for number, (ours, theirs) in enumerate(zip(rows, expected["records"], strict=True), 1):
        # _NullFlags is Visual FoxPro's bookkeeping, not data: we leave it out.
        theirs.pop("_NullFlags", None)
        assert list(ours) == list(theirs), number
        for column, value in theirs.items():
            assert same(ours[column], value), (name, number, column)


def test_summaries_name_the_versions() -> None:
    folder = need_corpus("dbf", "infused-dbf")
    source = DbfSource(folder / "cp1251.dbf")
    assert "Encoding: cp1251" in (folder / "expected" / "cp1251_summary.txt").read_text()
    assert source.encoding_of("cp1251") == "cp1251"
    assert source.describe()[0].row_count_hint == 4


def test_memo_deleted_and_dates() -> None:
    folder = need_corpus("dbf", "dbfread")
    expected = json.loads((folder / "expected.json").read_text())
    for name in ("memotest", "people"):
        stats = ReadStats()
        rows = records(DbfSource(folder / f"{name}.dbf"), name, stats)
        want = expected[f"{name}.dbf"]
        assert [{k: as_json(v) for k, v in r.items()} for r in rows] == want["records"]
        assert stats.deleted_skipped == len(want["deleted_records"])


def test_missing_memo_file() -> None:
    folder = need_corpus("dbf", "dbfread")
    with pytest.raises(LegacyReadError, match="memo file"):
        DbfSource(folder / "no_memofile.dbf").open()
    rows = records(DbfSource(folder / "no_memofile.dbf", ignore_missing_memo=True), "no_memofile")
    want = json.loads((folder / "expected.json").read_text())["no_memofile.dbf"]
    assert [{k: as_json(v) for k, v in r.items()} for r in rows] == (
        want["records_when_ignoring_missing_memo"]
    )


def test_invalid_date_is_an_error_or_quarantined() -> None:
    folder = need_corpus("dbf", "dbfread")
    with pytest.raises(LegacyReadError) as caught:
        records(DbfSource(folder / "invalid_value.dbf"), "invalid_value")
    assert caught.value.record == 1
    assert "BIRTHDATE" in str(caught.value)
    assert caught.value.offset == 97 + 1 + 16  # header, deletion flag, NAME(16)
    stats = ReadStats()
    rows = records(DbfSource(folder / "invalid_value.dbf", quarantine_bad_records=True),
                   "invalid_value", stats)  # fmt: skip
    assert rows == [{"NAME": "Bob", "BIRTHDATE": date(1980, 11, 12)}]
    (skipped,) = stats.skipped
    assert (skipped.record_number, skipped.byte_offset) == (1, 114)
    assert b"NotAYear" in (skipped.raw or b"")


def test_undeclared_code_page_is_an_error_with_offset() -> None:
    folder = need_corpus("dbf", "infused-dbf")
    with pytest.raises(LegacyReadError) as caught:
        records(DbfSource(folder / "dbase_f5.dbf"), "dbase_f5")
    error = caught.value
    assert (error.record, error.offset) == (1, 2070)
    assert "COMN" in str(error)
    assert "0x8a" in str(error)
    data = (folder / "dbase_f5.dbf").read_bytes()
    assert data[2070] == 0x8A  # the offset points at the byte itself
    stats = ReadStats()
    kept = records(
        DbfSource(folder / "dbase_f5.dbf", quarantine_bad_records=True), "dbase_f5", stats
    )
    assert len(kept) + len(stats.skipped) == 975
    assert all(r["NOM"].isascii() for r in kept)


def test_truncated_dbf(tmp_path: Path) -> None:
    folder = need_corpus("dbf", "dbfread")
    broken = tmp_path / "people.dbf"
    data = (folder / "people.dbf").read_bytes()
    broken.write_bytes(data[: 97 + 25 + 10])  # cut inside the second record
    with pytest.raises(LegacyReadError) as caught:
        records(DbfSource(broken), "people")
    assert (caught.value.record, caught.value.offset) == (2, 97 + 25)
    assert "truncated" in str(caught.value)
    assert "people.dbf" in str(caught.value)
    broken.write_bytes(data[:60])  # cut inside the header
    with pytest.raises(LegacyReadError, match=r"people\.dbf"):
        DbfSource(broken).open()


def test_keys_other_than_record_order(tmp_path: Path) -> None:
    folder = need_corpus("dbf", "infused-dbf")
    source = DbfSource(folder / "dbase_31.dbf")
    by_name = [r for b in source.read("dbase_31", ["PRODUCTNAM"], batch_rows=10) for r in b]
    names = [r["PRODUCTNAM"] for r in by_name]
    assert names == sorted(names)
    assert len(names) == 77
    after = [r for b in source.read("dbase_31", ["PRODUCTNAM"], after=(names[9],)) for r in b]
    assert [r["PRODUCTNAM"] for r in after] == names[10:]
    assert source.key_bounds("dbase_31", ["PRODUCTID"]) == ((1,), (77,))
    assert source.lookup("dbase_31", ["PRODUCTID"], [(1,), (99,)])[(1,)]["PRODUCTNAM"] == "Chai"
    segments = source.segment_checksums("dbase_31", ["PRODUCTID"], ["PRODUCTID", "UNITPRICE"], 4)
    assert [s.rows for s in segments] == [20, 20, 20, 17]
    shutil.copy(folder / "dbase_31.dbf", tmp_path / "copy.dbf")
    with pytest.raises(LegacyReadError, match="repeats"):
        list(DbfSource(tmp_path / "copy.dbf").read("copy", ["CATEGORYID"]))


def test_a_field_name_given_twice_keeps_both_fields() -> None:
    folder = need_corpus("dbf", "infused-dbf")
    expected = json.loads((folder / "expected" / "dbase_03_records_dbfread.json").read_text())
    rows = records(DbfSource(folder / "dbase_03.dbf"), "dbase_03", ReadStats())
    first = rows[0]
    assert "Point_ID" in first
    assert "Point_ID_2" in first
    # dbfread's single Point_ID holds the later field; the earlier one is ours to keep.
    assert first["Point_ID_2"] == expected["records"][0]["Point_ID"]

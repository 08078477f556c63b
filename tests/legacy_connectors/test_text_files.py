"""CSV and fixed-width exports: sniffing, code pages, BOMs, quarantine, exact errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import LegacyReadError
from legacy_connectors import RECORD_NUMBER, ReadStats
from legacy_connectors.text_files import FixedColumn, TextFileSource


def rows(source: TextFileSource, table: str, stats: ReadStats | None = None, key=None) -> list:
    out = [r for b in source.read(table, key or [RECORD_NUMBER], stats=stats) for r in b]
    for r in out:
        r.pop(RECORD_NUMBER, None)
    return out


def test_sniffed_semicolons_cp1252_and_quotes(tmp_path: Path) -> None:
    path = tmp_path / "electors.csv"
    path.write_bytes(
        'ID;SURNAME;NOTE\r\n1;Gonçalves;"says ""hi""; twice"\r\n2;O’Brien;\r\n'
        '3;"multi\r\nline";€5\r\n'.encode("cp1252")
    )
    source = TextFileSource(path, encoding="cp1252")
    assert [c.name for c in source.table_info("electors").columns] == ["ID", "SURNAME", "NOTE"]
    got = rows(source, "electors")
    assert got == [
        {"ID": "1", "SURNAME": "Gonçalves", "NOTE": 'says "hi"; twice'},
        {"ID": "2", "SURNAME": "O’Brien", "NOTE": None},
        {"ID": "3", "SURNAME": "multi\r\nline", "NOTE": "€5"},
    ]


def test_utf8_bom_and_no_header(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes("\ufeff1,Łukasz\n2,Zoë\n".encode())
    source = TextFileSource(path, delimiter=",", header=False, column_names=["id", "name"])
    assert rows(source, "a") == [{"id": "1", "name": "Łukasz"}, {"id": "2", "name": "Zoë"}]


def test_latin1_header_has_no_bom_issue(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes("nom,ville\nRené,Besançon\n".encode("latin-1"))
    assert rows(TextFileSource(path, encoding="latin-1"), "b") == [
        {"nom": "René", "ville": "Besançon"}
    ]


def test_undecodable_byte_names_file_record_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    good = b"id,name\n1,Ann\n2,Bob\n"
    path.write_bytes(good + b"3,Bad\x81name\n4,Dee\n")  # 0x81 is undefined in cp1252
    with pytest.raises(LegacyReadError) as caught:
        rows(TextFileSource(path, encoding="cp1252"), "c")
    error = caught.value
    assert (error.record, error.offset) == (3, len(good) + 5)
    assert "c.csv" in str(error)
    assert "0x81" in str(error)
    stats = ReadStats()
    got = rows(TextFileSource(path, encoding="cp1252", quarantine_bad_records=True), "c", stats)
    assert [r["id"] for r in got] == ["1", "2", "4"]
    (skipped,) = stats.skipped
    assert (skipped.record_number, skipped.byte_offset, skipped.raw) == (
        3, len(good) + 5, b"3,Bad\x81name\n",
    )  # fmt: skip


def test_wrong_number_of_fields(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n3\n4,5\n")
    with pytest.raises(LegacyReadError, match="1 fields where the header has 2"):
        rows(TextFileSource(path), "d")
    stats = ReadStats()
    assert len(rows(TextFileSource(path, quarantine_bad_records=True), "d", stats)) == 2
    assert stats.skipped[0].record_number == 2


def test_fixed_width(tmp_path: Path) -> None:
    path = tmp_path / "payroll.txt"
    path.write_bytes("000001SMITH     0001250\r\n000002ÉLISE    \r\n".encode("latin-1"))
    layout = [FixedColumn("ID", 1, 6), FixedColumn("NAME", 7, 10), FixedColumn("PAY", 17, 7)]
    source = TextFileSource(path, encoding="latin-1", layout=layout)
    assert rows(source, "payroll") == [
        {"ID": "000001", "NAME": "SMITH", "PAY": "0001250"},
        {"ID": "000002", "NAME": "ÉLISE", "PAY": None},
    ]
    by_name = rows(source, "payroll", key=["NAME"])
    assert [r["NAME"] for r in by_name] == ["SMITH", "ÉLISE"]


def test_folder_of_files_is_a_table_each(tmp_path: Path) -> None:
    (tmp_path / "one.csv").write_text("x\n1\n")
    (tmp_path / "two.tsv").write_text("y\tz\n2\t3\n")
    source = TextFileSource(tmp_path)
    assert [t.name for t in source.describe()] == ["one", "two"]
    assert rows(source, "two") == [{"y": "2", "z": "3"}]
    assert source.count("one") == 1

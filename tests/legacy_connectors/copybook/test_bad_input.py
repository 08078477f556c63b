"""Bad input: each gives an error naming file, record and byte offset, or, with
quarantine on, is set aside in ReadStats.skipped and counted; nothing is dropped."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from domain.errors import LegacyReadError
from legacy_connectors.base import RECORD_NUMBER, ReadStats, Row
from legacy_connectors.copybook import CopybookSyntaxError, open_copybook_source

COPYBOOK = """\
       01  ACCOUNT.
           05  ACCOUNT-ID      PIC 9(6).
           05  NAME            PIC X(10).
           05  BALANCE         PIC S9(5)V99 COMP-3.
           05  VISITS          PIC S9(4) COMP.
"""
RECLEN = 6 + 10 + 4 + 2


def record(number: int, name: str = "SMITH", balance: bytes = b"\x00\x12\x34\x5c") -> bytes:
    return f"{number:06d}".encode("cp037") + name.ljust(10).encode("cp037") + balance + b"\x00\x07"


def write(tmp_path: Path, data: bytes, copybook: str = COPYBOOK) -> tuple[Path, Path]:
    (tmp_path / "a.cpy").write_text(copybook)
    (tmp_path / "a.dat").write_bytes(data)
    return tmp_path / "a.cpy", tmp_path / "a.dat"


def read_all(quarantine: bool, stats: ReadStats, **options: object) -> list[Row]:
    source = open_copybook_source(quarantine_bad_records=quarantine, **options)  # type: ignore[arg-type]
    name = source.describe()[0].name
    return [r for b in source.read(name, [RECORD_NUMBER], stats=stats) for r in b]


def test_good_records_decode(tmp_path: Path) -> None:
    cpy, dat = write(tmp_path, record(1) + record(2))
    rows = read_all(False, ReadStats(), copybook=cpy, data=dat)
    assert rows[0] == {
        RECORD_NUMBER: 1,
        "ACCOUNT-ID": 1,
        "NAME": "SMITH",
        "BALANCE": Decimal("123.45"),
        "VISITS": 7,
    }
    assert str(rows[1]["BALANCE"]) == "123.45"


def test_short_record(tmp_path: Path) -> None:
    cpy, dat = write(tmp_path, record(1) + record(2)[:15])
    with pytest.raises(LegacyReadError, match=r"a\.dat.*record 2, byte offset 37.*shorter") as e:
        read_all(False, ReadStats(), copybook=cpy, data=dat)
    assert e.value.record == 2
    stats = ReadStats()
    rows = read_all(True, stats, copybook=cpy, data=dat)
    assert [r[RECORD_NUMBER] for r in rows] == [1]
    assert [(s.record_number, s.byte_offset) for s in stats.skipped] == [(2, RECLEN + 15)]


def test_invalid_packed_nibble(tmp_path: Path) -> None:
    cpy, dat = write(tmp_path, record(1) + record(2, balance=b"\x00\x1a\x34\x5c") + record(3))
    with pytest.raises(
        LegacyReadError, match=r"record 2, byte offset 39: BALANCE: packed-decimal nibble 0xA"
    ):
        read_all(False, ReadStats(), copybook=cpy, data=dat)
    stats = ReadStats()
    rows = read_all(True, stats, copybook=cpy, data=dat)
    assert [r[RECORD_NUMBER] for r in rows] == [1, 3]
    assert stats.skipped[0].record_number == 2
    assert stats.skipped[0].raw == record(2, balance=b"\x00\x1a\x34\x5c")


def test_copybook_that_does_not_parse(tmp_path: Path) -> None:
    bad = COPYBOOK.replace("PIC X(10).", "PIC X(10) FROB.")
    cpy, dat = write(tmp_path, record(1), bad)
    with pytest.raises(
        CopybookSyntaxError, match=r"a\.cpy, line 3, column 42: unexpected 'FROB'"
    ) as e:
        read_all(False, ReadStats(), copybook=cpy, data=dat)
    assert (e.value.line, e.value.column) == (3, 42)


def test_bad_picture_names_line_and_column(tmp_path: Path) -> None:
    cpy, dat = write(tmp_path, record(1), COPYBOOK.replace("PIC 9(6).", "PIC 9(6)Q."))
    with pytest.raises(CopybookSyntaxError, match=r"line 2, column 36: picture string"):
        read_all(False, ReadStats(), copybook=cpy, data=dat)


def test_rdw_past_end_of_file(tmp_path: Path) -> None:
    rdw = (RECLEN + 4).to_bytes(2, "big") + b"\x00\x00"
    data = rdw + record(1) + (200).to_bytes(2, "big") + b"\x00\x00" + record(2)
    cpy, dat = write(tmp_path, data)
    with pytest.raises(
        LegacyReadError,
        match=r"record 2, byte offset 26: the record descriptor word says 196 bytes",
    ):
        read_all(False, ReadStats(), copybook=cpy, data=dat, record_format="V")
    stats = ReadStats()
    rows = read_all(True, stats, copybook=cpy, data=dat, record_format="V")
    assert len(rows) == 1
    assert stats.skipped[0].record_number == 2


def test_undecodable_byte(tmp_path: Path) -> None:
    # cp424 (Hebrew EBCDIC) leaves some bytes undefined, e.g. 0x70.
    cpy, dat = write(tmp_path, record(1) + record(2)[:8] + b"\x70" + record(2)[9:])
    with pytest.raises(
        LegacyReadError,
        match=r"record 2, byte offset 30: NAME: byte 0x70 has no character in cp424",
    ):
        read_all(False, ReadStats(), copybook=cpy, data=dat, encoding="cp424")
    stats = ReadStats()
    assert len(read_all(True, stats, copybook=cpy, data=dat, encoding="cp424")) == 1
    assert stats.skipped[0].byte_offset == RECLEN + 8


def test_unknown_segment_value_is_not_dropped(tmp_path: Path) -> None:
    copybook = """\
       01  REC.
           05  KIND     PIC X.
           05  BODY     PIC X(5).
           05  NUM-VIEW REDEFINES BODY.
               10  N    PIC 9(5).
"""
    data = "H00012D12345Z99999".encode("cp037")
    cpy, dat = write(tmp_path, data, copybook)
    source = open_copybook_source(
        copybook=cpy,
        data=dat,
        segment_field="KIND",
        segments={"H": "BODY", "D": "NUM-VIEW"},
        quarantine_bad_records=True,
    )
    stats = ReadStats()
    rows = [r for b in source.read("NUM-VIEW", [RECORD_NUMBER], stats=stats) for r in b]
    assert rows == [{RECORD_NUMBER: 2, "KIND": "D", "N": 12345}]
    assert stats.skipped[0].record_number == 3


def test_resume_after_record_and_key_order(tmp_path: Path) -> None:
    cpy, dat = write(tmp_path, b"".join(record(n) for n in (1, 2, 3, 5, 4)))
    source = open_copybook_source(copybook=cpy, data=dat)
    after = [
        r[RECORD_NUMBER]
        for b in source.read("ACCOUNT", [RECORD_NUMBER], after=(2,), upto=(4,))
        for r in b
    ]
    assert after == [3, 4]
    by_id = [r["ACCOUNT-ID"] for b in source.read("ACCOUNT", ["ACCOUNT-ID"]) for r in b]
    assert by_id == [1, 2, 3, 4, 5]  # sorted: the file is not in ACCOUNT-ID order
    assert source.count("ACCOUNT") == 5
    assert source.key_bounds("ACCOUNT", ["ACCOUNT-ID"]) == ((1,), (5,))
    assert set(source.lookup("ACCOUNT", [RECORD_NUMBER], [(4,)])[(4,)].keys()) >= {"NAME"}
    sums = source.segment_checksums("ACCOUNT", [RECORD_NUMBER], ["ACCOUNT-ID", "BALANCE"], 2)
    assert sum(s.rows for s in sums) == 5


def test_a_repeated_key_names_both_records(tmp_path: Path) -> None:
    cpy, dat = write(tmp_path, b"".join(record(n) for n in (3, 1, 2, 1)))
    source = open_copybook_source(copybook=cpy, data=dat)
    message = r"record 4, byte offset 66: key ACCOUNT-ID repeats: record 2 \(byte offset 22\)"
    with pytest.raises(LegacyReadError, match=message):
        list(source.read("ACCOUNT", ["ACCOUNT-ID"]))
    with pytest.raises(LegacyReadError, match=message):
        source.lookup("ACCOUNT", ["ACCOUNT-ID"], [(1,)])
    in_order = write(tmp_path, b"".join(record(n) for n in (1, 2, 2, 3)))
    source = open_copybook_source(copybook=in_order[0], data=in_order[1])
    with pytest.raises(LegacyReadError, match=r"record 3, .*: .* record 2 \(byte offset 22\)"):
        list(source.read("ACCOUNT", ["ACCOUNT-ID"]))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("05 A PIC X(999999999).", r"line 3, column 10: .* 999,999,999 positions, over the"),
        ("05 A PIC X OCCURS 50000000 TIMES.", r"line 1, column 1: R has 50,000,002 items"),
        ("05 A PIC X OCCURS " + "9" * 5000 + ".", r"line 3, column 19: OCCURS 9+ is over"),
        ("05 A PIC X OCCURS 5 TO 2 DEPENDING ON N.", r"the maximum is below the minimum"),
        ("05 A PIC X OCCURS 1 TO 2 DEPENDING ON NX.", r"NX, which is not an elementary item"),
        ("05 A PIC 9(39) COMP-3.", r"line 3, column 1: A: .* at most 38 digits"),
    ],
)
def test_a_layout_too_large_to_read_is_a_copybook_error(
    tmp_path: Path, entry: str, message: str
) -> None:
    """Typos that would have a worker build gigabytes of layout fail at once, in place."""
    cpy, dat = write(tmp_path, b"", copybook=f"01 R.\n05 N PIC 9.\n{entry}\n")
    with pytest.raises(CopybookSyntaxError, match=message):
        open_copybook_source(copybook=cpy, data=dat).describe()


def test_a_variable_file_cut_inside_a_descriptor_word_is_counted_or_named(tmp_path: Path) -> None:
    cpy, dat = write(tmp_path, b"\x00\x1a\x00\x00" + record(1) + b"\x00\x1a")
    strict = open_copybook_source(copybook=cpy, data=dat, record_format="V")
    with pytest.raises(LegacyReadError, match=r"record 2, byte offset 26: the file ends inside"):
        strict.count("ACCOUNT")
    lenient = open_copybook_source(
        copybook=cpy, data=dat, record_format="V", quarantine_bad_records=True
    )
    assert lenient.count("ACCOUNT") == 2  # the one good record and the cut one, set aside

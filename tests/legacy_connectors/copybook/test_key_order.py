"""Mainframe files in any record order, read by key: every record exact, in bounded memory.

Files come from a generator of random layouts and records (EBCDIC text, zoned, packed and
binary keys; fixed-length and multi-segment RDW files), written once in key order and
once shuffled: the shuffled file read by key gives, record for record, what the sorted
file gives, and what its own file-order read gives once sorted.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import legacy_connectors.key_order
from domain.errors import LegacyReadError
from legacy_connectors.base import RECORD_NUMBER, LegacySource, ReadStats, Row
from legacy_connectors.canonical import CHECKSUM_MODULUS
from legacy_connectors.copybook import open_copybook_source
from legacy_connectors.key_order import key_order
from tests.legacy_connectors.copybook.test_corpus import corpus_test5b_by_segment

# --- EBCDIC encoders -------------------------------------------------------------------


def text(value: str, size: int) -> bytes:
    return value.ljust(size).encode("cp037")


def zoned(value: int, digits: int) -> bytes:
    return f"{value:0{digits}d}".encode("cp037")


def packed(value: int, digits: int) -> bytes:
    """COMP-3 of ``digits`` digits: two digits a byte, the sign (C or D) in the last nibble."""
    size = digits // 2 + 1
    nibbles = f"{abs(value):0{2 * size - 1}d}" + ("d" if value < 0 else "c")
    return bytes.fromhex(nibbles)


def binary(value: int, size: int, *, signed: bool = False) -> bytes:
    return value.to_bytes(size, "big", signed=signed)


def rdw(payload: bytes) -> bytes:
    """An IBM standard record descriptor word (its length counts its own 4 bytes)."""
    return (len(payload) + 4).to_bytes(2, "big") + b"\x00\x00" + payload


# --- a random fixed-length layout -------------------------------------------------------


@dataclass(frozen=True)
class KeyKind:
    picture: str
    encode: Callable[[int], bytes]
    value: Callable[[int], Any]


KEY_KINDS = {
    "binary": KeyKind("PIC 9(9) COMP", lambda v: binary(v, 4), lambda v: v),
    "packed": KeyKind("PIC S9(9) COMP-3", lambda v: packed(v - 500_000, 9), lambda v: v - 500_000),
    "zoned": KeyKind("PIC 9(8)", lambda v: zoned(v, 8), lambda v: v),
    "text": KeyKind("PIC X(10)", lambda v: text(f"K{v:07d}", 10), lambda v: f"K{v:07d}"),
}
SURNAMES = ["OKAFOR", "SMITH", "NGUYEN", "O'BRIEN", "KOWALSKA", "PATEL", "MACLEOD", "EVANS"]


@dataclass(frozen=True)
class FixedFile:
    copybook: str
    key: list[str]
    records: list[tuple[int, bytes]]  # (key value, record bytes), in key order

    def write(self, folder: Path, name: str, order: list[int]) -> LegacySource:
        (folder / "layout.cpy").write_text(self.copybook)
        data = folder / name
        data.write_bytes(b"".join(self.records[i][1] for i in order))
        return open_copybook_source(copybook=folder / "layout.cpy", data=data)


def fixed_file(seed: int, records: int) -> FixedFile:
    """A layout with a key of a random kind at a random place among other fields, and
    ``records`` records with distinct, gappy keys."""
    rng = random.Random(seed)
    kind = KEY_KINDS[rng.choice(sorted(KEY_KINDS))]
    others = [
        ("SURNAME", "PIC X(12)", lambda v: text(rng.choice(SURNAMES), 12)),
        ("BALANCE", "PIC S9(7)V99 COMP-3", lambda v: packed(rng.randint(-(10**8), 10**8), 9)),
        ("VISITS", "PIC S9(4) COMP", lambda v: binary(rng.randint(-999, 999), 2, signed=True)),
        ("BORN", "PIC 9(8)", lambda v: zoned(19_400_101 + rng.randrange(600_000), 8)),
    ]
    rng.shuffle(others)
    place = rng.randrange(len(others) + 1)
    fields = [*others[:place], ("ACCOUNT-ID", kind.picture, kind.encode), *others[place:]]
    copybook = "       01  ACCOUNT.\n" + "".join(
        f"           05  {name:<14} {picture}.\n" for name, picture, _ in fields
    )
    keys = sorted(rng.sample(range(1, 50 * records), records))
    out = [(k, b"".join(encode(k) for _, _, encode in fields)) for k in keys]
    return FixedFile(copybook, ["ACCOUNT-ID"], out)


def rows(source: LegacySource, table: str, key: list[str], **options: Any) -> list[Row]:
    return [r for batch in source.read(table, key, **options) for r in batch]


def without_number(found: list[Row]) -> list[Row]:
    return [{c: v for c, v in r.items() if c != RECORD_NUMBER} for r in found]


def by_key(found: list[Row], key: list[str]) -> list[Row]:
    return sorted(found, key=lambda r: key_order(tuple(r[c] for c in key)))


@pytest.fixture(params=[False, True], ids=["in-memory", "spilled"])
def spill(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Runs small enough that every sort here spills and merges many runs, or one run."""
    if request.param:
        monkeypatch.setattr(legacy_connectors.key_order, "SORT_RUN_ROWS", 37)
    return bool(request.param)


@pytest.mark.parametrize("seed", range(8))
def test_shuffled_fixed_file_reads_as_the_sorted_one(
    tmp_path: Path, seed: int, spill: bool
) -> None:
    generated = fixed_file(seed, 600)
    n = len(generated.records)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    sorted_source = generated.write(tmp_path, "sorted.dat", list(range(n)))
    shuffled = generated.write(tmp_path, "shuffled.dat", order)
    key = generated.key

    want = rows(sorted_source, "ACCOUNT", key)
    got = rows(shuffled, "ACCOUNT", key, batch_rows=97)
    assert without_number(got) == without_number(want)
    # Each row keeps its own record number: the n-th record of the shuffled file.
    file_order = rows(shuffled, "ACCOUNT", [RECORD_NUMBER])
    assert got == by_key(file_order, key)

    # Ranges, as a copy reads them, cover the table once and in order.
    cuts = sorted(random.Random(seed).sample(range(1, n - 1), 4))
    ranged: list[Row] = []
    after = None
    for cut in [*cuts, None]:
        upto = None if cut is None else (want[cut][key[0]],)
        ranged += rows(shuffled, "ACCOUNT", key, after=after, upto=upto, batch_rows=50)
        after = upto
    assert ranged == got

    low, high = shuffled.key_bounds("ACCOUNT", key) or ((), ())
    assert (low, high) == ((want[0][key[0]],), (want[-1][key[0]],))
    asked = [(want[i][key[0]],) for i in (0, n // 2, n - 1)] + [("missing",)]
    found = shuffled.lookup("ACCOUNT", key, asked)
    assert sorted(found, key=key_order) == asked[:3]
    assert found[asked[1]] == got[n // 2]

    columns = [c.name for c in shuffled.describe()[0].columns if c.name != RECORD_NUMBER]
    mine = shuffled.segment_checksums("ACCOUNT", key, columns, 4)
    theirs = sorted_source.segment_checksums("ACCOUNT", key, columns, 4)
    assert sum(s.rows for s in mine) == sum(s.rows for s in theirs) == n
    total = sum(s.checksum for s in mine) % CHECKSUM_MODULUS
    assert total == sum(s.checksum for s in theirs) % CHECKSUM_MODULUS


def test_a_file_in_key_order_is_streamed_not_sorted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated = fixed_file(3, 300)
    source = generated.write(tmp_path, "sorted.dat", list(range(300)))

    class NoSort:
        def __init__(self, **_options: Any) -> None:
            raise AssertionError("a file already in key order was sorted")

    monkeypatch.setattr("legacy_connectors.copybook.source.KeySort", NoSort)
    got = rows(source, "ACCOUNT", generated.key)
    assert [r[RECORD_NUMBER] for r in got] == list(range(1, 301))


def test_bad_records_of_a_shuffled_file_are_set_aside_once(tmp_path: Path) -> None:
    generated = fixed_file(5, 200)
    order = list(range(200))
    random.Random(5).shuffle(order)
    source = generated.write(tmp_path, "shuffled.dat", order)
    data = bytearray((tmp_path / "shuffled.dat").read_bytes())
    reclen = len(data) // 200
    data[7 * reclen : 8 * reclen] = b"\xff" * reclen  # record 8: nothing decodes, key included
    (tmp_path / "shuffled.dat").write_bytes(bytes(data))
    (tmp_path / "layout.cpy").write_text(generated.copybook)
    strict = open_copybook_source(copybook=tmp_path / "layout.cpy", data=tmp_path / "shuffled.dat")
    with pytest.raises(LegacyReadError, match=f"record 8, byte offset {7 * reclen}"):
        rows(strict, "ACCOUNT", generated.key)
    source = open_copybook_source(
        copybook=tmp_path / "layout.cpy",
        data=tmp_path / "shuffled.dat",
        quarantine_bad_records=True,
    )
    stats = ReadStats()
    got = rows(source, "ACCOUNT", generated.key, stats=stats)
    assert [s.record_number for s in stats.skipped] == [8]
    assert stats.rows == len(got) == 199
    assert got == by_key(rows(source, "ACCOUNT", [RECORD_NUMBER]), generated.key)


# --- a multi-segment variable-length file ------------------------------------------------

SEGMENTED = """\
       01  ACCOUNT-REC.
           05  KIND           PIC X.
           05  ACCOUNT-ID     PIC 9(9) COMP.
           05  HEADER.
               10  SURNAME    PIC X(12).
               10  OPENED     PIC 9(8).
           05  DETAIL REDEFINES HEADER.
               10  SEQ        PIC S9(4) COMP.
               10  AMOUNT     PIC S9(9)V99 COMP-3.
               10  MEMO       PIC X(12).
"""
SEGMENTS = {"H": "HEADER", "D": "DETAIL"}
KEYS = {"HEADER": ["ACCOUNT-ID"], "DETAIL": ["ACCOUNT-ID", "SEQ"]}


def segmented_records(seed: int, accounts: int) -> Iterator[bytes]:
    """Header and detail records of ``accounts`` accounts, grouped, in key order."""
    rng = random.Random(seed)
    for account in sorted(rng.sample(range(1, 10 * accounts), accounts)):
        surname, opened = rng.choice(SURNAMES), 19_700_101 + rng.randrange(500_000)
        yield text("H", 1) + binary(account, 4) + text(surname, 12) + zoned(opened, 8)
        for seq in sorted(rng.sample(range(-50, 50), rng.randrange(5))):
            detail = binary(seq, 2, signed=True) + packed(rng.randint(-(10**10), 10**10), 11)
            yield text("D", 1) + binary(account, 4) + detail + text(f"MEMO {seq}", 12)


def open_segmented(folder: Path, name: str, records: list[bytes]) -> LegacySource:
    (folder / "segments.cpy").write_text(SEGMENTED)
    (folder / name).write_bytes(b"".join(rdw(r) for r in records))
    return open_copybook_source(
        copybook=folder / "segments.cpy",
        data=folder / name,
        record_format="V",
        segment_field="KIND",
        segments=SEGMENTS,
    )


@pytest.mark.parametrize("seed", range(5))
def test_shuffled_multi_segment_file_reads_as_the_sorted_one(
    tmp_path: Path, seed: int, spill: bool
) -> None:
    records = list(segmented_records(seed, 150))
    shuffled_records = records[:]
    random.Random(seed).shuffle(shuffled_records)
    in_order = open_segmented(tmp_path, "sorted.dat", records)
    shuffled = open_segmented(tmp_path, "shuffled.dat", shuffled_records)
    total = 0
    for table, key in KEYS.items():
        want = rows(in_order, table, key)
        got = rows(shuffled, table, key, batch_rows=64)
        assert without_number(got) == without_number(want), table
        assert got == by_key(rows(shuffled, table, [RECORD_NUMBER]), key), table
        assert shuffled.count(table) == len(want)
        total += len(got)
        if want:
            middle = tuple(want[len(want) // 2][c] for c in key)
            found = shuffled.lookup(table, key, [middle])
            assert found[middle] == got[len(want) // 2]
    assert total == len(records)
    # By account alone, details repeat: reported with both records, never one dropped.
    with pytest.raises(LegacyReadError, match=r"key ACCOUNT-ID repeats: record \d+ \(byte offset"):
        rows(shuffled, "DETAIL", ["ACCOUNT-ID"])


def test_corpus_multi_segment_file_is_not_in_key_order() -> None:
    """cobrix's test5b: companies and contacts, as the mainframe wrote them (not by id)."""
    _base, source = corpus_test5b_by_segment()
    for table, key in [
        ("STATIC-DETAILS", ["COMPANY-ID"]),
        ("CONTACTS", ["COMPANY-ID", "PHONE-NUMBER"]),
    ]:
        file_order = rows(source, table, [RECORD_NUMBER])
        assert file_order != by_key(file_order, key)
        assert rows(source, table, key, batch_rows=100) == by_key(file_order, key)
    with pytest.raises(LegacyReadError, match="key COMPANY-ID repeats"):
        rows(source, "CONTACTS", ["COMPANY-ID"])


def test_amounts_stay_exact_through_the_sort(tmp_path: Path) -> None:
    records = [
        text("D", 1) + binary(1, 4) + binary(seq, 2, signed=True) + packed(v, 11) + text("", 12)
        for seq, v in [(3, -1), (1, 12_345_678_901), (2, -99_999_999_999)]
    ]
    source = open_segmented(tmp_path, "d.dat", records)
    got = rows(source, "DETAIL", KEYS["DETAIL"])
    assert [r["AMOUNT"] for r in got] == [
        Decimal("123456789.01"),
        Decimal("-999999999.99"),
        Decimal("-0.01"),
    ]
    assert [str(r["AMOUNT"]) for r in got][2] == "-0.01"

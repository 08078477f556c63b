"""Every expected decode in ../shared/corpus/mainframe, met through the copybook source.

Cobrix writes its own conventions into its output; ``as_cobrix`` applies them to our rows
so that the comparison is of values: ``_`` for ``-`` in names, nested groups and arrays,
text trimmed and its control characters shown as spaces (its default code page tables),
null fields left out. Where we decode differently on purpose, the test says why.
"""

from __future__ import annotations

import json
import struct
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from legacy_connectors.base import RECORD_NUMBER, LegacySource, ReadStats, Row
from legacy_connectors.copybook import open_copybook_source
from tests.conftest import need_corpus


def rows_of(
    table: str | None = None, *, stats: ReadStats | None = None, **options: Any
) -> list[Row]:
    source = open_copybook_source(**options)
    name = table or source.describe()[0].name
    return [r for batch in source.read(name, [RECORD_NUMBER], stats=stats) for r in batch]


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line, parse_float=Decimal) for line in path.read_text().split("\n") if line]


def flat_expected(obj: dict[str, Any], suffix: str = "") -> dict[str, Any]:
    """Cobrix's nested JSON flattened (array slots as ``_1``, ``_2``), cobrix's names."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out.update(flat_expected(value, suffix))
        elif isinstance(value, list):
            for i, element in enumerate(value, start=1):
                out.update(flat_expected(element, f"{suffix}_{i}"))
        else:
            out[key + suffix] = value
    return out


def cobrix_text(value: str, *, trim: bool) -> str:
    """Cobrix's default tables show C0/C1 control characters as spaces, then trim."""
    shown = "".join(" " if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F else c for c in value)
    return shown.strip() if trim else shown


def assert_matches(
    ours: Row,
    expected: dict[str, Any],
    *,
    trim: bool = True,
    nulls_as_zero: bool = False,
    agreed_differences: dict[str, Any] | None = None,
) -> None:
    """Each expected field equals ours; each of ours that cobrix left out is None."""
    agreed = agreed_differences or {}
    exp = dict(flat_expected(expected).items())
    for column, value in ours.items():
        if column == RECORD_NUMBER or column in agreed:
            continue
        key = column.replace("-", "_")
        if key not in exp:
            assert value is None, (column, value)
            continue
        want = exp[key]
        if value is None:
            assert nulls_as_zero, (column, value, want)
            assert want == 0, (column, value, want)
        elif isinstance(value, str):
            assert same_text(value, want, trim=trim), (column, value, want)
        elif isinstance(value, float):
            # Cobrix prints a COMP-1 as Java's shortest float32 text: compare as float32.
            packed = struct.pack(">f", float(want))
            assert struct.pack(">f", value) == packed or value == float(want), (column, value, want)
        elif isinstance(value, Decimal):
            assert isinstance(want, Decimal | int), (column, want)
            assert value == want, (column, value, want)
            # Exactly the declared scale: 30.50, not 30.5.
            exponent = Decimal(str(want)).as_tuple().exponent
            assert isinstance(want, int) or value.as_tuple().exponent == exponent, (column, value)
        else:
            assert value == want, (column, value, want)
            assert type(value) is int, (column, value)
    mine = {c.replace("-", "_") for c in ours}
    for key in exp:
        assert key in mine or key in agreed, key


MF = "mainframe"


def test_test3_fixed_binary_amounts() -> None:
    base = need_corpus(MF, "cobrix-test3-fixed")
    ours = rows_of(copybook=base / "test3_copybook.cpy", data=base / "TRAN2.AUG31.DATA.dat")
    assert len(ours) == 1000
    expected = jsonl(base / "expected" / "test3_first60.jsonl")
    for row, want in zip(ours, expected, strict=False):
        assert_matches(row, want)
    assert isinstance(ours[0]["AMOUNT"], Decimal)


def test_test1_occurs_depending_on_and_redefines() -> None:
    base = need_corpus(MF, "cobrix-test1-odo")
    ours = rows_of(copybook=base / "test1_copybook.cpy", data=base / "example.bin")
    expected = jsonl(base / "expected" / "test1.jsonl")
    assert len(ours) == len(expected) == 10
    for row, want in zip(ours, expected, strict=True):
        # Occurrences past the DEPENDING ON count are null columns (cobrix leaves them out).
        assert_matches(row, want)
        count = row["NUMBER-OF-ACCTS"]
        assert row[f"ACCOUNT-NUMBER_{count}"] is not None
        if count < 80:
            assert row[f"ACCOUNT-NUMBER_{count + 1}"] is None


def test_test1_csv_flattened() -> None:
    base = need_corpus(MF, "cobrix-test1-odo")
    import csv

    ours = rows_of(copybook=base / "test1_copybook.cpy", data=base / "example.bin")
    with (base / "expected" / "test1.csv").open() as fh:
        expected = list(csv.DictReader(fh))
    assert len(expected) == len(ours)
    for row, want in zip(ours, expected, strict=True):
        assert int(want["RECORD_ID"]) == row["ID"]
        for i in range(1, 81):
            key = f"RECORD_METADATA_ACCOUNT_ACCOUNT_DETAIL_{i}_ACCOUNT_NUMBER"
            mine = row[f"ACCOUNT-NUMBER_{i}"]
            assert (want[key] or None) == (mine.strip() if mine else None), (i, key)


def test_test19_display_numbers_and_invalid_ones() -> None:
    base = need_corpus(MF, "cobrix-test19-display-num")
    options = {"copybook": base / "test19_display_num.cpy", "data": base / "data.dat"}
    expected = jsonl(base / "expected" / "test19.jsonl")
    stats = ReadStats()
    ours = rows_of(stats=stats, quarantine_bad_records=True, **options)
    # Record 6 holds letters in three numeric fields ("ABCDE", "EFGH", "CITI"). Cobrix
    # shows them as null; we refuse to turn data into null silently: the record is bad.
    assert [s.record_number for s in stats.skipped] == [7]
    assert stats.skipped[0].byte_offset == 6 * 80 + 0
    assert "WS-DATE-NUM" in stats.skipped[0].reason
    assert len(ours) == 6
    for row, want in zip(ours, expected[:6], strict=True):
        assert row[RECORD_NUMBER] == want["Record_Id"] + 1
        want = {k: v for k, v in want.items() if k not in ("File_Id", "Record_Id")}
        if row[RECORD_NUMBER] == 6:
            # All spaces in WS-AMOUNT-FRACTION (9(8)V99): cobrix makes it 0.00 while it
            # makes the blank 9(8) and 9(10) beside it null. Blank is no value: we say None.
            assert row["WS-AMOUNT-FRACTION"] is None
            assert want.pop("WS_AMOUNT_FRACTION") == 0
        assert_matches(row, want)
    with pytest.raises(Exception, match=r"record 7, byte offset 480"):
        rows_of(**options)


def _control(c: str) -> bool:
    return ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F


# Python's cp273 (and so our cp1141) has OVERLINE at 0xBC where cobrix's table has MACRON.
_SAME_GLYPH = {("‾", "¯")}


def same_text(ours: str, expected: str, *, trim: bool) -> bool:
    """Ours equals cobrix's text, allowing for its display rules: its tables show some
    control characters as spaces (or newlines), it trims like Java's ``trim()`` when
    asked, and ours has lost trailing padding (spaces, NULs) that it keeps."""
    if trim:
        blank = "".join(chr(i) for i in range(0x21)) + "".join(chr(i) for i in range(0x7F, 0xA0))
        ours = ours.strip(blank)
        expected = expected.strip("".join(chr(i) for i in range(0x21)))
        if len(ours) != len(expected):
            return False
    elif len(ours) > len(expected) or expected[len(ours) :].strip(" \x00"):
        return False
    return all(
        c == e or (_control(c) and (e == " " or _control(e))) or (c, e) in _SAME_GLYPH
        for c, e in zip(ours, expected, strict=False)
    )


CODEPAGES = ["cp037", "cp037_ext", "cp500", "cp273", "cp1140", "cp1141", "cp1148"]


@pytest.mark.parametrize("page", CODEPAGES)
def test_test9_code_pages(page: str) -> None:
    base = need_corpus(MF, "cobrix-test9-codepages")
    encoding = "cp037" if page == "cp037_ext" else page
    ours = rows_of(
        copybook=base / "test9_copybook.cpy",
        data=base / "TRAN.APR14.NPT.DATA.dat",
        encoding=encoding,
    )
    expected = jsonl(base / "expected" / f"test9_{page}_first60.jsonl")
    assert len(expected) == 60
    for row, want in zip(ours, expected, strict=False):
        # cp037 was read with cobrix's basic table and trimming; the others untrimmed, with
        # C1 controls as spaces. We keep every decoded character (and drop only trailing
        # padding), so the comparison applies cobrix's display rules to our text.
        for key in ("COMPANY_NAME_NP", "COMPANY_ID", "CURRENCY", "SIGNATURE"):
            assert same_text(row[key.replace("_", "-")], want[key], trim=page == "cp037"), key
        assert row["AMOUNT"] == want["AMOUNT"]
        assert row["WEALTH-QFY"] == want["WEALTH_QFY"]


def test_test9_code_pages_differ_where_ibm_says() -> None:
    base = need_corpus(MF, "cobrix-test9-codepages")
    options = {"copybook": base / "test9_copybook.cpy", "data": base / "TRAN.APR14.NPT.DATA.dat"}
    by_page = {
        p: rows_of(encoding=p, **options)[1]["COMPANY-NAME-NP"]
        for p in ("cp037", "cp1140", "cp1148", "cp1141")
    }
    assert "¤" in by_page["cp037"]
    assert "€" in by_page["cp1140"]
    assert "€" in by_page["cp1148"]
    assert "€" in by_page["cp1141"]


def test_test5b_variable_rdw_all_views() -> None:
    base = need_corpus(MF, "cobrix-test5b-rdw-multiseg")
    ours = rows_of(
        copybook=base / "test5_copybook.cpy",
        data=base / "COMP.DETAILS.FEB02.DATA.RDW.BE.dat",
        record_format="V",
        rdw_counts_header=False,
    )
    assert len(ours) == 1000
    expected = jsonl(base / "expected" / "test5b_first60.jsonl")
    for row, want in zip(ours, expected, strict=False):
        assert row[RECORD_NUMBER] == want["Record_Id"] + 1
        meta = ("File_Id", "Record_Id", "Record_Byte_Length", "Seg_Id0", "Seg_Id1")
        want = {k: v for k, v in want.items() if k not in meta}
        agreed: dict[str, Any] = {}
        taxpayer = want["STATIC_DETAILS"]["TAXPAYER"]
        if want["SEGMENT_ID"] == "P":
            # A contact record is 60 bytes; TAXPAYER-STR (view STATIC-DETAILS) runs to
            # byte 64. Cobrix reads the missing bytes as blanks ("");  bytes that are not
            # in the record are no value to us: None.
            assert row["TAXPAYER-STR"] is None
            assert taxpayer.pop("TAXPAYER_STR") == ""
            agreed["TAXPAYER-STR"] = True
        elif taxpayer["TAXPAYER_TYPE"] != "A":
            # Bytes 56-59 hold the binary TAXPAYER-NUM. Cobrix shows them as nothing in
            # the text views that cover them (TAXPAYER-STR, the end of CONTACT-PERSON);
            # we decode every byte as cp037 defines it, so compare the text before them.
            assert row["TAXPAYER-STR"] is not None
            taxpayer.pop("TAXPAYER_STR")
            agreed["TAXPAYER-STR"] = True
            person = want["CONTACTS"]["CONTACT_PERSON"]
            assert same_text(row["CONTACT-PERSON"][:24], person[:24], trim=True)
            agreed["CONTACT-PERSON"] = True
        assert_matches(row, want, agreed_differences=agreed)


def corpus_test5b_by_segment() -> tuple[Path, LegacySource]:
    """cobrix's multi-segment file with a table per segment: companies and contacts."""
    base = need_corpus(MF, "cobrix-test5b-rdw-multiseg")
    source = open_copybook_source(
        copybook=base / "test5_copybook.cpy",
        data=base / "COMP.DETAILS.FEB02.DATA.RDW.BE.dat",
        record_format="V",
        rdw_counts_header=False,
        segment_field="SEGMENT-ID",
        segments={"C": "STATIC-DETAILS", "P": "CONTACTS"},
    )
    return base, source


def test_test5b_segments_pick_the_layout() -> None:
    base, source = corpus_test5b_by_segment()
    names = [t.name for t in source.describe()]
    assert names == ["STATIC-DETAILS", "CONTACTS"]
    contacts = [r for b in source.read("CONTACTS", [RECORD_NUMBER]) for r in b]
    companies = [r for b in source.read("STATIC-DETAILS", [RECORD_NUMBER]) for r in b]
    assert len(contacts) + len(companies) == 1000
    assert source.count("CONTACTS") == len(contacts)
    assert "COMPANY-NAME" not in contacts[0]
    assert "PHONE-NUMBER" in contacts[0]
    expected = {w["Record_Id"] + 1: w for w in jsonl(base / "expected" / "test5b_first60.jsonl")}
    for row in contacts + companies:
        want = expected.get(row[RECORD_NUMBER])
        if want is None:
            continue
        view = "CONTACTS" if want["SEGMENT_ID"] == "P" else "STATIC_DETAILS"
        if view == "STATIC_DETAILS" and want[view]["TAXPAYER"]["TAXPAYER_TYPE"] != "A":
            want[view]["TAXPAYER"].pop("TAXPAYER_STR")  # binary bytes: see the test above
            row = {k: v for k, v in row.items() if k != "TAXPAYER-STR"}
        assert_matches(
            row,
            {"SEGMENT_ID": want["SEGMENT_ID"], "COMPANY_ID": want["COMPANY_ID"], view: want[view]},
        )


def test_test6_every_numeric_form() -> None:
    base = need_corpus(MF, "cobrix-test6-type-variety")
    source = open_copybook_source(
        copybook=base / "test6_copybook.cpy", data=base / "INTEGR.TYPES.NOV28.DATA.dat"
    )
    ours = {r["ID"]: r for b in source.read("RECORD", [RECORD_NUMBER]) for r in b}
    expected = jsonl(base / "expected" / "test6_all100_sorted_by_id.jsonl")
    assert len(ours) == len(expected) == 100
    for want in expected:
        # Expected nulls were written as 0 by that export.
        assert_matches(ours[want["ID"]], want, nulls_as_zero=True)


def test_test6_layout_matches_cobrix_offsets() -> None:
    base = need_corpus(MF, "cobrix-test6-type-variety")
    check_layout(
        base / "test6_copybook.cpy",
        base / "INTEGR.TYPES.NOV28.DATA.dat",
        base / "expected" / "test6_layout.txt",
    )


def test_test19_layout_matches_cobrix_offsets() -> None:
    base = need_corpus(MF, "cobrix-test19-display-num")
    check_layout(
        base / "test19_display_num.cpy", base / "data.dat", base / "expected" / "test19_layout.txt"
    )


def check_layout(copybook: Path, data: Path, layout: Path) -> None:
    from legacy_connectors.copybook.layout import flatten, lay_out
    from legacy_connectors.copybook.parser import parse_copybook

    root = lay_out(parse_copybook(copybook.read_text())[0], str(copybook))
    fields = {f.name.replace("-", "_"): f for f in flatten(root, {})}
    checked = 0
    for line in layout.read_text().splitlines()[3:]:
        parts = line.split()
        if len(parts) < 5 or parts[1] == "FILLER":
            continue
        name, start, length = parts[1], int(parts[-3]), int(parts[-1])
        assert fields[name].offset == start - 1, name
        assert fields[name].type.size == length, name
        checked += 1
    assert checked == len(fields)
    assert root.size == int(layout.read_text().splitlines()[2].split()[-1])


def mdu_text(value: Any, digits: int, scale: int) -> str:
    """aws-mainframe-data-utilities' text of a value: zero-padded numbers, low-values gone."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if scale:
        whole, _, frac = f"{value:.{scale}f}".partition(".")
        return f"{whole.zfill(digits - scale)}.{frac}"
    return str(value).zfill(digits) if digits else str(value)


def test_aws_client_fb500_three_way_redefines() -> None:
    base = need_corpus(MF, "aws-mdu-client-fb500-redefines")
    layout = json.loads((base / "expected" / "CLIENT.layout.mdu.json").read_text())
    source = open_copybook_source(
        copybook=base / "COBKS05.cpy",
        data=base / "CLIENT.EBCDIC.dat",
        record_format="FB",
        segment_field="CLIENT-TYPE",
        segments={"0": "CLIENT-HEADER", "1": "CLIENT-MAIN", "2": "CLIENT-ADDRESS"},
    )
    tables = {t.name: t for t in source.describe()}
    rows: dict[int, tuple[str, Row]] = {}
    for name in tables:
        for batch in source.read(name, [RECORD_NUMBER]):
            rows.update({r[RECORD_NUMBER]: (name, r) for r in batch})
    lines = (base / "expected" / "CLIENT.ASCII.psv").read_text().splitlines()
    assert len(rows) == len(lines) == 221
    by_table = {"CLIENT-MAIN": "transf", "CLIENT-ADDRESS": "transf1", "CLIENT-HEADER": "transf2"}
    for number, line in enumerate(lines, start=1):
        name, row = rows[number]
        fields = layout[by_table[name]]
        values = line.split("|")
        assert len(values) == len(fields)
        for spec, text in zip(fields, values, strict=True):
            if spec["name"].startswith("FILLER"):
                continue
            column = tables[name].column(spec["name"])
            # The mdu layout's byte offsets are ours.
            mine = row[spec["name"]]
            digits = 0 if spec["type"] == "bi" else (column.precision or 0)
            assert mdu_text(mine, digits, column.scale or 0) == text, (number, spec["name"])


def test_aws_vb_occurs_depending_on() -> None:
    base = need_corpus(MF, "aws-mdu-cobvbfm2-vb-odo")
    source = open_copybook_source(
        copybook=base / "COBVBFM2.cpy", data=base / "COBVBFM2.EBCDIC.dat", record_format="VB"
    )
    info = source.describe()[0]
    rows = [r for b in source.read(info.name, [RECORD_NUMBER]) for r in b]
    lines = (base / "expected" / "COBVBFM2.ASCII.psv").read_text().splitlines()
    assert len(rows) == len(lines) == 20
    for row, line in zip(rows, lines, strict=True):
        texts = []
        for column in info.columns[1:]:
            value = row[column.name]
            texts.append(mdu_text(value, column.precision or 0, column.scale or 0))
        assert "|".join(texts) == line


def test_a_plans_copybook_source_opens_through_open_source() -> None:
    """Plans reach the copybook source through ``open_source`` with their config model."""
    from config.migration_plan import CopybookSourceConfig
    from legacy_connectors import open_source

    base = need_corpus("mainframe", "cobrix-test3-fixed")
    config = CopybookSourceConfig(kind="copybook", copybook=base / "test3_copybook.cpy",
                                  data=base / "TRAN2.AUG31.DATA.dat")  # fmt: skip
    source = open_source(config)
    try:
        table = source.describe()[0].name
        assert source.count(table) == 1000
    finally:
        source.close()

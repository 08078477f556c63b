"""The copybook parser and decoder: damaged corpus copybooks, damaged corpus data files,
and copybooks generated from the grammar with data for them. Only our errors come out,
each naming the copybook or data file (and line, or record and offset)."""

from __future__ import annotations

from tests.conftest import need_corpus
from tests.fuzz.targets import fuzz

ONE_FIELD = "       01  R.\n           05  A PIC X(4).\n"
STRICT = {"record_format": "V", "quarantine_bad_records": False}
LENIENT = {"record_format": "V", "quarantine_bad_records": True}

# Each of these once escaped (as what the comment says) or held a worker for minutes.
LAYOUTS = [
    ("01 R.\n 05 A PIC X OCCURS " + "9" * 5000 + ".\n",),  # ValueError: int of 5000 digits
    ("01 R.\n 05 A PIC X(" + "9" * 5000 + ").\n",),  # ValueError, in the picture
    ("01 R.\n 05 A PIC X OCCURS 50000000 TIMES.\n",),  # a column per occurrence: minutes, GBs
    ("01 R.\n 05 G OCCURS 5000.\n  10 H OCCURS 5000.\n   15 A PIC X.\n",),  # the same, nested
    ("01 R.\n 05 A PIC X(999999999).\n",),  # a gigabyte picture string
    ("01 R.\n 05 N PIC 9.\n 05 A PIC X OCCURS 1 TO 5 DEPENDING ON NX.\n",),  # no such count
]
DATA = [
    (ONE_FIELD, b"\x00\x08\x00", STRICT),  # _Framing out of count(): file ends in an RDW
    (ONE_FIELD, b"\x00\x08\x00", LENIENT),
    (ONE_FIELD, b"\x00\x00\x00\x00", STRICT),  # an RDW shorter than itself
    (ONE_FIELD, b"\x00\x50\x00\x00ABCD", STRICT),  # an RDW past the end of the file
    # Two binary fields 16 MB apart: the batch decoder's struct format was 16 M "x"s.
    ("01 R.\n 05 A PIC S9(4) COMP.\n 05 F PIC X(16000000).\n 05 B PIC S9(4) COMP.\n",
     b"\x00\x01" * 8, {"quarantine_bad_records": True}),
]  # fmt: skip


def test_parser_takes_damaged_and_generated_copybooks() -> None:
    fuzz("copybook-parse", 100, LAYOUTS)


def test_decoder_takes_damaged_corpus_files() -> None:
    need_corpus("mainframe")
    fuzz("copybook-decode", 80)


def test_reader_takes_generated_copybooks_and_data() -> None:
    fuzz("copybook-grammar", 80, DATA)

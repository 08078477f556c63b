"""Exports for spreadsheets: CSV whose cells a spreadsheet will never run as formulas.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which
some spreadsheets skip before looking) is read as a formula by Excel, LibreOffice and
Google Sheets, so a name typed on a form or a system's name in a plan could run one on the
manager's machine ("formula injection"). Such text gets a leading apostrophe, which the
spreadsheet shows as text. Numbers stay numbers: a value that is a plain number (a
negative amount of pounds) cannot be a formula and is written as it is.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` as a cell a spreadsheet shows and does not evaluate.

    Example:
        >>> spreadsheet_safe("=HYPERLINK(\\"http://x\\")")
        '\\'=HYPERLINK("http://x")'
        >>> spreadsheet_safe("-120.50")
        '-120.50'
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def write_csv(out: TextIO, headings: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a heading row and ``rows`` as CSV, every cell made spreadsheet-safe
    (``None`` as an empty cell)."""
    writer = csv.writer(out)
    writer.writerow([spreadsheet_safe(h) for h in headings])
    for row in rows:
        writer.writerow(["" if v is None else spreadsheet_safe(v) for v in row])


def csv_text(headings: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The CSV of ``write_csv`` as a string."""
    out = io.StringIO()
    write_csv(out, headings, rows)
    return out.getvalue()

"""CSV for spreadsheets: no cell runs as a formula, numbers stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from switchover.exports import csv_text, spreadsheet_safe
from switchover.savings import write_ledger_csv


@pytest.mark.parametrize(
    "text", ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "-", "=", "-e1", "+44 20 7946"]
)
def test_text_a_spreadsheet_would_evaluate_is_shown_as_text(text) -> None:
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["-120.50", "+3", "-7", "OKAFOR", "a=b", "", 5, Decimal("-1")])
def test_numbers_and_ordinary_text_are_left_alone(value) -> None:
    assert spreadsheet_safe(value) == value


def test_csv_text_makes_every_cell_safe_headings_too() -> None:
    text = csv_text(["=h", "b"], [["=x", None], [Decimal("-2.5"), "-2.5"]])
    assert list(csv.reader(io.StringIO(text))) == [["'=h", "b"], ["'=x", ""], ["-2.5", "-2.5"]]


def test_the_savings_ledger_csv_holds_no_formula() -> None:
    report = {"ledger": [
        {"kind": "form", "subject": "=HYPERLINK(1)", "entries": 2, "amount_gbp": "13.60"},
        {"kind": "system", "subject": "payroll", "entries": 1, "amount_gbp": "-60000.00"},
    ]}  # fmt: skip
    out = io.StringIO()
    write_ledger_csv(report, out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [
        ["kind", "subject", "entries", "amount_gbp"],
        ["form", "'=HYPERLINK(1)", "2", "13.60"],
        ["system", "payroll", "1", "-60000.00"],
    ]

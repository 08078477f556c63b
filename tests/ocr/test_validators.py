"""Validators: the canonical forms of values and the rules they must meet."""

from __future__ import annotations

from datetime import date

import pytest

from config.form_template import FieldSpec
from ocr.validators import (
    normalise,
    normalise_date,
    normalise_email,
    normalise_money,
    normalise_ni_number,
    normalise_phone,
    normalise_postcode,
    repair_to_pattern,
)

TODAY = date(2026, 11, 26)


def spec(type_: str, **extra: object) -> FieldSpec:
    return FieldSpec.model_validate({"name": "f", "label": "F", "type": type_, **extra})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AB123456C", "AB123456C"),
        ("ab 12 34 56 c", "AB123456C"),
        ("AB-123456-D", "AB123456D"),
        ("AB 12 34 S6 C", "AB123456C"),  # S in the digits is a 5
        ("AB I2 34 O6 C", "AB120406C".replace("0406", "3406")),  # I→1, O→0
        ("A8 123456 C", "AB123456C"),  # 8 among the prefix letters is a B
        ("™620356C", "TM620356C"),  # "TM" read as the trade mark sign
    ],
)
def test_ni_numbers_normalise(raw: str, expected: str) -> None:
    assert normalise_ni_number(raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "DA123456C",  # D never first
        "AD123456C",  # D never second
        "AO123456C",  # O never second
        "QQ123456C",  # Q never first
        "BG123456C",  # unallocated prefixes
        "GB123456C",
        "NK123456C",
        "KN123456C",
        "TN123456C",
        "NT123456C",
        "ZZ123456C",
        "AB123456E",  # suffix A-D only
        "AB12345C",  # too short
    ],
)
def test_ni_numbers_refused(raw: str) -> None:
    assert normalise_ni_number(raw).error is not None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sw1a1aa", "SW1A 1AA"),
        ("SW1A 1AA", "SW1A 1AA"),
        ("5W1A IAA", "SW1A 1AA"),
        ("LI3 3SB", "L13 3SB"),  # no area LI: the I is the district's 1
        ("M1 1AE", "M1 1AE"),
        ("EH15 3GZ", "EH15 3GZ"),
        ("GIR 0AA", "GIR 0AA"),
    ],
)
def test_postcodes_normalise(raw: str, expected: str) -> None:
    assert normalise_postcode(raw) == (expected, None)


@pytest.mark.parametrize("raw", ["FH15 3GZ", "SW1A 1CA", "12345", "SW1A1AAA"])
def test_postcodes_refused(raw: str) -> None:
    assert normalise_postcode(raw).error is not None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12/03/1985", "1985-03-12"),
        ("12.03.85", "1985-03-12"),
        ("12-3-1985", "1985-03-12"),
        ("12 03 1985", "1985-03-12"),
        ("12031985", "1985-03-12"),
        ("12 March 1985", "1985-03-12"),
        ("12th Mar 1985", "1985-03-12"),
        ("1st of September 2001", "2001-09-01"),
        ("Tuesday 12 March 1985", "1985-03-12"),
        ("12TH OF MARCH 1985", "1985-03-12"),  # block capitals
        ("12th ofMarch 1985", "1985-03-12"),  # a reader that lost the space
        ("March 12th, 1985", "1985-03-12"),
        ("Mar 12 1985", "1985-03-12"),
        ("1985-03-12", "1985-03-12"),
        ("I2/O3/1985", "1985-03-12"),
        ("01/02/26", "2026-02-01"),  # this year: not a century ago
        ("01/02/27", "1927-02-01"),  # a birth date cannot be next year
    ],
)
def test_birth_dates_day_first(raw: str, expected: str) -> None:
    assert normalise_date(raw, birth=True, today=TODAY) == (expected, None)


def test_two_digit_years_of_other_dates_may_be_soon() -> None:
    assert normalise_date("02/02/30", today=TODAY).value == "2030-02-02"


@pytest.mark.parametrize("raw", ["31/02/1985", "12/13/1985", "tomorrow", "12/03"])
def test_dates_refused(raw: str) -> None:
    assert normalise_date(raw, birth=True, today=TODAY).error is not None


def test_birth_date_in_future_refused() -> None:
    assert normalise_date("01/01/2030", birth=True, today=TODAY).error is not None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("£1,234.50", "1234.50"),
        ("1234.5", "1234.50"),
        ("£ 12", "12.00"),
        ("210:71", "210.71"),
        ("GBP 3,000", "3000.00"),
        ("12,50", "12.50"),
        ("-£5.00", "-5.00"),
    ],
)
def test_money(raw: str, expected: str) -> None:
    assert normalise_money(raw) == (expected, None)


def test_money_refused() -> None:
    assert normalise_money("£12.3.4").error is not None


def test_email_phone() -> None:
    assert normalise_email("Grace.Okafor @Example.org") == ("grace.okafor@example.org", None)
    assert normalise_email("grace.okafor@example,org").value == "grace.okafor@example.org"
    assert normalise_email("not an address").error is not None
    assert normalise_phone("07700 900 123") == ("07700900123", None)
    assert normalise_phone("+44 (0)20 7946 0000") == ("02079460000", None)
    assert normalise_phone("0770O 9OO I23") == ("07700900123", None)
    assert normalise_phone("12345").error is not None


def test_normalise_by_field_type() -> None:
    assert normalise(spec("integer"), "1,2O4") == (1204, None)
    assert normalise(spec("name"), "  OKAF0R |") == ("OKAFOR", None)
    assert normalise(spec("name"), "Grace Adaeze") == ("Grace Adaeze", None)
    assert normalise(spec("name"), "Grace 2").error is not None
    assert normalise(spec("checkbox"), "yes") == (True, None)
    assert normalise(spec("checkbox"), "") == (False, None)
    assert normalise(spec("choice", choices=["Employed", "Retired"]), "employd") == (
        "Employed",
        None,
    )
    assert normalise(spec("choice", choices=["Employed", "Retired"]), "Astronaut").error
    assert normalise(spec("text"), "   ").error == "empty"
    birth = FieldSpec(name="date_of_birth", label="Date of birth", type="date")  # type: ignore[arg-type]
    assert normalise(birth, "01/02/99", today=TODAY).value == "1999-02-01"


def test_pattern_repairs_confusions_only_when_one_reading_fits() -> None:
    reference = spec("text", pattern="^[A-Z]{2}[0-9]{6}$")
    assert normalise(reference, "0U571866") == ("OU571866", None)
    assert normalise(reference, "HB 123456") == ("HB123456", None)
    assert normalise(reference, "HB12345").error == "does not match the field's pattern"
    assert repair_to_pattern("0000", "^(OO|00)00$") is None  # two readings fit: no guess

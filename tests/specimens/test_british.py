"""British test data follows the real rules: NI numbers, postcodes, written styles."""

from __future__ import annotations

import random
import re
from datetime import date, datetime
from decimal import Decimal

import pytest

from switchover.specimens import _british as uk
from switchover.specimens._filling import text_matching

# Written independently of the generator, from HMRC's published rules.
NI_RULE = re.compile(r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]$")
# Royal Mail's format: outward A9 A99 AA9 AA99 A9A AA9A, space, inward 9AA (no C I K M O V).
POSTCODE_RULE = re.compile(
    r"^[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY])"
    r" [0-9][ABD-HJLNP-UW-Z]{2}$"
)


def test_ni_numbers_obey_the_prefix_rules() -> None:
    rng = random.Random(1)
    numbers = [uk.ni_number(rng) for _ in range(5000)]
    assert all(NI_RULE.match(n) for n in numbers)
    assert all(uk.is_valid_ni_number(n) for n in numbers)
    assert {n[0] for n in numbers}.isdisjoint(set("DFIQUV"))
    assert {n[1] for n in numbers}.isdisjoint(set("DFIOQUV"))


@pytest.mark.parametrize("bad", ["GB123456A", "DA123456A", "AO123456A", "AB123456E", "AB12345C"])
def test_invalid_ni_numbers_are_refused(bad: str) -> None:
    assert not uk.is_valid_ni_number(bad)


def test_written_ni_numbers_mean_the_same() -> None:
    rng = random.Random(2)
    for _ in range(200):
        number = uk.ni_number(rng)
        assert uk.write_ni_number(number, rng).replace(" ", "") == number


def test_postcodes_have_the_royal_mail_format() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        where = uk.place(rng)
        code = uk.postcode(where, rng)
        assert POSTCODE_RULE.match(code), code
        assert code.startswith(where.area)


def _read_date(text: str) -> date:
    for fmt in ("%d/%m/%Y", "%d %B %Y", "%d %b %Y", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y", "%d.%m.%y"):
        try:
            parsed = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if fmt.endswith("%y"):
            # The generator promises the pivot: yy up to this year's is 20yy.
            century = 2000 if parsed.year % 100 <= 25 else 1900
            parsed = parsed.replace(year=century + parsed.year % 100)
        return parsed
    raise AssertionError(f"unexpected date style {text!r}")


def test_written_dates_read_back_to_the_truth() -> None:
    rng = random.Random(4)
    today = date(2025, 3, 31)
    for _ in range(1000):
        born = uk.date_of_birth(today, rng)
        assert 18 <= (today - born).days / 365.25 <= 91
        assert _read_date(uk.write_date(born, today, rng)) == born


def test_written_money_reads_back_to_the_amount() -> None:
    rng = random.Random(5)
    for _ in range(500):
        amount = uk.money(rng, 0, 9000)
        written = uk.write_money(amount, rng)
        assert Decimal(written.replace("£", "").replace(",", "")) == amount


def test_phone_numbers_are_drama_numbers_written_many_ways() -> None:
    rng = random.Random(6)
    for _ in range(500):
        where = uk.place(rng)
        number = uk.phone_number(where, rng)
        assert re.fullmatch(r"0[127][0-9]{8,9}", number), number
        assert len(number) == 11
        written = uk.write_phone_number(number, rng)
        digits = re.sub(r"[^0-9]", "", written)
        assert digits == number or (written.startswith("+44") and "0" + digits[2:] == number)


def test_reference_text_matches_its_pattern() -> None:
    rng = random.Random(7)
    for pattern in ("^[A-Z]{2}[0-9]{6}$", "^CL[0-9]{7}$", r"^\d{3}-[A-Z0-9]{4}$"):
        assert re.fullmatch(pattern, text_matching(pattern, rng))


def test_unsupported_reference_patterns_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot generate"):
        text_matching("^(AB|CD)[0-9]+$", random.Random(8))

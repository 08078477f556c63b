"""Realistic British test data: NI numbers, places and postcodes, phones, written styles.

Everything here draws from a ``random.Random`` handed in, so a seed fixes the output.
None of it is real personal data: phone numbers come from Ofcom's ranges reserved
for drama, NI numbers are random within the prefix rules.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

# HMRC never issues these letters in a NINO prefix, nor these pairs.
_NI_FIRST = "ABCEGHJKLMNOPRSTWXYZ"  # not D, F, I, Q, U, V
_NI_SECOND = "ABCEGHJKLMNPRSTWXYZ"  # not D, F, I, O, Q, U, V
_NI_BANNED_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_NI_SUFFIXES = "ABCD"

# Letters allowed in the inward code of a postcode (Royal Mail leaves out CIKMOV).
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


@dataclass(frozen=True)
class Place:
    """A real town with its postcode area, the districts it covers and some localities."""

    town: str
    area: str
    districts: tuple[str, ...]
    localities: tuple[str, ...]
    phone_prefix: str  # the Ofcom drama range for the town's area code


def _range(first: int, last: int) -> tuple[str, ...]:
    return tuple(str(n) for n in range(first, last + 1))


# England, Scotland and Wales (the register-to-vote form covers those three).
# Districts are real; drama phone ranges are Ofcom's 01xx 496 0xxx and friends.
PLACES: tuple[Place, ...] = (
    Place("LEEDS", "LS", _range(1, 28), ("HEADINGLEY", "CHAPEL ALLERTON", "ROUNDHAY"), "0113 496"),
    Place("SHEFFIELD", "S", _range(1, 14), ("CROOKES", "HILLSBOROUGH", "NETHER EDGE"), "0114 496"),
    Place("NOTTINGHAM", "NG", _range(1, 11), ("SNEINTON", "BEESTON", "SHERWOOD"), "0115 496"),
    Place("LEICESTER", "LE", _range(1, 5), ("AYLESTONE", "BELGRAVE", "KNIGHTON"), "0116 496"),
    Place("BRISTOL", "BS", _range(1, 16), ("BEDMINSTER", "CLIFTON", "FISHPONDS"), "0117 496"),
    Place("READING", "RG", _range(1, 6), ("CAVERSHAM", "TILEHURST", "WHITLEY"), "0118 496"),
    Place("BIRMINGHAM", "B", _range(1, 48), ("EDGBASTON", "ERDINGTON", "MOSELEY"), "0121 496"),
    Place("EDINBURGH", "EH", _range(1, 17), ("LEITH", "MORNINGSIDE", "PORTOBELLO"), "0131 496"),
    Place("GLASGOW", "G", _range(1, 53), ("PARTICK", "SHAWLANDS", "DENNISTOUN"), "0141 496"),
    Place("LIVERPOOL", "L", _range(1, 27), ("ANFIELD", "WAVERTREE", "WALTON"), "0151 496"),
    Place("MANCHESTER", "M", _range(1, 35), ("DIDSBURY", "LEVENSHULME", "CHORLTON"), "0161 496"),
    Place("CARDIFF", "CF", _range(10, 24), ("CANTON", "ROATH", "LLANDAFF"), "029 2018"),
    Place(
        "LONDON",
        "SE",
        _range(1, 28),
        ("PECKHAM", "LEWISHAM", "BERMONDSEY", "GREENWICH"),
        "020 7946",
    ),
    Place("LONDON", "N", _range(1, 22), ("ISLINGTON", "HIGHBURY", "TOTTENHAM"), "020 7946"),
    Place(
        "NEWCASTLE UPON TYNE", "NE", _range(1, 15), ("JESMOND", "HEATON", "GOSFORTH"), "0191 498"
    ),
    Place("NORWICH", "NR", _range(1, 14), ("EATON", "THORPE HAMLET", "LAKENHAM"), "01632 960"),
)

_STREET_WORDS = (
    "HIGH", "CHURCH", "STATION", "MILL", "PARK", "VICTORIA", "QUEEN", "KING", "ALBERT",
    "GROVE", "MANOR", "ORCHARD", "CASTLE", "BRIDGE", "MARKET", "NORTH", "SOUTH", "WESTFIELD",
    "BEECH", "OAK", "ELM", "ASH", "CHESTNUT", "MEADOW", "SPRING", "WINDSOR", "YORK",
)  # fmt: skip
_STREET_KINDS = (
    "ROAD", "STREET", "LANE", "AVENUE", "CLOSE", "CRESCENT", "DRIVE", "GARDENS",
    "TERRACE", "WAY", "PLACE", "GROVE", "MEWS", "COURT", "WALK",
)  # fmt: skip

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def ni_number(rng: random.Random) -> str:
    """A National Insurance number that passes HMRC's format rules, as ``AB123456C``."""
    while True:
        prefix = rng.choice(_NI_FIRST) + rng.choice(_NI_SECOND)
        if prefix not in _NI_BANNED_PREFIXES:
            break
    digits = "".join(rng.choice("0123456789") for _ in range(6))
    return f"{prefix}{digits}{rng.choice(_NI_SUFFIXES)}"


def is_valid_ni_number(value: str) -> bool:
    """Whether ``value`` (normalised, no spaces) obeys the NI number prefix and suffix rules."""
    return (
        len(value) == 9
        and value[0] in _NI_FIRST
        and value[1] in _NI_SECOND
        and value[:2] not in _NI_BANNED_PREFIXES
        and value[2:8].isdigit()
        and value[8] in _NI_SUFFIXES
    )


def write_ni_number(value: str, rng: random.Random) -> str:
    """``AB123456C`` the way people write it: grouped in pairs, run together, or split."""
    styles = (
        f"{value[:2]} {value[2:4]} {value[4:6]} {value[6:8]} {value[8]}",
        value,
        f"{value[:2]} {value[2:8]} {value[8]}",
    )
    return rng.choice(styles)


def place(rng: random.Random) -> Place:
    """A town with its postcode area."""
    return rng.choice(PLACES)


def postcode(where: Place, rng: random.Random) -> str:
    """A postcode in the real format for the town, e.g. ``LS6 2QD``, ``SE15 4JT``."""
    district = rng.choice(where.districts)
    inward = f"{rng.randint(0, 9)}{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"
    return f"{where.area}{district} {inward}"


def street_address(rng: random.Random) -> str:
    """A house number and street, sometimes with a flat number, in capitals."""
    street = f"{rng.randint(1, 240)} {rng.choice(_STREET_WORDS)} {rng.choice(_STREET_KINDS)}"
    if rng.random() < 0.15:
        return f"FLAT {rng.randint(1, 24)}, {street}"
    return street


def phone_number(where: Place, rng: random.Random) -> str:
    """A phone number from Ofcom's drama ranges, as national digits (``07700900123``)."""
    if rng.random() < 0.6:
        return f"07700900{rng.randint(0, 999):03d}"
    prefix = where.phone_prefix.replace(" ", "")
    tail_digits = 11 - len(prefix)
    # The drama ranges are the first thousand numbers after the prefix.
    return f"{prefix}{rng.randint(0, 999):0{tail_digits}d}"


def write_phone_number(value: str, rng: random.Random) -> str:
    """National digits the way people write them: spaced, bracketed or international."""
    styles: tuple[str, ...]
    if value.startswith("07"):
        styles = (f"{value[:5]} {value[5:]}", f"{value[:5]} {value[5:8]} {value[8:]}", value)
        styles += (f"+44 {value[1:5]} {value[5:]}",)
    elif value.startswith("02"):
        styles = (
            f"{value[:3]} {value[3:7]} {value[7:]}",
            f"({value[:3]}) {value[3:7]} {value[7:]}",
        )
    else:
        # 01632 is a five-digit area code; the city codes (0113, 0161...) have four.
        area = value[:5] if value.startswith("01632") else value[:4]
        rest = value[len(area) :]
        styles = (f"{area} {rest[:3]} {rest[3:]}", f"({area}) {rest}", f"{area} {rest}")
    return rng.choice(styles)


def date_of_birth(today: date, rng: random.Random) -> date:
    """An adult's date of birth: 18 to 90 years before ``today``."""
    age_days = rng.randint(18 * 366, 90 * 365)
    return today - timedelta(days=age_days)


def recent_date(today: date, rng: random.Random, *, within_days: int = 60) -> date:
    """A date in the ``within_days`` before ``today`` (a signature date)."""
    return today - timedelta(days=rng.randint(0, within_days))


def two_digit_year_is_safe(value: date, today: date) -> bool:
    """Whether ``dd/mm/yy`` reads back as ``value`` under the usual pivot.

    The pivot: a two-digit year up to this year's is 20yy, above it 19yy.
    """
    yy = value.year % 100
    century = 2000 if yy <= today.year % 100 else 1900
    return century + yy == value.year


def write_date(value: date, today: date, rng: random.Random) -> str:
    """A date in one of the British styles people write, e.g. ``12/03/1985``, ``12 March 1985``."""
    d, m, y = value.day, value.month, value.year
    styles = [
        f"{d:02d}/{m:02d}/{y}",
        f"{d}/{m}/{y}",
        f"{d} {_MONTHS[m - 1]} {y}",
        f"{d} {_MONTHS[m - 1][:3]} {y}",
        f"{d:02d}-{m:02d}-{y}",
        f"{d:02d}.{m:02d}.{y}",
    ]
    if two_digit_year_is_safe(value, today):
        styles += [f"{d:02d}/{m:02d}/{y % 100:02d}", f"{d:02d}.{m:02d}.{y % 100:02d}"]
    return rng.choice(styles)


def money(rng: random.Random, low: int, high: int, *, pence: float = 0.4) -> Decimal:
    """An amount in pounds between ``low`` and ``high``; with probability ``pence`` not whole."""
    pounds = rng.randint(low, high)
    if rng.random() < pence:
        return Decimal(pounds) + Decimal(rng.randint(1, 99)) / 100
    return Decimal(pounds).quantize(Decimal("0.01"))


def write_money(value: Decimal, rng: random.Random) -> str:
    """An amount the way people write it: ``£1,234.50``, ``1234.50``, ``£1234``."""
    whole = value == value.to_integral_value()
    plain = f"{value:.2f}"
    grouped = f"{value:,.2f}"
    styles = [f"£{grouped}", plain, f"£{plain}"]
    if whole:
        styles += [f"£{int(value):,}", f"{int(value):,}", f"£{int(value)}"]
    return rng.choice(styles)

"""Field values: normalised to one canonical form, and checked.

Pure functions with no OCR in them, so a caseworker's correction is checked by the
same code as a value read from a scan. Common OCR confusions (O/0, I/1, S/5, B/8) are
undone only where the field type says which of the pair belongs there, such as the
six digits of a National Insurance number.

Errors say what is wrong without repeating the value (they are stored and logged).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from rapidfuzz import fuzz, process

from config.form_template import FieldSpec, FieldType


class Normalised(NamedTuple):
    """A value in canonical form, or None with the reason it is not valid."""

    value: Any
    error: str | None = None


def normalise(spec: FieldSpec, raw: str, *, today: date | None = None) -> Normalised:
    """Turn text read from a form (or typed by a caseworker) into the field's value.

    Args:
        spec: the template's field: its type, choices and optional pattern.
        raw: the text as read.
        today: the reference date for two-digit years and future dates (tests).

    Returns:
        ``Normalised(value, None)`` when valid, else ``Normalised(best_guess, error)``
        where the guess is the cleaned text (for a person to correct).
    """
    text = " ".join(raw.split())
    if not text and spec.type is not FieldType.CHECKBOX:
        return Normalised(None, "empty")
    if spec.type is FieldType.DATE:
        result = normalise_date(text, birth=_is_birth_date(spec.name), today=today)
    elif spec.type is FieldType.CHOICE:
        result = normalise_choice(text, spec.choices)
    else:
        result = _NORMALISERS[spec.type](text)
    if result.error is None and spec.pattern and not re.fullmatch(spec.pattern, str(result.value)):
        repaired = repair_to_pattern(str(result.value), spec.pattern)
        if repaired is not None:
            return Normalised(repaired)
        return Normalised(result.value, "does not match the field's pattern")
    return result


_CONFUSABLE = {"0": "O", "O": "0", "1": "I", "I": "1", "5": "S", "S": "5", "8": "B", "B": "8",
               "2": "Z", "Z": "2", "6": "G", "G": "6"}  # fmt: skip


def repair_to_pattern(text: str, pattern: str) -> str | None:
    """The one reading of ``text`` that matches ``pattern`` when confusable characters
    (O/0, I/1, S/5, B/8, Z/2, G/6) are swapped, or None when none or several do.

    The pattern decides which of a confusable pair belongs where, as in a reference
    ``^[A-Z]{2}[0-9]{6}$`` read as "0U571866".
    """
    squeezed = re.sub(r"\s+", "", text).upper()
    positions = [i for i, c in enumerate(squeezed) if c in _CONFUSABLE]
    if len(positions) > 10:
        return None  # too many to try; a person reads it
    matches = set()
    for mask in range(1 << len(positions)):
        chars = list(squeezed)
        for bit, index in enumerate(positions):
            if mask >> bit & 1:
                chars[index] = _CONFUSABLE[chars[index]]
        candidate = "".join(chars)
        if re.fullmatch(pattern, candidate):
            matches.add(candidate)
    return matches.pop() if len(matches) == 1 else None


# --- confusions ------------------------------------------------------------------------

_AS_DIGIT = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1",
                           "i": "1", "|": "1", "L": "1", "S": "5", "s": "5", "B": "8",
                           "Z": "2", "z": "2", "G": "6", "b": "6", "g": "9", "T": "7"})  # fmt: skip
_AS_LETTER = str.maketrans({"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z", "6": "G"})


def as_digits(text: str) -> str:
    """Read letters that OCR confuses with digits as those digits."""
    return text.translate(_AS_DIGIT)


def as_letters(text: str) -> str:
    """Read digits that OCR confuses with capital letters as those letters."""
    return text.upper().translate(_AS_LETTER)


# --- National Insurance number ---------------------------------------------------------

_NI_BAD_FIRST = set("DFIQUV")
_NI_BAD_SECOND = set("DFIOQUV")
_NI_UNALLOCATED = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def normalise_ni_number(text: str) -> Normalised:
    """A UK National Insurance number as ``AB123456C``.

    Two prefix letters (not D, F, I, Q, U, V; the second not O either; not BG, GB, KN,
    NK, NT, TN or ZZ), six digits, a suffix A-D.
    """
    # Tesseract reads a printed or written "TM" as the trade mark sign now and then.
    compact = re.sub(r"[\s\-.]", "", text.replace("™", "TM")).upper()
    if len(compact) != 9:
        return Normalised(compact, "an NI number has 2 letters, 6 digits and a letter A-D")
    prefix = as_letters(compact[:2])
    digits = as_digits(compact[2:8])
    suffix = compact[8].replace("8", "B")
    value = prefix + digits + suffix
    if not (prefix.isalpha() and digits.isdigit()):
        return Normalised(value, "an NI number has 2 letters, 6 digits and a letter A-D")
    if suffix not in "ABCD":
        return Normalised(value, "an NI number ends in A, B, C or D")
    if prefix[0] in _NI_BAD_FIRST or prefix[1] in _NI_BAD_SECOND or prefix in _NI_UNALLOCATED:
        return Normalised(value, "the NI number's prefix is never issued")
    return Normalised(value)


# --- postcode ---------------------------------------------------------------------------

# The postcode areas of the UK and Crown dependencies: the letters before the district.
POSTCODE_AREAS = frozenset({
    "AB", "AL", "B", "BA", "BB", "BD", "BF", "BH", "BL", "BN", "BR", "BS", "BT", "BX", "CA", "CB",
    "CF", "CH", "CM", "CO", "CR", "CT", "CV", "CW", "DA", "DD", "DE", "DG", "DH", "DL", "DN", "DT",
    "DY", "E", "EC", "EH", "EN", "EX", "FK", "FY", "G", "GL", "GU", "GY", "HA", "HD", "HG", "HP",
    "HR", "HS", "HU", "HX", "IG", "IM", "IP", "IV", "JE", "KA", "KT", "KW", "KY", "L", "LA", "LD",
    "LE", "LL", "LN", "LS", "LU", "M", "ME", "MK", "ML", "N", "NE", "NG", "NN", "NP", "NR", "NW",
    "OL", "OX", "PA", "PE", "PH", "PL", "PO", "PR", "RG", "RH", "RM", "S", "SA", "SE", "SG", "SK",
    "SL", "SM", "SN", "SO", "SP", "SR", "SS", "ST", "SW", "SY", "TA", "TD", "TF", "TN", "TQ", "TR",
    "TS", "TW", "UB", "W", "WA", "WC", "WD", "WF", "WN", "WR", "WS", "WV", "YO", "ZE",
})  # fmt: skip
_DISTRICT = re.compile(r"[0-9][A-Z0-9]?")
_INWARD_LETTERS = set("ABDEFGHJLNPQRSTUWXYZ")


def normalise_postcode(text: str) -> Normalised:
    """A UK postcode as ``SW1A 1AA``: a real postcode area and district, a space, the
    inward code (digit, letter, letter)."""
    compact = re.sub(r"[^A-Za-z0-9]", "", text).upper()
    if not 5 <= len(compact) <= 7:
        return Normalised(compact, "a postcode has 5 to 7 letters and digits")
    outward, inward = compact[:-3], compact[-3:]
    inward = as_digits(inward[0]) + as_letters(inward[1:])
    if outward + inward == "GIR0AA":
        return Normalised("GIR 0AA")
    outward = _read_outward(outward) or outward
    value = f"{outward} {inward}"
    if _read_outward(outward) != outward or not inward[0].isdigit():
        return Normalised(value, "not a UK postcode")
    if not set(inward[1:]) <= _INWARD_LETTERS:
        return Normalised(value, "not a UK postcode")
    return Normalised(value)


def _read_outward(outward: str) -> str | None:
    """The outward code read as a known area plus a district, or None.

    The area's letters and the district's first digit are unambiguous by position, so
    "LI3" reads as L13 (there is no area LI) and "5W1A" as SW1A.
    """
    for letters in (2, 1):
        area = as_letters(outward[:letters])
        district = outward[letters:]
        if not district:
            continue
        district = as_digits(district[0]) + district[1:]
        if area in POSTCODE_AREAS and _DISTRICT.fullmatch(district):
            return area + district
    return None


# --- dates -----------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}  # fmt: skip
# Written in capitals too ("7TH OF MARCH 2025"), and "of" run into the month by a
# reader that lost the space ("7th ofMarch").
_WORDY_DATE = re.compile(
    r"^(?P<day>[0-9OoIl]{1,2})\s*(?:st|nd|rd|th)?\s*(?:of)?[\s,.\-/]*"
    r"(?P<month>[A-Za-z]{3,9})\.?[\s,.\-/]*(?P<year>[0-9OoIlSB]{2,4})$",
    re.IGNORECASE,
)
_MONTH_FIRST_DATE = re.compile(
    r"^(?P<month>[A-Za-z]{3,9})\.?\s+(?P<day>[0-9OoIl]{1,2})\s*(?:st|nd|rd|th)?"
    r"[\s,.\-/]+(?P<year>[0-9OoIlSB]{2,4})$",
    re.IGNORECASE,
)
_WEEKDAY = re.compile(
    r"^(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+", re.IGNORECASE
)
_NUMERIC_DATE = re.compile(r"^(\d{1,4})[\s/.\-]+(\d{1,2})[\s/.\-]+(\d{1,4})$")


def normalise_date(text: str, *, birth: bool = False, today: date | None = None) -> Normalised:
    """A date written the British way (day first) as ISO 8601 ``YYYY-MM-DD``.

    Accepts ``12/03/1985``, ``12.03.85``, ``12-3-1985``, ``12 03 1985``, ``12031985``,
    ``12 March 1985``, ``12th of Mar 1985``, ``Tuesday 12 March 1985``, ``March 12th,
    1985`` and ``1985-03-12``.

    Args:
        text: the date as written.
        birth: a date of birth: a two-digit year is in the last hundred years, and the
            date may not be in the future.
        today: the reference date (tests).
    """
    today = today or date.today()
    parts = _date_parts(text.strip())
    if parts is None:
        return Normalised(text, "not a date (day, month, year)")
    day, month, year_text = parts
    year = int(year_text)
    if len(year_text) == 2:
        year = _resolve_century(year, birth=birth, today=today)
    elif len(year_text) != 4:
        return Normalised(text, "the year needs 2 or 4 digits")
    try:
        value = date(year, month, day)
    except ValueError:
        return Normalised(text, "no such day")
    if birth and value > today:
        return Normalised(value.isoformat(), "a date of birth cannot be in the future")
    if value.year < 1875:
        return Normalised(value.isoformat(), "the year is implausibly early")
    return Normalised(value.isoformat())


def _date_parts(text: str) -> tuple[int, int, str] | None:
    text = _WEEKDAY.sub("", text)
    if wordy := _WORDY_DATE.match(text) or _MONTH_FIRST_DATE.match(text):
        month = _MONTHS.get(wordy["month"].lower()) or _fuzzy_month(wordy["month"])
        if month is None:
            return None
        return int(as_digits(wordy["day"])), month, as_digits(wordy["year"])
    digits = as_digits(text)
    if re.fullmatch(r"\d{8}", digits):
        # Comb boxes: DDMMYYYY, or YYYYMMDD when that is the only reading that is a date.
        day_first = (int(digits[:2]), int(digits[2:4]), digits[4:])
        if not _is_date(*day_first) and _is_date(int(digits[6:]), int(digits[4:6]), digits[:4]):
            return int(digits[6:]), int(digits[4:6]), digits[:4]
        return day_first
    if re.fullmatch(r"\d{6}", digits):
        return int(digits[:2]), int(digits[2:4]), digits[4:]
    numeric = _NUMERIC_DATE.match(digits)
    if numeric is None:
        return None
    first, second, third = numeric.groups()
    if len(first) == 4:
        return int(third), int(second), first
    return int(first), int(second), third


def _is_date(day: int, month: int, year: str) -> bool:
    try:
        date(int(year), month, day)
    except ValueError:
        return False
    return True


def _fuzzy_month(word: str) -> int | None:
    found = process.extractOne(word.lower(), list(_MONTHS), scorer=fuzz.ratio, score_cutoff=75)
    return _MONTHS[found[0]] if found else None


def _resolve_century(year: int, *, birth: bool, today: date) -> int:
    # Birth dates lie in the past hundred years; other dates within ten years ahead.
    pivot = today.year % 100 if birth else (today.year + 10) % 100
    century = today.year // 100 * 100
    return century + year if year <= pivot else century - 100 + year


def _is_birth_date(name: str) -> bool:
    return "birth" in name or name in ("dob", "born")


# --- the rest --------------------------------------------------------------------------


def normalise_text(text: str) -> Normalised:
    """Free text with OCR debris (box edges read as ``|``, underscores) trimmed off."""
    cleaned = re.sub(r"^[\s|_~\[\]{}]+|[\s|_~\[\]{}]+$", "", text)
    cleaned = " ".join(cleaned.split())
    return Normalised(cleaned) if cleaned else Normalised(None, "empty")


def normalise_name(text: str) -> Normalised:
    """A person's name: letters, spaces, hyphens and apostrophes, in the case written."""
    cleaned = normalise_text(text).value or ""
    cleaned = cleaned.replace("’", "'").strip(" .,;:")
    # In an all-capitals name a digit can only be a misread capital.
    words = [
        as_letters(w) if w.upper() == w and any(c.isalpha() for c in w) else w
        for w in cleaned.split()
    ]
    cleaned = " ".join(words)
    if not cleaned:
        return Normalised(None, "empty")
    if not re.fullmatch(r"[^\W\d_]+(?:[\s'\-.][^\W\d_]+)*\.?", cleaned):
        return Normalised(cleaned, "a name holds only letters, spaces, hyphens and apostrophes")
    return Normalised(cleaned)


_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")  # fmt: skip


def normalise_email(text: str) -> Normalised:
    """An e-mail address, lower case, spaces OCR put in removed."""
    compact = re.sub(r"\s+", "", text).strip(".,;:").lower()
    # OCR reads the dot in "example.org" as a comma now and then.
    compact = re.sub(r",(?=[a-z]{2,}$)", ".", compact)
    if not _EMAIL.fullmatch(compact):
        return Normalised(compact, "not an e-mail address")
    return Normalised(compact)


def normalise_phone(text: str) -> Normalised:
    """A UK phone number as national digits, ``07700900123``."""
    compact = re.sub(r"[\s\-().]", "", as_digits(text.replace("+", "~")).replace("~", "+"))
    if compact.startswith("+44"):
        compact = "0" + compact[3:].removeprefix("0")
    elif compact.startswith("0044"):
        compact = "0" + compact[4:].removeprefix("0")
    if not re.fullmatch(r"0\d{9,10}", compact):
        return Normalised(compact, "not a UK phone number")
    return Normalised(compact)


def normalise_money(text: str) -> Normalised:
    """An amount of money as a decimal string with two places: ``£1,234.5`` → ``1234.50``."""
    compact = re.sub(r"(?i)gbp|£|\s", "", text)
    negative = compact.startswith(("-", "(")) or compact.endswith(")")
    compact = as_digits(compact.strip("-()"))
    # A decimal point read as a colon or semicolon ("210:71").
    compact = re.sub(r"[:;](?=\d{2}$)", ".", compact)
    # A comma two places from the end is a decimal comma misread or misprinted.
    if re.fullmatch(r"\d+,\d{2}", compact):
        compact = compact.replace(",", ".")
    if not re.fullmatch(r"\d{1,3}(,\d{3})*(\.\d{1,2})?|\d+(\.\d{1,2})?", compact):
        return Normalised(text, "not an amount of money")
    try:
        amount = Decimal(compact.replace(",", "")).quantize(Decimal("0.01"))
    except InvalidOperation:
        return Normalised(text, "not an amount of money")
    return Normalised(str(-amount if negative else amount))


def normalise_integer(text: str) -> Normalised:
    """A whole number; thousands separators allowed."""
    compact = as_digits(re.sub(r"[\s,]", "", text))
    if not re.fullmatch(r"-?\d+", compact):
        return Normalised(text, "not a whole number")
    return Normalised(int(compact))


_TRUE = {"true", "yes", "y", "x", "1", "ticked", "checked", "on", "✓", "✔", "☑", "☒"}
_FALSE = {"false", "no", "n", "0", "", "unticked", "unchecked", "off", "☐"}


def normalise_checkbox(text: str) -> Normalised:
    """A tick box: ``true``/``false`` (and yes/no, x, ticked...) as a bool."""
    word = text.strip().lower()
    if word in _TRUE:
        return Normalised(True)
    if word in _FALSE:
        return Normalised(False)
    return Normalised(None, "a tick box is ticked or not")


def normalise_choice(text: str, choices: list[str]) -> Normalised:
    """The one of ``choices`` that the text reads as (fuzzy, case-insensitive)."""
    found = process.extractOne(
        text.lower(), {c: c.lower() for c in choices}, scorer=fuzz.ratio, score_cutoff=80
    )
    if found is None:
        return Normalised(text, "not one of the choices")
    return Normalised(found[2])


_NORMALISERS: dict[FieldType, Callable[[str], Normalised]] = {
    FieldType.TEXT: normalise_text,
    FieldType.NAME: normalise_name,
    FieldType.NI_NUMBER: normalise_ni_number,
    FieldType.POSTCODE: normalise_postcode,
    FieldType.EMAIL: normalise_email,
    FieldType.PHONE: normalise_phone,
    FieldType.MONEY: normalise_money,
    FieldType.INTEGER: normalise_integer,
    FieldType.CHECKBOX: normalise_checkbox,
}

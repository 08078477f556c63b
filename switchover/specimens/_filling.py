"""Filling a template with test data: what a person writes, and what it means.

Each field gets two things: ``written``, the text as it appears on the paper in
the applicant's own style (``12 March 1985``, ``£1,234.50``), and ``value``, the
normalised truth an extraction should produce (``1985-03-12``, ``"1234.50"``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from faker import Faker

from config.form_template import FieldSpec, FieldType, FormTemplate
from switchover.specimens import _british as uk

REFERENCE_DATE = date(2025, 3, 31)
"""'Today' for generated data, fixed so that a seed always gives the same forms."""

# How often an optional field is left blank.
_BLANK_OPTIONAL = 0.2

# How likely each box is to be ticked, by field name; others are a coin toss.
_TICK_ODDS = {
    "postal_vote": 0.3,
    "open_register_opt_out": 0.45,
    "universal_credit": 0.35,
    "has_partner": 0.45,
}


@dataclass(frozen=True)
class FilledField:
    """One field as filled in.

    Attributes:
        spec: the template's field.
        written: the text written on the form ("" when blank; "X" or "✓" for a ticked box).
        value: the normalised truth: ISO date, ``AB123456C``, ``SW1A 1AA``, money as a
            two-decimal string, int, bool for a checkbox, the canonical choice; None if blank.
    """

    spec: FieldSpec
    written: str
    value: Any


@dataclass(frozen=True)
class Applicant:
    """The made-up person behind one form."""

    surname: str
    forenames: str
    date_of_birth: date
    ni_number: str
    street: str
    locality: str
    town: str
    postcode: str
    email: str
    phone: str


@dataclass(frozen=True)
class FilledForm:
    """A template with every field filled (or deliberately left blank)."""

    template: FormTemplate
    seed: str
    applicant: Applicant
    fields: list[FilledField] = field(default_factory=list)

    def truth(self) -> dict[str, Any]:
        """The normalised value of each field, by field name (None for a blank field)."""
        return {f.spec.name: f.value for f in self.fields}


def make_applicant(rng: random.Random, fake: Faker, today: date) -> Applicant:
    """A consistent made-up person: the town, postcode and phone area agree."""
    where = uk.place(rng)
    surname = fake.last_name().upper()
    forenames = fake.first_name().upper()
    if rng.random() < 0.45:
        forenames += " " + fake.first_name().upper()
    domain = rng.choice(
        ("gmail.com", "outlook.com", "hotmail.co.uk", "yahoo.co.uk", "btinternet.com", "icloud.com")
    )
    local = f"{forenames.split()[0]}.{surname}".lower().replace("'", "")
    if rng.random() < 0.5:
        local += str(rng.randint(1, 99))
    return Applicant(
        surname=surname,
        forenames=forenames,
        date_of_birth=uk.date_of_birth(today, rng),
        ni_number=uk.ni_number(rng),
        street=uk.street_address(rng),
        locality=rng.choice(where.localities),
        town=where.town,
        postcode=uk.postcode(where, rng),
        email=f"{local}@{domain}",
        phone=uk.phone_number(where, rng),
    )


def fill_form(
    template: FormTemplate, *, seed: int | str, today: date = REFERENCE_DATE
) -> FilledForm:
    """Fill every field of ``template`` with realistic British test data.

    Required fields are always filled; optional ones are sometimes blank.

    Args:
        template: the form to fill.
        seed: the same seed gives the same form.
        today: the date the form is signed around; dates of birth are adults' on it.

    Returns:
        The filled form, with the written text and the normalised value of each field.
    """
    seed_text = f"{template.form_type}:{seed}"
    rng = random.Random(seed_text)
    fake = Faker("en_GB")
    fake.seed_instance(seed_text)
    applicant = make_applicant(rng, fake, today)
    filled = FilledForm(template=template, seed=seed_text, applicant=applicant)
    for spec in template.fields:
        # An unticked box is already "blank"; other optional fields are left empty at times.
        optional = not spec.required and spec.type is not FieldType.CHECKBOX
        if optional and rng.random() < _BLANK_OPTIONAL:
            filled.fields.append(FilledField(spec=spec, written="", value=None))
            continue
        filled.fields.append(_fill_field(spec, applicant, rng, today))
    return filled


def _fill_field(spec: FieldSpec, who: Applicant, rng: random.Random, today: date) -> FilledField:
    filler = _FILLERS.get(spec.type, _fill_text)
    written, value = filler(spec, who, rng, today)
    return FilledField(spec=spec, written=written, value=value)


_Filler = Callable[[FieldSpec, Applicant, random.Random, date], tuple[str, Any]]


def _fill_text(spec: FieldSpec, who: Applicant, rng: random.Random, today: date) -> tuple[str, Any]:
    if spec.pattern:
        text = text_matching(spec.pattern, rng)
        return text, text
    name = spec.name
    # The field name says which part of the address a text field holds.
    if ("address" in name and name.endswith("_1")) or "street" in name:
        text = who.street
    elif ("address" in name and name.endswith("_2")) or "locality" in name:
        text = who.locality
    elif "town" in name or "city" in name:
        text = who.town
    elif "address" in name:
        text = f"{who.street}, {who.town}"
    else:
        # A text field this generator knows nothing about (another team's template):
        # the short answers people give to a question they think does not apply.
        text = rng.choice(_SHORT_ANSWERS)
    return text, text


_SHORT_ANSWERS = ("NOT APPLICABLE", "SEE LETTER", "NONE", "AS ABOVE")


def _fill_name(spec: FieldSpec, who: Applicant, rng: random.Random, today: date) -> tuple[str, Any]:
    text = who.forenames if any(k in spec.name for k in ("first", "fore", "given")) else who.surname
    return text, text


def _fill_date(spec: FieldSpec, who: Applicant, rng: random.Random, today: date) -> tuple[str, Any]:
    when = who.date_of_birth if "birth" in spec.name else uk.recent_date(today, rng)
    return uk.write_date(when, today, rng), when.isoformat()


def _fill_ni(spec: FieldSpec, who: Applicant, rng: random.Random, today: date) -> tuple[str, Any]:
    return uk.write_ni_number(who.ni_number, rng), who.ni_number


def _fill_postcode(
    spec: FieldSpec, who: Applicant, rng: random.Random, today: date
) -> tuple[str, Any]:
    return who.postcode, who.postcode


def _fill_email(
    spec: FieldSpec, who: Applicant, rng: random.Random, today: date
) -> tuple[str, Any]:
    return who.email, who.email


def _fill_phone(
    spec: FieldSpec, who: Applicant, rng: random.Random, today: date
) -> tuple[str, Any]:
    return uk.write_phone_number(who.phone, rng), who.phone


# Monthly amounts (pounds) by what the field is about; savings are a balance.
_MONEY_RANGES = {
    "income": (0, 4200),
    "rent": (350, 1600),
    "mortgage": (350, 1600),
    "housing": (350, 1600),
    "council_tax": (90, 260),
    "childcare": (50, 900),
    "savings": (0, 12000),
}


def _fill_money(
    spec: FieldSpec, who: Applicant, rng: random.Random, today: date
) -> tuple[str, Any]:
    low, high = next((r for k, r in _MONEY_RANGES.items() if k in spec.name), (0, 2000))
    amount = uk.money(rng, low, high)
    return uk.write_money(amount, rng), f"{amount:.2f}"


def _fill_integer(
    spec: FieldSpec, who: Applicant, rng: random.Random, today: date
) -> tuple[str, Any]:
    number = rng.choice((0, 0, 1, 1, 2, 2, 3, 4)) if "dependant" in spec.name else rng.randint(0, 9)
    return str(number), number


def _fill_checkbox(
    spec: FieldSpec, who: Applicant, rng: random.Random, today: date
) -> tuple[str, Any]:
    ticked = rng.random() < _TICK_ODDS.get(spec.name, 0.5)
    return (rng.choice(("X", "✓")) if ticked else ""), ticked


# Nationalities as people write them, weighted roughly as on a British register.
_NATIONALITY_WRITTEN = {
    "British": ("BRITISH", "BRITISH", "BRITISH", "BRITISH", "UK"),
    "Irish": ("IRISH",),
    "Commonwealth": ("COMMONWEALTH",),
    "EU": ("EU",),
    "Other": ("OTHER",),
}


def _fill_choice(
    spec: FieldSpec, who: Applicant, rng: random.Random, today: date
) -> tuple[str, Any]:
    if spec.name == "nationality" and rng.random() < 0.8:
        choice = "British" if "British" in spec.choices else spec.choices[0]
    else:
        choice = rng.choice(spec.choices)
    # Written in capitals as the form asks; the truth is the template's own spelling.
    return choice.upper(), choice


_FILLERS: dict[FieldType, _Filler] = {
    FieldType.TEXT: _fill_text,
    FieldType.NAME: _fill_name,
    FieldType.DATE: _fill_date,
    FieldType.NI_NUMBER: _fill_ni,
    FieldType.POSTCODE: _fill_postcode,
    FieldType.EMAIL: _fill_email,
    FieldType.PHONE: _fill_phone,
    FieldType.MONEY: _fill_money,
    FieldType.INTEGER: _fill_integer,
    FieldType.CHECKBOX: _fill_checkbox,
    FieldType.CHOICE: _fill_choice,
}

_PATTERN_TOKEN = re.compile(r"\[([^\]]+)\]|\\d|(.)")
_QUANTIFIER = re.compile(r"\{(\d+)\}")


def text_matching(pattern: str, rng: random.Random) -> str:
    """A random string matching a simple anchored pattern such as ``^[A-Z]{2}[0-9]{6}$``.

    Supports literals, character classes of ranges (``[A-Z0-9]``), ``\\d`` and ``{n}``:
    what reference patterns on forms use.

    Raises:
        ValueError: the pattern uses something else.
    """
    body = pattern.removeprefix("^").removesuffix("$")
    out: list[str] = []
    pos = 0
    while pos < len(body):
        token = _PATTERN_TOKEN.match(body, pos)
        if token is None:  # pragma: no cover - the regex matches any character
            raise ValueError(f"cannot generate text for pattern {pattern!r}")
        pos = token.end()
        if token.group(1) is not None:
            alphabet = _expand_class(token.group(1), pattern)
        elif token.group(0) == r"\d":
            alphabet = "0123456789"
        else:
            literal = token.group(2)
            if literal in "()|*+?.\\{}":
                raise ValueError(f"cannot generate text for pattern {pattern!r}")
            alphabet = literal
        count = 1
        quantifier = _QUANTIFIER.match(body, pos)
        if quantifier:
            count = int(quantifier.group(1))
            pos = quantifier.end()
        out.extend(rng.choice(alphabet) for _ in range(count))
    text = "".join(out)
    if not re.fullmatch(pattern.removeprefix("^").removesuffix("$"), text):
        raise ValueError(f"cannot generate text for pattern {pattern!r}")
    return text


def _expand_class(spec: str, pattern: str) -> str:
    chars: list[str] = []
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            chars.extend(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        elif spec[i] in "^\\":
            raise ValueError(f"cannot generate text for pattern {pattern!r}")
        else:
            chars.append(spec[i])
            i += 1
    return "".join(chars)

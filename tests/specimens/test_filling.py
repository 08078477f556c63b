"""Filled forms hold typed, normalised truth; required fields are always filled."""

from __future__ import annotations

import re
from datetime import date

from config.form_template import FieldType, FormTemplate
from switchover.specimens import fill_form, is_valid_ni_number


def test_truth_values_have_their_normalised_types(templates: dict[str, FormTemplate]) -> None:
    for form in templates.values():
        for seed in range(40):
            filled = fill_form(form, seed=seed)
            for item in filled.fields:
                value, spec = item.value, item.spec
                if value is None:
                    assert not spec.required, spec.name
                    assert item.written == ""
                    continue
                if spec.type is FieldType.DATE:
                    assert date.fromisoformat(value) <= date(2025, 3, 31)
                elif spec.type is FieldType.NI_NUMBER:
                    assert is_valid_ni_number(value)
                elif spec.type is FieldType.MONEY:
                    assert re.fullmatch(r"[0-9]+\.[0-9]{2}", value)
                elif spec.type is FieldType.CHECKBOX:
                    assert isinstance(value, bool)
                    assert bool(item.written) == value
                elif spec.type is FieldType.INTEGER:
                    assert isinstance(value, int)
                elif spec.type is FieldType.CHOICE:
                    assert value in spec.choices
                elif spec.type is FieldType.EMAIL:
                    assert re.fullmatch(r"[a-z0-9.]+@[a-z0-9.]+\.[a-z]+", value)
                if spec.pattern:
                    assert re.fullmatch(spec.pattern, value)


def test_optional_fields_are_sometimes_blank(templates: dict[str, FormTemplate]) -> None:
    form = templates["register-to-vote"]
    blanks = {
        item.spec.name
        for seed in range(60)
        for item in fill_form(form, seed=seed).fields
        if item.value is None
    }
    optional = {s.name for s in form.fields if not s.required and s.type is not FieldType.CHECKBOX}
    assert blanks == optional


def test_same_seed_same_form_other_seed_other_form(templates: dict[str, FormTemplate]) -> None:
    form = templates["legal-aid-means"]
    assert fill_form(form, seed=3).truth() == fill_form(form, seed=3).truth()
    assert fill_form(form, seed=3).truth() != fill_form(form, seed=4).truth()


def test_dates_of_birth_are_adults(templates: dict[str, FormTemplate]) -> None:
    form = templates["register-to-vote"]
    for seed in range(50):
        born = date.fromisoformat(fill_form(form, seed=seed).truth()["date_of_birth"])
        assert (date(2025, 3, 31) - born).days >= 18 * 365

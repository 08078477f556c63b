"""The bundled templates load, validate and can tell the two forms apart."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from config.form_template import (
    FieldType,
    FormTemplate,
    Position,
    bundled_template_dir,
    load_template,
)


def test_both_bundled_templates_load(templates: dict[str, FormTemplate]) -> None:
    assert {"register-to-vote", "legal-aid-means"} <= set(templates)


def test_every_bundled_file_is_valid() -> None:
    for path in bundled_template_dir().glob("*.yaml"):
        assert load_template(path).form_type == path.stem


def test_register_to_vote_terms(templates: dict[str, FormTemplate]) -> None:
    form = templates["register-to-vote"]
    assert form.review.min_confidence == pytest.approx(0.80)
    assert form.review.sla_hours == 48
    assert form.costs.paper_gbp == Decimal("6.80")
    assert form.costs.digital_gbp == Decimal("0.42")
    assert form.legacy_match is not None
    assert form.legacy_match.source == "legacy-electoral"
    assert form.legacy_match.table == "ELECTOR"
    assert form.legacy_match.keys == {"national_insurance_number": "NINO"}
    assert form.legacy_match.fuzzy == {
        "surname": "SURNAME",
        "date_of_birth": "DOB",
        "postcode": "POSTCODE",
    }
    assert form.field("reference").pattern == "^[A-Z]{2}[0-9]{6}$"
    assert form.field("postal_vote").type is FieldType.CHECKBOX


def test_legal_aid_terms(templates: dict[str, FormTemplate]) -> None:
    form = templates["legal-aid-means"]
    assert form.costs.paper_gbp == Decimal("14.50")
    assert form.costs.digital_gbp == Decimal("1.10")
    assert form.review.sla_hours == 72
    kinds = {spec.name: spec.type for spec in form.fields}
    assert kinds["dependants"] is FieldType.INTEGER
    assert kinds["monthly_gross_income"] is FieldType.MONEY
    assert kinds["universal_credit"] is FieldType.CHECKBOX


def test_labels_are_unique_within_a_form(templates: dict[str, FormTemplate]) -> None:
    for form in templates.values():
        labels = [spec.label.casefold() for spec in form.fields if spec.label]
        assert len(labels) == len(set(labels)), form.form_type
        # No label inside another: an anchor must not match a longer label's words.
        for one in labels:
            assert not any(one != other and one in other for other in labels), one


def test_zones_are_at_the_top_right(templates: dict[str, FormTemplate]) -> None:
    for form in templates.values():
        zones = [spec.zone for spec in form.fields if spec.position is Position.ZONE]
        assert zones, form.form_type
        for zone in zones:
            assert zone is not None
            assert zone[0] > 0.5
            assert zone[3] < 0.1


def test_match_rules_tell_the_forms_apart(templates: dict[str, FormTemplate]) -> None:
    rtv, laa = templates["register-to-vote"], templates["legal-aid-means"]
    rtv_phrases = {p.casefold() for p in rtv.match.all_text + rtv.match.any_text}
    laa_phrases = {p.casefold() for p in laa.match.all_text + laa.match.any_text}
    assert not rtv_phrases & laa_phrases


def test_patterns_compile(templates: dict[str, FormTemplate]) -> None:
    for form in templates.values():
        for spec in form.fields:
            if spec.pattern:
                re.compile(spec.pattern)

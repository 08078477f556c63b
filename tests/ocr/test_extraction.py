"""Field extraction end to end on our sample form: clean, scanned, turned, photographed,
digital, and many files at once in the pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from config.form_template import FormTemplate
from domain.errors import UnknownFormError, UnsupportedFormatError
from domain.forms import FormExtraction, Word
from ocr import extract_files, extract_form, read_words
from ocr.identify import identify_form
from ocr.preprocess import rotate_quarter
from tests.ocr import sample_forms

EXPECTED = sample_forms.FILLED.expected


def assert_all_fields_right(result: FormExtraction) -> None:
    wrong = {n: f.value for n, f in result.fields.items() if f.value != EXPECTED[n]}
    assert not wrong, wrong
    assert result.form_type == sample_forms.FORM_TYPE


def test_clean_scan(clean_page: np.ndarray[Any, Any], templates: dict[str, FormTemplate]) -> None:
    result = extract_form(sample_forms.encode(clean_page, "PNG"), "clean.png", templates)
    assert_all_fields_right(result)
    assert not result.needs_review, result.reasons
    assert result.pages == 1
    surname = result.fields["surname"]
    assert surname.page == 1
    assert surname.bbox is not None
    assert surname.confidence > 0.8
    # The value's box lies right of its label, inside the printed box (x 0.40..0.93).
    assert 0.40 <= surname.bbox[0] < surname.bbox[2] <= 0.93


def test_noisy_skewed_scan(
    noisy_page: np.ndarray[Any, Any], templates: dict[str, FormTemplate]
) -> None:
    result = extract_form(sample_forms.encode(noisy_page, "JPEG", quality=60), "s.jpg", templates)
    assert_all_fields_right(result)


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_turned_pages(
    clean_page: np.ndarray[Any, Any], templates: dict[str, FormTemplate], turn: int
) -> None:
    turned = rotate_quarter(clean_page, turn)
    result = extract_form(sample_forms.encode(turned, "PNG"), "turned.png", templates)
    assert_all_fields_right(result)


def test_low_resolution_fax(
    clean_page: np.ndarray[Any, Any], templates: dict[str, FormTemplate]
) -> None:
    low = sample_forms.render_form(dpi=150)
    result = extract_form(sample_forms.encode(low, "PNG", dpi=150), "fax.png", templates)
    assert_all_fields_right(result)


@pytest.mark.parametrize("fmt", ["JPEG", "HEIF"])
def test_phone_photo(
    clean_page: np.ndarray[Any, Any], templates: dict[str, FormTemplate], fmt: str
) -> None:
    photo = sample_forms.photo_like(clean_page)
    data = sample_forms.encode(photo, fmt, dpi=None, quality=90)
    result = extract_form(data, "photo.heic" if fmt == "HEIF" else "photo.jpg", templates)
    assert_all_fields_right(result)


def test_digital_pdf_uses_the_text_layer(templates: dict[str, FormTemplate]) -> None:
    pdf = sample_forms.digital_pdf()
    result = extract_form(pdf, "claim.pdf", templates)
    assert_all_fields_right(result)
    assert all(f.confidence == 1.0 for f in result.fields.values())
    words = read_words(pdf, "claim.pdf")
    assert words.pages[0].source == "text"
    assert {"Surname", "OKAFOR"} <= {w.text for w in words.pages[0].words}


def test_doubtful_fields_go_to_review(templates: dict[str, FormTemplate]) -> None:
    filled = sample_forms.FilledForm(
        printed=sample_forms.FILLED.printed
        | {"national_insurance_number": "DQ 12 34 56 C", "postcode": ""},
        expected={},
        postal_vote=False,
        carer=False,
    )
    page = sample_forms.render_form(filled)
    result = extract_form(sample_forms.encode(page, "PNG"), "doubtful.png", templates)
    reasons = {r.field: r.code for r in result.reasons}
    assert result.needs_review
    assert reasons == {"national_insurance_number": "invalid"}, result.reasons
    assert result.fields["postcode"].value is None
    assert result.fields["postcode"].valid
    assert result.fields["postal_vote"].value is False


def test_identification_by_match_rules(templates: dict[str, FormTemplate]) -> None:
    def words(text: str) -> list[Word]:
        return [Word(text=t, confidence=0.9, bbox=(0, 0, 0.1, 0.1)) for t in text.split()]

    other = FormTemplate.model_validate(
        {
            "form_type": "other",
            "title": "Other",
            "match": {"all_text": ["Blue Badge"]},
            "fields": [{"name": "surname", "label": "Surname"}],
        }
    )
    both = templates | {"other": other}
    page = words("HOUSING BENEFIT CIaim  Lambeth Council Tax and Revenues")
    assert identify_form(page, both).form_type == sample_forms.FORM_TYPE
    assert identify_form(words("Apply for a Blue Badge"), both).form_type == "other"
    # all_text present but none of any_text: not this form.
    with pytest.raises(UnknownFormError):
        identify_form(words("Housing Benefit claim"), both, where="x.png page 1")


def test_form_type_that_does_not_exist(templates: dict[str, FormTemplate]) -> None:
    with pytest.raises(UnknownFormError, match="no form template 'nope'"):
        extract_form(sample_forms.digital_pdf(), "claim.pdf", templates, form_type="nope")


@pytest.mark.slow
def test_many_files_in_the_pool(
    tmp_path: Path, noisy_page: np.ndarray[Any, Any], templates: dict[str, FormTemplate]
) -> None:
    good = tmp_path / "scan.png"
    good.write_bytes(sample_forms.encode(noisy_page, "PNG"))
    digital = tmp_path / "claim.pdf"
    digital.write_bytes(sample_forms.digital_pdf(pages=2))
    liar = tmp_path / "liar.pdf"
    liar.write_bytes(sample_forms.encode(noisy_page[:100, :100], "PNG"))
    empty = tmp_path / "empty.tiff"
    empty.write_bytes(b"")
    results = extract_files([good, liar, digital, empty], templates, jobs=2)
    first, second, third, fourth = results
    assert isinstance(first, FormExtraction)
    assert_all_fields_right(first)
    assert isinstance(second, UnsupportedFormatError)
    assert second.where == "liar.pdf"
    assert isinstance(third, FormExtraction)
    assert third.pages == 2
    assert_all_fields_right(third)
    assert isinstance(fourth, Exception)
    assert fourth.where == "empty.tiff"

"""Printing and rasterising: any template prints, including one without a bundled design."""

from __future__ import annotations

import io

import pdfplumber

from config.form_template import FormTemplate
from switchover.specimens import design_for, fill_form, rasterise, render_pdf

A4_300_DPI = (2480, 3508)


def _custom_template() -> FormTemplate:
    return FormTemplate.model_validate(
        {
            "form_type": "blue-badge",
            "title": "Blue Badge application",
            "fields": [
                {"name": "surname", "label": "Family name", "type": "name", "required": True},
                {"name": "date_of_birth", "label": "Born on", "type": "date", "required": True},
                {"name": "badge_number", "label": "Old badge number", "pattern": "^BB[0-9]{5}$"},
                {"name": "carer", "label": "I am applying as a carer", "type": "checkbox"},
                {"name": "notes", "label": "Anything else", "position": "below"},
            ],
        }
    )


def test_a_template_without_a_design_still_prints() -> None:
    template = _custom_template()
    assert design_for(template).title == "Blue Badge application"
    rendered = render_pdf(fill_form(template, seed=1))
    with pdfplumber.open(io.BytesIO(rendered.pdf)) as pdf:
        text = " ".join((pdf.pages[0].extract_text() or "").split())
    for spec in template.fields:
        assert spec.label is not None
        assert spec.label in text
    assert set(rendered.boxes) == {spec.name for spec in template.fields}


def test_rasterise_gives_a4_at_300_dpi_and_can_stop_early(
    templates: dict[str, FormTemplate],
) -> None:
    rendered = render_pdf(fill_form(templates["register-to-vote"], seed=2))
    assert rendered.pages == 2
    first = rasterise(rendered.pdf, dpi=300, pages=1)
    assert len(first) == 1
    assert first[0].size == A4_300_DPI
    assert first[0].info["dpi"] == (300, 300)
    assert [image.size for image in rasterise(rendered.pdf, dpi=150)] == [(1240, 1754)] * 2


def test_value_boxes_do_not_overlap(templates: dict[str, FormTemplate]) -> None:
    for template in templates.values():
        boxes = [b.value for b in render_pdf(fill_form(template, seed=3)).boxes.values()]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
                assert apart, (a, b)

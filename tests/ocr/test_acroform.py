"""Fillable PDFs: their own form fields read exactly, by a template's ``pdf_field``.

Forms made here with reportlab's AcroForm support, filled at creation; and the IRS
forms of the shared corpus (section 2 of its MANIFEST), checked against the values
pypdf listed in ``acroform_fields_pypdf.json``.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pypdf
import pytest
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject
from reportlab.pdfgen import canvas

from config.form_template import FormTemplate
from domain.errors import UnreadableDocumentError
from domain.forms import FormExtraction
from ocr import extract_files, extract_form, extract_path
from ocr.acroform import (
    PdfFieldKind,
    PdfFormField,
    field_value,
    fields_from_form,
    form_fields,
    read_form,
)
from tests.ocr.conftest import corpus_dir

TITLE = "Council Tax Reduction application"


@dataclass(frozen=True)
class Answers:
    """What a citizen typed into the fillable form."""

    full_name: str = "Ada Lovelace"
    date_of_birth: str = "10/12/1985"
    weekly_rent: str = "£1,234.5"
    ni_number: str = "jx 12 34 56 c"
    email: str = ""
    carer: bool = True
    student: bool = False
    tenure: str = "rent"  # radio: own, rent, other
    landlord: str = "ha"  # combo: export value of the option chosen


def fillable_pdf(answers: Answers = Answers(), *, reference: str = "REF 4471") -> bytes:
    """A one-page fillable form: labels printed, a field after each, filled."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(595, 842))
    pdf.setFont("Helvetica-Bold", 16)
    pdf.drawString(50, 790, TITLE)
    pdf.setFont("Helvetica", 11)
    form = pdf.acroForm
    texts = [
        ("Full name", "applicant.full_name", answers.full_name, 300),
        ("Date of birth", "applicant.dob", answers.date_of_birth, 150),
        ("Weekly rent", "money.rent", answers.weekly_rent, 150),
        ("National Insurance number", "applicant.nino", answers.ni_number, 150),
        ("Email address", "applicant.email", answers.email, 250),
    ]
    y = 740
    for label, name, value, width in texts:
        pdf.drawString(50, y + 5, label)
        form.textfield(name=name, value=value, x=250, y=y, width=width, height=20)
        y -= 40
    for label, name, ticked in [("I am a carer", "carer", answers.carer),
                                ("I am a student", "student", answers.student)]:  # fmt: skip
        pdf.drawString(50, y + 5, label)
        form.checkbox(name=name, checked=ticked, x=250, y=y, size=16)
        y -= 40
    pdf.drawString(50, y + 5, "Your home")
    for i, option in enumerate(["own", "rent", "other"]):
        pdf.drawString(200 + 90 * i, y + 5, option.title())
        form.radio(name="tenure", value=option, selected=answers.tenure == option,
                   x=240 + 90 * i, y=y, size=16)  # fmt: skip
    y -= 40
    pdf.drawString(50, y + 5, "Landlord")
    form.choice(name="landlord", value=answers.landlord, x=200, y=y, width=200, height=20,
                options=[("Council", "council"), ("Housing association", "ha"),
                         ("Private landlord", "private")])  # fmt: skip
    y -= 40
    # Printed, not a form field: read from the text layer as usual.
    pdf.drawString(50, y + 5, "Reference")
    pdf.drawString(200, y + 5, reference)
    pdf.save()
    return buffer.getvalue()


TEMPLATE = FormTemplate.model_validate(
    {
        "form_type": "ctr-fillable",
        "title": TITLE,
        "match": {"all_text": ["Council Tax Reduction"]},
        "fields": [
            {"name": "full_name", "label": "Full name", "type": "name", "required": True,
             "pdf_field": "applicant.full_name"},
            {"name": "date_of_birth", "label": "Date of birth", "type": "date",
             "pdf_field": "applicant.dob"},
            {"name": "weekly_rent", "label": "Weekly rent", "type": "money",
             "pdf_field": "money.rent"},
            {"name": "ni_number", "label": "National Insurance number", "type": "ni_number",
             "pdf_field": "applicant.nino"},
            {"name": "email", "label": "Email address", "type": "email",
             "pdf_field": "applicant.email"},
            {"name": "carer", "label": "I am a carer", "type": "checkbox", "pdf_field": "carer"},
            {"name": "student", "label": "I am a student", "type": "checkbox",
             "pdf_field": "student"},
            {"name": "tenure", "label": "Your home", "type": "choice",
             "choices": ["Own", "Rent", "Other"], "pdf_field": "tenure"},
            {"name": "landlord", "label": "Landlord", "type": "choice",
             "choices": ["Council", "Housing association", "Private landlord"],
             "pdf_field": "landlord"},
            # No PDF field: read from the page. And one whose PDF field this form lacks.
            {"name": "reference", "label": "Reference", "max_width": 0.3},
            {"name": "phone", "label": "Telephone", "type": "phone",
             "pdf_field": "applicant.phone"},
        ],
    }
)  # fmt: skip
TEMPLATES = {TEMPLATE.form_type: TEMPLATE}

EXPECTED: dict[str, Any] = {
    "full_name": "Ada Lovelace",
    "date_of_birth": "1985-12-10",
    "weekly_rent": "1234.50",
    "ni_number": "JX123456C",
    "email": None,
    "carer": True,
    "student": False,
    "tenure": "Rent",
    "landlord": "Housing association",
}


def assert_read_exactly(result: FormExtraction) -> None:
    got = {name: result.fields[name].value for name in EXPECTED}
    assert got == EXPECTED
    for name in EXPECTED:
        extracted = result.fields[name]
        assert extracted.confidence == 1.0
        assert extracted.valid, (name, extracted.error)
        assert extracted.page == 1
        assert extracted.bbox is not None
    # The printed value still comes from the page; the field the PDF lacks, too.
    assert result.fields["reference"].value == "REF 4471"
    assert result.fields["phone"].error == "label not found"
    assert result.form_type == TEMPLATE.form_type


# --- the module on its own -------------------------------------------------------------


def test_form_fields_list_kind_value_page_and_box() -> None:
    fields = {f.name: f for f in form_fields(fillable_pdf(), "ctr.pdf")}
    assert set(fields) == {
        "applicant.full_name", "applicant.dob", "money.rent", "applicant.nino",
        "applicant.email", "carer", "student", "tenure", "landlord",
    }  # fmt: skip
    assert fields["applicant.full_name"].kind is PdfFieldKind.TEXT
    assert fields["applicant.full_name"].value == "Ada Lovelace"
    assert fields["applicant.email"].value is None
    assert fields["carer"].kind is PdfFieldKind.CHECKBOX
    assert fields["carer"].checked is True
    assert fields["student"].checked is False
    assert fields["student"].value is None
    tenure = fields["tenure"]
    assert (tenure.kind, tenure.value, tenure.checked) == (PdfFieldKind.RADIO, "rent", True)
    assert set(tenure.options) == {"own", "rent", "other"}
    landlord = fields["landlord"]
    assert (landlord.kind, landlord.value, landlord.label) == (
        PdfFieldKind.CHOICE, "ha", "Housing association",
    )  # fmt: skip
    # The full name's box: x 250..550 pt of 595, y 740..760 pt of 842 from the bottom.
    x0, y0, x1, y1 = fields["applicant.full_name"].bbox or (0, 0, 0, 0)
    assert (x0, x1) == pytest.approx((250 / 595, 550 / 595), abs=1e-3)
    assert (y0, y1) == pytest.approx((82 / 842, 102 / 842), abs=1e-3)
    # The radio group's box is the chosen button's: the second of three.
    assert tenure.bbox is not None
    assert tenure.bbox[0] == pytest.approx(330 / 595, abs=1e-3)


def test_a_pdf_without_a_form_has_no_fields() -> None:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(100, 700, TITLE)
    pdf.save()
    assert form_fields(buffer.getvalue(), "plain.pdf") == []


def test_a_rotated_page_gives_boxes_as_displayed() -> None:
    reader = pypdf.PdfReader(io.BytesIO(fillable_pdf()))
    writer = pypdf.PdfWriter(clone_from=reader)
    writer.pages[0].rotate(90)
    out = io.BytesIO()
    writer.write(out)
    box = read_form(out.getvalue(), "turned.pdf")["applicant.full_name"].bbox
    # Turned clockwise: the box near the top of the page is now near its right edge.
    assert box == pytest.approx((1 - 102 / 842, 250 / 595, 1 - 82 / 842, 550 / 595), abs=1e-3)


def test_truncated_pdf_is_an_error_naming_the_file() -> None:
    data = fillable_pdf()
    with pytest.raises(UnreadableDocumentError) as caught:
        form_fields(b"%PDF-1.4\n" + data[200:400], "cut.pdf")
    assert caught.value.where == "cut.pdf"


def with_acroform(change: Any) -> bytes:
    """The sample form with its AcroForm dictionary changed by ``change(writer, root)``."""
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(fillable_pdf())))
    change(writer, writer._root_object["/AcroForm"])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_odd_dictionaries_are_read_as_far_as_they_make_sense() -> None:
    def spoil(writer: pypdf.PdfWriter, acroform: DictionaryObject) -> None:
        fields = acroform["/Fields"]
        # A null entry, a field listed twice, a kid that is its own parent, no /Rect.
        fields.append(pypdf.generic.NullObject())
        fields.append(fields[0])
        first = fields[0].get_object()
        first[NameObject("/Kids")] = ArrayObject([fields[0]])
        first[NameObject("/T")] = TextStringObject("looped")
        del fields[1].get_object()["/Rect"]

    found = read_form(with_acroform(spoil), "odd.pdf")
    assert "looped" not in found  # its only kid is itself: no widget, no answer
    assert len(found) == 8
    second = next(f for f in found.values() if f.bbox is None)
    assert second.page == 1


def test_a_checkbox_state_given_as_a_string_or_only_shown() -> None:
    def restate(writer: pypdf.PdfWriter, acroform: DictionaryObject) -> None:
        for ref in acroform["/Fields"]:
            field = ref.get_object()
            if field.get("/T") == "carer":
                field[NameObject("/V")] = TextStringObject("Yes")
            if field.get("/T") == "student":  # no value; its widget shows it on
                del field["/V"]
                field[NameObject("/AS")] = NameObject("/Yes")

    found = read_form(with_acroform(restate), "odd.pdf")
    assert (found["carer"].checked, found["carer"].value) == (True, "Yes")
    assert (found["student"].checked, found["student"].value) == (True, "Yes")


def test_fields_not_an_array_means_no_fields() -> None:
    def spoil(writer: pypdf.PdfWriter, acroform: DictionaryObject) -> None:
        acroform[NameObject("/Fields")] = TextStringObject("nonsense")

    assert read_form(with_acroform(spoil), "odd.pdf") == {}


def test_a_field_tree_too_deep_is_an_error_naming_the_file() -> None:
    def deepen(writer: pypdf.PdfWriter, acroform: DictionaryObject) -> None:
        node = acroform["/Fields"][0].get_object()
        for level in range(80):
            parent = DictionaryObject({NameObject("/T"): TextStringObject(f"l{level}")})
            parent_ref = writer._add_object(parent)
            parent[NameObject("/Kids")] = ArrayObject([acroform["/Fields"][0]])
            acroform["/Fields"][0] = parent_ref
        assert node

    with pytest.raises(UnreadableDocumentError, match="deeper than") as caught:
        form_fields(with_acroform(deepen), "deep.pdf")
    assert caught.value.where == "deep.pdf"


def test_choice_maps_export_value_or_displayed_option_case_aside() -> None:
    spec = TEMPLATE.field("landlord")
    by_label = PdfFormField("landlord", PdfFieldKind.CHOICE, "x1", label="housing ASSOCIATION")
    assert field_value(spec, by_label).value == "Housing association"
    by_export = PdfFormField("landlord", PdfFieldKind.CHOICE, "council")
    assert field_value(spec, by_export).value == "Council"
    unknown = field_value(spec, PdfFormField("landlord", PdfFieldKind.CHOICE, "Caravan"))
    assert not unknown.valid
    assert unknown.error == "the PDF field's option is not one of the template's choices"
    assert unknown.confidence == 1.0


def test_empty_required_field_is_missing() -> None:
    spec = TEMPLATE.field("full_name")
    empty = field_value(spec, PdfFormField("applicant.full_name", PdfFieldKind.TEXT, None))
    assert (empty.value, empty.valid, empty.error) == (None, False, "required but empty")
    optional = field_value(TEMPLATE.field("email"), PdfFormField("e", PdfFieldKind.TEXT, "  "))
    assert (optional.value, optional.valid, optional.error) == (None, True, None)


_FIRST = ["Olivia", "Mohammed", "Siân", "Chidi", "Zofia", "Aoife", "Ravi", "Grace"]
_LAST = ["Smith", "O'Brien", "Nowak", "Okafor", "Davies-Jones", "Patel", "MacLeod"]


@pytest.mark.parametrize("seed", range(20))
def test_random_answers_come_back_exactly(seed: int) -> None:
    # Answers drawn at random, written as people write them: every one read back exactly.
    rng = random.Random(seed)
    born = date(1930, 1, 1).toordinal() + rng.randrange(30_000)
    dob = date.fromordinal(born)
    pence = rng.randrange(1, 10_000_000)
    letters = "ZZ"
    while letters in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:  # prefixes never issued
        letters = "".join(rng.choice("ABCEGHJKLMNPRSTWXYZ") for _ in range(2))
    digits = "".join(rng.choice("0123456789") for _ in range(6))
    answers = Answers(
        full_name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
        date_of_birth=rng.choice(["%d/%m/%Y", "%d.%m.%Y", "%d %B %Y", "%Y-%m-%d"]),
        weekly_rent=rng.choice(["£{:,.2f}", "{:.2f}", "GBP {:.2f}"]),
        ni_number=rng.choice(["{} {} {} {} {}", "{}{}{}{}{}"]),
        carer=rng.random() < 0.5,
        student=rng.random() < 0.5,
        tenure=rng.choice(["own", "rent", "other"]),
        landlord=rng.choice(["council", "ha", "private"]),
    )
    amount = Decimal(pence) / 100
    answers = Answers(
        **{
            **answers.__dict__,
            "date_of_birth": dob.strftime(answers.date_of_birth),
            "weekly_rent": answers.weekly_rent.format(amount),
            "ni_number": answers.ni_number.format(
                letters, digits[:2], digits[2:4], digits[4:], "D"
            ),
        }
    )
    got = fields_from_form(TEMPLATE, read_form(fillable_pdf(answers), "random.pdf"))
    landlords = {"council": "Council", "ha": "Housing association", "private": "Private landlord"}
    assert {n: f.value for n, f in got.items()} == {
        "full_name": answers.full_name,
        "date_of_birth": dob.isoformat(),
        "weekly_rent": f"{amount:.2f}",
        "ni_number": f"{letters}{digits}D",
        "email": None,
        "carer": answers.carer,
        "student": answers.student,
        "tenure": answers.tenure.title(),
        "landlord": landlords[answers.landlord],
    }
    assert all(f.valid and f.confidence == 1.0 for f in got.values())


# --- extraction end to end -------------------------------------------------------------


def test_extract_form_takes_fields_from_the_pdf() -> None:
    result = extract_form(fillable_pdf(), "ctr.pdf", TEMPLATES)
    assert_read_exactly(result)
    assert [r.field for r in result.reasons] == ["phone"]


def test_extract_path_and_the_pool_agree(tmp_path: Path) -> None:
    path = tmp_path / "ctr.pdf"
    path.write_bytes(fillable_pdf())
    assert_read_exactly(extract_path(path, TEMPLATES))
    [pooled] = extract_files([path], TEMPLATES, jobs=1)
    assert isinstance(pooled, FormExtraction), pooled
    assert_read_exactly(pooled)


def test_an_empty_required_pdf_field_is_missing() -> None:
    result = extract_form(fillable_pdf(Answers(full_name="")), "ctr.pdf", TEMPLATES)
    assert result.fields["full_name"].value is None
    assert result.fields["full_name"].error == "required but empty"
    assert {r.field: r.code for r in result.reasons}["full_name"] == "missing"


def test_a_broken_form_is_an_error_naming_the_file() -> None:
    def deepen(writer: pypdf.PdfWriter, acroform: DictionaryObject) -> None:
        for level in range(80):
            parent = DictionaryObject({NameObject("/T"): TextStringObject(f"l{level}")})
            parent[NameObject("/Kids")] = ArrayObject([acroform["/Fields"][0]])
            acroform["/Fields"][0] = writer._add_object(parent)

    with pytest.raises(UnreadableDocumentError) as caught:
        extract_form(with_acroform(deepen), "deep.pdf", TEMPLATES)
    assert caught.value.where == "deep.pdf"


# --- the corpus ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gov_forms() -> Path:
    return corpus_dir("gov-forms")


@pytest.fixture(scope="module")
def listed(gov_forms: Path) -> dict[str, Any]:
    """What pypdf listed for each corpus PDF (MANIFEST section 2)."""
    data: dict[str, Any] = json.loads((gov_forms / "acroform_fields_pypdf.json").read_text())
    return data


def corpus_template(form_type: str, pdf_fields: dict[str, str]) -> FormTemplate:
    """A template whose fields each name a PDF field: text, or checkbox for buttons."""
    return FormTemplate.model_validate(
        {
            "form_type": form_type,
            "title": form_type,
            "fields": [
                {"name": f"f{i}", "label": f"Field {i}", "type": kind, "pdf_field": pdf_name}
                for i, (pdf_name, kind) in enumerate(pdf_fields.items())
            ],
        }
    )


def as_listed(value: str) -> str | bool:
    """A value of the JSON listing as our field holds it: a checkbox's state as on."""
    return value != "/Off" if value.startswith("/") else value


def test_w4_every_filled_field_as_listed(gov_forms: Path, listed: dict[str, Any]) -> None:
    name = "irs_fw4_2009_filled_placeholder.pdf"
    expected = listed[name]["filled_fields"]
    assert len(expected) == 43
    found = read_form(gov_forms / name)
    got = {n: f.value if f.checked is None else "/" + (f.value or "Off") for n, f in found.items()}
    assert {n: got[n] for n in expected} == expected
    assert [n for n, f in found.items() if f.value is None] == ["c1_02(0)", "c1_04(0)"]


def test_w4_ten_fields_through_a_template(gov_forms: Path, listed: dict[str, Any]) -> None:
    name = "irs_fw4_2009_filled_placeholder.pdf"
    chosen = ["f1_09(0)", "f1_10(0)", "f1_14(0)", "f1_15(0)", "c1_01(0)", "c1_02(0)",
              "f1_16(0)", "f1_22(0)", "f2_01(0)", "f2_10(0)"]  # fmt: skip
    kinds = {n: "checkbox" if n.startswith("c") else "text" for n in chosen}
    template = corpus_template("irs-w4", kinds)
    values = {f["name"]: f["value"] for f in listed[name]["fields"]}
    expected = {f"f{i}": as_listed(values[n]) if values[n] else False for i, n in enumerate(chosen)}
    for run in (
        lambda: extract_path(gov_forms / name, {"irs-w4": template}, "irs-w4"),
        lambda: extract_files([gov_forms / name], {"irs-w4": template}, "irs-w4", jobs=1)[0],
    ):
        result = run()
        assert isinstance(result, FormExtraction), result
        assert {n: f.value for n, f in result.fields.items()} == expected
        assert not result.needs_review, result.reasons
        assert all(f.confidence == 1.0 and f.bbox for f in result.fields.values())
        assert result.fields["f8"].page == 2  # f2_01: on page 2, which needed no reading
        assert result.pages == 2


def test_f1040_the_two_filled_fields(gov_forms: Path, listed: dict[str, Any]) -> None:
    name = "irs_f1040_2010_prefilled.pdf"
    filled = listed[name]["filled_fields"]
    checkbox = next(n for n in filled if n.split(".")[-1].startswith("c1_01_0_"))
    text = next(n for n in filled if n.split(".")[-1].startswith("p2-t124"))
    # The same partial name on page 1 is another, unticked, checkbox.
    namesake = checkbox.replace("Page2", "Page1")
    template = corpus_template(
        "irs-1040", {checkbox: "checkbox", text: "text", namesake: "checkbox"}
    )
    # Through the form alone: pdfminer (so the pipeline's text layer) finds no pages in
    # this file at all, though pdfium and pypdf read both.
    got = fields_from_form(template, read_form(gov_forms / name))
    assert {n: (f.value, f.page, f.confidence) for n, f in got.items()} == {
        "f0": (True, 2, 1.0),
        "f1": ("foobar", 2, 1.0),
        "f2": (False, 1, 1.0),
    }
    assert len(form_fields(gov_forms / name)) == 236  # 246 less the 10 parent nodes


def test_encrypted_w4_has_no_fields_and_still_extracts(gov_forms: Path) -> None:
    path = gov_forms / "irs_fw4_2012_encrypted_signed.pdf"
    assert form_fields(path) == []  # only a signature field, which holds no answer
    template = corpus_template("irs-w4-2012", {"f1_01[0]": "text"})
    result = extract_path(path, {"irs-w4-2012": template}, "irs-w4-2012")
    # Not in the PDF: the usual path, which finds no label "Field 0" on the page.
    assert result.fields["f0"].error == "label not found"


def test_xfa_hybrid_w9_reads_its_acroform(gov_forms: Path, listed: dict[str, Any]) -> None:
    name = "irs_fw9_rev2018-10_blank.pdf"
    assert listed[name]["has_xfa"]
    found = read_form(gov_forms / name)
    typed = {f["name"] for f in listed[name]["fields"] if f["type"]}
    assert set(found) == typed
    assert all(f.value is None for f in found.values())
    assert all(f.page == 1 and f.bbox for f in found.values())
    first = "topmostSubform[0].Page1[0].f1_1[0]"
    template = FormTemplate.model_validate(
        {
            "form_type": "irs-w9",
            "title": "W-9",
            "match": {"all_text": ["Request for Taxpayer"]},
            "fields": [{"name": "name", "label": "Name", "required": True, "pdf_field": first}],
        }
    )
    result = extract_path(gov_forms / name, {"irs-w9": template})
    assert result.form_type == "irs-w9"
    extracted = result.fields["name"]
    assert (extracted.value, extracted.error, extracted.page) == (None, "required but empty", 1)
    assert extracted.bbox == found[first].bbox

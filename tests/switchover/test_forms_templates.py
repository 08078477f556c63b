"""Template tools: a draft from a blank form, and a template checked on filled samples
(``switchover forms draft`` and ``switchover forms check``)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from reportlab.pdfgen.canvas import Canvas

from config.form_template import FieldType, FormTemplate, Position, load_template, load_templates
from ocr.layout import comparable
from switchover.specimens import (
    FilledField,
    FilledForm,
    Specimen,
    design_for,
    fill_form,
    rasterise,
    render_pdf,
    write_specimens,
)
from switchover.templates import Draft, check_template, draft_template

BUNDLED = Path(__file__).resolve().parents[2] / "config" / "forms" / "register-to-vote.yaml"


def _blank(template: FormTemplate) -> bytes:
    """The form as printed, before anyone writes on it."""
    filled = fill_form(template, seed="blank")
    empty = [FilledField(spec=f.spec, written="", value=None) for f in filled.fields]
    return render_pdf(FilledForm(template, filled.seed, filled.applicant, empty)).pdf


@pytest.fixture(scope="module")
def blanks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("blank")
    paths = {}
    for form_type, template in load_templates().items():
        pdf = _blank(template)
        paths[f"{form_type}.pdf"] = folder / f"{form_type}.pdf"
        paths[f"{form_type}.pdf"].write_bytes(pdf)
        (page,) = rasterise(pdf, dpi=300, pages=1)
        paths[f"{form_type}.png"] = folder / f"{form_type}.png"
        page.save(paths[f"{form_type}.png"], dpi=(300, 300))
    return paths


@pytest.fixture(scope="module")
def specimens(tmp_path_factory: pytest.TempPathFactory) -> list[Specimen]:
    folder = tmp_path_factory.mktemp("filled")
    return write_specimens(
        folder, form_type="register-to-vote", count=2, seed=11, variants=("digital", "scan")
    )


def _compare(draft: Draft, form_type: str) -> dict[str, tuple[Position, FieldType]]:
    """The bundled template's fields the draft found, by name: the draft's position and
    type for each."""
    drafted = {comparable(s.label): s for s in draft.template.fields if s.label}
    found = {}
    for spec in load_templates()[form_type].fields:
        match = drafted.get(comparable(spec.label or ""))
        if spec.label and match is None:
            # OCR may drop a one-letter word ("I receive..."): the label still matches.
            match = next((s for k, s in drafted.items() if k in comparable(spec.label)), None)
        if match is not None:
            found[spec.name] = (match.position, match.type)
    return found


@pytest.mark.parametrize("variant", ["png", "pdf"])
@pytest.mark.parametrize("form_type", ["register-to-vote", "legal-aid-means"])
def test_a_draft_finds_the_labels_their_positions_and_types(
    blanks: dict[str, Path], form_type: str, variant: str, tmp_path: Path
):
    draft = draft_template(blanks[f"{form_type}.{variant}"], form_type)
    bundled = load_templates()[form_type]
    labelled = [s for s in bundled.fields if s.label]
    found = _compare(draft, form_type)
    assert len(found) >= 0.9 * len(labelled), sorted(found)
    right_position = [n for n, (p, _) in found.items() if p is bundled.field(n).position]
    assert len(right_position) >= 0.9 * len(found)
    # Types a label's words can tell: not a choice written in a box, not a plain text.
    guessable = [n for n in found if bundled.field(n).type not in (FieldType.CHOICE,)]
    right_type = [n for n in guessable if found[n][1] is bundled.field(n).type]
    assert len(right_type) >= 0.8 * len(guessable), sorted(set(guessable) - set(right_type))
    ticks = [s.name for s in bundled.fields if s.type is FieldType.CHECKBOX]
    assert all(found[n][1] is FieldType.CHECKBOX for n in ticks)
    assert draft.template.match.all_text == [design_for(bundled).title]
    path = tmp_path / "draft.yaml"
    path.write_text(draft.yaml(), encoding="utf-8")
    assert path.read_text().startswith("# DRAFT")
    assert load_template(path) == draft.template


def _small_form(*, fillable: bool = False) -> bytes:
    """A blank form drawn here: a label above its box, a caption inside its box, a
    Yes/No pair, a row of three options, a lone tick box; optionally fillable."""
    out = io.BytesIO()
    pdf = Canvas(out, pagesize=(595, 842))
    form = pdf.acroForm
    pdf.setFont("Helvetica-Bold", 20)
    pdf.drawString(50, 790, "Housing benefit claim")
    pdf.setFont("Helvetica", 11)
    pdf.drawString(50, 745, "Family name")
    pdf.rect(50, 715, 300, 22)
    pdf.rect(50, 660, 300, 40)
    pdf.setFont("Helvetica", 8)
    pdf.drawString(54, 690, "Weekly rent")
    pdf.setFont("Helvetica", 11)
    pdf.drawString(50, 625, "Do you have a partner?")
    for x, word in ((250, "Yes"), (330, "No")):
        pdf.drawString(x, 625, word)
        pdf.rect(x + 30, 622, 14, 14)
    pdf.drawString(50, 585, "Contact me by")
    for x, word in ((200, "Post"), (290, "Phone"), (380, "Email")):
        pdf.drawString(x, 585, word)
        pdf.rect(x + 45, 582, 14, 14)
    pdf.drawString(50, 545, "I am a student")
    pdf.rect(250, 542, 14, 14)
    if fillable:
        form.textfield(name="claim.family_name", x=51, y=716, width=298, height=20, borderWidth=0)
        form.checkbox(name="claim.student", x=251, y=543, size=12, borderWidth=0)
    pdf.save()
    return out.getvalue()


def test_a_drawn_form_gives_each_position_and_its_choices(tmp_path: Path):
    path = tmp_path / "housing.pdf"
    path.write_bytes(_small_form())
    fields = {s.name: s for s in draft_template(path, "housing").template.fields}
    assert fields["family_name"].position is Position.BELOW
    assert fields["family_name"].type is FieldType.NAME
    assert fields["weekly_rent"].position is Position.INSIDE
    assert fields["weekly_rent"].type is FieldType.MONEY
    partner = fields["do_you_have_a_partner"]
    assert (partner.type, partner.choices) == (FieldType.CHOICE, ["Yes", "No"])
    assert partner.zone is not None
    contact = fields["contact_me_by"]
    assert (contact.type, contact.choices) == (FieldType.CHOICE, ["Post", "Phone", "Email"])
    assert fields["i_am_a_student"].type is FieldType.CHECKBOX


def test_a_fillable_form_names_its_pdf_fields(tmp_path: Path):
    path = tmp_path / "housing.pdf"
    path.write_bytes(_small_form(fillable=True))
    fields = {s.name: s for s in draft_template(path, "housing").template.fields}
    assert fields["family_name"].pdf_field == "claim.family_name"
    assert fields["i_am_a_student"].pdf_field == "claim.student"
    assert fields["weekly_rent"].pdf_field is None


def test_check_scores_the_bundled_template_on_scans(specimens: list[Specimen]):
    template = load_template(BUNDLED)
    scans = [s.files["scan"] for s in specimens]
    checked = check_template(template, scans, truth_dir=specimens[0].truth_path.parent)
    summary = checked.summary
    assert summary.files == 2
    assert summary.unreadable == 0
    assert summary.fields == 2 * len(template.fields)
    assert summary.right == sum(f.right is True for c in checked.files for f in c.fields)
    assert summary.exact_rate >= 0.85
    assert summary.silently_wrong == sum(f.silently_wrong for c in checked.files for f in c.fields)
    assert summary.approved_without_review == sum(not c.needs_review for c in checked.files)
    lines = checked.lines()
    assert lines[-1].startswith("summary: 2 files; 30 fields compared:")


def test_check_counts_a_wrong_unflagged_field_and_fails(
    run, specimens: list[Specimen], tmp_path: Path
):
    # The text layer reads every value exactly: make one truth wrong, and the field,
    # read surely, is wrong and not flagged.
    truth_dir = tmp_path / "truth"
    truth_dir.mkdir()
    for specimen in specimens:
        truth = json.loads(specimen.truth_path.read_text())
        truth["fields"]["surname"] = "NOBODY"
        (truth_dir / specimen.truth_path.name).write_text(json.dumps(truth))
    pdfs = [str(s.files["digital"]) for s in specimens]
    result = run("forms", "check", str(BUNDLED), *pdfs, "--truth", str(truth_dir), "--json")
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["template"] == "register-to-vote"
    first = out["files"][0]
    assert set(first) == {"file", "fields", "needs_review", "reasons"}
    surname = first["fields"]["surname"]
    assert set(surname) == {"value", "confidence", "valid", "error", "flagged", "right"}
    assert surname["right"] is False
    assert surname["flagged"] is False
    summary = out["summary"]
    assert summary["fields_compared"] == 30
    assert summary["silently_wrong"] == 2
    assert summary["right"] == 28
    assert summary["exact_rate"] == round(28 / 30, 4)
    assert summary["silently_wrong_rate"] == round(2 / 30, 4)
    assert "2 fields wrong and not flagged" in result.stderr


def test_check_without_truth_prints_the_table(run, specimens: list[Specimen]):
    result = run("forms", "check", "register-to-vote", str(specimens[0].files["digital"]))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "field" in lines[1]
    assert "why doubtful" in lines[1]
    assert "truth" not in lines[1]
    surname = next(line for line in lines if line.strip().startswith("surname"))
    assert specimens[0].truth["surname"] in surname
    assert lines[-1].startswith("summary: 1 files;")


def test_a_draft_is_checked_against_filled_copies(
    run, blanks: dict[str, Path], specimens: list[Specimen], tmp_path: Path
):
    draft = tmp_path / "draft.yaml"
    result = run("forms", "draft", str(blanks["register-to-vote.png"]), "--form-type",
                 "register-to-vote", "--out", str(draft))  # fmt: skip
    assert result.exit_code == 0, result.output
    pdfs = [str(s.files["digital"]) for s in specimens]
    truth = str(specimens[0].truth_path.parent)
    result = run("forms", "check", str(draft), *pdfs, "--truth", truth, "--json")
    assert result.exit_code in (0, 1), result.output
    summary = json.loads(result.stdout)["summary"]
    # Every truth field is compared, under the draft's names or not.
    assert summary["fields_compared"] == 30
    assert 0 <= summary["exact_rate"] <= 1
    assert summary["approved_without_review"] <= summary["files"] == 2


def test_a_bad_template_exits_2_naming_its_line(run, specimens: list[Specimen], tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BUNDLED.read_text().replace("type: postcode", "type: postal"))
    result = run("forms", "check", str(bad), str(specimens[0].files["digital"]))
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"switchover: {bad} line ")
    assert 'field "postcode": type:' in line


def test_a_missing_truth_is_bad_input(run, specimens: list[Specimen], tmp_path: Path):
    result = run("forms", "check", str(BUNDLED), str(specimens[0].files["digital"]),
                 "--truth", str(tmp_path))  # fmt: skip
    assert result.exit_code == 2
    assert "no truth file" in result.stderr


def test_draft_refuses_a_bad_form_type(run, blanks: dict[str, Path]):
    result = run("forms", "draft", str(blanks["register-to-vote.pdf"]), "--form-type", "Bad Id")
    assert result.exit_code == 2
    assert "form type" in result.stderr

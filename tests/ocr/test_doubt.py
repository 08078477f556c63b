"""Doubtful reads go to review: tick boxes near the ink threshold or on the wrong line,
e-mails whose readings disagree or look like a typical misreading, marks that are not
values, odd characters in free text, and labels that swallowed a tick box. Also photos
that lose what recognises them: a page corner in shadow, a form's small-print title."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import pytest

from config.form_template import FieldSpec, FormTemplate, load_templates
from domain.errors import UnknownFormError
from domain.forms import DOUBTS, BBox, Word, WordSource
from ocr import fields, layout, preprocess, ticks
from ocr.boxes import Box, BoxKind
from ocr.engines import OcrWord, engine_for
from ocr.fields import ValueReading
from ocr.identify import identify_form
from ocr.reading import ReadPage
from ocr.regions import PageBox, value_area

MIN_CONFIDENCE = 0.80  # both bundled templates' review bar
NO_BOX: BBox = (0.0, 0.0, 0.1, 0.1)


def spec(type_: str, **extra: object) -> FieldSpec:
    return FieldSpec.model_validate({"name": "f", "label": "F", "type": type_, **extra})


def judged(type_: str, text: str, *others: str, confidence: float = 0.97) -> Any:
    reading = ValueReading(text, confidence, NO_BOX, others=tuple((o, 0.96) for o in others))
    return fields._judge(spec(type_), reading, 1)


# --- tick boxes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("density", "sure"),
    [
        (0.0, True),
        (0.005, True),
        (0.018, False),
        (0.03, False),
        (0.05, False),
        (0.09, False),
        (0.15, True),
    ],
)
def test_tick_ink_near_the_threshold_is_doubtful(density: float, sure: bool) -> None:
    assert (ticks.tick_confidence(density) >= MIN_CONFIDENCE) is sure


def test_a_faint_mark_in_a_tick_box_is_sent_to_review() -> None:
    box = np.full((60, 60), 255, np.uint8)
    cv2.rectangle(box, (0, 0), (59, 59), 0, 3)
    assert ticks.tick_ink(box) == 0.0
    box[25:31, 20:40] = 0  # a short stroke: about 3% of the inside
    density = ticks.tick_ink(box)
    assert ticks.UNSURE_INK[0] < density < ticks.UNSURE_INK[1]
    assert ticks.tick_confidence(density) < MIN_CONFIDENCE


def _tick_row_page(ticked_row: int) -> tuple[ReadPage, list[layout.LabelMatch]]:
    """Two labels on close rows, each with a box to its right; only one box ticked."""
    image = np.full((400, 1200), 255, np.uint8)
    labels = []
    for row, top in enumerate((100, 170)):
        cv2.putText(image, "Label", (100, top + 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 3)
        cv2.rectangle(image, (300, top), (355, top + 55), 0, 3)
        if row == ticked_row:
            cv2.line(image, (305, top + 5), (350, top + 50), 0, 5)
            cv2.line(image, (350, top + 5), (305, top + 50), 0, 5)
        # The label's words, one of them stretched tall as page OCR sometimes makes it.
        word = Word(
            text="Label", confidence=0.9, bbox=(100 / 1200, top / 400, 230 / 1200, (top + 45) / 400)
        )
        tall = Word(
            text="Label",
            confidence=0.9,
            bbox=(100 / 1200, (top - 30) / 400, 230 / 1200, (top + 75) / 400),
        )
        labels.append(layout.LabelMatch((word if row == 0 else tall,), 100.0))
    page = ReadPage(1, WordSource.OCR, [], 300, 1200, 400, _image=image)
    return page, labels


@pytest.mark.parametrize("ticked_row", [0, 1])
def test_each_label_reads_the_box_on_its_own_line(ticked_row: int) -> None:
    page, labels = _tick_row_page(ticked_row)
    reader = ticks.TickReader(page, [PageBox.of(b, 1200, 400) for b in page.boxes()])
    for row, label in enumerate(labels):
        result = reader.checkbox(spec("checkbox"), label)
        assert result.error is None
        assert result.value is (row == ticked_row)
        assert result.confidence >= MIN_CONFIDENCE


def test_a_label_does_not_swallow_the_tick_box_read_as_a_word() -> None:
    def word(text: str, x0: float, x1: float) -> Word:
        return Word(text=text, confidence=0.9, bbox=(x0, 0.50, x1, 0.51))

    words = [
        word("I", 0.08, 0.083),
        word("live", 0.09, 0.11),
        word("with", 0.115, 0.14),
        word("a", 0.145, 0.15),
        word("partner", 0.155, 0.2),
        word("[|", 0.21, 0.23),
    ]
    match = layout.find_label("I live with a partner", layout.phrases(words))
    assert match is not None
    assert [w.text for w in match.words] == ["I", "live", "with", "a", "partner"]


def test_a_ticked_box_read_as_a_word_is_not_a_word_beside_it() -> None:
    """OCR reads a ticked box and its walls as "Bx|", a little wider than the box: that
    is no neighbour nearer the box than the label far to its left."""
    page, labels = _tick_row_page(ticked_row=0)
    box_word = Word(text="Bx|", confidence=0.4, bbox=(292 / 1200, 0.24, 380 / 1200, 0.40))
    page.words = [*labels[0].words, box_word]
    reader = ticks.TickReader(page, [PageBox.of(b, 1200, 400) for b in page.boxes()])
    result = reader.checkbox(spec("checkbox"), labels[0])
    assert result.error is None
    assert result.value is True


def word(text: str, x0: float, x1: float, y0: float, y1: float) -> Word:
    return Word(text=text, confidence=0.95, bbox=(x0, y0, x1, y1))


def label_found(label: str, words: list[Word]) -> list[str]:
    """The words found for a field of that label, on an A4 page of those words."""
    spec_ = FieldSpec.model_validate({"name": "field", "label": label, "type": "text"})
    return [w.text for w in fields.find_labels([spec_], words, aspect=1.414)["field"].words]


def _covered(label: str, words: list[Word], inked: bool) -> layout.LabelMatch | None:
    spec_ = FieldSpec.model_validate({"name": "field", "label": label, "type": "text"})
    found = fields.find_labels([spec_], words, aspect=1.414, inked=lambda box: inked)
    return found.get("field")


def test_a_label_whose_first_letters_lie_under_writing_is_found_by_the_rest() -> None:
    """An e-mail address run on past its box over the next label, "Phone number": OCR
    reads "number" and nothing where "Phone" lies under the ink. Or the writing runs
    into the label's letters: "Teaching Assistant" over "S" reads "Assistantavings"."""
    number = [word("number", 0.573, 0.645, 0.42, 0.44), word("0115", 0.674, 0.766, 0.42, 0.44)]
    match = _covered("Phone number", number, inked=True)
    assert match is not None
    assert [w.text for w in match.words] == ["number"]
    assert match.covered is not None
    assert match.bbox[0] == pytest.approx(0.573 - 5 * 0.072 / 6)  # where "Phone" stood
    assert match.bbox[2] == pytest.approx(0.645)
    merged = [
        word("Teach", 0.25, 0.33, 0.41, 0.44),
        word("Assistantavings", 0.398, 0.56, 0.41, 0.44),
    ]
    match = _covered("Savings", merged, inked=False)
    assert match is not None
    assert match.bbox[0] == pytest.approx(0.56 - 7 * 0.162 / 15)
    # No ink where the lost letters would stand, nothing run into the word: not covered.
    assert _covered("Phone number", number, inked=False) is None
    # Found in two places, it says nothing; without the covered letters, neither.
    twice = [*number, word("number", 0.573, 0.645, 0.62, 0.64)]
    assert _covered("Phone number", twice, inked=True) is None
    assert _covered("Telephone number", number, inked=True) is None  # half of it and more lost


def _one_field(name: str, label: str, type_: str) -> FormTemplate:
    """A template of one field, found right of its label."""
    field = {"name": name, "label": label, "type": type_}
    return FormTemplate.model_validate({"form_type": "t", "title": "T", "fields": [field]})


def test_a_field_whose_label_is_half_covered_goes_to_a_person() -> None:
    """Found by the rest of its label, a field's place may be another's: its value is
    read there, and a person confirms it."""
    image = np.full((300, 1200), 255, np.uint8)
    cv2.putText(image, "0115 496", (700, 170), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 0, 3)
    cv2.line(image, (420, 150), (560, 140), 0, 6)  # ink over where "Phone" stood
    number = word("number", 580 / 1200, 680 / 1200, 120 / 300, 170 / 300)
    page = ReadPage(1, WordSource.OCR, [number], 300, 1200, 300, _image=image)
    template = _one_field("phone", "Phone number", "text")
    found = fields.extract_fields(template, page, _Reads("0115 496"))  # type: ignore[arg-type]
    assert found["phone"].value == "0115 496"
    assert found["phone"].confidence <= ticks.DOUBTFUL
    assert found["phone"].doubts == ["label_covered"]
    (reason,) = fields.review_reasons(template, found)
    assert reason.detail.endswith(DOUBTS["label_covered"])


class _Second:
    """A second engine that reads one text in every crop, with no frames to weigh."""

    name = "second"

    def __init__(self, text: str) -> None:
        self.text = text
        self.crops = 0

    def read(self, image: Any, *, dpi: int, mode: Any = None) -> list[OcrWord]:
        self.crops += 1
        return [OcrWord(self.text, 0.97, (0, 0, 10, 10))]

    def char_frames(self, image: Any, mode: Any = None) -> None:
        return None


@pytest.mark.parametrize("misread", ["q", "G"])
def test_what_tesseract_read_surely_but_the_field_cannot_hold_is_read_again(
    misread: str,
) -> None:
    """A lone figure in a neat hand is too short to tell from print, and Tesseract was
    sure of its "q": no second reading was asked for, on a page that passed for typed.
    A reading the field cannot hold has the second engine read the crop too; the two
    disagree, so a person confirms. So does a letter in a count that would pass as the
    figure it looks like (a G for a 6): on a page taken for typed, Tesseract's 6 is shown
    first, and the second engine's 9 beside it."""
    image = np.full((300, 1200), 255, np.uint8)
    cv2.putText(image, "9", (700, 170), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 0, 3)
    label = word("Children", 100 / 1200, 400 / 1200, 120 / 300, 170 / 300)
    page = ReadPage(1, WordSource.OCR, [label], 300, 1200, 300, _image=image)
    template = _one_field("children", "Children", "integer")
    second = _Second("9")
    found = fields.extract_fields(template, page, _Reads(misread), second=second)  # type: ignore[arg-type]
    assert found["children"].value == (9 if misread == "q" else 6)
    assert [r.text for r in found["children"].readings] == [misread, "9"]
    assert found["children"].confidence < template.review.min_confidence
    # What the field can hold, read surely, is not read twice.
    second.crops = 0
    found = fields.extract_fields(template, page, _Reads("9"), second=second)  # type: ignore[arg-type]
    assert found["children"].value == 9
    assert second.crops == 0


def test_figures_tesseract_read_as_letters_count_towards_a_handwritten_page() -> None:
    """Lone figures are too short to tell print from hand, and Tesseract, sure, read each
    9 as a G (a 6, taken as a figure). Read again by the second engine before the page is
    judged, they make it a handwritten page, where the second engine's 9s are taken."""
    image = np.full((900, 1200), 255, np.uint8)
    labels = []
    for row, name in enumerate(("Children", "Adults", "Rooms")):
        y = 150 + 250 * row
        cv2.putText(image, "9", (700, y + 50), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 0, 3)
        labels.append(word(name, 100 / 1200, 400 / 1200, y / 900, (y + 50) / 900))
    page = ReadPage(1, WordSource.OCR, labels, 300, 1200, 900, _image=image)
    template = FormTemplate.model_validate({
        "form_type": "t", "title": "T",
        "fields": [
            {"name": n.lower(), "label": n, "type": "integer"}
            for n in ("Children", "Adults", "Rooms")
        ],
    })  # fmt: skip
    found = fields.extract_fields(template, page, _Reads("G"), second=_Second("9"))  # type: ignore[arg-type]
    assert {name: f.value for name, f in found.items()} == {"children": 9, "adults": 9, "rooms": 9}
    assert all(f.confidence < template.review.min_confidence for f in found.values())


def test_on_a_page_half_of_whose_values_look_handwritten_each_is_read_by_both_engines() -> None:
    """Three values in a wandering hand and three that pass for print, as a neat hand's
    capitals did on a 1-bit scan: the page is in doubt. Read as typed, what Tesseract
    alone read surely ("LY NN" for LYNN) is read by the second engine too, and where the
    two differ a person looks."""
    names = ("First", "Second", "Third", "Fourth", "Fifth", "Sixth")
    image = np.full((1500, 1200), 255, np.uint8)
    labels = []
    for row, name in enumerate(names):
        y = 100 + 230 * row
        if row < 3:  # each letter on its own baseline, at its own size
            for n, (letter, lift, size) in enumerate(
                zip("LYNN", (0, 9, -6, 12), (1.5, 1.8, 1.4, 1.7), strict=True)
            ):
                at = (700 + 45 * n, y + 60 + lift)
                cv2.putText(image, letter, at, cv2.FONT_HERSHEY_SIMPLEX, size, 0, 3)
        else:
            cv2.putText(image, "LYNN", (700, y + 60), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 0, 3)
        labels.append(word(name, 100 / 1200, 400 / 1200, y / 1500, (y + 60) / 1500))
    page = ReadPage(1, WordSource.OCR, labels, 300, 1200, 1500, _image=image)
    template = FormTemplate.model_validate({
        "form_type": "t", "title": "T",
        "fields": [{"name": n.lower(), "label": n, "type": "name"} for n in names],
    })  # fmt: skip
    found = fields.extract_fields(template, page, _Reads("LY NN"), second=_Second("LYNN"))  # type: ignore[arg-type]
    assert [len(f.readings) for f in found.values()] == [2] * 6
    assert all(f.confidence < template.review.min_confidence for f in found.values())


def test_a_label_s_value_is_the_next_cell_of_its_row_however_tall() -> None:
    """Post town | LEEDS | Date you moved / to this / address | ...: the label of three
    lines in the row makes every cell of it more than six times as tall as "Post town".
    The next cell was taken for a section's frame, the value looked for in the rest of
    the label's own cell, and read as empty, surely. A box that tall beside a label in
    no cell of that row is still a frame."""
    town = FieldSpec(name="town", label="Post town", type="text", position="right")
    label: BBox = (0.0944, 0.3797, 0.1839, 0.3871)
    row = [(0.0879, 0.2512), (0.2532, 0.4992), (0.5012, 0.6645), (0.6665, 0.9125)]
    cells = [PageBox((x0, 0.3572, x1, 0.4076), BoxKind.VALUE) for x0, x1 in row]
    others: list[BBox] = [(0.5073, 0.3637, 0.6472, 0.4014)]
    assert value_area(town, label, others, cells).box == cells[1]
    assert value_area(town, label, others, cells[1:]).box is None


def test_a_wrapped_label_beside_a_taller_value_is_found() -> None:
    """Line grouping can take a label's second line into its first when a taller value
    beside them spans both; the label is still found, row by row."""

    words = [
        word("Total", 0.507, 0.54, 0.551, 0.559),
        word("savings", 0.545, 0.596, 0.551, 0.562),
        word("and", 0.601, 0.625, 0.551, 0.559),
        word("£5,276.68", 0.681, 0.77, 0.553, 0.568),
        word("investments", 0.508, 0.587, 0.56, 0.575),
    ]
    assert label_found("Total savings and investments", words) == [
        "Total",
        "savings",
        "and",
        "investments",
    ]


def test_a_wrapped_label_s_first_line_is_not_run_on_into_the_value_beside_it() -> None:
    """In a grid cell, "Monthly Council" wraps onto "Tax", and the value in the next
    cell stands close enough to "Council" to be read as one phrase with it. The label is
    its own words: taking the value in would put the value's box inside the label's,
    and the field would be read as empty, surely."""

    words = [
        word("Monthly", 0.509, 0.583, 0.665, 0.678),
        word("Council", 0.591, 0.66, 0.665, 0.676),
        word("ULI", 0.681, 0.756, 0.667, 0.68),  # "212.16", handwritten
        word("Tax", 0.506, 0.541, 0.684, 0.695),
    ]
    assert label_found("Monthly Council Tax", words) == ["Monthly", "Council", "Tax"]


def test_a_label_does_not_take_the_first_word_of_the_line_above() -> None:
    """[✓] I get Universal Credit / [ ] I agree to be contacted, "I agree" read as
    "Lagree": the ticked box and the "I" above, the head of their line, were read as the
    first line of a wrapped label, and the label's row took in the box above, whose tick
    was read as the answer. A line's head is a wrapped label's first line only where the
    rest of its line stands apart from it, as a value in the next cell does."""

    words = [
        word("[A", 0.0782, 0.1028, 0.793, 0.8099),  # the ticked box
        word("I", 0.1129, 0.1177, 0.7976, 0.8062),
        word("get", 0.1242, 0.1492, 0.7979, 0.8082),
        word("Universal", 0.1556, 0.2315, 0.797, 0.8062),
        word("Credit", 0.2383, 0.2887, 0.797, 0.8062),
        word("|]", 0.0782, 0.0992, 0.8193, 0.8347),
        word("Lagree", 0.1129, 0.1685, 0.8221, 0.8335),
        word("to", 0.1754, 0.1899, 0.8233, 0.8312),
        word("be", 0.196, 0.2145, 0.8221, 0.8312),
        word("contacted", 0.2214, 0.3, 0.8221, 0.8312),
    ]
    assert label_found("I agree to be contacted", words) == ["Lagree", "to", "be", "contacted"]


def test_a_wrapped_label_run_on_into_a_tall_value_is_found() -> None:
    """ "Date you moved to" / "this address", a date written large beside it: the
    value's words join the label's first line as one phrase, and reach below the top of
    its second line, so the phrase as a whole had no line under it and the label was not
    found. The first line's head, placed by its own words, continues on the next."""

    words = [
        word("Date", 0.07, 0.103, 0.35, 0.359),
        word("you", 0.108, 0.134, 0.353, 0.361),
        word("moved", 0.139, 0.186, 0.35, 0.359),
        word("to", 0.191, 0.204, 0.351, 0.359),
        word("ZU", 0.246, 0.296, 0.346, 0.369),  # "26/03/2025", handwritten
        word("J", 0.299, 0.322, 0.345, 0.372),
        word("‘@)", 0.323, 0.354, 0.347, 0.375),
        word("3", 0.359, 0.38, 0.346, 0.372),
        word("ZS", 0.38, 0.41, 0.344, 0.373),
        word("Z", 0.409, 0.427, 0.346, 0.368),
        word("O", 0.432, 0.458, 0.348, 0.369),
        word("Z", 0.465, 0.486, 0.344, 0.368),
        word("this", 0.07, 0.095, 0.365, 0.375),
        word("address", 0.1, 0.152, 0.365, 0.375),
    ]
    assert label_found("Date you moved to this address", words) == [
        "Date",
        "you",
        "moved",
        "to",
        "this",
        "address",
    ]


def test_a_wrapped_label_whose_first_line_the_value_before_it_runs_into_is_found() -> None:
    """ "Years at this" / "address" in the grid cell after a date written up to the
    cell's wall: the date's last figures stand as close to "Years" as a word's neighbour,
    and the line was one phrase, "12 Feb 2025 Years at this". Its first words continued
    on the next line, but "address" lies under "Years", not under "12", and the label was
    not found (design 4000006's words). A line's tail that stands apart from what comes
    before it is a first line too: here the tail of the phrase run on from the cell
    before ("in to the address 12 Feb 2025 Years at this"), whose small print is the
    measure of apart."""

    words = [
        word("Date", 0.086, 0.123, 0.307, 0.316),  # the cell before: "Date you moved /
        word("you", 0.129, 0.158, 0.309, 0.319),  # in to the address / given above"
        word("moved", 0.165, 0.219, 0.307, 0.316),
        word("in", 0.086, 0.098, 0.323, 0.332),
        word("to", 0.105, 0.119, 0.324, 0.333),
        word("the", 0.125, 0.15, 0.323, 0.333),
        word("address", 0.156, 0.221, 0.323, 0.333),
        word("given", 0.085, 0.128, 0.339, 0.351),
        word("above", 0.135, 0.184, 0.339, 0.349),
        word("12", 0.258, 0.289, 0.315, 0.333),  # "12 FEB 2025", handwritten
        word("Feb", 0.315, 0.373, 0.314, 0.334),
        word("2025", 0.396, 0.494, 0.314, 0.334),
        word("Years", 0.507, 0.555, 0.314, 0.324),
        word("at", 0.56, 0.575, 0.315, 0.324),
        word("this", 0.581, 0.609, 0.314, 0.324),
        word("address", 0.507, 0.572, 0.331, 0.341),
    ]
    assert label_found("Years at this address", words) == ["Years", "at", "this", "address"]


def test_a_label_in_a_typewriter_face_is_found_across_its_wide_spaces() -> None:
    """A typewriter face's space is wider than a phrase allows: "Email" and "(if you
    have one)" were two phrases, and only the second was found (with the e-mail's first
    letters read as the rest of the label's, as "emailshirley..."). Design 3400017's
    words, the e-mail written below them in the box."""
    words = [
        word("Email", 0.085, 0.115, 0.443, 0.448),
        word("(if", 0.127, 0.142, 0.444, 0.448),
        word("you", 0.151, 0.169, 0.445, 0.449),
        word("have", 0.177, 0.202, 0.444, 0.448),
        word("one)", 0.21, 0.233, 0.445, 0.449),
        word("shicleywilson@btintecnet,", 0.087, 0.335, 0.448, 0.477),
    ]
    found = label_found("Email (if you have one)", words)
    assert found == ["Email", "(if", "you", "have", "one)"]


def test_a_label_line_broken_by_small_print_beside_it_is_found() -> None:
    """Small print over a date's boxes (DD, MM, read as "ma" too) stands a little
    higher than the label beside it, and made a line of its own that drew in some of
    the label's words: the label's line came apart in four phrases, and "Date you moved
    in to the address given above" was not found. Design 3400026's words."""
    words = [
        word("Date", 0.069, 0.108, 0.295, 0.304),
        word("you", 0.114, 0.144, 0.297, 0.306),
        word("moved", 0.151, 0.206, 0.294, 0.304),
        word("in", 0.212, 0.227, 0.295, 0.304),
        word("to", 0.233, 0.249, 0.295, 0.304),
        word("the", 0.256, 0.282, 0.294, 0.304),
        word("address", 0.288, 0.354, 0.294, 0.304),
        word("DD", 0.382, 0.397, 0.292, 0.297),
        word("MM", 0.453, 0.472, 0.292, 0.297),
        word("ma", 0.523, 0.547, 0.292, 0.297),
        word("given", 0.069, 0.113, 0.31, 0.321),
        word("above", 0.122, 0.17, 0.309, 0.319),
    ]
    label = "Date you moved in to the address given above"
    assert label_found(label, words) == label.split()


def test_a_label_is_not_run_on_into_the_value_beside_it() -> None:
    """ "Surname or family" / "name" in a grid cell, the last word read as "lame", and
    the surname written in the next cell on the first line's row: run on across the
    gap, "Surname or family STONE" read a little nearer the label than the label's own
    words, and took the value in. A label found only across such a gap must read well.
    Design 3600003's words."""
    words = [
        word("ALEXAN", 0.266, 0.424, 0.187, 0.204),
        word("D", 0.432, 0.453, 0.187, 0.205),
        word("R", 0.462, 0.48, 0.189, 0.203),
        word("As", 0.49, 0.519, 0.182, 0.22),
        word("Surname", 0.509, 0.571, 0.19, 0.198),
        word("or", 0.576, 0.59, 0.192, 0.198),
        word("family", 0.594, 0.636, 0.19, 0.2),
        word("STONE", 0.676, 0.778, 0.193, 0.206),
        word("lame", 0.509, 0.546, 0.206, 0.212),
    ]
    assert "STONE" not in label_found("Surname or family name", words)


def test_a_label_s_number_read_as_a_letter_is_not_taken_for_the_next_label_s() -> None:
    """ "Address line 1" read as "Address linel", the 1 run into the word, with "Address
    line 2" printed under it: "Address line" of the second label read nearer the first
    label than "Address linel" did, so the two fields took each other's rows, and the
    printed 2 was read as the first line's value, surely. A 1 and an l read alike on
    both sides. Design 3500016's words."""
    words = [
        word("Address", 0.081, 0.151, 0.384, 0.394),
        word("linel", 0.16, 0.205, 0.38, 0.402),
        word("|", 0.223, 0.236, 0.38, 0.402),
        word("FLAT", 0.236, 0.318, 0.382, 0.396),
        word("Address", 0.081, 0.152, 0.413, 0.422),
        word("line", 0.16, 0.19, 0.413, 0.422),
        word("2", 0.197, 0.205, 0.413, 0.422),
    ]
    specs = [
        FieldSpec.model_validate(
            {"name": f"line_{n}", "label": f"Address line {n}", "type": "text"}
        )
        for n in (1, 2)
    ]
    found = fields.find_labels(specs, words, aspect=1.414)
    assert [w.text for w in found["line_1"].words] == ["Address", "linel"]
    assert [w.text for w in found["line_2"].words] == ["Address", "line", "2"]


def test_a_speck_read_inside_a_label_does_not_split_it() -> None:
    """A speck read as ":" inside "Given" made a line of its own that the words
    beside it, far taller, joined without stretching, so "names" fell on another line;
    and the phrase ended at the speck, the gap to "names" measured from it. The label
    was not found."""
    words = [
        word("KEI2Z2H", 0.264, 0.352, 0.205, 0.218),  # the NI number before it
        word("Given", 0.507, 0.552, 0.205, 0.215),
        word(":", 0.521, 0.523, 0.206, 0.207),
        word("names", 0.558, 0.61, 0.208, 0.215),
        word("CAYIN", 0.677, 0.76, 0.202, 0.216),
    ]
    assert label_found("Given names", words) == ["Given", ":", "names"]


def test_a_label_read_with_letters_run_together_is_found() -> None:
    """OCR reads "rn" as "m": "Sumame" is "Surname"."""
    words = [word("Sumame", 0.083, 0.152, 0.19, 0.198), word("CARTER", 0.177, 0.279, 0.188, 0.203)]
    assert label_found("Surname", words) == ["Sumame"]


# --- e-mails and other values ----------------------------------------------------------


def test_an_email_whose_readings_disagree_is_flagged() -> None:
    result = judged("email", "john.ali4@yahoo.co.uk", "john.ali4d@yahoo.co.uk")
    assert result.valid
    assert result.confidence < MIN_CONFIDENCE


def test_an_email_whose_readings_agree_passes() -> None:
    result = judged("email", "Ronald.Bell@icloud.com", "ronald.bell@icloud.com")
    assert result.value == "ronald.bell@icloud.com"
    assert result.confidence >= MIN_CONFIDENCE


@pytest.mark.parametrize("address", ["declan.waltonl1@gmail.com", "jo.o0@example.org"])
def test_an_email_with_a_letter_beside_its_lookalike_digit_is_flagged(address: str) -> None:
    result = judged("email", address, address)
    assert result.valid
    assert result.confidence < MIN_CONFIDENCE


def test_marks_alone_are_not_a_value() -> None:
    result = judged("money", "|", "|")
    assert result.value is None
    assert result.error == "ink found but not read"
    assert result.confidence < MIN_CONFIDENCE


@pytest.mark.parametrize(
    ("text", "sure"), [("81 PARK WAY, SHEFFIELD", True), ("8] PARK WAY, SHEFFIELD", False)]
)
def test_odd_characters_in_free_text_are_doubtful(text: str, sure: bool) -> None:
    result = judged("text", text, text)
    assert result.valid
    assert (result.confidence >= MIN_CONFIDENCE) is sure


@pytest.mark.parametrize(
    ("name", "sure"),
    [("Diana Iain", True), ("Diana lain", False), ("Sam lvy Cole", False),
     ("Jean le Brun", True), ("lain", True), ("LISA", True)],
)  # fmt: skip
def test_a_capital_i_read_as_a_small_l_in_a_name_is_doubtful(name: str, sure: bool) -> None:
    """Both engines read Iain as lain in a neat hand nobody tuned on, and were sure."""
    result = judged("name", name, name, confidence=0.99)
    assert result.valid
    assert (result.confidence >= MIN_CONFIDENCE) is sure


@pytest.mark.parametrize(
    ("kind", "read", "meant"),
    [("name", "MuRRay", "Murray"), ("name", "MaRtyn DOROthy", "Martyn Dorothy"),
     ("text", "189 Church CRescent", "189 Church Crescent"), ("name", "SMiTH", "SMiTH"),
     ("name", "JOsEPH", "JOSEPH"), ("name", "McKay", "McKay"),
     ("name", "MacDonald", "MacDonald"), ("text", "Newcastle upon Tyne", "Newcastle upon Tyne"),
     ("text", "PhD student", "PhD student")],
)  # fmt: skip
def test_a_handwritten_words_case_is_read_as_one(kind: str, read: str, meant: str) -> None:
    """In a hand whose r is a small R, the engines read "Murray" as "MuRRay": a word's
    letters whose case only their size tells take the case of the rest of the word. Mc
    and Mac names, and a mix those letters do not explain, stay as read; print too."""
    reading = ValueReading(read, 0.99, NO_BOX, engine="fake", handwritten=True)
    assert fields._judge(spec(kind), reading, 1).value == meant
    # A value that looks printed on a handwritten page is handwriting too.
    printed = ValueReading(read, 0.99, NO_BOX, engine="fake")
    assert fields._judge(spec(kind), printed, 1, handwritten_page=True).value == meant
    assert fields._judge(spec(kind), printed, 1).value == read


def test_emails_are_read_a_third_time() -> None:
    calls: list[tuple[int, int]] = []

    class Engine:
        name = "fake"

        def read(self, image: Any, *, dpi: int, mode: Any = None) -> list[Any]:
            calls.append(image.shape)
            return []

    image = np.full((100, 600), 255, np.uint8)
    cv2.putText(image, "a.b@c.uk", (20, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 0, 3)
    page = ReadPage(1, WordSource.OCR, [], 300, 600, 100, _image=image)
    fields.read_crop(page, (0, 0, 1, 1), Engine(), multiline=False)  # type: ignore[arg-type]
    assert len(calls) == 2
    fields.read_crop(page, (0, 0, 1, 1), Engine(), multiline=False, thorough=True)  # type: ignore[arg-type]
    assert len(calls) == 5
    assert calls[-1][1] < calls[-2][1]  # the third reading is of a smaller copy


# --- photos ----------------------------------------------------------------------------


def test_a_page_with_a_corner_in_shadow_keeps_four_corners() -> None:
    # A page outline whose top-left corner was cut off by the brightness threshold.
    outline = np.array([[635, 78], [674, 909], [112, 855], [61, 144], [118, 80]], np.int32)
    corners = preprocess.page_corners(outline.reshape(-1, 1, 2))
    assert corners is not None
    assert len(corners) == 4
    restored = min(corners, key=lambda p: float(p[0] + p[1]))
    assert restored == pytest.approx((56.4, 80.2), abs=1.0)


# --- recognising the form --------------------------------------------------------------


def _label_words(labels: list[str]) -> list[Word]:
    words = []
    for row, label in enumerate(labels):
        x = 0.08
        for text in label.split():
            width = 0.012 * len(text)
            words.append(
                Word(text=text, confidence=0.9, bbox=(x, 0.03 * row, x + width, 0.03 * row + 0.01))
            )
            x += width + 0.008
    return words


def test_a_form_whose_title_was_lost_is_recognised_by_its_labels() -> None:
    templates = load_templates()
    register = templates["register-to-vote"]
    labels = [s.label for s in register.fields if s.label]
    # No title, no match phrase: only the labels survived (one of them misread).
    labels[0] = labels[0][:-1] + "x"
    assert identify_form(_label_words(labels), templates).form_type == "register-to-vote"


def test_labels_that_several_forms_share_recognise_none() -> None:
    shared = ["Surname", "Date of birth", "National Insurance number", "Postcode", "Date signed"]
    with pytest.raises(UnknownFormError):
        identify_form(_label_words(shared), load_templates())


def test_typed_text_never_looks_like_a_misreading() -> None:
    reading = ValueReading("paul1@example.org", 1.0, NO_BOX, typed=True)
    assert fields._judge(spec("email"), reading, 1).confidence == 1.0


def _options_page(first_row_boxes: tuple[bool, bool]) -> tuple[ReadPage, list[layout.LabelMatch]]:
    """Two questions on close rows, each with Yes and No and a box after each; the second
    question's No ticked. On the first row a box drawn (True) or lost under a scribble
    (False: its walls no longer make a box)."""
    width, height = 1400, 400
    image = np.full((height, width), 255, np.uint8)
    words: list[Word] = []
    labels = []

    def word(text: str, x0: int, top: int, x1: int) -> Word:
        cv2.putText(image, text, (x0, top + 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 3)
        found = Word(
            text=text,
            confidence=0.95,
            bbox=(x0 / width, top / height, x1 / width, (top + 45) / height),
        )
        words.append(found)
        return found

    for row, top in enumerate((100, 190)):
        labels.append(layout.LabelMatch((word("Question", 60, top, 260),), 100.0))
        for (text, x0, x1), drawn in zip(
            (("Yes", 500, 570), ("No", 700, 750)),
            first_row_boxes if row == 0 else (True, True),
            strict=True,
        ):
            word(text, x0, top, x1)
            box = (x1 + 20, top, x1 + 75, top + 55)
            if drawn:
                cv2.rectangle(image, box[:2], box[2:], 0, 3)
            else:
                cv2.rectangle(image, (box[0] - 4, box[1] - 4), (box[2] + 4, box[3] + 4), 0, -1)
            if row == 1 and text == "No":
                cv2.line(image, (box[0] + 5, box[1] + 5), (box[2] - 5, box[3] - 5), 0, 5)
                cv2.line(image, (box[2] - 5, box[1] + 5), (box[0] + 5, box[3] - 5), 0, 5)
    page = ReadPage(1, WordSource.OCR, words, 300, width, height, _image=image)
    return page, labels


def test_a_question_whose_option_box_is_lost_does_not_take_the_next_row_s_answer() -> None:
    page, labels = _options_page((True, False))
    reader = ticks.TickReader(page, [PageBox.of(b, 1400, 400) for b in page.boxes()])
    choice = FieldSpec(name="q", label="Question", type="choice", choices=["Yes", "No"])
    first = reader.choice(choice, labels[0])
    assert first is not None
    assert first.value is None
    assert first.confidence <= ticks.DOUBTFUL
    second = reader.choice(choice, labels[1])
    assert second is not None
    assert second.value == "No"
    assert second.confidence >= MIN_CONFIDENCE


def test_a_choice_missing_an_option_s_box_is_doubtful() -> None:
    page, labels = _options_page((True, True))
    reader = ticks.TickReader(page, [PageBox.of(b, 1400, 400) for b in page.boxes()])
    three = FieldSpec(name="q", label="Question", type="choice", choices=["Yes", "No", "Maybe"])
    field = reader.choice(three, labels[0])
    assert field is not None
    assert field.value is None
    assert field.confidence <= ticks.DOUBTFUL


def test_lines_running_into_the_crop_s_edge_go_and_a_tall_letter_stays() -> None:
    crop = np.full((100, 400), 255, np.uint8)
    cv2.line(crop, (5, 0), (5, 99), 0, 3)  # a box's wall: from edge to edge
    cv2.line(crop, (200, 12), (200, 88), 0, 5)  # a capital I written large
    cleaned = preprocess.remove_lines(crop)
    assert cleaned[:, :10].min() == 255
    assert cleaned[40:60, 195:205].min() < 100


def test_in_a_box_only_a_line_from_edge_to_edge_is_a_wall() -> None:
    """Inside a box, letters written large reach its top or its foot with their stems and
    tails (an h, a g): only a wall runs from one edge to the other. Out of a box, a line
    that runs into either edge may be a wall whose corner lies in the crop."""
    crop = np.full((100, 400), 255, np.uint8)
    cv2.line(crop, (5, 0), (5, 99), 0, 3)  # the wall writing ran on past
    cv2.line(crop, (200, 15), (200, 99), 0, 5)  # a g's tail, down to the box's foot
    boxed = preprocess.remove_lines(crop, boxed=True)
    assert boxed[:, :10].min() == 255
    assert boxed[40:60, 195:205].min() < 100
    assert preprocess.remove_lines(crop)[40:60, 195:205].min() == 255


def test_a_stroke_written_across_a_wall_keeps_its_ink_where_it_crosses() -> None:
    """A value run on past its box's wall crosses it: the wall goes, but not the
    stretch of it the letter's stroke runs through, or the letter is cut in two (a 9
    read as a 0). So with a descender across a rule. In print the wall goes whole, as
    before: what meets it on both sides there is more often a shaded cell."""
    crop = np.full((100, 400), 255, np.uint8)
    cv2.line(crop, (300, 0), (300, 99), 0, 3)  # the wall
    cv2.line(crop, (270, 50), (330, 58), 0, 6)  # a stroke across it
    cv2.line(crop, (0, 90), (399, 90), 0, 3)  # a rule
    cv2.line(crop, (100, 60), (104, 99), 0, 6)  # a g's tail across it
    for boxed in (False, True):
        cleaned = preprocess.remove_lines(crop, boxed=boxed, handwritten=True)
        assert cleaned[:40, 295:306].min() == 255  # the wall goes
        assert cleaned[60:85, 295:306].min() == 255
        assert cleaned[50:58, 295:306].min(axis=0).max() < 100  # the stroke stays whole
        assert cleaned[85:96, 160:400].min() == 255  # the rule goes
        assert cleaned[86:95, 97:108].min(axis=1).max() < 100  # the tail stays whole
    assert preprocess.remove_lines(crop)[:, 299:302].min() == 255


def test_a_pen_stroke_that_runs_into_a_wall_keeps_its_edge() -> None:
    """A written stroke that lies against a wall, or over its edge, loses the wall but not
    its own edge beside it (a 2's foot read as a 1's once cut back); in print, what lies
    against a wall is as often a shaded cell, and its wall goes whole."""
    crop = np.full((80, 300), 255, np.uint8)
    cv2.line(crop, (100, 0), (100, 79), 0, 1)  # the wall
    crop[30:50, 100:116] = 0  # a stroke from the wall's line on to the right
    crop[30:50, 150:166] = 0  # others of the same pen
    crop[30:50, 200:216] = 0
    written = preprocess.remove_lines(crop, boxed=True, handwritten=True)
    assert written[:25, 98:103].min() == 255  # the wall goes
    assert written[32:48, 101].max() < 100  # the stroke's edge stays
    printed = preprocess.remove_lines(crop, boxed=True)
    assert printed[32:48, 101].min() == 255


def test_a_stroke_that_may_strike_a_letter_out_is_doubted_on_a_handwritten_page() -> None:
    spec = FieldSpec(name="surname", label="Surname", type="name")
    sure = ValueReading("BUKS", 0.99, (0, 0, 1, 1), engine="fake", struck_maybe=True)
    judged = fields._judge(spec, sure, 1, handwritten_page=True)
    assert judged.confidence <= ticks.DOUBTFUL
    assert judged.doubts == ["maybe_struck_out"]
    # A typed page's print, photographed, holds strokes like that: it is read as print.
    typed = fields._judge(spec, sure, 1)
    assert typed.confidence >= 0.9
    assert typed.doubts == []


def test_a_doubt_is_named_to_the_person_who_checks_the_field() -> None:
    """A field sent to a person though its letters were read surely says why, in the
    review reason: the low confidence alone would send them looking for a misreading."""
    template = _one_field("surname", "Surname", "text")
    (spec,) = template.fields
    reading = ValueReading("BUS", 0.99, (0, 0, 1, 1), engine="fake", struck=True, past_wall=True)
    judged = fields._judge(spec, reading, 1)
    assert judged.doubts == ["written_past_box", "letter_struck_out"]
    (reason,) = fields.review_reasons(template, {"surname": judged})
    assert reason.code == "low_confidence"
    assert DOUBTS["written_past_box"] in reason.detail
    assert DOUBTS["letter_struck_out"] in reason.detail
    sure = fields._judge(spec, ValueReading("BUS", 0.99, (0, 0, 1, 1), engine="fake"), 1)
    assert sure.doubts == []
    assert fields.review_reasons(template, {"surname": sure}) == []


def test_a_tick_box_scribbled_over_is_crossed_out_and_flagged() -> None:
    """The applicant ticked, then scribbled the tick out: the walls are lost under the
    ink, so no box is found, but the blot beside the label is no tick."""
    image = np.full((300, 1200), 255, np.uint8)
    cv2.putText(image, "Contact me", (100, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 3)
    rng = np.random.default_rng(3)
    for _ in range(40):  # a zigzag of strokes over where the box was
        x0, y0 = rng.integers(400, 455), rng.integers(95, 150)
        x1, y1 = rng.integers(400, 455), rng.integers(95, 150)
        cv2.line(image, (int(x0), int(y0)), (int(x1), int(y1)), 0, 4)
    label_word = Word(text="Contact me", confidence=0.9, bbox=(100 / 1200, 0.34, 330 / 1200, 0.47))
    page = ReadPage(1, WordSource.OCR, [label_word], 300, 1200, 300, _image=image)
    reader = ticks.TickReader(page, [PageBox.of(b, 1200, 300) for b in page.boxes()])
    assert reader.ticks == []
    result = reader.checkbox(spec("checkbox"), layout.LabelMatch((label_word,), 100.0))
    assert result.value is False
    assert result.error == "crossed out"
    assert result.confidence <= ticks.DOUBTFUL
    # The same row with nothing beside the label: no box, and nothing made up.
    blank = np.full((300, 1200), 255, np.uint8)
    cv2.putText(blank, "Contact me", (100, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 3)
    page = ReadPage(1, WordSource.OCR, [label_word], 300, 1200, 300, _image=blank)
    reader = ticks.TickReader(page, [])
    result = reader.checkbox(spec("checkbox"), layout.LabelMatch((label_word,), 100.0))
    assert result.error == "no tick box found"


class _Reads:
    """An engine that reads one text, surely, in every crop."""

    name = "fake"

    def __init__(self, text: str) -> None:
        self.text = text

    def read(self, image: Any, *, dpi: int, mode: Any = None) -> list[OcrWord]:
        return [OcrWord(self.text, 0.995, (0, 0, 10, 10), 0.995)]


class _WidthOfCrop:
    """An engine that reads nothing and notes how wide each crop it was given is."""

    name = "fake"

    def __init__(self) -> None:
        self.widths: list[int] = []

    def read(self, image: Any, *, dpi: int, mode: Any = None) -> list[Any]:
        self.widths.append(image.shape[1])
        return []


def _box_written_past(neighbour: str) -> tuple[ReadPage, fields.ValueArea]:
    """A box (inside 100-500 by 80-160 pixels, at 300 dpi) with writing that runs on
    200 pixels past its right wall; ``neighbour`` is what stands right of it: nothing,
    ``wall`` (a next box's wall right after, and writing that fits) or ``label`` (a
    next field's label)."""
    image = np.full((240, 1200), 255, np.uint8)
    cv2.rectangle(image, (98, 78), (501, 161), 0, 2)
    text = "WRITTEN" if neighbour == "wall" else "WRITTEN TOO LARGE"
    cv2.putText(image, text, (120, 140), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 0, 4)
    if neighbour == "wall":
        cv2.rectangle(image, (512, 78), (900, 161), 0, 2)
    box = PageBox.of(Box((100, 80, 500, 160), BoxKind.VALUE), 1200, 240)
    run_on = 600 / 1200 if neighbour == "label" else 1.0
    page = ReadPage(1, WordSource.OCR, [], 300, 1200, 240, _image=image)
    return page, fields.ValueArea(box.bbox, box, run_on=run_on)


def test_writing_run_on_past_a_boxs_wall_is_read_with_the_box_and_flagged() -> None:
    page, area = _box_written_past("nothing")
    engine = _WidthOfCrop()
    reading = fields.read_crop(page, area, engine, multiline=False)  # type: ignore[arg-type]
    assert reading.past_wall
    assert engine.widths[0] > 400 + 150  # the run-on letters are in what was read
    spec = FieldSpec(name="surname", label="Surname", type="name")
    sure = ValueReading("WRITTEN TOO LARGE", 0.99, area.region, engine="fake")
    assert fields._judge(spec, sure, 1).confidence >= 0.9
    judged = fields._judge(spec, replace(sure, past_wall=True), 1)
    assert judged.confidence <= ticks.DOUBTFUL


def test_the_wall_of_the_next_box_is_not_writing_past_the_wall() -> None:
    page, area = _box_written_past("wall")
    reading = fields.read_crop(page, area, _WidthOfCrop(), multiline=False)  # type: ignore[arg-type]
    assert not reading.past_wall


def test_writing_run_on_is_followed_no_further_than_the_next_label() -> None:
    page, area = _box_written_past("label")
    engine = _WidthOfCrop()
    reading = fields.read_crop(page, area, engine, multiline=False)  # type: ignore[arg-type]
    assert reading.past_wall
    assert engine.widths[0] < 600 - 100 + 2 * 30  # up to the label, with the margins


def test_a_caption_on_grey_paper_is_covered_with_the_paper_not_white() -> None:
    """A box on a form scanned grey (buff paper, or a scanner's grey), its caption
    ("Children under 16") printed in its corner and a lone 1 written in it: the caption
    is covered before the value is read. Covered with white, the patch was the palest
    thing in the crop and the paper round it passed for ink: here nothing was read, and
    on design 4000020 (paper at 237 of 255) the patch's edge was taken for a strike and
    cut out with the 1 ("ink found but not read"). Covered with the paper's own grey, the
    1 is read."""
    image = np.full((300, 1200), 200, np.uint8)
    cv2.rectangle(image, (98, 58), (701, 261), 60, 2)
    cv2.putText(image, "Children under 16", (110, 90), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 40, 2)
    cv2.line(image, (140, 150), (132, 215), 40, 4, cv2.LINE_AA)
    box = PageBox.of(Box((100, 60, 700, 260), BoxKind.VALUE), 1200, 300)
    caption = (105 / 1200, 65 / 300, 345 / 1200, 98 / 300)
    page = ReadPage(1, WordSource.OCR, [], 300, 1200, 300, _image=image)
    reading = fields.read_crop(
        page,
        fields.ValueArea(box.bbox, box, hide=(caption,)),
        engine_for("tesserocr"),
        multiline=False,
        second=engine_for("rapidocr"),
        handwritten_page=True,
    )
    assert reading.saw_ink
    assert reading.second_text == "1", reading

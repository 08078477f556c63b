"""What is in a tick box: a tick, a cross, nothing, or a mark taken back.

The pen of the handwritten specimens draws every kind: ticks and crosses of varying
shape, and ticks scribbled over, struck through with parallel lines or blotted out. The
pages here are drawn by it on seeds the bounds were not set on, scanned in grey and in
1 bit, and read box by box where ``find_boxes`` found the box; a mark taken back whose
walls were lost goes by ``TickReader``'s blot rule instead (``test_doubt.py``).
"""

from __future__ import annotations

import io
import random
from collections import Counter
from typing import Any

import cv2
import numpy as np
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from config.form_template import FieldSpec
from domain.forms import ExtractedField, Word, WordSource
from ocr import layout, ticks
from ocr.boxes import BoxKind, find_boxes
from ocr.engines import GrayImage
from ocr.reading import ReadPage
from ocr.regions import PageBox
from ocr.ticks import MarkKind
from switchover.specimens._degradation import scan
from switchover.specimens._handwriting import HandPen, TickBox
from switchover.specimens._rendering import rasterise

MIN_CONFIDENCE = 0.80  # the bundled templates' review bar
SIDE = 12.0  # points, as on the random designs
DPI = 300


def _drawn_page(seed: int, one_bit: bool) -> tuple[GrayImage, list[tuple[float, float, str]]]:
    """A page of tick boxes in one applicant's hand: each ticked, crossed, left empty or
    (now and then, as the pen does on forms) ticked and taken back. Returns the scan and
    each box's top-left corner in points with what was drawn in it."""
    pen = HandPen.for_seed(f"marks:{seed}")
    chooser = random.Random(seed)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    drawn: list[tuple[float, float, str]] = []
    for row in range(20):
        for column in range(10):
            x, top = 60 + column * 45, 60 + row * 36
            canvas.setStrokeGray(0.35)
            canvas.setLineWidth(0.7)
            canvas.rect(x, A4[1] - top - SIDE, SIDE, SIDE, stroke=1, fill=0)
            name = f"box{row}.{column}"
            mark = chooser.choice(("", "", "X", "✓"))
            pen.mark(canvas, TickBox(x, top, SIDE, name), mark)
            taken_back = any(entry["field"] == name for entry in pen.crossed_out)
            drawn.append((x, top, "crossed out" if taken_back else mark or "empty"))
    canvas.save()
    image, _ = scan(rasterise(out.getvalue(), dpi=DPI)[0], np.random.default_rng(seed), max_skew=0)
    grey = np.asarray(image.convert("L"), np.uint8)
    if one_bit:
        grey = np.asarray(
            cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1], np.uint8
        )
    return grey, drawn


@pytest.mark.parametrize("one_bit", [False, True], ids=["grey", "1-bit"])
def test_pen_drawn_marks_are_told_apart_and_none_taken_back_reads_as_a_sure_tick(
    one_bit: bool,
) -> None:
    read: dict[str, Counter[str]] = {}
    for seed in range(7000, 7008):
        grey, drawn = _drawn_page(seed, one_bit)
        boxes = [b for b in find_boxes(grey, DPI) if b.kind is BoxKind.TICK]
        scale = DPI / 72
        for x, top, kind in drawn:
            middle = ((x + SIDE / 2) * scale, (top + SIDE / 2) * scale)
            found = [
                b for b in boxes
                if abs((b.bbox[0] + b.bbox[2]) / 2 - middle[0]) < SIDE * scale / 2
                and abs((b.bbox[1] + b.bbox[3]) / 2 - middle[1]) < SIDE * scale / 2
            ]  # fmt: skip
            if not found:
                read.setdefault(kind, Counter())["walls lost"] += 1
                continue
            mark = ticks.read_mark(grey, found[0].bbox, struck=found[0].struck)
            sure = mark.confidence >= MIN_CONFIDENCE
            read.setdefault(kind, Counter())[f"{mark.kind} {'sure' if sure else 'doubtful'}"] += 1

    crossed_out = read["crossed out"]
    assert crossed_out["crossed out doubtful"] >= 20
    assert not any(reading.endswith(" sure") for reading in crossed_out), crossed_out
    for drawn_kind, kind in (("✓", MarkKind.TICK), ("X", MarkKind.CROSS)):
        counts = read[drawn_kind]
        total = counts.total() - counts["walls lost"]
        assert counts[f"{kind} sure"] >= 0.95 * total, (drawn_kind, counts)
        assert not any(r.startswith(("empty", "crossed out")) for r in counts), counts
    assert read["empty"] == Counter({"empty sure": read["empty"].total()})


def _box_page(draw: str) -> tuple[GrayImage, list[Word]]:
    """A label, and after it a box of 60 pixels with ``draw`` in it: ``tick``, ``cross``
    or ``struck`` (a tick with three strokes through it); or ``beside`` (a tick clear
    of the box, to its right); or ``label after``: nothing, the label after the box.
    Returns the page and the label's word."""
    image = np.full((300, 1200), 255, np.uint8)
    # A label after the box is printed larger: its capitals as tall as a tick.
    label_x, size, width = (500, 1.6, 320) if draw == "label after" else (100, 1.2, 230)
    cv2.putText(image, "Contact me", (label_x, 140), cv2.FONT_HERSHEY_SIMPLEX, size, 0, 3)
    cv2.rectangle(image, (420, 90), (480, 150), 0, 2)
    if draw in ("tick", "struck", "beside"):
        shift = 80 if draw == "beside" else 0
        cv2.line(image, (430 + shift, 118), (445 + shift, 142), 0, 5)
        cv2.line(image, (445 + shift, 142), (476 + shift, 96), 0, 5)
    label = (label_x / 1200, 0.3, (label_x + width) / 1200, 0.48)
    words = [Word(text="Contact me", confidence=0.9, bbox=label)]
    if draw == "cross":
        cv2.line(image, (427, 97), (473, 143), 0, 5)
        cv2.line(image, (473, 97), (427, 143), 0, 5)
    if draw == "struck":
        for y in (106, 121, 136):
            cv2.line(image, (428, y + 3), (474, y - 3), 0, 3)
    return image, words


@pytest.mark.parametrize(
    ("draw", "value", "sure", "error"),
    [
        ("tick", True, True, None),
        ("cross", True, True, None),
        ("struck", False, False, "crossed out"),
        ("empty", False, True, None),
        ("beside", True, False, None),
        ("label after", False, True, None),
    ],
)
def test_a_checkbox_reads_a_tick_or_a_cross_as_yes_and_a_struck_tick_as_taken_back(
    draw: str, value: bool, sure: bool, error: str | None
) -> None:
    image, words = _box_page(draw)
    label = words[0]
    page = ReadPage(1, WordSource.OCR, words, 300, 1200, 300, _image=image)
    reader = ticks.TickReader(page, [PageBox.of(b, 1200, 300) for b in page.boxes()])
    assert len(reader.ticks) == 1
    spec = FieldSpec(name="contact", label="Contact me", type="checkbox")
    field = reader.checkbox(spec, layout.LabelMatch((label,), 100.0))
    assert (field.value, field.confidence >= MIN_CONFIDENCE, field.error) == (value, sure, error)


def test_the_kind_of_mark_is_told() -> None:
    kinds = {}
    for draw in ("tick", "cross", "struck", "empty"):
        image, _ = _box_page(draw)
        kinds[draw] = ticks.read_mark(image, (421, 91, 480, 150)).kind
    assert kinds == {
        "tick": MarkKind.TICK,
        "cross": MarkKind.CROSS,
        "struck": MarkKind.CROSSED_OUT,
        "empty": MarkKind.EMPTY,
    }


def _yes_no_choice(
    beside: str | None, inside: str | None = None, **drawn: Any
) -> ExtractedField | None:
    """The question of ``_yes_no_reader`` (``drawn`` its keywords), read."""
    reader = _yes_no_reader(beside, inside, **drawn)
    spec = FieldSpec(name="q", label="Question", type="choice", choices=["Yes", "No"])
    return reader.choice(spec, layout.LabelMatch((reader.page.words[0],), 100.0))


def _yes_no_reader(
    beside: str | None,
    inside: str | None = None,
    *,
    clear_by: int = 10,
    no_as_read: tuple[str, int, float] = ("No", 740, 0.95),
    no_ends: int = 790,
    no_rows: tuple[float, float] = (0.33, 0.48),
    reach: int = 40,
) -> ticks.TickReader:
    """Question  Yes [ ]  No [ ] on a handwritten page: a tick drawn ``clear_by`` pixels
    clear of the ``beside`` option's box (55 a side), to its right (before or over the
    next option's word, or past the row's last box), and one in the ``inside`` option's
    box; each tick ``reach`` pixels wide. ``no_as_read``: the text OCR read for the No,
    where its box starts, and how sure it was (a tick drawn over the word is read with
    it); ``no_ends`` and ``no_rows``, where OCR's box round it ends, and its top and
    foot (page fractions)."""
    width, height = 1400, 300
    image = np.full((height, width), 255, np.uint8)
    words = []
    for text, x0, x1 in (("Question", 60, 260), ("Yes", 500, 570), ("No", 740, no_ends)):
        cv2.putText(image, text, (x0, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 3)
        confidence = 0.95
        top, foot = 0.33, 0.48
        if text == "No":
            text, x0, confidence = no_as_read
            top, foot = no_rows
        bbox = (x0 / width, top, x1 / width, foot)
        words.append(Word(text=text, confidence=confidence, bbox=bbox))
    boxes = {"Yes": 590, "No": 810}
    for left in boxes.values():
        cv2.rectangle(image, (left, 95), (left + 55, 150), 0, 3)
    for option, shift in ((beside, 55 + clear_by), (inside, 8)):
        if option is not None:
            x = boxes[option] + shift
            cv2.line(image, (x, 118), (x + 12, 142), 0, 5)
            cv2.line(image, (x + 12, 142), (x + reach, 142 - round(1.6 * (reach - 12))), 0, 5)
    page = ReadPage(1, WordSource.OCR, words, 300, width, height, _image=image)
    boxes_found = [PageBox.of(b, width, height) for b in page.boxes()]
    return ticks.TickReader(page, boxes_found, handwritten=True)


@pytest.mark.parametrize("meant", ["Yes", "No"])
def test_a_tick_put_beside_an_option_s_box_is_read_as_that_option_for_a_person_to_confirm(
    meant: str,
) -> None:
    field = _yes_no_choice(beside=meant)
    assert field is not None
    assert field.value == meant
    assert field.confidence <= ticks.DOUBTFUL


def test_a_tick_put_well_past_the_last_box_is_read_whole() -> None:
    """A tick whose arm ends two sides past the box's wall runs out of the area a mark
    is looked for in; it is followed until it is seen whole, and is a tick (it was
    taken for a word's letter, running on, and the option left unticked)."""
    field = _yes_no_choice(beside="No", clear_by=75)
    assert field is not None
    assert (field.value, field.confidence <= ticks.DOUBTFUL) == ("No", True)


def test_a_tick_over_the_next_option_s_word_is_the_option_before_its() -> None:
    """Yes [ ] ✓No [ ]: OCR reads the tick as part of the No ("/No"), its box stretched
    back to the Yes box's wall, so the Yes box stood nearer the No than the Yes and was
    taken for the No's. Words and boxes take turns along the row: each word owns the box
    after it."""
    stretched = ("/No", 650, 0.4)
    field = _yes_no_choice(beside="Yes", clear_by=5, no_as_read=stretched)
    assert field is not None
    assert (field.value, field.confidence <= ticks.DOUBTFUL) == ("Yes", True)


def test_a_tick_against_the_next_option_s_word_read_surely_with_it_is_still_a_mark() -> None:
    """Yes [ ] ✓No [ ] on a 1-bit scan: OCR reads the tick with the No as surely as a
    word printed alone, so the word is not taken for one with a mark over it. Its ink
    still holds a piece no printed letter of the row could be (the tick, taller than the
    row's capitals and wider than its widest): the piece is looked at, and the tick is
    the Yes's, for a person to confirm (it was not seen, and the question left blank)."""
    sure_of_it = ("/No", 650, 0.65)
    field = _yes_no_choice(beside="Yes", clear_by=5, no_as_read=sure_of_it)
    assert field is not None
    assert (field.value, field.confidence <= ticks.DOUBTFUL) == ("Yes", True)


def test_a_box_s_wall_read_with_the_word_before_it_is_no_mark_over_the_word() -> None:
    """OCR's box round the No runs on over the No box's wall: the wall, a stroke as tall
    as the box, is no printed letter, but it is the box's, not a mark over the word (on
    the tuning scans such words were looked at for marks, and right answers sent to a
    person). A tick against the word is one."""
    plain = _yes_no_reader(None, no_as_read=("No", 740, 0.65), no_ends=812)
    ticked = _yes_no_reader("Yes", clear_by=5, no_as_read=("/No", 650, 0.65), no_ends=812)
    held = [r._holds_a_mark(r.page.words[2], 95, 150) for r in (plain, ticked)]
    assert held == [False, True]


def test_a_word_read_with_the_wall_of_the_box_after_it_is_no_mark() -> None:
    """Yes [✓]  No [ ] on a handwritten page, the No read with the No box's left wall
    ("No|"): OCR's box round it is as tall as the wall, taller than the box, and once
    the box is cut off it ends at the wall, as a tick read as a word would. It was taken
    for a mark and left out, and the options of the question under it were read for this
    one (a Yes read surely as No). Its letters are as short as print: it is a word."""
    reader = _yes_no_reader(
        None, "Yes", no_as_read=("No|", 740, 0.9), no_ends=815, no_rows=(0.3, 0.54)
    )
    assert [w.text for w in reader.words] == ["Question", "Yes", "No"]
    spec = FieldSpec(name="q", label="Question", type="choice", choices=["Yes", "No"])
    field = reader.choice(spec, layout.LabelMatch((reader.page.words[0],), 100.0))
    assert field is not None
    assert (field.value, field.confidence >= MIN_CONFIDENCE) == ("Yes", True)


def test_a_printed_letter_past_the_area_is_not_followed_into_a_tick() -> None:
    """Mr [ ]  Mrs [ ], printed large, the Mrs read unsurely (as a word with a mark
    over it would be): its M starts past the Mr box, a tick's size. Followed whole it
    would be a tick meant for the Mr box; it stands in the printed line, inside the
    word, no wider than a capital, so it is a letter, and the Mr box is not ticked."""
    width, height = 1400, 300
    image = np.full((height, width), 255, np.uint8)
    words = []
    for text, x0, confidence in (("Title", 60, 0.95), ("Mr", 420, 0.9), ("Mrs", 625, 0.4)):
        cv2.putText(image, text, (x0, 150), cv2.FONT_HERSHEY_SIMPLEX, 1.8, 0, 3)
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.8, 3)
        words.append(
            Word(
                text=text,
                confidence=confidence,
                bbox=(x0 / width, (150 - h) / height, (x0 + w) / width, 152 / height),
            )
        )
    for left in (510, 740):
        cv2.rectangle(image, (left, 100), (left + 55, 155), 0, 3)
    page = ReadPage(1, WordSource.OCR, words, 300, width, height, _image=image)
    boxes = [PageBox.of(b, width, height) for b in page.boxes()]
    reader = ticks.TickReader(page, boxes, handwritten=True)
    spec = FieldSpec(name="title", label="Title", type="choice", choices=["Mr", "Mrs"])
    field = reader.choice(spec, layout.LabelMatch((words[0],), 100.0))
    assert field is not None
    assert field.value is None


def test_a_tick_drawn_across_its_box_s_wall_is_read_as_that_option() -> None:
    """Yes [ ]✓ No [ ]: a tick begun in the box's right part and run out across its
    wall leaves too little ink in the box's middle to be a tick, and what lies outside,
    the wall's margin cleared, is too narrow for one. A stroke from inside the box to
    past its wall is a tick meant for it."""
    field = _yes_no_choice(beside="Yes", clear_by=-10, reach=28)
    assert field is not None
    assert (field.value, field.confidence <= ticks.DOUBTFUL) == ("Yes", True)


def test_a_tick_across_the_wall_read_as_a_word_does_not_take_the_box() -> None:
    """Contact me [ ]✓, the tick read by OCR as a word "Ty" starting at the box's
    wall: nearer the box than the label, it was taken for the box's owner, and the
    label left with no box. A word a stroke runs into across the box's wall is the
    box's mark."""
    width, height = 1200, 300
    image = np.full((height, width), 255, np.uint8)
    cv2.putText(image, "Contact me", (100, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 3)
    cv2.rectangle(image, (420, 90), (480, 150), 0, 2)
    cv2.line(image, (465, 118), (478, 142), 0, 5)
    cv2.line(image, (478, 142), (515, 92), 0, 5)
    label = Word(text="Contact me", confidence=0.9, bbox=(100 / width, 0.3, 330 / width, 0.48))
    mark = Word(text="Ty", confidence=0.67, bbox=(482 / width, 0.29, 518 / width, 0.49))
    field = _checkbox_on_a_handwritten_page(image, label, mark)
    assert (field.value, field.confidence <= ticks.DOUBTFUL, field.error) == (True, True, None)


def test_a_tick_drawn_just_past_the_wall_read_as_a_tall_word_is_a_mark() -> None:
    """A tick drawn just past its box's right wall, not across it, read by page OCR as a
    word ("By") that starts at the wall: far taller than the box, it is no printed word
    nearer the box than its label, but the mark beside it."""
    width, height = 1200, 400
    image = np.full((height, width), 255, np.uint8)
    cv2.putText(image, "Label", (100, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 3)
    cv2.rectangle(image, (300, 100), (355, 155), 0, 3)
    cv2.line(image, (360, 125), (372, 150), 0, 4)
    cv2.line(image, (372, 150), (400, 80), 0, 4)
    label = Word(text="Label", confidence=0.9, bbox=(100 / width, 0.25, 230 / width, 0.3625))
    mark = Word(text="By", confidence=0.5, bbox=(354 / width, 0.195, 402 / width, 0.38))
    field = _checkbox_on_a_handwritten_page(image, label, mark)
    assert (field.value, field.confidence <= ticks.DOUBTFUL, field.error) == (True, True, None)


def _checkbox_on_a_handwritten_page(image: GrayImage, label: Word, mark: Word) -> ExtractedField:
    """The checkbox labelled by ``label`` on a handwritten page of ``image``, its tick
    read by page OCR as the word ``mark``."""
    height, width = image.shape
    page = ReadPage(1, WordSource.OCR, [label, mark], 300, width, height, _image=image)
    boxes = [PageBox.of(b, width, height) for b in page.boxes()]
    reader = ticks.TickReader(page, boxes, handwritten=True)
    spec = FieldSpec(name="field", label=label.text, type="checkbox")
    return reader.checkbox(spec, layout.LabelMatch((label,), 100.0))


def test_options_printed_without_boxes_are_no_ticked_choice() -> None:
    """A choice whose options are printed with no box on the page (a list to write one
    of in): not read from boxes, and nothing raised."""
    width, height = 1400, 300
    image = np.full((height, width), 255, np.uint8)
    words = []
    for text, x0 in (("Question", 60), ("Yes", 500), ("No", 740)):
        cv2.putText(image, text, (x0, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 3)
        words.append(
            Word(text=text, confidence=0.95, bbox=(x0 / width, 0.33, (x0 + 60) / width, 0.48))
        )
    page = ReadPage(1, WordSource.OCR, words, 300, width, height, _image=image)
    reader = ticks.TickReader(page, [], handwritten=True)
    spec = FieldSpec(name="q", label="Question", type="choice", choices=["Yes", "No"])
    assert reader.choice(spec, layout.LabelMatch((words[0],), 100.0)) is None


def test_a_word_read_with_no_width_beside_the_boxes_raises_nothing() -> None:
    """OCR can give a word a box of no width; measuring the row's printed line from it
    raised, and the whole page failed."""
    field = _yes_no_choice(beside="Yes", no_as_read=("/No", 790, 0.4))
    assert field is not None
    assert field.value == "Yes"


def test_a_tick_in_a_box_outweighs_a_mark_beside_another_box() -> None:
    field = _yes_no_choice(beside="No", inside="Yes")
    assert field is not None
    assert field.value == "Yes"
    assert field.confidence <= ticks.DOUBTFUL

"""A second engine for handwriting and doubt: PP-OCRv4 (rapidocr) reads offline from the
models its wheel carries; it is asked only for crops that look handwritten or that
Tesseract is unsure of; the two engines' readings vote, and a disagreement is shown."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from config.form_template import FieldSpec
from domain.forms import Word, WordSource
from ocr import fields, voting
from ocr.engines import OcrWord, PageSegMode, RapidOcrEngine, engine_for
from ocr.fields import ValueReading
from ocr.reading import ReadPage
from ocr.ticks import DOUBTFUL
from ocr.voting import Reading

MIN_CONFIDENCE = 0.80


def spec(type_: str) -> FieldSpec:
    return FieldSpec.model_validate({"name": "f", "label": "F", "type": type_})


def printed(text: str, width: int = 700) -> np.ndarray[Any, Any]:
    image = np.full((110, width), 255, np.uint8)
    cv2.putText(image, text, (20, 75), cv2.FONT_HERSHEY_SIMPLEX, 1.8, 0, 4)
    return image


def jotted(text: str) -> np.ndarray[Any, Any]:
    """Letters each on its own baseline and at its own size, as a hand writes them."""
    image = np.full((140, 80 * len(text) + 40), 255, np.uint8)
    rng = np.random.default_rng(5)
    for i, char in enumerate(text):
        base = 95 + int(rng.integers(-7, 8))
        scale = 1.6 + float(rng.uniform(-0.3, 0.3))
        cv2.putText(image, char, (20 + 80 * i, base), cv2.FONT_HERSHEY_SIMPLEX, scale, 0, 4)
    return image


def test_the_models_ship_in_the_wheel_and_read_offline() -> None:
    import rapidocr

    models = Path(rapidocr.__file__).parent / "models"
    assert sorted(p.suffix for p in models.iterdir() if p.suffix == ".onnx")
    engine = engine_for("rapidocr")
    assert isinstance(engine, RapidOcrEngine)
    (word,) = engine.read(printed("AB12 3CD"), dpi=300, mode=PageSegMode.SINGLE_LINE)
    assert word.text.replace(" ", "") == "AB123CD"
    assert 0.5 < word.confidence <= 1.0
    # Lines found on a larger image (detection first).
    page = np.full((400, 900), 255, np.uint8)
    page[40:150, 50:750] = printed("SURNAME")
    page[220:330, 50:750] = printed("LONDON")
    found = {w.text for w in engine.read(page, dpi=300)}
    assert {"SURNAME", "LONDON"} <= found
    # A line of two words comes back as two words, each in its own place.
    page = np.full((300, 1100), 255, np.uint8)
    page[100:210, 50:1050] = printed("NEW  TOWN", width=1000)
    words = engine.read(page, dpi=300)
    assert [w.text for w in words] == ["NEW", "TOWN"]
    assert words[0].box[2] <= words[1].box[0]


def test_a_line_is_read_as_rapidocr_itself_reads_it() -> None:
    """The engine runs the recogniser on onnxruntime itself, preparing the line as
    rapidocr does: its reading and confidence are rapidocr's own."""
    from rapidocr import RapidOCR

    crop = jotted("HURST 1972")
    colour = np.ascontiguousarray(np.repeat(crop[:, :, None], 3, axis=2))
    theirs = RapidOCR(params={"Global.log_level": "error"})(
        colour, use_det=False, use_cls=False, use_rec=True
    )
    (word,) = engine_for("rapidocr").read(crop, dpi=300, mode=PageSegMode.SINGLE_LINE)
    assert word.text == theirs.txts[0].strip()
    assert word.confidence == pytest.approx(theirs.scores[0], abs=1e-4)


def test_print_and_handwriting_are_told_apart() -> None:
    assert voting.looks_printed(printed("PEARSON 1972"), 300) is True
    assert voting.looks_printed(jotted("PEARSON"), 300) is False
    assert voting.looks_printed(printed("4", 100), 300) is None  # too few letters to tell


def _letters(gaps: list[int], height: int = 40) -> np.ndarray:
    """A line of letter-sized strokes (O-shapes 24 pixels wide), ``gaps`` apart."""
    crop = np.full((2 * height, 40 + 24 * (len(gaps) + 1) + sum(gaps)), 255, np.uint8)
    x = 20
    for gap in [*gaps, 0]:
        cv2.rectangle(crop, (x, height // 2), (x + 23, height // 2 + height), 0, 5)
        x += 24 + gap
    return crop


def _one_word(crop: np.ndarray) -> bool:
    """Whether the crop is one word, as the pipeline asks it (not when it cannot tell)."""
    gaps = voting.gaps_between_letters(crop)
    return gaps is not None and gaps.one_word


def test_a_word_is_told_by_the_gaps_between_its_letters() -> None:
    """Evenly spaced capitals, however far apart the engines find them, are one word; a
    gap as wide as most of a letter's height is a space."""
    assert _one_word(_letters([12, 14, 12, 13])) is True  # 0.3-0.35 of the height
    assert _one_word(_letters([12, 14, 28, 13])) is False  # 0.7: two words
    comma = _letters([12, 14, 28, 13])
    cv2.circle(comma, (20 + 3 * 24 + 26 + 4, 58), 3, 0, -1)  # a comma in the gap
    assert _one_word(comma) is False
    two_lines = np.vstack([_letters([12, 12]), _letters([12, 12])])
    assert _one_word(two_lines) is False  # two lines: not said
    assert _one_word(np.full((40, 100), 255, np.uint8)) is False


def test_spaces_read_in_one_handwritten_word_are_left_out_for_a_person() -> None:
    reading = ValueReading(
        "HO W ART H", 0.99, (0, 0, 1, 1), engine="tesserocr", handwritten=True, one_word=True
    )
    field = fields._judge(spec("name"), reading, 1)
    assert field.value == "HOWARTH"
    assert field.doubts == ["spaces_left_out"]
    assert field.confidence < MIN_CONFIDENCE
    # Only in words: a date's spaces are its own business.
    date = fields._judge(spec("date"), replace(reading, text="3 MAR 2025"), 1)
    assert date.doubts == []
    # And where the writing has a gap wide enough, the space stays.
    spaced = fields._judge(spec("name"), replace(reading, text="ANN LEE", one_word=False), 1)
    assert (spaced.value, spaced.doubts) == ("ANN LEE", [])


def test_the_gaps_between_letters_are_measured_in_the_crop_s_columns() -> None:
    gaps = voting.gaps_between_letters(_letters([12, 28, 13]))
    assert gaps is not None
    # Letters from column 20, 24 apart and drawn with a pen 5 wide: each gap is the
    # space between them less the pen's reach either side.
    assert gaps.spans == ((47, 53), (83, 105), (135, 142))
    assert gaps.height == 47  # the letters' height, the pen's width with it
    assert (gaps.widest, gaps.one_word) == (22, False)
    assert gaps.widest_near(56, 5) == 6
    assert gaps.widest_near(68, 16) == 22  # both within reach: the wider
    two_lines = np.vstack([_letters([12, 12]), _letters([12, 12])])
    assert voting.gaps_between_letters(two_lines) is None


def _columns(text: str, left: float, step: float) -> list[tuple[str, float]]:
    """A recogniser's columns: each character ``step`` after the last."""
    return [(char, left + step * i) for i, char in enumerate(text)]


def test_a_space_at_a_letter_s_gap_is_left_out_where_the_words_have_wider_ones() -> None:
    """A hand that spaces its letters wide: NATALIE HANNAH, the gap after NAT under a
    third of the letters' height and the one between the words four fifths. One engine
    read "NAT ALIE HANNAH": a space at a gap narrower than a word's, and than half the
    value's widest, is a letter's."""
    # Letters 40 high, 30 apart; the gaps between them 6 wide, after NAT 12, and
    # between the words 32.
    spans = [(24 + 30 * i, 30 + 30 * i) for i in range(12)]
    spans[2], spans[6] = (84, 96), (194, 226)
    gaps = voting.Gaps(40.0, tuple(spans))
    columns = _columns("NATALIEHANNAH", 12, 30)
    readings = ["NAT ALIE HANNAH"]
    value = voting.spaces_between_words("NAT ALIE HANNAH", columns, gaps, readings)
    assert value == "NATALIE HANNAH"
    # Where the value's widest gap is narrow too, a gap of a third of the letters'
    # height may be a word's (a joined hand's 231 Mill Street): it stands.
    narrow = voting.Gaps(40.0, tuple((a, a + 16) if b - a == 32 else (a, b) for a, b in spans))
    assert voting.spaces_between_words("NAT ALIE HANNAH", columns, narrow, readings) == (
        "NAT ALIE HANNAH"
    )
    # A space beside a letter the recogniser did not read stands.
    unread = [c for c in columns if c[0] != "T"]
    assert voting.spaces_between_words("NAT ALIE HANNAH", unread, gaps, readings) == (
        "NAT ALIE HANNAH"
    )


def test_a_space_the_engines_disagree_on_stands_only_at_a_word_s_gap() -> None:
    """NOTTINGHAM in a hand that spaces its capitals evenly and wide (0.4 of their
    height): no gap stands out as a word's, and the second engine read NOT TI N G HAM.
    Tesseract read the same letters with no space: a space they disagree on stands only
    at a gap over half the letters' height. STEWART AMANDA's gap, which the second
    engine missed, is wider."""
    gaps = voting.Gaps(40.0, tuple((26 + 30 * i, 42 + 30 * i) for i in range(9)))
    columns = _columns("NOTTINGHAM", 12, 30)
    readings = ["NOTTINGHAM", "NOT TI N G HAM"]
    assert voting.spaces_between_words("NOT TI N G HAM", columns, gaps, readings) == ("NOTTINGHAM")
    # Not disputed (the other engine read other letters), and as many gaps as wide as
    # a word's as there are spaces: they stand.
    assert voting.spaces_between_words("NOT TI N G HAM", columns, gaps, ["NOTT1NGHAM"]) == (
        "NOT TI N G HAM"
    )
    spans = [(27 + 30 * i, 40 + 30 * i) for i in range(12)]
    spans[6] = (200, 226)
    columns = _columns("STEWARTAMANDA", 12, 30)
    readings = ["STEWART AMANDA", "STEWARTAMANDA"]
    value = voting.spaces_between_words(
        "STEWART AMANDA", columns, voting.Gaps(40.0, tuple(spans)), readings
    )
    assert value == "STEWART AMANDA"


def test_agreeing_engines_raise_confidence() -> None:
    first = Reading("tesserocr", "SW1A 1AA", 0.9)
    value, error, confidence, readings = voting.vote(
        spec("postcode"), first, Reading("rapidocr", "SW1A1AA", 0.97), "SW1A 1AA", None, 0.9
    )
    assert (value, error) == ("SW1A 1AA", None)
    assert confidence >= voting.AGREEMENT_CONFIDENCE
    assert [r.engine for r in readings] == ["tesserocr", "rapidocr"]
    # On handwriting, agreeing with an unsure second reading is not enough.
    unsure_second = Reading("rapidocr", "SW1A 1AA", 0.9)
    unsure = voting.vote(
        spec("postcode"), first, unsure_second, "SW1A 1AA", None, 0.9, handwritten=True
    )
    assert unsure[2] < MIN_CONFIDENCE
    # On print it leaves Tesseract's own confidence as it was, neither raised nor lowered.
    printed = voting.vote(spec("postcode"), first, unsure_second, "SW1A 1AA", None, 0.9)
    assert printed[2] == 0.9


def test_on_handwriting_the_second_engine_is_shown_first() -> None:
    second = Reading("rapidocr", "HURST", 0.95)
    reading = ValueReading(
        "PURSE", 0.97, (0, 0, 1, 1), engine="tesserocr", second=second, handwritten=True
    )
    field = fields._judge(spec("name"), reading, 1)
    assert field.value == "HURST"
    assert field.confidence < MIN_CONFIDENCE


def test_disagreeing_engines_send_the_field_to_review_with_both_readings() -> None:
    reading = ValueReading(
        "HURST", 0.97, (0, 0, 1, 1), engine="tesserocr", second=Reading("rapidocr", "HORST", 0.95)
    )
    field = fields._judge(spec("name"), reading, 1)
    assert field.value == "HURST"
    assert field.confidence < MIN_CONFIDENCE
    assert [(r.engine, r.text) for r in field.readings] == [
        ("tesserocr", "HURST"), ("rapidocr", "HORST")
    ]  # fmt: skip


def test_a_valid_second_reading_replaces_an_invalid_first_still_doubtful() -> None:
    reading = ValueReading(
        "VE Ager I",
        0.95,
        (0, 0, 1, 1),
        engine="tesserocr",
        second=Reading("rapidocr", "26-08-1958", 0.9),
    )
    field = fields._judge(spec("date"), reading, 1)
    assert str(field.value) == "1958-08-26"
    assert field.valid
    assert field.confidence <= DOUBTFUL


def test_a_crop_tesseract_reads_nothing_from_keeps_the_second_engine_s_reading() -> None:
    """A lone handwritten 8: Tesseract read nothing, PP-OCRv6 an 8. The value is the 8,
    for a person to confirm, not the page pass's guess at the same ink (it read "a")."""
    reading = ValueReading(
        "", 0.0, (0, 0, 1, 1), engine="tesserocr", second=Reading("rapidocr", "8", 0.997)
    )
    field = fields._judge(spec("integer"), reading, 1)
    assert field.value == 8
    assert field.valid
    assert field.confidence <= DOUBTFUL
    assert [(r.engine, r.text) for r in field.readings] == [("tesserocr", ""), ("rapidocr", "8")]
    marks = ValueReading("", 0.0, (0, 0, 1, 1), second=Reading("rapidocr", "|", 0.9))
    assert fields._judge(spec("integer"), marks, 1).error == "ink found but not read"


def test_the_page_pass_s_words_stand_in_only_when_neither_engine_read_the_crop() -> None:
    image = printed("8", 100)
    height, width = image.shape
    word = Word(text="a", confidence=0.5, bbox=(0.1, 0.1, 0.9, 0.9))
    page = ReadPage(1, WordSource.OCR, [word], 300, width, height, _image=image)
    nothing, eight = Counting("tesserocr", "", 0.0), Counting("rapidocr", "8", 0.99)
    area = fields.ValueArea((0, 0, 1, 1))
    kept = fields.read_value(spec("integer"), page, area, [word], nothing, eight)  # type: ignore[arg-type]
    assert kept.second is not None
    assert kept.second.text == "8"
    blank = Counting("rapidocr", "", 0.0)
    stand_in = fields.read_value(spec("integer"), page, area, [word], nothing, blank)  # type: ignore[arg-type]
    assert stand_in.text == "a"


class Counting:
    """An engine that answers one text surely and counts its calls."""

    def __init__(self, name: str, text: str, confidence: float) -> None:
        self.name, self.text, self.confidence, self.calls = name, text, confidence, 0

    def read(self, image: Any, *, dpi: int, mode: Any = None) -> list[OcrWord]:
        self.calls += 1
        return [OcrWord(self.text, self.confidence, (0, 0, 10, 10), self.confidence)]

    def char_frames(self, image: Any, mode: Any = None) -> None:
        return None  # like Tesseract: no recogniser frames, so its reading is voted on


@pytest.mark.parametrize(
    ("image", "confidence", "asked"),
    [(printed("PEARSON 1972"), 0.995, False), (printed("PEARSON 1972"), 0.9, True),
     (jotted("PEARSON"), 0.995, True)],
)  # fmt: skip
def test_the_second_engine_reads_only_handwriting_or_doubt(
    image: np.ndarray[Any, Any], confidence: float, asked: bool
) -> None:
    height, width = image.shape
    page = ReadPage(1, WordSource.OCR, [], 300, width, height, _image=image)
    first, second = Counting("tesserocr", "PEARSON", confidence), Counting("rapidocr", "X", 0.9)
    reading = fields.read_crop(page, (0, 0, 1, 1), first, multiline=False, second=second)  # type: ignore[arg-type]
    assert (second.calls == 1) is asked
    assert (reading.second is not None) is asked


def test_a_jotted_value_is_weighed_on_the_recogniser_s_frames() -> None:
    """End to end with the real PP-OCRv4: a handwritten-looking crop gets the
    recogniser's frames, and the value judged from them keeps to the field's alphabet."""
    image = jotted("4120")
    height, width = image.shape
    page = ReadPage(1, WordSource.OCR, [], 300, width, height, _image=image)
    # Tesseract misread the first figure as a letter, as it does with handwriting.
    first = Counting("tesserocr", "A120", 0.6)
    second = engine_for("rapidocr")
    reading = fields.read_crop(page, (0, 0, 1, 1), first, multiline=False, second=second)  # type: ignore[arg-type]
    assert reading.frames is not None
    assert reading.second is not None
    assert reading.second.text == reading.frames.greedy()[0]
    judged = fields._judge(spec("integer"), reading, 1)
    assert judged.value == 4120
    assert judged.error is None
    assert [r.engine for r in judged.readings] == ["tesserocr", "rapidocr"]


def test_a_page_is_handwritten_when_most_of_its_values_look_handwritten() -> None:
    def read(hand: bool, text: str = "XYZ") -> ValueReading:
        return ValueReading(text, 0.99, (0, 0, 1, 1), handwritten=hand, printed=not hand)

    assert fields._looks_handwritten([read(True), read(True), read(True), read(False)])
    assert not fields._looks_handwritten([read(True), read(True), read(False), read(False)])
    # Too few to tell; empty crops and typed text layers do not count.
    assert not fields._looks_handwritten([read(True), read(True), read(False, "")])
    # A PDF's typed text is no evidence either way: three handwritten crops decide.
    typed = ValueReading("X", 1.0, (0, 0, 1, 1), typed=True)
    assert fields._looks_handwritten([read(True), read(True), read(True), typed, typed, typed])
    # Nor is a lone figure Tesseract was sure of, too short to look either way: a page of
    # three handwritten names and three one-figure counts is handwritten.
    figure = ValueReading("4", 0.99, (0, 0, 1, 1), printed=None)
    assert fields._looks_handwritten([read(True), read(True), read(True), read(False),
                                      figure, figure])  # fmt: skip
    unsure = ValueReading("4", 0.6, (0, 0, 1, 1), printed=None, second=Reading("r", "4", 0.9))
    assert fields._looks_handwritten([read(True), read(True), unsure, read(False)])
    only_second = ValueReading("", 0.0, (0, 0, 1, 1), second=Reading("r", "8", 0.99))
    assert fields._looks_handwritten([read(True), read(True), read(True), read(False),
                                      read(False), only_second])  # fmt: skip


def test_frames_of_a_taller_crop_are_its_one_line_found_first() -> None:
    engine = engine_for("rapidocr")
    one = np.full((300, 800), 255, np.uint8)
    one[100:210, 50:750] = printed("SURNAME")
    frames = engine.char_frames(one, PageSegMode.SINGLE_BLOCK)
    assert frames is not None
    assert frames.greedy()[0] == "SURNAME"
    two = np.full((400, 900), 255, np.uint8)
    two[40:150, 50:750] = printed("SURNAME")
    two[220:330, 50:750] = printed("LONDON")
    assert engine.char_frames(two, PageSegMode.SINGLE_BLOCK) is None  # which line?

"""Two engines' words of one page made one (``ocr.word_vote``)."""

from __future__ import annotations

from ocr.engines import OcrWord
from ocr.word_vote import SURE_ALONE, split_at_gaps, voted_words


def word(text: str, confidence: float, x0: int, x1: int, y0: int = 100) -> OcrWord:
    return OcrWord(text, confidence, (x0, y0, x1, y0 + 30))


def test_words_run_together_are_split_where_tesseract_saw_a_gap() -> None:
    run_together = word("SUBMISSIONDATE", 0.97, 100, 380)
    guide = [word("SUBMISSION", 0.9, 100, 300), word("DATE", 0.95, 310, 380)]
    pieces = split_at_gaps([run_together], guide)
    assert [p.text for p in pieces] == ["SUBMISSION", "DATE"]
    assert pieces[0].box == (100, 100, 300, 130)
    assert pieces[1].box == (300, 100, 380, 130)
    assert {p.confidence for p in pieces} == {0.97}


def test_a_gap_between_characters_read_differently_does_not_split() -> None:
    # Tesseract read "1992 the" where the other engine read "1992he": the characters
    # either side of Tesseract's gap are not side by side in the other reading.
    assert [p.text for p in split_at_gaps([word("1992he", 0.9, 0, 200)], [
        word("1992", 0.9, 0, 120), word("the", 0.8, 130, 200)
    ])] == ["1992he"]  # fmt: skip
    # One word of Tesseract's under it: nothing to split by.
    assert split_at_gaps([word("ABC", 0.9, 0, 90)], [word("A BC", 0.9, 0, 90)]) == [
        word("ABC", 0.9, 0, 90)
    ]


def test_each_place_keeps_the_reading_of_the_surer_engine() -> None:
    tesseract = [
        word("Inc.", 0.95, 0, 60),  # sure, and the other engine less so
        word("Ine.", 0.5, 100, 160),  # unsure, the other engine sure
        word("t0", 0.6, 200, 240),
    ]
    second = [word("Inc", 0.7, 0, 60), word("Inc.", 0.98, 100, 160), word("to", 0.6, 200, 240)]
    texts = [w.text for w in voted_words(tesseract, second)]
    assert texts == ["Inc.", "Inc.", "to"]  # a tie goes to the second engine


def test_a_group_is_taken_whole_from_one_engine() -> None:
    # Tesseract broke a faint word in two and misread both halves; the other engine's
    # one word overlaps both, so the place is one group, and the surer side takes it.
    tesseract = [word("Ox", 0.53, 0, 50), word("vress", 0.37, 60, 150)]
    assert [w.text for w in voted_words(tesseract, [word("Express", 0.9, 0, 150)])] == ["Express"]
    assert [w.text for w in voted_words(tesseract, [word("Exprss", 0.4, 0, 150)])] == [
        "Ox",
        "vress",
    ]


def test_words_run_together_are_voted_on_as_pieces() -> None:
    tesseract = [word("Lassiter/", 0.7, 0, 120), word("Douglas", 0.7, 125, 220)]
    second = [word("Lassiter/Douglas", 0.9, 0, 220)]
    assert [w.text for w in voted_words(tesseract, second)] == ["Lassiter/", "Douglas"]


def test_a_word_only_tesseract_found_is_kept_only_when_sure() -> None:
    tesseract = [word("FAX", SURE_ALONE, 0, 60), word("~~i", SURE_ALONE - 0.01, 0, 60, y0=300)]
    second = [word("Date", 0.9, 0, 60, y0=500)]
    assert [w.text for w in voted_words(tesseract, second)] == ["FAX", "Date"]


def test_words_come_line_by_line_left_to_right() -> None:
    tesseract = [word("two", 0.9, 200, 260, y0=103), word("three", 0.9, 0, 90, y0=200)]
    second = [word("one", 0.9, 0, 60, y0=98)]
    assert [w.text for w in voted_words(tesseract, second)] == ["one", "two", "three"]

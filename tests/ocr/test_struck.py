"""Letters struck out and written again (``ocr.struck``): found by the shape of the
stroke through them, cut out, and the rest read as the writer meant it.

The lines are drawn with OpenCV's stroke font, a pen's width thick, so each letter's
columns are known; the strikes are drawn as a writer makes them, a stroke about a letter
and a half long through the letter's middle, level or sloping a little.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from ocr.engines import GrayImage, PageSegMode, engine_for
from ocr.fields import _scribbled_over
from ocr.struck import (
    Struck,
    cut_too_much,
    dropped,
    find_struck,
    look_for_struck,
    narrow_scribbles,
    without_struck,
)

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_SCALE, _PEN = 1.6, 4
_GAP = 12  # pixels between letters


def _write(
    text: str, gap: int = _GAP, pen: int = _PEN
) -> tuple[GrayImage, list[tuple[int, int]], int, int]:
    """``text`` written one letter at a time on white, ``gap`` pixels apart (less than
    none sets them so close that each letter's columns run into its neighbours'), with a
    pen ``pen`` pixels wide: the image, each letter's columns (a space's too), and the
    letters' top and foot rows."""
    image = np.full((120, 40 + 45 * len(text)), 255, np.uint8)
    x, baseline = 30, 80
    spans = []
    for char in text:
        (width, _), _ = cv2.getTextSize(char, _FONT, _SCALE, pen)
        cv2.putText(image, char, (x, baseline), _FONT, _SCALE, 0, pen, cv2.LINE_AA)
        spans.append((x, x + width))
        x += width + gap
    cap, _ = cv2.getTextSize("H", _FONT, _SCALE, pen)
    return image, spans, baseline - cap[1], baseline


def _scribble(image: GrayImage, span: tuple[int, int], top: int, foot: int, turns: int) -> None:
    """Back and forth over the letter at ``span``, from its top to its foot, a little
    wider than the letter (and at least half as wide as the letters are high)."""
    height = foot - top
    width = 1.2 * max(span[1] - span[0], 0.5 * height)
    centre = (span[0] + span[1]) / 2
    points = [
        (
            round(centre + width / 2 if i % 2 else centre - width / 2),
            round(top + 0.08 * height + 0.84 * height * i / (turns - 1)),
        )
        for i in range(turns)
    ]
    cv2.polylines(image, [np.array(points, np.int32)], False, 0, _PEN - 1, cv2.LINE_AA)


def _strike(image: GrayImage, span: tuple[int, int], top: int, foot: int, slope: float) -> None:
    """A stroke through the letter at ``span``, half again as long as the letters are
    high, through its middle."""
    centre, middle = (span[0] + span[1]) / 2, (top + foot) / 2
    half = 0.75 * (foot - top) + 0.2 * (span[1] - span[0])
    rise = half * slope
    start = (round(centre - half), round(middle + rise))
    end = (round(centre + half), round(middle - rise))
    cv2.line(image, start, end, 0, _PEN - 1, cv2.LINE_AA)


@pytest.mark.parametrize("slope", [0.0, 0.15, -0.2])
def test_a_letter_struck_through_is_found_and_cut_out(slope: float) -> None:
    image, spans, top, foot = _write("BUKS")
    _strike(image, spans[2], top, foot, slope)
    (struck,) = find_struck(image)
    k0, k1 = spans[2]
    assert abs(struck.x0 - k0) <= 3, (struck.x0, spans)
    assert abs(struck.x1 - k1) <= 3, (struck.x1, spans)
    cut = without_struck(image, [struck])
    # The K and the white after it are gone; the letters before it are whole, but for a
    # few pixels of the U's rim where the strike ran into it.
    assert image.shape[1] - cut.shape[1] == pytest.approx(k1 - k0 + _GAP, abs=4)
    clean, _, _, _ = _write("BUKS")
    before = slice(0, spans[1][1])
    lost = ((clean[:, before] < 128) & (cut[:, before] >= 128)).sum()
    assert lost <= 0.01 * (clean[:, before] < 128).sum()


@pytest.mark.parametrize("reach", [0.15, 0.0], ids=["past the letter", "no wider than it"])
def test_a_letter_scribbled_out_is_found_and_cut_out(reach: float) -> None:
    """A scribble back and forth over a letter, past its sides or (a narrow hand's, or
    one over a letter that touches its neighbours) no wider than the letter itself."""
    image, spans, top, foot = _write("BUKS")
    k0, k1 = spans[2]
    reach *= k1 - k0
    turns = [
        (round(k1 + reach if i % 2 else k0 - reach), round(top + (foot - top) * i / 6))
        for i in range(7)
    ]
    cv2.polylines(image, [np.array(turns, np.int32)], False, 0, _PEN - 1, cv2.LINE_AA)
    (struck,) = find_struck(image)
    assert struck.x0 <= k0 + 3, (struck.x0, spans)
    assert struck.x1 >= k1 - 3, (struck.x1, spans)
    assert struck.x0 > spans[1][1], (struck.x0, spans)  # not the U
    assert struck.x1 < spans[3][0], (struck.x1, spans)  # nor the S


@pytest.mark.parametrize(
    ("written", "struck", "meant"),
    [("LEEDS", 3, "LEES"), ("9.357", 2, "9.57"), ("4,X50", 2, "4,50")],
)
def test_the_rest_is_read_as_meant(written: str, struck: int, meant: str) -> None:
    """Tesseract reads a struck letter as one more letter; without it, it reads the value
    the writer meant: LEEDS with its D struck out is LEES. A full stop or a comma beside
    the struck letter is print, not a stub of the strike, and stays."""
    image, spans, top, foot = _write(written)
    _strike(image, spans[struck], top, foot, 0.1)
    engine = engine_for("tesseract")
    read = engine.read(
        without_struck(image, find_struck(image)), dpi=300, mode=PageSegMode.SINGLE_LINE
    )
    assert "".join(w.text for w in read) == meant


@pytest.mark.parametrize(
    "text", ["HEATH", "TEA FIZZ", "AVENUE 47", "WHITE", "EFFECT", "tittle", "01-02-2025"]
)
def test_a_letters_own_bars_are_no_strike(text: str) -> None:
    """An H's or an A's bar ends at its strokes, an E's and an F's at its stem, a T's and a
    Z's lie at the top or foot of the line, a dash crosses no letter: not even a doubt."""
    image, _, _, _ = _write(text)
    assert look_for_struck(image) == ([], ())


def test_a_strike_over_letters_that_touch_is_no_sure_strike_but_a_doubt() -> None:
    """Written touching its neighbours, the struck letter is one run of ink with them: the
    strike cannot be seen to reach past it, so nothing is cut, but the value is doubted,
    as both engines read the struck letter as one more."""
    image, spans, top, foot = _write("BUKS")
    for (_, left_end), (right_start, _) in itertools.pairwise(spans):
        cv2.line(image, (left_end - 2, foot - 2), (right_start + 2, foot - 2), 0, _PEN)
    _strike(image, spans[2], top, foot, 0.1)
    letters, maybe = look_for_struck(image)
    assert letters == []
    # Where the stroke lies is given: across the K's middle, within its neighbours.
    ((start, end),) = maybe
    (u0, _), (k0, k1), (_, s1) = spans[1:4]
    assert u0 < start < (k0 + k1) / 2 < end < s1


def test_a_strike_over_a_letter_set_close_takes_out_its_ink_alone() -> None:
    """Set close, as a slanting hand sets them, the struck D's columns run into the A's
    before it and the R's after it: no run of columns is the D's alone. Its ink is, and
    the strike reaches past it: the D goes, with the strike across it, its neighbours
    stay whole, and HOWADRD reads as HOWARD."""
    image, spans, _, _ = _write("HOWADRD", gap=-2)
    assert all(a[1] > b[0] for a, b in itertools.pairwise(spans))  # columns overlap
    # Struck through the middle of the ink itself: set close, the letters stand a
    # little lower than a capital's cap height says.
    rows = np.flatnonzero((image < 128).any(axis=1))
    top, foot = int(rows[0]), int(rows[-1])
    _strike(image, spans[4], top, foot, 0.1)
    (struck,) = find_struck(image)
    assert struck.ink is not None
    assert abs(struck.x0 - spans[4][0]) <= 6
    assert abs(struck.x1 - spans[4][1]) <= 6
    cut = without_struck(image, [struck])
    read = engine_for("tesseract").read(cut, dpi=300, mode=PageSegMode.SINGLE_LINE)
    assert "".join(w.text for w in read) == "HOWARD"


def test_the_recogniser_reads_each_letter_in_its_own_columns() -> None:
    """Its frames say where it read each character: inside that letter's columns."""
    image, spans, _, _ = _write("BUKS")
    frames = engine_for("rapidocr").char_frames(image, PageSegMode.SINGLE_LINE)
    assert frames is not None
    columns = frames.greedy_columns()
    assert "".join(char for char, _ in columns) == "BUKS"
    for (_, x), (x0, x1) in zip(columns, spans, strict=True):
        assert x0 - 4 <= x <= x1 + 4, (columns, spans)


def _struck_at(x0: int, x1: int, strike: tuple[int, int] | None = None) -> Struck:
    """A letter struck at columns ``x0``-``x1``, by a strike over ``strike``'s columns."""
    whole = np.zeros((10, 200), np.uint8)
    if strike is not None:
        whole[5, strike[0] : strike[1]] = 1
    return Struck(x0, x1, np.zeros((10, 200), np.uint8), whole)


def test_a_struck_letter_is_left_out_of_a_reading_of_the_whole_crop() -> None:
    """Read whole, the struck V of CLEANEVR is one more letter; left out where it was
    read, CLEANER remains. Only characters read inside the struck letter's columns go,
    the one nearest its middle, and never a space."""
    columns = [(c, 10.0 + 20 * i) for i, c in enumerate("CLEANEVR")]
    assert dropped(columns, [_struck_at(125, 140)]) == ("CLEANER", "V")
    assert dropped(columns, [_struck_at(0, 5)]) == ("CLEANEVR", "")
    spaced = [("A", 10.0), (" ", 30.0), ("B", 50.0)]
    assert dropped(spaced, [_struck_at(25, 35)]) == ("A B", "")
    # The strike read as a dash beside the figure it struck, where the strike runs out
    # past the figure: both go. Read as the letter's only character, the mark goes alone.
    dashed = [(c, 10.0 + 10 * i) for i, c in enumerate("2-441.34")]
    assert dropped(dashed, [_struck_at(25, 35, strike=(15, 40))]) == ("241.34", "-4")
    assert dropped(dashed, [_struck_at(25, 35)]) == ("2-41.34", "4")
    plus = [(c, 10.0 + 20 * i) for i, c in enumerate("JO+DIE")]
    assert dropped(plus, [_struck_at(45, 55)]) == ("JODIE", "+")


def test_a_cut_that_lost_more_than_the_struck_letter_is_told() -> None:
    # The cut took the R the V touched: fewer letters than the whole less the V.
    assert cut_too_much("CLEANE", "CLEANER", "V")
    # Stubs of the strike read as marks.
    assert cut_too_much("P.ARTICK", "PARTICK", "R")
    # As many letters, or the whole read the strike as a dash: the cut stands.
    assert not cut_too_much("CLEANER", "CLEANER", "V")
    assert not cut_too_much("161.76", "161.746", "-")
    assert not cut_too_much("BRISTOL", "BRISTU", "E")
    # Nothing read where the letter was struck: no reading without it to weigh.
    assert not cut_too_much("H-OTMAIL", "HFOTMAIL", "")


def test_a_dash_between_letters_or_a_rule_under_them_is_no_strike() -> None:
    image, spans, top, foot = _write("AB CD")
    middle = (top + foot) // 2
    cv2.line(image, (spans[1][1] + 2, middle), (spans[3][0] - 2, middle), 0, _PEN)
    cv2.line(image, (spans[0][0], foot + 6), (spans[4][1], foot + 6), 0, _PEN)
    assert find_struck(image) == []


def test_two_lines_of_writing_are_left_alone() -> None:
    first, spans, top, foot = _write("BUKS")
    _strike(first, spans[2], top, foot, 0.0)
    two = np.vstack([first, first])
    assert find_struck(two) == []
    assert find_struck(np.full((60, 200), 255, np.uint8)) == []


def test_a_stub_of_the_strike_goes_and_a_full_stop_stays() -> None:
    """Where a strike ran into a neighbour's stroke its ink stays (cutting it would cut
    the neighbour); a bit of it cut off from the rest once the letter goes is a stub,
    which OCR reads as a point, and goes. A full stop of the same size stays."""
    image, spans, top, foot = _write("AB.CD")
    middle = (top + foot) // 2
    stub = (spans[1][1] + 2, middle)  # just after the B, where a strike through the . ran
    cv2.circle(image, stub, 3, 0, -1)
    whole = np.zeros(image.shape, np.uint8)
    cv2.circle(whole, stub, 6, 1, -1)
    c0, c1 = spans[3]
    cut = without_struck(image, [Struck(c0, c1, np.zeros(image.shape, np.uint8), whole)])
    engine = engine_for("tesseract")
    read = engine.read(cut, dpi=300, mode=PageSegMode.SINGLE_LINE)
    assert "".join(w.text for w in read) == "AB.D"
    stop = slice(spans[2][0], spans[2][1])
    assert (cut[:, stop] < 128).sum() == (image[:, stop] < 128).sum()  # the stop is whole
    assert (cut[middle - 4 : middle + 5, stub[0] - 4 : stub[0] + 5] >= 128).all()


def test_without_nothing_struck_the_crop_is_unchanged() -> None:
    image, _, _, _ = _write("BUS")
    assert without_struck(image, []) is image


def test_odd_crops_hold_no_strike_and_raise_nothing() -> None:
    """A speck, a blank, a solid block (a wide one and one no wider than a letter), a
    sliver, noise: nothing to measure a strike or a scribble against, and no error for
    the form's reading to stop on."""
    rng = np.random.default_rng(1)
    crops = [
        np.full((1, 1), 255, np.uint8),
        np.zeros((40, 200), np.uint8),
        np.zeros((40, 30), np.uint8),
        np.full((3, 500), 255, np.uint8),
        rng.integers(0, 256, (60, 300), dtype=np.uint8),
        ((rng.random((80, 400)) < 0.3) * 255).astype(np.uint8),
    ]
    for crop in crops:
        assert find_struck(crop) == [], crop.shape
        assert narrow_scribbles(crop) == [], crop.shape


def test_a_narrow_letter_scribbled_out_is_a_candidate_the_recogniser_confirms() -> None:
    """Over an I, a scribble is made of strokes shorter than a strike: ``find_struck``
    sees none, ``narrow_scribbles`` offers it (with other dense letters, a B and an S),
    and the recogniser, unsure of what it read there, confirms it alone."""
    image, spans, top, foot = _write("BUIS")
    _scribble(image, spans[2], top, foot, 6)
    assert find_struck(image) == []
    i0, i1 = spans[2]
    candidates = narrow_scribbles(image)
    assert any(s.x0 <= i0 and s.x1 >= i1 for s in candidates), (candidates, spans)
    (confirmed,) = _scribbled_over(engine_for("rapidocr"), image)
    assert confirmed.x0 <= i0, (confirmed, spans)
    assert confirmed.x1 >= i1, (confirmed, spans)
    assert confirmed.x0 > spans[1][1], (confirmed, spans)  # not the U
    assert confirmed.x1 < spans[3][0], (confirmed, spans)  # nor the S


def test_a_scribble_wider_than_the_letters_are_high_is_left_to_find_struck() -> None:
    """A scribble as wide as the letters are high or wider (over a wide letter, or run
    into its neighbour) is no narrow scribble: ``find_struck`` takes it, or nothing does,
    rather than cut a neighbour with it."""
    image, spans, top, foot = _write("BUIS")
    height = foot - top
    i0, i1 = spans[2]
    centre = (i0 + i1) / 2
    points = [
        (round(centre + 0.6 * height if i % 2 else centre - 0.6 * height), round(top + 6 * i))
        for i in range(6)
    ]
    cv2.polylines(image, [np.array(points, np.int32)], False, 0, _PEN - 1, cv2.LINE_AA)
    assert all(s.x1 - s.x0 < height for s in narrow_scribbles(image)), spans
    assert not any(s.x0 <= i0 and s.x1 >= i1 for s in narrow_scribbles(image)), spans
    (struck,) = find_struck(image)
    assert struck.x0 <= i0, (struck, spans)
    assert struck.x1 >= i1, (struck, spans)


@pytest.mark.parametrize("text", ["BERRY", "EBB8", "GERALD"])
def test_a_bold_hands_letters_pass_for_scribbles_but_are_read_surely(text: str) -> None:
    """A bold E, B or 8, its bars as thick as the gaps between them, is as dense a block
    as a scribble: a candidate by shape, but the recogniser reads it surely, and no letter
    is taken for scribbled out."""
    image, _, _, _ = _write(text, pen=9)
    assert narrow_scribbles(image), "the bold letters no longer pass for scribbles"
    assert _scribbled_over(engine_for("rapidocr"), image) == []


def test_no_narrow_scribble_is_looked_for_in_small_letters() -> None:
    """In lower case (bdiog, its i scribbled over) none is looked for: a bold hand's b,
    d or o, or an @, makes as dense a block."""
    image, spans, top, foot = _write("bdiog", pen=9)
    _scribble(image, spans[2], top, foot, 6)
    assert narrow_scribbles(image) == []

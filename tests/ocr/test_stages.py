"""Preprocessing stages and the engines, each alone."""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np
import pytest

from domain.errors import OcrEngineError
from domain.forms import WordSource
from ocr import engines, layout, preprocess, reading
from ocr.engines import OcrEngine, PageSegMode, TesseractCliEngine, engine_for
from ocr.reading import OcrOptions, ReadPage
from tests.ocr import sample_forms


def test_skew_is_measured_and_undone(clean_page: np.ndarray[Any, Any]) -> None:
    tilted = sample_forms.scan_like(clean_page, angle=2.0, noise=5)
    angle = preprocess.skew_angle(tilted)
    assert angle == pytest.approx(-2.0, abs=0.15)
    assert abs(preprocess.skew_angle(preprocess.deskew(tilted, angle))) <= 0.15


def test_quarter_turns_are_seen_cheaply(clean_page: np.ndarray[Any, Any]) -> None:
    assert preprocess.text_runs_across(clean_page)
    assert not preprocess.text_runs_across(preprocess.rotate_quarter(clean_page, 90))


def test_resolution_normalised_towards_300_dpi(clean_page: np.ndarray[Any, Any]) -> None:
    small = preprocess.scale(clean_page, 1 / 3)
    assert preprocess.effective_dpi(small, None) == pytest.approx(100, abs=5)
    bigger, dpi = preprocess.normalise_resolution(small, 100)
    assert dpi == 300
    assert bigger.shape[0] == pytest.approx(clean_page.shape[0], abs=3)
    same, dpi = preprocess.normalise_resolution(clean_page, 300)
    assert same is clean_page
    assert dpi == 300


def test_photo_page_found_and_flattened(clean_page: np.ndarray[Any, Any]) -> None:
    photo = sample_forms.photo_like(clean_page)
    page = preprocess.find_page(photo)
    height, width = page.shape
    assert height / width == pytest.approx(clean_page.shape[0] / clean_page.shape[1], rel=0.06)
    assert preprocess.find_page(clean_page) is clean_page  # a flat scan stays as it is


def test_blank_and_noise(clean_page: np.ndarray[Any, Any]) -> None:
    assert preprocess.is_blank(np.full((1000, 700), 240, np.uint8))
    assert not preprocess.is_blank(clean_page)
    grain = sample_forms.scan_like(np.full((3508, 2480), 255, np.uint8), angle=0)
    assert preprocess.is_blank(grain)


@pytest.mark.parametrize("name", ["tesseract", "tesserocr"])
def test_engines_read_words_with_boxes(clean_page: np.ndarray[Any, Any], name: str) -> None:
    engine = engine_for(name)
    crop = clean_page[620:760, 980:2320]  # the surname box
    words = engine.read(crop, dpi=300, mode=PageSegMode.SINGLE_LINE)
    assert [w.text for w in words] == ["OKAFOR"]
    (word,) = words
    assert word.confidence > 0.8
    x0, y0, x1, y1 = word.box
    assert 0 <= x0 < x1 <= crop.shape[1]
    assert 0 <= y0 < y1 <= crop.shape[0]


def test_orientation_by_osd(clean_page: np.ndarray[Any, Any]) -> None:
    small = preprocess.scale(clean_page, 0.5)
    for name in ["tesseract", "tesserocr"]:
        engine = engine_for(name)
        assert engine.orientation(preprocess.rotate_quarter(small, 90), dpi=150).rotate == 270
        assert engine.orientation(preprocess.rotate_quarter(small, 180), dpi=150).rotate == 180


def test_thread_limit_set_before_tesseract_starts() -> None:
    assert os.environ["OMP_THREAD_LIMIT"] == "1"


def test_tesseract_failures_become_ocr_engine_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(OcrEngineError, match="TesseractNotFoundError"):
        TesseractCliEngine().read(np.full((50, 50), 255, np.uint8), dpi=300)
    with pytest.raises(OcrEngineError, match="crashed"), engines.tesseract_failures("testing"):
        raise RuntimeError("crashed")
    with pytest.raises(OcrEngineError, match="unknown OCR engine"):
        engine_for("abbyy")


def test_engines_share_one_interface() -> None:
    assert all(isinstance(engine_for(n), OcrEngine) for n in ["tesseract", "tesserocr"])
    assert engines.tessdata_dir().endswith("/")


def _read_in_full(page: np.ndarray[Any, Any]) -> ReadPage:
    words = engine_for("tesserocr").read(page, dpi=300)
    height, width = page.shape
    return ReadPage(
        number=1,
        source=WordSource.OCR,
        words=[reading._as_word(w, width, height) for w in words],
        dpi=300,
        width_px=width,
        height_px=height,
        _image=page,
    )


def test_a_line_the_page_reading_dropped_is_read_again_where_it_is(
    clean_page: np.ndarray[Any, Any],
) -> None:
    read = _read_in_full(clean_page)
    # Everything read: nothing left to look at again (box walls are not print).
    assert reading.unread_ink(clean_page, 300, read.words, read.boxes()) == []
    dropped = [w for w in read.words if w.text in ("Monthly", "income")]
    assert len(dropped) == 2
    read.words = [w for w in read.words if w not in dropped]
    (where,) = reading.unread_ink(clean_page, 300, read.words, read.boxes())
    x0, y0, x1, y1 = where
    line = layout.union(w.bbox for w in dropped)
    assert layout.holds((x0 / 2480, y0 / 3508, x1 / 2480, y1 / 3508), line)
    assert (x1 - x0) * (y1 - y0) < 0.02 * clean_page.size  # a line, not the page

    assert reading.read_sparsely(read, OcrOptions())
    assert {"Monthly", "income"} <= {w.text for w in read.words}


@pytest.mark.parametrize("paper", [255, 225], ids=["white", "scan grey"])
def test_a_caption_in_a_box_s_corner_is_read_again_without_the_walls(paper: int) -> None:
    """A small caption printed in a box's top-left corner ("Last name") that the page's
    reading dropped: the ink left unread takes in the box's walls with it, and read as
    it was, the walls at its edges, it gave nothing. Read without them, on white, it
    gives the caption."""
    page = np.full((900, 1400), paper, np.uint8)
    cv2.rectangle(page, (100, 300), (1300, 520), 40, 3)
    cv2.putText(page, "Last name", (108, 332), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 40, 2)
    read = ReadPage(1, WordSource.OCR, [], 300, 1400, 900, _image=page)
    assert reading.read_sparsely(read, OcrOptions())
    (last, name) = read.words
    assert (last.text, name.text) == ("Last", "name")
    # Where they lie on the page, not in the crop read.
    assert layout.holds(
        (105 / 1400, 300 / 900, 300 / 1400, 345 / 900), layout.union(w.bbox for w in read.words)
    )


def test_an_unsure_misreading_is_replaced_by_a_surer_one(
    clean_page: np.ndarray[Any, Any],
) -> None:
    read = _read_in_full(clean_page)
    (surname,) = [w for w in read.words if w.text == "Surname"]
    garbled = surname.model_copy(update={"text": "Sumarne", "confidence": 0.3})
    read.words = [garbled if w is surname else w for w in read.words]
    assert reading.read_sparsely(read, OcrOptions())
    texts = [w.text for w in read.words]
    assert "Surname" in texts
    assert "Sumarne" not in texts

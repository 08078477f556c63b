"""On real 1990s scans (FUNSD), the pipeline must find at least the words raw Tesseract
finds, and with the second engine voting word by word more again, without reading more
words that are not there; and their answers, read as fields, must not be lost with a
table's rules or trusted to Tesseract alone on so coarse a scan."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from ocr.pages import RasterPage, open_document
from ocr.pipeline import extract_form
from ocr.reading import OcrOptions, read_page
from tests.ocr.conftest import corpus_dir


def _bench(name: str) -> Any:
    """A module of ``bench/``, loaded by path (``bench`` is no package)."""
    path = Path(__file__).resolve().parents[2] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_pipeline_recall_at_least_raw_tesseract_and_voting_adds_to_it() -> None:
    corpus_dir("funsd", "testing_data")
    raw, alone, voting = _bench("funsd_recall").measure(3).values()
    print(f"raw {raw.share:.3f} alone {alone.share:.3f} voting {voting.share:.3f}")
    assert raw.total > 0
    assert alone.share >= raw.share
    assert voting.share > alone.share
    assert voting.precision >= alone.precision


@pytest.mark.slow
def test_figures_in_a_table_s_cells_are_read_not_whited_out_with_its_rules() -> None:
    """Small bold figures between a table's rules, each cell read as a field at its zone.
    Two figures side by side held a run of ink as long as a quarter of the narrow crop,
    and were whited out with the rules: the fields read as surely empty."""
    folder = corpus_dir("funsd", "testing_data")
    template, truth = _bench("funsd_fields").template_for(folder / "images" / "82253362_3364.png")
    cells = {name: text for name, text in truth.items() if text in ("29", "44", "34")}
    assert len(cells) == 3
    template = template.model_copy(
        update={"fields": [f for f in template.fields if f.name in cells]}
    )
    image = folder / "images" / "82253362_3364.png"
    result = extract_form(
        image.read_bytes(), image.name, {template.form_type: template}, template.form_type
    )
    assert {name: result.fields[name].value for name in cells} == cells
    # A coarse scan: both engines read each value, sure of it or not.
    for name in cells:
        assert {r.engine for r in result.fields[name].readings} == {"tesserocr", "rapidocr"}


def test_scans_of_150_dpi_or_less_are_coarse_and_of_200_or_more_are_not() -> None:
    """FUNSD's scans are about 100 dpi: Tesseract reads their letters of a few pixels
    surely and wrongly now and then, so the page is coarse, and both engines read every
    value there (the test of the table's cells). So is an office scanner's 150 dpi, where
    Tesseract read a typed 0 as 9 at 0.99; 200 dpi (about a phone's photo of a whole
    page) and 300 are not."""
    folder = corpus_dir("funsd", "testing_data")
    options = OcrOptions.from_settings()
    with open_document(folder / "images" / "82200067_0069.png") as document:
        page = read_page(next(iter(document.pages())), options, for_fields=True)
    assert page.coarse
    for dpi, coarse in ((150, True), (200, False), (300, False)):
        scale = dpi / 300
        office = np.full((round(3508 * scale), round(2480 * scale)), 255, np.uint8)  # A4
        cv2.putText(office, "Surname", (200, 400), cv2.FONT_HERSHEY_SIMPLEX, 3 * scale, 0, 6)
        assert read_page(RasterPage(1, office, dpi), options).coarse is coarse, dpi


@pytest.mark.slow
def test_an_x_typed_over_a_rule_is_never_surely_empty() -> None:
    """An X typed on an underline: removing the line cuts it into two pieces each too
    short for a letter. It may go unread, but then to a person, never as surely empty."""
    folder = corpus_dir("funsd", "testing_data")
    image = folder / "images" / "92380595.png"
    template, truth = _bench("funsd_fields").template_for(image)
    marks = {name for name, text in truth.items() if text.lower() == "x"}
    assert len(marks) == 4
    template = template.model_copy(
        update={"fields": [f for f in template.fields if f.name in marks]}
    )
    result = extract_form(
        image.read_bytes(), image.name, {template.form_type: template}, template.form_type
    )
    flagged = {reason.field for reason in result.reasons}
    for name in marks:
        value = result.fields[name].value
        assert (isinstance(value, str) and value.lower() == "x") or name in flagged, name

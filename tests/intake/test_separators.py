"""Separator sheets: which pages are separators, which are blank, and how a scan splits."""

from __future__ import annotations

import io

import numpy as np
import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image, ImageDraw

from adapters.intake import Separator, read_separator, separator_sheet, split_bulk_scan
from adapters.intake.separators import is_blank
from domain.errors import DocumentTooLargeError, UnreadableDocumentError

A4 = (1240, 1754)  # 150 dpi


def _page_with_code(text: str, kind: zxingcpp.BarcodeFormat) -> Image.Image:
    page = Image.new("L", A4, 255)
    made = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, kind), scale=2)
    code = Image.fromarray(np.asarray(made))
    if code.height < 60:  # a linear code: bars of a printable height
        code = code.resize((code.width, 150), Image.Resampling.NEAREST)
    page.paste(code, ((A4[0] - code.width) // 2, 200))
    return page


def _printed_page(seed: int) -> Image.Image:
    """A page with a few lines of print: little ink, but not blank."""
    page = Image.new("L", A4, 255)
    draw = ImageDraw.Draw(page)
    rng = np.random.default_rng(seed)
    for line in range(4):
        draw.text((150, 300 + 60 * line), "Notes: " + "x" * int(rng.integers(20, 40)), fill=0)
    return page


def _speckled_blank(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = np.clip(rng.normal(235, 6, (A4[1], A4[0])), 0, 255).astype(np.uint8)
    for y, x in rng.integers(0, min(A4), (40, 2)):
        pixels[y, x] = 0  # dust: single dark pixels
    return Image.fromarray(pixels)


def _pdf(pages: list[Image.Image]) -> bytes:
    out = io.BytesIO()
    pages[0].save(out, format="PDF", save_all=True, append_images=pages[1:], resolution=150)
    return out.getvalue()


@pytest.mark.parametrize("kind", [zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.Code128,
                                  zxingcpp.BarcodeFormat.DataMatrix])  # fmt: skip
def test_a_qr_code_or_a_barcode_makes_a_separator_and_may_name_the_form(kind) -> None:
    page = _page_with_code("SWITCHOVER:FORM=legal-aid-means", kind)
    assert read_separator(page) == Separator(form_type="legal-aid-means")
    assert read_separator(_page_with_code("SWITCHOVER:SEPARATOR", kind)) == Separator(None)


def test_a_code_that_is_not_ours_is_not_a_separator() -> None:
    foreign = _page_with_code("REF-2026-004417", zxingcpp.BarcodeFormat.Code128)
    assert read_separator(foreign) is None
    assert read_separator(_printed_page(1)) is None


@pytest.mark.parametrize("seed", range(5))
def test_blank_pages_with_scanner_noise_are_blank_and_sparse_print_is_not(seed: int) -> None:
    assert is_blank(_speckled_blank(seed))
    assert not is_blank(_printed_page(seed))
    assert not is_blank(separator_sheet("register-to-vote"))


def test_pages_before_the_first_separator_are_a_document_without_a_form_type() -> None:
    pages = [_printed_page(1), _printed_page(2), separator_sheet("register-to-vote"),
             _printed_page(3), _speckled_blank(4), separator_sheet(None),
             _printed_page(5)]  # fmt: skip
    split = split_bulk_scan(_pdf(pages), "application/pdf", max_pages=100)
    assert split is not None
    assert [(d.pages, d.form_type) for d in split.documents] == [
        ((1, 2), None),
        ((4,), "register-to-vote"),
        ((7,), None),
    ]
    assert (split.separators, split.blank_pages) == (2, 1)
    assert [len(pdfium.PdfDocument(d.data)) for d in split.documents] == [2, 1, 1]


def test_a_scan_without_separators_is_left_whole_and_images_are_not_split() -> None:
    assert split_bulk_scan(_pdf([_printed_page(1), _printed_page(2)]), "application/pdf",
                           max_pages=10) is None  # fmt: skip
    assert split_bulk_scan(b"\x89PNG...", "image/png", max_pages=10) is None


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow, on the broken TIFF
def test_too_many_pages_and_broken_files_are_refused_with_a_reason() -> None:
    with pytest.raises(DocumentTooLargeError, match="3 pages, more than the limit of 2"):
        split_bulk_scan(_pdf([_printed_page(n) for n in range(3)]), "application/pdf", max_pages=2)
    with pytest.raises(UnreadableDocumentError, match="the PDF does not open"):
        split_bulk_scan(b"%PDF-1.4 truncated", "application/pdf", max_pages=2)
    with pytest.raises(UnreadableDocumentError, match="the TIFF does not open"):
        split_bulk_scan(b"II*\x00 truncated", "image/tiff", max_pages=2)


def test_the_printed_sheet_is_read_by_its_barcode_alone_when_its_qr_code_is_covered() -> None:
    sheet = separator_sheet("register-to-vote")
    ImageDraw.Draw(sheet).rectangle((0, 0, A4[0], int(A4[1] * 0.6)), fill=255)
    assert read_separator(sheet) == Separator(form_type="register-to-vote")

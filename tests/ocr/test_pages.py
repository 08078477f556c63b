"""Reading documents into pages, and every kind of bad input naming file and page."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from config.form_template import FormTemplate
from domain.errors import (
    BlankPageError,
    DocumentTooLargeError,
    UnknownFormError,
    UnreadableDocumentError,
    UnsupportedFormatError,
)
from domain.forms import WordSource
from ocr import extract_form, read_words
from ocr.pages import DocumentFormat, RasterPage, TextPage, open_document, sniff_format
from tests.ocr import sample_forms
from tests.ocr.conftest import corpus_dir


def test_formats_from_magic_bytes(clean_page: np.ndarray[Any, Any]) -> None:
    small = clean_page[:200, :200]
    assert sniff_format(sample_forms.encode(small, "PNG")) is DocumentFormat.PNG
    assert sniff_format(sample_forms.encode(small, "JPEG")) is DocumentFormat.JPEG
    assert sniff_format(sample_forms.encode(small, "TIFF")) is DocumentFormat.TIFF
    assert sniff_format(sample_forms.encode(small, "HEIF", dpi=None)) is DocumentFormat.HEIC
    assert sniff_format(b"%PDF-1.7\n") is DocumentFormat.PDF
    assert sniff_format(b"PK\x03\x04 a zip") is None


def test_zero_byte_file() -> None:
    with pytest.raises(UnreadableDocumentError, match="empty") as caught:
        read_words(b"", "empty.pdf")
    assert caught.value.where == "empty.pdf"


def test_truncated_pdf() -> None:
    pdf = sample_forms.digital_pdf()
    with pytest.raises(UnreadableDocumentError, match="truncated") as caught:
        read_words(pdf[: len(pdf) // 2], "cut.pdf")
    assert caught.value.where == "cut.pdf"


def test_truncated_png(clean_page: np.ndarray[Any, Any]) -> None:
    png = sample_forms.encode(clean_page, "PNG")
    with pytest.raises(UnreadableDocumentError, match="truncated") as caught:
        read_words(png[: len(png) // 2], "cut.png")
    assert caught.value.where == "cut.png page 1"


def test_pdf_with_a_password() -> None:
    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, encrypt=pdfencrypt.StandardEncryption("secret", "owner"))
    pdf.drawString(100, 700, "Housing Benefit claim")
    pdf.save()
    with pytest.raises(UnreadableDocumentError, match="password") as caught:
        read_words(buffer.getvalue(), "locked.pdf")
    assert caught.value.where == "locked.pdf"


def test_pdf_encrypted_with_an_empty_password_is_read() -> None:
    path = corpus_dir("gov-forms") / "irs_fw4_2012_encrypted_signed.pdf"
    words = read_words(path)
    assert words.pages[0].source is WordSource.TEXT_LAYER
    assert any("Withholding" in w.text for w in words.pages[0].words)


def test_extension_that_lies(clean_page: np.ndarray[Any, Any]) -> None:
    png = sample_forms.encode(clean_page[:300, :300], "PNG")
    with pytest.raises(UnsupportedFormatError, match="name says pdf but the content is png") as e:
        read_words(png, "scan-001.pdf")
    assert e.value.where == "scan-001.pdf"


def test_unknown_content() -> None:
    with pytest.raises(UnsupportedFormatError, match="not PDF, PNG"):
        read_words(b"PK\x03\x04 a zip archive", "forms.zip")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but carries almost no data: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 100))
        + chunk(b"IEND", b"")
    )


def test_image_over_the_pixel_limit_refused_from_its_header() -> None:
    bomb = _png_header_only(40_000, 40_000)  # 1.6 Gpx: decoding would need 1.6 GB
    with pytest.raises(DocumentTooLargeError) as caught:
        read_words(bomb, "bomb.png")
    assert "bomb.png" in str(caught.value)


def test_multipage_tiff_and_heic(clean_page: np.ndarray[Any, Any]) -> None:
    frames = [Image.fromarray(clean_page), Image.fromarray(clean_page[::-1])]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:], dpi=(300, 300))
    with open_document(buffer.getvalue(), "two.tiff") as document:
        assert document.page_count == 2
        pages = list(document.pages())
    assert [p.number for p in pages] == [1, 2]
    assert all(isinstance(p, RasterPage) and p.dpi == 300 for p in pages)
    heic = sample_forms.encode(clean_page[:400, :400], "HEIF", dpi=None, quality=90)
    with open_document(heic, "photo.heic") as document:
        (page,) = list(document.pages())
    assert isinstance(page, RasterPage)
    assert page.is_photo
    assert page.image.shape == (400, 400)


def test_pdf_mixing_text_and_scanned_pages(clean_page: np.ndarray[Any, Any]) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.drawString(72, 750, "A page typed straight into the PDF, with a text layer")
    pdf.showPage()
    pdf.drawImage(ImageReader(Image.fromarray(clean_page)), 0, 0, *A4)
    pdf.showPage()
    pdf.save()
    with open_document(buffer.getvalue(), "mixed.pdf") as document:
        first, second = list(document.pages())
    assert isinstance(first, TextPage)
    assert first.words[0].confidence == 1.0
    assert isinstance(second, RasterPage)
    assert second.dpi == 300
    words = read_words(buffer.getvalue(), "mixed.pdf")
    assert [p.source for p in words.pages] == [WordSource.TEXT_LAYER, WordSource.OCR]
    assert "Housing" in {w.text for w in words.pages[1].words}


def test_blank_document_and_blank_page_inside(templates: dict[str, FormTemplate]) -> None:
    blank = np.full((3508, 2480), 250, np.uint8)
    with pytest.raises(BlankPageError) as caught:
        read_words(sample_forms.encode(blank, "PNG"), "blank.png")
    assert caught.value.where == "blank.png"

    form = Image.fromarray(sample_forms.render_form())
    buffer = io.BytesIO()
    form.save(buffer, format="TIFF", save_all=True, append_images=[Image.fromarray(blank)])
    words = read_words(buffer.getvalue(), "two.tiff")
    assert words.pages[0].words
    assert not words.pages[1].words

    # A template with a field on page 2, where the page is blank: reported, not fatal.
    two_page = FormTemplate.model_validate(
        sample_forms.TEMPLATE.model_dump()
        | {
            "fields": [
                *sample_forms.TEMPLATE.model_dump()["fields"],
                {"name": "notes", "label": "Notes", "page": 2},
            ]
        }
    )
    result = extract_form(buffer.getvalue(), "two.tiff", {two_page.form_type: two_page})
    assert result.pages == 2
    assert result.needs_review
    assert any(r.code == "blank_page" and "page 2" in r.detail for r in result.reasons)
    assert result.fields["surname"].value == "OKAFOR"


def test_form_matching_no_template(templates: dict[str, FormTemplate]) -> None:
    page = np.full((3508, 2480), 255, np.uint8)
    letter = sample_forms.render_form()[200:600]  # the title only, and a different one
    page[200:600] = letter
    other = FormTemplate.model_validate(
        {
            "form_type": "other",
            "title": "Other",
            "match": {"all_text": ["Blue Badge"]},
            "fields": [{"name": "surname", "label": "Surname"}],
        }
    )
    with pytest.raises(UnknownFormError) as caught:
        extract_form(sample_forms.encode(page, "PNG"), "letter.png", {"other": other})
    assert caught.value.where == "letter.png page 1"


_MEASURE = """
import resource, sys
from pathlib import Path
from ocr import read_words
words = read_words(Path(sys.argv[1]))
assert len(words.pages) == int(sys.argv[2]), len(words.pages)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def _long_pdf(path: Path, pages: int) -> None:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    for number in range(1, pages + 1):
        for line in range(40):
            pdf.drawString(60, 780 - line * 18, f"Page {number} line {line} of a long claim form")
        pdf.showPage()
    pdf.save()


def _peak_rss_mb(path: Path, pages: int) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), str(pages)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_300_page_pdf_in_bounded_memory(tmp_path: Path) -> None:
    short, long = tmp_path / "short.pdf", tmp_path / "long.pdf"
    _long_pdf(short, 10)
    _long_pdf(long, 300)
    # Only the words stay (12,000 of them); pages are parsed and dropped one by one.
    assert _peak_rss_mb(long, 300) < _peak_rss_mb(short, 10) + 120


def test_a_pdf_whose_text_layer_pdfminer_cannot_parse_is_read_from_its_pixels() -> None:
    # pdfplumber finds no pages in this 1040 (its page tree), pdfium draws both.
    path = corpus_dir("gov-forms") / "irs_f1040_2010_prefilled.pdf"
    with open_document(path) as document:
        pages = list(document.pages())
    assert [type(p).__name__ for p in pages] == ["RasterPage", "RasterPage"]
    assert pages[0].image.shape[0] > 3000

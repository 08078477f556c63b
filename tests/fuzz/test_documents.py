"""Document intake before OCR: small PDFs, TIFFs, JPEGs, HEICs and PNGs made here, with
bytes flipped, truncated and spliced, and names that may lie about the content. Opening
one, counting its pages and loading each page gives the page or one of our errors naming
the file."""

from __future__ import annotations

import struct

import pytest

from tests.fuzz.seeds import document_seeds
from tests.fuzz.targets import fuzz


def tiff_second_frame_without_width() -> bytes:
    """The two-page TIFF with its second directory's ImageWidth tag renamed: Pillow
    raised TypeError ("Missing dimensions") while counting the frames."""
    data = bytearray(document_seeds()["pages.tif"])
    first = struct.unpack_from("<I", data, 4)[0]
    entries = struct.unpack_from("<H", data, first)[0]
    second = struct.unpack_from("<I", data, first + 2 + 12 * entries)[0]
    for i in range(struct.unpack_from("<H", data, second)[0]):
        at = second + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == 256:
            struct.pack_into("<H", data, at, 0x7FFF)
    return bytes(data)


def pdf_page_without_media_box() -> bytes:
    """A page with no MediaBox: pdfium draws it, but pdfplumber's close() parsed it and
    raised TypeError on the way out."""
    return document_seeds()["form.pdf"].replace(b"/MediaBox", b"/MeXiaBox", 1)


def pdf_page_that_is_a_font() -> bytes:
    """The page tree's first kid is the font object: pdfium counts two pages and then
    fails to load the first, with a PdfiumError that escaped."""
    return document_seeds()["form.pdf"].replace(b"/Kids [ 3 0 R", b"/Kids [ 2 0 R", 1)


REGRESSIONS = [
    (tiff_second_frame_without_width(), "pages.tif"),
    (pdf_page_without_media_box(), "form.pdf"),
    (pdf_page_that_is_a_font(), "form.pdf"),
]


def test_intake_takes_damaged_documents() -> None:
    fuzz("documents", 150, REGRESSIONS)


def test_a_tiff_of_more_frames_than_pages_allowed_is_too_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from config.settings import Settings
    from domain.errors import DocumentTooLargeError
    from ocr.pages import open_document

    monkeypatch.setattr("ocr.pages.get_settings", lambda: Settings(max_pdf_pages=1))
    with (
        pytest.raises(DocumentTooLargeError, match=r"pages\.tif: the image has 2 frames"),
        open_document(document_seeds()["pages.tif"], "pages.tif"),
    ):
        pass

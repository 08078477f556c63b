"""Separator sheets: a bulk scan of many forms split into one document per form.

A mailroom scans a stack of forms in one go, with a separator sheet before each form. A
separator is a page carrying a QR code or a barcode whose text starts ``SWITCHOVER:``; it
may name the form type of the pages after it (``SWITCHOVER:FORM=register-to-vote``).
Separator sheets are not documents and blank pages (the back of a sheet, a spare page
between forms) are dropped. A scan without any separator is left whole.

Splitting needs only page images and zxing-cpp; the pages of each document are copied
from the original file (PDF pages as they are, TIFF frames losslessly), never re-encoded
from the images read here. The same bulk scan always splits into the same bytes, so the
documents it gives have the same ids however often it arrives.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pypdfium2 as pdfium
import zxingcpp
from PIL import Image, ImageDraw, ImageFont, ImageSequence

from domain.errors import DocumentTooLargeError, UnreadableDocumentError

CODE_PREFIX = "SWITCHOVER:"
FORM_KEY = "FORM="
READ_DPI = 150
"""Resolution pages are read at: enough for a barcode's narrow bars, quick to decode."""
INK_LEVEL = 140
"""A pixel darker than this (0-255) is ink."""
BLANK_INK_FRACTION = 0.0002
"""A page with less ink than this (after removing specks), at the reading resolution, is
blank. A page with four lines of small print carries about 0.07 %, a page of a form
0.2 % or more, a scanned blank page none. Keeping a blank page costs an empty document;
dropping a written one would lose a form: the limit leans towards keeping."""
BLANK_MARGIN = 0.04
"""Edges left out when judging a blank page: scanner shadows, punch holes, staples."""
SPLITTABLE = frozenset({"application/pdf", "image/tiff"})
SEPARATOR_FORMATS = zxingcpp.BarcodeFormats(
    [
        zxingcpp.BarcodeFormat.QRCode,
        zxingcpp.BarcodeFormat.DataMatrix,
        zxingcpp.BarcodeFormat.Code128,
        zxingcpp.BarcodeFormat.Code39,
    ]
)
"""The codes a separator may carry; looking for these only is quicker than for all."""


@dataclass(frozen=True, slots=True)
class Separator:
    """What a separator sheet says about the form after it."""

    form_type: str | None


@dataclass(frozen=True, slots=True)
class SplitDocument:
    """One form cut out of a bulk scan.

    Attributes:
        data: the document's bytes, in the bulk scan's format.
        content_type: ``application/pdf`` or ``image/tiff``.
        pages: the bulk scan's page numbers (1-based) it holds.
        form_type: the form type its separator named, if any.
    """

    data: bytes
    content_type: str
    pages: tuple[int, ...]
    form_type: str | None


@dataclass(frozen=True, slots=True)
class SplitScan:
    """A bulk scan split at its separator sheets."""

    documents: tuple[SplitDocument, ...]
    separators: int
    blank_pages: int


def read_separator(page: Image.Image) -> Separator | None:
    """The separator a page carries, or None when it carries no Switchover code.

    Codes that are not ours (a reference barcode printed on a form) do not make a page a
    separator.
    """
    for code in zxingcpp.read_barcodes(page, formats=SEPARATOR_FORMATS):
        text = code.text.strip()
        if not text.upper().startswith(CODE_PREFIX):
            continue
        rest = text[len(CODE_PREFIX) :].strip()
        if rest.upper().startswith(FORM_KEY):
            form_type = rest[len(FORM_KEY) :].strip()
            return Separator(form_type=form_type or None)
        return Separator(form_type=None)
    return None


def is_blank(page: Image.Image) -> bool:
    """Whether a page carries (almost) no ink: scanner noise and dust specks do not count."""
    # At full resolution: shrinking the page first would fade thin print to grey.
    pixels = np.asarray(page.convert("L"))
    dy, dx = (round(n * BLANK_MARGIN) for n in pixels.shape)
    ink = pixels[dy : pixels.shape[0] - dy, dx : pixels.shape[1] - dx] < INK_LEVEL
    # A speck is ink with no ink beside it; marks on a form are strokes.
    joined = ink[1:-1, 1:-1] & (ink[:-2, 1:-1] | ink[2:, 1:-1] | ink[1:-1, :-2] | ink[1:-1, 2:])
    return float(joined.mean()) < BLANK_INK_FRACTION


def split_bulk_scan(data: bytes, content_type: str, *, max_pages: int) -> SplitScan | None:
    """Split a multi-page PDF or TIFF at its separator sheets.

    Args:
        data: the file's bytes.
        content_type: its media type (from its magic bytes).
        max_pages: refuse a file with more pages than this.

    Returns:
        The documents, or None when the file has no separator (or is not a PDF or TIFF):
        then it is one document as it is.

    Raises:
        UnreadableDocumentError: the file does not open.
        DocumentTooLargeError: more than ``max_pages`` pages.
    """
    if content_type not in SPLITTABLE:
        return None
    groups: list[tuple[Separator | None, list[int]]] = []
    separators = blanks = 0
    current: tuple[Separator | None, list[int]] = (None, [])
    for index, page in enumerate(_page_images(data, content_type, max_pages)):
        found = read_separator(page)
        if found is not None:
            separators += 1
            groups.append(current)
            current = (found, [])
        elif is_blank(page):
            blanks += 1
        else:
            current[1].append(index)
    groups.append(current)
    if separators == 0:
        return None
    documents = tuple(
        SplitDocument(
            data=_copy_pages(data, content_type, indices),
            content_type=content_type,
            pages=tuple(i + 1 for i in indices),
            form_type=separator.form_type if separator else None,
        )
        for separator, indices in groups
        if indices
    )
    return SplitScan(documents=documents, separators=separators, blank_pages=blanks)


def _page_images(data: bytes, content_type: str, max_pages: int) -> Iterator[Image.Image]:
    if content_type == "application/pdf":
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as e:
            raise UnreadableDocumentError(f"the PDF does not open: {e}") from e
        with pdf:
            _check_pages(len(pdf), max_pages)
            for index in range(len(pdf)):
                page = pdf[index]
                try:
                    yield page.render(scale=READ_DPI / 72, grayscale=True).to_pil()
                finally:
                    page.close()
        return
    try:
        image = Image.open(io.BytesIO(data))
        _check_pages(getattr(image, "n_frames", 1), max_pages)
        for frame in ImageSequence.Iterator(image):
            yield _at_read_dpi(frame)
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise UnreadableDocumentError(f"the TIFF does not open: {e}") from e


def _check_pages(count: int, max_pages: int) -> None:
    if count > max_pages:
        raise DocumentTooLargeError(f"{count} pages, more than the limit of {max_pages}")
    if count == 0:
        raise UnreadableDocumentError("the file has no pages")


def _at_read_dpi(frame: Image.Image) -> Image.Image:
    grey = frame.convert("L")
    dpi = frame.info.get("dpi", (300, 300))[0] or 300
    if dpi > READ_DPI:
        size = (round(grey.width * READ_DPI / dpi), round(grey.height * READ_DPI / dpi))
        grey = grey.resize(size, Image.Resampling.BOX)
    return grey


def _copy_pages(data: bytes, content_type: str, indices: list[int]) -> bytes:
    out = io.BytesIO()
    if content_type == "application/pdf":
        source = pdfium.PdfDocument(data)
        target = pdfium.PdfDocument.new()
        try:
            target.import_pages(source, pages=indices)
            target.save(out)
        finally:
            target.close()
            source.close()
        return _fixed_id(out.getvalue(), data, indices)
    image = Image.open(io.BytesIO(data))
    frames = []
    for index in indices:
        image.seek(index)
        frames.append(image.copy())
    compression = "group4" if all(f.mode == "1" for f in frames) else "tiff_deflate"
    frames[0].save(out, format="TIFF", save_all=True, append_images=frames[1:],
                   compression=compression, dpi=image.info.get("dpi", (300, 300)))  # fmt: skip
    return out.getvalue()


_TRAILER_ID = re.compile(rb"/ID\s*\[\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*\]")
_CREATED = re.compile(rb"/CreationDate\s*\(D:(\d{14})")


def _fixed_id(pdf: bytes, source: bytes, indices: list[int]) -> bytes:
    """The PDF with the time it was written and its random file identifier replaced by
    the bulk scan's own date and an identifier derived from the scan and the pages taken
    (the same lengths, so the cross-reference offsets hold): the same bulk scan then
    splits into the same bytes, hence the same document ids, however often it arrives."""
    scanned = _CREATED.search(source)
    when = scanned.group(1) if scanned else b"20000101000000"
    pdf = _CREATED.sub(lambda m: m.group(0)[: -len(m.group(1))] + when, pdf)
    trailers = list(_TRAILER_ID.finditer(pdf))
    if not trailers:
        return pdf
    found = trailers[-1]  # the last trailer's is the one that counts
    seed = hashlib.sha256(source + repr(indices).encode()).hexdigest().upper()
    parts = [pdf[: found.start(1)]]
    for group in (1, 2):
        width = found.end(group) - found.start(group)
        parts.append((seed * (width // len(seed) + 1))[:width].encode())
        parts.append(pdf[found.end(group) : found.start(2)] if group == 1 else pdf[found.end(2) :])
    return b"".join(parts)


# --- printing separator sheets ---------------------------------------------------------

SHEET_DPI = 150
A4_INCHES = (8.27, 11.69)


def separator_text(form_type: str | None) -> str:
    """The text a separator's codes carry."""
    return f"{CODE_PREFIX}{FORM_KEY}{form_type}" if form_type else f"{CODE_PREFIX}SEPARATOR"


def separator_sheet(form_type: str | None = None) -> Image.Image:
    """A separator sheet as an A4 page image: a QR code, the same text as a Code 128
    barcode (for scanners that read only linear codes) and the words for people."""
    width, height = (round(SHEET_DPI * inches) for inches in A4_INCHES)
    page = Image.new("L", (width, height), 255)
    text = separator_text(form_type)
    qr = zxingcpp.write_barcode_to_image(
        zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode), scale=12
    )
    qr_image = Image.fromarray(np.asarray(qr))
    page.paste(qr_image, ((width - qr_image.width) // 2, round(height * 0.22)))
    bars = zxingcpp.write_barcode_to_image(
        zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.Code128), scale=2
    )
    bar_image = Image.fromarray(np.asarray(bars))
    bar_image = bar_image.resize((bar_image.width, 150), Image.Resampling.NEAREST)
    page.paste(bar_image, ((width - bar_image.width) // 2, round(height * 0.68)))
    draw = ImageDraw.Draw(page)
    font = _font(56)
    small = _font(30)
    _centred(draw, "SEPARATOR SHEET", round(height * 0.08), width, font)
    heading = f"Form: {form_type}" if form_type else "Next form: any type"
    _centred(draw, heading, round(height * 0.15), width, small)
    _centred(draw, "Scan it on top of the form. It is not kept as a document.",
             round(height * 0.85), width, small)  # fmt: skip
    return page


def separator_sheet_pdf(form_type: str | None = None) -> bytes:
    """A printable separator sheet (A4 PDF)."""
    out = io.BytesIO()
    separator_sheet(form_type).save(out, format="PDF", resolution=SHEET_DPI)
    return out.getvalue()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def _centred(
    draw: ImageDraw.ImageDraw,
    text: str,
    top: int,
    width: int,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> None:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    draw.text(((width - (right - left)) // 2, top), text, fill=0, font=font)

"""Documents into pages: format detection, PDF text layers, rasterising, image decoding.

A document is read lazily, one page at a time, so a 300-page PDF never sits in memory
whole. Every failure to read becomes a domain error naming the file (and page).
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pdfplumber
import pillow_heif
import pypdfium2 as pdfium
from PIL import Image, ImageOps, UnidentifiedImageError

from config.log import get_logger
from config.settings import get_settings
from domain.errors import (
    DocumentTooLargeError,
    UnreadableDocumentError,
    UnsupportedFormatError,
)
from domain.forms import Word

pillow_heif.register_heif_opener()
log = get_logger(__name__)

Source = bytes | Path
"""A document's content, or the path to it (read lazily)."""

PDF_RENDER_DPI = 300


class DocumentFormat(StrEnum):
    PDF = "pdf"
    PNG = "png"
    JPEG = "jpeg"
    TIFF = "tiff"
    HEIC = "heic"


_EXTENSIONS: dict[str, DocumentFormat] = {
    ".pdf": DocumentFormat.PDF,
    ".png": DocumentFormat.PNG,
    ".jpg": DocumentFormat.JPEG,
    ".jpeg": DocumentFormat.JPEG,
    ".tif": DocumentFormat.TIFF,
    ".tiff": DocumentFormat.TIFF,
    ".heic": DocumentFormat.HEIC,
    ".heif": DocumentFormat.HEIC,
}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
# Formats a phone camera produces: these may show a page on a table, at an angle.
_PHOTO_FORMATS = {DocumentFormat.JPEG, DocumentFormat.HEIC}


@dataclass(frozen=True)
class RasterPage:
    """A page as an image: a scan, a photo, or a PDF page without a usable text layer.

    Attributes:
        number: 1-based page number.
        image: 8-bit grayscale pixels.
        dpi: the resolution the source declares, or None when it does not say.
        is_photo: whether it came from a camera format (may need the page found in it).
    """

    number: int
    image: np.ndarray[Any, np.dtype[np.uint8]]
    dpi: int | None
    is_photo: bool = False


@dataclass(frozen=True)
class TextPage:
    """A PDF page whose text layer is read as it is, without OCR.

    Attributes:
        number: 1-based page number.
        words: the text layer's words, boxes as fractions of the page, confidence 1.
        width_pt: page width in PDF points.
        height_pt: page height in PDF points.
        render: rasterises the page at a given dpi (for checkboxes); valid while the
            document is open.
    """

    number: int
    words: list[Word]
    width_pt: float
    height_pt: float
    render: Callable[[int], np.ndarray[Any, np.dtype[np.uint8]]]


Page = RasterPage | TextPage


def sniff_format(head: bytes) -> DocumentFormat | None:
    """The format a file's first bytes show, or None for anything we do not read."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return DocumentFormat.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return DocumentFormat.JPEG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return DocumentFormat.TIFF
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return DocumentFormat.HEIC
    # The PDF header may follow some junk, within the first kilobyte.
    if b"%PDF-" in head[:1024]:
        return DocumentFormat.PDF
    return None


def detect_format(head: bytes, name: str) -> DocumentFormat:
    """The real format of a file, checked against what its name claims.

    Raises:
        UnreadableDocumentError: the file is empty.
        UnsupportedFormatError: the content is of no kind we read, or the extension
            names a different kind than the content is.
    """
    if not head:
        raise UnreadableDocumentError("the file is empty (0 bytes)", where=name)
    actual = sniff_format(head)
    claimed = _EXTENSIONS.get(Path(name).suffix.lower())
    if actual is None:
        said = f" (its name says {claimed})" if claimed else ""
        raise UnsupportedFormatError(
            f"content is not PDF, PNG, JPEG, TIFF or HEIC{said}", where=name
        )
    if claimed is not None and claimed is not actual:
        raise UnsupportedFormatError(
            f"the name says {claimed} but the content is {actual}", where=name
        )
    return actual


class Document:
    """An open document: its format, page count and pages, read lazily.

    Use through ``open_document``; pages are only valid while it is open.
    """

    def __init__(self, source: Source, name: str, stack: ExitStack) -> None:
        self.name = name
        self._source = source
        self._stack = stack
        self.format = detect_format(_head(source, name), name)
        self._max_pixels = get_settings().max_image_pixels
        self._pdf: pdfium.PdfDocument | None = None
        self._plumber: Any = None
        self._image: Image.Image | None = None
        self._frames = 1
        if self.format is DocumentFormat.PDF:
            self._open_pdf()
        else:
            self._open_image()

    @property
    def source(self) -> Source:
        """The bytes or path the document was opened from (for readers of its own, such
        as the form fields of a fillable PDF)."""
        return self._source

    # --- opening ---------------------------------------------------------------------

    def _open_pdf(self) -> None:
        try:
            pdf_input = str(self._source) if isinstance(self._source, Path) else self._source
            self._pdf = pdfium.PdfDocument(pdf_input)
        except pdfium.PdfiumError as e:
            if "password" in str(e).lower():
                raise UnreadableDocumentError(
                    "the PDF is encrypted with a password", where=self.name
                ) from e
            raise UnreadableDocumentError(
                f"the PDF is truncated or corrupt ({e})", where=self.name
            ) from e
        self._stack.callback(self._pdf.close)
        pages = len(self._pdf)
        if pages == 0:
            raise UnreadableDocumentError("the PDF has no pages", where=self.name)
        if pages > get_settings().max_pdf_pages:
            raise DocumentTooLargeError(
                f"the PDF has {pages} pages, over the limit of {get_settings().max_pdf_pages}",
                where=self.name,
            )
        try:
            self._plumber = pdfplumber.open(self._stream())
        except Exception as e:  # pdfminer raises many unrelated types on broken files
            raise UnreadableDocumentError(f"cannot read the PDF ({e})", where=self.name) from e
        self._stack.callback(_close_quietly, self._plumber.close, self.name)

    def _open_image(self) -> None:
        try:
            with warnings.catch_warnings():
                # We apply our own limit below, from the header, before decoding.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(self._stream())
        except Image.DecompressionBombError as e:
            raise DocumentTooLargeError(str(e), where=self.name) from e
        except UnidentifiedImageError as e:
            raise UnreadableDocumentError(f"cannot decode the image ({e})", where=self.name) from e
        except Exception as e:  # Pillow's plugins raise many types on a damaged header
            raise UnreadableDocumentError(
                f"cannot decode the image ({type(e).__name__}: {e})", where=self.name
            ) from e
        self._stack.callback(image.close)
        self._image = image
        try:
            self._frames = int(getattr(image, "n_frames", 1))
        except Exception as e:  # counting TIFF frames walks every directory of the file
            raise UnreadableDocumentError(
                f"cannot count the image's frames ({type(e).__name__}: {e})", where=self.name
            ) from e
        # A TIFF's frames are its pages: the same limit as a PDF's.
        if self._frames > get_settings().max_pdf_pages:
            raise DocumentTooLargeError(
                f"the image has {self._frames} frames, over the limit of "
                f"{get_settings().max_pdf_pages} pages",
                where=self.name,
            )

    def _stream(self) -> Any:
        if isinstance(self._source, Path):
            return self._stack.enter_context(self._source.open("rb"))
        return io.BytesIO(self._source)

    # --- pages -----------------------------------------------------------------------

    @property
    def page_count(self) -> int:
        """How many pages the document has (frames, for TIFF)."""
        if self._pdf is not None:
            return len(self._pdf)
        return self._frames

    def pages(self, numbers: list[int] | None = None) -> Iterator[Page]:
        """The pages, one at a time, in order.

        Args:
            numbers: 1-based page numbers to read; all pages when None.

        Raises:
            UnreadableDocumentError, DocumentTooLargeError: naming file and page.
        """
        wanted = numbers if numbers is not None else range(1, self.page_count + 1)
        for number in wanted:
            if not 1 <= number <= self.page_count:
                raise UnreadableDocumentError(
                    f"there is no page {number} (of {self.page_count})", where=self.name
                )
            yield self.page(number)

    def page(self, number: int) -> Page:
        """One page, by its 1-based number."""
        where = f"{self.name} page {number}"
        if self._pdf is not None:
            return self._pdf_page(number, where)
        return self._image_page(number, where)

    def _pdf_page(self, number: int, where: str) -> Page:
        assert self._pdf is not None
        try:
            plumber_page = self._plumber.pages[number - 1]
            try:
                words = _text_layer_words(plumber_page)
            finally:
                # Frees the page's parsed objects: memory stays bounded over long PDFs.
                plumber_page.close()
        except Exception as e:  # pdfminer's errors on damaged content streams vary
            # pdfminer cannot parse every PDF that pdfium draws (a page tree it does not
            # follow, a damaged content stream): the page is then read from its pixels.
            log.warning(
                "text layer unreadable, page rendered",
                file=self.name,
                page=number,
                error=type(e).__name__,
            )
            words = None
        pdf_page = self._load_page(number, where)
        try:
            width_pt, height_pt = pdf_page.get_size()
        finally:
            pdf_page.close()

        def render(dpi: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
            return self._render(number, dpi, where)

        if words is not None:
            return TextPage(number, words, width_pt, height_pt, render)
        return RasterPage(number, render(PDF_RENDER_DPI), PDF_RENDER_DPI)

    def _load_page(self, number: int, where: str) -> Any:
        """A pdfium page (close it after use); its object may be missing or damaged."""
        assert self._pdf is not None
        try:
            return self._pdf[number - 1]
        except pdfium.PdfiumError as e:
            raise UnreadableDocumentError(f"cannot load the page ({e})", where=where) from e

    def _render(self, number: int, dpi: int, where: str) -> np.ndarray[Any, np.dtype[np.uint8]]:
        page = self._load_page(number, where)
        width_pt, height_pt = page.get_size()
        pixels = (width_pt * dpi / 72) * (height_pt * dpi / 72)
        if pixels > self._max_pixels:
            raise DocumentTooLargeError(
                f"the page would be {pixels / 1e6:.0f} Mpx at {dpi} dpi, "
                f"over the limit of {self._max_pixels / 1e6:.0f} Mpx",
                where=where,
            )
        try:
            bitmap = page.render(scale=dpi / 72, grayscale=True)
            pixels_array = np.array(bitmap.to_numpy(), dtype=np.uint8, copy=True)
        except pdfium.PdfiumError as e:
            raise UnreadableDocumentError(f"cannot rasterise the page ({e})", where=where) from e
        finally:
            page.close()
        if pixels_array.ndim == 3:
            pixels_array = pixels_array[:, :, 0]
        return pixels_array

    def _image_page(self, number: int, where: str) -> RasterPage:
        image = self._image
        assert image is not None
        try:
            image.seek(number - 1)
        except Exception as e:  # EOFError, OSError, and whatever a damaged directory gives
            raise UnreadableDocumentError(
                f"cannot read the frame ({type(e).__name__}: {e})", where=where
            ) from e
        width, height = image.size
        if width * height > self._max_pixels:
            raise DocumentTooLargeError(
                f"the image is {width}×{height} px, over the limit of "
                f"{self._max_pixels / 1e6:.0f} Mpx",
                where=where,
            )
        try:
            frame = image.copy() if self.page_count > 1 else image
            frame.load()
            frame = ImageOps.exif_transpose(frame) or frame
            gray = _to_gray(frame)
        except MemoryError as e:
            raise DocumentTooLargeError("the image is too large to decode", where=where) from e
        except Exception as e:  # decoders raise OSError mostly, but not only
            raise UnreadableDocumentError(
                f"cannot decode the image ({type(e).__name__}: {e}); is it truncated?",
                where=where,
            ) from e
        return RasterPage(
            number, gray, _declared_dpi(image.info), is_photo=self.format in _PHOTO_FORMATS
        )


@contextmanager
def open_document(source: Source, name: str | None = None) -> Iterator[Document]:
    """Open a document for reading its pages.

    Args:
        source: the file's bytes, or its path.
        name: the file name used in errors and to check the extension; defaults to
            the path's name.

    Raises:
        UnreadableDocumentError: empty, truncated, corrupt or password-protected.
        UnsupportedFormatError: not a kind we read, or the extension lies.
        DocumentTooLargeError: too many pages.
    """
    display = name or (source.name if isinstance(source, Path) else "document")
    with ExitStack() as stack:
        yield Document(source, display, stack)


def _close_quietly(close: Callable[[], object], name: str) -> None:
    """Close a reader whose own close may trip over the damage it was opened on
    (pdfplumber's parses every page it has not parsed yet)."""
    try:
        close()
    except Exception as e:
        log.warning("reader not closed cleanly", file=name, error=type(e).__name__)


def _head(source: Source, name: str) -> bytes:
    if isinstance(source, bytes):
        return source[:1024]
    try:
        with source.open("rb") as f:
            return f.read(1024)
    except OSError as e:
        raise UnreadableDocumentError(f"cannot open the file ({e.strerror})", where=name) from e


# A text layer is usable when it has enough real words; scanned PDFs often carry none,
# or a few stray characters (a stamp, a page number) over a full-page image.
_MIN_TEXT_WORDS = 3
_MIN_TEXT_WORDS_OVER_IMAGE = 25
_LEGIBLE = re.compile(r"[A-Za-z0-9]{2,}")


def _text_layer_words(page: Any) -> list[Word] | None:
    """The page's text-layer words, or None when the page should be OCRed instead."""
    raw = page.extract_words(keep_blank_chars=False, use_text_flow=False, x_tolerance=1.5)
    legible = [w for w in raw if _LEGIBLE.search(w["text"]) and "(cid:" not in w["text"]]
    if len(legible) < _MIN_TEXT_WORDS:
        return None
    if len(legible) < _MIN_TEXT_WORDS_OVER_IMAGE and _mostly_image(page):
        return None
    x_origin, y_origin = float(page.bbox[0]), float(page.bbox[1])
    width, height = float(page.width), float(page.height)
    words = []
    for w in raw:
        x0 = _fraction(float(w["x0"]) - x_origin, width)
        x1 = _fraction(float(w["x1"]) - x_origin, width)
        y0 = _fraction(float(w["top"]) - y_origin, height)
        y1 = _fraction(float(w["bottom"]) - y_origin, height)
        if x1 > x0 and y1 > y0:
            words.append(Word(text=w["text"], confidence=1.0, bbox=(x0, y0, x1, y1)))
    return words


def _mostly_image(page: Any) -> bool:
    area = float(page.width) * float(page.height)
    covered = sum(
        max(0.0, float(i["x1"]) - float(i["x0"])) * max(0.0, float(i["bottom"]) - float(i["top"]))
        for i in page.images
    )
    return covered > 0.5 * area


def _fraction(value: float, whole: float) -> float:
    return min(1.0, max(0.0, value / whole))


def _to_gray(image: Image.Image) -> np.ndarray[Any, np.dtype[np.uint8]]:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas are paper, not black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode.startswith("I;16") or image.mode == "I":
        array = np.asarray(image, dtype=np.float64)
        top = array.max() or 1.0
        return np.asarray(array * (255.0 / top), dtype=np.uint8)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def _declared_dpi(info: Mapping[Any, Any]) -> int | None:
    dpi = info.get("dpi")
    if not dpi:
        return None
    try:
        value = round(float(dpi[0]))
    except (TypeError, ValueError, IndexError):
        return None
    # 72 (and 96) are what software writes when it knows nothing; 1 is JFIF's "aspect only".
    return value if value >= 100 and value not in (72, 96) else None

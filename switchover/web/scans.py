"""Page images for the review screen: a stored document's page as a PNG a browser shows.

Pages are read and prepared by the same code the pipeline uses (``ocr.pages`` reads
PDFs with pypdfium2, TIFF frames, HEIC photos; ``ocr.reading.prepare`` finds the page in a
photo, turns and deskews it). The field boxes are fractions of that prepared page, so
they land on the image shown where the pipeline found them.
"""

from __future__ import annotations

import io

from PIL import Image

from adapters.storage import open_store
from config.settings import Settings
from ocr.engines import engine_for
from ocr.pages import RasterPage, open_document
from ocr.reading import OcrOptions, prepare

# Wide enough to read handwriting beside the field list on a laptop; small enough to send.
MAX_WIDTH_PX = 1400
PDF_DPI = 150


def page_png(settings: Settings, storage_key: str, filename: str, page: int) -> bytes:
    """Page ``page`` (1-based) of a stored document, as PNG bytes.

    Raises:
        NotFoundError: the document is not in storage.
        BadInputError: the page does not exist, or the document cannot be read.
    """
    data = open_store(settings.resolved_storage_url, settings).get(storage_key)
    with open_document(data, filename) as document:
        found = document.page(page)
        if isinstance(found, RasterPage):
            options = OcrOptions(page_engine=settings.ocr_page_engine)
            pixels, _dpi = prepare(found, engine_for(options.page_engine), options)
        else:
            pixels = found.render(PDF_DPI)
    image = Image.fromarray(pixels)
    if image.width > MAX_WIDTH_PX:
        image = image.resize(
            (MAX_WIDTH_PX, round(image.height * MAX_WIDTH_PX / image.width)),
            Image.Resampling.LANCZOS,
        )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()

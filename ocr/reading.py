"""One page, read: the preprocessing chain, then OCR (or the PDF's text layer).

``read_page`` is the unit of work a process in the pool runs. It keeps the cleaned,
deskewed page image, because field extraction crops values out of it and reads them
again, one line at a time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from config.settings import get_settings
from domain.forms import PageWords, Word, WordSource
from ocr import preprocess
from ocr.boxes import Box, BoxKind, find_boxes
from ocr.engines import GrayImage, OcrEngine, OcrWord, PageSegMode, PixelBox, engine_for
from ocr.pages import PDF_RENDER_DPI, Page, RasterPage, TextPage
from ocr.word_vote import same_place, voted_words

# A page where fewer than this share of the words read are confident may be upside down.
_MIN_CONFIDENT_SHARE = 0.5
_CONFIDENT = 0.6
# A scan made at less than this (dpi) is coarse (``ReadPage.coarse``): fax, the 100-dpi
# scans of old archives and an office scanner's 150-dpi setting (where Tesseract read a
# typed 0 as 9 at 0.99), as against 200-300 dpi scans and a phone's photo of a whole
# page (about 200-210 dpi once the page is found).
COARSE_DPI = 175
# A speck count above this share of the ink calls for a median filter.
_NOISY = 0.15
_LEGIBLE = re.compile(r"[A-Za-z0-9]{2,}")
# Unread print is looked for on a copy reduced this many times, ignoring runs of ink
# longer than this (inches): ruled lines, not letters.
_UNREAD_REDUCTION = 3
_UNREAD_LINE_IN = 0.3
# A word this many times as tall as the page's usual word, read surely but less surely
# than print (``_SURE_PRINT``), is handwriting: its box may hold a caption it swallowed.
# What is read there is the caption when it is at most this share of the word's height.
_TALL_WORD = 1.8
_SURE_PRINT = 0.95
_CAPTION = 0.5


@dataclass(frozen=True)
class OcrOptions:
    """How pages are read. Defaults come from settings where settings say.

    Attributes:
        page_engine: engine for whole pages (``tesserocr`` in process, or ``tesseract``).
        field_engine: engine for field crops, read one line at a time.
        second_engine: engine asked for a second reading of a crop ``field_engine`` is
            unsure of, to vote with it (``rapidocr`` reads handwriting); None: none.
        target_dpi: resolution pages are normalised to before OCR.
        label_dpi: resolution of the whole-page pass when extracting a form: it only has
            to find the printed labels, and values are re-read from crops at
            ``target_dpi``, so a lower resolution saves time.
    """

    page_engine: str = "tesserocr"
    field_engine: str = "tesserocr"
    second_engine: str | None = "rapidocr"
    target_dpi: int = preprocess.TARGET_DPI
    label_dpi: int = 200

    @classmethod
    def from_settings(cls) -> OcrOptions:
        """Options from settings (``ocr_page_engine``, ``ocr_field_engine``,
        ``ocr_second_engine``)."""
        settings = get_settings()
        return cls(
            page_engine=settings.ocr_page_engine,
            field_engine=settings.ocr_field_engine,
            second_engine=settings.ocr_second_engine or None,
        )


@dataclass
class ReadPage:
    """A page after reading: its words and, for OCRed pages, the cleaned image.

    Attributes:
        number: 1-based page number.
        source: OCR or the PDF's text layer.
        words: boxes as fractions of ``image``'s page.
        dpi: resolution of ``image``.
        blank: nothing legible was found.
        coarse: the scan's own resolution was under ``COARSE_DPI``, and it was scaled up
            to be read: letters of a few pixels, where Tesseract is sure of misreadings
            (on FUNSD's 100-dpi forms, "Bell" as "Beil" at 0.989).
    """

    number: int
    source: WordSource
    words: list[Word]
    dpi: int
    width_px: int
    height_px: int
    blank: bool = False
    coarse: bool = False
    _image: GrayImage | None = field(default=None, repr=False)
    _text_page: TextPage | None = field(default=None, repr=False)
    _boxes: list[Box] | None = field(default=None, repr=False)

    def image(self) -> GrayImage:
        """The page's pixels (a text-layer page is rasterised on first use)."""
        if self._image is None:
            assert self._text_page is not None
            self._image = self._text_page.render(self.dpi)
        return self._image

    def boxes(self) -> list[Box]:
        """The boxes printed on the page (pixels of ``image()``), found on first use."""
        if self._boxes is None:
            self._boxes = find_boxes(self.image(), self.dpi)
        return self._boxes

    def to_page_words(self) -> PageWords:
        """The ``switchover ocr --json`` view of this page."""
        return PageWords(
            page=self.number,
            source=self.source,
            width_px=self.width_px,
            height_px=self.height_px,
            words=self.words,
        )


def read_page(page: Page, options: OcrOptions, *, for_fields: bool = False) -> ReadPage:
    """Read one page: the text layer when it has one, else preprocess and OCR.

    Args:
        page: from ``Document.pages``.
        options: engines and resolutions.
        for_fields: the words only serve to find labels (values are re-read from crops),
            so the whole-page pass may run at ``options.label_dpi``.

    Raises:
        OcrEngineError: Tesseract failed.
    """
    if isinstance(page, TextPage):
        return _read_text_page(page)
    return _read_raster_page(page, options, for_fields=for_fields)


def _read_text_page(page: TextPage) -> ReadPage:
    # Checkbox ink is measured on a render at modest resolution: it is enough for ink.
    dpi = 150
    return ReadPage(
        number=page.number,
        source=WordSource.TEXT_LAYER,
        words=page.words,
        dpi=dpi,
        width_px=round(page.width_pt * PDF_RENDER_DPI / 72),
        height_px=round(page.height_pt * PDF_RENDER_DPI / 72),
        blank=not any(_LEGIBLE.search(w.text) for w in page.words),
        _text_page=page,
    )


def prepare(page: RasterPage, engine: OcrEngine, options: OcrOptions) -> tuple[GrayImage, int]:
    """The preprocessing chain: page finding (photos), resolution, orientation, skew,
    noise.

    Returns:
        The cleaned image and its dpi.
    """
    image, dpi, _own_dpi = _prepared(page, engine, options)
    return image, dpi


def _prepared(
    page: RasterPage, engine: OcrEngine, options: OcrOptions
) -> tuple[GrayImage, int, int]:
    """``prepare``, also giving the page's own resolution before it was scaled."""
    image = page.image
    if page.is_photo:
        image = preprocess.flatten_lighting(preprocess.find_page(image))
    own_dpi = preprocess.effective_dpi(image, page.dpi)
    image, dpi = preprocess.normalise_resolution(image, own_dpi, options.target_dpi)
    if preprocess.is_blank(image):
        return image, dpi, own_dpi
    if not preprocess.text_runs_across(image):
        image = _turn_upright(image, dpi, engine)
    image = preprocess.deskew(image, preprocess.skew_angle(image))
    if preprocess.noise_level(image) > _NOISY:
        image = preprocess.remove_specks(image)
    image = preprocess.lighten_dark_bars(image, dpi)
    return preprocess.remove_leaders(image, dpi), dpi, own_dpi


def _read_raster_page(page: RasterPage, options: OcrOptions, *, for_fields: bool) -> ReadPage:
    engine = engine_for(options.page_engine)
    image, dpi, own_dpi = _prepared(page, engine, options)
    height, width = image.shape[:2]
    coarse = own_dpi < COARSE_DPI
    result = ReadPage(
        page.number, WordSource.OCR, [], dpi, width, height, coarse=coarse, _image=image
    )
    if preprocess.is_blank(image):
        result.blank = True
        return result
    words = _ocr(image, dpi, engine, options, for_fields=for_fields)
    if _looks_misread(words):
        # Mostly unsure words: the page may be upside down. Only now pay for OSD.
        turned = _turn_upright(image, dpi, engine)
        if turned is not image:
            turned_words = _ocr(turned, dpi, engine, options, for_fields=for_fields)
            if _confident_words(turned_words) > _confident_words(words):
                image, words = turned, turned_words
                height, width = image.shape[:2]
    result.words = [_as_word(w, width, height) for w in words]
    result.width_px, result.height_px = width, height
    result._image = image
    result.blank = not any(w.confidence >= 0.5 and _LEGIBLE.search(w.text) for w in result.words)
    return result


def read_in_full(page: ReadPage, options: OcrOptions) -> bool:
    """Read an OCRed page's words again at its full resolution, when the first pass
    ran at ``options.label_dpi``.

    For when the reduced pass was not enough to recognise the form: on some phone
    photos it drops a line of small print that the form's match rules need.

    Returns:
        Whether the words were read again (and replaced).
    """
    if page.source is not WordSource.OCR or page.blank or page.dpi <= options.label_dpi * 1.1:
        return False
    words = engine_for(options.page_engine).read(page.image(), dpi=page.dpi)
    page.words = [_as_word(w, page.width_px, page.height_px) for w in words]
    return True


def read_twice(page: ReadPage, options: OcrOptions) -> bool:
    """Read an OCRed page again with ``options.second_engine`` and keep, place by
    place, the words of the engine surer of them (``ocr.word_vote``).

    For the words of a whole page (``read_words``): on worn and handwritten scans the
    second engine recalls words Tesseract misses or misreads. It costs a few seconds a
    page, so field extraction, which reads values again from their crops, does not.

    Returns:
        Whether the page was read again.
    """
    if options.second_engine is None or page.source is not WordSource.OCR or page.blank:
        return False
    image = page.image()
    first = [_as_pixels(w, page.width_px, page.height_px) for w in page.words]
    second = engine_for(options.second_engine).read(image, dpi=page.dpi)
    page.words = [_as_word(w, page.width_px, page.height_px) for w in voted_words(first, second)]
    return True


def read_sparsely(page: ReadPage, options: OcrOptions) -> bool:
    """Look once more for words the page's layout analysis dropped, and add them.

    For when a form's labels were not found: Tesseract's page layout sometimes drops
    a line of small print between boxes whole (a photo's blur makes it likelier).
    Reading for scattered text (sparse mode) finds most such lines. Only ink where
    nothing was surely read before is read again, at full resolution: a few lines of
    the page rather than all of it. A word read where nothing was is added; one read
    where the first reading was unsure replaces that reading if it is surer. Captions
    that a line of handwriting below them swallowed are looked for too
    (``_captions_under``).

    Returns:
        Whether any word was added.
    """
    if page.source is not WordSource.OCR or page.blank:
        return False
    engine = engine_for(options.page_engine)
    image = page.image()
    sure = [w for w in page.words if w.confidence >= _CONFIDENT]
    added: list[Word] = []
    for x0, y0, x1, y1 in unread_ink(image, page.dpi, sure, page.boxes()):
        crop = image[y0:y1, x0:x1]
        found = engine.read(crop, dpi=page.dpi, mode=PageSegMode.SPARSE)
        if not any(_LEGIBLE.search(w.text) for w in found):
            # Nothing legible: read again without the walls of the box it may stand in (a
            # caption printed in a box's corner was read as nothing with the walls at the
            # crop's edges).
            crop = preprocess.remove_lines(crop)
            found = engine.read(crop, dpi=page.dpi, mode=PageSegMode.SPARSE)
        placed = (
            OcrWord(w.text, w.confidence, _shifted(w.box, x0, y0), w.weakest_char) for w in found
        )
        added += [
            word
            for word in (_as_word(w, page.width_px, page.height_px) for w in placed)
            if _LEGIBLE.search(word.text) and not any(_overlap(word, w) for w in sure)
        ]
    added += _captions_under(page, engine, added)
    # A word read again more surely replaces the unsure reading it overlaps.
    unsure = [w for w in page.words if w.confidence < _CONFIDENT]
    replaced = {
        id(w) for w in unsure if any(_overlap(w, a) and a.confidence > w.confidence for a in added)
    }
    left = [w for w in unsure if id(w) not in replaced]
    added = [a for a in added if not any(_overlap(a, w) for w in left)]
    page.words = [w for w in page.words if id(w) not in replaced] + added
    return bool(added)


def _captions_under(page: ReadPage, engine: OcrEngine, added: list[Word]) -> list[Word]:
    """Captions printed small in a box's corner that a line of handwriting just below
    them swallowed: Tesseract read the two as one line and gave a word for the
    handwriting only, its box over the caption too, so no ink there is unread. Each
    tall word read surely (as print is not) is read again sparsely, and the words much
    smaller than it that stand where no word was read are the caption's."""
    heights = sorted(_height(w) for w in page.words)
    if not heights:
        return []
    usual = heights[len(heights) // 2]
    image = page.image()
    height_px, width_px = image.shape[:2]
    pad = round(0.03 * page.dpi)
    found: list[Word] = []
    for tall in page.words:
        if not (_CONFIDENT <= tall.confidence < _SURE_PRINT and _height(tall) > _TALL_WORD * usual):
            continue
        x0, y0, x1, y1 = tall.bbox
        left, top = max(0, round(x0 * width_px) - pad), max(0, round(y0 * height_px) - pad)
        right, bottom = round(x1 * width_px) + pad, round(y1 * height_px) + pad
        read = engine.read(image[top:bottom, left:right], dpi=page.dpi, mode=PageSegMode.SPARSE)
        for ocr_word in read:
            word = _as_word(
                OcrWord(ocr_word.text, ocr_word.confidence, _shifted(ocr_word.box, left, top)),
                width_px,
                height_px,
            )
            others = (w for w in [*page.words, *added, *found] if w is not tall)
            if (
                _LEGIBLE.search(word.text)
                and _height(word) <= _CAPTION * _height(tall)
                and not any(_overlap(word, w) for w in others)
            ):
                found.append(word)
    return found


def _height(word: Word) -> float:
    return word.bbox[3] - word.bbox[1]


def unread_ink(
    image: GrayImage, dpi: int, words: list[Word], boxes: Sequence[Box] = ()
) -> list[PixelBox]:
    """Where the page shows lines of print that no word was read from: boxes (pixels of
    ``image``) around ink that is neither a ruled line, nor a tick box or comb of
    ``boxes`` (what is written there is no print), nor under a word read.

    Found on a reduced copy: it only has to show where to look.
    """
    small, factor = preprocess.reduced(image, max(image.shape[:2]) // _UNREAD_REDUCTION)
    small_dpi = dpi * factor
    paper = preprocess.median_level(small)
    ink = np.where(small < paper - 60, 255, 0).astype(np.uint8)
    # Ruled lines and box walls: runs longer than any letter.
    run = max(5, round(_UNREAD_LINE_IN * small_dpi))
    lines = cv2.bitwise_or(
        cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, run), np.uint8)),
        cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((run, 1), np.uint8)),
    )
    ink[cv2.dilate(lines, np.ones((3, 3), np.uint8)) > 0] = 0
    wall = 2 + round(0.02 * small_dpi)
    for box in boxes:
        if box.kind is not BoxKind.VALUE:
            bx0, by0, bx1, by1 = (round(v * factor) for v in box.bbox)
            ink[max(0, by0 - wall) : by1 + wall, max(0, bx0 - wall) : bx1 + wall] = 0
    height, width = small.shape[:2]
    for word in words:
        wx0, wy0, wx1, wy1 = word.bbox
        ink[
            max(0, int(wy0 * height) - 1) : int(wy1 * height) + 2,
            max(0, int(wx0 * width) - 1) : int(wx1 * width) + 2,
        ] = 0
    # Letters of a line joined into one piece; specks and stray marks are not print.
    gap = max(2, round(0.08 * small_dpi))
    joined = np.asarray(cv2.dilate(ink, np.ones((1, gap), np.uint8)), np.uint8)
    count, _, stats = preprocess.ink_pieces(joined)
    found = []
    pad = round(0.06 * dpi)
    for x, y, w, h, _area in stats[1:count]:
        if not 0.05 * small_dpi <= h <= 0.5 * small_dpi or w < 0.1 * small_dpi:
            continue
        found.append(
            (
                max(0, round(x / factor) - pad),
                max(0, round(y / factor) - pad),
                min(image.shape[1], round((x + w) / factor) + pad),
                min(image.shape[0], round((y + h) / factor) + pad),
            )
        )
    return _merged(found)


def _merged(boxes: list[PixelBox]) -> list[PixelBox]:
    """Overlapping boxes as one (each area read once)."""
    merged: list[PixelBox] = []
    for box in sorted(boxes, key=lambda b: (b[1], b[0])):
        for index, other in enumerate(merged):
            if min(box[2], other[2]) > max(box[0], other[0]) and min(box[3], other[3]) > max(
                box[1], other[1]
            ):
                merged[index] = (
                    min(box[0], other[0]),
                    min(box[1], other[1]),
                    max(box[2], other[2]),
                    max(box[3], other[3]),
                )
                break
        else:
            merged.append(box)
    return merged if len(merged) == len(boxes) else _merged(merged)


def _shifted(box: PixelBox, dx: int, dy: int) -> PixelBox:
    x0, y0, x1, y1 = box
    return x0 + dx, y0 + dy, x1 + dx, y1 + dy


def _overlap(a: Word, b: Word) -> bool:
    return same_place(a.bbox, b.bbox)


def _ocr(
    image: GrayImage, dpi: int, engine: OcrEngine, options: OcrOptions, *, for_fields: bool
) -> list[OcrWord]:
    if not for_fields or dpi <= options.label_dpi * 1.1:
        return engine.read(image, dpi=dpi)
    factor = options.label_dpi / dpi
    small = preprocess.scale(image, factor)
    return [
        OcrWord(w.text, w.confidence, _scaled_box(w.box, 1 / factor), w.weakest_char)
        for w in engine.read(small, dpi=options.label_dpi)
    ]


def _scaled_box(box: tuple[int, int, int, int], factor: float) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return round(x0 * factor), round(y0 * factor), round(x1 * factor), round(y1 * factor)


def _turn_upright(image: GrayImage, dpi: int, engine: OcrEngine) -> GrayImage:
    # OSD needs only the shapes of letters: a 150-dpi copy is enough and 4× cheaper.
    factor = min(1.0, 150 / dpi)
    found = engine.orientation(preprocess.scale(image, factor), dpi=round(dpi * factor))
    if found.rotate % 360 == 0 or found.confidence < 1.0:
        return image
    return preprocess.rotate_quarter(image, found.rotate)


def _looks_misread(words: list[OcrWord]) -> bool:
    legible = sum(1 for w in words if _LEGIBLE.search(w.text))
    return legible == 0 or _confident_words(words) < _MIN_CONFIDENT_SHARE * legible


def _confident_words(words: list[OcrWord]) -> int:
    return sum(1 for w in words if w.confidence >= _CONFIDENT and _LEGIBLE.search(w.text))


def _as_pixels(word: Word, width: int, height: int) -> OcrWord:
    x0, y0, x1, y1 = word.bbox
    box = (round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height))
    return OcrWord(word.text, word.confidence, box)


def _as_word(word: OcrWord, width: int, height: int) -> Word:
    x0, y0, x1, y1 = word.box
    return Word(
        text=word.text,
        confidence=float(np.clip(word.confidence, 0.0, 1.0)),
        bbox=(
            max(0.0, x0 / width),
            max(0.0, y0 / height),
            min(1.0, x1 / width),
            min(1.0, y1 / height),
        ),
    )

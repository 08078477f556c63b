"""Field extraction: a template's fields found on read pages, normalised, and judged.

For each field: find its printed label among the page's words (fuzzy, possibly over
several words), take the region right of or below it (or the template's zone), and
read the value there. On OCRed pages the value is cropped from the deskewed page,
stripped of box lines and read again as one line: whole-page layout analysis often
breaks on boxed values, a crop read on its own does not. Tick boxes are judged by the
ink inside the box nearest the label on its line.

A value is only as sure as its weakest sign: readings that disagree, an e-mail or free
text that looks like a typical misreading, or tick-box ink near the threshold bring its
confidence below the template's review bar, so a person looks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from config.form_template import FieldSpec, FieldType, FormTemplate, Position
from domain.forms import BBox, ExtractedField, ReviewReason, Word, WordSource
from ocr import layout, preprocess
from ocr.engines import GrayImage, OcrEngine, OcrWord, PageSegMode
from ocr.reading import ReadPage
from ocr.validators import normalise

# Gap between a label and its value region, as a share of the page width.
_GAP = 0.004
_RIGHT_MARGIN = 0.98
# Share of a tick box's inside that must be ink for it to count as ticked, and the band
# around it where the ink says neither (see ``tick_confidence``).
TICKED_INK = 0.05
UNSURE_INK = (0.02, 0.10)
# Confidence given to a value whose readings disagree: below any sensible review bar.
DISAGREEMENT_CONFIDENCE = 0.5
# Confidence of a value read from a text layer, or of an empty box seen as empty.
_CERTAIN = 1.0
# Field types read a third time (see ``read_crop``), and the scale of that reading.
_THOROUGH = frozenset({FieldType.EMAIL})
_THIRD_READING_SCALE = 0.7
# In an e-mail's local part, a letter beside the digit OCR confuses it with ("l1", "0o"):
# one glyph read as two, or the wrong one of the pair, still makes a valid address.
_CONFUSED_NEIGHBOURS = re.compile(r"[lij|!]1|1[lij|!]|o0|0o")
# Characters that have no business in an address or other free text but that OCR makes
# of box edges and stray marks ("8]" for "81"): a value holding one is doubtful.
_ODD_IN_TEXT = re.compile(r"[^\w\s,.'’\-/&#()]|_")


@dataclass(frozen=True)
class ValueReading:
    """Text read for a field, before normalisation.

    ``others`` are further readings of the same crop (prepared differently): when they
    normalise to a different value, the field is doubtful whatever the confidences say.
    ``typed`` text comes from a PDF's text layer: it is what was typed, so it cannot
    look like a misreading.
    """

    text: str
    confidence: float
    bbox: BBox
    saw_ink: bool = True
    others: tuple[tuple[str, float], ...] = ()
    typed: bool = False


def extract_fields(
    template: FormTemplate, page: ReadPage, engine: OcrEngine
) -> dict[str, ExtractedField]:
    """The template's fields that lie on this page.

    Args:
        template: the form's template.
        page: the page, read (words and cleaned image).
        engine: engine for re-reading value crops (in-process tesserocr is the fast one).

    Returns:
        One ``ExtractedField`` per field of the template on this page; a field whose
        label is not found has no value and an error saying so.
    """
    specs = [s for s in template.fields if s.page == page.number]
    labels = find_labels(specs, page.words)
    label_words = {id(w) for match in labels.values() for w in match.words}
    value_words = [w for w in page.words if id(w) not in label_words]
    fields = {}
    for spec in specs:
        label = labels.get(spec.name)
        if spec.position is not Position.ZONE and label is None:
            fields[spec.name] = ExtractedField(page=page.number, error="label not found")
            continue
        label_box = label.bbox if label else None
        other_labels = [m.bbox for name, m in labels.items() if name != spec.name]
        if spec.type is FieldType.CHECKBOX:
            assert label is not None
            fields[spec.name] = read_checkbox(page, label)
            continue
        region = value_region(spec, label_box, other_labels)
        reading = read_value(spec, page, region, value_words, engine)
        fields[spec.name] = _judge(spec, reading, page.number)
    return fields


def find_labels(specs: list[FieldSpec], words: list[Word]) -> dict[str, layout.LabelMatch]:
    """Each labelled field's label on the page.

    Longer labels are placed first and their words taken, so "Previous surname" is not
    also found as "Surname".
    """
    candidates = layout.phrases(words) if words else []
    taken: set[int] = set()
    found = {}
    for spec in sorted(
        (s for s in specs if s.label), key=lambda s: len(s.label or ""), reverse=True
    ):
        assert spec.label is not None
        match = layout.find_label(spec.label, candidates, taken)
        if match is not None:
            found[spec.name] = match
            taken.update(id(w) for w in match.words)
    return found


def value_region(spec: FieldSpec, label: BBox | None, other_labels: list[BBox]) -> BBox:
    """Where a field's value lies, as fractions of the page.

    Right of the label: from the label's end to the next label on the same line (or
    ``max_width``, or the margin), a little taller than the label so boxed values fit.
    Below: from the label's bottom down ``max_height`` (three label heights by default).
    """
    if spec.position is Position.ZONE:
        assert spec.zone is not None
        return spec.zone
    assert label is not None
    x0, y0, x1, y1 = label
    height = y1 - y0
    if spec.position is Position.RIGHT:
        middle = (y0 + y1) / 2
        half = spec.max_height / 2 if spec.max_height else 1.2 * height
        top, bottom = middle - half, middle + half
        left = x1 + _GAP
        right = left + spec.max_width if spec.max_width else _RIGHT_MARGIN
        for other in other_labels:
            if other[0] > left and min(bottom, other[3]) > max(top, other[1]):
                right = min(right, other[0] - _GAP)
        return (left, max(0.0, top), min(right, _RIGHT_MARGIN), min(1.0, bottom))
    top = y1 + 0.2 * height
    bottom = y1 + (spec.max_height or 4.0 * height)
    left = max(0.0, x0 - 2 * height)
    right = left + spec.max_width if spec.max_width else _RIGHT_MARGIN
    for other in other_labels:
        # A label below ours ends our value; a label to the right at our height bounds it.
        if other[1] > top and other[0] < right and other[2] > left:
            bottom = min(bottom, other[1] - 0.2 * height)
        elif other[0] > x1 and min(y1, other[3]) > max(y0, other[1]):
            right = min(right, other[0] - _GAP)
    return (left, top, min(right, _RIGHT_MARGIN), max(top + height, min(1.0, bottom)))


def read_value(
    spec: FieldSpec, page: ReadPage, region: BBox, value_words: list[Word], engine: OcrEngine
) -> ValueReading:
    """The text in a value region: the text layer's words, or the crop read again."""
    words = layout.words_in(value_words, region)
    if page.source is WordSource.TEXT_LAYER:
        text = " ".join(w.text for w in words)
        box = layout.union(w.bbox for w in words) if words else region
        return ValueReading(text, _CERTAIN, box, saw_ink=bool(words), typed=True)
    crop_reading = read_crop(
        page,
        region,
        engine,
        multiline=_is_multiline(spec, region, page),
        thorough=spec.type in _THOROUGH,
    )
    if crop_reading.text or not words:
        return crop_reading
    # The crop read nothing although the page pass saw words: keep those, doubtfully.
    text = " ".join(w.text for w in words)
    confidence = min(w.confidence for w in words) * 0.8
    return ValueReading(text, confidence, layout.union(w.bbox for w in words))


def _is_multiline(spec: FieldSpec, region: BBox, page: ReadPage) -> bool:
    height_px = (region[3] - region[1]) * page.height_px
    return spec.position is not Position.RIGHT and height_px > 0.3 * page.dpi


def read_crop(
    page: ReadPage, region: BBox, engine: OcrEngine, *, multiline: bool, thorough: bool = False
) -> ValueReading:
    """Crop a region from the cleaned page, remove box lines, and read it again.

    Args:
        thorough: read a third time, from a copy at ``_THIRD_READING_SCALE``: for values
            whose every misreading is still valid (an e-mail address), where only
            disagreement between readings shows the doubt.
    """
    image = page.image()
    height, width = image.shape[:2]
    x0, y0 = round(region[0] * width), round(region[1] * height)
    x1, y1 = round(region[2] * width), round(region[3] * height)
    crop = image[y0:y1, x0:x1]
    if crop.size == 0:
        return ValueReading("", _CERTAIN, region, saw_ink=False)
    cleaned = remove_lines(crop)
    ink = _ink_box(cleaned, page.dpi)
    if ink is None:
        return ValueReading("", _CERTAIN, region, saw_ink=False)
    ix0, iy0, ix1, iy1 = ink
    # Tesseract misreads text that touches the image edge: leave a generous margin.
    pad = max(8, page.dpi // 10)
    text_crop = np.asarray(
        cv2.copyMakeBorder(
            cleaned[iy0:iy1, ix0:ix1], pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255
        ),
        dtype=np.uint8,
    )
    mode = PageSegMode.SINGLE_BLOCK if multiline else PageSegMode.SINGLE_LINE
    box = ((x0 + ix0) / width, (y0 + iy0) / height, (x0 + ix1) / width, (y0 + iy1) / height)
    # Two readings: as cleaned, and slightly smoothed (scanner grain misleads Tesseract
    # into extra or changed characters). Where they disagree, a person should look.
    variants = [text_crop, np.asarray(cv2.GaussianBlur(text_crop, (3, 3), 0), np.uint8)]
    if thorough:
        # Resampled smaller, the letters' pixels fall differently: on the specimens this
        # reading disagreed with the other two on most e-mails they both misread
        # ("walton1" as "waltonl1"), and agreed on nearly all they read right. The dpi
        # stays the page's, as measured.
        variants.append(preprocess.scale(text_crop, _THIRD_READING_SCALE))
    readings = [_line_text(engine.read(v, dpi=page.dpi, mode=mode)) for v in variants]
    readings.sort(key=lambda r: r[1], reverse=True)
    (text, confidence), others = readings[0], tuple(readings[1:])
    return ValueReading(text, confidence, box, others=others)


def _line_text(words: list[OcrWord]) -> tuple[str, float]:
    words = [w for w in words if w.text.strip()]
    if not words:
        return "", 0.0
    # The weakest character decides: one misread character makes the whole value wrong.
    confidence = min(w.confidence if w.weakest_char is None else w.weakest_char for w in words)
    return " ".join(w.text for w in words), float(np.clip(confidence, 0.0, 1.0))


def remove_lines(crop: GrayImage) -> GrayImage:
    """White out long straight lines (box edges, underlines) that Tesseract reads as
    letters."""
    _, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    height, width = crop.shape[:2]
    horizontal = cv2.morphologyEx(
        ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (max(15, width // 4), 1))
    )
    vertical = cv2.morphologyEx(
        ink,
        cv2.MORPH_OPEN,
        cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(15, int(height * 0.7)))),
    )
    lines = cv2.dilate(cv2.bitwise_or(horizontal, vertical), np.ones((3, 3), np.uint8))
    cleaned = crop.copy()
    cleaned[lines > 0] = 255
    return cleaned


def _ink_box(crop: GrayImage, dpi: int) -> tuple[int, int, int, int] | None:
    """The box around the crop's ink, ignoring specks; None when there is no real ink."""
    _, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if float(crop.max()) - float(crop.min()) < 60:
        return None
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    # A character's stroke is at least ~1/8 of a 10-pt letter; smaller blobs are specks.
    min_height = max(3, dpi // 40)
    keep = [
        s for s in stats[1:count] if s[cv2.CC_STAT_HEIGHT] >= min_height and s[cv2.CC_STAT_AREA] > 4
    ]
    # Real writing has at least one character taller than ~1.3 mm; specks do not.
    if not keep or max(int(s[cv2.CC_STAT_HEIGHT]) for s in keep) < dpi // 20:
        return None
    x0 = min(int(s[cv2.CC_STAT_LEFT]) for s in keep)
    y0 = min(int(s[cv2.CC_STAT_TOP]) for s in keep)
    x1 = max(int(s[cv2.CC_STAT_LEFT] + s[cv2.CC_STAT_WIDTH]) for s in keep)
    y1 = max(int(s[cv2.CC_STAT_TOP] + s[cv2.CC_STAT_HEIGHT]) for s in keep)
    return x0, y0, x1, y1


# --- tick boxes ------------------------------------------------------------------------


def read_checkbox(page: ReadPage, label: layout.LabelMatch) -> ExtractedField:
    """Whether the tick box beside the label is ticked, from the ink inside it.

    The box must sit on the label's line: a box from the row above or below (which the
    search band reaches when rows are close) would report that row's answer. Ink that
    is neither clearly absent nor clearly a mark sends the field to review.
    """
    image = page.image()
    height, width = image.shape[:2]
    lx0, _, lx1, _ = label.bbox
    label_h, label_cy = _label_line(label, height)
    # Search the label's line, from a little left of it to well right of it.
    x0 = max(0, round(lx0 * width - 6 * label_h))
    x1 = min(width, round(lx1 * width + 0.45 * width))
    y0 = max(0, round(label_cy - 2.0 * label_h))
    y1 = min(height, round(label_cy + 2.0 * label_h))
    band = image[y0:y1, x0:x1]
    box = _nearest_box(band, (lx0 * width - x0, lx1 * width - x0), label_h, label_cy - y0)
    if box is None:
        return ExtractedField(
            value=None, confidence=0.0, page=page.number, bbox=label.bbox, error="no tick box found"
        )
    bx, by, bw, bh = box
    density = tick_ink(band[by : by + bh, bx : bx + bw])
    bbox = (
        (x0 + bx) / width,
        (y0 + by) / height,
        (x0 + bx + bw) / width,
        (y0 + by + bh) / height,
    )
    return ExtractedField(
        value=density >= TICKED_INK,
        confidence=tick_confidence(density),
        valid=True,
        page=page.number,
        bbox=_rounded(bbox),
    )


def tick_ink(box: GrayImage) -> float:
    """Share of the inside of a tick box (its outline cut away) that is ink."""
    height, width = box.shape[:2]
    inset_x, inset_y = max(2, width // 5), max(2, height // 5)
    inside = box[inset_y : height - inset_y, inset_x : width - inset_x]
    return float(np.count_nonzero(inside < 128)) / max(1, inside.size)


def tick_confidence(density: float) -> float:
    """How sure ``density >= TICKED_INK`` is.

    Empty boxes measure under 1% ink and ticked ones 14% or more on scans and photos
    alike; between ``UNSURE_INK`` bounds lies a faint mark, a speck, or part of the
    outline caught by a misplaced box: a person decides. Outside it, sureness grows
    with the distance from the band.
    """
    low, high = UNSURE_INK
    if low < density < high:
        return DISAGREEMENT_CONFIDENCE
    distance = low - density if density <= low else density - high
    return round(0.9 + 0.1 * min(1.0, distance / low), 3)


def _label_line(label: layout.LabelMatch, page_height: int) -> tuple[float, float]:
    """The height of the label's letters and the middle of its line, in pixels.

    Medians over the label's words: one word whose box took in a box edge or the
    tick box beside it would otherwise make the label look twice as tall.
    """
    words = [w for w in label.words if layout.comparable(w.text)] or list(label.words)
    heights = sorted((w.bbox[3] - w.bbox[1]) * page_height for w in words)
    middles = sorted((w.bbox[1] + w.bbox[3]) / 2 * page_height for w in words)
    return heights[len(heights) // 2], middles[len(middles) // 2]


def _nearest_box(
    band: GrayImage, label_span: tuple[float, float], label_h: float, label_cy: float
) -> tuple[int, int, int, int] | None:
    """The square outline on the label's line nearest the label (x, y, w, h in band
    pixels)."""
    if band.size == 0:
        return None
    _, ink = cv2.threshold(band, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(ink, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    best: tuple[float, tuple[int, int, int, int]] | None = None
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        square = 0.7 <= w / max(h, 1) <= 1.4
        # Label heights vary with what the words' boxes took in, so the lower bound is
        # loose; a box's straight sides are what tell it from a round letter ("O").
        sized = 0.5 * label_h <= h <= 4.0 * label_h
        # An outline with straight sides: its contour fills nearly all of its bounding
        # rectangle (a box 0.9 or more, even tilted a little; an "O" about 0.78).
        if not (square and sized) or cv2.contourArea(contour) < 0.85 * w * h:
            continue
        # On the label's line: the label's middle lies within the box's height.
        if abs(y + h / 2 - label_cy) > 0.6 * h:
            continue
        centre = x + w / 2
        if label_span[0] <= centre <= label_span[1]:
            continue  # a letter inside the label ("o", "D")
        distance = min(abs(centre - label_span[0]), abs(centre - label_span[1]))
        if best is None or distance < best[0]:
            best = (distance, (x, y, w, h))
    return best[1] if best else None


# --- judging ---------------------------------------------------------------------------


def _judge(spec: FieldSpec, reading: ValueReading, page: int) -> ExtractedField:
    if not reading.text.strip():
        if reading.saw_ink:
            return ExtractedField(
                page=page, bbox=reading.bbox, confidence=0.0, error="ink found but not read"
            )
        # An empty box: valid for an optional field, missing for a required one.
        return ExtractedField(
            value=None,
            confidence=reading.confidence,
            valid=not spec.required,
            page=page,
            bbox=reading.bbox,
            error="required but empty" if spec.required else None,
        )
    if not any(c.isalnum() for c in reading.text):
        # Only marks ("|", "]", "_"): a box edge or a speck, not an answer. Money and
        # numbers would otherwise turn "|" into 1.
        return ExtractedField(
            page=page, bbox=reading.bbox, confidence=0.0, error="ink found but not read"
        )
    value, error = normalise(spec, reading.text)
    confidence = reading.confidence
    if not reading.typed:
        confidence = min(confidence, _plausibility(spec, value, error))
    for other_text, other_confidence in reading.others:
        other_value, other_error = normalise(spec, other_text)
        if other_value == value:
            continue
        if error is not None and other_error is None:
            # The other reading makes sense where the first does not: prefer it.
            value, error = other_value, other_error
        # Two readings, two values: never let this pass without a person.
        confidence = min(confidence, other_confidence, DISAGREEMENT_CONFIDENCE)
    return ExtractedField(
        value=value,
        confidence=round(confidence, 3),
        valid=error is None,
        page=page,
        bbox=_rounded(reading.bbox),
        error=error,
    )


def _plausibility(spec: FieldSpec, value: object, error: str | None) -> float:
    """A cap on the confidence of a valid value that looks like a typical misreading."""
    if error is not None or not isinstance(value, str):
        return _CERTAIN
    if spec.type is FieldType.EMAIL and _CONFUSED_NEIGHBOURS.search(value.split("@")[0]):
        return DISAGREEMENT_CONFIDENCE
    if spec.type is FieldType.TEXT and _ODD_IN_TEXT.search(value):
        return DISAGREEMENT_CONFIDENCE
    return _CERTAIN


def _rounded(box: BBox) -> BBox:
    x0, y0, x1, y1 = (round(v, 4) for v in box)
    return (x0, y0, x1, y1)


def review_reasons(template: FormTemplate, fields: dict[str, ExtractedField]) -> list[ReviewReason]:
    """Why a person should look at this form: one reason per doubtful field.

    Codes: ``missing`` (required and absent, or its label not found), ``invalid`` (the
    value fails its type's check or the template's pattern), ``low_confidence`` (read,
    but less surely than the template's ``review.min_confidence``).
    """
    reasons = []
    threshold = template.review.min_confidence
    for spec in template.fields:
        extracted = fields.get(spec.name)
        if extracted is None or extracted.error == "label not found":
            reasons.append(ReviewReason(field=spec.name, code="missing", detail="label not found"))
        elif extracted.value is None and (spec.required or extracted.error):
            detail = extracted.error or "required but empty"
            reasons.append(ReviewReason(field=spec.name, code="missing", detail=detail))
        elif not extracted.valid:
            detail = extracted.error or "invalid value"
            reasons.append(ReviewReason(field=spec.name, code="invalid", detail=detail))
        elif extracted.confidence < threshold:
            reasons.append(
                ReviewReason(
                    field=spec.name,
                    code="low_confidence",
                    detail=f"confidence {extracted.confidence:.2f} below {threshold:.2f}",
                )
            )
    return reasons

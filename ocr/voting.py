"""Two engines on one value: when to ask the second, and how their readings vote.

Tesseract is trained on print; PP-OCRv4 (``rapidocr``) reads handwriting better but costs
about four times as much per crop. So the second engine reads a crop only when it looks
handwritten (``looks_printed`` says no) or Tesseract is unsure of it: typed pages keep
their speed. When both read it, their normalised values vote: agreement makes the value
surer than either engine says, disagreement sends it to a person, who is shown both
readings (``ExtractedField.readings``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from config.form_template import FieldSpec
from domain.forms import EngineReading
from ocr.engines import GrayImage
from ocr.ticks import DOUBTFUL
from ocr.validators import normalise

# Below this confidence of Tesseract's first reading, the second engine reads the crop
# whatever it looks like.
CONSULT_BELOW = 0.98
# Confidence of a value both engines read alike when the second is at least
# ``_SURE_SECOND`` sure. On the tuning designs' handwriting (seeds 1-99; DkgHandwriting,
# Breip, Humor Sans) 135 of 139 such values were right, against 82 of 89 (seeds 1-45)
# when the second engine was less sure: those are left doubtful. Of the four, two were
# spaced differently and one doubted by Tesseract's own readings: both now doubtful.
AGREEMENT_CONFIDENCE = 0.99
_SURE_SECOND = 0.95
# Print: at least this share of neighbouring letters sit on the same baseline with the
# same height, to a pixel. On the tuning designs typed crops had 0.75 (median) and 91%
# were at 0.3 or more; handwritten ones 0.0, and 14% at 0.3 or more.
_PRINTED_SHARE = 0.3


@dataclass(frozen=True)
class Reading:
    """One engine's reading of a crop: its name, the text, and how sure it is."""

    engine: str
    text: str
    confidence: float


def looks_printed(crop: GrayImage, dpi: int) -> bool | None:
    """Whether a value's crop looks typed rather than handwritten; None when it holds too
    few letters to tell.

    Typed letters stand on one baseline at one height; a hand's wander by a pixel or
    more from letter to letter (baseline, size). Joined writing makes few, wide pieces.
    """
    _, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    pieces = [s for s in stats[1:count] if s[cv2.CC_STAT_HEIGHT] >= dpi // 30 and s[4] > 6]
    if len(pieces) < 3:
        return None
    tallest = max(int(s[cv2.CC_STAT_HEIGHT]) for s in pieces)
    # Letters, not punctuation; in reading order.
    letters = sorted(
        (s for s in pieces if s[cv2.CC_STAT_HEIGHT] >= 0.5 * tallest),
        key=lambda s: int(s[cv2.CC_STAT_LEFT]),
    )
    if len(letters) < 3:
        return None
    bottoms = np.array([s[cv2.CC_STAT_TOP] + s[cv2.CC_STAT_HEIGHT] for s in letters], float)
    heights = np.array([s[cv2.CC_STAT_HEIGHT] for s in letters], float)
    alike = (np.abs(np.diff(bottoms)) <= 1) & (np.abs(np.diff(heights)) <= 1)
    return bool(alike.mean() >= _PRINTED_SHARE)


def worth_a_second_reading(confidence: float, printed: bool | None) -> bool:
    """Whether the second engine should read a crop: Tesseract is unsure of it, or it
    does not look printed (``looks_printed``)."""
    return confidence < CONSULT_BELOW or printed is False


def vote(
    spec: FieldSpec,
    first: Reading,
    second: Reading,
    value: object,
    error: str | None,
    confidence: float,
    *,
    handwritten: bool = False,
) -> tuple[object, str | None, float, list[EngineReading]]:
    """Two engines' readings of one crop: agreeing, the value is surer than either says;
    disagreeing, a person decides, shown both.

    Agreeing, the value is sure when the second engine is (``_SURE_SECOND``) and the
    first engine had no doubt of its own (its readings of the crop agreed, nothing odd
    in the value); else, on handwriting, still doubtful, and on print as sure as the first
    engine alone said. The same letters spaced differently are a
    disagreement.

    Disagreeing, the value shown first is the second engine's on handwriting (on the
    tuning designs it was right in 47 of the 56 disagreements where one engine was, and
    PP-OCRv4 reads handwriting better) and the first's on print (Tesseract's home
    ground), unless only the other's passes its check.

    Args:
        spec: the field.
        first: the first engine's reading, whose normalised value is ``value``
            (``error`` when it fails its check) at ``confidence``, after the first
            engine's own doubts.
        second: the second engine's reading.
        handwritten: the crop does not look printed.

    Returns:
        The value, its error, its confidence and both readings.
    """
    readings = [
        EngineReading(engine=r.engine, text=r.text, confidence=round(r.confidence, 3))
        for r in (first, second)
    ]
    if second.text.strip():
        second_value, second_error = normalise(spec, second.text)
    else:
        second_value, second_error = None, "nothing read"
    if second_value == value and second_error == error:
        if error is None and confidence > DOUBTFUL and second.confidence >= _SURE_SECOND:
            return value, error, max(confidence, AGREEMENT_CONFIDENCE), readings
        if not handwritten:
            # Print agreed on by a less sure second engine: as sure as Tesseract alone was
            # (its home ground; typed forms were tuned on that), never less.
            return value, error, confidence, readings
        return value, error, min(confidence, DOUBTFUL), readings
    if _spaceless(second_value) == _spaceless(value) and second_error == error:
        # The same letters spaced differently ("RE ADING"): either engine may have split
        # a handwritten word, or joined two.
        if handwritten:
            value = second_value
        return value, error, min(confidence, DOUBTFUL), readings
    take_second = second_error is None and (handwritten or error is not None)
    if take_second:
        value, error = second_value, None
    return value, error, min(confidence, DOUBTFUL), readings


def _spaceless(value: object) -> object:
    return "".join(value.split()) if isinstance(value, str) else value


__all__ = [
    "AGREEMENT_CONFIDENCE",
    "CONSULT_BELOW",
    "Reading",
    "looks_printed",
    "vote",
    "worth_a_second_reading",
]

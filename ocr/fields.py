"""Field extraction: a template's fields found on read pages, normalised, and judged.

For each field: find its printed label among the page's words (fuzzy, possibly over
several words, possibly wrapped onto a second line), then the box its value is written
in (``ocr.regions``: right of the label, under it, or the box the label is printed in;
the template's zone), and read the value there. On OCRed pages the value is cropped
from the deskewed page, stripped of box lines and read again as one line: whole-page
layout analysis often breaks on boxed values, a crop read on its own does not. A comb's
characters are set side by side before reading. Tick boxes and ticked options are
``ocr.ticks``'s.

A value is only as sure as its weakest sign: readings that disagree, an e-mail or free
text that looks like a typical misreading, or tick-box ink near the threshold bring its
confidence below the template's review bar, so a person looks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from config.form_template import FieldSpec, FieldType, FormTemplate, Position
from domain.forms import (
    DOUBTS,
    BBox,
    EngineReading,
    ExtractedField,
    ReviewReason,
    Word,
    WordSource,
)
from ocr import layout, preprocess
from ocr.boxes import BoxKind, comb_cells, comb_compacted
from ocr.ctc import CharFrames
from ocr.engines import GrayImage, OcrEngine, OcrWord, PageSegMode
from ocr.reading import ReadPage
from ocr.regions import PageBox, ValueArea, value_area
from ocr.struck import (
    Struck,
    cut_too_much,
    dropped,
    look_for_struck,
    narrow_scribbles,
    without_struck,
)
from ocr.ticks import DOUBTFUL, TickReader
from ocr.validators import normalise
from ocr.voting import (
    Gaps,
    Reading,
    gaps_between_letters,
    looks_printed,
    spaces_between_words,
    vote,
    weigh_readings,
    weighed_confidence,
    worth_a_second_reading,
)

# A label's score when read exactly as printed, standing alone.
_READ_AS_PRINTED = 100.0
# Confidence given to a value whose readings disagree: below any sensible review bar.
DISAGREEMENT_CONFIDENCE = DOUBTFUL
# Confidence of a value read from a text layer, or of an empty box seen as empty.
_CERTAIN = 1.0
# A crop's first reading at least this sure is not read again: on the tuning designs a
# second reading never caught a misreading this sure (it does below 0.97 or so).
_SURE_READING = 0.99
# Field types read a third time (see ``read_crop``), and the scale of that reading.
_THOROUGH = frozenset({FieldType.EMAIL})
_THIRD_READING_SCALE = 0.7
# The recogniser reads a letter under a scribble (``narrow_scribbles``) less surely than
# this. On the tuning designs (seeds 4000000-23, default and unseen hands) it read
# scribbled letters at 0.14 to 0.92, and letters taken for scribbles by their shape
# alone (a bold E or B) at 0.96 or more: a narrow margin (on fresh seeds 4300000 a bold
# H touching its E was read at 0.51, and cut), so a letter confirmed is cut out only
# for a person to see (``letter_struck_out``). E-mail addresses,
# combs and writing past a box's wall, where letters under no scribble were read at
# 0.37 to 0.88, are not looked at.
_SURE_UNDER_SCRIBBLE = 0.95
# Writing run on past a box's right wall: looked for in a strip this far clear of the
# wall and this wide (wider than the gap between two letters), and followed this far
# at most (inches).
_PAST_WALL = (0.025, 0.1, 2.0)
# A box holds ink when at least this share of its pixels is dark.
_UNREAD_INK = 0.02
# How many values of a page must look handwritten, and more than half, for the page to
# be read as handwritten (``_looks_handwritten``).
_HANDWRITTEN_VALUES = 3
# In an e-mail's local part, a letter beside the digit OCR confuses it with ("l1", "0o"):
# one glyph read as two, or the wrong one of the pair, still makes a valid address.
_CONFUSED_NEIGHBOURS = re.compile(r"[lij|!]1|1[lij|!]|o0|0o")
# Characters that have no business in an address or other free text but that OCR makes
# of box edges and stray marks ("8]" for "81"): a value holding one is doubtful.
_ODD_IN_TEXT = re.compile(r"[^\w\s,.'’\-/&#()]|_")
# A capital I and a small l are one upright stroke in many hands and sans faces: in a
# name whose words start with capitals, a word starting with l in small letters ("Diana
# lain", both engines agreeing) is more likely an I, and for a person to decide. The
# particles some surnames keep in small letters (le, la) are not.
_NAME_WORD = re.compile(r"[^\W\d_]+")
_SMALL_PARTICLES = frozenset({"la", "las", "le", "les", "lo", "los"})
# Letters whose capital is its small letter written larger (or, in some hands, the same
# shape: an r written as a small R): in handwriting the engines read a word's case
# letter by letter from their size, and "Murray" comes out "MuRRay". In a name or
# other text, such a capital among small letters, or small one among capitals, is the
# word's own case misread; Mc and Mac names keep the capital after the prefix.
_CASE_LOOKALIKES = frozenset("ckmoprsuvwxyz")
_CASE_WRITTEN = frozenset({FieldType.NAME, FieldType.TEXT})
_MC = re.compile(r"Ma?c(?=[A-Z])")


@dataclass(frozen=True)
class ValueReading:
    """Text read for a field, before normalisation.

    ``others`` are further readings of the same crop (prepared differently): when they
    normalise to a different value, the field is doubtful whatever the confidences say.
    ``typed`` text comes from a PDF's text layer: it is what was typed, so it cannot
    look like a misreading. ``engine`` names the engine that read ``text``; ``second``
    is another engine's reading of the same crop, when one was asked: the two vote
    (``ocr.voting``), and ``frames`` are what its recogniser saw, when it gives them.
    ``handwritten``: the crop does not look printed (or its page does not);
    ``printed`` is what the crop alone looked like, None when it holds too few letters
    to tell (``looks_printed``).
    """

    text: str
    confidence: float
    bbox: BBox
    saw_ink: bool = True
    others: tuple[tuple[str, float], ...] = ()
    typed: bool = False
    engine: str = ""
    second: Reading | None = None
    handwritten: bool = False
    printed: bool | None = None
    frames: CharFrames | None = None
    # A comb's: how many of its cells hold a character.
    characters: int | None = None
    # The writing runs on past the box's right wall (read with it, and for a person).
    past_wall: bool = False
    # A letter was struck out: read without it (``ocr.struck``), and for a person. Seen
    # only: one looks struck but the page is not yet known to be handwritten (a typed
    # page's print, photographed, can hold what looks like a strike), so it was read whole.
    struck: bool = False
    struck_seen: bool = False
    # On a handwritten page: a stroke that may strike a letter out, not sure enough to cut
    # (``ocr.struck.look_for_struck``): for a person. Where it lies, in the columns of
    # the crop the frames are of, when known.
    struck_maybe: bool = False
    maybe_struck_at: tuple[tuple[int, int], ...] = ()
    # Handwritten words with no gap between their letters wide enough for a space
    # (``ocr.voting.Gaps.one_word``): a space read in them is a letter's gap.
    one_word: bool = False
    # The gaps between a one-line value's letters, in its crop's columns, where a second
    # engine may read it (``ocr.voting.gaps_between_letters``): on a handwritten page, a
    # space read at a letter's gap is left out (``ocr.voting.spaces_between_words``).
    gaps: Gaps | None = None

    @property
    def second_text(self) -> str:
        """What the second engine read, if it was asked."""
        return self.second.text.strip() if self.second is not None else ""


def extract_fields(
    template: FormTemplate,
    page: ReadPage,
    engine: OcrEngine,
    *,
    read_again: Callable[[ReadPage], bool] | None = None,
    second: OcrEngine | None = None,
) -> dict[str, ExtractedField]:
    """The template's fields that lie on this page.

    Args:
        template: the form's template.
        page: the page, read (words and cleaned image).
        engine: engine for re-reading value crops (in-process tesserocr is the fast one).
        second: a second engine asked where ``engine`` is unsure of a crop; the two
            readings vote (``_judge``).
        read_again: looks for more of the page's words (``reading.read_sparsely``),
            returning whether it found any; called once when some labels were not found.

    Returns:
        One ``ExtractedField`` per field of the template on this page; a field whose
        label is not found has no value and an error saying so. On a page whose values
        mostly look handwritten (``_looks_handwritten``) every value is read by both
        engines, and its tick boxes are read knowing that a mark may stand over a
        printed word beside them (``TickReader``); on one in doubt (``_half_by_hand``)
        every value is read by both engines too, and weighed as print.
    """
    specs = [s for s in template.fields if s.page == page.number]
    aspect = page.height_px / max(1, page.width_px)
    labels = find_labels(specs, page.words, aspect=aspect)
    missing = any(s.label and s.name not in labels for s in specs)
    # Page layout analysis drops lines of small print at times, photos' more often.
    if missing and read_again is not None and read_again(page):
        labels = find_labels(specs, page.words, aspect=aspect)
    if any(s.label and s.name not in labels for s in specs):
        labels = find_labels(specs, page.words, aspect=aspect, inked=_unread_ink(page))
    label_words = {id(w) for match in labels.values() for w in match.words}
    value_words = [w for w in page.words if id(w) not in label_words]
    height, width = page.image().shape[:2]
    boxes = [PageBox.of(b, width, height) for b in page.boxes()]
    ticks = TickReader(page, boxes)
    specs_by_name = {s.name: s for s in specs}
    fields: dict[str, ExtractedField] = {}
    areas: dict[str, ValueArea] = {}
    readings: dict[str, ValueReading] = {}
    ticked: list[FieldSpec] = []
    for spec in specs:
        label = labels.get(spec.name)
        if spec.position is not Position.ZONE and label is None:
            fields[spec.name] = ExtractedField(page=page.number, error="label not found")
            continue
        if (marked := _read_ticked(ticks, spec, label)) is not None:
            fields[spec.name] = marked
            ticked.append(spec)
            continue
        label_box = label.bbox if label else None
        other_labels = [m.bbox for name, m in labels.items() if name != spec.name]
        areas[spec.name] = value_area(spec, label_box, other_labels, boxes)
        readings[spec.name] = read_value(spec, page, areas[spec.name], value_words, engine, second)
    consulted: set[str] = set()
    for name, reading in readings.items():
        spec = specs_by_name[name]
        if (
            second is not None
            and reading.second is None
            and not reading.typed  # a text layer's word is as typed
            and _cannot_hold(spec, reading.text)
        ):
            # Tesseract alone read, surely, what the field cannot hold (a lone 9 in a neat
            # hand read as "q", or as "G"): the second engine reads it too. Print is
            # Tesseract's home ground, so the value counts towards a handwritten page.
            readings[name] = read_value(
                spec, page, areas[name], value_words, engine, second, consult=True
            )
            consulted.add(name)
    handwritten = second is not None and _looks_handwritten(readings.values())
    if handwritten:
        by_hand = _by_eye(readings.values())
        # A handwritten page: what looked printed, or Tesseract was sure of, is read by
        # the second engine too, and a value with a letter struck out without it; what
        # the second engine read already, as handwriting now.
        for name, reading in readings.items():
            if (
                (reading.second is None and reading.saw_ink)
                or reading.struck_seen
                or name in consulted
            ):
                spec = specs_by_name[name]
                readings[name] = read_value(
                    spec, page, areas[name], value_words, engine, second, handwritten_page=True
                )
            elif reading.saw_ink and not reading.typed and not reading.handwritten:
                # Read as print, so no letter struck out in it was looked for (a neat
                # hand's figures pass for print): it is looked for now. Where most values
                # look handwritten, a letter found struck is cut out; elsewhere (a coarse
                # scan of print leaves Tesseract unsure enough to make a page look
                # handwritten, and two bold 4s' bars make a strike) it is only doubted.
                again = read_value(
                    specs_by_name[name],
                    page,
                    areas[name],
                    value_words,
                    engine,
                    second,
                    handwritten_page=True,
                )
                if again.struck and by_hand:
                    readings[name] = again
                elif again.struck or again.struck_maybe:
                    readings[name] = replace(reading, struck_maybe=True)
        # And its tick boxes are read again, knowing a mark may be drawn over a word.
        ticks = TickReader(page, boxes, handwritten=True)
        for spec in ticked:
            if (marked := _read_ticked(ticks, spec, labels.get(spec.name))) is not None:
                fields[spec.name] = marked
    elif second is not None and _half_by_hand(readings.values()):
        # A page in doubt, read as typed: what Tesseract alone read is read by the second
        # engine too, and the two weighed (as print: where they agree, as sure as
        # Tesseract was; where they differ, for a person).
        for name, reading in readings.items():
            if reading.second is None and reading.saw_ink and not reading.typed:
                spec = specs_by_name[name]
                readings[name] = read_value(
                    spec, page, areas[name], value_words, engine, second, consult=True
                )
    for name, reading in readings.items():
        fields[name] = _judge(
            specs_by_name[name], reading, page.number, handwritten_page=handwritten
        )
    for name, match in labels.items():
        if match.covered is not None and name in fields:
            # Its label found by its last letters only: the place may be another's.
            field = fields[name]
            fields[name] = field.model_copy(
                update={
                    "confidence": min(field.confidence, DOUBTFUL),
                    "doubts": [*field.doubts, "label_covered"],
                }
            )
    return {spec.name: _with_honest_confidence(fields[spec.name]) for spec in specs}


# Fields written in figures alone: a letter read in one is a figure misread.
_FIGURES_ONLY = frozenset({FieldType.INTEGER, FieldType.PHONE})


def _cannot_hold(spec: FieldSpec, text: str) -> bool:
    """Whether ``text`` is something, but no value of the field's type: one that fails
    its check, or a count or a phone number read with a letter in it (taken for the
    figure it looks like, a G for a 6, it passes)."""
    if not text.strip():
        return False
    if spec.type in _FIGURES_ONLY and any(c.isalpha() for c in text):
        return True
    return normalise(spec, text)[1] is not None


def _read_ticked(
    ticks: TickReader, spec: FieldSpec, label: layout.LabelMatch | None
) -> ExtractedField | None:
    """A checkbox, or a choice printed as options with a box each, read from its boxes;
    None for a field of another kind or a choice written in."""
    if spec.type is FieldType.CHECKBOX:
        return ticks.checkbox(spec, label)
    if spec.type is FieldType.CHOICE:
        return ticks.choice(spec, label)
    return None


def _looks_handwritten(readings: Iterable[ValueReading]) -> bool:
    """Whether most values read from a page's crops (at least three) look handwritten
    or left Tesseract unsure: neat capitals can pass for print one value at a time, but
    a typed page leaves Tesseract sure of most of its values.

    A value too short to tell print from hand (a lone figure) that Tesseract read surely
    is no evidence either way: counted as print, two one-figure counts made a photo
    of a neat hand nobody tuned on a typed page, and Tesseract alone misread a name on it
    (ELLIE as ELLTE at 0.989). A value only the second engine could read counts as
    handwritten (a figure Tesseract saw nothing in, on a 150-dpi scan)."""
    hand, told = _values_by_hand(readings)
    return hand >= _HANDWRITTEN_VALUES and 2 * hand > told


def _half_by_hand(readings: Iterable[ValueReading]) -> bool:
    """Whether exactly half a page's values (three or more) look handwritten or left
    Tesseract unsure (``_looks_handwritten``): a page in doubt. On a 1-bit scan of a neat
    hand, four values of eight passed for print, and Tesseract alone read a name with a
    space in it ("LY NN"), sure of it; typed photos come to half as well."""
    hand, told = _values_by_hand(readings)
    return hand >= _HANDWRITTEN_VALUES and 2 * hand == told


def _values_by_hand(readings: Iterable[ValueReading]) -> tuple[int, int]:
    """How many of a page's values look handwritten or left Tesseract unsure, of how many
    that can tell (``_looks_handwritten``)."""
    read = [
        r
        for r in readings
        if (r.text.strip() or r.second_text)
        and not r.typed
        and (r.printed is not None or r.second is not None)
    ]
    return sum(1 for r in read if r.handwritten or r.second is not None), len(read)


def _by_eye(readings: Iterable[ValueReading]) -> bool:
    """Whether most of a page's values that can tell look handwritten to the eye
    (``looks_printed``), not only left Tesseract unsure (``_looks_handwritten``)."""
    told = [r.printed for r in readings if r.printed is not None and not r.typed]
    return 2 * sum(printed is False for printed in told) > len(told)


def _with_honest_confidence(field: ExtractedField) -> ExtractedField:
    """A value that failed its check, or is missing, is not one to be sure of: its
    confidence says so, so that confidence alone tells how far to trust a field."""
    if field.error is None and field.valid:
        return field
    return field.model_copy(update={"confidence": min(field.confidence, DOUBTFUL)})


def find_labels(
    specs: list[FieldSpec],
    words: list[Word],
    *,
    aspect: float = 1.0,
    inked: Callable[[BBox], bool] | None = None,
) -> dict[str, layout.LabelMatch]:
    """Each labelled field's label on the page (``aspect``: its height over its width).

    Longer labels are placed first and their words taken, so "Previous surname" is not
    also found as "Surname".
    """
    phrases = layout.phrases(words, aspect=aspect) if words else []
    lines = phrases + layout.wrapped(phrases, aspect=aspect)
    # Phrases run on across wider gaps, for labels not read as printed without them,
    # and read well with them only.
    run_on: list[layout.Phrase] | None = None
    taken: set[int] = set()
    found = {}
    for spec in sorted(
        (s for s in specs if s.label), key=lambda s: len(s.label or ""), reverse=True
    ):
        assert spec.label is not None
        match = layout.find_label(spec.label, lines, taken)
        if match is None or match.score < _READ_AS_PRINTED:
            if run_on is None:
                run_on = layout.run_on(phrases, aspect=aspect)
                run_on += layout.wrapped(phrases, starts=run_on, aspect=aspect)
            across = layout.find_label(spec.label, run_on, taken, least=layout.RUN_ON_SCORE)
            if across is not None and (match is None or across.score > match.score):
                match = across
        if match is not None:
            found[spec.name] = match
            taken.update(id(w) for w in match.words)
    if inked is None:
        return found
    # A label not found whole may have its first letters under writing run on from the
    # box before it: found by the rest once every whole label has taken its words. Only
    # in one place, so not among phrases run on (``layout.run_on``), which hold a
    # phrase's words again with more before them.
    for spec in specs:
        if spec.label and spec.name not in found:
            match = layout.find_covered_label(spec.label, lines, taken, inked)
            if match is not None:
                found[spec.name] = match
                taken.update(id(w) for w in match.words)
    return found


def _unread_ink(page: ReadPage) -> Callable[[BBox], bool]:
    """Whether a box of the page holds ink that OCR gave no word for."""
    image = page.image()
    height, width = image.shape[:2]

    def unread(box: BBox) -> bool:
        if layout.words_in(page.words, box, min_overlap=0.3):
            return False
        x0, y0 = max(0, round(box[0] * width)), max(0, round(box[1] * height))
        x1, y1 = round(box[2] * width), round(box[3] * height)
        crop = image[y0:y1, x0:x1]
        return crop.size > 0 and bool(np.count_nonzero(crop < 128) > _UNREAD_INK * crop.size)

    return unread


def read_value(
    spec: FieldSpec,
    page: ReadPage,
    area: ValueArea,
    value_words: list[Word],
    engine: OcrEngine,
    second: OcrEngine | None = None,
    *,
    handwritten_page: bool = False,
    consult: bool = False,
) -> ValueReading:
    """The text in a value's area: the text layer's words, or the crop read again.

    On a ``handwritten_page``, or asked to ``consult`` it, the second engine reads the
    crop however printed it looks or sure Tesseract is of it.
    """
    words = layout.words_in(value_words, area.region)
    if page.source is WordSource.TEXT_LAYER:
        text = _comb_text(words, area.box) if _is_comb(area) else " ".join(w.text for w in words)
        box = layout.union(w.bbox for w in words) if words else area.region
        return ValueReading(text, _CERTAIN, box, saw_ink=bool(words), typed=True)
    crop_reading = read_crop(
        page,
        area,
        engine,
        multiline=_is_multiline(spec, area, page),
        thorough=spec.type in _THOROUGH,
        second=second,
        handwritten_page=handwritten_page,
        consult=consult,
        narrow=spec.type is not FieldType.EMAIL,
    )
    if crop_reading.text or crop_reading.second_text or not words:
        return crop_reading
    # Neither engine read the crop although the page pass saw words: keep those, doubtfully.
    text = " ".join(w.text for w in words)
    confidence = min(w.confidence for w in words) * 0.8
    return ValueReading(text, confidence, layout.union(w.bbox for w in words))


def _is_comb(area: ValueArea) -> bool:
    return area.box is not None and area.box.kind is BoxKind.COMB


def _comb_text(words: list[Word], comb: PageBox | None) -> str:
    """Characters typed one to a cell, run together; a skipped cell is a space."""
    assert comb is not None
    cell = min((b - a for a, b in comb.spans), default=0.0)
    text = ""
    for before, word in zip([None, *words], words, strict=False):
        if before is not None and word.bbox[0] - before.bbox[2] > cell:
            text += " "
        text += word.text
    return text


def _is_multiline(spec: FieldSpec, area: ValueArea, page: ReadPage) -> bool:
    if _is_comb(area):
        return False
    height_px = (area.region[3] - area.region[1]) * page.height_px
    return spec.position is not Position.RIGHT and height_px > 0.3 * page.dpi


def read_crop(
    page: ReadPage,
    area: ValueArea | BBox,
    engine: OcrEngine,
    *,
    multiline: bool,
    thorough: bool = False,
    second: OcrEngine | None = None,
    handwritten_page: bool = False,
    consult: bool = False,
    narrow: bool = True,
) -> ValueReading:
    """Crop a value's area from the cleaned page, remove box lines, and read it again.

    Args:
        area: where the value lies (a bare region: no box known).
        thorough: read a third time, from a copy at ``_THIRD_READING_SCALE``: for values
            whose every misreading is still valid (an e-mail address), where only
            disagreement between readings shows the doubt.
        second: another engine, asked when the crop looks handwritten or ``engine`` is
            unsure of it (``voting.worth_a_second_reading``), the page is handwritten,
            or the page is a coarse scan (``ReadPage.coarse``), or ``consult``.
        handwritten_page: most values of the page look handwritten: this one is taken
            as handwriting too, whatever it looks like, and a letter struck out in it
            (``ocr.struck``) is cut out before it is read. Until the page is known to
            be handwritten a strike is only noted (``ValueReading.struck_seen``).
        narrow: look for scribbles over a narrow letter too (``narrow_scribbles``): not
            in an e-mail address, whose @ and bold capitals run together make as dense
            blocks.
    """
    if not isinstance(area, ValueArea):
        area = ValueArea(area)
    region = area.region
    image = page.image()
    height, width = image.shape[:2]
    x0, y0 = round(region[0] * width), round(region[1] * height)
    x1, y1 = round(region[2] * width), round(region[3] * height)
    past_wall = False
    if area.box is not None:
        # Keep clear of the walls: a sliver of one, tilted a pixel, reads as "1" or "|".
        inset = max(2, page.dpi // 100)
        x0, y0, x1, y1 = x0 + inset, y0 + inset, x1 - inset, y1 - inset
        if not _is_comb(area):
            rows = np.ones(y1 - y0, bool)
            for hidden in area.hide:  # a caption printed in the box may run past its wall
                rows[
                    max(0, round(hidden[1] * height) - y0 - 3) : round(hidden[3] * height) - y0 + 3
                ] = False
            stop = round(area.run_on * width)
            end = _writing_past_wall(image[y0:y1][rows], x1 + inset, stop, page.dpi)
            past_wall = end is not None
            x1 = end or x1
    crop = image[y0:y1, x0:x1].copy()
    if crop.size == 0:
        return ValueReading("", _CERTAIN, region, saw_ink=False)
    # A caption is covered with the paper's own shade, not white: on a form scanned grey
    # (or a shaded box) a white patch is the palest thing in the crop, and the paper
    # round it is taken for ink.
    paper = int(np.median(crop)) if area.hide else 255
    for hidden in area.hide:
        # A caption printed in the box, and a little around it.
        hx0, hy0 = round(hidden[0] * width) - x0 - 3, round(hidden[1] * height) - y0 - 3
        hx1, hy1 = round(hidden[2] * width) - x0 + 3, round(hidden[3] * height) - y0 + 3
        crop[max(0, hy0) : max(0, hy1), max(0, hx0) : max(0, hx1)] = paper
    boxed = area.box is not None
    cleaned = preprocess.remove_lines(crop, boxed=boxed)
    if handwritten_page or (second is not None and looks_printed(cleaned, page.dpi) is False):
        # Handwriting crosses walls: its strokes keep their ink where they do.
        cleaned = preprocess.remove_lines(crop, boxed=boxed, handwritten=True)
    characters = None
    if _is_comb(area):
        assert area.box is not None
        spans = [(round(a * width) - x0, round(b * width) - x0) for a, b in area.box.spans]
        cleaned = comb_compacted(crop, spans, page.dpi)
        characters = sum(cell is not None for cell in comb_cells(crop, spans, page.dpi))
    ink = _ink_box(cleaned, page.dpi)
    if ink is None:
        # Pieces too short for a letter may be one cut in two by a rule it was written
        # on (an X typed over an underline): not surely empty, then.
        return ValueReading("", _CERTAIN, region, saw_ink=_cut_pieces(cleaned, page.dpi))
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
    if _is_comb(area):
        box = region  # the compacted image no longer maps onto the page
    else:
        box = ((x0 + ix0) / width, (y0 + iy0) / height, (x0 + ix1) / width, (y0 + iy1) / height)
    other_engine, handwritten, printed, frames = None, False, None, None
    struck = struck_seen = struck_maybe = False
    maybe_struck_at: tuple[tuple[int, int], ...] = ()
    whole = text_crop  # as written, struck letters and all
    if second is not None:
        printed = looks_printed(text_crop, page.dpi)
        handwritten = handwritten_page or printed is False
        letters, maybe_struck_at = look_for_struck(text_crop) if handwritten else ([], ())
        struck_maybe = bool(maybe_struck_at)
        if handwritten and narrow and not letters and not past_wall and characters is None:
            # Nor in a comb, where its walls' stubs make blocks.
            letters = _scribbled_over(second, text_crop)
        if letters and handwritten_page:
            # A letter struck out and written again: read the value without it.
            text_crop, struck = without_struck(text_crop, letters), True
            maybe_struck_at = ()  # of the crop before the cut
            if characters is not None:
                characters = max(0, characters - len(letters))
        struck_seen = bool(letters) and not struck
    gaps = gaps_between_letters(text_crop) if second is not None else None
    words = handwritten and gaps is not None and gaps.one_word
    if mode is not PageSegMode.SINGLE_LINE:
        gaps = None  # the recogniser's columns are of a line it found, not of the crop
    first = _line_text(engine.read(text_crop, dpi=page.dpi, mode=mode))
    # On a coarse scan Tesseract's confidence is no guide: it is sure of misreadings.
    if second is not None and (
        consult or page.coarse or worth_a_second_reading(first[1], not handwritten)
    ):
        frames = second.char_frames(text_crop, mode)
        if frames is not None:
            other_engine = Reading(second.name, *frames.greedy())
            if struck and mode is PageSegMode.SINGLE_LINE:
                whole_read = _read_round_struck(second, whole, letters, other_engine.text)
                if whole_read is not None:
                    other_engine, frames = whole_read, None
        else:
            read = second.read(text_crop, dpi=page.dpi, mode=mode)
            other_engine = Reading(second.name, *_line_text(read))
    if first[1] >= _SURE_READING and not thorough:
        return ValueReading(
            *first,
            box,
            engine=engine.name,
            second=other_engine,
            handwritten=handwritten,
            printed=printed,
            frames=frames,
            characters=characters,
            past_wall=past_wall,
            struck=struck,
            struck_seen=struck_seen,
            struck_maybe=struck_maybe,
            maybe_struck_at=maybe_struck_at,
            one_word=words,
            gaps=gaps,
        )
    # Read again slightly smoothed (scanner grain misleads Tesseract into extra or
    # changed characters). Where the readings disagree, a person should look.
    variants = [np.asarray(cv2.GaussianBlur(text_crop, (3, 3), 0), np.uint8)]
    if thorough:
        # Resampled smaller, the letters' pixels fall differently: on the specimens this
        # reading disagreed with the other two on most e-mails they both misread
        # ("walton1" as "waltonl1"), and agreed on nearly all they read right. The dpi
        # stays the page's, as measured.
        variants.append(preprocess.scale(text_crop, _THIRD_READING_SCALE))
    readings = [first] + [_line_text(engine.read(v, dpi=page.dpi, mode=mode)) for v in variants]
    readings.sort(key=lambda r: r[1], reverse=True)
    (text, confidence), others = readings[0], tuple(readings[1:])
    return ValueReading(
        text,
        confidence,
        box,
        others=others,
        engine=engine.name,
        second=other_engine,
        handwritten=handwritten,
        printed=printed,
        frames=frames,
        characters=characters,
        past_wall=past_wall,
        struck=struck,
        struck_seen=struck_seen,
        struck_maybe=struck_maybe,
        maybe_struck_at=maybe_struck_at,
        one_word=words,
        gaps=gaps,
    )


def _scribbled_over(engine: OcrEngine, crop: GrayImage) -> list[Struck]:
    """The scribbles over a narrow letter in a one-line crop (``narrow_scribbles``) that
    the recogniser confirms: the character it read nearest each one's middle is less
    than ``_SURE_UNDER_SCRIBBLE`` likely. A bold E, taken for one by its shape, is read
    surely; a letter scribbled out is read as one, but unsurely."""
    candidates = narrow_scribbles(crop)
    if not candidates:
        return []
    frames = engine.char_frames(crop, PageSegMode.SINGLE_LINE)
    if frames is None or not frames.step:
        return []
    confirmed = []
    for scribble in candidates:
        chance = frames.chance_near((scribble.x0 + scribble.x1) / 2, scribble.x1 - scribble.x0)
        if chance is not None and chance < _SURE_UNDER_SCRIBBLE:
            confirmed.append(scribble)
    return confirmed


def _read_round_struck(
    engine: OcrEngine, whole: GrayImage, letters: list[Struck], cut: str
) -> Reading | None:
    """The engine's reading of the ``whole`` crop with the characters it read in the
    struck ``letters`` left out, when the reading of the crop they were cut out of
    (``cut``) lost more than they were (``ocr.struck.cut_too_much``): a struck letter
    that touches the next, written again, takes that one's columns with it when cut
    ("CLEANE" for CLEANE~~V~~R). None when the cut lost nothing more."""
    frames = engine.char_frames(whole, PageSegMode.SINGLE_LINE)
    if frames is None or not frames.step:
        return None
    # A frame's middle stands for where the character was read, to half a frame.
    text, gone = dropped(frames.greedy_columns(), letters, frames.step / 2)
    if not cut_too_much(cut, text, gone):
        return None
    return Reading(engine.name, text, frames.greedy()[1])


def _writing_past_wall(rows: GrayImage, wall: int, stop: int, dpi: int) -> int | None:
    """Where writing that runs on past a box's right wall ends (a pixel column of the
    page), or None when nothing crosses the wall.

    ``rows`` are the page's rows inside the box (a caption's left out), ``wall`` the
    first column of the wall, ``stop`` a column not to go past (the next label). Ink in a
    strip just clear of the wall (``_PAST_WALL`` inches on) is writing that went on; it
    ends at the first gap wider than half the box is tall, as letters and words are
    closer than that.
    """
    start = wall + round(_PAST_WALL[0] * dpi)
    limit = min(rows.shape[1], stop, wall + round(_PAST_WALL[2] * dpi))
    ink = rows[:, start:limit] < 128
    if ink.size == 0:
        return None
    # A column inked most of the way down is a wall (of the next box), not writing.
    columns = ink.any(axis=0) & (ink.mean(axis=0) < 0.8)
    near = round(_PAST_WALL[1] * dpi)
    strip = ink[:, :near] & columns[:near]
    if np.count_nonzero(strip.any(axis=1)) < _stroke(dpi):
        return None
    gap = max(_stroke(dpi), rows.shape[0] // 2)
    blank = 0
    for offset, inked in enumerate(columns):
        blank = 0 if inked else blank + 1
        if blank >= gap:
            return start + offset - blank + 1
    return limit


def _line_text(words: list[OcrWord]) -> tuple[str, float]:
    words = [w for w in words if w.text.strip()]
    if not words:
        return "", 0.0
    # The weakest character decides: one misread character makes the whole value wrong.
    confidence = min(w.confidence if w.weakest_char is None else w.weakest_char for w in words)
    return " ".join(w.text for w in words), float(np.clip(confidence, 0.0, 1.0))


def _ink_box(crop: GrayImage, dpi: int) -> tuple[int, int, int, int] | None:
    """The box around the crop's ink, ignoring specks; None when there is no real ink."""
    keep = [
        s
        for s in _ink_stats(crop)
        if s[cv2.CC_STAT_HEIGHT] >= _stroke(dpi) and s[cv2.CC_STAT_AREA] > 4
    ]
    # Real writing has at least one character taller than ~1.3 mm; specks do not.
    if not keep or max(int(s[cv2.CC_STAT_HEIGHT]) for s in keep) < dpi // 20:
        return None
    x0 = min(int(s[cv2.CC_STAT_LEFT]) for s in keep)
    y0 = min(int(s[cv2.CC_STAT_TOP]) for s in keep)
    x1 = max(int(s[cv2.CC_STAT_LEFT] + s[cv2.CC_STAT_WIDTH]) for s in keep)
    y1 = max(int(s[cv2.CC_STAT_TOP] + s[cv2.CC_STAT_HEIGHT]) for s in keep)
    return x0, y0, x1, y1


def _cut_pieces(crop: GrayImage, dpi: int) -> bool:
    """Whether the crop holds pieces of ink as wide as they are tall and at least a
    stroke's length each way, as the halves of a letter are and neither specks nor the
    slivers a removed wall leaves are."""
    side = _stroke(dpi)
    return any(
        s[cv2.CC_STAT_HEIGHT] >= side
        and s[cv2.CC_STAT_WIDTH] >= side
        and s[cv2.CC_STAT_AREA] >= side * side
        for s in _ink_stats(crop)
    )


def _ink_stats(crop: GrayImage) -> np.ndarray[Any, Any]:
    """The stats of the crop's pieces of ink (``cv2.connectedComponentsWithStats``'
    rows, the paper left out); none where the crop has too little contrast to hold ink."""
    if float(crop.max()) - float(crop.min()) < 60:
        return np.empty((0, 5), np.int32)
    _, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    return np.asarray(stats[1:count])


def _stroke(dpi: int) -> int:
    """The least length of a pen's stroke, in pixels: about 1/8 of a 10-pt letter;
    smaller blobs are specks."""
    return max(3, dpi // 40)


# --- judging ---------------------------------------------------------------------------


def _judge(
    spec: FieldSpec, reading: ValueReading, page: int, *, handwritten_page: bool = False
) -> ExtractedField:
    if not reading.text.strip() and not reading.second_text:
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
    if not any(c.isalnum() for c in reading.text + reading.second_text):
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
    readings: list[EngineReading] = []
    if reading.second is not None:
        first = Reading(reading.engine, reading.text, reading.confidence)
        voted = vote(
            spec, first, reading.second, value, error, confidence, handwritten=reading.handwritten
        )
        value, error, confidence, readings = voted
        if reading.frames is not None:
            tesseract = [reading.text, *(text for text, _ in reading.others)]
            weighed = weigh_readings(
                spec,
                tesseract,
                reading.frames,
                characters=reading.characters,
                maybe_struck_at=reading.maybe_struck_at if handwritten_page else (),
                handwritten=reading.handwritten or handwritten_page,
            )
            if weighed is not None:
                value, error = weighed.value, None
                confidence = weighed_confidence(weighed, handwritten=reading.handwritten)
        if not reading.text.strip():
            # Tesseract saw nothing in ink the second engine read: a person looks.
            confidence = min(confidence, DOUBTFUL)
    handwritten = reading.handwritten or handwritten_page
    spaced = (
        reading.one_word and spec.type in _CASE_WRITTEN and isinstance(value, str) and " " in value
    )
    if spaced:
        # Spaces read where the writing has none wide enough: a letter's gap. The engines
        # read them, so a person confirms the word.
        value = str(value).replace(" ", "")
    elif (
        handwritten
        and spec.type in _CASE_WRITTEN
        and isinstance(value, str)
        and reading.gaps is not None
        and reading.frames is not None
        and reading.frames.step > 0
    ):
        # Words spaced apart, and letters too: a space where the gap is a letter's.
        columns, texts = reading.frames.greedy_columns(), [reading.text, reading.second_text]
        closed = spaces_between_words(value, columns, reading.gaps, texts)
        spaced, value = closed != value, closed
    if handwritten and spec.type in _CASE_WRITTEN and isinstance(value, str):
        value = _one_case_a_word(value)
    if spec.type is FieldType.NAME and isinstance(value, str) and _capital_i_as_l(value):
        # However sure both engines and the frames are: a capital I read as a small l
        # (see the comment on ``_NAME_WORD``). After the weighing, which would undo a
        # cap set before the vote as ``_plausibility``'s are.
        confidence = min(confidence, DISAGREEMENT_CONFIDENCE)
    # Written on past the box: what is beyond it may be another field's, or cut off. A
    # letter struck out and taken out of the reading: a person confirms the rest. On a
    # handwritten page, a stroke that may strike a letter out: a person looks (a typed
    # page's print, photographed, holds such strokes: it is read as print).
    doubts = [
        doubt
        for doubt, seen in (
            ("written_past_box", reading.past_wall),
            ("letter_struck_out", reading.struck),
            ("maybe_struck_out", handwritten_page and reading.struck_maybe),
            ("spaces_left_out", spaced),
        )
        if seen
    ]
    if doubts:
        confidence = min(confidence, DOUBTFUL)
    return ExtractedField(
        value=value,
        confidence=round(confidence, 3),
        valid=error is None,
        page=page,
        bbox=layout.rounded(reading.bbox),
        error=error,
        readings=readings,
        doubts=doubts,
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


def _one_case_a_word(text: str) -> str:
    """``text`` with each capitalised word's letters after the first in one case, where
    the letters out of step are ones whose case is told by size alone
    (``_CASE_LOOKALIKES``): small when at least as many are small, else capitals. A word
    whose mixed case those letters do not explain ("McKay", "PhD") stays as read."""

    def mended(match: re.Match[str]) -> str:
        word = match.group()
        prefix = _MC.match(word)
        start = prefix.end() + 1 if prefix else 1
        head, rest = word[:start], word[start:]
        if len(rest) < 2 or not head[0].isupper() or rest.islower() or rest.isupper():
            return word
        small = sum(c.islower() for c in rest) >= sum(c.isupper() for c in rest)
        fixed = "".join(
            (c.lower() if small else c.upper()) if c.lower() in _CASE_LOOKALIKES else c
            for c in rest
        )
        return head + fixed if fixed.islower() or fixed.isupper() else word

    return _NAME_WORD.sub(mended, text)


def _capital_i_as_l(name: str) -> bool:
    """Whether a name in capitalised words has one starting with a small l (see
    ``_NAME_WORD``)."""
    words = _NAME_WORD.findall(name)
    return any(w[0].isupper() for w in words) and any(
        w[0] == "l" and w[1:].islower() and w not in _SMALL_PARTICLES for w in words
    )


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
            detail = f"confidence {extracted.confidence:.2f} below {threshold:.2f}"
            for doubt in extracted.doubts:
                detail += f"; {DOUBTS.get(doubt, doubt)}"
            reasons.append(ReviewReason(field=spec.name, code="low_confidence", detail=detail))
    return reasons

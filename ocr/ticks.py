"""Tick boxes: which box is a label's, whether it is ticked, and which option of a
choice is.

A tick box may stand right after its label, far off in a column at the margin, or
before the label; a row may hold several labels each with its box. So a box is taken
as a label's when it is on the label's row and no other printed word on that row is
nearer to it: each box belongs to the text it stands closest to. A choice printed as
options with a box each ("Yes [ ] No [ ]", "Mr [ ] Mrs [ ] Ms [ ]") is read the same
way, option by option; the value is the option whose box is ticked.

Whether a box is ticked is judged by the ink inside it, and what kind of mark it is by
the strokes (``read_mark``): a tick or a cross is an answer; a mark taken back (scribbled
over, struck through, blotted) is none, and is flagged. Ink that is neither clearly
absent nor clearly a mark, or a mark that may have been taken back, sends the field to
review.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import cv2
import numpy as np

from config.form_template import FieldSpec
from domain.forms import BBox, ExtractedField, Word
from ocr import layout
from ocr.boxes import Box, BoxKind
from ocr.engines import GrayImage
from ocr.preprocess import ink_pieces
from ocr.reading import ReadPage
from ocr.regions import PageBox

# Share of a tick box's inside that must be ink for it to count as ticked, and the band
# around it where the ink says neither (see ``tick_confidence``).
TICKED_INK = 0.05
UNSURE_INK = (0.01, 0.10)
# Confidence given to a reading a person must check: below any sensible review bar.
DOUBTFUL = 0.5
# How short an option may be and still be matched fuzzily ("Mr" and "Mrs" must not be).
_FUZZY_OPTION_MIN = 4
_OPTION_MIN_SCORE = 85.0
# How many label heights below its label a column of options may reach.
_OPTIONS_BELOW = 4.5
# A tick box scribbled over: a blot this many inches a side, this share of it ink.
_SCRIBBLE_SIDE_IN = (0.09, 0.4)
_SCRIBBLE_INK = 0.3
# A mark taken back, told from a tick or a cross by three signs, each with a band below
# where a person looks; the bounds were set on pen-drawn marks scanned in grey and in
# 1 bit (``tests/ocr/test_marks.py``): the share of rows or columns inside the box that
# cross three strokes or more (a pen's tick or cross crosses two at most; a cross
# printed with serifs crosses three at its feet, and is left to a person); strokes
# leaving the box, counted on a ring outside its walls (a tick's long arm, or a
# cross's, may leave it once or twice); ink over most of the box (a pen's cross reaches
# 0.55 of it, a cross printed in a bold face 0.65, a blot 0.75 and more).
_TAKEN_BACK_STROKES = (0.06, 0.15)
_TAKEN_BACK_LEAVING = (2, 3)
_TAKEN_BACK_INK = (0.7, 0.85)
# Where strokes leaving a box are counted: this share of its side outside its walls,
# clear of their ink and blur (nearer, a tick's and a cross's counts run high).
_RING_OFFSET = 0.15
# Where a mark beside a box is looked for, in sides of the box beyond its walls (left,
# above, right, below: a tick's arm rises above its foot), and how big a piece of ink
# must be each way, in sides, to be one: a pen's tick is most of a side wide and tall; a
# rule is a stroke thick.
_BESIDE = (1.0, 0.6, 1.8, 0.4)
_BESIDE_PIECE = (0.3, 0.55)
# How much further round that area, in sides, a piece reaching into it is followed to
# see it whole: a tick drawn a side and a half past the box is three sides from it at
# its arm's end.
_FOLLOWED = 1.5
# A printed letter, told from a mark drawn over a word: a piece of ink at least this
# share of a box's side tall counts towards the row's printed line, which takes this
# many; a letter reaches this share of a capital's height above the capitals' top, and
# its descender this share below the baseline; it is at most this many capitals wide
# (an M or a W in a serif face is 1.25).
_LETTER_PIECE = 0.25
_LETTERS_FOR_A_LINE = 4
_LETTER_SLACK = 0.1
_DESCENDER = 0.4
_WIDEST_LETTER = 1.4
# A word this share of a box's side from its wall or nearer starts or ends at it.
_MARK_READ_GAP = 0.1
# A "word" that starts or ends at a box's wall and is this many times as tall as the box
# is a mark drawn beside it, read as letters: print on the box's row is no taller than
# the box.
_MARK_TALLER = 1.3
# A stroke crosses a box's wall when it runs from this share of the side inside the box
# to twice as far outside it (past the wall's ink and blur).
_ACROSS_WALL = 0.1
# How big a mark beside a box must be each way, in sides, to be taken as a tick meant for
# the nearest box (the generator's ticks are 0.4-1.1 sides wide and 0.5-1.4 tall), and
# how big it may be (a word written beside the row is bigger).
_TICK_SIZED = (0.4, 0.7, 2.5)
# How tall ink rising above a row of boxes out of a word on it must be to be a mark; how
# far above a box its tick's arm may rise, in sides.
_BESIDE_RISEN = 0.15
_ARM_RISE = 0.5
# A printed word beside a box that OCR read less surely than this, on a handwritten page,
# may have a mark drawn over it: its ink is not left out. (On the tuning designs words
# beside boxes, read with a box's wall at times, came to 0.64 and more; words with a
# tick over them to 0.37-0.58.)
_SURE_WORD = 0.6
# A box found this much smaller than the page's other tick boxes is most likely part of
# one, walled off by a stroke through it: its mark is for a person.
_PART_OF_A_BOX = 0.85


class MarkKind(StrEnum):
    """What is in a tick box."""

    EMPTY = "empty"
    TICK = "tick"
    CROSS = "cross"
    CROSSED_OUT = "crossed out"  # a mark scribbled over, struck through or blotted


@dataclass(frozen=True)
class Mark:
    """One tick box's mark: its kind, the share of the box that is ink, and how sure the
    reading of it is. ``beside``: the mark stands beside the box, not in it."""

    kind: MarkKind
    ink: float
    confidence: float
    beside: bool = False

    @property
    def ticked(self) -> bool:
        return self.kind in (MarkKind.TICK, MarkKind.CROSS)


@dataclass(frozen=True)
class _Mark:
    box: PageBox
    mark: Mark

    @property
    def ticked(self) -> bool:
        return self.mark.ticked

    @property
    def confidence(self) -> float:
        return self.mark.confidence


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
    with the distance from the band. (Every empty box of the tuning designs measured
    0.0, scanned, in 1 bit or photographed; the band began at 2% until a photo's blurred
    blue tick, mostly lighter than the ink threshold, measured 1.8% and was sure to be
    empty.)
    """
    low, high = UNSURE_INK
    if low < density < high:
        return DOUBTFUL
    distance = low - density if density <= low else density - high
    return round(0.9 + 0.1 * min(1.0, distance / low), 3)


def read_mark(image: GrayImage, box: tuple[int, int, int, int], *, struck: bool = False) -> Mark:
    """The mark in the tick box at ``box`` (pixels of ``image``: x0, y0, x1, y1).

    Little ink is no mark, and ink in ``UNSURE_INK``'s band is for a person. Otherwise a
    mark is taken back (``CROSSED_OUT``) when rows or columns of the box cross three
    strokes, when three strokes or more run out of it, or when it is coloured in; a
    cross when its columns cross two strokes, else a tick. Signs short of that but past
    a tick's or a cross's leave the mark to a person, as does a box found ``struck``
    through from wall to wall (``boxes.Box.struck``: a tick's or a cross's strokes seldom
    run level across it, a scribble's do).
    """
    x0, y0, x1, y1 = box
    crop = image[y0:y1, x0:x1]
    ink = tick_ink(crop) if crop.size else 0.0
    sure = tick_confidence(ink)
    if ink < TICKED_INK:
        return Mark(MarkKind.EMPTY, ink, sure)
    strokes, columns = _stroke_crossings(crop)
    leaving = _strokes_leaving(image, box)
    signs = (
        (strokes, _TAKEN_BACK_STROKES),
        (ink, _TAKEN_BACK_INK),
        (leaving, _TAKEN_BACK_LEAVING),
    )
    if any(value >= bounds[1] for value, bounds in signs):
        return Mark(MarkKind.CROSSED_OUT, ink, DOUBTFUL)
    if struck or any(value >= bounds[0] for value, bounds in signs):
        sure = min(sure, DOUBTFUL)
    return Mark(MarkKind.CROSS if columns >= 2 else MarkKind.TICK, ink, sure)


def _stroke_crossings(crop: GrayImage) -> tuple[float, float]:
    """The share of the box's rows or columns (whichever is more) that cross three
    strokes or more, and how many strokes its columns cross (the upper quartile). The
    walls are cut off by an eighth of the side: the rest must keep strokes drawn near
    them."""
    height, width = crop.shape[:2]
    inset_x, inset_y = max(2, round(width * 0.12)), max(2, round(height * 0.12))
    ink = crop[inset_y : height - inset_y, inset_x : width - inset_x] < 128
    if ink.size == 0:
        return 0.0, 0.0
    columns = np.count_nonzero(ink[1:] & ~ink[:-1], axis=0) + ink[0]
    rows = np.count_nonzero(ink[:, 1:] & ~ink[:, :-1], axis=1) + ink[:, 0]
    many = max(float(np.mean(columns >= 3)), float(np.mean(rows >= 3)))
    return many, float(np.percentile(columns, 75))


def _strokes_leaving(image: GrayImage, box: tuple[int, int, int, int]) -> int:
    """How many strokes cross a ring round the box (``_RING_OFFSET`` outside its walls),
    leaving out where the walls' own lines run on (a box in a table, a row of boxes
    sharing walls)."""
    x0, y0, x1, y1 = box
    side = min(x1 - x0, y1 - y0)
    gap = max(2, round(side * _RING_OFFSET))
    left, top, right, bottom = x0 - gap, y0 - gap, x1 - 1 + gap, y1 - 1 + gap
    height, width = image.shape[:2]
    if left < 0 or top < 0 or right >= width or bottom >= height:
        return 0
    xs = np.arange(left, right)
    ys = np.arange(top, bottom)
    ring_x = np.concatenate([xs, np.full(ys.size, right), xs[::-1] + 1, np.full(ys.size, left)])
    ring_y = np.concatenate([np.full(xs.size, top), ys, np.full(xs.size, bottom), ys[::-1] + 1])
    ink = image[ring_y, ring_x] < 128
    near_wall = max(1, round(side * 0.08))
    walls = (
        (np.abs(ring_x - x0) <= near_wall)
        | (np.abs(ring_x - (x1 - 1)) <= near_wall)
        | (np.abs(ring_y - y0) <= near_wall)
        | (np.abs(ring_y - (y1 - 1)) <= near_wall)
    )
    ink &= ~walls
    return int(np.count_nonzero(ink & ~np.roll(ink, 1)))


class TickReader:
    """Tick boxes of one page, and the words that could own them. On a ``handwritten``
    page a printed word beside a box that OCR was unsure of may have a mark drawn over it
    (``_marks_beside``); on a typed one OCR is as unsure of words it read with a box's wall
    or the typed mark in it."""

    def __init__(
        self, page: ReadPage, boxes: Sequence[PageBox], *, handwritten: bool = False
    ) -> None:
        self.page = page
        self.handwritten = handwritten
        self.ticks = [b for b in boxes if b.kind is BoxKind.TICK]
        # Words as printed: without the tick boxes OCR read into them, by the original.
        self._trimmed = {id(w): _without_boxes(w, self.ticks) for w in page.words}
        self.words = [w for w in self._trimmed.values() if w is not None]
        if handwritten:
            self.words = [w for w in self.words if not self._a_mark_read(w)]
        self._row_words: dict[int, list[Word]] = {}
        self._side: float | None = None
        self._marked: list[PageBox] | None = None  # boxes with ink in them
        self._lines: dict[tuple[int, int], tuple[float, float] | None] = {}

    def checkbox(self, spec: FieldSpec, label: layout.LabelMatch | None) -> ExtractedField:
        """A checkbox field: its box ticked or not; a Yes/No pair on its row read as one."""
        if label is not None and spec.zone is None:
            pair, _ = self._options(["Yes", "No"], label)
            if len(pair) == 2:
                yes, no = pair["Yes"], pair["No"]
                field = self._one_of({"Yes": yes, "No": no}, required=spec.required)
                if field.value is not None:
                    field = field.model_copy(update={"value": field.value == "Yes"})
                return field
        box = self._own_box(label, spec.zone)
        scribble = None
        if box is None and label is not None and spec.zone is None:
            scribble = self._scribbled_box(label)
        if scribble is not None:
            # A box filled in with ink, its walls lost: a mark crossed out.
            return self._crossed_out(scribble)
        if box is None:
            where = label.bbox if label else spec.zone
            return ExtractedField(page=self.page.number, bbox=where, error="no tick box found")
        mark = self._mark(box).mark
        if mark.kind is MarkKind.CROSSED_OUT:
            return self._crossed_out(box)
        return ExtractedField(
            value=mark.ticked,
            confidence=mark.confidence,
            valid=True,
            page=self.page.number,
            bbox=layout.rounded(box.bbox),
        )

    def _crossed_out(self, box: PageBox) -> ExtractedField:
        """A box whose mark was taken back: no answer, and a person confirms it."""
        return ExtractedField(
            value=False,
            confidence=DOUBTFUL,
            valid=False,
            page=self.page.number,
            bbox=layout.rounded(box.bbox),
            error="crossed out",
        )

    def choice(self, spec: FieldSpec, label: layout.LabelMatch | None) -> ExtractedField | None:
        """A choice printed as options with a box each: the ticked option. None when the
        page shows no such options for it (the choice is written in, not ticked)."""
        if label is None:
            return None
        options, own_row_only = self._options(spec.choices, label, zone=spec.zone)
        if not options or (len(options) < 2 <= len(spec.choices) and not own_row_only):
            return None
        field = self._one_of(options, required=spec.required)
        if len(options) < len(spec.choices) or self._unclaimed_ticked(options):
            # An option whose box was not found (a tick over its walls, a scribble) may
            # hold the answer, or a ticked box belongs to none: a person looks.
            field = field.model_copy(update={"confidence": min(field.confidence, DOUBTFUL)})
        return field

    # --- reading ---------------------------------------------------------------------

    def _one_of(self, options: dict[str, _Mark], *, required: bool) -> ExtractedField:
        ticked = [name for name, mark in options.items() if mark.ticked]
        if len(ticked) > 1:
            # A mark in a box outweighs one beside another (a printed word next to it
            # that OCR was unsure of, or a tick that strayed): the field is doubtful
            # already, for the mark beside.
            in_box = [name for name in ticked if not options[name].mark.beside]
            ticked = in_box if len(in_box) == 1 else ticked
        confidence = min(m.confidence for m in options.values())
        area = layout.union(m.box.bbox for m in options.values())
        common = {"page": self.page.number, "confidence": confidence}
        taken_back = [n for n, m in options.items() if m.mark.kind is MarkKind.CROSSED_OUT]
        if taken_back and not ticked:
            # An answer taken back and none given instead: a person asks.
            return ExtractedField(
                bbox=layout.rounded(area), error=f"{taken_back[0]} crossed out", **common
            )
        if len(ticked) > 1:
            return ExtractedField(
                bbox=layout.rounded(area), error=f"{len(ticked)} options ticked", **common
            )
        if not ticked:
            error = "required but nothing ticked" if required else None
            return ExtractedField(
                bbox=layout.rounded(area), valid=not required, error=error, **common
            )
        chosen = options[ticked[0]].box.bbox
        return ExtractedField(value=ticked[0], valid=True, bbox=layout.rounded(chosen), **common)

    def _mark(self, box: PageBox) -> _Mark:
        image = self.page.image()
        height, width = image.shape[:2]
        pixels = _in_pixels(box.bbox, width, height)
        mark = read_mark(image, pixels, struck=box.struck)
        if mark.ticked and _side(box, width, height) < _PART_OF_A_BOX * self._usual_side():
            mark = replace(mark, confidence=min(mark.confidence, DOUBTFUL))
        if mark.kind is MarkKind.EMPTY and any(
            self._crossed_wall(box, right=right) for right in (True, False)
        ):
            # A tick drawn across the box's wall, most of it out of the box: meant for
            # it, for a person to confirm.
            return _Mark(box, Mark(MarkKind.TICK, mark.ink, DOUBTFUL, beside=True))
        if mark.kind is MarkKind.EMPTY:
            beside = self._marks_beside(pixels)
            if beside:
                # A tick nearer this box than any other was most likely meant for it: read
                # as ticked, for a person to confirm. Nearer another, smaller than a tick,
                # or running on out of the area looked at (a word read with it: where it
                # lies is not known), it leaves this box in doubt all the same.
                meant = any(tick and self._nearest_box(piece) is box for piece, tick in beside)
                kind = MarkKind.TICK if meant else mark.kind
                mark = Mark(kind, mark.ink, min(mark.confidence, DOUBTFUL), beside=meant)
        return _Mark(box, mark)

    def _nearest_box(self, piece: tuple[int, int, int, int]) -> PageBox | None:
        """The tick box whose middle is nearest the middle of ``piece`` (page pixels)."""
        height, width = self.page.image().shape[:2]
        middle = ((piece[0] + piece[2]) / 2, (piece[1] + piece[3]) / 2)

        def distance(box: PageBox) -> float:
            x0, y0, x1, y1 = _in_pixels(box.bbox, width, height)
            return math.hypot((x0 + x1) / 2 - middle[0], (y0 + y1) / 2 - middle[1])

        return min(self.ticks, key=distance, default=None)

    def _marks_beside(
        self, pixels: tuple[int, int, int, int]
    ) -> list[tuple[tuple[int, int, int, int], bool]]:
        """The marks that stand beside the box at ``pixels``, out of it: a tick put next
        to its box, across its wall, or over the next option's word, rather than in it.
        Each in page pixels, and whether it may be a tick meant for the nearest box: tick
        sized, and seen whole.

        Ink round the box (``_BESIDE``) counts once the box and its walls, the other tick
        boxes (and above each, where its tick's arm may rise) and the printed words (two
        letters or more, with a margin: OCR's box round a word may cut its last letter
        short) are left out, but for a word on the box's row that may have a mark drawn
        over it (``_marked_over``): a piece as big as a tick each way is a mark; so is ink
        that rises above the row's top out of a word on the row (printed letters stand
        below the tops of the row's boxes, and OCR reads a tick drawn over a word as part
        of it). A rule is too thin to count, a speck or a dot of a leader too small.

        A piece reaching into the area is followed out of it (``_FOLLOWED``) to be seen
        whole: a tick drawn well past the box runs on past the area. A printed letter of
        a word left in (``_a_letter``) is not followed: it is taken as far as it lies in
        the area, as before, so that it neither passes for a tick nor stops leaving the
        box in doubt.
        """
        image = self.page.image()
        height, width = image.shape[:2]
        x0, y0, x1, y1 = pixels
        side = min(x1 - x0, y1 - y0)
        left_reach, above, right_reach, below = _BESIDE
        # The area looked at, and round it the area its pieces are followed in.
        near = (
            max(0, x0 - round(left_reach * side)),
            max(0, y0 - round(above * side)),
            min(width, x1 + round(right_reach * side)),
            min(height, y1 + round(below * side)),
        )
        follow = round(_FOLLOWED * side)
        left, top = max(0, near[0] - follow), max(0, near[1] - follow)
        right, bottom = min(width, near[2] + follow), min(height, near[3] + follow)
        ink = image[top:bottom, left:right] < 128
        if not ink.any():
            return []
        gap = max(2, round(side * _RING_OFFSET))
        pad = max(2, round(side * 0.05))
        row_top = y0 - gap  # the row's printed letters stand below this

        def clear(bx0: float, by0: float, bx1: float, by1: float, margin: int) -> None:
            ink[
                max(0, round(by0) - margin - top) : max(0, round(by1) + margin - top),
                max(0, round(bx0) - margin - left) : max(0, round(bx1) + margin - left),
            ] = False

        clear(x0, y0, x1, y1, gap)
        for other in self.ticks:
            bx0, by0, bx1, by1 = _in_pixels(other.bbox, width, height)
            clear(bx0, by0 - _ARM_RISE * (by1 - by0), bx1, by1, gap)
        left_in = []  # words on the row that may have a mark over them, their ink kept
        for word in self.words:
            if sum(c.isalnum() for c in word.text) >= 2:
                wx0, wy0, wx1, wy1 = _in_pixels(word.bbox, width, height)
                on_row = y0 < (wy0 + wy1) / 2 < y1
                if on_row and (self._marked_over(word) or self._holds_a_mark(word, y0, y1)):
                    left_in.append((wx0, wx1))
                    continue
                clear(wx0, max(wy0, row_top + pad) if on_row else wy0, wx1, wy1, pad)
        line = self._printed_line(y0, y1) if left_in else None
        count, _, stats = ink_pieces(ink.astype(np.uint8))
        marks = []
        for index in range(1, count):
            x, y, w, h = (int(v) for v in stats[index, :4])
            whole = (left + x, top + y, left + x + w, top + y + h)
            piece, edges = whole, (left, top, right, bottom)
            if line is not None and _a_letter(whole, line, left_in):
                # A letter of a word left in is taken as far as it lies in the area looked
                # at, and cut by its edge, as all pieces were before they were followed:
                # followed whole, it would seem a tick, or the box's doubt be lost.
                clipped, edges = _clipped(whole, near), near
                if clipped is None:
                    continue
                piece = clipped
            if not _overlap(near, piece):
                continue  # wholly outside the area looked at
            w, h = piece[2] - piece[0], piece[3] - piece[1]
            big = min(w, h) >= _BESIDE_PIECE[0] * side and max(w, h) >= _BESIDE_PIECE[1] * side
            # Above the row's top, and down to it (not cut off by the area's top: a
            # letter of the line above).
            rise = row_top - piece[1]
            risen = piece[1] > near[1] and piece[3] >= row_top - 1
            risen = risen and rise >= _BESIDE_RISEN * side and w <= side * 1.5
            if big or risen:
                # Cut by the edge of the area it was followed in (not the page's): it runs
                # on past it.
                cut = (
                    (piece[0] == edges[0] > 0)
                    or (piece[1] == edges[1] > 0)
                    or (piece[2] == edges[2] < width)
                    or (piece[3] == edges[3] < height)
                )
                # A tick or a cross is most of a side each way, or rises above the row
                # (the arm of one drawn across the box's wall, the rest of it cleared
                # with the box); a printed letter of a word left in (``_marked_over``) is
                # smaller, and stands in the row.
                low, high, most = (bound * side for bound in _TICK_SIZED)
                tick_sized = min(w, h) >= low and high <= max(w, h) <= most
                marks.append((piece, (tick_sized or risen) and not cut))
        return marks

    def _printed_line(self, y0: int, y1: int) -> tuple[float, float] | None:
        """The printed line of the row of boxes from pixel row ``y0`` to ``y1``: the top
        of its capitals and its baseline, in page pixels, from the pieces of ink in the
        words on it (a tenth of them may stand higher, the median lower: a mark drawn
        over a word is one piece among its letters). None with too few letters to tell."""
        if (y0, y1) not in self._lines:
            image = self.page.image()
            height, width = image.shape[:2]
            tops, bottoms = [], []
            for word in self.words:
                wx0, wy0, wx1, wy1 = _in_pixels(word.bbox, width, height)
                if not y0 < (wy0 + wy1) / 2 < y1 or sum(c.isalnum() for c in word.text) < 2:
                    continue
                crop = image[wy0:wy1, wx0:wx1]
                if crop.size == 0:
                    continue  # a word OCR gave no width or height has no letters to measure
                count, _, stats = ink_pieces((crop < 128).astype(np.uint8))
                for _x, y, w, h, _area in stats[1:count]:
                    if h >= _LETTER_PIECE * (y1 - y0) and w >= 2:
                        tops.append(wy0 + int(y))
                        bottoms.append(wy0 + int(y + h))
            line = None
            if len(tops) >= _LETTERS_FOR_A_LINE:
                line = (float(np.percentile(tops, 10)), float(np.median(bottoms)))
            self._lines[(y0, y1)] = line
        return self._lines[(y0, y1)]

    def _a_mark_read(self, word: Word) -> bool:
        """Whether a word is a tick box's mark read as letters: it starts or ends at the
        box's wall, and a stroke crosses the wall there (a tick drawn across the wall
        reads as "Ty" or "LK"; a printed word stands clear of its box's wall), or it is
        far taller than the box (a tick drawn just past the wall read as "By")."""
        x0, y0, x1, y1 = word.bbox
        for box in self.ticks:
            bx0, by0, bx1, by1 = box.bbox
            if min(y1, by1) <= max(y0, by0):
                continue  # not on the box's row
            near = _MARK_READ_GAP * (bx1 - bx0)
            starts_at, ends_at = abs(x0 - bx1) <= near, abs(bx0 - x1) <= near
            if not (starts_at or ends_at):
                continue
            tall = y1 - y0 > _MARK_TALLER * (by1 - by0)
            if tall and self._inked_taller(word, box):
                return True
            if (starts_at and self._crossed_wall(box, right=True)) or (
                ends_at and self._crossed_wall(box, right=False)
            ):
                return True
        return False

    def _inked_taller(self, word: Word, box: PageBox) -> bool:
        """Whether the ink in a word's columns, clear of the box's wall, is taller than
        ``_MARK_TALLER`` boxes. OCR's box round a word read with the wall of the box
        beside it ("No|") is as tall as the wall, and stays so once the box is cut off
        (``_without_boxes``): the word's own letters are as short as print."""
        image = self.page.image()
        height, width = image.shape[:2]
        x0, y0, x1, y1 = _in_pixels(word.bbox, width, height)
        bx0, by0, bx1, by1 = _in_pixels(box.bbox, width, height)
        # The wall stands just outside the box's found edges.
        band = max(2, round(_ACROSS_WALL * (bx1 - bx0)))
        if abs(x0 - bx1) <= band:
            x0 = bx1 + band  # the word starts at the box's right wall
        if abs(x1 - bx0) <= band:
            x1 = bx0 - band  # or ends at its left wall
        rows = np.flatnonzero((image[y0:y1, x0:x1] < 128).sum(axis=1) >= 2)
        return rows.size > 0 and rows[-1] - rows[0] + 1 > _MARK_TALLER * (by1 - by0)

    def _crossed_wall(self, box: PageBox, *, right: bool) -> bool:
        """Whether a stroke crosses the box's right (or left) wall between its top and
        bottom walls: one piece of ink from a tenth of the side inside the box to a fifth
        outside it, the wall left in (faint on a scan, it may be all but gone)."""
        image = self.page.image()
        height, width = image.shape[:2]
        x0, y0, x1, y1 = _in_pixels(box.bbox, width, height)
        band = max(2, round(_ACROSS_WALL * (x1 - x0)))
        # A found box's edges are its inside: the wall stands just outside them.
        wall, outward = (x1, 1) if right else (x0, -1)
        inside, outside = wall - outward * band, wall + outward * 2 * band
        c0, c1 = max(0, min(inside, outside) - 1), min(width, max(inside, outside) + 2)
        window = image[y0 + band : y1 - band, c0:c1] < 128
        if window.size == 0:
            return False
        count, _, stats = ink_pieces(window.astype(np.uint8))
        return any(
            c0 + x <= min(inside, outside) and c0 + x + w - 1 >= max(inside, outside)
            for x, _y, w, _h, _area in stats[1:count]
        )

    def _marked_over(self, word: Word) -> bool:
        """Whether a printed word may have a mark drawn over it: on a handwritten page,
        OCR was unsure of it, and no box with a mark in it stands next to it (a box's
        wall and its tick, read with the word, leave OCR as unsure)."""
        if not self.handwritten or word.confidence >= _SURE_WORD:
            return False
        if self._marked is None:
            image = self.page.image()
            height, width = image.shape[:2]
            self._marked = []
            for box in self.ticks:
                x0, y0, x1, y1 = _in_pixels(box.bbox, width, height)
                crop = image[y0:y1, x0:x1]
                if crop.size and tick_ink(crop) >= UNSURE_INK[0]:
                    self._marked.append(box)
        return not any(
            _gap(box.bbox, word.bbox) < box.bbox[2] - box.bbox[0]
            and min(box.bbox[3], word.bbox[3]) > max(box.bbox[1], word.bbox[1])
            for box in self._marked
        )

    def _holds_a_mark(self, word: Word, y0: int, y1: int) -> bool:
        """Whether a word on the row of boxes from pixel row ``y0`` to ``y1``, on a
        handwritten page, holds ink that no printed letter of the row could be: taller
        or lower than the row's printed line, or wider than its widest capital. A tick
        drawn against a word is read with it; on a 1-bit scan OCR may be as sure of the
        word as of one printed alone (``_SURE_WORD``)."""
        if not self.handwritten:
            return False
        line = self._printed_line(y0, y1)
        if line is None:
            return False
        image = self.page.image()
        height, width = image.shape[:2]
        wx0, wy0, wx1, wy1 = _in_pixels(word.bbox, width, height)
        crop = image[wy0:wy1, wx0:wx1]
        if crop.size == 0:
            return False
        ink = crop < 128
        for box in self.ticks:  # a box's wall OCR took into the word is no mark
            bx0, by0, bx1, by1 = _in_pixels(box.bbox, width, height)
            gap = max(2, round((bx1 - bx0) * _RING_OFFSET))
            ink[
                max(0, by0 - gap - wy0) : max(0, by1 + gap - wy0),
                max(0, bx0 - gap - wx0) : max(0, bx1 + gap - wx0),
            ] = False
        count, _, stats = ink_pieces(ink.astype(np.uint8))
        return any(
            h >= _LETTER_PIECE * (y1 - y0)
            and not _a_letter((wx0 + x, wy0 + y, wx0 + x + w, wy0 + y + h), line, [(wx0, wx1)])
            for x, y, w, h, _area in stats[1:count]
        )

    def _usual_side(self) -> float:
        """The median side of the page's tick boxes in pixels (0 with fewer than three,
        when there is nothing to compare with)."""
        if self._side is None:
            height, width = self.page.image().shape[:2]
            sides = sorted(_side(b, width, height) for b in self.ticks)
            self._side = sides[len(sides) // 2] if len(sides) >= 3 else 0.0
        return self._side

    # --- which box is whose ----------------------------------------------------------

    def _own_box(self, label: layout.LabelMatch | None, zone: BBox | None) -> PageBox | None:
        """The tick box nearest the label on its row that no other word is nearer to; in
        the zone, when the template names one."""
        if zone is not None:
            inside = [b for b in self.ticks if layout.holds(zone, b.bbox)]
            if label is None or len(inside) <= 1:
                return inside[0] if inside else None
            return min(inside, key=lambda b: _gap(b.bbox, label.bbox))
        assert label is not None
        return self._nearest_owned(label.words)

    def _nearest_owned(self, own: Sequence[Word]) -> PageBox | None:
        """The tick box on the words' row nearest them, unless another word is nearer."""
        own = [t for w in own if (t := self._trimmed.get(id(w), w)) is not None] or list(own)
        text = layout.union(w.bbox for w in own)
        own_words = {id(w) for w in own}
        # The row: from the middle of the first line of words to that of the last (a
        # label may wrap); a word box stretched over a box edge must not widen it.
        middles = [(w.bbox[1] + w.bbox[3]) / 2 for w in own if layout.comparable(w.text)]
        middles = middles or [(text[1] + text[3]) / 2]
        best: tuple[float, PageBox] | None = None
        for box in self.ticks:
            middle = (box.bbox[1] + box.bbox[3]) / 2
            reach = 0.6 * (box.bbox[3] - box.bbox[1])
            if not min(middles) - reach <= middle <= max(middles) + reach:
                continue
            if text[0] <= (box.bbox[0] + box.bbox[2]) / 2 <= text[2]:
                continue  # inside the text's own span: a letter, or another row's box
            distance = _gap(box.bbox, text)
            if self._someone_nearer(box, distance, own_words):
                continue
            if best is None or distance < best[0]:
                best = (distance, box)
        return best[1] if best else None

    def _scribbled_box(self, label: layout.LabelMatch) -> PageBox | None:
        """A tick box scribbled over, on the label's row, nearer the label than any other
        word: a blot of a tick box's size, mostly ink. A scribble breaks the box's walls,
        so it is not among the boxes found; a tick or a cross does not (``find_boxes``)."""
        image = self.page.image()
        height, width = image.shape[:2]
        dpi = self.page.dpi
        own = [t for w in label.words if (t := self._trimmed.get(id(w), w)) is not None]
        text = layout.union(w.bbox for w in own or label.words)
        line = text[3] - text[1]
        top = max(0, round((text[1] - line) * height))
        bottom = min(height, round((text[3] + line) * height))
        band = image[top:bottom]
        if band.size == 0:
            return None
        _, ink = cv2.threshold(band, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
        count, _, stats = ink_pieces(np.asarray(ink, np.uint8))
        low, high = _SCRIBBLE_SIDE_IN[0] * dpi, _SCRIBBLE_SIDE_IN[1] * dpi
        own_words = {id(w) for w in own}
        best: tuple[float, PageBox] | None = None
        for index in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[index])
            if not (low <= w <= high and low <= h <= high and 0.6 <= w / h <= 1.6):
                continue
            if area < _SCRIBBLE_INK * w * h:
                continue
            found = Box((x, top + y, x + w, top + y + h), BoxKind.TICK)
            box = PageBox.of(found, width, height)
            middle = (box.bbox[1] + box.bbox[3]) / 2
            if not text[1] - 0.5 * line <= middle <= text[3] + 0.5 * line:
                continue
            if text[0] <= (box.bbox[0] + box.bbox[2]) / 2 <= text[2]:
                continue  # a letter of the label itself
            distance = _gap(box.bbox, text)
            if any(_overlap(word.bbox, box.bbox) for word in self.words if _wordlike(word)):
                continue  # a letter of a word (a scribble reads as one or two marks)
            if self._someone_nearer(box, distance, own_words):
                continue
            if best is None or distance < best[0]:
                best = (distance, box)
        return best[1] if best else None

    def _someone_nearer(self, box: PageBox, distance: float, own_words: set[int]) -> bool:
        return any(
            id(word) not in own_words and _gap(box.bbox, word.bbox) < distance
            for word in self._beside(box)
        )

    def _beside(self, box: PageBox) -> list[Word]:
        """The words on the box's row that could own it, once per box."""
        if id(box) in self._row_words:
            return self._row_words[id(box)]
        x0, y0, x1, y1 = box.bbox
        beside = []
        for word in self.words:
            # A lone character beside a box is most often the box or its mark misread.
            if sum(c.isalnum() for c in word.text) < 2:
                continue
            wx0, wy0, wx1, wy1 = word.bbox
            if min(y1, wy1) - max(y0, wy0) <= 0.3 * min(y1 - y0, wy1 - wy0):
                continue  # not on the box's row
            if min(x1, wx1) > max(x0, wx0):
                continue  # the box itself, or the mark in it, read as a letter
            beside.append(word)
        self._row_words[id(box)] = beside
        return beside

    def _options(
        self, choices: list[str], label: layout.LabelMatch, zone: BBox | None = None
    ) -> tuple[dict[str, _Mark], bool]:
        """Each choice printed near the label with a tick box of its own, by choice: on
        the label's row, else under it (or in the zone the template names); and whether
        fewer than two were found on the label's own row, the others' boxes missing (the
        options under it are then another question's, and are not looked for)."""
        x0, y0, _x1, y1 = label.bbox
        line = _line_height(label.bbox, self.words)
        areas = [zone] if zone else [
            (x0, y0 - 0.5 * line, 1.0, y1 + 0.5 * line),
            (max(0.0, x0 - line), y1, 1.0, y1 + _OPTIONS_BELOW * line),
        ]  # fmt: skip
        label_words = {id(self._trimmed.get(id(w), w)) for w in label.words}
        found: dict[str, _Mark] = {}
        for area in areas:
            candidates = [
                w for w in self.words if id(w) not in label_words and layout.holds(area, w.bbox)
            ]
            found = self._in_printed_order(choices, self._options_among(choices, candidates), area)
            if len(found) >= 2:
                break
            if found and not zone:
                return found, True
        return found, False

    def _in_printed_order(
        self, choices: list[str], found: dict[str, _Mark], area: BBox
    ) -> dict[str, _Mark]:
        """Options OCR could not read, placed by order: when the row holds one box per
        choice and every option that was read has the box at its own place in the
        template's order, the others are the remaining boxes in that order ("Yes" read
        as "ve" beside a "No" that was read)."""
        if not found or len(found) == len(choices):
            return found
        anchor = next(iter(found.values())).box
        row = sorted(
            (b for b in self.ticks
             if layout.holds(area, b.bbox) and anchor.bbox[1] <= b.middle[1] <= anchor.bbox[3]),
            key=lambda b: b.bbox[0],
        )  # fmt: skip
        if len(row) != len(choices):
            return found
        places = {id(box): index for index, box in enumerate(row)}
        if any(places.get(id(m.box)) != choices.index(c) for c, m in found.items()):
            return found
        return {
            choice: found.get(choice) or self._mark(box)
            for choice, box in zip(choices, row, strict=True)
        }

    def _options_among(self, choices: list[str], candidates: list[Word]) -> dict[str, _Mark]:
        runs = {c: words for c in choices if (words := _option_words(c, candidates))}
        if (paired := self._interleaved(runs)) is not None:
            return {choice: self._mark(box) for choice, box in paired.items()}
        sides: dict[str, bool] = {}
        found: dict[str, _Mark] = {}
        for choice, words in runs.items():
            box = self._nearest_owned(words)
            if box is not None and all(box is not m.box for m in found.values()):
                found[choice] = self._mark(box)
                sides[choice] = box.middle[0] > (words[0].bbox[0] + words[-1].bbox[2]) / 2
        # Options have their boxes on the same side; one whose box is on the other side
        # took a neighbour's (its own was not found).
        after = sum(sides.values()) * 2 >= len(sides)
        return {c: m for c, m in found.items() if sides[c] == after}

    def _interleaved(self, runs: dict[str, tuple[Word, ...]]) -> dict[str, PageBox] | None:
        """Options printed on one row, each with its box on the same side ("Yes [ ]
        No [ ]"), paired by their order: word and box taking turns along the row, each
        word owns the box after it (or before it, all of them), however near the word
        before a box stands. A tick drawn over the next option's word stretches that
        word's box back to the box before it, which nearness would then give the wrong
        word. None when the row does not take turns (a box not found, an option not
        read, options in a column)."""
        if len(runs) < 2:
            return None
        spans = {choice: layout.union(w.bbox for w in words) for choice, words in runs.items()}
        top = max(span[1] for span in spans.values())
        bottom = min(span[3] for span in spans.values())
        if bottom <= top:
            return None  # not one row
        left = min(span[0] for span in spans.values())
        right = max(span[2] for span in spans.values())
        reach = 2 * max((b.bbox[2] - b.bbox[0] for b in self.ticks), default=0.0)
        row = [
            b
            for b in self.ticks
            if top <= b.middle[1] <= bottom and left - reach <= b.middle[0] <= right + reach
        ]
        if len(row) != len(runs):
            return None
        along = sorted(
            [((s[0] + s[2]) / 2, choice) for choice, s in spans.items()]
            + [(b.middle[0], b) for b in row],
            key=lambda item: item[0],
        )
        kinds = [isinstance(item, str) for _, item in along]
        if any(a == b for a, b in itertools.pairwise(kinds)):
            return None
        pairs = [(along[i][1], along[i + 1][1]) for i in range(0, len(along), 2)]
        if not kinds[0]:  # boxes first
            pairs = [(word, box) for box, word in pairs]
        return {str(word): box for word, box in pairs if isinstance(box, PageBox)}

    def _unclaimed_ticked(self, options: dict[str, _Mark]) -> bool:
        """Whether a ticked box stands among the options but belongs to none of them:
        an option that was not read, whose answer would otherwise be lost."""
        claimed = [m.box for m in options.values()]
        left = min(b.bbox[0] for b in claimed)
        for box in self.ticks:
            if any(box is c for c in claimed) or box.bbox[0] < left - 0.2:
                continue
            middle = box.middle[1]
            if any(c.bbox[1] <= middle <= c.bbox[3] for c in claimed) and self._mark(box).ticked:
                return True
        return False


_BOX_MARKS = re.compile(r"[\[\]{}()|_]")


def _without_boxes(word: Word, ticks: Sequence[PageBox]) -> Word | None:
    """The word with any tick box OCR read into it cut off ("Ms[X]" → "Ms"); None when
    nothing with letters is left. Keeps the same object when there is nothing to cut,
    so label words stay recognisable."""
    if not layout.comparable(word.text):
        return None
    x0, y0, x1, y1 = word.bbox
    for box in ticks:
        bx0, by0, bx1, by1 = box.bbox
        if min(x1, bx1) <= max(x0, bx0) or min(y1, by1) <= max(y0, by0):
            continue
        parts = [p for p in _BOX_MARKS.split(word.text) if layout.comparable(p)]
        if not parts:
            return None
        if (bx0 + bx1) / 2 > (x0 + x1) / 2:  # the box is at the word's end
            left, right, text = x0, bx0, parts[0]
        else:
            left, right, text = bx1, x1, parts[-1]
        if right - left < 0.75 * (bx1 - bx0):
            # A sliver of the box itself: its wall, and the margin OCR draws round a
            # word, can stand out half the box's width ("Bx|" for a ticked box).
            return None
        return Word(text=text, confidence=word.confidence, bbox=(left, y0, right, y1))
    return word


def _option_words(choice: str, words: Sequence[Word]) -> tuple[Word, ...] | None:
    """The run of words on one line that reads as the option, best first."""
    target = layout.comparable(choice)
    size = len(target.split())
    best: tuple[float, tuple[Word, ...]] | None = None
    for line in layout.group_lines(words):
        # OCR joins words ("Notworking") and splits them: runs up to a word longer.
        for length in range(1, size + 2):
            for start in range(len(line) - length + 1):
                run = tuple(line[start : start + length])
                text = " ".join(w.text for w in run)
                if len(target) < _FUZZY_OPTION_MIN:
                    # Short options must match whole, but a box wall beside one is
                    # often read into it as "l" or "1" ("Nol").
                    found = layout.comparable(text)
                    score = 100.0 if target in (found, found.strip("l1i")) else 0.0
                else:
                    score = layout.label_score(text, target)
                if score >= _OPTION_MIN_SCORE and (best is None or score > best[0]):
                    best = (score, run)
    return best[1] if best else None


def _line_height(text: BBox, words: Sequence[Word]) -> float:
    """The height of one line of the words within ``text`` (a label may wrap)."""
    heights = sorted(
        w.bbox[3] - w.bbox[1]
        for w in words
        if layout.holds(text, w.bbox) and layout.comparable(w.text)
    )
    return heights[len(heights) // 2] if heights else text[3] - text[1]


def _a_letter(
    piece: tuple[int, int, int, int], line: tuple[float, float], words: list[tuple[int, int]]
) -> bool:
    """Whether a piece of ink (page pixels) is a printed letter of one of ``words`` (their
    pixel columns) on a line from ``line``'s capitals' top to its baseline: it stands in
    the line (a descender below it), and is no wider than a printed capital."""
    cap_top, baseline = line
    capital = baseline - cap_top
    x0, y0, x1, y1 = piece
    inside = any(wx0 - 2 <= x0 and x1 <= wx1 + 2 for wx0, wx1 in words)
    in_line = y0 >= cap_top - _LETTER_SLACK * capital and y1 <= baseline + _DESCENDER * capital
    return inside and in_line and x1 - x0 <= _WIDEST_LETTER * capital


def _clipped(
    piece: tuple[int, int, int, int], area: tuple[int, int, int, int]
) -> tuple[int, int, int, int] | None:
    """The part of ``piece`` inside ``area`` (pixels); None when nothing is."""
    x0, y0 = max(piece[0], area[0]), max(piece[1], area[1])
    x1, y1 = min(piece[2], area[2]), min(piece[3], area[3])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _in_pixels(bbox: BBox, width: int, height: int) -> tuple[int, int, int, int]:
    """A box in page fractions, in pixels of a page ``width`` by ``height``."""
    x0, y0, x1, y1 = bbox
    return round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)


def _overlap(a: BBox, b: BBox) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _wordlike(word: Word) -> bool:
    return sum(c.isalpha() for c in word.text) >= 3


def _side(box: PageBox, width: int, height: int) -> float:
    """A box's shorter side, in pixels of a page ``width`` by ``height``."""
    return min((box.bbox[2] - box.bbox[0]) * width, (box.bbox[3] - box.bbox[1]) * height)


def _gap(a: BBox, b: BBox) -> float:
    """Horizontal distance between two boxes (0 when they overlap across)."""
    return max(0.0, max(a[0], b[0]) - min(a[2], b[2]))


__all__ = [
    "DOUBTFUL",
    "TICKED_INK",
    "UNSURE_INK",
    "Mark",
    "MarkKind",
    "TickReader",
    "read_mark",
    "tick_confidence",
    "tick_ink",
]

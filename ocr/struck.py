"""Letters a writer struck out and wrote again: found in a handwritten value's crop, and
taken out of it before it is read.

A person who writes a wrong letter strikes it through, or scribbles it out, and writes
the right one after it ("BU~~K~~S" for BUS). Both engines read the struck letter as one
more letter (a scribble, often, as an E or an 8). What gives it away is its shape:

* a **strike** is a straight stroke, level or sloping a little, at least about as long
  as the letters are high, across the middle of the line, that reaches past both sides
  of a letter. A letter's own bars do not: an H's and an A's end at its strokes, an E's
  and an F's at its stem, a T's and a Z's lie at the top or foot of the line, and a dash
  between letters crosses none;
* a **scribble** is such strokes stacked back and forth over a letter: as tall as the
  letters, wider than most, and mostly ink.

``find_struck`` gives the columns of each letter struck; ``without_struck`` cuts them out
of the crop, whitens the strike where it runs between letters, and closes up, so the
engines read the rest as written. Sizes are measured on the crop itself (the height of
the line's letters, the pen's width), so the rules hold at any resolution and in any
hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ocr.preprocess import GrayImage

# A strike is at least this many times as long as the line's letters are high; a
# letter's own bars are shorter than that.
_STRIKE_LENGTH = 0.9
# Slopes looked at, in degrees either side of level.
_SLOPES = range(-20, 21, 4)
# Where the middle of a strike may lie: this share of the letters' height below their top,
# from the first to the second (a long stroke at the top or foot is a T's bar or a join).
_MIDDLE = (0.32, 0.75)
# A strike is no thicker than this many pen widths (a bold letter's broad stroke, which
# holds a long thin line at many slopes, is).
_THICKEST = 2.0
# A strike runs past both sides of the letter by this share of the letters' height (or
# half a pen's width, if more).
_OVERSHOOT = 0.06
# A scribble over a letter is at least this share of the letters' height tall and this
# many times their height wide, and at least this share of its box is ink. One over a
# narrow letter, or a letter touching its neighbours, need not reach past it: at 1.15
# of the height, scribbles over an S and an E were missed (DAVISDSON, BRISTUE).
_SCRIBBLE_HEIGHT = 0.6
_SCRIBBLE_WIDTH = 1.0
_SCRIBBLE_INK = 0.45
# A scribble over a narrow letter (``narrow_scribbles``) is made of strokes at least
# this share of the letters' height long, and is at least this share of it wide (and
# narrower than a wide letter's scribble, ``_SCRIBBLE_WIDTH``): the writer scribbles a
# little past the letter, and a letter is at least half as wide as it is high.
_NARROW_STROKE = 0.5
_NARROW_SCRIBBLE_WIDTH = 0.55
# Ink taller than this many letters' heights is more than one line.
ONE_LINE = 2.2
# What a strike crosses is a letter when it is at least this share of the line's height.
_LETTER = 0.75
# A piece of ink at a cut smaller than this share of the letters' height each way is a
# stub of the strike or of the struck letter.
_STUB = 0.35
# The letter struck lies this share of the strike's length or less from its middle.
_CENTRE = 0.2
# A letter told from neighbours whose columns overlap its own (``_struck_piece``): the
# strike is at least this many letters' heights long, and the letter at least this share
# of the letters' height wide (a narrow letter's stem and an arm of the strike beyond it
# look as much like a 4, an A or a t with its bar); in joined writing, where a letter's
# ink runs on into the next, the pieces are wider than this share of the letters' height
# (a join between letters is as long and as straight as a strike), and none is looked for.
_PIECE_STRIKE = 1.2
_PIECE_WIDTH = 0.55
_JOINED = 0.9
# Nor among small letters, whose own strokes (an s's, a b's) pass for strikes as often:
# block capitals and figures nearly all (this share of the letters) start and end within
# ``_CAPITALS`` of the letters' height of the line's top and foot (small letters'
# ascenders and descenders do not).
_CAPITALS = 0.25
_CAPITALS_SHARE = 0.8
# Pieces of ink whose columns overlap by more than this share of the narrower one's are
# one letter (a stem the strike's removal cut in two).
_STACKED = 0.6
# What the engines read a strike through a letter as, beside the letter itself.
_STRIKE_READ_AS = "-+=~_"


@dataclass(frozen=True)
class Struck:
    """A letter taken back: the columns it covers, and the stroke through it."""

    x0: int
    x1: int
    stroke: np.ndarray  # the strike's ink to whiten, a mask the size of the crop
    whole: np.ndarray  # all of the strike's ink, that in its neighbours' strokes too
    # The struck letter's own ink, where a neighbour's ink shares its columns: only it
    # goes, with the strike across it, and the neighbour stays whole.
    ink: np.ndarray | None = None


def find_struck(crop: GrayImage) -> list[Struck]:
    """The letters struck out in a one-line crop of handwriting (dark ink on white), left
    to right; none in a crop with no line of letters to measure against."""
    return look_for_struck(crop)[0]


def look_for_struck(crop: GrayImage) -> tuple[list[Struck], tuple[tuple[int, int], ...]]:
    """``find_struck``'s letters, and, none found, the columns (first, past the last) of
    each stroke that may strike a letter out though not surely enough to cut one: a
    scribble, or a long straight stroke across the middle of the line through a letter's
    strokes. One over a letter that touches its neighbours, or over a joined word, does
    not reach past the letter as a sure strike must, and both engines read the struck
    letter as one more: such a value is for a person. A letter's own bars are too
    short."""
    measured = _measured(crop)
    if measured is None:
        return [], ()
    ink, line, strokes = measured
    # The letters as they would be without any long stroke: a scribble is several.
    rest = ink.copy()
    for stroke, _ in strokes:
        rest[cv2.dilate(stroke, np.ones((3, 3), np.uint8)) > 0] = 0
    # The columns that hold a letter once the long strokes are gone (ascenders and
    # descenders aside, which may reach over a neighbour).
    reach = round(0.3 * line.height)
    inked = np.asarray(rest[max(0, line.top - reach) : line.bottom + reach].any(axis=0))
    found: list[Struck] = []
    for stroke, scribble in strokes:
        if scribble:
            letter: _Letter | None = _Letter(*_scribbled_letter(stroke))
        else:
            letter = _struck_letter(stroke, ink, rest, inked, line)
        if letter is None:
            continue
        whole = cv2.dilate(stroke, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
        stroke = _to_whiten(stroke, rest, inked, line)
        if found and letter.x0 < found[-1].x1:  # a second stroke through the same letter
            last = found[-1]
            found[-1] = Struck(
                last.x0,
                max(last.x1, letter.x1),
                last.stroke | stroke,
                last.whole | whole,
                _either(last.ink, letter.ink),
            )
        else:
            found.append(Struck(letter.x0, letter.x1, stroke, whole, letter.ink))
    if found:
        return found, ()
    maybe = []
    for stroke, scribble in strokes:
        middle = (float(np.nonzero(stroke)[0].mean()) - line.top) / line.height
        if scribble or (_MIDDLE[0] <= middle <= _MIDDLE[1] and _crossed(stroke, ink, line).any()):
            columns = np.flatnonzero(stroke.any(axis=0))
            maybe.append((int(columns[0]), int(columns[-1]) + 1))
    return [], tuple(maybe)


def _measured(crop: GrayImage) -> tuple[np.ndarray, _Line, list[tuple[np.ndarray, bool]]] | None:
    """The crop's ink, its line of letters and the long strokes in it (``_long_strokes``);
    None with no line of letters to measure against, more than one line, or no long
    stroke."""
    ink = _ink(crop)
    line = _line(ink)
    rows = np.flatnonzero(ink.any(axis=1))
    if line is None or int(rows[-1]) - int(rows[0]) > ONE_LINE * line.height:
        return None
    strokes = _long_strokes(ink, line)
    return (ink, line, strokes) if strokes else None


def without_struck(crop: GrayImage, struck: list[Struck]) -> GrayImage:
    """The crop with each strike whitened and each struck letter cut out, with the white
    after it up to the next letter: the space before it is kept (a word's first letter
    may be the one struck) and the letters after it close up."""
    if not struck:
        return crop
    threshold, _ = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # The paper around each pixel (the lightest nearby), so a whitened strike on a shaded
    # box leaves no white patch.
    paper = np.asarray(cv2.dilate(crop, np.ones((15, 15), np.uint8)), np.uint8)
    out = crop.copy()
    for s in struck:
        out[s.stroke > 0] = paper[s.stroke > 0]
        if s.ink is not None:
            # The letter, and the strike across its columns, where the strike touches it.
            gone = cv2.dilate(s.ink.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            gone[:, s.x0 : s.x1] |= s.whole[:, s.x0 : s.x1] > 0
            out[gone] = paper[gone]
    used = np.asarray((out < threshold).any(axis=0))
    keep = np.ones(crop.shape[1], bool)
    for s in struck:
        after = np.flatnonzero(used[s.x1 :])
        end = s.x1 + (int(after[0]) if after.size else 0)
        # A neighbour's ink in the struck letter's columns keeps them.
        keep[s.x0 : end] = False if s.ink is None else keep[s.x0 : end] & used[s.x0 : end]
    strikes = np.zeros(crop.shape, bool)
    for s in struck:
        strikes |= s.whole > 0
    out, paper, strikes = out[:, keep], paper[:, keep], strikes[:, keep]
    return np.ascontiguousarray(_without_stubs(out, strikes, paper, threshold))


def _without_stubs(
    crop: GrayImage, strikes: np.ndarray, paper: GrayImage, threshold: float
) -> GrayImage:
    """The crop with the stubs a strike left whitened: bits of it where it ran into a
    neighbour, cut off from the rest (OCR reads one as a point or a comma). A stub is a
    piece far smaller than a letter, mostly the strike's ink; a full stop is not."""
    ink = np.asarray(crop < threshold, np.uint8)
    line = _line(ink * 255)
    if line is None:
        return crop
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    out = crop.copy()
    for index in range(1, count):
        _, _, w, h, area = (int(v) for v in stats[index])
        if h < _STUB * line.height and w < _STUB * line.height:
            piece = labels == index
            if np.count_nonzero(strikes & piece) * 2 > area:
                out[piece] = paper[piece]
    return out


@dataclass(frozen=True)
class _Line:
    top: int  # the letters' usual top and foot, in rows of the crop
    bottom: int
    pen: float  # the pen's width in pixels

    @property
    def height(self) -> int:
        return self.bottom - self.top


def _ink(crop: GrayImage) -> np.ndarray:
    _, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return np.asarray(ink, np.uint8)


def _line(ink: np.ndarray) -> _Line | None:
    """The line's letters: where they usually start and end (the median top and foot of
    the pieces of ink at least half as tall as the tallest), and the pen's width."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    pieces = stats[1:count]
    pieces = pieces[pieces[:, cv2.CC_STAT_AREA] > 6]
    if len(pieces) == 0:
        return None
    heights = pieces[:, cv2.CC_STAT_HEIGHT]
    letters = pieces[heights >= 0.5 * heights.max()]
    top = int(np.median(letters[:, cv2.CC_STAT_TOP]))
    bottom = int(np.median(letters[:, cv2.CC_STAT_TOP] + letters[:, cv2.CC_STAT_HEIGHT]))
    if bottom - top < 8:
        return None
    return _Line(top, bottom, _pen_width(ink))


def _pen_width(ink: np.ndarray) -> float:
    """The pen's width in pixels: the median length of the ink's runs across its rows and
    down its columns, whichever is shorter (one crosses strokes, the other runs along some)."""
    widths = []
    for image in (ink, ink.T):
        lengths = [b - a for row in image > 0 for a, b in _runs(row)]
        widths.append(float(np.median(lengths)) if lengths else 1.0)
    return min(widths)


def _runs(on: np.ndarray) -> list[tuple[int, int]]:
    """The runs of True in a row of booleans, as (first, past the last) indices."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], on.astype(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _long_strokes(ink: np.ndarray, line: _Line) -> list[tuple[np.ndarray, bool]]:
    """Straight strokes, level or sloping a little, at least ``_STRIKE_LENGTH`` of the
    letters' height long, left to right: each a mask of its pixels, and whether it is a
    scribble (a stack of such strokes, back and forth over a letter: thicker than a
    pen, about as tall as the letters, wider than most, and mostly ink). A thick stroke
    that is none of these is a bold letter's broad one, which holds a long thin line at
    many slopes."""
    length = max(8, round(_STRIKE_LENGTH * line.height))
    labels, stats = _straight_pieces(ink, length)
    strokes = []
    for index in range(len(stats)):
        w, area = int(stats[index, cv2.CC_STAT_WIDTH]), int(stats[index, cv2.CC_STAT_AREA])
        mask = np.asarray(labels == index + 1, np.uint8)
        if area / w <= _THICKEST * line.pen:
            strokes.append((mask, False))
        elif _scribble_shaped(ink, line, stats[index], _SCRIBBLE_WIDTH):
            strokes.append((mask, True))
    return strokes


def _straight_pieces(ink: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """The pieces of the ink's straight strokes at least ``length`` long, level or
    sloping a little (``_SLOPES``), left to right: a label image with piece ``i`` marked
    ``i + 1``, and each piece's stats as OpenCV gives them. A piece less wide than
    nearly ``length`` is left out."""
    lines = np.zeros_like(ink)
    for degrees in _SLOPES:
        lines |= cv2.morphologyEx(ink, cv2.MORPH_OPEN, _line_kernel(length, degrees))
    count, found, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    kept = sorted(
        (i for i in range(1, count) if stats[i, cv2.CC_STAT_WIDTH] >= 0.95 * length),
        key=lambda i: int(stats[i, cv2.CC_STAT_LEFT]),
    )
    labels = np.zeros_like(found)
    for number, index in enumerate(kept, start=1):
        labels[found == index] = number
    return labels, stats[kept].reshape(-1, 5)


def _scribble_shaped(ink: np.ndarray, line: _Line, stats: np.ndarray, wide: float) -> bool:
    """Whether a piece of straight strokes (its ``stats``, as OpenCV gives them) is shaped
    as a scribble: thicker than a pen, about as tall as the letters, at least ``wide``
    times their height wide, and its box mostly ink."""
    x, y, w, h, area = (int(v) for v in stats)
    return (
        area / w > _THICKEST * line.pen
        and h >= _SCRIBBLE_HEIGHT * line.height
        and w >= wide * line.height
        and (ink[y : y + h, x : x + w] > 0).mean() >= _SCRIBBLE_INK
    )


def narrow_scribbles(crop: GrayImage) -> list[Struck]:
    """Scribbles over a narrow letter (an I, an E, a figure) in a line of block capitals
    and figures: made of strokes too short for ``find_struck``, about as long as the
    letter is wide. Their shape alone does not tell them from a bold hand's E or B, whose
    bars, as thick as the gaps between them, make as dense a block: each is only a
    candidate, for the recogniser to confirm (it reads a scribbled letter unsurely, a
    bold E surely). None in lower case or joined writing, where loops and an @ make such
    blocks too."""
    ink = _ink(crop)
    line = _line(ink)
    rows = np.flatnonzero(ink.any(axis=1))
    if line is None or int(rows[-1]) - int(rows[0]) > ONE_LINE * line.height:
        return []
    labels, stats = _straight_pieces(ink, max(6, round(_NARROW_STROKE * line.height)))
    found = []
    for index in range(len(stats)):
        if not _scribble_shaped(ink, line, stats[index], _NARROW_SCRIBBLE_WIDTH):
            continue
        if stats[index, cv2.CC_STAT_WIDTH] >= _SCRIBBLE_WIDTH * line.height:
            # Wider, it is a wide letter's scribble (``find_struck`` looks for those) or
            # runs into a neighbour: a strike's stroke through an O and on into the L
            # after it, or a scribble joined to the next figure, would cut both.
            continue
        scribble = np.asarray(labels == index + 1, np.uint8)
        x0, x1 = _scribbled_letter(scribble)
        whole = cv2.dilate(scribble, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
        found.append(Struck(x0, x1, whole, whole))
    if not found:
        return []
    # The other letters tell the case: a scribble may reach above or below its letter.
    others = ink.copy()
    for letter in found:
        others[:, letter.x0 : letter.x1] = 0
    spans = _pieces_spans(others, line)
    return found if spans and _mostly_capitals(spans, line) else []


def _pieces_spans(ink: np.ndarray, line: _Line) -> list[tuple[int, int]]:
    """The top and foot of each piece of ink at least ``_STUB`` of the letters' height
    tall (letters and figures, not points and commas)."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    return [
        (int(top), int(top + height))
        for top, height in stats[1:count, [cv2.CC_STAT_TOP, cv2.CC_STAT_HEIGHT]]
        if height >= _STUB * line.height
    ]


def _mostly_capitals(spans: list[tuple[int, int]], line: _Line) -> bool:
    """Whether the letters (their tops and feet, ``spans``) are block capitals and
    figures: nearly all (``_CAPITALS_SHARE``) start and end within ``_CAPITALS`` of the
    letters' height of the line's top and foot, as small letters' ascenders and
    descenders do not."""
    capitals = sum(
        abs(top - line.top) <= _CAPITALS * line.height
        and abs(foot - line.bottom) <= _CAPITALS * line.height
        for top, foot in spans
    )
    return capitals >= _CAPITALS_SHARE * len(spans)


def _scribbled_letter(scribble: np.ndarray) -> tuple[int, int]:
    """The columns of a letter scribbled over: the letter lies under the scribble, and
    the scribble is as tall as at least half its tallest there (where one of its strokes
    runs on into a neighbour's bar, it is one stroke thick)."""
    tall = np.zeros(scribble.shape[1])
    for column in np.flatnonzero(scribble.any(axis=0)):
        rows = np.flatnonzero(scribble[:, column])
        tall[column] = rows[-1] - rows[0] + 1
    peak = int(np.argmax(tall))
    a, b = peak, peak + 1
    while a > 0 and tall[a - 1] >= tall[peak] / 2:
        a -= 1
    while b < len(tall) and tall[b] >= tall[peak] / 2:
        b += 1
    return a, b


def _crossed(stroke: np.ndarray, ink: np.ndarray, line: _Line) -> np.ndarray:
    """The columns where a stroke crosses another: ink just above it and just below."""
    crossed = np.zeros(stroke.shape[1], bool)
    reach = max(2, round(line.pen)) + 2
    for column in np.flatnonzero(stroke.any(axis=0)):
        on = np.flatnonzero(stroke[:, column])
        above = ink[max(0, on[0] - reach) : max(0, on[0] - 1), column].any()
        below = ink[on[-1] + 2 : on[-1] + reach + 1, column].any()
        crossed[column] = above and below
    return crossed


def _to_whiten(stroke: np.ndarray, rest: np.ndarray, inked: np.ndarray, line: _Line) -> np.ndarray:
    """What to whiten of a strike beyond the letter it struck: its ink and grey rim in
    the columns where no letter is (``inked`` False), and in a neighbour's columns what
    does not touch the neighbour (``rest``, the ink without long strokes); where it runs
    into the neighbour's strokes it stays, as a short stub, rather than cut them."""
    grown = cv2.dilate(stroke, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    near = 2 * round(line.pen) + 5  # where the strike lies over a neighbour's stroke
    touching = cv2.dilate(rest, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (near, near))) > 0
    grown[touching & inked[None, :]] = 0
    return grown


def _line_kernel(length: int, degrees: float) -> np.ndarray:
    """A one-pixel line ``length`` long at ``degrees`` from level, as a structuring
    element."""
    rise = round(length * math.tan(math.radians(degrees)))
    kernel = np.zeros((abs(rise) + 1, length), np.uint8)
    start, end = (0, abs(rise)) if rise >= 0 else (abs(rise), 0)
    cv2.line(kernel, (0, start), (length - 1, end), 1, 1)
    return kernel


@dataclass(frozen=True)
class _Letter:
    """The columns of a letter struck out, and its own ink when told apart."""

    x0: int
    x1: int
    ink: np.ndarray | None = None


def _either(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None or b is None:
        return a if b is None else b
    return a | b


def _struck_letter(
    stroke: np.ndarray, ink: np.ndarray, rest: np.ndarray, inked: np.ndarray, line: _Line
) -> _Letter | None:
    """The columns of the letter a long stroke strikes through, or None when it is not a
    strike: it does not lie across the middle of the line, or crosses no letter (a dash),
    or does not reach past both sides of the letter it crosses (an H's bar ends at its
    stems, an A's within its legs).

    ``rest`` is the ink with every long stroke taken out, and ``inked`` tells its columns
    that hold a letter: the letter struck is the runs of them the stroke reaches past,
    one of them under its middle (a writer strikes a letter through its middle). Where
    the letter's columns run on into a neighbour's (a slanting hand), the letter is
    looked for by its ink instead (``_struck_piece``)."""
    rows, columns = np.nonzero(stroke)
    middle = (float(rows.mean()) - line.top) / line.height
    if not _MIDDLE[0] <= middle <= _MIDDLE[1]:
        return None
    x0, x1 = int(columns.min()), int(columns.max()) + 1
    past = max(0.5 * line.pen, _OVERSHOOT * line.height)
    # The runs of inked columns, a gap of a pixel bridged. Where the strike crossed a join
    # of the letter's strokes (a K's arms and stem), taking it out left a gap: the
    # columns it crosses a stroke in count as inked.
    crossed = (inked | _crossed(stroke, ink, line)).astype(np.uint8)
    bridged = cv2.dilate(crossed[None, :], np.ones((1, 3), np.uint8))[0] > 0
    # The letter: the runs the strike reaches past on both sides (a neighbour it runs
    # into goes on beyond its end), one of them under its middle.
    inside = [(a, b) for a, b in _runs(bridged) if a >= x0 + past and b <= x1 - past]
    centre, near = (x0 + x1) / 2, _CENTRE * (x1 - x0)
    if not any(a - near <= centre <= b + near for a, b in inside):
        return _struck_piece(stroke, rest, line, (x0, x1), past)
    a, b = min(a for a, _ in inside), max(b for _, b in inside)
    # A letter, not what is left of a wide H once its bar is taken for a strike.
    tall = np.flatnonzero(rest[:, a:b].any(axis=1))
    if tall.size == 0 or int(tall[-1]) - int(tall[0]) < _LETTER * line.height:
        return None
    return _Letter(a, b)


def _struck_piece(
    stroke: np.ndarray,
    rest: np.ndarray,
    line: _Line,
    reach: tuple[int, int],
    past: float,
) -> _Letter | None:
    """The letter a long stroke strikes through, told from its neighbours by its own ink
    where their columns overlap: the piece of ink (pieces one above another, a stem the
    strike's removal cut in two, are one) that the strike (its columns ``reach``) runs
    ``past`` on both sides, that lies under its middle, and that it crosses (of several,
    the one nearest the middle). None in joined writing, or for a stroke too short or a
    letter too narrow to tell from a letter's own bar (``_PIECE_STRIKE``)."""
    if reach[1] - reach[0] < _PIECE_STRIKE * line.height:
        return None
    within = (reach[0] + past, reach[1] - past)
    centre = (reach[0] + reach[1]) / 2
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (rest > 0).astype(np.uint8), connectivity=8
    )
    pieces = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] > 4 * line.pen]
    letters: list[tuple[int, int, list[int]]] = []  # x0, x1 and the pieces, left to right
    for index in sorted(pieces, key=lambda i: int(stats[i, cv2.CC_STAT_LEFT])):
        a = int(stats[index, cv2.CC_STAT_LEFT])
        b = a + int(stats[index, cv2.CC_STAT_WIDTH])
        for number, (la, lb, members) in enumerate(letters):
            if min(b, lb) - max(a, la) > _STACKED * min(b - a, lb - la):
                letters[number] = (min(a, la), max(b, lb), [*members, index])
                break
        else:
            letters.append((a, b, [index]))
    widths = sorted(b - a for a, b, _ in letters)
    if not widths or widths[len(widths) // 2] > _JOINED * line.height:
        return None
    # Letters, not points and commas: their tops, and how tall they are.
    spans = [
        (
            min(int(stats[i, cv2.CC_STAT_TOP]) for i in members),
            max(int(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT]) for i in members),
        )
        for _, _, members in letters
    ]
    spans = [(top, foot) for top, foot in spans if foot - top >= _STUB * line.height]
    if not _mostly_capitals(spans, line):
        return None
    crossed = cv2.dilate(stroke, np.ones((3, 3), np.uint8), iterations=round(line.pen) + 1) > 0
    best: _Letter | None = None
    for a, b, members in letters:
        if a < within[0] or b > within[1] or not a <= centre <= b:
            continue
        if b - a < _PIECE_WIDTH * line.height:
            continue
        letter = np.isin(labels, members)
        rows = np.flatnonzero(letter.any(axis=1))
        if not (letter & crossed).any() or rows[-1] - rows[0] < _LETTER * line.height:
            continue
        if best is None or abs((a + b) / 2 - centre) < abs((best.x0 + best.x1) / 2 - centre):
            best = _Letter(a, b, letter)
    return best


def dropped(
    columns: list[tuple[str, float]], struck: list[Struck], slack: float = 0.0
) -> tuple[str, str]:
    """A reading of the whole crop, struck letters and all, with the letters struck
    left out: of the characters read inside each struck letter's columns (each read at
    a crop column, known to ``slack`` columns either way), the letter or figure nearest
    its middle, and any dash or plus the strike itself was read as, where it runs; with
    no letter there, the character nearest its middle. Returns the text and the
    characters left out."""
    gone: set[int] = set()
    for letter in struck:
        middle = (letter.x0 + letter.x1) / 2
        inside = [
            i
            for i, (char, x) in enumerate(columns)
            if letter.x0 - slack <= x <= letter.x1 + slack and char != " " and i not in gone
        ]
        letters = [i for i in inside if columns[i][0].isalnum()]
        nearest = letters or inside
        if nearest:
            gone.add(min(nearest, key=lambda i: abs(columns[i][1] - middle)))
        if letters:
            reach = np.flatnonzero(letter.whole.any(axis=0))
            x0 = min(letter.x0, int(reach[0])) if reach.size else letter.x0
            x1 = max(letter.x1, int(reach[-1]) + 1) if reach.size else letter.x1
            gone.update(
                i
                for i, (char, x) in enumerate(columns)
                if x0 <= x <= x1 and char in _STRIKE_READ_AS
            )
    text = "".join(char for i, (char, _) in enumerate(columns) if i not in gone)
    return text, "".join(columns[i][0] for i in sorted(gone))


def cut_too_much(cut: str, without: str, gone: str) -> bool:
    """Whether the reading of the crop with the struck letters cut out (``cut``) lost
    more than they were, against the reading of the whole crop with the characters read
    in them left out (``without``, ``gone``, from ``dropped``): it holds fewer letters and
    figures (the cut took a neighbour's columns too, where the struck letter touched
    it), or more marks (stubs of the strike, read as points and dashes)."""

    def letters(text: str) -> int:
        return sum(c.isalnum() for c in text)

    def marks(text: str) -> int:
        return sum(not c.isalnum() and not c.isspace() for c in text)

    if not gone:
        return False  # nothing was read where the letters were struck
    if any(c.isalnum() for c in gone) and letters(cut) < letters(without):
        return True
    return marks(cut) > marks(without)

"""Printed boxes on a page: value boxes, tick boxes, comb boxes and the cells of grids.

Boxes are found from the page's ruled lines alone, never from its text: long thin runs
of ink, horizontal and vertical, are kept and everything else dropped, and each area
the lines close in is a box. A grid's cells share walls, so each cell is a box of its
own; a comb (one cell per character) is the row of its cells, told apart by their
equal height and the thin walls between them.

Works on the cleaned, deskewed page (``ReadPage.image()``) at its own resolution.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from enum import StrEnum

import cv2
import numpy as np

from ocr.engines import GrayImage, PixelBox
from ocr.preprocess import ink_pieces

# A ruled line is at least this long (inches): longer than any stroke of a letter in
# print up to 12 pt, shorter than the side of the smallest tick box (about 3 mm).
_MIN_LINE_IN = 0.1
# A line at least this long (inches) is a ruled line whatever it meets.
_LONG_LINE_IN = 0.35
# Smallest side of a box (inches), and how square a tick box is.
_MIN_SIDE_IN = 0.09
_TICK_MAX_SIDE_IN = 0.32
_TICK_RATIO = (0.7, 1.45)
# A box's area against its bounding rectangle's: straight sides.
_RECTANGULAR = 0.8
# Comb cells: at least this many in a row, no further apart than this share of a cell
# (a wall, or the gap between the groups of DD MM YYYY), the same height within this
# share.
_COMB_MIN_CELLS = 3
_COMB_GAP = 0.9
_COMB_HEIGHT = 0.15
# A box struck through has a wall along at least this share of each side of its inside.
_WALLED = 0.9
# Boxes of more than this share of the page are the page's own frame, not a field.
_MAX_PAGE_SHARE = 0.25


class BoxKind(StrEnum):
    VALUE = "value"  # a box for a written value, or a cell of a grid
    TICK = "tick"  # a small square to tick or cross
    COMB = "comb"  # a row of character cells, one character each


@dataclass(frozen=True)
class Box:
    """A printed box, by its inside (the walls excluded), in pixels of the page.

    Attributes:
        bbox: x0, y0, x1, y1 of the inside.
        kind: what the box is for.
        cells: the character cells of a comb; 1 for other boxes.
        spans: the x0, x1 (pixels) of the inside of each of a comb's cells, left to right.
        struck: a tick box found split by strokes drawn across it from wall to wall
            (``_struck_through``): what it holds is for a person.
    """

    bbox: PixelBox
    kind: BoxKind
    cells: int = 1
    spans: tuple[tuple[int, int], ...] = ()
    struck: bool = False

    @property
    def width(self) -> int:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> int:
        return self.bbox[3] - self.bbox[1]

    def contains(self, x: float, y: float) -> bool:
        x0, y0, x1, y1 = self.bbox
        return x0 <= x <= x1 and y0 <= y <= y1


def ruled_lines(image: GrayImage, dpi: int) -> GrayImage:
    """The page's long straight lines as white on black: box walls, rules, underlines.

    A straight stroke of handwriting ("1", "I", "7") can be as long as a tick box's
    side, so a short line counts only when both its ends meet a line across it, as a
    wall meets the box's top and bottom: a stroke floating inside a comb's cell would
    otherwise split the cell in two.
    """
    _, ink = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    length = max(9, round(_MIN_LINE_IN * dpi))
    horizontal = np.asarray(
        cv2.morphologyEx(
            ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1))
        ),
        dtype=np.uint8,
    )
    vertical = np.asarray(
        cv2.morphologyEx(
            ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, length))
        ),
        dtype=np.uint8,
    )
    long_enough = round(_LONG_LINE_IN * dpi)
    # A wall meets the walls across it at least a small box's side apart.
    min_side = round(0.8 * _MIN_SIDE_IN * dpi)
    vertical = _anchored(vertical, horizontal, long_enough, min_side, axis=0)
    horizontal = _anchored(horizontal, vertical, long_enough, min_side, axis=1)
    lines = cv2.bitwise_or(horizontal, vertical)
    # Close the small breaks noise and JPEG leave in thin walls, so boxes stay closed.
    return np.asarray(cv2.dilate(lines, np.ones((3, 3), np.uint8)), dtype=np.uint8)


def _anchored(
    lines: GrayImage, across: GrayImage, long_enough: int, min_side: int, *, axis: int
) -> GrayImage:
    """``lines`` without the short ones that do not meet ``across`` twice, at least
    ``min_side`` apart, as a wall meets the two walls across it.

    Where it meets them, not its ends, is what counts: a tick whose stroke runs over a
    box's top and out past its corner lengthens that wall beyond the side walls.
    """
    count, labels, stats = ink_pieces(lines)
    near = 3  # pixels: a wall and the line it meets may not quite touch after a scan
    for index in range(1, count):
        x, y, w, h, _ = stats[index]
        if (h if axis == 0 else w) >= long_enough:
            continue
        band = across[max(0, y - near) : y + h + near, max(0, x - near) : x + w + near]
        # Where along the line the lines across it touch it.
        met = np.flatnonzero(band.any(axis=1 if axis == 0 else 0))
        if met.size and met[-1] - met[0] >= min_side:
            continue
        region = lines[y : y + h, x : x + w]
        region[labels[y : y + h, x : x + w] == index] = 0
    return lines


def find_boxes(image: GrayImage, dpi: int) -> list[Box]:
    """Every box printed on the page, top to bottom, left to right.

    Args:
        image: the page, 8-bit grayscale (dark ink on light paper).
        dpi: its resolution.

    Returns:
        Value boxes and grid cells, tick boxes, and combs (whose cells are not also
        returned on their own).
    """
    if image.size == 0:
        return []
    lines = ruled_lines(image, dpi)
    contours, hierarchy = cv2.findContours(lines, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    min_side = _MIN_SIDE_IN * dpi
    page_area = image.shape[0] * image.shape[1]
    insides: list[PixelBox] = []
    holes_in: dict[int, list[PixelBox]] = {}  # by the outer edge they lie in
    for contour, (_, _, _, parent) in zip(contours, hierarchy[0], strict=True):
        if parent < 0:
            continue  # an outer edge of a line; the holes inside lines are the boxes
        x, y, w, h = cv2.boundingRect(contour)
        # The contour runs along the walls' inner pixels: the inside starts past them.
        hole = (x + 1, y + 1, x + w - 1, y + h - 1)
        holes_in.setdefault(int(parent), []).append(hole)
        if w < min_side or h < min_side or w * h > _MAX_PAGE_SHARE * page_area:
            continue
        if cv2.contourArea(contour) < _RECTANGULAR * w * h:
            continue
        insides.append(hole)
    struck: set[PixelBox] = set()
    for holes in holes_in.values():
        whole = _struck_through(lines, holes, dpi)
        if whole is not None:
            insides = [i for i in insides if not _within(i, whole)] + [whole]
            struck.add(whole)
    boxes = [
        replace(b, struck=True) if b.bbox in struck else b for b in _combs_and_rest(insides, dpi)
    ]
    boxes = [_comb_whole(b, lines) if b.kind is BoxKind.COMB else b for b in boxes]
    combs = [b for b in boxes if b.kind is BoxKind.COMB]
    # A cell of a comb found whole is not also a box of its own.
    boxes = [
        b
        for b in boxes
        if b.kind is BoxKind.COMB or not any(c.contains(*_middle(b.bbox)) for c in combs)
    ]
    return sorted(boxes, key=lambda b: (b.bbox[1], b.bbox[0]))


def _struck_through(lines: GrayImage, holes: list[PixelBox], dpi: int) -> PixelBox | None:
    """The inside of a tick box struck through, or None: a stroke drawn across the box,
    straight and long enough to pass for a ruled line, splits its inside in two or more
    (a tick taken back, scribbled over). The holes of one outline together make a tick
    box's inside, with a wall all round it."""
    if len(holes) < 2:
        return None
    whole = (
        min(h[0] for h in holes),
        min(h[1] for h in holes),
        max(h[2] for h in holes),
        max(h[3] for h in holes),
    )
    width, height = whole[2] - whole[0], whole[3] - whole[1]
    if min(width, height) < _MIN_SIDE_IN * dpi or _kind_of(whole, dpi) is not BoxKind.TICK:
        return None
    x0, y0, x1, y1 = whole
    near = 3  # pixels out from the inside, where the wall lies
    walls = (
        lines[max(0, y0 - near) : y0, x0:x1].any(axis=0),
        lines[y1 : y1 + near, x0:x1].any(axis=0),
        lines[y0:y1, max(0, x0 - near) : x0].any(axis=1),
        lines[y0:y1, x1 : x1 + near].any(axis=1),
    )
    return whole if all(w.size and w.mean() >= _WALLED for w in walls) else None


def _within(inner: PixelBox, outer: PixelBox) -> bool:
    return (
        inner[0] >= outer[0]
        and inner[1] >= outer[1]
        and inner[2] <= outer[2]
        and inner[3] <= outer[3]
    )


def _combs_and_rest(insides: list[PixelBox], dpi: int) -> list[Box]:
    """Group cells side by side into combs; the rest are value or tick boxes."""
    # Left to right: cells of one row may differ in height by a pixel, so the next cell
    # of a run is looked for among all the boxes, not the next ones in some order.
    by_row = sorted(insides, key=lambda b: (b[0], b[1]))
    used: set[int] = set()
    boxes: list[Box] = []
    for index in range(len(by_row)):
        if index in used:
            continue
        run = [index]
        while True:
            last = by_row[run[-1]]
            after = [
                i for i in range(len(by_row))
                if i not in used and i not in run and _next_cell(last, by_row[i])
            ]  # fmt: skip
            if not after:
                break
            run.append(min(after, key=lambda i: by_row[i][0]))
        if len(run) >= _COMB_MIN_CELLS and _cells_alike([by_row[i] for i in run]):
            used.update(run)
            cells = [by_row[i] for i in run]
            boxes.append(
                Box(
                    bbox=(
                        cells[0][0],
                        min(c[1] for c in cells),
                        cells[-1][2],
                        max(c[3] for c in cells),
                    ),
                    kind=BoxKind.COMB,
                    cells=len(cells),
                    spans=tuple((c[0], c[2]) for c in cells),
                )
            )
    for index, inside in enumerate(by_row):
        if index not in used:
            boxes.append(Box(inside, _kind_of(inside, dpi)))
    return boxes


def _comb_whole(comb: Box, lines: GrayImage) -> Box:
    """``comb`` with the cells around it that writing hid: a letter written from a
    cell's top to its foot leaves a stem that is taken for a wall, and one that runs
    over a wall leaves a cell no box, so a comb may be found without its first cells,
    its last ones, or a group of them. Its top and bottom rules still run on over them,
    with a wall every cell's width: each such cell is taken back, left and right, and
    across the gap between groups.
    """
    spans = list(comb.spans)
    widths = sorted(b - a for a, b in spans)
    cell = widths[len(widths) // 2]
    walls = sorted(c - b for (_, b), (c, _) in itertools.pairwise(spans) if c - b < 0.5 * cell)
    if not walls:
        return comb
    wall = walls[len(walls) // 2]
    _, top, _, bottom = comb.bbox
    rules = _rules_along(lines, top, bottom, wall)
    walls_at = _walls_along(lines, top, bottom)
    for step in (-1, 1):
        while True:
            beside = spans[0] if step < 0 else spans[-1]
            found = _cell_beside(beside, step, cell, wall, rules, walls_at)
            if found is None:
                break
            if step < 0:
                spans.insert(0, found)
            else:
                spans.append(found)
    if len(spans) == len(comb.spans):
        return comb
    return Box(
        (spans[0][0], comb.bbox[1], spans[-1][1], comb.bbox[3]),
        BoxKind.COMB,
        cells=len(spans),
        spans=tuple(spans),
    )


def _middle(box: PixelBox) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _rules_along(lines: GrayImage, top: int, bottom: int, wall: int) -> np.ndarray:
    """The columns where a comb's top rule and its bottom rule both run, given the
    inside's top and bottom rows and the walls' width."""
    reach = wall + 3
    above = lines[max(0, top - reach) : top + 1].any(axis=0)
    below = lines[bottom : bottom + reach].any(axis=0)
    return np.asarray(above & below)


def _walls_along(lines: GrayImage, top: int, bottom: int) -> np.ndarray:
    """The columns where a ruled line runs down most of the way from a comb's top to its
    bottom (a wall, or a letter's stem taken for one)."""
    inside = lines[top:bottom] > 0
    return np.asarray(inside.mean(axis=0) >= 0.8)


def _cell_beside(
    span: tuple[int, int],
    step: int,
    cell: int,
    wall: int,
    rules: np.ndarray,
    walls_at: np.ndarray,
) -> tuple[int, int] | None:
    """The inside of the comb cell beside ``span`` (left when ``step`` is -1, right when
    1), or None: the rules run over it, with a wall on its far side. Past a gap in the
    rules no wider than a cell (between groups), the next group's nearest cell, with a
    wall on both sides."""
    near = max(3, round(0.15 * cell))
    # The outer edge of the wall beside the span, and the columns beyond it.
    edge = span[0] - wall if step < 0 else span[1] + wall
    beyond = rules[max(0, edge - cell) : edge][::-1] if step < 0 else rules[edge : edge + cell]
    again = np.flatnonzero(beyond)
    if again.size == 0:
        return None
    jumped = int(again[0]) >= wall  # a break narrower than a wall is noise in the rule
    if jumped:
        # Past the gap, the next group's nearest wall, then its cell.
        edge += step * (int(again[0]) + wall)
    lo, hi = (edge - cell, edge) if step < 0 else (edge, edge + cell)
    if lo - wall < 0 or hi + wall > rules.size or rules[lo - wall : hi + wall].mean() < 0.9:
        return None
    far = lo - wall if step < 0 else hi
    if not walls_at[max(0, far - near) : far + wall + near].any():
        return None
    if jumped:
        close = hi if step < 0 else lo - wall
        if not walls_at[max(0, close - near) : close + wall + near].any():
            return None
    return lo, hi


def _next_cell(left: PixelBox, right: PixelBox) -> bool:
    """Whether ``right`` is the comb cell straight after ``left``: same row and height,
    separated by no more than a wall."""
    height = left[3] - left[1]
    width = left[2] - left[0]
    same_row = abs(left[1] - right[1]) <= _COMB_HEIGHT * height and (
        abs(left[3] - right[3]) <= _COMB_HEIGHT * height
    )
    gap = right[0] - left[2]
    return same_row and 0 <= gap <= max(4, _COMB_GAP * width)


def _cells_alike(cells: list[PixelBox]) -> bool:
    """Character cells: all about as wide as each other, no wider than tall × 1.6, and
    mostly touching (a row of separate tick boxes stands further apart)."""
    widths = [c[2] - c[0] for c in cells]
    heights = [c[3] - c[1] for c in cells]
    narrowest, widest = min(widths), max(widths)
    touching = sum(1 for a, b in itertools.pairwise(cells) if b[0] - a[2] <= max(6, 0.2 * widest))
    return (
        widest <= 1.5 * narrowest and widest <= 1.6 * max(heights) and touching >= len(cells) // 2
    )


def _kind_of(inside: PixelBox, dpi: int) -> BoxKind:
    width, height = inside[2] - inside[0], inside[3] - inside[1]
    low, high = _TICK_RATIO
    small = max(width, height) <= _TICK_MAX_SIDE_IN * dpi
    return BoxKind.TICK if small and low <= width / height <= high else BoxKind.VALUE


def comb_cells(crop: GrayImage, spans: list[tuple[int, int]], dpi: int) -> list[GrayImage | None]:
    """The ink of each of a comb's cells, cut to its width; None for an empty cell.

    Args:
        crop: the comb's inside.
        spans: each cell's inside, x0 and x1 within ``crop``.
        dpi: the resolution.
    """
    height = crop.shape[0]
    inset = max(2, dpi // 100)  # clear of the cell's walls
    pieces: list[GrayImage | None] = []
    for left, right in spans:
        cell = crop[inset : height - inset, max(0, left + inset) : max(0, right - inset)]
        if cell.size == 0:
            pieces.append(None)
            continue
        _, ink = cv2.threshold(cell, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
        if float(cell.max()) - float(cell.min()) < 60 or np.count_nonzero(ink) < 0.02 * ink.size:
            pieces.append(None)
            continue
        columns = np.flatnonzero(ink.any(axis=0))
        pieces.append(cell[:, columns[0] : columns[-1] + 1])
    return pieces


def comb_compacted(crop: GrayImage, spans: list[tuple[int, int]], dpi: int) -> GrayImage:
    """A comb's characters set side by side as one ordinary word or words.

    Written one to a cell, characters stand far apart and Tesseract takes each for a
    word of its own, or for nothing. Each cell's ink is cut out and the pieces laid
    next to each other with a letter's gap, an empty cell between written ones left as
    a word gap: then the comb reads like any line of writing.

    Args:
        crop: the comb's inside.
        spans: each cell's inside, x0 and x1 within ``crop``.
        dpi: the resolution.
    """
    height = crop.shape[0]
    letter_gap = max(3, dpi // 60)
    inset = max(2, dpi // 100)  # clear of the cell's walls
    pieces = comb_cells(crop, spans, dpi)
    # Leading and trailing empty cells are not spaces.
    while pieces and pieces[0] is None:
        pieces.pop(0)
    while pieces and pieces[-1] is None:
        pieces.pop()
    parts: list[GrayImage] = []
    blank_run = 0
    for piece in pieces:
        if piece is None:
            blank_run += 1
            continue
        gap = letter_gap * (5 if blank_run else 1)
        if parts:
            parts.append(np.full((height - 2 * inset, gap), 255, np.uint8))
        parts.append(piece)
        blank_run = 0
    if not parts:
        return np.full((max(1, height - 2 * inset), 1), 255, np.uint8)
    return np.asarray(np.hstack(parts), dtype=np.uint8)

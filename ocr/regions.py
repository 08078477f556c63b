"""Where a field's value lies: the printed box beside, under or around its label.

A value belongs in its own box, so the box is looked for first: right of the label on
its line, under it, or the box the label is printed in. Reading only the box's inside
keeps out what is printed around it (a "£" before the box, the next column's label, a
note under it) and what it is drawn with (walls, comb dividers, grid lines). Only when
no box fits (a value written on a line, or on open paper) is the region guessed from
the label and the labels around it, as far as ``max_width``/``max_height`` allow.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.form_template import FieldSpec, Position
from domain.forms import BBox
from ocr import layout
from ocr.boxes import Box, BoxKind

# Gap between a label and its value region, as a share of the page width.
_GAP = 0.004
_RIGHT_MARGIN = 0.98
# How far under its label a box may start, in label heights.
_BELOW_REACH = 3.5


@dataclass(frozen=True)
class PageBox:
    """A printed box in page fractions, with what ``ocr.boxes`` found out about it."""

    bbox: BBox
    kind: BoxKind
    spans: tuple[tuple[float, float], ...] = ()
    struck: bool = False

    @classmethod
    def of(cls, box: Box, width: int, height: int) -> PageBox:
        x0, y0, x1, y1 = box.bbox
        return cls(
            (x0 / width, y0 / height, x1 / width, y1 / height),
            box.kind,
            tuple((a / width, b / width) for a, b in box.spans),
            box.struck,
        )

    @property
    def middle(self) -> tuple[float, float]:
        return (self.bbox[0] + self.bbox[2]) / 2, (self.bbox[1] + self.bbox[3]) / 2

    def holds(self, box: BBox) -> bool:
        """Whether the middle of ``box`` lies inside this box."""
        return layout.holds(self.bbox, box)


@dataclass(frozen=True)
class ValueArea:
    """Where to read a value: a region of the page, and the box it is, if any.

    ``hide`` are areas inside the region that are not the value (a caption printed in
    the box), whited out before reading. ``run_on`` is how far right (a page fraction)
    writing run on past the box's right wall may be followed: to the next label on its
    row, or the page's edge.
    """

    region: BBox
    box: PageBox | None = None
    hide: tuple[BBox, ...] = ()
    run_on: float = 1.0


def value_area(
    spec: FieldSpec, label: BBox | None, other_labels: list[BBox], boxes: list[PageBox]
) -> ValueArea:
    """Where the field's value lies: its box when one fits, else a region guessed from
    the label.

    Args:
        spec: the field.
        label: the label's box (None for a zone field).
        other_labels: the other fields' labels on the page.
        boxes: the page's boxes (tick boxes are ignored here).
    """
    if spec.position is Position.ZONE:
        assert spec.zone is not None
        return ValueArea(spec.zone)
    assert label is not None
    writable = [b for b in boxes if b.kind is not BoxKind.TICK]
    box = _box_for(spec.position, label, other_labels, writable)
    if box is not None:
        hide = (label,) if spec.position is Position.INSIDE else ()
        _, by0, bx1, by1 = box.bbox
        after = [o[0] for o in other_labels if o[0] >= bx1 and o[1] < by1 and o[3] > by0]
        return ValueArea(box.bbox, box, hide, min(after, default=1.0))
    region = guessed_region(spec, label, other_labels)
    # A label in a box of its own (a grid cell, a caption in a big box): the value
    # stays inside that box.
    around = _smallest([b for b in writable if b.holds(label)])
    if around is not None:
        region = _clip(region, around.bbox)
    hide = (label,) if spec.position is Position.INSIDE else ()
    return ValueArea(region, None, hide)


def _box_for(
    position: Position, label: BBox, other_labels: list[BBox], boxes: list[PageBox]
) -> PageBox | None:
    if position is Position.INSIDE:
        return _smallest([b for b in boxes if b.holds(label)])
    if position is Position.RIGHT:
        return _box_right(label, other_labels, boxes)
    return _box_below(label, other_labels, boxes)


def _box_right(label: BBox, other_labels: list[BBox], boxes: list[PageBox]) -> PageBox | None:
    """The nearest box right of the label whose height takes in the label's middle, with
    no other label in between."""
    _x0, y0, x1, y1 = label
    height = y1 - y0
    middle = (y0 + y1) / 2
    cell = _smallest([b for b in boxes if b.holds(label)])
    best: PageBox | None = None
    for box in boxes:
        bx0, by0, _, by1 = box.bbox
        if box.holds(label) or bx0 < x1 - 0.5 * height:
            continue
        if not by0 - 0.3 * height <= middle <= by1 + 0.3 * height:
            continue
        # The box must not be taller than a few lines unless the label is: a big box
        # beside a one-line label is a section's frame, not its value. The next cell of
        # the label's own row is not: a label of three lines further along the row makes
        # the row as tall as it needs.
        if by1 - by0 > max(6 * height, 2.5 * (y1 - y0) + 4 * height) and not _same_row(
            cell, box, height
        ):
            continue
        if any(_between_on_line(other, x1, bx0, middle) for other in other_labels):
            continue
        if best is None or bx0 < best.bbox[0]:
            best = box
    return best


def _box_below(label: BBox, other_labels: list[BBox], boxes: list[PageBox]) -> PageBox | None:
    """The nearest box under the label that starts under it (not far left or right of
    it), with no other label in between."""
    x0, y0, x1, y1 = label
    height = y1 - y0
    best: PageBox | None = None
    for box in boxes:
        bx0, by0, bx1, _ = box.bbox
        if box.holds(label) or by0 < y1 - 0.3 * height or by0 - y1 > _BELOW_REACH * height:
            continue
        # Under the label: the box spans the label's start, or starts within its width.
        if not (bx0 - 2 * height <= x0 <= bx1 or x0 - 2 * height <= bx0 <= x1):
            continue
        if any(
            other[1] >= y1 - 0.1 * height and other[3] <= by0 and other[0] < bx1 and other[2] > bx0
            for other in other_labels
        ):
            continue
        if best is None or (by0, abs(bx0 - x0)) < (best.bbox[1], abs(best.bbox[0] - x0)):
            best = box
    return best


def _same_row(cell: PageBox | None, box: PageBox, height: float) -> bool:
    """Whether ``box`` is a cell of the row ``cell`` (the label's own) is in: the same
    top and foot, within half the label's ``height``."""
    if cell is None:
        return False
    return (
        abs(cell.bbox[1] - box.bbox[1]) <= 0.5 * height
        and abs(cell.bbox[3] - box.bbox[3]) <= 0.5 * height
    )


def _between_on_line(other: BBox, left: float, right: float, middle: float) -> bool:
    centre = (other[0] + other[2]) / 2
    return left < centre < right and other[1] <= middle <= other[3]


def _smallest(boxes: list[PageBox]) -> PageBox | None:
    if not boxes:
        return None
    return min(boxes, key=lambda b: (b.bbox[2] - b.bbox[0]) * (b.bbox[3] - b.bbox[1]))


def _clip(region: BBox, bounds: BBox) -> BBox:
    x0, y0, x1, y1 = (
        max(region[0], bounds[0]),
        max(region[1], bounds[1]),
        min(region[2], bounds[2]),
        min(region[3], bounds[3]),
    )
    if x1 <= x0 or y1 <= y0:
        return region
    return (x0, y0, x1, y1)


def guessed_region(spec: FieldSpec, label: BBox, other_labels: list[BBox]) -> BBox:
    """Where a value with no box of its own lies, as fractions of the page.

    Right of the label: from the label's end to the next label on the same line (or
    ``max_width``, or the margin), a little taller than the label. Below: from the
    label's bottom down ``max_height`` (four label heights by default). Inside: the
    label's line and the next, from the label's start.
    """
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
    if spec.position is Position.INSIDE:
        bottom = y1 + (spec.max_height or 2.5 * height)
        right = x0 + spec.max_width if spec.max_width else _RIGHT_MARGIN
        return (x0, y0, min(right, _RIGHT_MARGIN), min(1.0, bottom))
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

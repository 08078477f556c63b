"""Printing a filled random design to PDF (reportlab), one A4 page with a text layer.

The print follows the design (``_random_designs.py``): its typeface and size, its
section headers, each field in its style. Values are written in the applicant's
hand (``_rendering.Hand``). Every label and value box is recorded as page
fractions, as for the bundled forms. With ``handwritten`` the values are written by hand instead
(``_handwriting.py``): letters drawn as ink, ticks as strokes, some boxes crossed out.

How the styles are drawn (what an extraction has to read):

* ``right``: label lines on the left, the value box to the right, vertically centred
  on the label; boxes start at the design's ``value_x`` when it has one, else just
  after the label; dotted leaders (drawn, not text) may join label and box.
* ``below``: the label, then its box under it, as wide as the column (dates,
  money, numbers and phones get a shorter box).
* ``inside``: one box; the label is a small grey caption in its top-left corner and
  the value is written in the lower part.
* combs: one cell per character, cells in groups with a gap between groups (a date
  is DD MM YYYY with the hints "DD", "MM", "YYYY" printed small above).
* grid: a ruled table, each field a label cell (40 % of the column) and a value cell
  sharing walls with their neighbours; two fields a row in two-column designs.
* tick boxes: after the statement, at the right margin, or before it.
* Yes/No and choice rows: the question, then each option's text followed by its
  box, left to right on the question's line; the chosen one is ticked.
* money: when the design says so a "£" is printed just left of the box and the
  applicant writes only the amount.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from config.form_template import FieldType
from domain.forms import BBox
from switchover.specimens._filling import FilledField, FilledForm
from switchover.specimens._handwriting import HandFace, TickBox
from switchover.specimens._random_designs import (
    COLUMN_GAP,
    COMB_CELL,
    HEADER_HEIGHT,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    ROW_GAP,
    SIGNATURE_HEIGHT,
    TICK,
    TOP,
    FieldLayout,
    FieldStyle,
    Metrics,
    RandomDesign,
    SectionLayout,
    comb_width,
    text_width,
)
from switchover.specimens._rendering import (
    FieldBoxes,
    Pen,
    RenderedForm,
    TypedPen,
    _fraction,
    _Page,
    pen_for,
)

# Values of these types get a shorter box than the column (a date needs no full row).
_SHORT = {
    FieldType.DATE: 130.0,
    FieldType.MONEY: 110.0,
    FieldType.INTEGER: 60.0,
    FieldType.PHONE: 170.0,
    FieldType.POSTCODE: 100.0,
}


def render_design(
    design: RandomDesign,
    filled: FilledForm,
    *,
    handwritten: bool = False,
    faces: tuple[HandFace, ...] | None = None,
    slips: frozenset[str] = frozenset(),
) -> RenderedForm:
    """Print one filled copy of a random design.

    Args:
        design: the layout.
        filled: its values (from :func:`fill_design`).
        handwritten: write the values by hand rather than typed (seeded as the rest).
        faces: the typefaces a hand is drawn from (the installed default faces if None).
        slips: the slips of :data:`SLIPS` a hand makes now and then (none by default).

    Returns:
        One page of PDF with a text layer (without the values when handwritten), each
        field's label and value boxes, and what the handwriting shows.

    Raises:
        NoHandwritingFonts: ``handwritten`` and no handwriting typeface is installed.
    """
    rng = random.Random(f"hand:{filled.seed}")
    pen = pen_for(
        filled.seed, rng, handwritten=handwritten, mark_lift=1.5, faces=faces, slips=slips
    )
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=1)  # invariant: same seed, same bytes
    canvas.setTitle(design.title)
    canvas.setAuthor("Switchover specimen generator")
    sheet = _Sheet(_Page(canvas), design, pen, rng, {f.spec.name: f for f in filled.fields})
    sheet.header()
    y = TOP
    for section in design.sections:
        y = sheet.section(section, y)
    sheet.small_print(y)
    canvas.showPage()
    canvas.save()
    return RenderedForm(pdf=out.getvalue(), pages=1, boxes=sheet.boxes, handwriting=pen.describe())


@dataclass
class _Sheet:
    """The page being printed, with the design, the pen, and the boxes recorded so far."""

    page: _Page
    design: RandomDesign
    pen: Pen
    rng: random.Random
    filled: dict[str, FilledField]
    boxes: dict[str, FieldBoxes] = field(default_factory=dict)

    @property
    def metrics(self) -> Metrics:
        return Metrics(self.design.size)

    @property
    def left(self) -> float:
        return self.design.margin

    @property
    def right(self) -> float:
        return PAGE_WIDTH - self.design.margin

    def text(
        self,
        x: float,
        baseline: float,
        text: str,
        *,
        bold: bool = False,
        size: float | None = None,
        grey: float = 0.0,
        italic: bool = False,
    ) -> float:
        face = self.design.typeface
        font = face.bold if bold else face.italic if italic else face.regular
        return self.page.text(x, baseline, text, font, size or self.design.size, grey)

    # --- the page around the fields --------------------------------------------------------

    def header(self) -> None:
        d = self.design
        self.text(self.left, 0.030 * PAGE_HEIGHT, d.authority, bold=True, size=9)
        self.text(self.left, 0.066 * PAGE_HEIGHT, d.title, bold=True, size=20)
        self.text(self.left, 0.088 * PAGE_HEIGHT, d.subtitle, size=11)
        self.text(self.left, 0.111 * PAGE_HEIGHT, d.instructions, italic=True, size=9)
        self.page.canvas.setStrokeGray(0.2)
        self.page.canvas.setLineWidth(1.2)
        self.page.canvas.line(self.left, PAGE_HEIGHT * 0.878, self.right, PAGE_HEIGHT * 0.878)
        if d.zone is not None:
            self.zone()
        self.text(self.left, PAGE_HEIGHT - 22, d.footer, size=7.5, grey=0.3)
        self.text(self.right - 40, PAGE_HEIGHT - 22, "Page 1 of 1", size=7.5, grey=0.3)

    def zone(self) -> None:
        zone = self.design.zone
        assert zone is not None
        x0, y0 = zone.box[0] * PAGE_WIDTH, zone.box[1] * PAGE_HEIGHT
        x1, y1 = zone.box[2] * PAGE_WIDTH, zone.box[3] * PAGE_HEIGHT
        self.text(x0, y0 - 3, zone.caption, size=7.5, grey=0.25)
        self.page.box(x0, y0, x1, y1)
        written = self.filled[zone.name].written
        # The office pre-prints the reference in a machine font, centred.
        width = text_width(written, "Courier-Bold", 14)
        self.page.text((x0 + x1 - width) / 2, (y0 + y1) / 2 + 5, written, "Courier-Bold", 14)
        self.boxes[zone.name] = FieldBoxes(label=None, value=_fraction(x0, y0, x1, y1))

    def small_print(self, y: float) -> None:
        for note in self.design.notes:
            for line in simpleSplit(note, "Helvetica", 7, self.right - self.left):
                y += 9
                self.page.text(self.left, y, line, "Helvetica", 7, grey=0.2)

    def section(self, section: SectionLayout, y: float) -> float:
        """Draw a section from ``y``; return where the next one starts."""
        y = self.heading(section, y)
        for index, row in enumerate(section.rows):
            height = max(self.metrics.field_height(f) for f in row)
            if row[0].style is FieldStyle.GRID:
                self.grid_row(row, y, height)
                following = section.rows[index + 1 : index + 2]
                last = not following or following[0][0].style is not FieldStyle.GRID
                y += height + (ROW_GAP if last else 0)  # the table's rows share their walls
                continue
            for item, (x0, x1) in zip(row, self.columns(len(row)), strict=True):
                self.field(item, x0, x1, y, height, columns=len(row))
            y += height + ROW_GAP
        if section.signature:
            y = self.signature(y)
        return y + 6

    def heading(self, section: SectionLayout, y: float) -> float:
        style, size = self.design.header_style, self.design.size + 1.5
        if style == "rule":
            self.text(self.left, y + 13, section.heading, bold=True, size=size)
            self.page.canvas.setStrokeGray(0.1)
            self.page.canvas.setLineWidth(0.9)
            self.page.canvas.line(self.left, PAGE_HEIGHT - y - 17, self.right, PAGE_HEIGHT - y - 17)
        else:
            dark = style == "dark"
            self.page.canvas.setFillGray(0.18 if dark else 0.86)
            self.page.canvas.rect(
                self.left,
                PAGE_HEIGHT - y - HEADER_HEIGHT,
                self.right - self.left,
                HEADER_HEIGHT,
                stroke=0,
                fill=1,
            )
            self.text(
                self.left + 6,
                y + 13,
                section.heading,
                bold=True,
                size=size,
                grey=1.0 if dark else 0.0,
            )
        y += HEADER_HEIGHT + 8
        if section.intro:
            for line in simpleSplit(
                section.intro, "Helvetica", self.design.size - 1, self.right - self.left
            ):
                y += self.metrics.line - 1
                self.page.text(self.left, y - 3, line, "Helvetica", self.design.size - 1, 0.2)
            y += 4
        return y

    def columns(self, count: int, gap: float = COLUMN_GAP) -> list[tuple[float, float]]:
        width = (self.right - self.left - (count - 1) * gap) / count
        return [
            (self.left + i * (width + gap), self.left + i * (width + gap) + width)
            for i in range(count)
        ]

    # --- the fields ------------------------------------------------------------------------

    def field(
        self, item: FieldLayout, x0: float, x1: float, y: float, height: float, *, columns: int
    ) -> None:
        """Draw one field in the column ``x0..x1`` of the row at ``y``."""
        filled = self.filled[item.name]
        if item.style in (FieldStyle.TICK_AFTER, FieldStyle.TICK_RIGHT, FieldStyle.TICK_BEFORE):
            self.boxes[item.name] = self.tick_field(item, filled, x0, x1, y)
        elif item.style in (FieldStyle.YES_NO, FieldStyle.CHOICE_ROW):
            self.boxes[item.name] = self.option_row(item, filled, x0, y)
        elif item.style in (FieldStyle.BELOW, FieldStyle.COMB_BELOW):
            self.boxes[item.name] = self.below(item, filled, x0, x1, y)
        elif item.style is FieldStyle.INSIDE:
            self.boxes[item.name] = self.inside(item, filled, x0, x1, y)
        else:
            self.boxes[item.name] = self.beside(item, filled, x0, x1, y, height, columns)

    def label(
        self,
        item: FieldLayout,
        x: float,
        top: float,
        *,
        size: float | None = None,
        grey: float = 0.0,
    ) -> BBox:
        """The label's lines from ``top``; returns their box."""
        size = size or self.design.size
        line = size * 1.25
        widths = [
            self.text(x, top + size * 0.95 + i * line, text, size=size, grey=grey)
            for i, text in enumerate(item.label_lines)
        ]
        return _fraction(x, top, x + max(widths), top + len(widths) * line)

    def value_box(
        self, filled: FilledField, x0: float, x1: float, top: float
    ) -> tuple[float, float]:
        """A written-in box from ``x0`` (shorter than ``x1`` for short values); returns its ends."""
        x1 = min(x1, x0 + _SHORT.get(filled.spec.type, 1e9))
        bottom = top + self.metrics.box
        self.page.box(x0, top, x1, bottom)
        self.pen.write(self.page.canvas, filled.written, x0, x1, bottom - 5, filled.spec.name)
        return x0, x1

    def pound(self, x: float, top: float) -> float:
        """The "£" printed left of a money box; returns where the box starts."""
        self.text(x, top + self.metrics.box - 6, "£", bold=True)
        return x + 11

    def beside(
        self,
        item: FieldLayout,
        filled: FilledField,
        x0: float,
        x1: float,
        y: float,
        height: float,
        columns: int,
    ) -> FieldBoxes:
        """A label with its box (or comb) to the right, both centred on the row."""
        lines = len(item.label_lines)
        label_top = y + (height - lines * self.metrics.line) / 2
        label = self.label(item, x0, label_top)
        label_end = label[2] * PAGE_WIDTH
        if columns > 1:
            start = x0 + (x1 - x0) * 0.45 + 10
        elif self.design.value_x is not None:
            start = self.design.value_x
        else:
            start = label_end + 10
        start = max(start, label_end + 8)
        box_top = y + (height - self.metrics.box) / 2
        if item.style is FieldStyle.COMB_RIGHT:
            start = min(start, x1 - comb_width(item.comb_groups))
            top = y + (height - self.metrics.box - self.hints(item)) / 2 + self.hints(item)
            return FieldBoxes(label, self.comb(item, filled, start, top))
        if item.leaders:
            self.leaders(
                label_end + 4, start - (14 if item.pound else 4), label[3] * PAGE_HEIGHT - 3
            )
        if item.pound:
            start = self.pound(start, box_top)
        bx0, bx1 = self.value_box(filled, start, x1, box_top)
        return FieldBoxes(label, _fraction(bx0, box_top, bx1, box_top + self.metrics.box))

    def leaders(self, x0: float, x1: float, baseline: float) -> None:
        canvas = self.page.canvas
        canvas.setFillGray(0.3)
        x = x0
        while x < x1:
            canvas.circle(x, PAGE_HEIGHT - baseline, 0.5, stroke=0, fill=1)
            x += 3.5

    def below(
        self, item: FieldLayout, filled: FilledField, x0: float, x1: float, y: float
    ) -> FieldBoxes:
        label = self.label(item, x0, y)
        top = y + len(item.label_lines) * self.metrics.line + 3
        if item.style is FieldStyle.COMB_BELOW:
            return FieldBoxes(label, self.comb(item, filled, x0, top + self.hints(item)))
        start = self.pound(x0, top) if item.pound else x0
        bx0, bx1 = self.value_box(filled, start, x1, top)
        return FieldBoxes(label, _fraction(bx0, top, bx1, top + self.metrics.box))

    def inside(
        self, item: FieldLayout, filled: FilledField, x0: float, x1: float, y: float
    ) -> FieldBoxes:
        m = self.metrics
        bottom = y + m.caption + 4 + m.box
        x1 = min(x1, x0 + max(_SHORT.get(filled.spec.type, 1e9), 150))
        self.page.box(x0, y, x1, bottom)
        label = self.label(item, x0 + 3, y + 1.5, size=m.caption, grey=0.25)
        self.pen.write(self.page.canvas, filled.written, x0, x1, bottom - 5, filled.spec.name)
        return FieldBoxes(label, _fraction(x0, y, x1, bottom))

    def hints(self, item: FieldLayout) -> float:
        """The room above a date comb for its "DD MM YYYY" hints."""
        return 8.0 if item.comb_groups == (2, 2, 4) else 0.0

    def comb(self, item: FieldLayout, filled: FilledField, x: float, top: float) -> BBox:
        """One cell per character, in groups; the value written a character a cell."""
        bottom = top + self.metrics.box
        parts = filled.written.split()
        if len(parts) != len(item.comb_groups):
            parts = ["".join(parts)]
        cells: list[tuple[float, str]] = []
        start = x
        for index, group in enumerate(item.comb_groups):
            if self.hints(item):
                self.text(start + 1, top - 2, ("DD", "MM", "YYYY")[index], size=6, grey=0.35)
            for cell in range(group):
                self.page.box(start + cell * COMB_CELL, top, start + (cell + 1) * COMB_CELL, bottom)
                cells.append((start + cell * COMB_CELL, ""))
            start += group * COMB_CELL + 8
        if len(parts) == 1:
            chars = list(parts[0])
        else:  # each part left-aligned in its own group (a postcode's outward and inward codes)
            chars = [
                c
                for part, group in zip(parts, item.comb_groups, strict=True)
                for c in part.ljust(group)[:group]
            ]
        written = [(cx, c) for (cx, _), c in zip(cells, chars, strict=False)]
        self.pen.comb(self.page.canvas, written, COMB_CELL, top, bottom)
        return _fraction(x, top, start - 8, bottom)

    def grid_row(self, row: tuple[FieldLayout, ...], y: float, height: float) -> None:
        """A row of a ruled table: a label cell and a value cell per field, shared walls.
        By hand, the whole row is printed before it is written in, as on paper: a value
        run on past its cell's wall lies over the next cell's tint and label, not under
        them. Typed values fit their cells, and are typed cell by cell as they always were
        (same seed, same PDF)."""
        baseline = y + height / 2 + self.design.size * 0.45
        by_hand: list[tuple[FieldLayout, float, float]] = []
        for item, (x0, x1) in zip(row, self.columns(len(row), gap=0), strict=True):
            split = x0 + (x1 - x0) * 0.4
            self.page.box(x0, y, split, y + height, fill=0.93)
            self.page.box(split, y, x1, y + height)
            lines = len(item.label_lines)
            label = self.label(item, x0 + 4, y + (height - lines * self.metrics.line) / 2)
            self.boxes[item.name] = FieldBoxes(label, _fraction(split, y, x1, y + height))
            by_hand.append((item, split, x1))
            if isinstance(self.pen, TypedPen):
                self.cell_value(*by_hand.pop(), baseline)
        for cell in by_hand:
            self.cell_value(*cell, baseline)

    def cell_value(self, item: FieldLayout, x0: float, x1: float, baseline: float) -> None:
        written = self.filled[item.name].written
        self.pen.write(self.page.canvas, written, x0, x1, baseline, item.name)

    def tick_field(
        self, item: FieldLayout, filled: FilledField, x0: float, x1: float, y: float
    ) -> FieldBoxes:
        height = self.metrics.field_height(item)
        top = y + (height - TICK) / 2
        label_top = y + (height - self.metrics.line) / 2
        if item.style is FieldStyle.TICK_BEFORE:
            box_x = x0
            label = self.label(item, x0 + TICK + 8, label_top)
        else:
            label = self.label(item, x0, label_top)
            box_x = x1 - TICK if item.style is FieldStyle.TICK_RIGHT else label[2] * PAGE_WIDTH + 10
        self.tick_box(box_x, top, filled.written, item.name)
        return FieldBoxes(label, _fraction(box_x, top, box_x + TICK, top + TICK))

    def option_row(self, item: FieldLayout, filled: FilledField, x0: float, y: float) -> FieldBoxes:
        """The question, then each option's text and box; the chosen one is ticked."""
        height = self.metrics.field_height(item)
        top = y + (height - TICK) / 2
        label = self.label(item, x0, y + (height - self.metrics.line) / 2)
        x = label[2] * PAGE_WIDTH + 16
        if self.design.value_x is not None:
            x = max(x, self.design.value_x)
        first = x
        for option in item.options:
            x += self.text(x, label[1] * PAGE_HEIGHT + self.design.size * 0.95, option) + 4
            chosen = filled.value == option
            self.tick_box(x, top, self.rng.choice(("X", "✓")) if chosen else "", item.name, option)
            x += TICK + 14
        return FieldBoxes(label, _fraction(first, top, x - 14, top + TICK))

    def tick_box(
        self, x: float, top: float, mark: str, name: str, option: str | None = None
    ) -> None:
        self.page.box(x, top, x + TICK, top + TICK)
        self.pen.mark(self.page.canvas, TickBox(x, top, TICK, name, option), mark)

    def signature(self, y: float) -> float:
        """The signature box with a scribble in it (not a field)."""
        self.text(self.left, y + SIGNATURE_HEIGHT / 2 + 4, "Signature")
        x0 = self.design.value_x or self.left + 90
        self.page.box(x0, y, x0 + 0.36 * PAGE_WIDTH, y + SIGNATURE_HEIGHT)
        canvas = self.page.canvas
        canvas.setStrokeColorRGB(*self.pen.ink)
        canvas.setLineWidth(1.1)
        path = canvas.beginPath()
        x, base = x0 + 12, PAGE_HEIGHT - (y + SIGNATURE_HEIGHT * 0.65)
        path.moveTo(x, base)
        for _ in range(self.rng.randint(3, 6)):
            step = self.rng.uniform(18, 32)
            path.curveTo(
                x + step * 0.3,
                base + self.rng.uniform(4, 11),
                x + step * 0.7,
                base - self.rng.uniform(2, 7),
                x + step,
                base + self.rng.uniform(-3, 5),
            )
            x += step
        canvas.drawPath(path, stroke=1, fill=0)
        return y + SIGNATURE_HEIGHT + ROW_GAP

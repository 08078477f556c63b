"""Printing a filled form to PDF (reportlab) and rasterising it (pypdfium2).

The printed form is in Helvetica; the filled-in values are written by a pen: typed
(:class:`TypedPen`: a font, size, ink and slight irregularity per applicant) or, when
asked, handwritten (``_handwriting.HandPen``: letter by letter in a handwriting
typeface, ticks as strokes). Layout is computed in points from the top-left and
every label and value box is recorded as page fractions for the ground truth.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pypdfium2 as pdfium
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from config.form_template import FieldType, Position
from domain.forms import BBox
from switchover.specimens._designs import SIGNATURE, FormDesign, Section, design_for
from switchover.specimens._filling import FilledField, FilledForm
from switchover.specimens._handwriting import Box, HandFace, HandPen, TickBox

PAGE_WIDTH, PAGE_HEIGHT = A4
_LEFT = 0.08 * PAGE_WIDTH
_RIGHT = 0.92 * PAGE_WIDTH
_VALUE_X = 0.38 * PAGE_WIDTH  # where value boxes of right-hand fields start
_BOX_HEIGHT = 22.0
_ROW_PITCH = 29.0
_BELOW_PITCH = 44.0
_CHECKBOX = 14.0
_COLUMN_GAP = 20.0
_BAND_HEIGHT = 17.0
_LABEL_FONT = "Helvetica"
_LABEL_SIZE = 10.0

_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_DEJAVU = {
    "DejaVuSans": "DejaVuSans.ttf",
    "DejaVuSans-Oblique": "DejaVuSans-Oblique.ttf",
    "DejaVuSansCondensed": "DejaVuSansCondensed.ttf",
    "DejaVuSansCondensed-Oblique": "DejaVuSansCondensed-Oblique.ttf",
    "DejaVuSansMono": "DejaVuSansMono.ttf",
}
_TICK_FONT = "DejaVuSans"  # the built-in fonts have no tick glyph


def _register_fonts() -> tuple[str, ...]:
    """Register the DejaVu fonts the system has (no downloads); return the hand fonts."""
    hands = ["Helvetica-Oblique", "Courier-Bold", "Times-Italic"]
    for name, file in _DEJAVU.items():
        path = _FONT_DIR / file
        if not path.is_file():
            continue
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(path)))
        hands.append(name)
    return tuple(hands)


_HAND_FONTS = _register_fonts()
_INKS = ((0.05, 0.10, 0.45), (0.08, 0.08, 0.12), (0.10, 0.15, 0.55), (0.0, 0.0, 0.0))


@dataclass(frozen=True)
class Hand:
    """How one applicant writes: font, size, ink and how carefully they keep to the line."""

    font: str
    size: float
    ink: tuple[float, float, float]
    indent: float
    wobble: float

    @classmethod
    def pick(cls, rng: random.Random) -> Hand:
        """A random hand."""
        return cls(
            font=rng.choice(_HAND_FONTS),
            size=rng.uniform(11.5, 13.5),
            ink=rng.choice(_INKS),
            indent=rng.uniform(3.0, 9.0),
            wobble=rng.uniform(0.3, 1.6),
        )


class Pen(Protocol):
    """What writes the values on a form: typed or handwritten. Coordinates are points from
    the page's top-left, as the renderers lay forms out."""

    @property
    def ink(self) -> tuple[float, float, float]: ...

    def write(
        self, canvas: Canvas, text: str, x0: float, x1: float, baseline: float, name: str = ""
    ) -> None:
        """Write ``text`` in the box from ``x0`` to ``x1`` on ``baseline``; ``name`` is the
        field's."""

    def comb(
        self, canvas: Canvas, cells: list[tuple[float, str]], cell: float, top: float, bottom: float
    ) -> list[Box]:
        """One character a comb cell (left edge, character); returns where ink was laid."""

    def mark(self, canvas: Canvas, box: TickBox, mark: str) -> None:
        """Mark a tick box: ``X``, ``✓``, or "" for none."""

    def describe(self) -> dict[str, Any] | None:
        """What the ground truth records about the writing (None for typed values)."""


@dataclass
class TypedPen:
    """Values typed in the applicant's ``Hand``: how every specimen was written before
    handwriting, kept byte for byte (same seed, same PDF)."""

    hand: Hand
    rng: random.Random
    mark_lift: float  # how far above the box's bottom a mark's baseline sits

    @property
    def ink(self) -> tuple[float, float, float]:
        return self.hand.ink

    def write(
        self, canvas: Canvas, text: str, x0: float, x1: float, baseline: float, name: str = ""
    ) -> None:
        """Write ``text`` in the applicant's hand inside a box, shrinking it to fit."""
        if not text:
            return
        hand, rng = self.hand, self.rng
        left = x0 + hand.indent + rng.uniform(-1.5, 1.5)
        room = x1 - left - 4
        size = hand.size
        while size > 7 and pdfmetrics.stringWidth(text, hand.font, size) > room:
            size -= 0.5
        canvas.setFillColorRGB(*hand.ink)
        canvas.setFont(hand.font, size)
        # A person's writing drifts a little off the line, word by word.
        x = left
        space = pdfmetrics.stringWidth(" ", hand.font, size)
        for word in text.split(" "):
            drift = rng.uniform(-hand.wobble, hand.wobble)
            canvas.drawString(x, PAGE_HEIGHT - (baseline + drift), word)
            x += pdfmetrics.stringWidth(word, hand.font, size) + space

    def comb(
        self, canvas: Canvas, cells: list[tuple[float, str]], cell: float, top: float, bottom: float
    ) -> list[Box]:
        hand = self.hand
        size = min(hand.size, cell * 0.85)
        canvas.setFillColorRGB(*hand.ink)
        canvas.setFont(hand.font, size)
        for x, char in cells:
            if char.strip():
                width = pdfmetrics.stringWidth(char, hand.font, size)
                drift = self.rng.uniform(-hand.wobble, hand.wobble)
                canvas.drawString(x + (cell - width) / 2, PAGE_HEIGHT - (bottom - 5 + drift), char)
        return []

    def mark(self, canvas: Canvas, box: TickBox, mark: str) -> None:
        if not mark:
            return
        font = _TICK_FONT if mark == "✓" and _TICK_FONT in _HAND_FONTS else self.hand.font
        mark = mark if font == _TICK_FONT else "X"
        x, top, side = box.x, box.top, box.side
        size = side + 1
        width = pdfmetrics.stringWidth(mark, font, size)
        canvas.setFillColorRGB(*self.hand.ink)
        canvas.setFont(font, size)
        canvas.drawString(x + (side - width) / 2, PAGE_HEIGHT - (top + side - self.mark_lift), mark)

    def describe(self) -> dict[str, Any] | None:
        return None


def pen_for(
    seed: str,
    rng: random.Random,
    *,
    handwritten: bool,
    mark_lift: float,
    faces: tuple[HandFace, ...] | None = None,
    slips: frozenset[str] = frozenset(),
) -> Pen:
    """The pen a form of this seed is filled in with; ``rng`` is the renderer's, from which
    the typed hand is drawn (first, so that typed forms stay as they were). A hand is
    drawn from ``faces`` (the installed default faces if None) and makes ``slips`` (some of
    :data:`SLIPS`) now and then."""
    hand = Hand.pick(rng)
    if handwritten:
        return HandPen.for_seed(seed, faces, slips)
    return TypedPen(hand, rng, mark_lift)


@dataclass(frozen=True)
class FieldBoxes:
    """Where a field is printed, as page fractions (x0, y0, x1, y1, origin top-left)."""

    label: BBox | None
    value: BBox


@dataclass(frozen=True)
class RenderedForm:
    """A filled form printed to PDF."""

    pdf: bytes
    pages: int
    boxes: dict[str, FieldBoxes] = field(default_factory=dict)
    handwriting: dict[str, Any] | None = None


def _fraction(x0: float, top: float, x1: float, bottom: float) -> BBox:
    return (
        round(x0 / PAGE_WIDTH, 4),
        round(top / PAGE_HEIGHT, 4),
        round(x1 / PAGE_WIDTH, 4),
        round(bottom / PAGE_HEIGHT, 4),
    )


class _Page:
    """A reportlab canvas addressed from the top-left, as templates are."""

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas

    def text(
        self, x: float, baseline: float, text: str, font: str, size: float, grey: float = 0.0
    ) -> float:
        """Draw text at ``baseline`` points from the top; return its width."""
        self.canvas.setFillGray(grey)
        self.canvas.setFont(font, size)
        self.canvas.drawString(x, PAGE_HEIGHT - baseline, text)
        return float(pdfmetrics.stringWidth(text, font, size))

    def box(
        self, x0: float, top: float, x1: float, bottom: float, *, fill: float | None = None
    ) -> None:
        """A thin printed rectangle, optionally tinted."""
        self.canvas.setStrokeGray(0.35)
        self.canvas.setLineWidth(0.7)
        if fill is not None:
            self.canvas.setFillColorRGB(fill, fill + 0.02, min(1.0, fill + 0.05))
        self.canvas.rect(
            x0, PAGE_HEIGHT - bottom, x1 - x0, bottom - top, stroke=1, fill=int(fill is not None)
        )


def render_pdf(
    filled: FilledForm, *, design: FormDesign | None = None, handwritten: bool = False
) -> RenderedForm:
    """Print a filled form: page 1 the form, page 2 its notes (when the design has notes).

    Args:
        filled: the form and its values.
        design: how it looks; the bundled design for its form type by default.
        handwritten: write the values by hand (letters drawn as ink, not text) rather
            than typed; the same seed always gives the same handwriting.

    Returns:
        The PDF bytes (with a text layer; a handwritten form's values are not in it),
        each field's label and value boxes, and what the handwriting shows.

    Raises:
        NoHandwritingFonts: ``handwritten`` and no handwriting typeface is installed.
    """
    design = design or design_for(filled.template)
    rng = random.Random(f"hand:{filled.seed}")
    pen = pen_for(filled.seed, rng, handwritten=handwritten, mark_lift=2.0)
    out = io.BytesIO()
    # invariant=1 leaves out the creation date and random document id: same seed, same bytes.
    canvas = Canvas(out, pagesize=A4, invariant=1)
    canvas.setTitle(design.title)
    canvas.setAuthor("Switchover specimen generator")
    page = _Page(canvas)
    pages = 2 if design.notes else 1
    boxes = _draw_form(page, filled, design, pen, rng, pages)
    if design.notes:
        canvas.showPage()
        _draw_notes(page, design, pages)
    canvas.showPage()
    canvas.save()
    return RenderedForm(pdf=out.getvalue(), pages=pages, boxes=boxes, handwriting=pen.describe())


def _draw_form(
    page: _Page, filled: FilledForm, design: FormDesign, pen: Pen, rng: random.Random, pages: int
) -> dict[str, FieldBoxes]:
    by_name = {f.spec.name: f for f in filled.fields}
    boxes: dict[str, FieldBoxes] = {}
    _draw_header(page, design)
    for item in filled.fields:
        if item.spec.position is Position.ZONE and item.spec.zone is not None:
            boxes[item.spec.name] = _draw_zone(page, item, design)
    y = 0.135 * PAGE_HEIGHT
    for section in design.sections:
        y = _draw_section_heading(page, section, y)
        for row in section.rows:
            y = _draw_row(
                page, [by_name[n] if n != SIGNATURE else None for n in row], pen, rng, y, boxes
            )
        y += 4
    if y > PAGE_HEIGHT - 36:
        raise ValueError(f"the {filled.template.form_type} design does not fit on one page")
    page.text(_LEFT, PAGE_HEIGHT - 22, design.footer, _LABEL_FONT, 7.5, grey=0.3)
    page.text(_RIGHT - 40, PAGE_HEIGHT - 22, f"Page 1 of {pages}", _LABEL_FONT, 7.5, grey=0.3)
    return boxes


def _draw_header(page: _Page, design: FormDesign) -> None:
    page.text(_LEFT, 0.030 * PAGE_HEIGHT, design.authority, "Helvetica-Bold", 9)
    page.text(_LEFT, 0.068 * PAGE_HEIGHT, design.title, "Helvetica-Bold", 22)
    page.text(_LEFT, 0.090 * PAGE_HEIGHT, design.subtitle, _LABEL_FONT, 11)
    page.text(_LEFT, 0.113 * PAGE_HEIGHT, design.instructions, "Helvetica-Oblique", 9)
    page.canvas.setStrokeGray(0.2)
    page.canvas.setLineWidth(1.2)
    page.canvas.line(_LEFT, PAGE_HEIGHT * 0.877, _RIGHT, PAGE_HEIGHT * 0.877)


def _draw_zone(page: _Page, item: FilledField, design: FormDesign) -> FieldBoxes:
    assert item.spec.zone is not None
    x0, y0, x1, y1 = (
        item.spec.zone[0] * PAGE_WIDTH,
        item.spec.zone[1] * PAGE_HEIGHT,
        item.spec.zone[2] * PAGE_WIDTH,
        item.spec.zone[3] * PAGE_HEIGHT,
    )
    page.text(x0, y0 - 3, design.reference_caption, _LABEL_FONT, 7.5, grey=0.25)
    page.box(x0, y0, x1, y1)
    # The office pre-prints the reference, so it is in a machine font, centred.
    size = 14.0
    width = pdfmetrics.stringWidth(item.written, "Courier-Bold", size)
    baseline = (y0 + y1) / 2 + size * 0.35
    page.text((x0 + x1 - width) / 2, baseline, item.written, "Courier-Bold", size)
    return FieldBoxes(label=None, value=_fraction(x0, y0, x1, y1))


def _draw_section_heading(page: _Page, section: Section, y: float) -> float:
    page.box(_LEFT, y, _RIGHT, y + _BAND_HEIGHT, fill=0.86)
    page.text(_LEFT + 6, y + 12.5, section.heading, "Helvetica-Bold", 11)
    y += _BAND_HEIGHT + 7
    if section.intro:
        for line in simpleSplit(section.intro, _LABEL_FONT, 8.5, _RIGHT - _LEFT):
            y += 10
            page.text(_LEFT, y, line, _LABEL_FONT, 8.5, grey=0.2)
        y += 6
    return y


def _draw_row(
    page: _Page,
    row: list[FilledField | None],
    pen: Pen,
    rng: random.Random,
    y: float,
    boxes: dict[str, FieldBoxes],
) -> float:
    """Draw one row of one or two fields from ``y``; return where the next row starts."""
    if len(row) == 1:
        columns = [(_LEFT, _RIGHT)]
    else:
        width = (_RIGHT - _LEFT - _COLUMN_GAP) / len(row)
        columns = [
            (_LEFT + i * (width + _COLUMN_GAP), _LEFT + i * (width + _COLUMN_GAP) + width)
            for i in range(len(row))
        ]
    pitch = _ROW_PITCH
    for item, (x0, x1) in zip(row, columns, strict=True):
        if item is None:
            pitch = max(pitch, _draw_signature(page, pen.ink, rng, y))
        elif item.spec.type is FieldType.CHECKBOX:
            boxes[item.spec.name] = _draw_checkbox(page, item, pen, x0, y)
        elif item.spec.position is Position.BELOW:
            boxes[item.spec.name] = _draw_below(page, item, pen, x0, x1, y)
            pitch = max(pitch, _BELOW_PITCH)
        else:
            boxes[item.spec.name] = _draw_right(page, item, pen, x0, x1, y)
    return y + pitch


def _label(page: _Page, text: str, x: float, baseline: float) -> BBox:
    width = page.text(x, baseline, text, _LABEL_FONT, _LABEL_SIZE)
    return _fraction(x, baseline - 0.75 * _LABEL_SIZE, x + width, baseline + 0.22 * _LABEL_SIZE)


def _draw_right(
    page: _Page, item: FilledField, pen: Pen, x0: float, x1: float, y: float
) -> FieldBoxes:
    assert item.spec.label is not None
    label = _label(page, item.spec.label, x0, y + 15)
    box_x0 = max(
        _VALUE_X, x0 + 10 + pdfmetrics.stringWidth(item.spec.label, _LABEL_FONT, _LABEL_SIZE)
    )
    page.box(box_x0, y, x1, y + _BOX_HEIGHT)
    pen.write(page.canvas, item.written, box_x0, x1, y + _BOX_HEIGHT - 5, item.spec.name)
    return FieldBoxes(label=label, value=_fraction(box_x0, y, x1, y + _BOX_HEIGHT))


def _draw_below(
    page: _Page, item: FilledField, pen: Pen, x0: float, x1: float, y: float
) -> FieldBoxes:
    assert item.spec.label is not None
    label = _label(page, item.spec.label, x0, y + 9)
    top = y + 14
    page.box(x0, top, x1, top + _BOX_HEIGHT)
    pen.write(page.canvas, item.written, x0, x1, top + _BOX_HEIGHT - 5, item.spec.name)
    return FieldBoxes(label=label, value=_fraction(x0, top, x1, top + _BOX_HEIGHT))


def _draw_checkbox(page: _Page, item: FilledField, pen: Pen, x0: float, y: float) -> FieldBoxes:
    assert item.spec.label is not None
    baseline = y + 15
    label = _label(page, item.spec.label, x0, baseline)
    width = pdfmetrics.stringWidth(item.spec.label, _LABEL_FONT, _LABEL_SIZE)
    bx0 = x0 + width + 12
    top = baseline - 11
    page.box(bx0, top, bx0 + _CHECKBOX, top + _CHECKBOX)
    pen.mark(page.canvas, TickBox(bx0, top, _CHECKBOX, item.spec.name), item.written)
    return FieldBoxes(label=label, value=_fraction(bx0, top, bx0 + _CHECKBOX, top + _CHECKBOX))


def _draw_signature(
    page: _Page, ink: tuple[float, float, float], rng: random.Random, y: float
) -> float:
    """The signature row: a label, a box and a scribble. Returns the row's height."""
    height = 32.0
    page.text(_LEFT, y + 19, "Signature", _LABEL_FONT, _LABEL_SIZE)
    x0, x1 = _VALUE_X, _VALUE_X + 0.36 * PAGE_WIDTH
    page.box(x0, y, x1, y + height)
    canvas = page.canvas
    canvas.setStrokeColorRGB(*ink)
    canvas.setLineWidth(1.1)
    path = canvas.beginPath()
    x = x0 + 12
    base = PAGE_HEIGHT - (y + height * 0.65)
    path.moveTo(x, base)
    for _ in range(rng.randint(3, 6)):
        step = rng.uniform(18, 34)
        path.curveTo(
            x + step * 0.3, base + rng.uniform(4, 13),
            x + step * 0.7, base - rng.uniform(2, 8),
            x + step, base + rng.uniform(-3, 5),
        )  # fmt: skip
        x += step
    canvas.drawPath(path, stroke=1, fill=0)
    return height + 8


def _draw_notes(page: _Page, design: FormDesign, pages: int) -> None:
    page.text(_LEFT, 0.07 * PAGE_HEIGHT, design.notes_title, "Helvetica-Bold", 16)
    y = 0.11 * PAGE_HEIGHT
    for number, note in enumerate(design.notes, start=1):
        lines = simpleSplit(note, _LABEL_FONT, 10, _RIGHT - _LEFT - 18)
        page.text(_LEFT, y, f"{number}.", "Helvetica-Bold", 10)
        for line in lines:
            page.text(_LEFT + 18, y, line, _LABEL_FONT, 10)
            y += 13
        y += 9
    page.text(_RIGHT - 40, PAGE_HEIGHT - 22, f"Page 2 of {pages}", _LABEL_FONT, 7.5, grey=0.3)


def rasterise(pdf: bytes, *, dpi: int = 300, pages: int | None = None) -> list[Image.Image]:
    """Render the pages of a PDF to RGB images (A4 at 300 dpi is 2480 x 3508).

    Args:
        pdf: the PDF's bytes.
        dpi: the resolution.
        pages: render only the first this many pages; all by default.

    Returns:
        One image per page, with its DPI in ``info["dpi"]``.
    """
    document = pdfium.PdfDocument(pdf)
    try:
        images = []
        count = len(document) if pages is None else min(pages, len(document))
        for index in range(count):
            page = document[index]
            width_pt, height_pt = page.get_size()
            image = page.render(scale=dpi / 72).to_pil().convert("RGB")
            # pdfium rounds the bitmap up; crop to the nominal size (A4: 2480 x 3508).
            image = image.crop((0, 0, round(width_pt * dpi / 72), round(height_pt * dpi / 72)))
            image.info["dpi"] = (dpi, dpi)
            images.append(image)
            page.close()
        return images
    finally:
        document.close()

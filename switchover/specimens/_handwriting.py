"""Values filled in by hand: letters drawn one by one from handwriting typefaces.

A typed specimen writes each value as a run of text; a handwritten one draws every
letter as an outline (``_glyphs.py``) with its own baseline, size, slant and spacing, in
blue or black ballpoint whose pressure comes and goes. Text in capitals is written as
block capitals, one letter apart; text with lower-case letters is written joined,
letters close and linked by a stroke. Neighbouring letters may touch but never run into
each other, and a letter of one stroke (I, 1) keeps room on both sides. A comb gets one
capital a cell, centred by eye and now and then touching the cell's wall. Ticks and
crosses are strokes, each its own shape, and some boxes hold a tick taken back (the
applicant changed their mind): scribbled over into a blot, crossed with a few loose
strokes, or struck through with parallel lines. Asked to (``SLIPS``, never by default),
the hand also slips now and then as people do: a letter struck out and written again, a
value run on past its box's wall, a tick put beside its box.

The typefaces are Debian's handwriting fonts (the Makefile installs them); nothing
downloads. Each writer is drawn from ``random.Random(f"handwriting:{seed}")``, so a
seed always gives the same handwriting.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import FILL_NON_ZERO, Canvas

from switchover.specimens._glyphs import Glyph, OutlineFont, curves, outline_font

PAGE_HEIGHT = A4[1]
Ink = tuple[float, float, float]
Box = tuple[float, float, float, float]  # x0, top, x1, bottom in points from the top-left


@dataclass(frozen=True)
class HandFace:
    """A handwriting typeface and the Debian package that brings it."""

    family: str
    path: Path
    package: str
    lower_case: bool = True  # False: its lower-case letters are capitals (Humor Sans)


_BWHT = Path("/usr/share/fonts/opentype/bwht")
HAND_FACES = (
    HandFace("DkgHandwriting", Path("/usr/share/fonts/truetype/fifthhorseman/dkg.ttf"),
             "fonts-dkg-handwriting"),
    HandFace("Breip", Path("/usr/share/fonts/truetype/breip/Breip.ttf"), "fonts-breip"),
    HandFace("Rufscript", Path("/usr/share/fonts/truetype/rufscript/Rufscript010.ttf"),
             "fonts-rufscript"),
    HandFace("HumorSans", Path("/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf"),
             "fonts-humor-sans", lower_case=False),
    HandFace("KleeOne", Path("/usr/share/fonts/truetype/klee/KleeOne-Regular.ttf"),
             "fonts-klee"),
    # Six hands nobody tuned the OCR on (bench/handwriting.py's HELD_OUT_FACES): OpenType
    # with CFF outlines, capitals only (their lower case is more capitals), and no £.
    *(HandFace(f"BecauseWe{name}", _BWHT / f"BecauseWe{name}-Regular.otf", "fonts-bwht",
               lower_case=False)
      for name in ("Build", "Connect", "Create", "Learn", "Mentor", "Organize")),
)  # fmt: skip
"""The handwriting typefaces specimens are written in, when their files are installed."""

UNSEEN_FACES = (
    HandFace("FemkeKlaver", Path("/usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf"),
             "fonts-femkeklaver"),
    HandFace("ComicNeue", Path("/usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf"),
             "fonts-comic-neue"),
    HandFace("CabinSketch", Path("/usr/share/fonts/truetype/cabinsketch/CabinSketch-Regular.ttf"),
             "fonts-cabinsketch"),
    HandFace("TomsonTalks", Path("/usr/share/fonts/truetype/tomsontalks/TomsonTalks.ttf"),
             "fonts-tomsontalks", lower_case=False),
    HandFace("DancingScript",
             Path("/usr/share/fonts/opentype/dancingscript/DancingScript-Regular.otf"),
             "fonts-dancingscript"),
    HandFace("KaushanScript",
             Path("/usr/share/fonts/opentype/kaushanscript/KaushanScript-Regular.otf"),
             "fonts-kaushanscript"),
)  # fmt: skip
"""Hands no rule was ever made on, for checking that the figures hold on styles nobody
tuned on (``bench/handwriting.py --faces unseen``): never drawn by default. Femke Klaver
writes capitals in outline, Tomson Talks small capitals without £ or @ (borrowed from
the default faces), Dancing Script and Kaushan Script are joined script, Comic Neue and
Cabin Sketch a neat hand and a sketchy one."""

SLIPS = ("corrected_letter", "over_the_edge", "tick_beside")
"""Ways of filling a form in that no rule was made on (``bench/handwriting.py --slips``),
never made by default: a letter struck out and written again after it, a value that
runs on past its box's wall, and a tick put beside its box (clear of it, or across its
wall). The truth is what the writer meant: the value without the struck letter, the
whole value, the box ticked."""

# How often a writer with a slip makes it: per value written, or per box ticked; and
# per value that nearly fills its box, for running past its wall.
_SLIP_ODDS = 0.2
_OVERRUN_ODDS = 0.6

_BLUE: tuple[Ink, ...] = ((0.05, 0.10, 0.45), (0.10, 0.15, 0.55), (0.12, 0.22, 0.62))
_BLACK: tuple[Ink, ...] = ((0.08, 0.08, 0.12), (0.02, 0.02, 0.05), (0.15, 0.14, 0.18))
# Characters some faces draw oddly or lack: borrowed from the first face that has them,
# as a person's £ differs from their letters anyway. Humor Sans's pound is a cartoon;
# Because We Mentor's R has a bowl so small that it reads as a K (HILARY as HILAKY) to
# a person as to both engines.
_BORROWED = {"HumorSans": "£", "BecauseWeMentor": "Rr"}
# A capitals-only face whose lower case has a letter in lower-case form (a dotted i, a
# round a) writes that letter with its own capital: the page shows what the truth says.
_CAPITAL_FORMS = {"BecauseWeLearn": "i", "BecauseWeOrganize": "a"}
_BLANK = Glyph((), 0.0, (0.0, 0.0, 0.0, 0.0))


class NoHandwritingFonts(RuntimeError):
    """No handwriting typeface is installed; the message says which packages to install."""


def installed_faces() -> tuple[HandFace, ...]:
    """The handwriting faces whose files this machine has."""
    return tuple(face for face in HAND_FACES if face.path.is_file())


@dataclass(frozen=True)
class TickBox:
    """A tick box: its top-left corner and side (points from the page's top-left), and the
    field (and option, in a row of them) it answers."""

    x: float
    top: float
    side: float
    field_name: str
    option: str | None = None


@dataclass(frozen=True)
class Handwriting:
    """How one applicant writes: typeface, ink and habits.

    Attributes:
        face: the typeface the letters come from.
        ink: the ballpoint's colour (blue or black) at full pressure.
        cap_height: the height of a capital, in points, when the box has room.
        slant: the writer's lean in degrees (positive leans forward).
        tracking: extra room between block capitals, as a fraction of the cap height.
        wobble: how far the baseline wanders, in points.
        pressure: the mean pressure, 0 to 1 (light pressure leaves thinner, paler ink).
        touching: the chance that two neighbouring letters touch.
        joining: the chance that two lower-case letters are joined by a stroke.
        crossing_out: the chance that an unticked box holds a tick taken back.
    """

    face: HandFace
    ink: Ink
    cap_height: float
    slant: float
    tracking: float
    wobble: float
    pressure: float
    touching: float
    joining: float
    crossing_out: float

    @classmethod
    def pick(cls, rng: random.Random, faces: tuple[HandFace, ...] | None = None) -> Handwriting:
        """A random writer, from the installed faces by default.

        Raises:
            NoHandwritingFonts: none of :data:`HAND_FACES` is installed.
        """
        faces = faces if faces is not None else installed_faces()
        if not faces:
            packages = " ".join(face.package for face in HAND_FACES)
            raise NoHandwritingFonts(f"no handwriting fonts; apt-get install {packages}")
        blue = rng.random() < 0.6
        return cls(
            face=rng.choice(faces),
            ink=rng.choice(_BLUE if blue else _BLACK),
            cap_height=rng.uniform(9.0, 11.5),
            slant=rng.uniform(-4.0, 12.0),
            tracking=rng.uniform(0.10, 0.35),
            wobble=rng.uniform(0.4, 1.4),
            pressure=rng.uniform(0.6, 0.95),
            touching=rng.uniform(0.04, 0.18),
            joining=rng.uniform(0.4, 0.9),
            crossing_out=rng.uniform(0.1, 0.3),
        )

    @property
    def ink_name(self) -> str:
        return "blue" if self.ink in _BLUE else "black"


@dataclass
class _Letter:
    """A letter placed on the line: its outline, where, and how it is bent."""

    glyph: Glyph
    scale: float  # points per font unit
    x: float
    baseline: float  # points from the top
    slant: float
    rotation: float
    pressure: float
    _shape: tuple[tuple[float, float], dict[int, tuple[float, float]]] | None = field(
        default=None, repr=False, compare=False
    )

    def transform(self, fx: float, fy: float) -> tuple[float, float]:
        """A point of the outline (font units) on the page (PDF points, origin bottom-left)."""
        shear = fx + fy * math.tan(math.radians(self.slant))
        turn = math.radians(self.rotation)
        x = self.scale * (shear * math.cos(turn) - fy * math.sin(turn))
        y = self.scale * (shear * math.sin(turn) + fy * math.cos(turn))
        return self.x + x, PAGE_HEIGHT - self.baseline + y

    @property
    def stroke(self) -> float:
        """The pen's width round the outline: a heavier hand thickens every stroke."""
        return 0.08 + 0.35 * self.pressure

    @property
    def stem_room(self) -> float:
        """The room this letter needs beside it, in points: some for a single upright
        stroke, none (a touch will do) for any other."""
        x0, y0, x1, y1 = self.glyph.box
        if y1 - y0 <= 0 or x1 - x0 > 0.3 * (y1 - y0):
            return -TOUCH
        return STEM_ROOM * (y1 - y0) * self.scale

    def ink_box(self) -> Box:
        """Where the letter's outline lies, in points from the top-left."""
        points = [
            self.transform(x, y)
            for contour in self.glyph.contours
            for x, y, _ in contour  # control points bound the curves
        ]
        if not points:
            return (self.x, self.baseline, self.x, self.baseline)
        xs, ys = [p[0] for p in points], [PAGE_HEIGHT - p[1] for p in points]
        return (min(xs), min(ys), max(xs), max(ys))

    def rows(self) -> dict[int, tuple[float, float]]:
        """Where the outline lies across each band of the page ``BAND`` points high: its
        leftmost and rightmost point there (edges walked in steps, curves by their
        controls)."""
        if self._shape is None or self._shape[0] != (self.scale, self.baseline):
            self._shape = ((self.scale, self.baseline), self._rows_from(0.0))
        return {band: (lo + self.x, hi + self.x) for band, (lo, hi) in self._shape[1].items()}

    def _rows_from(self, x: float) -> dict[int, tuple[float, float]]:
        """``rows`` for the letter standing at ``x``."""
        edges = []
        for contour in self.glyph.contours:
            points = np.array([(px, py) for px, py, _ in contour], dtype=float)
            following = np.roll(points, -1, axis=0)
            t = np.linspace(0.0, 1.0, _STEPS, endpoint=False)[:, None, None]
            edges.append((points + (following - points) * t).reshape(-1, 2))
        if not edges:
            return {}
        fx, fy = np.concatenate(edges).T
        shear = fx + fy * math.tan(math.radians(self.slant))
        turn = math.radians(self.rotation)
        xs = x + self.scale * (shear * math.cos(turn) - fy * math.sin(turn))
        ys = self.baseline - self.scale * (shear * math.sin(turn) + fy * math.cos(turn))
        bands = np.floor(ys / BAND).astype(int)
        order = np.argsort(bands, kind="stable")
        bands, xs = bands[order], xs[order]
        found, starts = np.unique(bands, return_index=True)
        lows, highs = np.minimum.reduceat(xs, starts), np.maximum.reduceat(xs, starts)
        return {
            int(b): (float(lo), float(hi)) for b, lo, hi in zip(found, lows, highs, strict=True)
        }


BAND = 0.5
"""The height, in points, of the bands in which two letters' outlines are compared."""

_STEPS = 12  # points walked along each edge of an outline

TOUCH = 0.15
"""Points of ink two neighbouring letters may share, strokes included: they touch, and
each stays whole."""

STEM_ROOM = 0.15
"""The least room beside a letter that is one upright stroke (I, l, 1), as a share of its
height: laid against an L, an I is read as part of it, by people too (BILLY as BLLY)."""


def _keep_apart(placed: list[tuple[_Letter | None, str]]) -> None:
    """Move a letter (and those after it) right where its ink runs into the last letter's by
    more than a touch, or touches a stem. The letters were spaced upright; each one's own
    slant and turn can then lay one over the next."""
    push = 0.0
    previous: _Letter | None = None
    for letter, _char in placed:
        if letter is None:
            previous = None
            continue
        letter.x += push
        if previous is not None:
            room = max(previous.stem_room, letter.stem_room, -TOUCH)
            over = room - ink_gap(previous, letter)
            if over > 0:
                letter.x += over
                push += over
        previous = letter


def ink_gap(left: _Letter, right: _Letter) -> float:
    """The room, in points, between two letters' ink where it comes closest at one height
    (negative where it overlaps), strokes included; between their boxes where no height
    holds both."""
    reach = (left.stroke + right.stroke) / 2
    a, b = left.rows(), right.rows()
    shared = a.keys() & b.keys()
    if not shared:
        return right.ink_box()[0] - left.ink_box()[2] - reach
    return min(b[band][0] - a[band][1] for band in shared) - reach


def _shrink_into(placed: list[tuple[_Letter | None, str]], left: float, right: float) -> None:
    """Write smaller, about ``left``, where the ink would run past ``right``."""
    letters = [letter for letter, _char in placed if letter is not None]
    end = max((letter.ink_box()[2] for letter in letters), default=left)
    if end <= right or right <= left:
        return
    shrink = (right - left) / (end - left)
    for letter in letters:
        letter.scale *= shrink
        letter.x = left + (letter.x - left) * shrink


@dataclass
class HandPen:
    """Writes values in one applicant's hand on a reportlab canvas (coordinates from the
    top-left, as the renderers use), and remembers what it drew for the ground truth.

    Attributes:
        hand: the writer.
        rng: where every stroke's variation comes from.
        features: what the writing shows (``block_capitals``, ``joined_lower_case``,
            ``comb``, ``touching``, ``tick``, ``cross``, ``crossed_out``...).
        crossed_out: each box with a tick taken back (scribbled over or struck through):
            its field and option, if any.
    """

    hand: Handwriting
    rng: random.Random
    slips: frozenset[str] = frozenset()
    features: set[str] = field(default_factory=set)
    crossed_out: list[dict[str, str]] = field(default_factory=list)
    slipped: list[dict[str, object]] = field(default_factory=list)

    @classmethod
    def for_seed(
        cls,
        seed: str,
        faces: tuple[HandFace, ...] | None = None,
        slips: frozenset[str] = frozenset(),
    ) -> HandPen:
        """The writer of this seed's form, from ``faces`` (the installed ones by default),
        making ``slips`` (some of :data:`SLIPS`) now and then."""
        unknown = slips - set(SLIPS)
        if unknown:
            raise ValueError(f"unknown slips {sorted(unknown)}; choose from {list(SLIPS)}")
        rng = random.Random(f"handwriting:{seed}")
        return cls(Handwriting.pick(rng, faces), rng, slips)

    @property
    def ink(self) -> Ink:
        return self.hand.ink

    def describe(self) -> dict[str, Any]:
        """What the ground truth says about the handwriting."""
        return {
            "typeface": self.hand.face.family,
            "ink": self.hand.ink_name,
            "features": sorted(self.features | {f"ink_{self.hand.ink_name}"}),
            "crossed_out": list(self.crossed_out),
            "slips": list(self.slipped),
            # The typeface's lower case is capitals: names and text read as capitals.
            "capitals_only": not self.hand.face.lower_case,
        }

    # --- letters ------------------------------------------------------------------------

    def _font(self) -> OutlineFont:
        return outline_font(self.hand.face.path)

    def _glyph(self, char: str) -> tuple[Glyph, OutlineFont] | None:
        """The outline of ``char`` in the writer's face, or borrowed from another face."""
        font = self._font()
        if char in _CAPITAL_FORMS.get(self.hand.face.family, ""):
            char = char.upper()
        if char not in _BORROWED.get(self.hand.face.family, "") and font.has(char):
            glyph = font.glyph(char)
            return None if glyph is None else (glyph, font)
        for face in installed_faces():
            other = outline_font(face.path)
            glyph = other.glyph(char) if face != self.hand.face and other.has(char) else None
            if glyph is not None:
                return glyph, other
        return None

    def _cap_units(self, font: OutlineFont) -> float:
        capital = font.glyph("H")
        return capital.box[3] if capital is not None and capital.box[3] > 0 else font.units_per_em

    def _pressure(self, previous: float) -> float:
        """Pressure drifts from letter to letter around the writer's mean."""
        drift = previous + self.rng.gauss(0, 0.06) + 0.3 * (self.hand.pressure - previous)
        return min(1.0, max(0.35, drift))

    def _draw(self, canvas: Canvas, letter: _Letter) -> None:
        p = letter.pressure
        ink = tuple(1 - (1 - c) * (0.55 + 0.45 * p) for c in self.hand.ink)
        canvas.setFillColorRGB(*ink)
        canvas.setStrokeColorRGB(*ink)
        canvas.setLineWidth(letter.stroke)
        canvas.setLineJoin(1)
        path = canvas.beginPath()
        for origin, segments in curves(letter.glyph):
            path.moveTo(*letter.transform(*origin))
            current = origin
            for c1, c2, end in segments:
                if (c1, c2) == (current, end):
                    path.lineTo(*letter.transform(*end))
                else:
                    path.curveTo(
                        *letter.transform(*c1), *letter.transform(*c2), *letter.transform(*end)
                    )
                current = end
            path.close()
        canvas.drawPath(path, stroke=1, fill=1, fillMode=FILL_NON_ZERO)

    def write(
        self, canvas: Canvas, text: str, x0: float, x1: float, baseline: float, name: str = ""
    ) -> None:
        """Write ``text`` in a box from ``x0`` to ``x1`` on ``baseline`` (points from the top),
        smaller when it would not fit: block capitals, or joined when it has lower case.
        ``name`` is the field's, for the record of the writer's slips."""
        if not text.strip():
            return
        joined = any(c.islower() for c in text) and self.hand.face.lower_case
        self.features.add("joined_lower_case" if joined else "block_capitals")
        struck = self._slip("corrected_letter") and _wrong_letter_at(text, self.rng)
        if struck:
            index, wrong = struck
            text = text[:index] + wrong + text[index:]
        letters, width = self._line(text, joined)
        left = x0 + self.rng.uniform(3.0, 8.0)
        fit = min(1.0, (x1 - left - 3) / width) if width > 0 else 1.0
        # A value that nearly fills its box may be written a size larger and not squeezed
        # in at the end: its last letters pass the wall.
        overrun = width > 0.6 * (x1 - left) and self._slip("over_the_edge", _OVERRUN_ODDS)
        if overrun:
            fit = min(1.3, (x1 - left + self.hand.cap_height * self.rng.uniform(1.0, 3.0)) / width)
        placed = self._place(letters, left, fit, baseline)
        _keep_apart(placed)
        if not overrun:
            _shrink_into(placed, left, x1 - 1.5)
            _keep_apart(placed)  # the pen's width does not shrink with the letters
        elif max(letter.ink_box()[2] for letter, _ in placed if letter is not None) > x1 + 1.0:
            self._slipped("over_the_edge", name)
        if struck:
            letter = placed[struck[0]][0]
            assert letter is not None  # the wrong letter is never a space
            where = self._strike_letter(canvas, letter)
            self._slipped("corrected_letter", name, where=where)
        previous: tuple[_Letter, str] | None = None
        for letter, char in placed:
            if letter is None:
                previous = None
                continue
            self._draw(canvas, letter)
            if joined and previous is not None and previous[1].islower() and char.islower():
                self._join(canvas, previous[0], letter)
            previous = (letter, char)

    def _slip(self, slip: str, odds: float = _SLIP_ODDS) -> bool:
        """Whether the writer makes ``slip`` this time (never, unless it is theirs)."""
        return slip in self.slips and self.rng.random() < odds

    def _slipped(
        self, slip: str, field_name: str, option: str | None = None, where: Box | None = None
    ) -> None:
        """Record ``slip`` in the truth: the field, the option for a tick, and for a struck
        letter ``where`` the strike lies (points from the page's top-left)."""
        self.features.add(slip)
        entry: dict[str, object] = {"slip": slip, "field": field_name}
        if option:
            entry["option"] = option
        if where is not None:
            entry["box"] = [round(v, 1) for v in where]
        self.slipped.append(entry)

    def _strike_letter(self, canvas: Canvas, letter: _Letter) -> Box:
        """A letter taken back, plainly enough for a reader to see: scribbled into a blot,
        or struck through once or twice, level or sloping a little, by a stroke about a
        letter and a half long that runs well past it on both sides (one that ended at the
        letter's edges could pass for a bar of its own, an E's or an H's). Returns the box
        the strike and the letter cover, in points from the top-left."""
        x0, top, x1, bottom = letter.ink_box()
        r = self.rng
        height = bottom - top
        if r.random() < 0.3:
            # Over the letter and a little past it, not over its neighbours.
            width = max(x1 - x0, 0.5 * height)
            left = (x0 + x1 - 1.2 * width) / 2
            self._scribble(canvas, left, top, 1.2 * width, r.randint(5, 7), height)
            return (left, top, left + 1.2 * width, bottom)
        centre = (x0 + x1) / 2
        half = max(x1 - x0, 0.7 * height) / 2 * r.uniform(1.35, 1.8)
        slope = math.tan(math.radians(r.uniform(-15, 15)))
        reach = (min(x0, centre - half), top, max(x1, centre + half), bottom)
        for line in range(r.choice((1, 1, 2))):
            middle = top + height * (0.5 + 0.125 * line)
            middle += r.gauss(0, 0.06 * height)
            start = (centre - half + r.gauss(0, 0.05 * half), middle + slope * half)
            end = (centre + half + r.gauss(0, 0.05 * half), middle - slope * half)
            self._stroke(canvas, [start, end], r.uniform(0.8, 1.3))
        return reach

    def _place(
        self,
        letters: list[tuple[float, float, Glyph, str]],
        left: float,
        fit: float,
        baseline: float,
    ) -> list[tuple[_Letter | None, str]]:
        """Each letter where the hand puts it, with its own baseline, slant and pressure
        (``None`` for a space)."""
        drift = 0.0
        pressure = self.hand.pressure
        placed: list[tuple[_Letter | None, str]] = []
        for glyph_scale, offset, glyph, char in letters:
            if char == " ":
                placed.append((None, char))
                continue
            drift = max(-self.hand.wobble, min(self.hand.wobble, drift + self.rng.gauss(0, 0.35)))
            pressure = self._pressure(pressure)
            letter = _Letter(
                glyph=glyph,
                scale=glyph_scale * fit,
                x=left + offset * fit,
                baseline=baseline + drift + self.rng.gauss(0, 0.25),
                slant=self.hand.slant + self.rng.gauss(0, 2.5),
                rotation=self.rng.gauss(0, 2.0),
                pressure=pressure,
            )
            placed.append((letter, char))
        return placed

    def _line(self, text: str, joined: bool) -> tuple[list[tuple[float, float, Glyph, str]], float]:
        """Each letter's scale and offset from the start, and the line's width, before the
        line is fitted to its box."""
        cap = self.hand.cap_height * self.rng.uniform(0.93, 1.07)
        out: list[tuple[float, float, Glyph, str]] = []
        x = end = 0.0
        previous: tuple[Glyph, float, float] | None = None  # outline, scale, offset
        for char in text:
            found = self._glyph(char) if char != " " else None
            if found is None:
                x += cap * self.rng.uniform(0.45, 0.75)
                previous = None
                out.append((0.0, x, _BLANK, " "))
                continue
            glyph, owner = found
            scale = cap / self._cap_units(owner) * self.rng.uniform(0.92, 1.08)
            if previous is not None and self.rng.random() < self.hand.touching:
                # This letter starts where the last one's ink ends: they touch.
                last, last_scale, last_x = previous
                x = last_x + last.box[2] * last_scale - glyph.box[0] * scale - 0.3
                self.features.add("touching")
            out.append((scale, x, glyph, char))
            end = x + glyph.box[2] * scale
            gap = cap * (self.rng.uniform(-0.04, 0.04) if joined else self.hand.tracking)
            previous = (glyph, scale, x)
            x += glyph.advance * scale + gap * self.rng.uniform(0.6, 1.4)
        return out, end

    def _join(self, canvas: Canvas, left: _Letter, right: _Letter) -> None:
        """The link a joined hand draws from one letter's foot to the next letter's start."""
        if self.rng.random() > self.hand.joining:
            return
        a, b = left.ink_box(), right.ink_box()
        if b[0] - a[2] > 4.0:  # too far apart to be joined
            return
        height = right.glyph.box[3] * right.scale
        x0, y0 = a[2] - 0.4, PAGE_HEIGHT - left.baseline + 0.6
        x1, y1 = b[0] + 0.4, PAGE_HEIGHT - right.baseline + min(height * 0.45, 3.0)
        canvas.setLineWidth(0.35 + 0.35 * right.pressure)
        canvas.setLineCap(1)
        path = canvas.beginPath()
        path.moveTo(x0, y0)
        path.curveTo(x0 + 0.5, y0 - 0.4, x1 - 0.8, y0, x1, y1)
        canvas.drawPath(path, stroke=1, fill=0)

    # --- combs --------------------------------------------------------------------------

    def comb(
        self, canvas: Canvas, cells: list[tuple[float, str]], cell: float, top: float, bottom: float
    ) -> list[Box]:
        """One capital a cell, centred by eye; returns where each letter's ink lies.

        Now and then a letter touches the cell's wall; it never crosses it.
        """
        boxes: list[Box] = []
        pressure = self.hand.pressure
        cap = min(self.hand.cap_height, (bottom - top) * 0.6, cell * 0.75)
        for x, char in cells:
            found = self._glyph(char) if char.strip() else None
            if found is None:
                continue
            self.features.add("comb")
            glyph, owner = found
            pressure = self._pressure(pressure)
            letter = _Letter(
                glyph=glyph,
                scale=cap / self._cap_units(owner) * self.rng.uniform(0.9, 1.08),
                x=0.0,
                baseline=bottom - (bottom - top - cap) / 2 + self.rng.gauss(0, 0.6),
                slant=self.hand.slant * 0.5 + self.rng.gauss(0, 2.0),
                rotation=self.rng.gauss(0, 2.5),
                pressure=pressure,
            )
            boxes.append(self._into_cell(letter, x, x + cell, top, bottom))
            self._draw(canvas, letter)
        return boxes

    def _into_cell(self, letter: _Letter, x0: float, x1: float, top: float, bottom: float) -> Box:
        """Place the letter in the cell: centred give or take, at times against a wall."""
        ink = letter.ink_box()
        inside = (x1 - x0) - 0.8
        if ink[2] - ink[0] > inside:  # too wide for the cell: written narrower
            letter.scale *= inside / (ink[2] - ink[0])
            ink = letter.ink_box()
        width = ink[2] - ink[0]
        wall = self.rng.random()
        if wall < self.hand.touching:
            self.features.add("touching_wall")
            target = x0 + 0.4 if wall < self.hand.touching / 2 else x1 - 0.4 - width
        else:
            slack = (inside - width) / 2
            target = x0 + 0.4 + slack + max(-slack, min(slack, self.rng.gauss(0, slack * 0.4)))
        letter.x += target - ink[0]
        ink = letter.ink_box()
        lift = max(0.0, ink[3] - (bottom - 0.4)) - max(0.0, (top + 0.4) - ink[1])
        letter.baseline -= lift
        return letter.ink_box()

    # --- tick boxes ---------------------------------------------------------------------

    def mark(self, canvas: Canvas, box: TickBox, mark: str) -> None:
        """A box's mark: ``X`` a cross, anything else a tick, "" none (or, now and then, a
        tick taken back, which the ground truth records as crossed out)."""
        x, top, side = box.x, box.top, box.side
        if mark:
            if self._slip("tick_beside"):  # clear of the box to its right, or across its wall
                x += side * self.rng.choice(
                    (self.rng.uniform(1.2, 1.6), self.rng.uniform(0.5, 0.8))
                )
                top += side * self.rng.gauss(0, 0.15)
                self._slipped("tick_beside", box.field_name, box.option)
            self._cross(canvas, x, top, side) if mark == "X" else self._tick(canvas, x, top, side)
            self.features.add("cross" if mark == "X" else "tick")
        elif self._crosses_out(box.field_name, box.option):
            self._tick(canvas, x, top, side)
            self._cross_out(canvas, x, top, side)
            self.features.add("crossed_out")
            self.crossed_out.append(
                {"field": box.field_name} | ({"option": box.option} if box.option else {})
            )

    def _crosses_out(self, field_name: str, option: str | None) -> bool:
        """Whether an empty box gets a tick taken back: at most one box a field, and
        less often among a row's options (a row has several empty boxes)."""
        if any(entry["field"] == field_name for entry in self.crossed_out):
            return False
        chance = self.hand.crossing_out * (0.35 if option is not None else 1.0)
        return self.rng.random() < chance

    def _stroke(self, canvas: Canvas, points: list[tuple[float, float]], width: float) -> None:
        pressure = self._pressure(self.hand.pressure)
        ink = tuple(1 - (1 - c) * (0.6 + 0.4 * pressure) for c in self.hand.ink)
        canvas.setStrokeColorRGB(*ink)
        canvas.setLineWidth(width * (0.7 + 0.5 * pressure))
        canvas.setLineCap(1)
        canvas.setLineJoin(1)
        path = canvas.beginPath()
        path.moveTo(points[0][0], PAGE_HEIGHT - points[0][1])
        for (ax, ay), (bx, by) in itertools.pairwise(points):
            # A slight bow in each stroke: the midpoint pushed sideways.
            bow = self.rng.gauss(0, 0.06) * math.hypot(bx - ax, by - ay)
            mx, my = (ax + bx) / 2 - bow * (by - ay) / 10, (ay + by) / 2 + bow * (bx - ax) / 10
            path.curveTo(mx, PAGE_HEIGHT - my, mx, PAGE_HEIGHT - my, bx, PAGE_HEIGHT - by)
        canvas.drawPath(path, stroke=1, fill=0)

    def _tick(self, canvas: Canvas, x: float, top: float, side: float) -> None:
        r = self.rng
        start = (x + side * r.uniform(0.1, 0.3), top + side * r.uniform(0.4, 0.6))
        foot = (x + side * r.uniform(0.35, 0.5), top + side * r.uniform(0.8, 0.95))
        reach = side * r.uniform(0.8, 1.3)  # a long arm may overshoot the box
        angle = math.radians(r.uniform(45, 72))
        end = (foot[0] + reach * math.cos(angle), foot[1] - reach * math.sin(angle))
        self._stroke(canvas, [start, foot, end], r.uniform(0.9, 1.5))

    def _cross(self, canvas: Canvas, x: float, top: float, side: float) -> None:
        r = self.rng
        for a, b in (((0.1, 0.1), (0.9, 0.9)), ((0.9, 0.1), (0.1, 0.9))):
            start = (x + side * (a[0] + r.gauss(0, 0.07)), top + side * (a[1] + r.gauss(0, 0.07)))
            end = (x + side * (b[0] + r.gauss(0, 0.07)), top + side * (b[1] + r.gauss(0, 0.07)))
            self._stroke(canvas, [start, end], r.uniform(0.9, 1.4))

    def _cross_out(self, canvas: Canvas, x: float, top: float, side: float) -> None:
        """Ink over a tick to take it back: scribbled over until the box is a blot, a few
        loose strokes back and forth that leave the tick to be seen, or struck through
        with parallel lines."""
        style = self.rng.random()
        if style < 0.45:
            self._scribble(canvas, x, top, side, self.rng.randint(5, 8))
        elif style < 0.75:
            self._scribble(canvas, x, top, side, self.rng.randint(4, 5))
        else:
            self._strike(canvas, x, top, side)

    def _scribble(
        self,
        canvas: Canvas,
        x: float,
        top: float,
        side: float,
        rows: int,
        height: float | None = None,
    ) -> None:
        """Back and forth over the box (``side`` wide, and as high unless ``height``),
        ``rows`` turns from top to bottom."""
        r = self.rng
        points = []
        for i in range(rows):
            y = top + (height or side) * (0.08 + 0.84 * i / (rows - 1)) + r.gauss(0, 0.5)
            points.append(
                (x + side * (r.uniform(-0.1, 0.12) if i % 2 else r.uniform(0.88, 1.1)), y)
            )
        self._stroke(canvas, points, r.uniform(1.0, 1.6))

    def _strike(self, canvas: Canvas, x: float, top: float, side: float) -> None:
        """Two or three parallel strokes through the box, level or sloping either way."""
        r = self.rng
        lines = r.randint(2, 3)
        slope = math.tan(math.radians(r.uniform(-35, 35)))
        for i in range(lines):
            middle = top + side * (0.25 + 0.5 * i / (lines - 1)) + r.gauss(0, 0.04 * side)
            reach = side * r.uniform(0.55, 0.7)
            centre = x + side / 2 + r.gauss(0, 0.05 * side)
            start = (centre - reach, middle + slope * reach)
            end = (centre + reach, middle - slope * reach)
            self._stroke(canvas, [start, end], r.uniform(0.9, 1.4))


def _wrong_letter_at(text: str, rng: random.Random) -> tuple[int, str] | None:
    """Where a writer puts a wrong letter before the right one, and which: the letter
    after it, written too soon, or a neighbour of the right one on the keyboard of the
    mind (another letter, another figure). None for a value with too few letters."""
    places = [i for i, c in enumerate(text) if c.isalnum()]
    if len(places) < 3:
        return None
    index = rng.choice(places[1:])
    right = text[index]
    ahead = text[index + 1] if index + 1 < len(text) else ""
    if ahead.isalnum() and ahead != right and ahead.isdigit() == right.isdigit():
        return index, ahead
    pool = "0123456789" if right.isdigit() else "ABCDEFGHJKLMNPRSTUVWY"
    wrong = rng.choice([c for c in pool if c != right.upper()])
    return index, wrong.lower() if right.islower() else wrong

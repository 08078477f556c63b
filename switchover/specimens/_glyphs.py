"""Glyph outlines read from a TrueType file, for drawing letters as ink rather than text.

A handwritten value is not text on the page: a scan of a form filled in by hand has
no text layer under the writing. Drawing each letter as a filled outline keeps the
values out of the PDF's text layer and lets every letter be bent its own way (size,
slant, rotation). reportlab reads the font's tables; this module decodes the
``glyf`` outlines (quadratic contours, and composite glyphs built from others).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reportlab.pdfbase.ttfonts import TTFontFile

Point = tuple[float, float]


@dataclass(frozen=True)
class Glyph:
    """One letter's outline in font units: closed contours of (x, y, on-curve) points.

    Attributes:
        contours: each contour's points, off-curve points being quadratic controls.
        advance: how far the pen moves after the letter.
        box: the ink's extent (x_min, y_min, x_max, y_max).
    """

    contours: tuple[tuple[tuple[float, float, bool], ...], ...]
    advance: float
    box: tuple[float, float, float, float]


class OutlineFont:
    """A TrueType font's outlines by character (only ``glyf`` fonts; not CFF OpenType)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = TTFontFile(str(path))
        self.units_per_em = float(self._file.unitsPerEm)
        self._glyf = self._file.get_table("glyf")
        self._cache: dict[int, Glyph] = {}

    def has(self, char: str) -> bool:
        return ord(char) in self._file.charToGlyph

    def glyph(self, char: str) -> Glyph | None:
        """The outline of ``char``, or None when the font has no such character."""
        index = self._file.charToGlyph.get(ord(char))
        return None if index is None else self._by_index(index)

    def _by_index(self, index: int) -> Glyph:
        if index not in self._cache:
            contours = self._contours(index, depth=0)
            points = [(x, y) for contour in contours for x, y, _ in contour]
            box = (
                (min(x for x, _ in points), min(y for _, y in points),
                 max(x for x, _ in points), max(y for _, y in points))
                if points else (0.0, 0.0, 0.0, 0.0)
            )  # fmt: skip
            advance = float(self._file.hmetrics[min(index, len(self._file.hmetrics) - 1)][0])
            self._cache[index] = Glyph(tuple(contours), advance, box)
        return self._cache[index]

    def _contours(self, index: int, depth: int) -> list[tuple[tuple[float, float, bool], ...]]:
        start, end = self._file.glyphPos[index], self._file.glyphPos[index + 1]
        if end <= start or depth > 8:
            return []  # an empty glyph (a space), or a composite loop in a broken font
        data = self._glyf[start:end]
        count = struct.unpack(">h", data[:2])[0]
        if count >= 0:
            return _simple(data, count)
        return self._composite(data, depth)

    def _composite(self, data: bytes, depth: int) -> list[tuple[tuple[float, float, bool], ...]]:
        contours: list[tuple[tuple[float, float, bool], ...]] = []
        pos, more = 10, True
        while more:
            flags, component = struct.unpack(">HH", data[pos : pos + 4])
            pos += 4
            if flags & 0x0001:  # arguments are words
                dx, dy = struct.unpack(">hh", data[pos : pos + 4])
                pos += 4
            else:
                dx, dy = struct.unpack(">bb", data[pos : pos + 2])
                pos += 2
            if not flags & 0x0002:  # point matching, which handwriting fonts do not use
                dx = dy = 0
            xx, xy, yx, yy = 1.0, 0.0, 0.0, 1.0
            if flags & 0x0008:
                xx = yy = _f2dot14(data, pos)
                pos += 2
            elif flags & 0x0040:
                xx, yy = _f2dot14(data, pos), _f2dot14(data, pos + 2)
                pos += 4
            elif flags & 0x0080:
                xx, xy = _f2dot14(data, pos), _f2dot14(data, pos + 2)
                yx, yy = _f2dot14(data, pos + 4), _f2dot14(data, pos + 6)
                pos += 8
            for contour in self._contours(component, depth + 1):
                contours.append(
                    tuple((x * xx + y * yx + dx, x * xy + y * yy + dy, on) for x, y, on in contour)
                )
            more = bool(flags & 0x0020)
        return contours


def _f2dot14(data: bytes, pos: int) -> float:
    return float(struct.unpack(">h", data[pos : pos + 2])[0]) / 16384.0


def _simple(data: bytes, count: int) -> list[tuple[tuple[float, float, bool], ...]]:
    """Decode a simple glyph: contour ends, flags (with repeats), then packed x and y deltas."""
    ends = struct.unpack(f">{count}H", data[10 : 10 + 2 * count])
    if not ends:
        return []
    pos = 10 + 2 * count
    pos += 2 + struct.unpack(">H", data[pos : pos + 2])[0]  # skip the hinting instructions
    total = ends[-1] + 1
    flags: list[int] = []
    while len(flags) < total:
        flag = data[pos]
        pos += 1
        flags.append(flag)
        if flag & 0x08:
            flags.extend([flag] * data[pos])
            pos += 1
    xs, pos = _coordinates(data, pos, flags, short=0x02, same=0x10)
    ys, pos = _coordinates(data, pos, flags, short=0x04, same=0x20)
    points = [(float(x), float(y), bool(f & 0x01)) for x, y, f in zip(xs, ys, flags, strict=False)]
    contours, first = [], 0
    for end in ends:
        contours.append(tuple(points[first : end + 1]))
        first = end + 1
    return contours


def _coordinates(
    data: bytes, pos: int, flags: list[int], *, short: int, same: int
) -> tuple[list[int], int]:
    values, value = [], 0
    for flag in flags:
        if flag & short:
            delta = data[pos]
            pos += 1
            value += delta if flag & same else -delta
        elif not flag & same:
            value += struct.unpack(">h", data[pos : pos + 2])[0]
            pos += 2
        values.append(value)
    return values, pos


def quadratic_segments(
    contour: tuple[tuple[float, float, bool], ...],
) -> tuple[Point, list[tuple[Point, Point]]]:
    """A contour as a start point and quadratic segments (control, end); a straight line's
    control is its start. Two off-curve points in a row imply an on-curve point between."""
    points = list(contour)
    if not points[0][2]:
        last = points[-1]
        start = (
            (last[0], last[1], True)
            if last[2]
            else ((last[0] + points[0][0]) / 2, (last[1] + points[0][1]) / 2, True)
        )
        points = [start, *points] if not last[2] else [last, *points[:-1]]
    origin = (points[0][0], points[0][1])
    segments: list[tuple[Point, Point]] = []
    current = origin
    control: Point | None = None
    for x, y, on in [*points[1:], points[0]]:
        if on:
            segments.append((control or current, (x, y)))
            current, control = (x, y), None
        elif control is None:
            control = (x, y)
        else:
            middle = ((control[0] + x) / 2, (control[1] + y) / 2)
            segments.append((control, middle))
            current, control = middle, (x, y)
    return origin, segments


@cache
def outline_font(path: Path) -> OutlineFont:
    """The font at ``path``, read once per process."""
    return OutlineFont(path)

"""Glyph outlines read from a font file, for drawing letters as ink rather than text.

A handwritten value is not text on the page: a scan of a form filled in by hand has
no text layer under the writing. Drawing each letter as a filled outline keeps the
values out of the PDF's text layer and lets every letter be bent its own way (size,
slant, rotation). Two kinds of font file are read: TrueType, whose tables reportlab
reads and whose ``glyf`` outlines (quadratic contours, and composite glyphs built from
others) this module decodes; and OpenType with PostScript outlines (cubic contours in a
``CFF `` table, ``_cff.py``), whose few tables this module reads itself, as reportlab
refuses such files.
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reportlab.pdfbase.ttfonts import TTFontFile

from switchover.specimens._cff import CffOutlines, UnreadableFont

Point = tuple[float, float]
Contour = tuple[tuple[float, float, bool], ...]
Cubic = tuple[Point, Point, Point]  # a cubic segment: first control, second control, end


@dataclass(frozen=True)
class Glyph:
    """One letter's outline in font units: closed contours of (x, y, on-curve) points.

    Attributes:
        contours: each contour's points; off-curve points are quadratic controls, or with
            ``cubic`` pairs of cubic controls.
        advance: how far the pen moves after the letter.
        box: the ink's extent (x_min, y_min, x_max, y_max).
        cubic: whether the curves are cubic (PostScript outlines) rather than quadratic.
    """

    contours: tuple[Contour, ...]
    advance: float
    box: tuple[float, float, float, float]
    cubic: bool = False


class OutlineFont(ABC):
    """A font's outlines by character; :func:`outline_font` picks the reader a file needs.

    Attributes:
        path: the font file.
        units_per_em: the font units in an em.
    """

    cubic = False

    def __init__(self, path: Path, units_per_em: float) -> None:
        self.path = path
        self.units_per_em = units_per_em
        self._cache: dict[int, Glyph] = {}

    def has(self, char: str) -> bool:
        return self._index(char) is not None

    def glyph(self, char: str) -> Glyph | None:
        """The outline of ``char``, or None when the font has no such character."""
        index = self._index(char)
        return None if index is None else self._by_index(index)

    def _by_index(self, index: int) -> Glyph:
        if index not in self._cache:
            contours = self._outline(index)
            points = [(x, y) for contour in contours for x, y, _ in contour]
            box = (
                (min(x for x, _ in points), min(y for _, y in points),
                 max(x for x, _ in points), max(y for _, y in points))
                if points else (0.0, 0.0, 0.0, 0.0)
            )  # fmt: skip
            self._cache[index] = Glyph(tuple(contours), self._advance(index), box, self.cubic)
        return self._cache[index]

    @abstractmethod
    def _index(self, char: str) -> int | None:
        """The glyph index of ``char``, or None."""

    @abstractmethod
    def _outline(self, index: int) -> list[Contour]:
        """The contours of glyph ``index``."""

    @abstractmethod
    def _advance(self, index: int) -> float:
        """The advance width of glyph ``index``."""


class TrueTypeFont(OutlineFont):
    """A TrueType font: reportlab reads its tables, the ``glyf`` outlines are decoded here."""

    def __init__(self, path: Path) -> None:
        self._file = TTFontFile(str(path))
        super().__init__(path, float(self._file.unitsPerEm))
        self._glyf = self._file.get_table("glyf")

    def _index(self, char: str) -> int | None:
        return self._file.charToGlyph.get(ord(char))

    def _advance(self, index: int) -> float:
        return float(self._file.hmetrics[min(index, len(self._file.hmetrics) - 1)][0])

    def _outline(self, index: int) -> list[Contour]:
        return self._contours(index, depth=0)

    def _contours(self, index: int, depth: int) -> list[Contour]:
        start, end = self._file.glyphPos[index], self._file.glyphPos[index + 1]
        if end <= start or depth > 8:
            return []  # an empty glyph (a space), or a composite loop in a broken font
        data = self._glyf[start:end]
        count = struct.unpack(">h", data[:2])[0]
        if count >= 0:
            return _simple(data, count)
        return self._composite(data, depth)

    def _composite(self, data: bytes, depth: int) -> list[Contour]:
        contours: list[Contour] = []
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


def _simple(data: bytes, count: int) -> list[Contour]:
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


class CffFont(OutlineFont):
    """An OpenType font with PostScript outlines (a ``CFF `` table), which reportlab does not
    read: its table directory, ``head``, ``hhea``, ``hmtx`` and ``cmap`` are read here.

    Raises:
        UnreadableFont: the outlines or the character map are in a form not read here.
    """

    cubic = True

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()
        (count,) = struct.unpack(">H", data[4:6])
        tables = {}
        for record in range(12, 12 + 16 * count, 16):
            tag, _, offset, length = struct.unpack(">4sLLL", data[record : record + 16])
            tables[tag.decode("latin-1")] = data[offset : offset + length]
        missing = {"head", "hhea", "hmtx", "cmap", "CFF "} - set(tables)
        if missing:  # a CFF2 (variable) font among them
            raise UnreadableFont(f"{path.name} has no {', '.join(sorted(missing))} table")
        super().__init__(path, float(struct.unpack(">H", tables["head"][18:20])[0]))
        self._outlines = CffOutlines(tables["CFF "])
        (metrics,) = struct.unpack(">H", tables["hhea"][34:36])
        self._advances = struct.unpack(f">{metrics * 2}H", tables["hmtx"][: metrics * 4])[::2]
        self._char_to_glyph = _character_map(tables["cmap"])

    def _index(self, char: str) -> int | None:
        index = self._char_to_glyph.get(ord(char))
        return index if index is not None and index < len(self._outlines) else None

    def _advance(self, index: int) -> float:
        return float(self._advances[min(index, len(self._advances) - 1)])

    def _outline(self, index: int) -> list[Contour]:
        return self._outlines.contours(index)


def _character_map(cmap: bytes) -> dict[int, int]:
    """Unicode code points to glyph indexes, from the ``cmap`` table's Unicode subtable
    (format 12, else format 4)."""
    (count,) = struct.unpack(">H", cmap[2:4])
    found: dict[int, int] = {}  # subtable format: offset
    for record in range(4, 4 + 8 * count, 8):
        platform, encoding, offset = struct.unpack(">HHL", cmap[record : record + 8])
        unicode = platform == 0 or (platform == 3 and encoding in (1, 10))
        (kind,) = struct.unpack(">H", cmap[offset : offset + 2])
        if unicode and kind in (4, 12):
            found.setdefault(kind, offset)
    if 12 in found:
        return _format_12(cmap, found[12])
    if 4 in found:
        return _format_4(cmap, found[4])
    raise UnreadableFont("no Unicode character map of format 4 or 12")


def _format_4(cmap: bytes, offset: int) -> dict[int, int]:
    """Segments of code points, each mapped by a delta or through an array of indexes."""
    (double,) = struct.unpack(">H", cmap[offset + 6 : offset + 8])  # twice the segments
    count = double // 2
    ends = struct.unpack(f">{count}H", cmap[offset + 14 : offset + 14 + double])
    starts_at = offset + 16 + double
    starts = struct.unpack(f">{count}H", cmap[starts_at : starts_at + double])
    deltas = struct.unpack(f">{count}H", cmap[starts_at + double : starts_at + 2 * double])
    ranges_at = starts_at + 2 * double
    ranges = struct.unpack(f">{count}H", cmap[ranges_at : ranges_at + double])
    out: dict[int, int] = {}
    segments = zip(starts, ends, deltas, ranges, strict=True)
    for i, (start, end, delta, through) in enumerate(segments):
        for code in range(start, min(end, 0xFFFE) + 1):
            if through:  # the offset counts from this segment's own idRangeOffset entry
                at = ranges_at + 2 * i + through + 2 * (code - start)
                (index,) = struct.unpack(">H", cmap[at : at + 2])
                index = (index + delta) & 0xFFFF if index else 0
            else:
                index = (code + delta) & 0xFFFF
            if index:
                out[code] = index
    return out


def _format_12(cmap: bytes, offset: int) -> dict[int, int]:
    """Groups of consecutive code points mapped to consecutive glyphs."""
    (groups,) = struct.unpack(">L", cmap[offset + 12 : offset + 16])
    out: dict[int, int] = {}
    for group in range(offset + 16, offset + 16 + 12 * groups, 12):
        start, end, first = struct.unpack(">LLL", cmap[group : group + 12])
        out.update((code, first + code - start) for code in range(start, end + 1))
    return out


def quadratic_segments(
    contour: Contour,
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


def cubic_segments(contour: Contour) -> tuple[Point, list[Cubic]]:
    """A cubic contour (``Glyph.cubic``) as a start point and segments (first control,
    second control, end); a straight line's controls are its start and its end."""
    origin = (contour[0][0], contour[0][1])
    segments: list[Cubic] = []
    current = origin
    controls: list[Point] = []
    for x, y, on in [*contour[1:], contour[0]]:
        if not on:
            controls.append((x, y))
            continue
        first, second = controls if len(controls) == 2 else (current, (x, y))
        segments.append((first, second, (x, y)))
        current, controls = (x, y), []
    return origin, segments


def curves(glyph: Glyph) -> list[tuple[Point, list[Cubic]]]:
    """Each contour of ``glyph`` as a start point and cubic segments, as a PDF path draws
    them (see :func:`cubic_segments`). A quadratic curve becomes the cubic one it is: each
    control two thirds of the way from an end to the quadratic control."""
    if glyph.cubic:
        return [cubic_segments(contour) for contour in glyph.contours]
    out = []
    for contour in glyph.contours:
        origin, quadratics = quadratic_segments(contour)
        segments: list[Cubic] = []
        current = origin
        for control, end in quadratics:
            if control == current:
                segments.append((current, end, end))
            else:
                c1 = (current[0] + 2 / 3 * (control[0] - current[0]),
                      current[1] + 2 / 3 * (control[1] - current[1]))  # fmt: skip
                c2 = (end[0] + 2 / 3 * (control[0] - end[0]),
                      end[1] + 2 / 3 * (control[1] - end[1]))  # fmt: skip
                segments.append((c1, c2, end))
            current = end
        out.append((origin, segments))
    return out


@cache
def outline_font(path: Path) -> OutlineFont:
    """The font at ``path``, read once per process: OpenType with CFF outlines (its file
    starts ``OTTO``) or TrueType."""
    with path.open("rb") as file:
        cff = file.read(4) == b"OTTO"
    return CffFont(path) if cff else TrueTypeFont(path)

"""Glyph outlines from a ``CFF `` table: the PostScript outlines of an OpenType font.

reportlab reads only TrueType (``glyf``) outlines, and some handwriting faces (Debian's
fonts-bwht) are OpenType with CFF outlines. This reads the little the drawing needs: the
table's INDEXes, the Top and Private DICTs, and each glyph's Type 2 charstring, run to
cubic contours. Hints are skipped (the letters are drawn large and bent anyway); CID-keyed
fonts, CFF2 and ``seac`` accents are refused, as no face we use has them.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field

Contour = tuple[tuple[float, float, bool], ...]
"""(x, y, on-curve) points; off-curve points come in pairs, a cubic curve's controls."""

_CHARSTRINGS, _PRIVATE, _SUBRS = 17, 18, 19
_CHARSTRING_TYPE, _ROS = 1206, 1230  # two-byte operators (12 n) as 1200 + n
_NESTING = 10  # the Type 2 limit on nested subroutine calls


class UnreadableFont(ValueError):
    """A font file is broken, or uses something these readers do not read."""


class CffOutlines:
    """The outlines of the glyphs of one ``CFF `` table, by glyph index.

    Raises:
        UnreadableFont: not a single-font, non-CID CFF with Type 2 charstrings.
    """

    def __init__(self, data: bytes) -> None:
        if not data or data[0] != 1:
            raise UnreadableFont("not a version 1 CFF table")
        _, pos = _index(data, data[2])  # the font names
        top_dicts, pos = _index(data, pos)
        _, pos = _index(data, pos)  # the strings
        self._global_subrs, _ = _index(data, pos)
        if len(top_dicts) != 1:
            raise UnreadableFont(f"{len(top_dicts)} fonts in one CFF table")
        top = _dict(top_dicts[0])
        if _ROS in top or top.get(_CHARSTRING_TYPE, [2])[0] != 2:
            raise UnreadableFont("CID-keyed, or not Type 2 charstrings")
        if _CHARSTRINGS not in top:
            raise UnreadableFont("no CharStrings")
        self._charstrings, _ = _index(data, int(top[_CHARSTRINGS][0]))
        self._local_subrs: list[bytes] = []
        if _PRIVATE in top:
            size, offset = (int(v) for v in top[_PRIVATE])
            private = _dict(data[offset : offset + size])
            if _SUBRS in private:
                self._local_subrs, _ = _index(data, offset + int(private[_SUBRS][0]))

    def __len__(self) -> int:
        return len(self._charstrings)

    def contours(self, index: int) -> list[Contour]:
        """The closed contours of glyph ``index``, in font units."""
        run = _Run(self._global_subrs, self._local_subrs)
        run.execute(self._charstrings[index], depth=0)
        run.close()
        return run.contours


def _index(data: bytes, pos: int) -> tuple[list[bytes], int]:
    """An INDEX at ``pos``: its items and where the data after it starts."""
    count = struct.unpack(">H", data[pos : pos + 2])[0]
    if count == 0:
        return [], pos + 2
    size = data[pos + 2]
    start = pos + 3
    offsets = [
        int.from_bytes(data[start + i * size : start + (i + 1) * size], "big")
        for i in range(count + 1)
    ]
    base = start + (count + 1) * size - 1  # offsets count from 1
    items = [data[base + a : base + b] for a, b in itertools.pairwise(offsets)]
    return items, base + offsets[-1]


def _dict(data: bytes) -> dict[int, list[float]]:
    """A Top or Private DICT: each operator's operands (two-byte operators as 1200 + n)."""
    out: dict[int, list[float]] = {}
    operands: list[float] = []
    pos = 0
    while pos < len(data):
        b0 = data[pos]
        if b0 == 30:  # a real number, in nibbles: we need none of them, so skip it
            pos += 1
            while pos < len(data) and 0xF not in (data[pos] >> 4, data[pos] & 0xF):
                pos += 1
            operands.append(0.0)
            pos += 1
        elif b0 == 28:
            operands.append(struct.unpack(">h", data[pos + 1 : pos + 3])[0])
            pos += 3
        elif b0 == 29:
            operands.append(struct.unpack(">i", data[pos + 1 : pos + 5])[0])
            pos += 5
        elif b0 >= 32:
            value, pos = _small_integer(data, pos)
            operands.append(value)
        else:
            operator = 1200 + data[pos + 1] if b0 == 12 else b0
            pos += 2 if b0 == 12 else 1
            out[operator], operands = operands, []
    return out


def _small_integer(data: bytes, pos: int) -> tuple[int, int]:
    """The one- and two-byte integers DICTs and charstrings share (first byte 32 to 254)."""
    b0 = data[pos]
    if b0 <= 246:
        return b0 - 139, pos + 1
    b1 = data[pos + 1]
    if b0 <= 250:
        return (b0 - 247) * 256 + b1 + 108, pos + 2
    return -(b0 - 251) * 256 - b1 - 108, pos + 2


def _bias(subrs: list[bytes]) -> int:
    return 107 if len(subrs) < 1240 else 1131 if len(subrs) < 33900 else 32768


@dataclass
class _Run:
    """One charstring being run: the pen, the argument stack and the contours so far."""

    global_subrs: list[bytes]
    local_subrs: list[bytes]
    contours: list[Contour] = field(default_factory=list)
    points: list[tuple[float, float, bool]] = field(default_factory=list)
    stack: list[float] = field(default_factory=list)
    x: float = 0.0
    y: float = 0.0
    stems: int = 0
    width_read: bool = False
    ended: bool = False

    def execute(self, code: bytes, depth: int) -> None:
        """Run ``code`` (a charstring or a subroutine) until it returns or ends the glyph."""
        if depth > _NESTING:
            raise UnreadableFont("subroutines nested too deep")
        pos = 0
        while pos < len(code) and not self.ended:
            b0 = code[pos]
            if b0 >= 32 or b0 == 28:
                pos = self._number(code, pos)
            elif b0 == 11:  # return
                return
            elif b0 in (10, 29):  # callsubr, callgsubr
                subrs = self.local_subrs if b0 == 10 else self.global_subrs
                number = int(self.stack.pop()) + _bias(subrs)
                if not 0 <= number < len(subrs):
                    raise UnreadableFont(f"no subroutine {number}")
                self.execute(subrs[number], depth + 1)
                pos += 1
            elif b0 in (19, 20):  # hintmask, cntrmask: stems may come first, then mask bytes
                self._stem()
                pos += 1 + (self.stems + 7) // 8
            elif b0 == 12:
                self._flex(1200 + code[pos + 1])
                pos += 2
            else:
                self._operator(b0)
                pos += 1

    def _number(self, code: bytes, pos: int) -> int:
        b0 = code[pos]
        if b0 == 28:
            self.stack.append(struct.unpack(">h", code[pos + 1 : pos + 3])[0])
            return pos + 3
        if b0 == 255:  # 16.16 fixed point
            self.stack.append(struct.unpack(">i", code[pos + 1 : pos + 5])[0] / 65536)
            return pos + 5
        value, pos = _small_integer(code, pos)
        self.stack.append(value)
        return pos

    def _width(self, args: list[float], expected_odd: bool) -> list[float]:
        """The first stack-clearing operator may carry the advance width first: dropped
        (``hmtx`` has the advance)."""
        if not self.width_read and args and (len(args) % 2 == 1) != expected_odd:
            args = args[1:]
        self.width_read = True
        return args

    def _stem(self) -> None:
        self.stems += len(self._width(self.stack, expected_odd=False)) // 2
        self.stack = []

    def _operator(self, op: int) -> None:
        if op in (1, 3, 18, 23):  # hstem, vstem, hstemhm, vstemhm
            self._stem()
            return
        args, self.stack = self.stack, []
        if op in (21, 22, 4):  # rmoveto, hmoveto, vmoveto
            args = self._width(args, expected_odd=op != 21)
            self.close()
            self.line(*(args[:2] if op == 21 else (args[0], 0.0) if op == 22 else (0.0, args[0])))
        elif op == 14:  # endchar
            if self._width(args, expected_odd=False):
                raise UnreadableFont("seac accents are not read")
            self.ended = True
        elif op in _PATHS:
            _PATHS[op](self, args)
        else:
            raise UnreadableFont(f"charstring operator {op} is not read")

    def _flex(self, op: int) -> None:
        """The two-byte operators read: the flexes, each two curves (drawn as such)."""
        a, self.stack = self.stack, []
        if op == 1235:  # flex: two curves, and a depth that is ignored
            _rrcurveto(self, a[:12])
        elif op == 1234:  # hflex
            self.curve(a[0], 0, a[1], a[2], a[3], 0)
            self.curve(a[4], 0, a[5], -a[2], a[6], 0)
        elif op == 1236:  # hflex1
            self.curve(a[0], a[1], a[2], a[3], a[4], 0)
            self.curve(a[5], 0, a[6], a[7], a[8], -(a[1] + a[3] + a[7]))
        elif op == 1237:  # flex1: the last point returns to the start's y (or x)
            dx, dy = sum(a[0:10:2]), sum(a[1:10:2])
            last = (a[10], -dy) if abs(dx) > abs(dy) else (-dx, a[10])
            self.curve(*a[:6])
            self.curve(*a[6:10], *last)
        else:
            raise UnreadableFont(f"charstring operator 12 {op - 1200} is not read")

    def line(self, dx: float, dy: float) -> None:
        self.x += dx
        self.y += dy
        self.points.append((self.x, self.y, True))

    def curve(self, dxa: float, dya: float, dxb: float, dyb: float, dxc: float, dyc: float) -> None:
        """A cubic curve by relative steps: to the first control, the second, the end."""
        x1, y1 = self.x + dxa, self.y + dya
        x2, y2 = x1 + dxb, y1 + dyb
        self.x, self.y = x2 + dxc, y2 + dyc
        self.points.extend(((x1, y1, False), (x2, y2, False), (self.x, self.y, True)))

    def close(self) -> None:
        """End the contour being drawn; a last point on its start is dropped, as closing
        the contour draws back to the start anyway."""
        points = self.points
        if len(points) > 1 and points[-1] == points[0]:
            points = points[:-1]
        if len(points) > 1:
            self.contours.append(tuple(points))
        self.points = []


def _rlineto(run: _Run, a: list[float]) -> None:
    for i in range(0, len(a) - 1, 2):
        run.line(a[i], a[i + 1])


def _alternating_lines(run: _Run, a: list[float], horizontal: bool) -> None:
    for value in a:
        if horizontal:
            run.line(value, 0)
        else:
            run.line(0, value)
        horizontal = not horizontal


def _rrcurveto(run: _Run, a: list[float]) -> None:
    for i in range(0, len(a) - 5, 6):
        run.curve(*a[i : i + 6])


def _rcurveline(run: _Run, a: list[float]) -> None:
    _rrcurveto(run, a[:-2])
    run.line(a[-2], a[-1])


def _rlinecurve(run: _Run, a: list[float]) -> None:
    _rlineto(run, a[:-6])
    run.curve(*a[-6:])


def _vvcurveto(run: _Run, a: list[float]) -> None:
    dx = a.pop(0) if len(a) % 2 else 0.0
    for i in range(0, len(a) - 3, 4):
        run.curve(dx, a[i], a[i + 1], a[i + 2], 0, a[i + 3])
        dx = 0.0


def _hhcurveto(run: _Run, a: list[float]) -> None:
    dy = a.pop(0) if len(a) % 2 else 0.0
    for i in range(0, len(a) - 3, 4):
        run.curve(a[i], dy, a[i + 1], a[i + 2], a[i + 3], 0)
        dy = 0.0


def _alternating_curves(run: _Run, a: list[float], horizontal: bool) -> None:
    """hvcurveto and vhcurveto: each curve starts across the last one's end, and the last
    curve may end with one more step off its axis."""
    for i in range(0, len(a) - 3, 4):
        extra = a[i + 4] if len(a) - i == 5 else 0.0
        if horizontal:
            run.curve(a[i], 0, a[i + 1], a[i + 2], extra, a[i + 3])
        else:
            run.curve(0, a[i], a[i + 1], a[i + 2], a[i + 3], extra)
        horizontal = not horizontal


_PATHS = {
    5: _rlineto,
    6: lambda run, a: _alternating_lines(run, a, horizontal=True),
    7: lambda run, a: _alternating_lines(run, a, horizontal=False),
    8: _rrcurveto,
    24: _rcurveline,
    25: _rlinecurve,
    26: _vvcurveto,
    27: _hhcurveto,
    30: lambda run, a: _alternating_curves(run, a, horizontal=False),
    31: lambda run, a: _alternating_curves(run, a, horizontal=True),
}

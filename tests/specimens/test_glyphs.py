"""CFF outlines: the letters FreeType draws from the same files, and the charstring
operators a CFF face may use (hints, subroutines, flexes) on a table built by hand."""

from __future__ import annotations

import io
import string
import struct

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from reportlab.pdfgen.canvas import Canvas

from switchover.specimens import HAND_FACES, HandFace, rasterise
from switchover.specimens._cff import CffOutlines, UnreadableFont
from switchover.specimens._glyphs import CffFont, curves, outline_font

CFF_FACES = [face for face in HAND_FACES if face.path.suffix == ".otf"]
CHARS = string.ascii_uppercase + string.ascii_lowercase + string.digits + "@.,/-:'()+"
EM, CELL, DPI = 48.0, 64.0, 144  # points, points, dots per inch
COLUMNS = 9


def _cells(ink: np.ndarray) -> list[np.ndarray]:
    side = round(CELL * DPI / 72)
    return [
        ink[
            i // COLUMNS * side : (i // COLUMNS + 1) * side,
            i % COLUMNS * side : (i % COLUMNS + 1) * side,
        ]
        for i in range(len(CHARS))
    ]


def _origin(i: int) -> tuple[float, float]:
    """Where character ``i`` starts: its pen position, in points from the top-left."""
    return (i % COLUMNS) * CELL + 8, (i // COLUMNS) * CELL + 48


def _ours(face: HandFace) -> list[np.ndarray]:
    """Each character drawn from our outlines, upright, one a cell."""
    font = outline_font(face.path)
    rows = -(-len(CHARS) // COLUMNS)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(CELL * COLUMNS, CELL * rows), invariant=1)
    scale = EM / font.units_per_em
    for i, char in enumerate(CHARS):
        glyph = font.glyph(char)
        assert glyph is not None, (face.family, char)
        x, top = _origin(i)
        base = CELL * rows - top

        def at(point: tuple[float, float], x: float = x, base: float = base) -> tuple[float, float]:
            return x + point[0] * scale, base + point[1] * scale

        path = canvas.beginPath()
        for origin, segments in curves(glyph):
            path.moveTo(*at(origin))
            for c1, c2, end in segments:
                path.curveTo(*at(c1), *at(c2), *at(end))
            path.close()
        canvas.drawPath(path, stroke=0, fill=1)
    canvas.save()
    return _cells(np.asarray(rasterise(out.getvalue(), dpi=DPI, pages=1)[0].convert("L")) < 128)


def _freetype(face: HandFace) -> list[np.ndarray]:
    """The same characters as FreeType (through Pillow) draws them from the same file."""
    rows = -(-len(CHARS) // COLUMNS)
    k = DPI / 72
    image = Image.new("L", (round(CELL * COLUMNS * k), round(CELL * rows * k)), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(face.path), round(EM * k))
    for i, char in enumerate(CHARS):
        x, baseline = _origin(i)
        draw.text((x * k, baseline * k), char, font=font, fill=0, anchor="ls")
    return _cells(np.asarray(image) < 128)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.mark.skipif(
    not all(face.path.is_file() for face in CFF_FACES), reason="the Makefile installs fonts-bwht"
)
@pytest.mark.parametrize("face", CFF_FACES, ids=lambda face: face.family)
def test_cff_letters_are_the_ones_freetype_draws_and_all_differ(face: HandFace) -> None:
    """Each letter we read from the charstrings covers FreeType's drawing of the same
    letter, and is nearer it than any other letter's: a misread operator would smear the
    outline, and a face drawing two letters alike would tie."""
    assert isinstance(outline_font(face.path), CffFont)
    ours, theirs = _ours(face), _freetype(face)
    for i, char in enumerate(CHARS):
        assert ours[i].any(), (face.family, char)
        same = _overlap(ours[i], theirs[i])
        nearest_other = max(_overlap(ours[i], other) for j, other in enumerate(theirs) if j != i)
        assert same >= 0.9, (face.family, char, same)
        assert same - nearest_other >= 0.1, (face.family, char, same, nearest_other)


# --- charstring operators, on a CFF table built by hand --------------------------------


def _number(value: float) -> bytes:
    if value != int(value):
        return b"\xff" + struct.pack(">i", round(value * 65536))
    value = int(value)
    if -107 <= value <= 107:
        return bytes([value + 139])
    if 108 <= value <= 1131:
        return bytes([(value - 108) // 256 + 247, (value - 108) % 256])
    if -1131 <= value <= -108:
        return bytes([(-value - 108) // 256 + 251, (-value - 108) % 256])
    return b"\x1c" + struct.pack(">h", value)


def _charstring(*program: float | str | bytes) -> bytes:
    operators = {"hstemhm": b"\x12", "hintmask": b"\x13", "rmoveto": b"\x15", "rlineto": b"\x05",
                 "hlineto": b"\x06", "callsubr": b"\x0a", "callgsubr": b"\x1d", "return": b"\x0b",
                 "endchar": b"\x0e", "hflex": b"\x0c\x22", "flex1": b"\x0c\x25"}  # fmt: skip
    return b"".join(
        operators[item] if isinstance(item, str) else item if isinstance(item, bytes)
        else _number(item)
        for item in program
    )  # fmt: skip


def _index(items: list[bytes]) -> bytes:
    if not items:
        return b"\x00\x00"
    offsets = [1]
    for item in items:
        offsets.append(offsets[-1] + len(item))
    return (struct.pack(">HB", len(items), 4) + b"".join(struct.pack(">L", o) for o in offsets)
            + b"".join(items))  # fmt: skip


def _table(glyphs: list[bytes], local: list[bytes], global_: list[bytes]) -> bytes:
    """A CFF table: one font, its charstrings, a Private DICT with local subroutines."""

    def offset(value: int) -> bytes:  # always five bytes, so the Top DICT's size is known
        return b"\x1d" + struct.pack(">i", value)

    private = offset(6) + b"\x13"  # Subrs (19): right after this six-byte DICT
    head = b"\x01\x00\x04\x04" + _index([b"T"])
    rest = _index([]) + _index(global_)  # no strings; the global subroutines
    charstrings = _index(glyphs)

    def top(at: int) -> bytes:  # CharStrings (17) at ``at``, Private (18) after them
        return (
            offset(at) + b"\x11" + _number(len(private)) + offset(at + len(charstrings)) + b"\x12"
        )

    at = len(head + _index([top(0)]) + rest)
    return head + _index([top(at)]) + rest + charstrings + private + _index(local)


def test_the_charstring_operators_handwriting_faces_use() -> None:
    """Width, stems and hint masks (whose length depends on the stems counted, some of
    them implicit), subroutines, flexes, fixed-point numbers and alternating lines."""
    hinted = _charstring(
        600, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, "hstemhm",  # a width, five stems
        1, 2, 3, 4, 5, 6, 7, 8, "hintmask", b"\xff\x80",  # four vstems: nine, two mask bytes
        100, 100, "rmoveto", "hintmask", b"\xff\x80",
        -107, "callsubr", -107, "callgsubr",
        10, 20, 30, 40, 60, 70, -100, "hflex",
        10, 5, 10, 5, 10, 5, 10, -5, 10, -5, 7, "flex1",
        -57.5, 0, "rlineto", "endchar",
    )  # fmt: skip
    boxed = _charstring(550, 30, 40, "rmoveto", 100, 50, -100, "hlineto", "endchar")
    outlines = CffOutlines(
        _table(
            [_charstring("endchar"), hinted, boxed],
            local=[_charstring(50, 0, "rlineto", "return")],
            global_=[_charstring(0, 50, "rlineto", "return")],
        )
    )
    assert len(outlines) == 3
    assert outlines.contours(0) == []
    on, off = True, False  # the points fontTools decodes from the same table
    assert outlines.contours(1) == [(
        (100, 100, on), (150, 100, on), (150, 150, on),
        (160, 150, off), (180, 180, off), (220, 180, on),
        (280, 180, off), (350, 150, off), (250, 150, on),
        (260, 155, off), (270, 160, off), (280, 165, on),
        (290, 160, off), (300, 155, off), (307, 150, on),
        (249.5, 150, on),
    )]  # fmt: skip
    assert outlines.contours(2) == [((30, 40, on), (130, 40, on), (130, 90, on), (30, 90, on))]


def test_what_the_reader_does_not_read_is_refused() -> None:
    seac = _charstring(0, 0, 65, 97, "endchar")
    with pytest.raises(UnreadableFont, match="seac"):
        CffOutlines(_table([seac], local=[], global_=[])).contours(0)
    with pytest.raises(UnreadableFont, match="subroutine"):
        CffOutlines(_table([_charstring(5, "callgsubr")], local=[], global_=[])).contours(0)

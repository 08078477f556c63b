"""Tick, cross, scribble and crossed-out boxes told apart: a tick scribbled over is not a
tick, and a person checks it."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import numpy as np
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from ocr.regions import PageBox
from ocr.ticks import DOUBTFUL, MarkKind, _Mark, mark_kind
from switchover.specimens import HAND_FACES, installed_faces, rasterise
from switchover.specimens._handwriting import HandPen, TickBox

pytestmark = pytest.mark.skipif(
    len(installed_faces()) < len(HAND_FACES), reason="the Makefile installs the handwriting fonts"
)
SIDE = 12.0  # the random designs' tick box, in points
KINDS = ("tick", "cross", "crossed_out", "empty")


def drawn_boxes(seed: str) -> dict[str, np.ndarray[Any, Any]]:
    """One box of each kind drawn by one writer, cut from a 300-dpi rendering."""
    pen = HandPen.for_seed(seed)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    for i, kind in enumerate(KINDS):
        x = 100 + 60 * i
        canvas.rect(x, A4[1] - 100 - SIDE, SIDE, SIDE)
        box = TickBox(x, 100, SIDE, "f")
        if kind in ("tick", "cross"):
            pen.mark(canvas, box, "X" if kind == "cross" else "✓")
        elif kind == "crossed_out":
            pen._tick(canvas, x, 100, SIDE)
            pen._scribble(canvas, x, 100, SIDE)
    canvas.save()
    page = np.asarray(rasterise(out.getvalue(), dpi=300)[0].convert("L"))
    k = 300 / 72
    top, bottom = round(100 * k), round((100 + SIDE) * k)
    return {
        kind: page[top:bottom, round((100 + 60 * i) * k) : round((100 + 60 * i + SIDE) * k)]
        for i, kind in enumerate(KINDS)
    }


def test_marks_are_told_apart() -> None:
    found: Counter[tuple[str, MarkKind]] = Counter()
    for seed in range(12):
        for kind, crop in drawn_boxes(f"marks-{seed}").items():
            found[(kind, mark_kind(crop))] += 1
    assert found[("tick", MarkKind.TICK)] == 12
    assert found[("empty", MarkKind.EMPTY)] == 12
    assert found[("cross", MarkKind.CROSS)] >= 10
    assert found[("crossed_out", MarkKind.CROSSED_OUT)] >= 10
    # Whatever is not told apart is left to a person, never taken for another mark.
    assert set(found) <= {
        ("tick", MarkKind.TICK), ("empty", MarkKind.EMPTY),
        ("cross", MarkKind.CROSS), ("cross", MarkKind.UNSURE),
        ("crossed_out", MarkKind.CROSSED_OUT), ("crossed_out", MarkKind.UNSURE),
    }  # fmt: skip


def test_a_crossed_out_tick_is_not_a_tick_and_is_doubtful() -> None:
    box = PageBox.__new__(PageBox)
    crossed = _Mark(box, 0.7, MarkKind.CROSSED_OUT)
    assert not crossed.ticked
    assert crossed.confidence <= DOUBTFUL
    assert _Mark(box, 0.25, MarkKind.TICK).ticked
    assert _Mark(box, 0.25, MarkKind.TICK).confidence > 0.9

"""Recogniser frames made by hand, for tests of what is weighed on them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ocr.ctc import BLANK, CharFrames


def spaced_frames(
    alphabet: Sequence[str], rows: Sequence[dict[str, float]], step: float = 0.0
) -> CharFrames:
    """Frames with each row's probabilities by character (the rest the blank's), a blank
    frame after each so letters may repeat; ``step`` columns of the crop a frame."""
    table = np.zeros((2 * len(rows), len(alphabet)), np.float32)
    for t, row in enumerate(rows):
        for char, p in row.items():
            table[2 * t, alphabet.index(char)] = p
        table[2 * t, BLANK] = 1.0 - sum(row.values())
        table[2 * t + 1, BLANK] = 1.0
    return CharFrames(table, tuple(alphabet), step=step)

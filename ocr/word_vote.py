"""One page's words from two engines' readings of it.

Tesseract reads print well and keeps words apart; PP-OCRv6 (rapidocr) reads worn,
faint and handwritten text better but sometimes runs two words into one. On the FUNSD
scans (1980s–90s forms at 100 dpi, with handwriting), rapidocr alone recalled more
words than Tesseract alone, and the two together more than either
(``bench/funsd_recall.py``). So:

* the second engine's words are split where Tesseract, reading the same characters,
  saw a gap between words (``split_at_gaps``);
* words that overlap across the two readings form a group, and each group is taken
  whole from the engine surer of it on average, the second engine on a tie;
* a word only one engine found is kept from the second engine, and from Tesseract
  only when it is sure (alone, Tesseract reads stamps, logos and rules as text).
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from ocr.engines import OcrWord

Box = tuple[float, float, float, float]

# A word Tesseract alone found is kept from this confidence.
SURE_ALONE = 0.8
# Two boxes show the same word when they share this much of the smaller one.
_SHARED = 0.3


def voted_words(first: Sequence[OcrWord], second: Sequence[OcrWord]) -> list[OcrWord]:
    """The words of a page from two readings of the same image (pixel boxes alike).

    Args:
        first: Tesseract's words.
        second: the second engine's words.
    """
    second = split_at_gaps(second, first)
    words: list[OcrWord] = []
    for ours, theirs in _groups(first, second):
        if not theirs:
            words += [w for w in ours if w.confidence >= SURE_ALONE]
        elif not ours or _mean_confidence(theirs) >= _mean_confidence(ours):
            words += theirs
        else:
            words += ours
    return _in_reading_order(words)


def split_at_gaps(words: Sequence[OcrWord], guide: Sequence[OcrWord]) -> list[OcrWord]:
    """``words`` split where ``guide``'s words over the same place put a gap between
    two characters that both readings share, one beside the other.

    The pieces share the word's confidence; their boxes divide its box in proportion to
    their characters.
    """
    split: list[OcrWord] = []
    for word in words:
        under = sorted((g for g in guide if same_place(word.box, g.box)), key=lambda g: g.box[0])
        cuts = _cuts(word.text, " ".join(g.text for g in under)) if len(under) > 1 else []
        split += _pieces(word, cuts)
    return split


def _cuts(text: str, guide: str) -> list[int]:
    """Where in ``text`` a space of ``guide`` falls between two characters the two
    strings match one after the other."""
    matcher = SequenceMatcher(None, text, guide, autojunk=False)
    at: dict[int, int] = {}
    for start, guide_start, size in matcher.get_matching_blocks():
        at.update({guide_start + k: start + k for k in range(size)})
    return sorted(
        at[j + 1]
        for j, char in enumerate(guide)
        if char == " " and j - 1 in at and j + 1 in at and at[j + 1] == at[j - 1] + 1
    )


def _pieces(word: OcrWord, cuts: list[int]) -> list[OcrWord]:
    if not cuts:
        return [word]
    x0, y0, x1, y1 = word.box
    length = len(word.text)
    pieces = []
    for start, end in zip([0, *cuts], [*cuts, length], strict=True):
        left = x0 + round((x1 - x0) * start / length)
        right = x0 + round((x1 - x0) * end / length)
        pieces.append(OcrWord(word.text[start:end], word.confidence, (left, y0, right, y1)))
    return pieces


def _groups(
    first: Sequence[OcrWord], second: Sequence[OcrWord]
) -> list[tuple[list[OcrWord], list[OcrWord]]]:
    """Words joined by overlaps across the two readings, each group as (first's, second's)."""
    words = [*first, *second]
    parent = list(range(len(words)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, ours in enumerate(first):
        for j, theirs in enumerate(second, start=len(first)):
            if same_place(ours.box, theirs.box):
                parent[root(i)] = root(j)
    groups: dict[int, tuple[list[OcrWord], list[OcrWord]]] = {}
    for i, word in enumerate(words):
        group = groups.setdefault(root(i), ([], []))
        group[0 if i < len(first) else 1].append(word)
    return list(groups.values())


def same_place(a: Box, b: Box) -> bool:
    """Whether two boxes (x0, y0, x1, y1, in pixels or fractions alike) show the same
    word: they share ``_SHARED`` of the smaller."""
    shared = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return smaller > 0 and shared > _SHARED * smaller


def _in_reading_order(words: list[OcrWord]) -> list[OcrWord]:
    """Top to bottom in bands of a line's height, left to right within a band."""
    if not words:
        return words
    line = max(1, sorted(w.box[3] - w.box[1] for w in words)[len(words) // 2])
    return sorted(words, key=lambda w: (round((w.box[1] + w.box[3]) / 2 / line), w.box[0]))


def _mean_confidence(words: Sequence[OcrWord]) -> float:
    return sum(w.confidence for w in words) / len(words)

"""Layout: words into lines and phrases, and printed labels found among them.

Works on ``Word`` boxes as fractions of the page, so OCR words and text-layer words
are treated alike.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from domain.forms import BBox, Word

# A gap wider than this many line heights splits a line into phrases (label | value).
_PHRASE_GAP = 1.5
# Phrases of one line this many of their heights apart or less may yet be one label's
# words (``run_on``), up to this many phrases.
_RUN_ON_GAP = 3.0
_RUN_ON_PHRASES = 4
# A label found only across such a gap reads at least this well (a handwritten value
# beside a label whose last word was lost reads nearly as well as that word: "Surname
# or family STONE" for "Surname or family name").
RUN_ON_SCORE = 90.0
# A wrapped label's first line may end before a gap this many line heights wide or
# wider (``wrapped``): a value in the next cell stands that far from it, the next word of
# the same phrase nearer.
_WRAPS_BEFORE = 0.8
# Lowest fuzzy score (0..100) for a run of words to count as a label.
LABEL_MIN_SCORE = 80.0
_NOT_COMPARED = re.compile(r"(?:[^\w£@]|_)+")


@dataclass(frozen=True)
class Phrase:
    """Words on one line with no wide gap between them."""

    words: tuple[Word, ...]

    @property
    def bbox(self) -> BBox:
        return union(w.bbox for w in self.words)


# A label whose first letters lie under handwriting run on from the box before it is
# found by the rest (``find_covered_label``): at most this share of its letters covered,
# and at least this many left, read this well.
_COVERED_AT_MOST = 0.5
_UNCOVERED_LEAST = 4
_COVERED_SCORE = 90.0


@dataclass(frozen=True)
class LabelMatch:
    """Where a printed label was found."""

    words: tuple[Word, ...]
    score: float
    # Found by its last letters only, the first lying under writing run on from the box
    # before it: where the whole label lies, reckoned from the letters found.
    covered: BBox | None = None

    @property
    def bbox(self) -> BBox:
        return self.covered or union(w.bbox for w in self.words)


def union(boxes: Iterable[BBox]) -> BBox:
    """The smallest box holding all the boxes."""
    x0s, y0s, x1s, y1s = zip(*boxes, strict=True)
    return (min(x0s), min(y0s), max(x1s), max(y1s))


def holds(area: BBox, box: BBox) -> bool:
    """Whether the middle of ``box`` lies inside ``area``."""
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return area[0] <= x <= area[2] and area[1] <= y <= area[3]


def rounded(box: BBox) -> BBox:
    """A box with its fractions rounded to four places, as results carry them."""
    x0, y0, x1, y1 = (round(v, 4) for v in box)
    return (x0, y0, x1, y1)


def group_lines(words: Sequence[Word]) -> list[list[Word]]:
    """Words into lines, top to bottom, each line left to right.

    A word joins a line when their vertical extents overlap by half the smaller height.
    """
    lines: list[list[Word]] = []
    extents: list[tuple[float, float]] = []
    for word in sorted(words, key=lambda w: (w.bbox[1] + w.bbox[3]) / 2):
        y0, y1 = word.bbox[1], word.bbox[3]
        for index in range(len(lines) - 1, max(-1, len(lines) - 4), -1):
            top, bottom = extents[index]
            overlap = min(bottom, y1) - max(top, y0)
            if overlap > 0.5 * min(bottom - top, y1 - y0):
                # A word taller than its line (a tick box and its mark read as "L)")
                # must not stretch the line over the next one; but a line of specks
                # alone (a point read as ":") is no line yet, and the word makes it.
                specks = not any(comparable(w.text) for w in lines[index])
                lines[index].append(word)
                if specks or y1 - y0 <= 1.5 * (bottom - top):
                    extents[index] = (min(top, y0), max(bottom, y1))
                break
        else:
            lines.append([word])
            extents.append((y0, y1))
    return [sorted(line, key=lambda w: w.bbox[0]) for line in lines]


def phrases(words: Sequence[Word], *, aspect: float = 1.0) -> list[Phrase]:
    """Lines split at wide gaps: on a form, a label and its value are separate phrases.

    Args:
        words: the page's words.
        aspect: the page's height over its width: boxes are fractions of each, and a
            gap across is measured against a height (an A4 page is 1.414).
    """
    found = []
    for line in group_lines(words):
        height = aspect * sorted(w.bbox[3] - w.bbox[1] for w in line)[len(line) // 2]
        current = [line[0]]
        for word in line[1:]:
            # The gap from the phrase's right end: a speck inside a word (a point read
            # as ":") is not where the phrase ends.
            if word.bbox[0] - max(w.bbox[2] for w in current) > _PHRASE_GAP * height:
                found.append(Phrase(tuple(current)))
                current = []
            current.append(word)
        found.append(Phrase(tuple(current)))
    return found


def wrapped(
    found: Sequence[Phrase], starts: Sequence[Phrase] | None = None, *, aspect: float = 1.0
) -> list[Phrase]:
    """Phrases continued on the next line: a label too long for its column wraps, its
    second line starting under its first.

    Each phrase (of ``starts``, when given: phrases ``run_on``) joined with the phrase
    of ``found`` straight below it (within a line's height of it, starting within a
    line's height of where it starts), as one phrase of both lines' words, so a label
    can be found across the break. ``aspect`` is the page's height over its width
    (``phrases``).
    """
    firsts = list(found if starts is None else starts)
    # A wrapped label beside a taller value may have been grouped as one line with its
    # second line ("Total investments savings and"): read such a phrase row by row too.
    joined: list[Phrase] = [p for p in map(_row_by_row, firsts) if p is not None]
    # Two lines, then three (a label in a narrow grid cell).
    for lines in (2, 3):
        longer = []
        for first in firsts:
            heads = [first]
            if lines == 2:
                # The label's first line may run on into the value in the next cell,
                # near enough to be one phrase with it ("Monthly Council 212.16" over
                # "Tax"): each shorter head of it continues too, placed by its own
                # words (a tall handwritten value reaches down past the next line's top).
                # Only a head the rest stands apart from, as a cell's wall keeps them:
                # the "I" of "I get Universal Credit" is no first line of "I agree to be
                # contacted" under it. So does each tail that stands apart from what is
                # before it: a value written up to the wall of the label's cell runs on
                # into the label ("12 Feb 2025 Years at this" over "address").
                spaced = aspect * _line_height(first) * _WRAPS_BEFORE
                apart = [
                    k
                    for k in range(1, len(first.words))
                    if first.words[k].bbox[0] - first.words[k - 1].bbox[2] >= spaced
                ]
                heads += [Phrase(first.words[:k]) for k in apart]
                heads += [Phrase(first.words[k:]) for k in apart]
            for head in heads:
                x0, _, _, y1 = head.bbox
                height = _line_height(head)
                for second in found:
                    sx0, sy0, _, _ = second.bbox
                    if -0.4 * height <= sy0 - y1 <= 0.9 * height and abs(sx0 - x0) <= height:
                        longer.append(Phrase(head.words + second.words))
        joined += longer
        firsts = longer
    return joined


def run_on(found: Sequence[Phrase], *, aspect: float = 1.0) -> list[Phrase]:
    """Phrases joined with the phrases after them on their line, so a label can be found
    across a gap wider than ``phrases`` allows: a typewriter face's space is ("Email" |
    "(if you have one)"), and small print over a value's boxes (DD MM YYYY), a line of
    its own, can draw some of a label's words into it ("Date you" | "moved" | "in to").

    Each phrase is joined with the next phrase on its line (the nearest to the right,
    overlapping its last word's rows by half, ``_RUN_ON_GAP`` of their height away or
    less), and that with the next, up to ``_RUN_ON_PHRASES`` phrases.

    Args:
        found: the page's phrases (``phrases``).
        aspect: the page's height over its width, as for ``phrases``.
    """

    def after(phrase: Phrase) -> Phrase | None:
        last = phrase.words[-1].bbox
        best: tuple[float, Phrase] | None = None
        for other in found:
            first = other.words[0].bbox
            height = min(last[3] - last[1], first[3] - first[1])
            overlap = min(last[3], first[3]) - max(last[1], first[1])
            gap = first[0] - last[2]
            tall = aspect * max(last[3] - last[1], first[3] - first[1])
            on_line = overlap > 0.5 * height and 0 <= gap <= _RUN_ON_GAP * tall
            if on_line and (best is None or gap < best[0]):
                best = (gap, other)
        return best[1] if best else None

    joined = []
    for phrase in found:
        current = phrase
        for _ in range(_RUN_ON_PHRASES - 1):
            nxt = after(current)
            if nxt is None:
                break
            current = Phrase(current.words + nxt.words)
            joined.append(current)
    return joined


def _row_by_row(phrase: Phrase) -> Phrase | None:
    """The phrase's words in reading order when they lie on two or more rows (a row
    starts where a word's middle is below the previous row's words), else None."""
    height = _line_height(phrase)
    rows: list[list[Word]] = []
    for word in sorted(phrase.words, key=lambda w: (w.bbox[1] + w.bbox[3]) / 2):
        middle = (word.bbox[1] + word.bbox[3]) / 2
        if rows and middle <= max(w.bbox[3] for w in rows[-1]) - 0.2 * height:
            rows[-1].append(word)
        else:
            rows.append([word])
    if len(rows) < 2:
        return None
    return Phrase(tuple(w for row in rows for w in sorted(row, key=lambda w: w.bbox[0])))


def _line_height(phrase: Phrase) -> float:
    heights = sorted(w.bbox[3] - w.bbox[1] for w in phrase.words)
    return heights[len(heights) // 2]


def comparable(text: str) -> str:
    """Lower case, punctuation dropped, spaces collapsed: how labels are compared."""
    return _comparable(text)


@lru_cache(maxsize=8192)
def _comparable(text: str) -> str:
    # Cached: label finding compares the same page words against every label.
    return " ".join(_NOT_COMPARED.sub(" ", text.lower()).split())


def find_label(
    label: str,
    candidates: Sequence[Phrase],
    taken: set[int] | None = None,
    least: float = LABEL_MIN_SCORE,
) -> LabelMatch | None:
    """The best run of consecutive words in a phrase that reads as ``label``.

    Runs may be a word shorter or longer than the label (OCR splits and joins words).
    Words whose ``id`` is in ``taken`` belong to another label and are skipped.

    Returns:
        The match, or None when nothing scores at least ``least``.
    """
    target = comparable(label)
    size = len(target.split())
    squeezed = len(target.replace(" ", ""))
    taken = taken or set()
    best: LabelMatch | None = None
    for phrase in candidates:
        words = phrase.words
        # A word's comparable text, once: the runs below are joined from these, which is
        # what ``comparable`` of the joined words would give.
        texts = [comparable(w.text) for w in words]
        lettered = list(itertools.accumulate((bool(t) for t in texts), initial=0))
        letters = list(itertools.accumulate((len(t) for t in texts), initial=0))
        # OCR joins words ("youmovedin") and splits them: any run up to a word longer.
        for length in range(1, size + 2):
            for start in range(len(words) - length + 1):
                end = start + length
                # A run never starts or ends with a word of no letters: that is a box
                # edge or a tick box read as "[|", and taking it would stretch the
                # label's box over the tick box or value box beside it.
                if not (texts[start] and texts[end - 1]):
                    continue
                # A run far longer or shorter than the label cannot score enough.
                count = lettered[end] - lettered[start]
                chars = letters[end] - letters[start]
                if not _may_match(chars + count - 1, len(target)) and not _may_match(
                    chars, squeezed
                ):
                    continue
                run = words[start:end]
                if taken and any(id(w) in taken for w in run):
                    continue
                score = _compared_score(" ".join(filter(None, texts[start:end])), target)
                # Prefer a label that stands alone over one inside a longer phrase
                # ("Surname" rather than the end of "Previous surname").
                if lettered[-1] > count:
                    score -= 2.0
                if score >= least and (best is None or score > best.score):
                    best = LabelMatch(tuple(run), score)
    return best


def find_covered_label(
    label: str,
    candidates: Sequence[Phrase],
    taken: set[int],
    inked: Callable[[BBox], bool],
) -> LabelMatch | None:
    """A label whose first letters OCR lost under handwriting run on past the wall of the
    box before it: "co.uk" written over "Phone" leaves "number" of "Phone number", and
    "Teaching Assistant" over "S" reads "Assistantavings" for "Savings".

    Its last letters (at least ``_UNCOVERED_LEAST``, at most ``_COVERED_AT_MOST`` of them
    lost) must end a run of words not ``taken`` and read as them (``_COVERED_SCORE``), and
    something must cover the rest: more letters run into the first word, or ink that OCR
    gave no word for where the lost letters would stand (``inked``, of a box on the
    page). Found so in more than one place, it is not found. The match's box is where
    the whole label would lie, reckoned from the width of the letters found.
    """
    target = comparable(label).replace(" ", "")
    found: dict[tuple[int, ...], LabelMatch] = {}
    for lost in range(1, int(_COVERED_AT_MOST * len(target)) + 1):
        tail = target[lost:]
        if len(tail) < _UNCOVERED_LEAST:
            break
        for phrase in candidates:
            for end in range(1, len(phrase.words) + 1):
                for start in range(end - 1, -1, -1):
                    run = phrase.words[start:end]
                    if any(id(w) in taken for w in run):
                        break
                    text = comparable(" ".join(w.text for w in run)).replace(" ", "")
                    first = comparable(run[0].text).replace(" ", "")
                    if len(text) >= len(tail) + len(first):
                        break  # the first word plays no part in the tail
                    if len(text) < len(tail) or fuzz.ratio(text[-len(tail) :], tail) < (
                        _COVERED_SCORE
                    ):
                        continue
                    match = _covered(run, text, tail, lost, inked)
                    if match is not None:
                        found.setdefault(tuple(id(w) for w in run), match)
        if found:
            break
    return next(iter(found.values())) if len(found) == 1 else None


def _covered(
    run: Sequence[Word], text: str, tail: str, lost: int, inked: Callable[[BBox], bool]
) -> LabelMatch | None:
    """The match of a label's ``tail`` ending the ``run``, whose first ``lost`` letters are
    covered: by more letters run into the run's first word, or by ink where they stand."""
    x0, y0, x1, y1 = union(w.bbox for w in run)
    per_letter = (x1 - x0) / max(1, len(text))
    extra = len(text) - len(tail)
    start = x0 + extra * per_letter  # where the tail's first letter stands
    label_box = (start - lost * per_letter, y0, x1, y1)
    if extra == 0 and not inked((label_box[0], y0, start, y1)):
        return None
    return LabelMatch(tuple(run), _COVERED_SCORE, covered=label_box)


def _may_match(length: int, target: int) -> bool:
    """Whether texts of these lengths can reach ``LABEL_MIN_SCORE``: a ratio is at most
    twice the shorter length over both lengths."""
    return 200 * min(length, target) >= LABEL_MIN_SCORE * (length + target)


def label_score(text: str, target: str) -> float:
    """How well ``text`` reads as ``target`` (already ``comparable``), 0..100: as written,
    or with the spaces OCR lost or added taken out."""
    return _compared_score(comparable(text), target)


def _compared_score(text: str, target: str) -> float:
    squeezed, target_squeezed = text.replace(" ", ""), target.replace(" ", "")
    return max(
        fuzz.ratio(text, target),
        fuzz.ratio(squeezed, target_squeezed),
        # Letters OCR runs into one ("Sumame" for "Surname"), and a 1 read as an l
        # ("Address linel"), read alike on both sides.
        fuzz.ratio(_run_together(squeezed), _run_together(target_squeezed)),
    )


def _run_together(text: str) -> str:
    return text.replace("rn", "m").replace("vv", "w").replace("1", "l")


def words_in(words: Iterable[Word], region: BBox, *, min_overlap: float = 0.5) -> list[Word]:
    """The words whose boxes lie mostly inside ``region``, in reading order."""
    x0, y0, x1, y1 = region
    inside = []
    for word in words:
        wx0, wy0, wx1, wy1 = word.bbox
        area = (wx1 - wx0) * (wy1 - wy0)
        overlap = max(0.0, min(x1, wx1) - max(x0, wx0)) * max(0.0, min(y1, wy1) - max(y0, wy0))
        if area > 0 and overlap >= min_overlap * area:
            inside.append(word)
    return [w for line in group_lines(inside) for w in line]

"""What a CTC recogniser saw, kept whole: every frame's probability of every character.

PP-OCRv6's recogniser gives, for each narrow frame of a line, a probability for each
character of its alphabet and for "nothing here" (the blank). Its own answer is the
likeliest character of each frame, run together. Keeping the frames instead lets us ask
better questions of one reading:

* how likely is *this* text (Tesseract's reading, say) given what the recogniser saw
  (``log_likelihood``: the CTC forward sum over every alignment of the text to the frames);
* what are the likeliest texts made only of the characters a field can hold
  (``best_texts``: prefix beam search over an allowed alphabet), so a date is never
  read with a Chinese character or a letter O, and the runner-up is known too.

Probabilities are floats in 0..1 per frame (the model ends in a softmax); sums over
alignments are done in log space.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import regex

Frames = np.ndarray[Any, np.dtype[np.float32]]

_FLOOR = 1e-12
# A character a frame gives less than this log probability (about 1 in 160,000) does
# not extend a prefix there: most frames of a line are all but surely blank, and their
# long tail of unlikely characters only made the beam search slower.
_UNLIKELY = -12.0
BLANK = 0


@dataclass(frozen=True)
class CharFrames:
    """A recogniser's per-frame character probabilities for one line.

    ``probabilities[t, c]`` is the chance that frame ``t`` shows ``alphabet[c]``;
    ``alphabet[0]`` is the blank.
    """

    probabilities: Frames
    alphabet: tuple[str, ...]
    # How many of the image's pixel columns each frame covers; 0 when not known.
    step: float = 0.0

    @cached_property
    def _index(self) -> dict[str, int]:
        return _index_of(self.alphabet)

    @cached_property
    def _log(self) -> Frames:
        return np.log(np.maximum(self.probabilities, _FLOOR)).astype(np.float32)

    def can_spell(self, text: str) -> bool:
        """Whether every character of ``text`` is in the recogniser's alphabet."""
        return all(c in self._index for c in text)

    def log_likelihood(self, text: str) -> float:
        """log P(text | frames): the CTC forward sum over all alignments; ``-inf`` when
        the text has a character outside the alphabet or is too long for the frames."""
        if not self.can_spell(text):
            return -math.inf
        labels = [self._index[c] for c in text]
        frames = self._log
        steps = frames.shape[0]
        # The label sequence with blanks between and around: b l1 b l2 b ... b.
        extended = [BLANK]
        for label in labels:
            extended += [label, BLANK]
        size = len(extended)
        if steps == 0:
            return 0.0 if not labels else -math.inf
        alpha = np.full(size, -np.inf)
        alpha[0] = frames[0, BLANK]
        if size > 1:
            alpha[1] = frames[0, extended[1]]
        ext = np.array(extended)
        # Where a state may also be reached by skipping the blank before it.
        skip = np.zeros(size, dtype=bool)
        skip[2:] = (ext[2:] != BLANK) & (ext[2:] != ext[:-2])
        for t in range(1, steps):
            stay = alpha
            step = np.concatenate(([-np.inf], alpha[:-1]))
            jump = np.where(skip, np.concatenate(([-np.inf, -np.inf], alpha[:-2])), -np.inf)
            alpha = np.logaddexp(np.logaddexp(stay, step), jump) + frames[t, ext]
        total = np.logaddexp(alpha[-1], alpha[-2]) if size > 1 else alpha[-1]
        return float(total)

    @cached_property
    def _greedy(self) -> list[tuple[int, int]]:
        """The frames the recogniser's own answer takes a character from, with its index
        in the alphabet: each frame's likeliest, repeats and blanks dropped."""
        best = self.probabilities.argmax(axis=1)
        return [
            (t, int(best[t]))
            for t in range(best.size)
            if best[t] != BLANK and (t == 0 or best[t] != best[t - 1])
        ]

    def greedy(self) -> tuple[str, float]:
        """The recogniser's own answer: each frame's likeliest character, repeats and
        blanks dropped, with the mean probability of the characters kept."""
        if not self._greedy:
            return "", 0.0
        text = "".join(self.alphabet[c] for _, c in self._greedy)
        return text, float(np.mean([self.probabilities[t, c] for t, c in self._greedy]))

    def greedy_columns(self) -> list[tuple[str, float]]:
        """``greedy``'s characters, each with the image column at the middle of the
        frame that gave it (``step`` must be known)."""
        return [(self.alphabet[c], (t + 0.5) * self.step) for t, c in self._greedy]

    def chance_near(self, column: float, reach: float) -> float | None:
        """The probability the recogniser gave the character of its own answer
        (``greedy``) nearest the image's ``column``, ``reach`` columns away at most; None
        where none is (``step`` must be known)."""
        near = [
            (abs((t + 0.5) * self.step - column), float(self.probabilities[t, c]))
            for t, c in self._greedy
        ]
        near = [n for n in near if n[0] <= reach]
        return min(near)[1] if near else None

    def best_texts(
        self,
        allowed: Iterable[str] | None = None,
        width: int = 8,
        grammar: regex.Pattern[str] | None = None,
    ) -> list[tuple[str, float]]:
        """The likeliest texts of the allowed characters, best first, with their log
        likelihoods (prefix beam search; at most ``width``).

        Args:
            allowed: the characters a reading may hold; the whole alphabet when None.
            width: how many prefixes to keep at each frame.
            grammar: what a whole reading must match, spaces left out (an NI number is
                two letters, six digits and A-D): a prefix that cannot grow into a match
                is dropped as soon as it is made, and only full matches are returned.
        """
        if allowed is None:
            columns = np.arange(1, len(self.alphabet))
        else:
            columns = np.array(sorted({self._index[c] for c in allowed if c in self._index}))
        if columns.size == 0:
            return []
        frames = self._log
        # Each prefix: (log P ending in blank, log P ending in its last character).
        beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}
        per_frame = min(width, columns.size)
        for t in range(frames.shape[0]):
            row = frames[t]
            # Only the likeliest few characters of the frame extend a prefix.
            likely = [
                int(c)
                for c in columns[np.argsort(row[columns])[-per_frame:]]
                if row[c] >= _UNLIKELY
            ]
            grown: dict[tuple[int, ...], list[float]] = {}
            for prefix, (ends_blank, ends_char) in beams.items():
                whole = _logaddexp(ends_blank, ends_char)
                _add(grown, prefix, whole + float(row[BLANK]), -math.inf)
                if prefix:
                    # The same character held over another frame.
                    _add(grown, prefix, -math.inf, ends_char + float(row[prefix[-1]]))
                for label in likely:
                    longer = (*prefix, label)
                    if grammar is not None and not self._may_grow(grammar, longer):
                        continue
                    # A repeated character needs a blank between.
                    before = ends_blank if prefix and prefix[-1] == label else whole
                    _add(grown, longer, -math.inf, before + float(row[label]))
            ranked = sorted(grown.items(), key=lambda kv: -_logaddexp(*kv[1]))[:width]
            beams = {prefix: (v[0], v[1]) for prefix, v in ranked}
        out = [
            ("".join(self.alphabet[i] for i in prefix), _logaddexp(b, c))
            for prefix, (b, c) in beams.items()
        ]
        if grammar is not None:
            out = [(text, ll) for text, ll in out if grammar.fullmatch(text.replace(" ", ""))]
        return sorted(out, key=lambda item: -item[1])

    def _may_grow(self, grammar: regex.Pattern[str], prefix: tuple[int, ...]) -> bool:
        text = "".join(self.alphabet[i] for i in prefix).replace(" ", "")
        return grammar.fullmatch(text, partial=True) is not None


@functools.lru_cache(maxsize=4)
def _index_of(alphabet: tuple[str, ...]) -> dict[str, int]:
    """Each character's column: built once per alphabet (PP-OCRv6 has 18,710), not
    once per line read."""
    return {c: i for i, c in enumerate(alphabet) if i != BLANK}


def _add(
    grown: dict[tuple[int, ...], list[float]],
    prefix: tuple[int, ...],
    ends_blank: float,
    ends_char: float,
) -> None:
    """Add the probability of more alignments to a prefix of the next frame's beam."""
    entry = grown.setdefault(prefix, [-math.inf, -math.inf])
    entry[0] = _logaddexp(entry[0], ends_blank)
    entry[1] = _logaddexp(entry[1], ends_char)


def _logaddexp(a: float, b: float) -> float:
    """log(e^a + e^b) for two floats: the beam search's inner loop, where numpy's
    version costs more in the call than in the sum."""
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


__all__ = ["BLANK", "CharFrames"]

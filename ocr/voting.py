"""Two engines on one value: when to ask the second, and how their readings vote.

Tesseract is trained on print; PP-OCRv6 (``rapidocr``) reads handwriting better but costs
about four times as much per crop. So the second engine reads a crop only when it looks
handwritten (``looks_printed`` says no) or Tesseract is unsure of it: typed pages keep
their speed. Its reading and Tesseract's are shown to the caseworker
(``ExtractedField.readings``).

The value is not a vote of two whole readings but weighed (``weigh_readings``): the
recogniser's frames (``ocr.ctc``) score every candidate reading, its own under the
field's alphabet and grammar and Tesseract's, character by character, so a letter one
engine dropped and the other kept can win; the value is sure only when no reading of
another value comes close. ``vote`` remains for a crop whose frames cannot be had (a
block of several lines).
"""

from __future__ import annotations

import difflib
import functools
import string
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import regex

from config.form_template import FieldSpec, FieldType
from domain.forms import EngineReading
from ocr import lexicon
from ocr.ctc import CharFrames
from ocr.email_domains import domain_proposals, has_common_domain
from ocr.engines import GrayImage
from ocr.struck import ONE_LINE
from ocr.ticks import DOUBTFUL
from ocr.validators import normalise

# Below this confidence of Tesseract's first reading, the second engine reads the crop
# whatever it looks like.
CONSULT_BELOW = 0.98
# Confidence of a value both engines read alike when the second is at least
# ``_SURE_SECOND`` sure. On the tuning designs' handwriting (seeds 1-99; DkgHandwriting,
# Breip, Humor Sans) 135 of 139 such values were right, against 82 of 89 (seeds 1-45)
# when the second engine was less sure: those are left doubtful. Of the four, two were
# spaced differently and one doubted by Tesseract's own readings: both now doubtful.
AGREEMENT_CONFIDENCE = 0.99
_SURE_SECOND = 0.95
# Print: at least this share of neighbouring letters sit on the same baseline with the
# same height, to a pixel. On the tuning designs typed crops had 0.75 (median) and 91%
# were at 0.3 or more; handwritten ones 0.0, and 14% at 0.3 or more.
_PRINTED_SHARE = 0.3
# A gap between handwritten words is at least this share of the letters' height: on the
# tuning designs of session 20 (seeds 3000000-29, both sets of hands, 58 values of two
# words and 241 of one, measured as ``Gaps.one_word`` measures), the narrowest gap between
# words was 0.37 (between one word's letters, gaps reached 0.6, once 0.82, so a wider
# gap does not tell a space). Pieces of ink smaller than this share of it each way are
# points and commas, not letters.
_WORD_GAP = 0.35
_LETTER_PART = 0.3
# A space stands at a gap narrower than a word's (``_WORD_GAP``) only where that is at
# least this share of the value's widest gap: on the tuning designs of session 22
# (seeds 3400000-29, both sets of hands), the narrowest gap between words stood at 0.30
# of the letters' height, 0.65 of its value's widest (a joined hand's 231 Mill Street);
# three spaces read between a word's letters stood at 0.12-0.30 of the letters'
# height, 0.16-0.38 of the widest (64 Brid ge Close, 187 VIC TORIA WAY, NAT ALIE
# HANNAH). The widest may hold a comma, so a gap under half of it can be a word's:
# FLAT 21, 217 CHESTNUT AVENUE's words stand 0.55 and 0.48 of the letters' height
# apart, its widest gap (with the comma) 1.24.
_LETTER_GAP_SHARE = 0.45
# A space the engines disagree on stands only at a gap at least this share of the
# letters' height: on the same designs, of 27 spaces the engines disagreed on, the 22
# between a word's letters stood at gaps of 0.51 of the letters' height or less
# (NOTTINGHAM, read by one engine as NOT TI N G HAM in a hand that spaces its capitals
# wide), and 4 of the 5 between words at 0.59 or more. The fifth, 0.28 in a joined
# hand's ALBERT MARC, was not in the value; spaces are only ever taken out.
_DISPUTED_GAP = 0.55


@dataclass(frozen=True)
class Reading:
    """One engine's reading of a crop: its name, the text, and how sure it is."""

    engine: str
    text: str
    confidence: float


def looks_printed(crop: GrayImage, dpi: int) -> bool | None:
    """Whether a value's crop looks typed rather than handwritten; None when it holds too
    few letters to tell.

    Typed letters stand on one baseline at one height; a hand's wander by a pixel or
    more from letter to letter (baseline, size). Joined writing makes few, wide pieces.
    """
    _, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    pieces = [s for s in stats[1:count] if s[cv2.CC_STAT_HEIGHT] >= dpi // 30 and s[4] > 6]
    if len(pieces) < 3:
        return None
    tallest = max(int(s[cv2.CC_STAT_HEIGHT]) for s in pieces)
    # Letters, not punctuation; in reading order.
    letters = sorted(
        (s for s in pieces if s[cv2.CC_STAT_HEIGHT] >= 0.5 * tallest),
        key=lambda s: int(s[cv2.CC_STAT_LEFT]),
    )
    if len(letters) < 3:
        return None
    bottoms = np.array([s[cv2.CC_STAT_TOP] + s[cv2.CC_STAT_HEIGHT] for s in letters], float)
    heights = np.array([s[cv2.CC_STAT_HEIGHT] for s in letters], float)
    alike = (np.abs(np.diff(bottoms)) <= 1) & (np.abs(np.diff(heights)) <= 1)
    return bool(alike.mean() >= _PRINTED_SHARE)


@dataclass(frozen=True)
class Gaps:
    """The blank columns between a handwritten value's letters (points and commas
    aside), as (first, past the last) columns of its crop, and the letters' height."""

    height: float
    spans: tuple[tuple[int, int], ...]

    @property
    def widest(self) -> int:
        return max((b - a for a, b in self.spans), default=0)

    @property
    def one_word(self) -> bool:
        """Whether the value is a single word: no gap between its letters is as wide as
        ``_WORD_GAP`` of their height. A hand that spaces its capitals evenly leaves gaps
        the engines take for spaces ("HO W ART H"); the gap between two words is
        wider."""
        return self.widest < _WORD_GAP * self.height

    def widest_near(self, column: float, reach: float) -> int:
        """The widest gap that comes within ``reach`` of ``column``."""
        return max(
            (b - a for a, b in self.spans if a < column + reach and b > column - reach),
            default=0,
        )


def gaps_between_letters(crop: GrayImage) -> Gaps | None:
    """The gaps between the letters of a handwritten value's crop (``Gaps``); None when
    it holds fewer than two letters or more than one line."""
    _, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    heights = stats[1:count, cv2.CC_STAT_HEIGHT]
    if heights.size == 0:
        return None
    tall = heights >= 0.5 * heights.max()
    height = float(np.median(heights[tall]))
    big = (stats[:, cv2.CC_STAT_HEIGHT] >= _LETTER_PART * height) | (
        stats[:, cv2.CC_STAT_WIDTH] >= _LETTER_PART * height
    )
    big[0] = False  # the paper
    if int(big.sum()) < 2:
        return None
    rows = np.flatnonzero(big[labels].any(axis=1))
    if rows[-1] - rows[0] > ONE_LINE * height:
        return None
    inked = big[labels].any(axis=0)
    columns = np.flatnonzero(inked)
    first, last = int(columns[0]), int(columns[-1]) + 1
    spans = [(first + a, first + b) for a, b in _blank_runs(inked[first:last])]
    return Gaps(height, tuple(spans))


def _blank_runs(inked: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate(([1], inked.astype(np.int8), [1]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def spaces_between_words(
    value: str, columns: Sequence[tuple[str, float]], gaps: Gaps, readings: Sequence[str]
) -> str:
    """``value`` without the spaces that its writing shows no gap between words for: a
    hand that spaces its letters wide leaves gaps the engines take for spaces ("NAT
    ALIE HANNAH", "NOT TI N G HAM"). A space is left out where the widest gap near it
    (half the letters' height either way) is

    * narrower than a word's gap (``_WORD_GAP`` of the letters' height) and than
      ``_LETTER_GAP_SHARE`` of the value's widest gap; or
    * narrower than ``_DISPUTED_GAP`` of the letters' height, and the engines'
      ``readings`` disagree on it (both read ``value``'s letters, one with the space
      and one without).

    A space stands midway between the letters either side of it, placed by the
    recogniser's ``columns`` (``CharFrames.greedy_columns``) of them, matched to
    ``value``'s letters. The recogniser gives a letter's column only roughly (a frame
    or two late), so a space is matched to the gaps near it rather than measured in
    one. A space beside a letter the recogniser did not read stands. Values with no gap
    as wide as a word's are ``Gaps.one_word``'s."""
    spaces = [i for i, char in enumerate(value) if char == " "]
    if not spaces or gaps.one_word:
        return value
    letters = value.replace(" ", "").upper()
    agreeing = [_space_places(r) for r in readings if r.replace(" ", "").upper() == letters]
    kept = set(spaces)
    for index, column in _space_columns(value, spaces, columns).items():
        place = index - spaces.index(index)  # the letters before it
        disputed = len({place in places for places in agreeing}) == 2
        near = gaps.widest_near(column, gaps.height / 2)
        narrow = near < _WORD_GAP * gaps.height and near < _LETTER_GAP_SHARE * gaps.widest
        if narrow or (disputed and near < _DISPUTED_GAP * gaps.height):
            kept.discard(index)
    return "".join(char for i, char in enumerate(value) if char != " " or i in kept)


def _space_columns(
    value: str, spaces: list[int], columns: Sequence[tuple[str, float]]
) -> dict[int, float]:
    """Each space of ``value`` (by index) midway between the recogniser's ``columns`` of
    the letters either side of it, where it read both."""
    read = [(char, column) for char, column in columns if not char.isspace()]
    placed: dict[int, float] = {}  # a letter of value, spaces left out: its column
    matcher = difflib.SequenceMatcher(
        None, value.replace(" ", "").upper(), "".join(c for c, _ in read).upper(), autojunk=False
    )
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            placed[block.a + offset] = read[block.b + offset][1]
    where: dict[int, float] = {}
    for before, index in enumerate(spaces):
        letters = index - before
        left, right = placed.get(letters - 1), placed.get(letters)
        if left is not None and right is not None:
            where[index] = (left + right) / 2
    return where


def _space_places(text: str) -> set[int]:
    """Where a text's spaces stand: how many letters come before each."""
    places, letters = set(), 0
    for char in text:
        if char == " ":
            places.add(letters)
        else:
            letters += 1
    return places


def worth_a_second_reading(confidence: float, printed: bool | None) -> bool:
    """Whether the second engine should read a crop: Tesseract is unsure of it, or it
    does not look printed (``looks_printed``)."""
    return confidence < CONSULT_BELOW or printed is False


def vote(
    spec: FieldSpec,
    first: Reading,
    second: Reading,
    value: object,
    error: str | None,
    confidence: float,
    *,
    handwritten: bool = False,
) -> tuple[object, str | None, float, list[EngineReading]]:
    """Two engines' readings of one crop: agreeing, the value is surer than either says;
    disagreeing, a person decides, shown both.

    Agreeing, the value is sure when the second engine is (``_SURE_SECOND``) and the
    first engine had no doubt of its own (its readings of the crop agreed, nothing odd
    in the value); else, on handwriting, still doubtful, and on print as sure as the first
    engine alone said. The same letters spaced differently are a
    disagreement.

    Disagreeing, the value shown first is the second engine's on handwriting (with
    PP-OCRv4, on the tuning designs, it was right in 47 of the 56 disagreements where
    one engine was; PP-OCRv6 reads handwriting better still) and the first's on print
    (Tesseract's home ground), unless only the other's passes its check.

    Args:
        spec: the field.
        first: the first engine's reading, whose normalised value is ``value``
            (``error`` when it fails its check) at ``confidence``, after the first
            engine's own doubts.
        second: the second engine's reading.
        handwritten: the crop does not look printed.

    Returns:
        The value, its error, its confidence and both readings.
    """
    readings = [
        EngineReading(engine=r.engine, text=r.text, confidence=round(r.confidence, 3))
        for r in (first, second)
    ]
    if second.text.strip():
        second_value, second_error = normalise(spec, second.text)
    else:
        second_value, second_error = None, "nothing read"
    if second_value == value and second_error == error:
        if error is None and confidence > DOUBTFUL and second.confidence >= _SURE_SECOND:
            return value, error, max(confidence, AGREEMENT_CONFIDENCE), readings
        if not handwritten:
            # Print agreed on by a less sure second engine: as sure as Tesseract alone was
            # (its home ground; typed forms were tuned on that), never less.
            return value, error, confidence, readings
        return value, error, min(confidence, DOUBTFUL), readings
    if _spaceless(second_value) == _spaceless(value) and second_error == error:
        # The same letters spaced differently ("RE ADING"): either engine may have split
        # a handwritten word, or joined two.
        if handwritten:
            value = second_value
        return value, error, min(confidence, DOUBTFUL), readings
    take_second = second_error is None and (handwritten or error is not None)
    if take_second:
        value, error = second_value, None
    return value, error, min(confidence, DOUBTFUL), readings


# --- reading with the recogniser's frames ----------------------------------------------

_UPPER, _LOWER, _DIGITS = string.ascii_uppercase, string.ascii_lowercase, string.digits
# A written £ is often read as L, E or f (PP-OCRv4 had no £ at all; PP-OCRv6 has, but
# still reads some that way): an amount may hold one of them only in front
# (``_as_written``).
_POUND_LOOKALIKES = "£LEf"
# The characters a value of each type can hold: the recogniser may not spend a frame on
# anything else (a Chinese character, a letter O in an amount).
_ALPHABETS: dict[FieldType, str] = {
    FieldType.MONEY: _DIGITS + ".," + _POUND_LOOKALIKES,
    FieldType.INTEGER: _DIGITS,
    FieldType.NI_NUMBER: _UPPER + _DIGITS + " ",
    FieldType.POSTCODE: _UPPER + _DIGITS + " ",
    FieldType.PHONE: _DIGITS + " +()",
    FieldType.DATE: _DIGITS + _UPPER + _LOWER + " /.-,",
    FieldType.EMAIL: _UPPER + _LOWER + _DIGITS + ".@_-+",
    FieldType.NAME: _UPPER + _LOWER + " '-",
    FieldType.TEXT: _UPPER + _LOWER + _DIGITS + " ',-./&()",
}
# What a whole value of the type looks like, spaces left out: the shapes people write
# (an amount has no pence or two figures of them; a postcode's inward part is a digit
# and two letters). Readings are also made without it, so a value it misses can still
# be read; ``normalise`` has the last word either way.
_GRAMMARS: dict[FieldType, regex.Pattern[str]] = {
    FieldType.MONEY: regex.compile(
        rf"[{_POUND_LOOKALIKES}]?[0-9]{{1,3}}(?:,?[0-9]{{3}})*(?:\.[0-9]{{2}})?"
    ),
    FieldType.INTEGER: regex.compile(r"[0-9]+"),
    FieldType.NI_NUMBER: regex.compile(r"[A-Z]{2}[0-9]{6}[A-D]"),
    FieldType.POSTCODE: regex.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}"),
    FieldType.PHONE: regex.compile(r"(?:\+44|0)[0-9()]{9,12}"),
    FieldType.DATE: regex.compile(
        r"[0-9]{1,2}[/.\-]?[0-9]{1,2}[/.\-]?(?:[0-9]{2}|[0-9]{4})"
        r"|[0-9]{1,2}(?:st|nd|rd|th)?(?:of)?[A-Za-z]{3,9}[.,]?(?:[0-9]{2}|[0-9]{4})",
        regex.IGNORECASE,
    ),
    FieldType.EMAIL: regex.compile(r"[A-Za-z0-9._+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"),
}
_BEAM = 8
# How much less likely (log) a comb's reading is when it holds more or fewer
# characters than the comb has cells written in.
_COMB_LENGTH_WEIGHT = 3.0
# Values written in figures, whose points and spaces Tesseract's reading does not decide.
_FIGURES = frozenset({FieldType.MONEY, FieldType.INTEGER, FieldType.PHONE})
# How much likelier (natural log) a weighed value's best reading must be than any
# reading of another value for the value to pass without a person. With PP-OCRv6, on
# the tuning designs' handwriting (seeds 1-24, every face), values 9 or more ahead were
# right 121 times in 121; 8 or more, 150 in 151 (99.3%, short of the 99.5% a sure field
# must be right); 7 or more, 182 in 184. Every other value goes to review.
SURE_MARGIN = 9.0
# The same for a crop that looks printed (on a typed page, or a hand as regular as
# type): there the engines' mistakes are less alike. On the tuning designs' typed
# copies no weighed value 4 or more ahead was wrong (73 at 7 or more); on their
# handwritten pages, crops that looked printed were right 17 times in 17 at 7 or more
# (21 in 21 at 6).
SURE_MARGIN_PRINTED = 7.0
# How much Tesseract's reading counts for, in the recogniser's log likelihood, when it
# is one of the readings weighed (on the tuning designs 2 chose best of 0 to 4).
_TESSERACT_WEIGHT = 2.0
# How much likelier (natural log) an e-mail address is when it ends in a common
# provider's domain (``email_domains``): most people write one. On the tuning designs'
# handwriting (seeds 1-24, two copies, 20 addresses) 7 were read right without it, 10 at
# 3 and 11 at 5, none wrongly sure at either; the smaller is kept, as the domains of
# the tuning addresses are all on the list.
_COMMON_DOMAIN_WEIGHT = 3.0
# The word list as a prior (``ocr.lexicon``) on a reading of words: how much likelier
# (natural log) it is when all its words are on the list (``lexicon.all_words``), and
# from how many of the likeliest readings words one slip from the list are proposed.
# All or nothing, so that readings of a name off the list weigh alike whatever their
# letters or spaces. Counted word by word instead (each word off the list 6 less), the
# tuning designs (seeds 4600000-23) gained more, but on names off the list (Yoruba
# ones, seeds 4800000-23) it ran two of them together (TITILAYOOBANIJESU) and lost 11
# values; letter by letter, it left letters out of them (BBTUNDE). bench/RESULTS.md,
# session 26.
_ALL_WORDS_WEIGHT = 6.0
_LEXICON_FROM = 3
_IN_WORDS = frozenset({FieldType.NAME, FieldType.TEXT})
# How much less likely (natural log) a reading is with a letter left out that a stroke
# may strike out (``_struck_readings``) than with it: less, so that the word list alone
# makes it the value.
_STRUCK_COST = 1.0


@dataclass(frozen=True)
class Weighed:
    """The value read with the recogniser's frames, and what it rests on."""

    text: str
    value: object
    # log likelihood of the best reading over the best reading of another value
    margin: float
    # Tesseract read the same value.
    tesseract_agrees: bool


def weigh_readings(
    spec: FieldSpec,
    tesseract: list[str],
    frames: CharFrames,
    *,
    characters: int | None = None,
    maybe_struck_at: Sequence[tuple[int, int]] = (),
    handwritten: bool = True,
) -> Weighed | None:
    """The likeliest valid value of a crop, given what PP-OCRv6 saw and Tesseract read.

    The readings weighed: the recogniser's best under the field's alphabet, with and
    without the field's grammar (``_GRAMMARS``, and the template's own pattern), and
    Tesseract's readings; each scored by how likely the recogniser's frames make it,
    those that are Tesseract's first reading (``_alike``) given ``_TESSERACT_WEIGHT``
    more. Readings that fail the field's check (``normalise``) are not values. In a
    comb, where ``characters`` cells are written in, readings of that many characters
    are also made, and readings of another length count ``_COMB_LENGTH_WEIGHT`` less.
    A handwritten name's or text's readings are weighed with the word list too (print is
    Tesseract's home ground, and its own decoder has the list): readings one slip
    from words on it are proposed (``ocr.lexicon.proposals``), and a reading all of
    whose words are on it counts ``_ALL_WORDS_WEIGHT`` more (a word of three letters
    only where the reading is spaced as an engine read it: two in five strings of three
    letters are on the list); where a stroke may strike a letter out (``maybe_struck_at``,
    columns of the crop), the reading with a letter under it left out is weighed as
    well (``_struck_readings``). The list only chooses: the margin is the frames' (and
    Tesseract's), so a value it chose against a likelier reading is doubtful. None when
    no reading is valid.
    """
    alphabet = _ALPHABETS.get(spec.type)
    grammars: list[regex.Pattern[str] | None] = [None]
    if spec.type in _GRAMMARS:
        grammars.append(_GRAMMARS[spec.type])
    if spec.pattern and (own := _pattern_grammar(spec.pattern)) is not None:
        grammars.append(own)
    if characters:
        grammars.append(regex.compile(rf"[^ ]{{{characters}}}"))
    likelihoods: dict[str, float] = {}
    for grammar in grammars:
        for text, likelihood in frames.best_texts(alphabet, _BEAM, grammar):
            likelihoods[text] = max(likelihoods.get(text, -np.inf), likelihood)
    first = _spelled(tesseract[0], alphabet) if tesseract else ""
    for text in tesseract:
        spelled = _spelled(text, alphabet)
        if spelled and spelled not in likelihoods:
            likelihoods[spelled] = frames.log_likelihood(spelled)
    email = spec.type is FieldType.EMAIL
    if email:
        for text in list(likelihoods):
            for proposal in domain_proposals(text):
                if proposal not in likelihoods:
                    likelihoods[proposal] = frames.log_likelihood(proposal)
    in_words = handwritten and spec.type in _IN_WORDS
    if in_words and maybe_struck_at:
        for text, likelihood in _struck_readings(frames, maybe_struck_at, alphabet):
            likelihoods[text] = max(likelihoods.get(text, -np.inf), likelihood)
    if in_words:
        best = sorted(likelihoods, key=lambda t: likelihoods[t] + _TESSERACT_WEIGHT * (t == first))
        for text in best[-_LEXICON_FROM:]:
            for proposal in lexicon.proposals(text):
                if proposal not in likelihoods:
                    likelihoods[proposal] = frames.log_likelihood(proposal)
    # A word of three letters counts as one in a reading spaced as an engine read it.
    spaced_as_read = (
        {lexicon.word_count(t) for t in (first, frames.greedy()[0]) if t} if in_words else set()
    )
    scored = []
    for text, likelihood in likelihoods.items():
        value, error = normalise(spec, _as_written(spec, text))
        valid = error is None and value is not None
        score = likelihood + _TESSERACT_WEIGHT * _alike(spec, text, first)
        if email and has_common_domain(text):
            score += _COMMON_DOMAIN_WEIGHT
        if characters and len(text.replace(" ", "")) != characters:
            score -= _COMB_LENGTH_WEIGHT
        prior = 0.0
        if in_words:
            short = lexicon.word_count(text) in spaced_as_read
            prior = _ALL_WORDS_WEIGHT if lexicon.all_words(text, short=short) else 0.0
        scored.append((score + prior, text, repr(value) if valid else None, score))
    scored.sort(reverse=True)
    chosen = next((s for s in scored if s[2] is not None), None)
    if chosen is None:
        return None
    _, text, key, score = chosen
    # Any other reading, valid or not, competes: one valid reading among likelier
    # invalid ones is no sure value. The word list chooses, but makes no value surer: a
    # word on it that the frames find less likely than a rival is doubtful.
    rival = max((s[3] for s in scored if s[2] != key), default=-np.inf)
    value = normalise(spec, _as_written(spec, text)).value
    agrees = bool(first) and normalise(spec, _as_written(spec, first)).value == value
    return Weighed(text, value, float(score - rival), agrees)


def _struck_readings(
    frames: CharFrames, struck_at: Sequence[tuple[int, int]], alphabet: str | None
) -> list[tuple[str, float]]:
    """The recogniser's reading with a letter left out that a stroke that may strike one
    out crosses (``struck_at``, columns of the crop), one reading for each such letter
    that leaves words on the list (``lexicon.all_words``): the letter is there, struck,
    so each is as likely as the whole reading, less ``_STRUCK_COST``. Only the list tells
    which letter was struck, if any: a reading it does not know is not made."""
    text, _ = frames.greedy()
    if not frames.step or not text:
        return []
    likelihood = frames.log_likelihood(text) - _STRUCK_COST
    found = []
    for i, (char, column) in enumerate(frames.greedy_columns()):
        left = text[:i] + text[i + 1 :]
        # Only a letter goes, and nothing else: a reading with a character the field
        # cannot hold (K1M, a name's I read as a figure) would lose that too.
        under = char.isalpha() and any(a <= column < b for a, b in struck_at)
        if under and _spelled(left, alphabet) == left and lexicon.all_words(left):
            found.append((left, likelihood))
    return found


@functools.cache
def _pattern_grammar(pattern: str) -> regex.Pattern[str] | None:
    """A template's pattern as a grammar for readings, anchors and all (they hold under
    partial matching); None for one the ``regex`` module reads differently from ``re``,
    which checked it: ``normalise`` still applies it to the value."""
    try:
        return regex.compile(pattern)
    except regex.error:
        return None


def _as_written(spec: FieldSpec, text: str) -> str:
    """What the recogniser's reading stands for: in an amount, a £ read as a letter."""
    if spec.type is FieldType.MONEY and text[:1] in _POUND_LOOKALIKES:
        return "£" + text[1:]
    return text


def weighed_confidence(weighed: Weighed, *, handwritten: bool = True) -> float:
    """How sure a weighed value is: sure (``AGREEMENT_CONFIDENCE``) only when every other
    reading is at least ``SURE_MARGIN`` less likely (``SURE_MARGIN_PRINTED`` for a crop
    that looks printed); else doubtful, for a person."""
    needed = SURE_MARGIN if handwritten else SURE_MARGIN_PRINTED
    return AGREEMENT_CONFIDENCE if weighed.margin >= needed else DOUBTFUL


def _alike(spec: FieldSpec, text: str, tesseract: str) -> bool:
    """Whether a reading is Tesseract's: in figures, by its figures alone (Tesseract
    drops the point of a handwritten amount as often as it keeps it; the frames decide
    it); in words, letter for letter and space for space (it splits words better than
    PP-OCRv6, which runs them together)."""
    if spec.type in _FIGURES:
        return _characters(text) == _characters(tesseract)
    return text == tesseract


def _characters(text: str) -> str:
    return "".join(c for c in text if c.isalnum())


def _spelled(text: str, alphabet: str | None) -> str:
    """``text`` with only the characters of ``alphabet`` (the recogniser cannot score
    others, and the field cannot hold them), spaces collapsed."""
    if alphabet is not None:
        text = "".join(c for c in text if c in alphabet)
    return " ".join(text.split())


def _spaceless(value: object) -> object:
    return "".join(value.split()) if isinstance(value, str) else value


__all__ = [
    "AGREEMENT_CONFIDENCE",
    "CONSULT_BELOW",
    "SURE_MARGIN",
    "SURE_MARGIN_PRINTED",
    "Reading",
    "Weighed",
    "looks_printed",
    "vote",
    "weigh_readings",
    "weighed_confidence",
    "worth_a_second_reading",
]

"""The words of English, names and places among them, as a prior for reading a hand.

A person reads a handwritten NVRSE as NURSE and SHEFIFIELD as SHEFFIELD because they know
the words; the recogniser knows only letters. Tesseract's English model carries a word
list (some 166,000 words once case is set aside: common words, first names, surnames,
places), which its own decoder uses on print. ``words`` unpacks it from the installed
``eng.traineddata`` with Tesseract's own tools (nothing is downloaded); ``proposals``
gives the readings one slip away from words on it, for the recogniser's frames to weigh
(``voting.weigh_readings``), where a name not on the list is still read as written.
"""

from __future__ import annotations

import functools
import re
import shutil
import string
import subprocess
import tempfile
from pathlib import Path

import structlog

from ocr.engines import LANGUAGE, OcrEngineError, tessdata_dir

log = structlog.get_logger(__name__)

_WORD = re.compile(r"[A-Za-z]+")
_JOINED_WORD = re.compile(r"[A-Za-z]+(?:[-'’][A-Za-z]+)*")
# Words shorter than this are left as read, and tell nothing: nearly every pair of
# letters is on the list (and two in five threes), so too many of them are one slip
# from another (an initial, OF and ON).
_SHORTEST = 3
# At most this many words read apart are taken for one (a hand that spaces its letters
# wide is read as LI V ER PO O L).
_JOINED = 6


@functools.cache
def words() -> frozenset[str]:
    """The word list of Tesseract's English model, in capitals, letters only; empty (and
    said once in the log) where Tesseract's tools or model are not installed."""
    try:
        model = Path(tessdata_dir()) / f"{LANGUAGE}.traineddata"
    except OcrEngineError:
        model = None
    unpack, listing = shutil.which("combine_tessdata"), shutil.which("dawg2wordlist")
    if model is None or unpack is None or listing is None:
        log.warning("word list not found: handwriting is read without it")
        return frozenset()
    with tempfile.TemporaryDirectory() as folder:
        parts = [str(Path(folder) / f"{LANGUAGE}.lstm-{p}") for p in ("word-dawg", "unicharset")]
        out = Path(folder) / "words.txt"
        try:
            subprocess.run(
                [unpack, "-e", str(model), *parts], capture_output=True, timeout=60, check=True
            )
            subprocess.run(
                [listing, parts[1], parts[0], str(out)], capture_output=True, timeout=60, check=True
            )
            text = out.read_text(encoding="utf-8", errors="replace")
        except (OSError, subprocess.SubprocessError):
            log.warning("word list could not be unpacked: handwriting is read without it")
            return frozenset()
    return frozenset(w.upper() for w in text.split() if w.isascii() and w.isalpha())


def word_count(text: str) -> int:
    """How many words a reading holds (runs of letters, hyphens and apostrophes within)."""
    return len(_JOINED_WORD.findall(text))


def all_words(text: str, *, short: bool = True) -> bool:
    """Whether a reading is words on the list, every one: it has a word, and each of its
    words is on the list and at least ``_SHORTEST`` letters long. A word joined by
    hyphens or apostrophes (SMITH-JONES, O'BRIEN) is one: on the list when its letters
    run together are, or when each part of two letters or more is (a hyphen read in a
    misreading, MOOR-JE, makes no word of it). Any word too short to tell, or off the
    list, and the reading is not: two names off the list are neither likelier run
    together nor apart. With ``short`` False, words of ``_SHORTEST`` letters are too
    short too (two in five strings of three letters are on the list: a name off it split
    into three letters and a word, OLU BODE, would pass)."""
    lexicon = words()
    found = _JOINED_WORD.findall(text)
    shortest = _SHORTEST if short else _SHORTEST + 1
    return bool(found and lexicon) and all(_known(w, lexicon, shortest) for w in found)


def _known(word: str, lexicon: frozenset[str], shortest: int) -> bool:
    letters = re.sub(r"[-'’]", "", word).upper()
    if len(letters) < shortest:
        return False
    if letters in lexicon:
        return True
    parts = [p.upper() for p in re.split(r"[-'’]", word) if len(p) > 1]
    return len(parts) > 1 and all(len(p) >= shortest and p in lexicon for p in parts)


def proposals(text: str) -> set[str]:
    """Readings of ``text`` one slip from the list: a word not on it with one letter
    changed, left out or put in, or up to six words read apart that are one on it. The
    rest of the reading, its case and spacing stay as read."""
    lexicon = words()
    if not lexicon:
        return set()
    found: set[str] = set()
    spans = [m.span() for m in _WORD.finditer(text)]
    for a, b in spans:
        word = text[a:b]
        if len(word) < _SHORTEST or word.upper() in lexicon:
            continue
        for near in _one_slip(word, lexicon):
            found.add(text[:a] + near + text[b:])
    for first in range(len(spans)):
        # Words in a row, with only spaces between them, that are one on it.
        for last in range(first + 1, min(first + _JOINED, len(spans))):
            (a, _), (_, d) = spans[first], spans[last]
            if not text[a:d].replace(" ", "").isalpha():
                break
            joined = text[a:d].replace(" ", "")
            if joined.upper() in lexicon:
                found.add(text[:a] + joined + text[d:])
    return found


def _one_slip(word: str, lexicon: frozenset[str]) -> set[str]:
    """The words on the list one slip from ``word``, each letter put in or changed in the
    case of the letter it stands by."""
    upper = word.upper()
    near: set[str] = set()
    for i in range(len(word) + 1):
        beside = word[min(i, len(word) - 1)]
        for letter in string.ascii_uppercase:
            written = letter if beside.isupper() else letter.lower()
            if i < len(word) and upper[:i] + letter + upper[i + 1 :] in lexicon:
                near.add(word[:i] + written + word[i + 1 :])
            if upper[:i] + letter + upper[i:] in lexicon:
                near.add(word[:i] + written + word[i:])
        if i < len(word) and upper[:i] + upper[i + 1 :] in lexicon:
            near.add(word[:i] + word[i + 1 :])
    near.discard(word)
    return near


__all__ = ["all_words", "proposals", "word_count", "words"]

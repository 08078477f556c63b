"""Handwriting read with the words of English as a prior: Tesseract's own word list,
unpacked from the installed model; readings one slip from a word on it proposed; the
recogniser's frames weighing them, so a word the list lacks is still read as written,
and the list choosing a value never making it surer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.form_template import FieldSpec, FieldType
from ocr import lexicon
from ocr.ctc import CharFrames
from ocr.voting import SURE_MARGIN, _struck_readings, weigh_readings
from tests.ocr.recogniser_frames import spaced_frames

ALPHABET = ("<blank>", *"ADEHLNORSUVXZ ")
OCCUPATION = FieldSpec(name="occupation", label="Occupation", type=FieldType.TEXT)
SURNAME = FieldSpec(name="surname", label="Surname", type=FieldType.NAME)


def frames(*rows: dict[str, float]) -> CharFrames:
    """Frames ten columns apart, a blank between each character's."""
    return spaced_frames(ALPHABET, rows, step=10.0)


def sure(text: str) -> list[dict[str, float]]:
    return [{c: 0.95} for c in text]


def test_the_word_list_holds_words_names_and_places_not_misreadings() -> None:
    words = lexicon.words()
    assert len(words) > 100_000
    assert {"NURSE", "WAREHOUSE", "SHEFFIELD", "HOLLAND", "KATHERINE", "UPON"} <= words
    assert not {"NVRSE", "WARENOUSE", "SHEFIFIELD", "HOULLAND", "VPON"} & words


def test_readings_one_slip_from_a_word_are_proposed_in_the_reading_s_case() -> None:
    assert "NURSE" in lexicon.proposals("NVRSE")  # a letter changed
    assert "NEWCASTLE UPON TYNE" in lexicon.proposals("NEWCASTLE VPON TYNE")
    assert "Retired" in lexicon.proposals("Retined")  # in small letters
    assert "SHEFFIELD" in lexicon.proposals("SHEFIFIELD")  # one left out
    assert "WAREHOUSE" in lexicon.proposals("WAREHOSE")  # one put in
    # a word read apart, in up to six pieces; the figures before it stay
    assert "LIVERPOOL" in lexicon.proposals("LI V ER PO O L")
    assert "47 ERDINGTON ROAD" in lexicon.proposals("47 E RDI NGTON ROAD")
    # A word on the list, and a word too short to tell, are read as they are.
    assert lexicon.proposals("NURSE") == set()
    assert lexicon.proposals("QZ") == set()


def test_a_reading_is_words_when_every_word_is_on_the_list() -> None:
    assert lexicon.all_words("NURSE")
    assert lexicon.all_words("115 WINDSOR COURT")  # figures are no words
    assert not lexicon.all_words("NVRSE")
    assert not lexicon.all_words("NEWCASTLE VPON TYNE")
    assert not lexicon.all_words("123")
    # joined words are one; a hyphen read in a misreading makes no word of it
    assert lexicon.all_words("SMITH-JONES")
    assert lexicon.all_words("O'BRIEN")
    assert not lexicon.all_words("MOOR-JE")
    # a word too short to tell, an initial among them, makes no reading words
    assert not lexicon.all_words("JAN ET")
    assert not lexicon.all_words("LI V ER PO O L")
    assert not lexicon.all_words("JOHN A SMITH")
    # so names off the list weigh alike, run together or apart
    assert not lexicon.all_words("TITILAYO OBANIJESU")
    assert not lexicon.all_words("TITILAYOOBANIJESU")
    # three letters are enough for a word (KIM, LEE), but not where the reading is
    # spaced otherwise than the engines read it: a name off the list split in two
    assert lexicon.all_words("KATE LEE")
    assert lexicon.all_words("OLU BODE")
    assert not lexicon.all_words("OLU BODE", short=False)
    assert lexicon.all_words("KATE SMITH", short=False)
    assert lexicon.word_count("115 SMITH-JONES COURT") == 2


@pytest.fixture
def no_tesseract_tools(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(lexicon.shutil, "which", lambda name: None)
    lexicon.words.cache_clear()
    yield
    lexicon.words.cache_clear()


@pytest.mark.usefixtures("no_tesseract_tools")
def test_without_tesseract_s_tools_handwriting_is_read_without_the_list() -> None:
    assert lexicon.words() == frozenset()
    assert lexicon.proposals("NVRSE") == set()
    assert not lexicon.all_words("NURSE")
    seen = frames(*sure("N"), {"V": 0.6, "U": 0.35}, *sure("RSE"))
    weighed = weigh_readings(OCCUPATION, [], seen)
    assert weighed is not None
    assert weighed.text == "NVRSE"


def test_a_letter_the_frames_doubt_is_read_as_the_word_and_stays_doubtful() -> None:
    # NURSE written with a U the recogniser took, not surely, for a V
    seen = frames(*sure("N"), {"V": 0.6, "U": 0.35}, *sure("RSE"))
    weighed = weigh_readings(OCCUPATION, ["NVRSE"], seen)
    assert weighed is not None
    assert weighed.value == "NURSE"
    assert weighed.margin < 0  # chosen by the list against the frames: for a person
    # Print is Tesseract's home ground (its decoder has the list): read as print, no list.
    printed = weigh_readings(OCCUPATION, ["NVRSE"], seen, handwritten=False)
    assert printed is not None
    assert printed.value == "NVRSE"


def test_a_name_the_list_lacks_is_read_as_written() -> None:
    # HOLLANDZ is on no list; HOLLAND is a letter away, but the Z is plainly written
    seen = frames(*[{c: 0.9999} for c in "HOLLANDZ"])
    weighed = weigh_readings(SURNAME, ["HOLLANDZ"], seen)
    assert weighed is not None
    assert weighed.value == "HOLLANDZ"
    assert weighed.margin >= SURE_MARGIN


def test_a_letter_a_stroke_may_strike_out_is_left_out_where_that_makes_a_word() -> None:
    """HOLLAND with a U written and struck after the O: the recogniser reads every letter
    surely, so only where the stroke lies, and the word list, tell which one goes."""
    seen = frames(*[{c: 0.9999} for c in "HOULLAND"])  # the U's frame is at column 45
    assert weigh_readings(SURNAME, ["HOULLAND"], seen).value == "HOULLAND"  # type: ignore[union-attr]
    weighed = weigh_readings(SURNAME, ["HOULLAND"], seen, maybe_struck_at=[(38, 52)])
    assert weighed is not None
    assert weighed.value == "HOLLAND"
    assert weighed.margin < 0
    # A stroke over letters whose leaving out makes no word changes nothing.
    weighed = weigh_readings(SURNAME, ["HOULLAND"], seen, maybe_struck_at=[(60, 80)])
    assert weighed is not None
    assert weighed.value == "HOULLAND"


def test_no_more_than_the_letter_under_the_stroke_is_left_out() -> None:
    """KIM, its I read as a figure, which a name cannot hold: leaving out the K under the
    stroke must not leave the figure out too, making an initial of it (M)."""
    alphabet = ("<blank>", "K", "I", "M", "1")
    seen = spaced_frames(alphabet, [{"K": 0.95}, {"1": 0.8, "I": 0.15}, {"M": 0.95}], step=10.0)
    weighed = weigh_readings(SURNAME, [], seen, maybe_struck_at=[(0, 10)])
    assert weighed is not None
    assert weighed.value == "KIM"


def test_only_readings_the_word_list_knows_are_made_with_a_letter_left_out() -> None:
    """A stroke over the U and the L after it: of HOLLAND (the U left out) and HOULAND
    (an L), only the word is weighed. The stroke alone does not say which letter went,
    and a name off the list gets no reading with one of its letters taken out."""
    seen = frames(*sure("HOULLAND"))  # the U at column 45, the first L at 65
    assert [text for text, _ in _struck_readings(seen, [(40, 70)], None)] == ["HOLLAND"]
    seen = frames(*sure("ZOUXAN"))
    assert _struck_readings(seen, [(40, 70)], None) == []

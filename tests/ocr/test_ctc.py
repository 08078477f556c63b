"""The recogniser's frames: likelihoods of given texts, readings under an alphabet and a
grammar, and the value weighed from them and Tesseract's reading."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import regex

from config.form_template import FieldSpec, FieldType
from ocr import lexicon
from ocr.ctc import BLANK, CharFrames
from ocr.voting import SURE_MARGIN, SURE_MARGIN_PRINTED, weigh_readings, weighed_confidence

ALPHABET = ("<blank>", "A", "B", "I", "L", "S", "W", "E", "1", "2", "5", "0", ".", " ")


def frames(*rows: dict[str, float]) -> CharFrames:
    """Frames from each frame's probabilities by character; the rest is the blank's."""
    table = np.zeros((len(rows), len(ALPHABET)), np.float32)
    for t, row in enumerate(rows):
        for char, p in row.items():
            table[t, ALPHABET.index(char)] = p
        table[t, BLANK] = 1.0 - sum(row.values())
    return CharFrames(table, ALPHABET)


def brute_force(frames_: CharFrames, text: str) -> float:
    """P(text): the sum over every path of frames that collapses to it."""
    total = 0.0
    steps, size = frames_.probabilities.shape
    for path in itertools.product(range(size), repeat=steps):
        collapsed = [c for i, c in enumerate(path) if c != BLANK and (i == 0 or c != path[i - 1])]
        if "".join(ALPHABET[c] for c in collapsed) == text:
            total += math.prod(float(frames_.probabilities[t, c]) for t, c in enumerate(path))
    return total


def test_the_likelihood_of_a_text_sums_every_alignment() -> None:
    seen = frames({"A": 0.6, "B": 0.2}, {"A": 0.3, "I": 0.3}, {"B": 0.7}, {"I": 0.1})
    for text in ("AB", "AAB", "B", "AIB", "ABI", "IA"):
        want = brute_force(seen, text)
        got = seen.log_likelihood(text)
        assert math.isclose(math.exp(got), want, rel_tol=1e-4, abs_tol=1e-9), text
    assert seen.log_likelihood("AZ") == -math.inf  # Z is not in the alphabet


def test_the_chance_of_the_character_read_nearest_a_column_is_told() -> None:
    # Frames 10 columns wide: A read at frame 0 (column 5), B at frame 2 (column 25).
    seen = CharFrames(frames({"A": 0.9}, {}, {"B": 0.6}).probabilities, ALPHABET, step=10.0)
    assert seen.chance_near(24.0, 8.0) == pytest.approx(0.6)
    assert seen.chance_near(8.0, 8.0) == pytest.approx(0.9)
    assert seen.chance_near(15.0, 4.0) is None  # nothing read within reach


def test_the_best_texts_are_the_likeliest_and_keep_to_the_alphabet() -> None:
    seen = frames({"S": 0.5, "5": 0.4}, {}, {"0": 0.5, "A": 0.4})
    best = seen.best_texts()
    assert best[0][0] == "S0"
    assert math.isclose(best[0][1], seen.log_likelihood("S0"), abs_tol=1e-4)
    digits = seen.best_texts("0125")
    assert digits[0][0] == "50"
    assert all(set(text) <= set("0125") for text, _ in digits)
    assert seen.greedy()[0] == "S0"


def test_a_grammar_keeps_only_readings_that_match_it() -> None:
    # "AB" then digits: the likeliest first character is a digit, which the grammar forbids.
    seen = frames({"1": 0.6, "A": 0.3}, {"B": 0.8}, {"2": 0.5, "S": 0.4}, {"5": 0.9})
    shape = regex.compile(r"[A-Z]{2}[0-9]{2}")
    best = seen.best_texts(grammar=shape)
    assert best
    assert best[0][0] == "AB25"
    assert all(shape.fullmatch(text) for text, _ in best)


def _spec(kind: FieldType) -> FieldSpec:
    return FieldSpec(name="value", label="Value", type=kind)


def test_tesseract_s_reading_wins_where_the_recogniser_hardly_saw_a_letter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The recogniser all but missed the I of LEWIS (a lone stroke); Tesseract read it.
    # (LEWIS is on the word list, which would choose it too: here there is none.)
    monkeypatch.setattr(lexicon, "words", frozenset)
    seen = frames({"L": 0.9}, {"E": 0.9}, {"W": 0.9}, {"I": 0.2}, {"S": 0.9})
    weighed = weigh_readings(_spec(FieldType.NAME), ["LEWIS"], seen)
    assert weighed is not None
    assert weighed.value == "LEWIS"
    assert weighed.tesseract_agrees
    alone = weigh_readings(_spec(FieldType.NAME), [], seen)
    assert alone is not None
    assert alone.value == "LEWS"


def test_money_is_read_with_digits_only_and_a_near_rival_leaves_it_doubtful() -> None:
    # The second figure could be an S or a 5: money has no S.
    seen = frames({"1": 0.95}, {"S": 0.5, "5": 0.45}, {".": 0.9}, {"5": 0.95}, {"0": 0.95})
    weighed = weigh_readings(_spec(FieldType.MONEY), ["1S.50"], seen)
    assert weighed is not None
    assert str(weighed.value) == "15.50"
    # 15.50 against 1.50 (the 5 dropped): close, so a person looks.
    assert weighed.margin < SURE_MARGIN
    assert weighed_confidence(weighed) < 0.9


def test_a_clear_reading_is_sure() -> None:
    seen = frames({"2": 0.9999}, {}, {"5": 0.9999}, {}, {"0": 0.9999})
    weighed = weigh_readings(_spec(FieldType.INTEGER), ["250"], seen)
    assert weighed is not None
    assert weighed.value == 250
    assert weighed.margin >= SURE_MARGIN
    assert weighed_confidence(weighed) > 0.95


def test_a_crop_that_looks_printed_is_sure_at_a_smaller_margin() -> None:
    seen = frames({"2": 0.999}, {}, {"5": 0.999}, {}, {"0": 0.999})
    weighed = weigh_readings(_spec(FieldType.INTEGER), ["250"], seen)
    assert weighed is not None
    assert SURE_MARGIN_PRINTED <= weighed.margin < SURE_MARGIN
    assert weighed_confidence(weighed, handwritten=False) > 0.95
    assert weighed_confidence(weighed) < 0.9


@pytest.mark.parametrize("kind", [FieldType.NI_NUMBER, FieldType.POSTCODE])
def test_nothing_valid_is_no_value(kind: FieldType) -> None:
    seen = frames({"1": 0.9}, {"2": 0.9})
    assert weigh_readings(_spec(kind), ["12"], seen) is None


def test_an_amount_keeps_the_point_tesseract_lost_and_a_pound_is_not_a_one() -> None:
    # "£92.00": the recogniser saw the £ as an L and the point faintly; Tesseract read
    # the figures and lost the point.
    alphabet = ("<blank>", "L", "1", "9", "2", "0", ".")
    table = np.zeros((6, len(alphabet)), np.float32)
    for t, (char, p) in enumerate(
        [("L", 0.7), ("9", 0.95), ("2", 0.95), (".", 0.6), ("0", 0.95), ("0", 0.95)]
    ):
        table[t, alphabet.index(char)] = p
        if char == "L":
            table[t, alphabet.index("1")] = 0.25
        table[t, 0] = 1.0 - table[t].sum()
    seen = CharFrames(table, alphabet)
    weighed = weigh_readings(_spec(FieldType.MONEY), ["£9200"], seen)
    assert weighed is not None
    assert str(weighed.value) == "92.00"
    assert weighed.tesseract_agrees is False


def test_a_comb_s_reading_has_as_many_characters_as_cells_written_in() -> None:
    # "ES250" in five cells; the recogniser all but lost the 2, and reads "ES50".
    seen = frames({"E": 0.95}, {}, {"S": 0.95}, {}, {"2": 0.3}, {}, {"5": 0.95}, {}, {"0": 0.95})
    free = weigh_readings(_spec(FieldType.TEXT), [], seen)
    assert free is not None
    assert free.value == "ES50"
    combed = weigh_readings(_spec(FieldType.TEXT), [], seen, characters=5)
    assert combed is not None
    assert combed.value == "ES250"


def test_a_template_pattern_is_a_grammar_anchors_and_escapes_and_all() -> None:
    # A pattern ending in an escaped dollar once lost its backslash with its anchor.
    spec = FieldSpec(name="value", label="Value", type=FieldType.TEXT, pattern=r"^[0-9]{2}\$$")
    seen = frames({"2": 0.9}, {"5": 0.5, "S": 0.45}, {})
    assert weigh_readings(spec, ["2S"], seen) is None  # nothing valid: no dollar read
    coded = FieldSpec(name="value", label="Value", type=FieldType.TEXT, pattern=r"^[0-9]{2}$")
    weighed = weigh_readings(coded, ["2S"], seen)
    assert weighed is not None
    assert weighed.value == "25"  # the pattern kept the S out

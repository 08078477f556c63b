"""Which form is this? Template recognition from the templates' ``match`` rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rapidfuzz import fuzz

from config.form_template import FormTemplate
from domain.errors import UnknownFormError
from domain.forms import Word
from ocr import layout
from ocr.layout import comparable

# Lowest fuzzy score (0..100) for a phrase to count as present on the page.
PHRASE_MIN_SCORE = 85.0
# Recognising a form by its field labels instead: at least this many labels on page 1,
# this share of them found, and this lead in share over the next template.
_MIN_LABELS = 5
_LABELS_FOUND = 0.8
_LABELS_LEAD = 0.3


def identify_form(
    words: Iterable[Word], templates: Mapping[str, FormTemplate], *, where: str | None = None
) -> FormTemplate:
    """The template whose ``match`` rules the page's words satisfy best.

    Every ``all_text`` phrase must appear, and one ``any_text`` phrase when there are
    any (case-insensitive, fuzzy: OCR drops and swaps letters). Templates without
    rules are never picked this way.

    Args:
        words: the words of the first page (or pages).
        templates: candidates by form type.
        where: the file (and page), for the error.

    Raises:
        UnknownFormError: no template's rules are met.
    """
    text = comparable(" ".join(w.text for w in words))
    best: tuple[float, FormTemplate] | None = None
    for template in templates.values():
        score = match_score(text, template)
        if score is not None and (best is None or score > best[0]):
            best = (score, template)
    if best is None:
        by_labels = _by_labels(words, templates)
        if by_labels is not None:
            return by_labels
        known = ", ".join(sorted(templates)) or "none loaded"
        raise UnknownFormError(f"the document matches no form template ({known})", where=where)
    return best[1]


def _by_labels(words: Iterable[Word], templates: Mapping[str, FormTemplate]) -> FormTemplate | None:
    """The template whose field labels the page carries, when its match rules failed.

    The rules' phrases are often small print (a subtitle) that a blurred phone photo
    loses while the larger labels survive. Only a clear winner counts: nearly all of
    its labels found, and far more of them than of any other template's (forms share
    labels such as "Surname").
    """
    candidates = layout.phrases(list(words))
    shares = []
    for template in templates.values():
        labels = [s.label for s in template.fields if s.label and s.page == 1]
        if len(labels) < _MIN_LABELS:
            continue
        found = sum(layout.find_label(label, candidates) is not None for label in labels)
        shares.append((found / len(labels), template))
    shares.sort(key=lambda pair: pair[0], reverse=True)
    if not shares or shares[0][0] < _LABELS_FOUND:
        return None
    if len(shares) > 1 and shares[0][0] - shares[1][0] < _LABELS_LEAD:
        return None
    return shares[0][1]


def match_score(text: str, template: FormTemplate) -> float | None:
    """How well page text meets a template's rules (0..100), or None when it does not."""
    rules = template.match
    if not rules.all_text and not rules.any_text:
        return None
    all_scores = [_presence(text, phrase) for phrase in rules.all_text]
    if any(score < PHRASE_MIN_SCORE for score in all_scores):
        return None
    any_scores = [_presence(text, phrase) for phrase in rules.any_text]
    if any_scores and max(any_scores) < PHRASE_MIN_SCORE:
        return None
    scores = all_scores + ([max(any_scores)] if any_scores else [])
    # More rules met is stronger evidence; break ties towards the more specific template.
    return sum(scores) / len(scores) + len(scores) * 0.01


def _presence(text: str, phrase: str) -> float:
    target = comparable(phrase)
    if not target:
        return 0.0
    if target in text:
        return 100.0
    return float(fuzz.partial_ratio(target, text))

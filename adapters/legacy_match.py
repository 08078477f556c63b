"""Finding the person on a form among a legacy system's records (a template's ``legacy_match``).

``LegacyMatcher(spec, source, kinds=...).match(values)`` answers with a
``domain.digitise.LegacyMatchResult``: the best candidates with a score 0..1 and a score
per field, and an outcome, matched, ambiguous or none. It works in two steps:

1. **Exact keys.** When the form gives every ``keys`` field (the National Insurance
   number), the rows with that key are looked up (``LegacySource.lookup``), trying the
   spellings old systems store (``AB123456C``, ``AB 12 34 56 C``, no suffix). A key hit
   scores 1.0, unless the ``fuzzy`` fields contradict it: when they score below
   ``CONTRADICTION`` (0.5) on the hit row, the number was probably misread into someone
   else's, or written on the wrong form, so the hit only scores what its fuzzy fields score
   and the fuzzy search runs as if there had been no hit. One trusted hit is a match; two
   (the same key on two records) are ambiguous.
2. **Blocking and scoring.** Otherwise candidates are fetched in a few small blocks
   (``LegacySource.candidates``, each at most ``block_limit`` rows): the full postcode;
   the whole surname within the postcode's outward code; the surname's initial with the
   year of birth; the date of birth; the date of birth with day and month swapped. A
   person whose postcode was misread is still found by the other blocks, and so on: one
   or two OCR errors rarely hide a record from every block. Each candidate is scored on
   the ``fuzzy`` fields and on the key fields the form gives (a key that looked up
   nobody: one misread digit costs little, someone else's number a lot, so a form whose
   NI number is another record's goes to a person):

   ============  ======  ================================================================
   field         weight  similarity
   ============  ======  ================================================================
   NI number     0.40    1 exact; 0.8 one character wrong; else 0
   date          0.30    1 exact; 0.85 day and month swapped; 0.8 one digit wrong;
                         0.75 two adjacent digits transposed; else 0
   surname       0.30    rapidfuzz on folded names (case, accents, hyphens and apostrophes
                         folded): the best of ratio, token-sort ratio and 0.95 x token-set
                         ratio (a forename given with a middle name still scores 0.95)
   other names   0.20    as surname
   postcode      0.20    1 exact; 0.8 one character wrong; 0.7 one character dropped or
                         added; 0.6 same sector (outward code and first inward digit);
                         0.5 same outward code; else 0
   other text    0.10    1 equal when folded; else rapidfuzz ratio
   ============  ======  ================================================================

   The score is the weighted mean over the fields the form gives. A field the legacy
   record leaves empty counts 0.5 (no evidence either way). A fuzzy match needs fields
   of summed weight ``MIN_EVIDENCE`` (0.5: surname and date of birth, or surname and
   postcode...); a surname alone matches nobody.

Outcome: **matched** when the best scores at least ``MATCH_SCORE`` (0.85) and leads the
runner-up by ``MARGIN`` (0.08); **ambiguous** when it scores that much but another comes
within the margin (twins on a form without a forename); **none** below, with the near
misses (at least ``NEAR_MISS``, 0.6) kept as candidates for the caseworker.

Legacy values are normalised the way the form's are before any comparison: padded CHAR
trimmed, dates from ``date``/``datetime`` objects, integers like 19800131 or text in the
layout the table uses (sniffed once from a sample: ``1980-01-31``, ``19800131``,
``31/01/1980``), postcodes with or without their space, in any case. Blocking values are
written in that layout too, so they hit the source's indexes.

Nothing here logs a value: names, dates, NI numbers and postcodes are personal data.

``find_plan(system_id, plans_dir)`` finds the migration plan whose ``system.id`` is a
template's ``legacy_match.source``; ``open_plan_source(plan)`` opens its source with the
plan's ``where`` filters (a record the plan leaves out is not matched either).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from rapidfuzz import fuzz
from rapidfuzz.distance import Hamming, Levenshtein

from config.form_template import FieldType, FormTemplate, LegacyMatch
from config.migration_plan import MigrationPlan, load_plan
from domain.digitise import LegacyCandidate, LegacyMatchOutcome, LegacyMatchResult
from domain.errors import PlanError
from legacy_connectors import InYear, LegacySource, Row, StartsWith, TableInfo, open_source

MATCH_SCORE = 0.85
"""The least score of a match."""
MARGIN = 0.08
"""How far a match must lead the runner-up; closer than this, the match is ambiguous."""
NEAR_MISS = 0.60
"""Candidates of a form with no match that are still shown to the caseworker."""
CONTRADICTION = 0.50
"""A key hit whose fuzzy fields score below this is not trusted."""
MIN_EVIDENCE = 0.50
"""The summed weight of the fields a fuzzy match must rest on."""
BLOCK_LIMIT = 200
"""Rows fetched per block."""
SHOWN = 3
"""Candidates kept in a result."""
SAMPLE_ROWS = 50
"""Rows read once per table to learn how it writes dates, postcodes and names."""


class Kind(StrEnum):
    """How a field's values are compared."""

    NAME = "name"
    DATE = "date"
    POSTCODE = "postcode"
    NI_NUMBER = "ni_number"
    TEXT = "text"


_KIND_OF_TYPE = {
    FieldType.NAME: Kind.NAME,
    FieldType.DATE: Kind.DATE,
    FieldType.POSTCODE: Kind.POSTCODE,
    FieldType.NI_NUMBER: Kind.NI_NUMBER,
}
_WEIGHTS = {Kind.NI_NUMBER: 0.40, Kind.DATE: 0.30, Kind.POSTCODE: 0.20, Kind.TEXT: 0.10}
SURNAME_WEIGHT = 0.30
OTHER_NAME_WEIGHT = 0.20
_SURNAME_WORDS = ("surname", "last_name", "family_name")


def field_kinds(template: FormTemplate) -> dict[str, Kind]:
    """How each field of a template is compared, from its type."""
    return {spec.name: _KIND_OF_TYPE.get(spec.type, Kind.TEXT) for spec in template.fields}


def _is_surname(name: str) -> bool:
    return any(word in name for word in _SURNAME_WORDS)


def field_weight(name: str, kind: Kind) -> float:
    """A field's weight in a candidate's score (see the module's table)."""
    if kind is Kind.NAME:
        return SURNAME_WEIGHT if _is_surname(name) else OTHER_NAME_WEIGHT
    return _WEIGHTS[kind]


# --- normalising values, the form's and the legacy system's alike -----------------------


def fold_name(value: Any) -> str:
    """A name for comparison: accents dropped, case folded, apostrophes removed, hyphens
    and other punctuation read as spaces (``O'Brien-Smith`` -> ``obrien smith``)."""
    text = unicodedata.normalize("NFKD", str(value))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"['’`]", "", text)
    return " ".join(re.sub(r"[^\w]+|[\d_]+", " ", text).split())


def compact_code(value: Any) -> str:
    """A postcode or NI number without spaces or punctuation, in capitals."""
    return re.sub(r"[^A-Za-z0-9]", "", str(value)).upper()


def postcode_display(value: Any) -> str:
    """A postcode written as the form writes it: ``SW1A 1AA``."""
    compact = compact_code(value)
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) >= 5 else compact


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_YEAR_FIRST = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})$")


class DateLayout(StrEnum):
    """How a text column writes its dates."""

    ISO = "iso"  # 1980-01-31, 1980/01/31
    YMD8 = "ymd8"  # 19800131
    DMY8 = "dmy8"  # 31011980
    DMY = "dmy"  # 31/01/1980, 31-01-80, 31.01.1980


def _date_or_none(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _full_year(year: int) -> int:
    # Two-digit years of birth: the last hundred years.
    if year >= 100:
        return year
    now = date.today().year
    return 2000 + year if 2000 + year <= now else 1900 + year


def parse_date(value: Any, layout: DateLayout | None = None) -> date | None:
    """A date from whatever the form or the legacy system holds, or None.

    Args:
        value: a ``date``, a ``datetime``, an integer like 19800131, or text in one of the
            ``DateLayout`` layouts (day first where it is ambiguous, as in the UK).
        layout: how the column is known to write dates; tried first.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        text = str(int(value))
    else:
        text = str(value).strip()
    if re.fullmatch(r"\d{8}", text):
        ymd = _date_or_none(int(text[:4]), int(text[4:6]), int(text[6:]))
        dmy = _date_or_none(int(text[4:]), int(text[2:4]), int(text[:2]))
        if layout is DateLayout.DMY8:
            return dmy or ymd
        if layout is DateLayout.YMD8 or (ymd is not None and 1800 <= ymd.year <= 2100):
            return ymd or dmy
        return dmy
    if found := _ISO.match(text) or _YEAR_FIRST.match(text):
        return _date_or_none(int(found[1]), int(found[2]), int(found[3]))
    if found := _DAY_FIRST.match(text):
        return _date_or_none(_full_year(int(found[3])), int(found[2]), int(found[1]))
    return None


def _sniff_date_layout(values: Sequence[str]) -> DateLayout | None:
    counts: dict[DateLayout, int] = {}
    for text in values:
        text = text.strip()
        if _ISO.match(text) or _YEAR_FIRST.match(text):
            layout = DateLayout.ISO
        elif _DAY_FIRST.match(text):
            layout = DateLayout.DMY
        elif re.fullmatch(r"\d{8}", text):
            plausible = 1800 <= int(text[:4]) <= 2100 and _date_or_none(
                int(text[:4]), int(text[4:6]), int(text[6:])
            )
            layout = DateLayout.YMD8 if plausible else DateLayout.DMY8
        else:
            continue
        counts[layout] = counts.get(layout, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


def _write_date(value: date, layout: DateLayout | None) -> str:
    if layout is DateLayout.YMD8:
        return value.strftime("%Y%m%d")
    if layout is DateLayout.DMY8:
        return value.strftime("%d%m%Y")
    if layout is DateLayout.DMY:
        return value.strftime("%d/%m/%Y")
    return value.isoformat()


# --- similarity ------------------------------------------------------------------------


def name_similarity(a: Any, b: Any) -> float | None:
    """0..1 for two names (see the module's table); None when either is empty."""
    fa, fb = fold_name(a), fold_name(b)
    if not fa or not fb:
        return None
    if fa == fb:
        return 1.0
    best = max(
        fuzz.ratio(fa, fb), fuzz.token_sort_ratio(fa, fb), 0.95 * fuzz.token_set_ratio(fa, fb)
    )
    return round(best / 100, 4)


def date_similarity(a: date | None, b: date | None) -> float | None:
    """0..1 for two dates: exact, day and month swapped, one digit wrong, two adjacent
    digits transposed; None when either is missing."""
    if a is None or b is None:
        return None
    if a == b:
        return 1.0
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return 0.85
    sa, sb = a.strftime("%Y%m%d"), b.strftime("%Y%m%d")
    differ = [i for i in range(8) if sa[i] != sb[i]]
    if len(differ) == 1:
        return 0.8
    if (
        len(differ) == 2
        and differ[1] == differ[0] + 1
        and sa[differ[0]] == sb[differ[1]]
        and sa[differ[1]] == sb[differ[0]]
    ):
        return 0.75
    return 0.0


def postcode_similarity(a: Any, b: Any) -> float | None:
    """0..1 for two postcodes, with partial credit for the same sector or outward code."""
    ca, cb = compact_code(a or ""), compact_code(b or "")
    if not ca or not cb:
        return None
    if ca == cb:
        return 1.0
    if len(ca) == len(cb) and Hamming.distance(ca, cb) == 1:
        return 0.8
    if Levenshtein.distance(ca, cb) == 1:
        return 0.7
    if len(ca) >= 5 and len(cb) >= 5 and ca[:-3] == cb[:-3]:
        return 0.6 if ca[-3] == cb[-3] else 0.5
    return 0.0


def code_similarity(a: Any, b: Any) -> float | None:
    """0..1 for two NI numbers: exact, or one character wrong."""
    ca, cb = compact_code(a or ""), compact_code(b or "")
    if not ca or not cb:
        return None
    if ca == cb:
        return 1.0
    return 0.8 if len(ca) == len(cb) and Hamming.distance(ca, cb) == 1 else 0.0


def text_similarity(a: Any, b: Any) -> float | None:
    fa, fb = " ".join(str(a or "").casefold().split()), " ".join(str(b or "").casefold().split())
    if not fa or not fb:
        return None
    return 1.0 if fa == fb else round(fuzz.ratio(fa, fb) / 100, 4)


# --- the legacy table ------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnLayout:
    """How a legacy column stores its values, learnt from its type and a sample."""

    type: str = "text"
    date_layout: DateLayout | None = None
    postcode_spaced: bool = True
    case: str = "mixed"  # upper | lower | mixed

    def write_text(self, text: str) -> str:
        if self.case == "upper":
            return text.upper()
        if self.case == "lower":
            return text.lower()
        return text


def _type_of(values: Sequence[Any]) -> str | None:
    """The portable type (``legacy_connectors.base.Column``) of a column's sampled values."""
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int):
            return "integer"
        if isinstance(value, Decimal):
            return "decimal"
        if isinstance(value, float):
            return "float"
        if isinstance(value, datetime):
            return "datetime"
        if isinstance(value, date):
            return "date"
        if isinstance(value, bytes):
            return "bytes"
        return "text"
    return None


def _case_of(values: Sequence[str]) -> str:
    letters = [v for v in values if any(c.isalpha() for c in v)]
    if letters and all(v == v.upper() for v in letters):
        return "upper"
    if letters and all(v == v.lower() for v in letters):
        return "lower"
    return "mixed"


@dataclass
class _Form:
    """The form's values, parsed once per match."""

    values: dict[str, Any]
    dates: dict[str, date | None] = field(default_factory=dict)


@dataclass
class _Scored:
    row: Row
    score: float
    via: str
    field_scores: dict[str, float | None]
    contradicted: bool = False
    form: Mapping[str, Any] = field(default_factory=dict)


class LegacyMatcher:
    """Matches forms of one template against one open legacy source.

    Keep one per template and source: the first match learns how the table writes its
    values (one small sample) and later ones reuse it.

    Args:
        spec: the template's ``legacy_match`` section.
        source: the open legacy source of the system ``spec.source`` names.
        kinds: how each form field is compared (``field_kinds(template)``); a field not
            named is compared as text.
        key_columns: the legacy table's key, shown to the caseworker as the record's
            reference (default: the key the table declares, else the ``keys`` columns).
        block_limit: rows fetched per block.
    """

    def __init__(
        self,
        spec: LegacyMatch,
        source: LegacySource,
        *,
        kinds: Mapping[str, Kind] | None = None,
        key_columns: Sequence[str] | None = None,
        block_limit: int = BLOCK_LIMIT,
    ) -> None:
        self.spec = spec
        self.source = source
        self.kinds = dict(kinds or {})
        self.block_limit = block_limit
        self._key_columns = list(key_columns) if key_columns else None
        self._shown_key: list[str] = []
        self._layouts: dict[str, ColumnLayout] | None = None

    # --- the table's layout ---------------------------------------------------------

    def _kind(self, name: str) -> Kind:
        return self.kinds.get(name, Kind.TEXT)

    def _columns(self) -> dict[str, str]:
        """Every legacy column the spec names -> the form field it holds."""
        return {column: name for name, column in {**self.spec.keys, **self.spec.fuzzy}.items()}

    def layouts(self) -> dict[str, ColumnLayout]:
        """How each column the spec names stores its values (learnt once, from a sample).

        Column types come from the sample's values; ``describe()`` (which reflects every
        table of a database) is asked only when the sample cannot tell.

        Raises:
            PlanError: the source has no such table or column.
        """
        if self._layouts is not None:
            return self._layouts
        sample = self.source.candidates(self.spec.table, {}, limit=SAMPLE_ROWS)
        info: TableInfo | None = None
        layouts: dict[str, ColumnLayout] = {}
        for column, name in self._columns().items():
            kind = _type_of([row.get(column) for row in sample])
            if kind is None or (sample and column not in sample[0]):
                info = info or self._table_info()
                try:
                    kind = info.column(column).type
                except KeyError:
                    raise PlanError(
                        f"legacy_match: table {self.spec.table!r} of {self.spec.source} has "
                        f"no column {column!r}"
                    ) from None
            texts = [v for v in (row.get(column) for row in sample) if isinstance(v, str)]
            layouts[column] = ColumnLayout(
                type=kind,
                date_layout=_sniff_date_layout(texts) if self._kind(name) is Kind.DATE else None,
                postcode_spaced=not texts or sum(" " in v.strip() for v in texts) * 2 >= len(texts),
                case=_case_of(texts),
            )
        if self._key_columns is None and info is not None and info.key:
            self._key_columns = list(info.key)
        # Without a key from the plan (or the table), a record is shown by its ``keys``.
        self._shown_key = self._key_columns or list(self.spec.keys.values())
        self._layouts = layouts
        return layouts

    def _table_info(self) -> TableInfo:
        for info in self.source.describe():
            if info.name == self.spec.table:
                return info
        raise PlanError(f"legacy_match: {self.spec.source} has no table {self.spec.table!r}")

    # --- matching -------------------------------------------------------------------

    def match(self, values: Mapping[str, Any]) -> LegacyMatchResult:
        """Find the person whose form values are ``values`` (normalised, by field name).

        Args:
            values: the form's values; give key fields only when they are valid (a key is
                trusted as read), fuzzy fields whenever they hold something.

        Raises:
            PlanError: the source has no such table or column.
            DatabaseError: the legacy database cannot be reached (retryable).
        """
        layouts = self.layouts()
        form = _Form({k: v for k, v in values.items() if v not in (None, "")})
        for name in {**self.spec.keys, **self.spec.fuzzy}:
            if self._kind(name) is Kind.DATE:
                form.dates[name] = parse_date(form.values.get(name), DateLayout.ISO)

        scored: dict[tuple[Any, ...], _Scored] = {}
        key_detail = ""
        if self.spec.keys and all(name in form.values for name in self.spec.keys):
            hits = self._key_hits(form, layouts)
            trusted = [h for h in hits if not h.contradicted]
            if trusted:
                return self._result(trusted)
            for hit in hits:
                scored[self._row_id(hit.row)] = hit
            if hits:
                key_detail = "; the key matches a record whose other details disagree"

        evidence = sum(
            field_weight(name, self._kind(name)) for name in self.spec.fuzzy if name in form.values
        )
        if evidence < MIN_EVIDENCE:
            if scored:
                return self._result(list(scored.values()), extra=key_detail)
            return self._none(
                [],
                "the form gives too little to match on (a surname with a date of birth or "
                "a postcode at least)",
            )
        for row in self._blocked_rows(form, layouts):
            row_id = self._row_id(row)
            if row_id not in scored:
                score, field_scores = self._fuzzy_score(form, row, layouts, with_keys=True)
                scored[row_id] = _Scored(row, score, "fuzzy", field_scores, form=form.values)
        return self._result(list(scored.values()), extra=key_detail)

    def _key_hits(self, form: _Form, layouts: Mapping[str, ColumnLayout]) -> list[_Scored]:
        columns = list(self.spec.keys.values())
        per_column = [
            self._variants(self._kind(name), form.values[name], layouts[column])
            for name, column in self.spec.keys.items()
        ]
        keys = list(itertools.islice(itertools.product(*per_column), 32))
        found = self.source.lookup(self.spec.table, columns, keys)
        hits: dict[tuple[Any, ...], _Scored] = {}
        for row in found.values():
            fuzzy, field_scores = self._fuzzy_score(form, row, layouts, with_keys=False)
            compared = any(s is not None for s in field_scores.values())
            contradicted = compared and fuzzy < CONTRADICTION
            field_scores.update(dict.fromkeys(self.spec.keys, 1.0))
            hits[self._row_id(row)] = _Scored(
                row, fuzzy if contradicted else 1.0, "key", field_scores, contradicted, form.values
            )
        return list(hits.values())

    def _variants(self, kind: Kind, value: Any, layout: ColumnLayout) -> list[Any]:
        """The spellings of a key value the legacy column may hold, in its own type."""
        if layout.type in ("date", "datetime") or kind is Kind.DATE:
            parsed = parse_date(value, DateLayout.ISO)
            if parsed is None:
                # Never a bad date against a date column: the database would refuse it.
                return [value] if layout.type == "text" else []
            if layout.type == "date":
                return [parsed]
            if layout.type == "datetime":
                return [datetime(parsed.year, parsed.month, parsed.day)]
            if layout.type == "integer":
                return [int(parsed.strftime("%Y%m%d"))]
            layouts = [layout.date_layout] if layout.date_layout else list(DateLayout)
            return list(dict.fromkeys(_write_date(parsed, d) for d in layouts))
        text = str(value).strip()
        if layout.type == "integer":
            return [int(text)] if text.isdigit() else []
        if kind is Kind.NI_NUMBER:
            c = compact_code(text)
            spellings = [c, f"{c[:2]} {c[2:4]} {c[4:6]} {c[6:8]} {c[8:]}".strip(), c[:8]]
        elif kind is Kind.POSTCODE:
            spellings = [postcode_display(text), compact_code(text)]
        else:
            spellings = [text, text.upper()]
        return list(dict.fromkeys(layout.write_text(s) for s in spellings if s))

    def _blocks(self, form: _Form, layouts: Mapping[str, ColumnLayout]) -> list[dict[str, Any]]:
        """The blocking values to fetch candidates by (see the module's docstring)."""
        blocks: list[dict[str, Any]] = []
        by_kind: dict[Kind, list[tuple[str, str]]] = {}
        for name, column in self.spec.fuzzy.items():
            if name in form.values:
                by_kind.setdefault(self._kind(name), []).append((name, column))
        outward_block: dict[str, Any] = {}
        for name, column in by_kind.get(Kind.POSTCODE, []):
            layout = layouts[column]
            if layout.type != "text":
                continue
            text = str(form.values[name])
            written = postcode_display(text) if layout.postcode_spaced else compact_code(text)
            blocks.append({column: layout.write_text(written)})
            if len(compact_code(text)) >= 5 and not outward_block:
                outward_block = {column: StartsWith(layout.write_text(compact_code(text)[:-3]))}
        dob = next(iter(by_kind.get(Kind.DATE, [])), None)
        born = form.dates.get(dob[0]) if dob else None
        year_block: dict[str, Any] = {}
        if dob is not None and born is not None:
            layout = layouts[dob[1]]
            if layout.type in ("date", "datetime"):
                year_block = {dob[1]: InYear(born.year)}
            elif layout.type == "text" and layout.date_layout in (DateLayout.ISO, DateLayout.YMD8):
                year_block = {dob[1]: StartsWith(str(born.year))}
        names = sorted(
            by_kind.get(Kind.NAME, []) + by_kind.get(Kind.TEXT, []),
            key=lambda item: (not _is_surname(item[0]), item[0]),
        )
        if names and layouts[names[0][1]].type == "text" and outward_block:
            # The whole surname in the postcode's district: the date of birth may be wrong.
            name, column = names[0]
            whole = layouts[column].write_text(" ".join(str(form.values[name]).split()))
            blocks.append({column: StartsWith(whole), **outward_block})
        if names and layouts[names[0][1]].type == "text":
            name, column = names[0]
            letters = str(form.values[name]).strip()
            # The initial with the year of birth; without a year, the first three letters.
            prefix = letters[:1] if year_block else letters[:3]
            if prefix:
                written = layouts[column].write_text(prefix[:1].upper() + prefix[1:].lower())
                blocks.append({column: StartsWith(written), **year_block})
        if dob is not None and born is not None:
            layout = layouts[dob[1]]
            days = [born]
            swapped = _date_or_none(born.year, born.day, born.month)
            if swapped is not None and swapped != born:
                days.append(swapped)
            for day in days:
                spellings = self._variants(Kind.DATE, day.isoformat(), layout)
                if spellings:
                    blocks.append({dob[1]: spellings[0]})
        return blocks

    def _blocked_rows(self, form: _Form, layouts: Mapping[str, ColumnLayout]) -> list[Row]:
        rows: list[Row] = []
        for blocking in self._blocks(form, layouts):
            rows.extend(self.source.candidates(self.spec.table, blocking, limit=self.block_limit))
        return rows

    def _fuzzy_score(
        self, form: _Form, row: Row, layouts: Mapping[str, ColumnLayout], *, with_keys: bool
    ) -> tuple[float, dict[str, float | None]]:
        """A row's weighted score over the fields the form gives, and each field's score.

        A key that looked up no record still counts among the fields (a misread digit
        costs little, someone else's number a lot); checking a key hit, only the fuzzy
        fields count."""
        total = 0.0
        weights = 0.0
        field_scores: dict[str, float | None] = {}
        fields = {**self.spec.keys, **self.spec.fuzzy} if with_keys else self.spec.fuzzy
        for name, column in fields.items():
            if name not in form.values:
                continue
            kind = self._kind(name)
            theirs = row.get(column)
            if isinstance(theirs, str):
                theirs = theirs.strip()
            similarity: float | None
            if kind is Kind.NAME:
                similarity = name_similarity(form.values[name], theirs)
            elif kind is Kind.DATE:
                similarity = date_similarity(
                    form.dates.get(name), parse_date(theirs, layouts[column].date_layout)
                )
            elif kind is Kind.POSTCODE:
                similarity = postcode_similarity(form.values[name], theirs)
            elif kind is Kind.NI_NUMBER:
                similarity = code_similarity(form.values[name], theirs)
            else:
                similarity = text_similarity(form.values[name], theirs)
            weight = field_weight(name, kind)
            field_scores[name] = similarity
            total += weight * (0.5 if similarity is None else similarity)
            weights += weight
        return (round(total / weights, 4) if weights else 0.0), field_scores

    # --- the answer -----------------------------------------------------------------

    def _row_id(self, row: Row) -> tuple[Any, ...]:
        # A declared key tells records apart; without one, only the whole row does.
        if self._key_columns:
            return tuple(row.get(c) for c in self._key_columns)
        return tuple(sorted((k, repr(v)) for k, v in row.items()))

    def _candidate(self, scored: _Scored) -> LegacyCandidate:
        return LegacyCandidate(
            key=self._key_text(scored.row),
            score=scored.score,
            system=self.spec.source,
            table=self.spec.table,
            via=scored.via,
            field_scores=scored.field_scores,
            fields=self._shown(scored.row, scored.form),
        )

    def _key_text(self, row: Row) -> str | None:
        parts = [row.get(c) for c in self._shown_key]
        if not parts or all(p is None for p in parts):
            return None
        return "/".join(_plain(p) for p in parts)

    def _shown(self, row: Row, form: Mapping[str, Any]) -> dict[str, Any]:
        """The row's values the spec names, written as the form writes them (a name that
        differs from the form's only in case is shown as the form has it: the page marks
        differences, and ``OKAFOR`` is no different from ``Okafor``)."""
        layouts = self._layouts or {}
        shown: dict[str, Any] = {}
        for name, column in {**self.spec.keys, **self.spec.fuzzy}.items():
            value = row.get(column)
            if value is None:
                shown[name] = None
                continue
            kind = self._kind(name)
            layout = layouts.get(column)
            if kind is Kind.DATE:
                parsed = parse_date(value, layout.date_layout if layout else None)
                shown[name] = parsed.isoformat() if parsed else _plain(value)
            elif kind is Kind.POSTCODE:
                shown[name] = postcode_display(value)
            elif kind is Kind.NI_NUMBER:
                shown[name] = compact_code(value)
            else:
                text = " ".join(_plain(value).split())
                ours = form.get(name)
                same = (
                    ours is not None and " ".join(str(ours).split()).casefold() == text.casefold()
                )
                shown[name] = str(ours) if same else text
        return shown

    def _result(self, scored: list[_Scored], *, extra: str = "") -> LegacyMatchResult:
        ranked = sorted(
            scored, key=lambda s: (-s.score, s.via != "key", self._key_text(s.row) or "")
        )
        system = self.spec.source
        if not ranked:
            return self._none([], f"no record in {system} shares the form's details{extra}")
        best = ranked[0]
        close = [s for s in ranked if best.score - s.score < MARGIN]
        if best.score >= MATCH_SCORE and len(close) == 1:
            if best.via == "key":
                how = ", ".join(self.spec.keys)
            else:
                how = ", ".join(n for n, v in best.field_scores.items() if v is not None)
            return LegacyMatchResult(
                outcome=LegacyMatchOutcome.MATCHED, system=system, table=self.spec.table,
                score=best.score, candidates=[self._candidate(s) for s in ranked[:SHOWN]],
                detail=f"matched a record of {system} by {how} (score {best.score:.2f})",
            )  # fmt: skip
        if best.score >= MATCH_SCORE:
            scores = ", ".join(f"{s.score:.2f}" for s in close[:SHOWN])
            return LegacyMatchResult(
                outcome=LegacyMatchOutcome.AMBIGUOUS, system=system, table=self.spec.table,
                score=best.score, candidates=[self._candidate(s) for s in close[:SHOWN]],
                detail=f"{len(close)} records of {system} match about equally well "
                f"(scores {scores}){extra}",
            )  # fmt: skip
        # A key hit stays in view however low it scored: the number is that record's.
        near = [s for s in ranked if s.score >= NEAR_MISS or s.via == "key"]
        return self._none(
            near[:SHOWN],
            f"no record of {system} matches well enough (best score {best.score:.2f}){extra}",
            score=best.score,
        )

    def _none(
        self, near: list[_Scored], detail: str, *, score: float | None = None
    ) -> LegacyMatchResult:
        return LegacyMatchResult(
            outcome=LegacyMatchOutcome.NONE, system=self.spec.source, table=self.spec.table,
            score=score, candidates=[self._candidate(s) for s in near], detail=detail,
        )  # fmt: skip


def _plain(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def match_person(
    spec: LegacyMatch,
    values: Mapping[str, Any],
    source: LegacySource,
    *,
    kinds: Mapping[str, Kind] | None = None,
    key_columns: Sequence[str] | None = None,
) -> LegacyMatchResult:
    """Match one form (see ``LegacyMatcher``; keep a matcher to match many)."""
    return LegacyMatcher(spec, source, kinds=kinds, key_columns=key_columns).match(values)


# --- plans -----------------------------------------------------------------------------


def bundled_plan_dir() -> Path:
    return Path(str(resources.files("config") / "plans"))


def plan_for(system_id: str, plans_dir: Path | None = None) -> MigrationPlan | None:
    """The migration plan whose ``system.id`` is ``system_id``, or None when no plan has it.

    Looks in ``plans_dir`` (the ``plans_dir`` setting) first, then in the bundled plans.
    Files that are not YAML, and plans of other systems, are passed over unvalidated.

    Raises:
        PlanError: the plan that has the id is not a valid plan.
    """
    for folder in _plan_folders(plans_dir):
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue
            system = data.get("system") if isinstance(data, dict) else None
            if isinstance(system, dict) and system.get("id") == system_id:
                return load_plan(path)
    return None


def find_plan(system_id: str, plans_dir: Path | None = None) -> MigrationPlan:
    """The migration plan whose ``system.id`` is ``system_id`` (see ``plan_for``).

    Raises:
        PlanError: no plan has that system id, or the plan that has it is not valid.
    """
    plan = plan_for(system_id, plans_dir)
    if plan is None:
        looked = ", ".join(str(f) for f in _plan_folders(plans_dir)) or "no folder"
        raise PlanError(
            f"no migration plan describes system {system_id!r} (looked in {looked}); "
            "add one, or set SWITCHOVER_PLANS_DIR to the folder that holds it"
        )
    return plan


def _plan_folders(plans_dir: Path | None) -> list[Path]:
    return [f for f in (plans_dir, bundled_plan_dir()) if f is not None and f.is_dir()]


def open_plan_source(plan: MigrationPlan) -> LegacySource:
    """The plan's legacy source, open, with the plan's ``where`` filters (sql sources).

    Raises:
        DatabaseError: the legacy database cannot be reached (retryable).
        PlanError, LegacyReadError: the source is not what the plan says.
    """
    filters = {t.source: t.where for t in plan.tables if t.where}
    if plan.source.kind == "sql":
        return open_source(plan.source, filters=filters or None)
    return open_source(plan.source)


def plan_key_columns(plan: MigrationPlan, table: str) -> list[str] | None:
    """The key the plan gives ``table``, if it has the table and gives one."""
    try:
        return list(plan.table(table).key or []) or None
    except PlanError:
        return None

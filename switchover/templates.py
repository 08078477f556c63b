"""Tools for the engineer who writes a form template: check one on filled samples, and
draft one from a blank form (``switchover forms check`` and ``switchover forms draft``).

Checking shows each field's value on the engineer's terminal: that is its point. Values
are returned to the caller and never logged.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from config.form_template import (
    FieldSpec,
    FieldType,
    FormTemplate,
    MatchRules,
    Position,
    load_template,
    load_templates,
)
from domain.errors import BadInputError, ExitCode, SwitchoverError
from domain.forms import BBox, FormExtraction, Word
from ocr import layout
from switchover.specimens import FieldScore

# The variants the specimen generator writes beside ``ID.json`` (``ID-scan.png``...).
_VARIANT_SUFFIXES = ("-clean", "-scan", "-photo")


# --- checking a template ---------------------------------------------------------------


@dataclass(frozen=True)
class FieldCheck:
    """One field of one file as the template found it, and whether that was right.

    Attributes:
        right: the value equals the truth exactly; None without truth.
        doubts: the review reasons for this field (why a person would look).
    """

    name: str
    value: Any
    confidence: float
    valid: bool
    error: str | None
    doubts: tuple[str, ...]
    right: bool | None = None

    @property
    def found(self) -> bool:
        return self.value is not None

    @property
    def flagged(self) -> bool:
        return bool(self.doubts)

    @property
    def silently_wrong(self) -> bool:
        return self.right is False and not self.flagged


@dataclass(frozen=True)
class FileCheck:
    """One filled sample: its fields, or the error that stopped it being read."""

    file: str
    fields: tuple[FieldCheck, ...] = ()
    needs_review: bool = False
    reasons: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class CheckSummary:
    """Totals over the files read. The rates are over the fields compared with truth."""

    files: int
    unreadable: int
    approved_without_review: int
    compared: bool
    fields: int = 0
    right: int = 0
    silently_wrong: int = 0
    approved_with_wrong_fields: int = 0

    @property
    def exact_rate(self) -> float:
        return self.right / self.fields if self.fields else 0.0

    @property
    def silently_wrong_rate(self) -> float:
        return self.silently_wrong / self.fields if self.fields else 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "files": self.files,
            "unreadable": self.unreadable,
            "approved_without_review": self.approved_without_review,
        }
        if self.compared:
            out |= {
                "fields_compared": self.fields,
                "right": self.right,
                "silently_wrong": self.silently_wrong,
                "exact_rate": round(self.exact_rate, 4),
                "silently_wrong_rate": round(self.silently_wrong_rate, 4),
                "approved_with_wrong_fields": self.approved_with_wrong_fields,
            }
        return out


@dataclass(frozen=True)
class TemplateCheck:
    """``switchover forms check``: one template run on filled samples."""

    template: str
    files: tuple[FileCheck, ...]
    summary: CheckSummary

    @property
    def exit_code(self) -> ExitCode:
        """Bad input when a file could not be read; a failed check when a field is wrong
        and nothing sends it to review."""
        if self.summary.unreadable:
            return ExitCode.BAD_INPUT
        if self.summary.silently_wrong:
            return ExitCode.CHECK_FAILED
        return ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        files = []
        for item in self.files:
            entry: dict[str, Any] = {"file": item.file}
            if item.error is not None:
                entry["error"] = item.error
                files.append(entry)
                continue
            entry["fields"] = {f.name: _field_json(f) for f in item.fields}
            entry["needs_review"] = item.needs_review
            entry["reasons"] = list(item.reasons)
            files.append(entry)
        return {"template": self.template, "files": files, "summary": self.summary.to_json()}

    def lines(self) -> list[str]:
        """The per-field table of each file, then the summary, for a terminal."""
        out: list[str] = []
        compared = self.summary.compared
        for item in self.files:
            if item.error is not None:
                out.append(f"{item.file}: not read: {item.error}")
                continue
            state = "needs review" if item.needs_review else "approved without review"
            out.append(f"{item.file}: {state}")
            header = f"  {'field':<28} {'found':<5} {'value':<30} {'conf':>4}  {'valid':<5}"
            out.append(header + (f" {'truth':<5}" if compared else "") + "  why doubtful")
            for f in item.fields:
                value = "" if f.value is None else str(f.value)
                value = value if len(value) <= 30 else value[:29] + "…"
                row = (
                    f"  {f.name:<28} {'yes' if f.found else 'no':<5} {value:<30} "
                    f"{f.confidence:>4.2f}  {'yes' if f.valid else 'no':<5}"
                )
                if compared:
                    row += f" {_verdict(f):<5}"
                out.append(row + "  " + "; ".join(f.doubts))
            for reason in item.reasons:
                if reason.split(":", 1)[0] not in {f.name for f in item.fields}:
                    out.append(f"  review: {reason}")
        out.append(_summary_line(self.summary))
        return out


def _field_json(f: FieldCheck) -> dict[str, Any]:
    out: dict[str, Any] = {
        "value": f.value,
        "confidence": f.confidence,
        "valid": f.valid,
        "error": f.error,
        "flagged": f.flagged,
    }
    if f.right is not None:
        out["right"] = f.right
    return out


def _verdict(f: FieldCheck) -> str:
    if f.right is None:
        return "-"
    if f.right:
        return "right"
    return "WRONG" if f.silently_wrong else "wrong"


def _summary_line(s: CheckSummary) -> str:
    read = s.files - s.unreadable
    line = f"summary: {s.files} files"
    if s.unreadable:
        line += f" ({s.unreadable} not read)"
    if s.compared:
        line += (
            f"; {s.fields} fields compared: {s.right} right ({s.exact_rate:.1%}), "
            f"{s.silently_wrong} wrong and not flagged for review ({s.silently_wrong_rate:.1%})"
        )
    line += f"; {s.approved_without_review} of {read} forms approved without review"
    if s.compared and s.approved_with_wrong_fields:
        line += f" ({s.approved_with_wrong_fields} of them with a wrong field)"
    return line


def resolve_template(name: str, forms_dir: Path | None = None) -> FormTemplate:
    """The template in the file ``name``, or the loaded template of that form type.

    Raises:
        TemplateError: the file is not a valid template, naming its line and field.
        BadInputError: no such file and no such form type.
    """
    path = Path(name)
    if path.is_file():
        return load_template(path)
    templates = load_templates(forms_dir)
    if name in templates:
        return templates[name]
    known = ", ".join(sorted(templates)) or "none"
    raise BadInputError(f"no template file or form type {name!r} (form types: {known})")


def check_template(
    template: FormTemplate,
    files: Sequence[Path],
    *,
    truth_dir: Path | None = None,
    jobs: int | None = None,
) -> TemplateCheck:
    """Run one template on filled samples and, given their truth, score it.

    Args:
        template: the template to check; every file is read as this form type.
        files: filled copies of the form (PDF or images).
        truth_dir: a folder of ``<stem>.json`` files, as ``switchover forms specimens``
            writes them (``{"fields": {name: value}}``) or plain ``{name: value}``; a
            specimen's ``ID-scan.png`` also finds ``ID.json``.
        jobs: processes when there are several files (default: cores).

    Returns:
        Per file, each field's value, confidence, validity and review reasons, and
        whether it equals the truth; totals as the issue's targets count them.

    Raises:
        BadInputError: a file has no truth in ``truth_dir``.
    """
    truths = [_truth_for(path, truth_dir) for path in files] if truth_dir else None
    results = _extract(template, files, jobs)
    score = FieldScore()
    checks: list[FileCheck] = []
    approved = approved_wrong = unreadable = 0
    for index, (path, result) in enumerate(zip(files, results, strict=True)):
        if isinstance(result, SwitchoverError):
            unreadable += 1
            checks.append(FileCheck(file=path.name, error=str(result)))
            continue
        truth = truths[index] if truths is not None else None
        check = _file_check(template, result, truth)
        if truth is not None:
            values = {name: f.value for name, f in result.fields.items()}
            flagged = {r.field for r in result.reasons}
            score.add(truth, values, flagged, label=path.name)
        approved += not check.needs_review
        approved_wrong += not check.needs_review and any(f.right is False for f in check.fields)
        checks.append(check)
    summary = CheckSummary(
        files=len(files),
        unreadable=unreadable,
        approved_without_review=approved,
        compared=truths is not None,
        fields=score.fields,
        right=score.right,
        silently_wrong=score.wrong_unflagged,
        approved_with_wrong_fields=approved_wrong,
    )
    return TemplateCheck(template=template.form_type, files=tuple(checks), summary=summary)


def _extract(
    template: FormTemplate, files: Sequence[Path], jobs: int | None
) -> list[FormExtraction | SwitchoverError]:
    import ocr

    templates = {template.form_type: template}
    if len(files) > 1:
        return ocr.extract_files(list(files), templates, template.form_type, jobs)
    results: list[FormExtraction | SwitchoverError] = []
    for path in files:
        try:
            results.append(ocr.extract_path(path, templates, template.form_type))
        except SwitchoverError as e:
            results.append(e)
    return results


def _file_check(
    template: FormTemplate, result: FormExtraction, truth: dict[str, Any] | None
) -> FileCheck:
    doubts: dict[str | None, list[str]] = {}
    for reason in result.reasons:
        doubts.setdefault(reason.field, []).append(f"{reason.code}: {reason.detail}")
    names = [spec.name for spec in template.fields]
    # A truth field the template does not have counts as wrong: it was not extracted.
    names += [name for name in (truth or {}) if name not in result.fields]
    fields = []
    for name in names:
        extracted = result.fields.get(name)
        value = extracted.value if extracted else None
        fields.append(
            FieldCheck(
                name=name,
                value=value,
                confidence=extracted.confidence if extracted else 0.0,
                valid=extracted.valid if extracted else False,
                error=extracted.error if extracted else "not in the template",
                doubts=tuple(doubts.get(name, ())),
                right=None if truth is None or name not in truth else value == truth[name],
            )
        )
    return FileCheck(
        file=result.file,
        fields=tuple(fields),
        needs_review=result.needs_review,
        reasons=tuple(str(r) for r in result.reasons),
    )


def _truth_for(path: Path, truth_dir: Path) -> dict[str, Any]:
    stems = [path.stem]
    for suffix in _VARIANT_SUFFIXES:
        if path.stem.endswith(suffix):
            stems.append(path.stem.removesuffix(suffix))
    for stem in stems:
        candidate = truth_dir / f"{stem}.json"
        if candidate.is_file():
            break
    else:
        raise BadInputError(f"no truth file {path.stem}.json in {truth_dir}", where=path.name)
    try:
        data = json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInputError(f"cannot read the truth: {e}", where=str(candidate)) from e
    if isinstance(data, dict) and isinstance(data.get("fields"), dict):
        data = data["fields"]
    if not isinstance(data, dict):
        raise BadInputError("the truth is not an object of field values", where=str(candidate))
    return data


# --- drafting a template from a blank form ---------------------------------------------

# Label words that say a field's type, tried in this order (the first that matches wins:
# "National Insurance number" is an NI number, not an integer).
_TYPE_WORDS: tuple[tuple[FieldType, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        (FieldType.NI_NUMBER, r"\bnational insurance\b|\bni (number|no)\b|\bnino\b"),
        (FieldType.EMAIL, r"\be ?mail\b"),
        (FieldType.PHONE, r"\b(telephone|phone|mobile)\b"),
        (FieldType.POSTCODE, r"\bpost ?code\b"),
        (FieldType.DATE, r"\b(date|dob|born)\b"),
        (FieldType.MONEY, r"£|\b(income|amount|costs?|rent|savings|pay)\b"),
        (FieldType.INTEGER, r"\bnumber of\b|\bhow many\b"),
        (
            FieldType.NAME,
            r"\b(surname|first names?|forenames?|given names?|family name|last name)\b",
        ),
    )
)
# A row of tick boxes is a choice when each box has an option of at most this many words.
_OPTION_WORDS = 3
# How far a label may be from its box, as a share of the page width.
_MAX_LABEL_GAP = 0.4
# A label above its box starts within this share of the page width of the box's left.
_ALIGNED = 0.03
# Words read less surely than this are no part of a printed label.
_SURE = 0.6
# A box whose inside is this grey or darker (median) is a tinted band: a heading.
_TINTED = 225


@dataclass(frozen=True)
class Draft:
    """A template drafted from a blank form, to be edited by the engineer."""

    template: FormTemplate
    source: str

    def yaml(self) -> str:
        """The template as YAML, under a comment that says it is a draft.

        Every field states its label as printed, its position and its type; other keys
        only when they are not the default.
        """
        template = self.template
        fields = []
        for spec in template.fields:
            entry: dict[str, Any] = {"name": spec.name}
            if spec.label:
                entry["label"] = _Printed(spec.label)
            entry |= {"position": str(spec.position), "type": str(spec.type)}
            if spec.choices:
                entry["choices"] = [_Printed(c) for c in spec.choices]
            rest = spec.model_dump(mode="json", exclude_defaults=True)
            entry |= {k: v for k, v in rest.items() if k not in entry}
            fields.append(entry)
        data = {
            "form_type": template.form_type,
            "title": template.title,
            "match": {"all_text": [_Printed(t) for t in template.match.all_text]},
            "fields": fields,
        }
        header = (
            f"# DRAFT template for {template.form_type}, made by `switchover forms draft`\n"
            f"# from {self.source}. Edit it before use: check every label is copied exactly\n"
            "# as printed, every name and type; mark required fields (required: true); set\n"
            "# review, legacy_match and costs (docs/templates.md). Then check it:\n"
            "#   switchover forms check THIS.yaml FILLED... --truth DIR\n"
        )
        body = yaml.dump(data, Dumper=_DraftDumper, sort_keys=False, allow_unicode=True, width=100)
        return header + body


class _DraftDumper(yaml.SafeDumper):
    """Mappings in blocks, lists (zones, choices) on one line, as templates are written."""


class _Printed(str):
    """Text as printed on the form (a label, a choice): always quoted in the YAML."""

    __slots__ = ()


_DraftDumper.add_representer(
    list,
    lambda dumper, data: dumper.represent_sequence(
        "tag:yaml.org,2002:seq",
        data,
        flow_style=not any(isinstance(item, dict | list) for item in data),
    ),
)
_DraftDumper.add_representer(
    _Printed,
    lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style='"'),
)


@dataclass(frozen=True)
class _Text:
    """A printed phrase: a candidate label."""

    text: str
    bbox: BBox

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def middle(self) -> float:
        return (self.bbox[1] + self.bbox[3]) / 2


@dataclass(frozen=True)
class _Mark:
    """A printed box, in page fractions."""

    bbox: BBox
    kind: str

    @property
    def middle(self) -> float:
        return (self.bbox[1] + self.bbox[3]) / 2


@dataclass
class _Found:
    """One field found on a page, before it is named."""

    label: _Text | None
    position: Position
    box: BBox
    page: int
    type: FieldType = FieldType.TEXT
    choices: list[str] = field(default_factory=list)
    zone: BBox | None = None
    max_width: float | None = None
    max_height: float | None = None
    pdf_field: str | None = None


@dataclass(frozen=True)
class _PageLayout:
    number: int
    words: list[Word]
    marks: list[_Mark]
    aspect: float  # page height over width: turns vertical fractions into widths


def draft_template(path: Path, form_type: str) -> Draft:
    """Draft a template from a blank form: its labels, its boxes and a guessed type for
    each field.

    Each value box takes the nearest printed phrase left of it on its line (position
    right), starting at its left edge above it (below), or inside it at the top left
    (inside); each tick box the nearest phrase on its row (a checkbox); a row of tick
    boxes each beside a short word, those words as the choices of one field. Types come
    from the label's words; a fillable PDF's own fields become ``pdf_field``.

    Args:
        path: the blank form: a PDF (fillable or not) or an image.
        form_type: the new template's form type.

    Raises:
        BadInputError: the form type is not a valid id, the file cannot be read, or no
            box with a label was found.
    """
    from ocr.boxes import find_boxes
    from ocr.pages import open_document
    from ocr.reading import OcrOptions, read_page

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", form_type):
        raise BadInputError(f"form type {form_type!r}: use lower-case letters, digits and -")
    layouts: list[_PageLayout] = []
    with open_document(path) as document:
        for page in document.pages():
            read = read_page(page, OcrOptions())
            if read.blank:
                continue
            image = read.image()
            height, width = image.shape[:2]
            marks = [
                _Mark(
                    (b.bbox[0] / width, b.bbox[1] / height, b.bbox[2] / width, b.bbox[3] / height),
                    str(b.kind),
                )
                for b in find_boxes(image, read.dpi)
                if not _tinted(image, b.bbox)
            ]
            layouts.append(_PageLayout(read.number, read.words, marks, height / width))
    if not layouts:
        raise BadInputError("every page is blank", where=path.name)
    title = _title(layouts[0].words)
    found = [f for layout in layouts for f in _fields_on_page(layout, title)]
    if not found:
        raise BadInputError("no labelled box found on the form", where=path.name)
    _add_pdf_fields(path, found)
    specs = _named_specs(found)
    heading = title.text if title else form_type
    template = FormTemplate(
        form_type=form_type,
        title=heading,
        match=MatchRules(all_text=[heading] if title else []),
        fields=specs,
    )
    return Draft(template=template, source=path.name)


def _tinted(image: Any, box: tuple[int, int, int, int]) -> bool:
    x0, y0, x1, y1 = box
    inside = image[y0:y1, x0:x1]
    return bool(inside.size) and float(np.median(inside)) < _TINTED


def _title(words: list[Word]) -> _Text | None:
    """The phrase in the largest print: the form's title."""
    phrases = [_as_text(p.words) for p in layout.phrases(words)] if words else []
    texts = [t for t in phrases if t is not None and len(t.text) >= 3]
    return max(texts, key=lambda t: t.height, default=None)


def _as_text(words: Sequence[Word]) -> _Text | None:
    kept = list(words)
    # Box edges and tick boxes read as "|" or "[]" are no part of a label.
    while kept and not layout.comparable(kept[0].text):
        kept.pop(0)
    while kept and not layout.comparable(kept[-1].text):
        kept.pop()
    if not kept:
        return None
    return _Text(" ".join(w.text for w in kept), layout.union(w.bbox for w in kept))


def _fields_on_page(page: _PageLayout, title: _Text | None) -> list[_Found]:
    ticks = [m for m in page.marks if m.kind == "tick"]
    boxes = [m for m in page.marks if m.kind != "tick"]

    def in_tick(word: Word) -> bool:
        x = (word.bbox[0] + word.bbox[2]) / 2
        y = (word.bbox[1] + word.bbox[3]) / 2
        return any(t.bbox[0] <= x <= t.bbox[2] and t.bbox[1] <= y <= t.bbox[3] for t in ticks)

    # Printed labels read surely; unsure words are marks, scribbles or box edges.
    words = [
        w
        for w in page.words
        if w.confidence >= _SURE and layout.comparable(w.text) and not in_tick(w)
    ]
    texts = [t for p in (layout.phrases(words) if words else []) if (t := _as_text(p.words))]
    texts = [t for t in texts if title is None or t.bbox != title.bbox]
    used: set[int] = set()
    found = _tick_fields(page, ticks, texts, used)
    found += _box_fields(page, boxes, texts, used)
    return sorted(found, key=lambda f: (f.box[1], f.box[0]))


def _same_row(text: _Text, mark: _Mark) -> bool:
    return mark.bbox[1] - 0.3 * text.height <= text.middle <= mark.bbox[3] + 0.3 * text.height


def _tick_fields(
    page: _PageLayout, ticks: list[_Mark], texts: list[_Text], used: set[int]
) -> list[_Found]:
    found: list[_Found] = []
    for row in _rows(ticks):
        choice = _choice_row(row, texts, used) if len(row) > 1 else None
        if choice is not None:
            found.append(choice)
            continue
        for tick in row:
            label = _nearest_on_row(tick, texts, used)
            if label is not None:
                used.add(id(label))
            found.append(
                _Found(
                    label,
                    Position.RIGHT if label else Position.ZONE,
                    tick.bbox,
                    page.number,
                    FieldType.CHECKBOX,
                    zone=None if label else _padded(tick.bbox),
                )
            )
    for item in found:
        item.page = page.number
    return found


def _rows(ticks: list[_Mark]) -> list[list[_Mark]]:
    """Tick boxes in rows: boxes whose middles are within half a box of each other."""
    rows: list[list[_Mark]] = []
    for tick in sorted(ticks, key=lambda t: t.middle):
        size = tick.bbox[3] - tick.bbox[1]
        if rows and abs(rows[-1][-1].middle - tick.middle) < 0.5 * size:
            rows[-1].append(tick)
        else:
            rows.append([tick])
    return [sorted(row, key=lambda t: t.bbox[0]) for row in rows]


def _beside(tick: _Mark, texts: list[_Text], used: set[int], side: str) -> _Text | None:
    """The phrase nearest the tick box on its row, on one side."""
    best: tuple[float, _Text] | None = None
    for text in texts:
        if id(text) in used or not _same_row(text, tick):
            continue
        gap = tick.bbox[0] - text.bbox[2] if side == "left" else text.bbox[0] - tick.bbox[2]
        if -0.005 <= gap <= _MAX_LABEL_GAP and (best is None or gap < best[0]):
            best = (gap, text)
    return best[1] if best else None


def _nearest_on_row(tick: _Mark, texts: list[_Text], used: set[int]) -> _Text | None:
    sides = [_beside(tick, texts, used, side) for side in ("left", "right")]
    near = [t for t in sides if t is not None]
    return min(near, key=lambda t: _gap(t, tick), default=None)


def _gap(text: _Text, mark: _Mark) -> float:
    return max(mark.bbox[0] - text.bbox[2], text.bbox[0] - mark.bbox[2], 0.0)


def _choice_row(row: list[_Mark], texts: list[_Text], used: set[int]) -> _Found | None:
    """A row of tick boxes each with a short option word on the same side: one choice
    field. Its label is the phrase before the options on the row, or just above them."""
    best: tuple[float, list[_Text]] | None = None
    for side in ("left", "right"):
        beside = [_beside(tick, texts, used, side) for tick in row]
        chosen = [o for o in beside if o is not None]
        if len(chosen) != len(row):
            continue
        if len({id(o) for o in chosen}) != len(chosen):
            continue
        if any(len(o.text.split()) > _OPTION_WORDS for o in chosen):
            continue
        total = sum(_gap(o, t) for o, t in zip(chosen, row, strict=True))
        if best is None or total < best[0]:
            best = (total, chosen)
    if best is None:
        return None
    options = best[1]
    used.update(id(o) for o in options)
    area = layout.union([*(t.bbox for t in row), *(o.bbox for o in options)])
    label = _question(area, texts, used)
    if label is not None:
        used.add(id(label))
    return _Found(
        label=label,
        position=Position.RIGHT if label else Position.ZONE,
        box=area,
        page=1,
        type=FieldType.CHOICE,
        choices=[o.text for o in options],
        zone=_padded(area),
    )


def _question(area: BBox, texts: list[_Text], used: set[int]) -> _Text | None:
    """The phrase that asks the question of a row of options: before it on its line, or
    above it."""
    row = _Mark(area, "tick")
    before = [
        t
        for t in texts
        if id(t) not in used and _same_row(t, row) and 0 <= area[0] - t.bbox[2] <= _MAX_LABEL_GAP
    ]
    if before:
        return min(before, key=lambda t: area[0] - t.bbox[2])
    above = [
        t
        for t in texts
        if id(t) not in used
        and 0 <= area[1] - t.bbox[3] <= 2.5 * t.height
        and t.bbox[0] < area[2]
        and t.bbox[2] > area[0]
    ]
    return min(above, key=lambda t: area[1] - t.bbox[3], default=None)


def _box_fields(
    page: _PageLayout, boxes: list[_Mark], texts: list[_Text], used: set[int]
) -> list[_Found]:
    """Value boxes and their labels: every candidate pair, nearest first, each box and
    each phrase taken once."""
    pairs: list[tuple[float, int, int, Position]] = []
    for b, box in enumerate(boxes):
        x0, y0, x1, y1 = box.bbox
        for t, text in enumerate(texts):
            if id(text) in used:
                continue
            tx0, _, tx1, ty1 = text.bbox
            cx, cy = (tx0 + tx1) / 2, text.middle
            if x0 <= cx <= x1 and y0 <= cy <= y1:
                if tx0 - x0 < 0.4 * (x1 - x0) and cy < (y0 + y1) / 2 + 0.1 * (y1 - y0):
                    pairs.append((0.0, b, t, Position.INSIDE))
            elif _same_row(text, box) and -0.005 <= x0 - tx1 <= _MAX_LABEL_GAP:
                pairs.append((max(0.0, x0 - tx1), b, t, Position.RIGHT))
            elif abs(tx0 - x0) <= _ALIGNED and 0 <= y0 - ty1 <= 3 * text.height:
                pairs.append(((y0 - ty1) * page.aspect, b, t, Position.BELOW))
    taken_boxes: set[int] = set()
    taken_texts: set[int] = set()
    found: list[_Found] = []
    for _, b, t, position in sorted(pairs, key=lambda p: p[0]):
        if b in taken_boxes or t in taken_texts:
            continue
        taken_boxes.add(b)
        taken_texts.add(t)
        found.append(_boxed_field(texts[t], position, boxes[b], page.number))
    for b, box in enumerate(boxes):
        if b not in taken_boxes:
            found.append(_Found(None, Position.ZONE, box.bbox, page.number, zone=_padded(box.bbox)))
    return found


def _boxed_field(label: _Text, position: Position, box: _Mark, page: int) -> _Found:
    """A value box's field, its type from its label, its reach set to fit the box."""
    found = _Found(label, position, box.bbox, page, type=_guess_type(label.text))
    _, y0, x1, y1 = box.bbox
    if position is Position.RIGHT:
        reach = max(label.middle - y0, y1 - label.middle)
        found.max_height = _up(min(1.0, 2 * reach + 0.004))
        found.max_width = _up(min(1.0, x1 - label.bbox[2]))
    elif position is Position.BELOW:
        found.max_height = _up(min(1.0, y1 - label.bbox[3] + 0.002))
    return found


def _guess_type(label: str) -> FieldType:
    words = layout.comparable(label)
    for kind, pattern in _TYPE_WORDS:
        if pattern.search(words):
            return kind
    return FieldType.TEXT


def _up(value: float) -> float:
    return math.ceil(value * 1000) / 1000


def _padded(box: BBox, pad: float = 0.005) -> BBox:
    x0, y0, x1, y1 = box
    return (
        math.floor(max(0.0, x0 - pad) * 1000) / 1000,
        math.floor(max(0.0, y0 - pad) * 1000) / 1000,
        _up(min(1.0, x1 + pad)),
        _up(min(1.0, y1 + pad)),
    )


def _add_pdf_fields(path: Path, found: list[_Found]) -> None:
    """Each field whose box a fillable PDF's widget overlaps reads that PDF field."""
    if path.suffix.lower() != ".pdf":
        return
    try:
        from ocr.acroform import form_fields
    except ImportError:  # pragma: no cover - the module lands separately
        return
    widgets = [w for w in form_fields(path) if w.bbox is not None]
    for item in found:
        overlaps = [
            (_overlap(item.box, w.bbox), w.name)
            for w in widgets
            if w.bbox is not None and (w.page or 1) == item.page
        ]
        share, name = max(overlaps, default=(0.0, ""))
        if share >= 0.5:
            item.pdf_field = name


def _overlap(a: BBox, b: BBox) -> float:
    """The share of the smaller box that the two boxes have in common."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / smaller if smaller > 0 else 0.0


def _named_specs(found: list[_Found]) -> list[FieldSpec]:
    """Snake-case names from the labels, made unique; the specs in page order."""
    specs: list[FieldSpec] = []
    seen: dict[str, int] = {}
    for item in found:
        base = _snake(item.label.text) if item.label else "unlabelled"
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 and base != "unlabelled" else f"{base}_{seen[base]}"
        specs.append(
            FieldSpec(
                name=name,
                label=item.label.text if item.label else None,
                position=item.position,
                type=item.type,
                zone=item.zone,
                page=item.page,
                choices=item.choices,
                max_width=item.max_width,
                max_height=item.max_height,
                pdf_field=item.pdf_field,
            )
        )
    return specs


def _snake(label: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    name = ""
    for word in words:
        if len(name) + len(word) + 1 > 40 and name:
            break
        name = f"{name}_{word}" if name else word
    if not name:
        return "field"
    return name if name[0].isalpha() else f"field_{name}"

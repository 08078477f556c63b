"""Fillable PDFs: the values of a PDF's own form fields (AcroForm), read exactly.

A filled PDF form carries its answers as data, not only as ink: reading them is exact
and needs no OCR. A template field names the PDF's field by its full name
(``FieldSpec.pdf_field``); ``fields_from_form`` turns those fields into extracted
fields, normalised and validated like any other reading.

pypdf reads the AcroForm dictionaries: pure Python, so every inheritance rule (type,
value, flags and options pass from a field to its kids) is in our hands, and it is
independent of the renderer. Hybrid AcroForm+XFA forms are read through their AcroForm;
an XFA-only form has no AcroForm fields and reads as none. Whatever a broken file makes
pypdf raise becomes an ``UnreadableDocumentError`` naming the file.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import pypdf
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, StreamObject

from config.form_template import FieldSpec, FieldType, FormTemplate
from domain.errors import SwitchoverError, UnreadableDocumentError
from domain.forms import BBox, ExtractedField
from ocr.validators import normalise

Source = bytes | Path

# Field flags (PDF 32000-1:2008, tables 226 and 228).
_RADIO = 1 << 15
_PUSHBUTTON = 1 << 16
_MULTI_SELECT = 1 << 21
# Attributes a field passes to its kids (section 12.7.3.1).
_INHERITED = ("/FT", "/Ff", "/V", "/Opt")
# pypdf warns of every oddity it repairs (through the root logger, unredacted): our
# errors say what matters.
logging.getLogger("pypdf").setLevel(logging.ERROR)

# A deeper field tree is a loop or a hostile file, not a form.
_MAX_DEPTH = 64


class PdfFieldKind(StrEnum):
    """What kind of answer a PDF form field holds."""

    TEXT = "text"
    CHECKBOX = "checkbox"
    RADIO = "radio"
    CHOICE = "choice"


@dataclass(frozen=True)
class PdfFormField:
    """One field of a PDF form and its value.

    Attributes:
        name: the full name (``topmostSubform[0].Page1[0].f1_01[0]``), parents' partial
            names joined by dots, as PDF tools list it.
        kind: text, checkbox, radio (a group of buttons, one on) or choice (list/combo).
        value: a text field's text as given; the export value of a ticked checkbox or
            the chosen radio button; a choice field's chosen option (its export value;
            several, for a multiple choice, joined by ``", "``). None when empty or off.
        checked: for checkboxes and radio groups, whether one is on; otherwise None.
        label: a choice field's chosen option as displayed, when it differs from its
            export value's text.
        options: the export values a checkbox or radio group can take, or a choice
            field's options.
        page: the 1-based page of the widget (the one that is on, for a radio group).
        bbox: the widget's rectangle as fractions of the page as displayed, origin
            top-left.
    """

    name: str
    kind: PdfFieldKind
    value: str | None = None
    checked: bool | None = None
    label: str | None = None
    options: tuple[str, ...] = ()
    page: int | None = None
    bbox: BBox | None = None


def form_fields(source: Source, name: str | None = None) -> list[PdfFormField]:
    """The fillable fields of a PDF with their values, pages and rectangles, in the
    order of the form's field tree (for drafting a template from a fillable form).

    Signature fields and push buttons hold no answer and are left out. A PDF without an
    AcroForm (or with XFA only) has none.

    Args:
        source: the PDF's bytes, or its path.
        name: the file name for errors; the path's name when None.

    Raises:
        UnreadableDocumentError: naming the file: not a PDF pypdf can parse, encrypted
            with a password other than the empty one, or a field tree that cannot be
            read.
    """
    where = name or (source.name if isinstance(source, Path) else "document")
    reader = _open(source, where)
    try:
        return list(_AcroFormReader(reader, where).fields())
    except SwitchoverError:
        raise
    except Exception as e:  # pypdf raises many unrelated types on damaged dictionaries
        raise UnreadableDocumentError(
            f"cannot read the PDF's form fields ({type(e).__name__}: {e})", where=where
        ) from e


def read_form(source: Source, name: str | None = None) -> dict[str, PdfFormField]:
    """``form_fields`` by full name (the first, when a broken file names two alike)."""
    found: dict[str, PdfFormField] = {}
    for pdf_field in form_fields(source, name):
        found.setdefault(pdf_field.name, pdf_field)
    return found


def fields_from_form(
    template: FormTemplate, form: dict[str, PdfFormField]
) -> dict[str, ExtractedField]:
    """The template's fields that name a PDF field the form has, read from it.

    Fields without ``pdf_field``, or whose PDF field the form lacks, are not in the
    result: they are read from the page as usual.
    """
    return {
        spec.name: field_value(spec, form[spec.pdf_field])
        for spec in template.fields
        if spec.pdf_field is not None and spec.pdf_field in form
    }


def field_value(spec: FieldSpec, pdf_field: PdfFormField) -> ExtractedField:
    """A template field's value from the PDF's own field: exact, so confidence 1.

    Text is normalised like text read from the page (dates, money, NI numbers come out
    in their usual form); a checkbox is ticked when its PDF field is on; a choice is
    the template's choice whose name is the PDF option's export value or displayed
    text, case aside. An empty PDF field is an empty value: missing when required.
    """
    page, bbox = pdf_field.page, pdf_field.bbox
    if spec.type is FieldType.CHECKBOX and pdf_field.checked is not None:
        return ExtractedField(
            value=pdf_field.checked, confidence=1.0, valid=True, page=page, bbox=bbox
        )
    text = pdf_field.value or ""
    if spec.type is FieldType.CHECKBOX:
        value, error = normalise(spec, text)
    elif not text.strip():
        return ExtractedField(
            value=None,
            confidence=1.0,
            valid=not spec.required,
            page=page,
            bbox=bbox,
            error="required but empty" if spec.required else None,
        )
    elif spec.type is FieldType.CHOICE:
        value, error = _choice(spec, pdf_field)
    else:
        value, error = normalise(spec, text)
    return ExtractedField(
        value=value, confidence=1.0, valid=error is None, page=page, bbox=bbox, error=error
    )


def _choice(spec: FieldSpec, pdf_field: PdfFormField) -> tuple[str | None, str | None]:
    said = {" ".join(t.split()).casefold() for t in (pdf_field.value, pdf_field.label) if t}
    for choice in spec.choices:
        if " ".join(choice.split()).casefold() in said:
            return choice, None
    # The value itself stays out of the error: errors are stored and logged.
    return pdf_field.value, "the PDF field's option is not one of the template's choices"


# --- reading the field tree ------------------------------------------------------------


def _open(source: Source, where: str) -> pypdf.PdfReader:
    stream: Any = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        reader = pypdf.PdfReader(stream, strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocumentError("the PDF is encrypted with a password", where=where)
    except SwitchoverError:
        raise
    except Exception as e:  # pypdf's errors on broken files vary
        raise UnreadableDocumentError(
            f"cannot read the PDF ({type(e).__name__}: {e})", where=where
        ) from e
    return reader


@dataclass(frozen=True)
class _Widget:
    page: int | None
    bbox: BBox | None
    state: str | None  # its on-state's name (checkbox, radio), without the slash
    appearance: str | None  # the state it shows (/AS), without the slash


class _AcroFormReader:
    """Walks one PDF's AcroForm field tree, passing inherited attributes down."""

    def __init__(self, reader: pypdf.PdfReader, where: str) -> None:
        self._reader = reader
        self._where = where
        self._pages: list[Any] = []
        self._annotation_pages: dict[tuple[int, int], int] = {}
        self._page_numbers: dict[tuple[int, int], int] = {}

    def fields(self) -> Iterator[PdfFormField]:
        acroform = _resolve(self._reader.trailer["/Root"]).get("/AcroForm")
        roots = _resolve(acroform).get("/Fields") if acroform is not None else None
        if not isinstance(_resolve(roots), ArrayObject):
            return
        self._index_pages()
        seen: set[tuple[int, int]] = set()
        stack: list[tuple[Any, str, dict[str, Any], int]] = [
            (kid, "", {}, 0) for kid in reversed(_resolve(roots))
        ]
        while stack:
            node_ref, parent_name, inherited, depth = stack.pop()
            node = _resolve(node_ref)
            if not isinstance(node, DictionaryObject):
                continue  # a null or stray entry in /Fields or /Kids: nothing to read
            key = _key(node)
            if key is not None:
                if key in seen:
                    continue  # a field listed twice, or a loop in the tree
                seen.add(key)
            if depth > _MAX_DEPTH:
                raise UnreadableDocumentError(
                    f"the form's field tree is deeper than {_MAX_DEPTH} levels",
                    where=self._where,
                )
            partial = node.get("/T")
            name = parent_name
            if partial is not None:
                name = f"{parent_name}.{partial}" if parent_name else str(partial)
            attributes = dict(inherited)
            attributes.update({k: node[k] for k in _INHERITED if k in node})
            kids = _resolve(node.get("/Kids"))
            kids = list(kids) if isinstance(kids, ArrayObject) else []
            child_fields = [k for k in kids if "/T" in _as_dict(k)]
            if child_fields:
                stack.extend((kid, name, attributes, depth + 1) for kid in reversed(child_fields))
                continue
            # A terminal field: its widgets are its kids, or the field itself.
            widget_nodes = [_as_dict(k) for k in kids] or [node]
            built = self._field(name, attributes, [self._widget(w) for w in widget_nodes])
            if built is not None:
                yield built

    def _index_pages(self) -> None:
        self._pages = list(self._reader.pages)
        for number, page in enumerate(self._pages, start=1):
            if page.indirect_reference is not None:
                self._page_numbers[_ref_key(page.indirect_reference)] = number
            annotations = _resolve(page.get("/Annots"))
            if not isinstance(annotations, ArrayObject):
                continue
            for annotation in annotations:
                if isinstance(annotation, IndirectObject):
                    self._annotation_pages.setdefault(_ref_key(annotation), number)

    def _widget(self, node: DictionaryObject) -> _Widget:
        key = _key(node)
        number = self._annotation_pages.get(key) if key is not None else None
        page_ref = node.get("/P")
        if number is None and isinstance(page_ref, IndirectObject):
            number = self._page_numbers.get(_ref_key(page_ref))
        bbox = None
        if number is not None:
            bbox = _page_fractions(node.get("/Rect"), self._pages[number - 1])
        states = _resolve(_as_dict(_as_dict(node.get("/AP")).get("/N")))
        on = [str(s)[1:] for s in _as_dict(states) if s != "/Off"]
        appearance = node.get("/AS")
        return _Widget(
            page=number,
            bbox=bbox,
            state=on[0] if on else None,
            appearance=str(appearance)[1:] if isinstance(appearance, NameObject) else None,
        )

    def _field(
        self, name: str, attributes: dict[str, Any], widgets: list[_Widget]
    ) -> PdfFormField | None:
        if not name:
            return None  # a widget with no name anywhere up its tree: nothing can name it
        kind = _resolve(attributes.get("/FT"))
        flags = _flags(attributes.get("/Ff"))
        value = _resolve(attributes.get("/V"))
        first = widgets[0]
        if kind == "/Tx":
            text = _text(value)
            return PdfFormField(
                name, PdfFieldKind.TEXT, text or None, page=first.page, bbox=first.bbox
            )
        if kind == "/Btn" and not flags & _PUSHBUTTON:
            return _button(name, flags, value, _resolve(attributes.get("/Opt")), widgets)
        if kind == "/Ch":
            return _choice_field(name, flags, value, _resolve(attributes.get("/Opt")), first)
        return None  # signatures, push buttons, and fields of no known type


def _button(
    name: str, flags: int, value: Any, export_names: Any, widgets: list[_Widget]
) -> PdfFormField:
    kind = PdfFieldKind.RADIO if flags & _RADIO else PdfFieldKind.CHECKBOX
    if isinstance(value, str) and value:
        # A name (/Yes), or, from some producers, a string with the state's name.
        state: str | None = value[1:] if isinstance(value, NameObject) else str(value)
    else:
        # No value on the field: the state a widget shows is the only answer there is.
        state = next((w.appearance for w in widgets if w.appearance), None)
    on = bool(state) and state != "Off"
    chosen = next((w for w in widgets if on and w.state == state), widgets[0])

    def exported(state_name: str) -> str:
        # Since PDF 1.4 /Opt may give the export values, the states then being indexes.
        if isinstance(export_names, ArrayObject) and state_name.isdigit():
            index = int(state_name)
            if index < len(export_names):
                return _text(_resolve(export_names[index]))
        return state_name

    options = tuple(dict.fromkeys(exported(w.state) for w in widgets if w.state))
    return PdfFormField(
        name,
        kind,
        exported(state) if on and state is not None else None,
        checked=on,
        options=options,
        page=chosen.page,
        bbox=chosen.bbox,
    )


def _choice_field(
    name: str, flags: int, value: Any, raw_options: Any, widget: _Widget
) -> PdfFormField:
    options: list[tuple[str, str]] = []  # (export value, displayed text)
    if isinstance(raw_options, ArrayObject):
        for option in raw_options:
            option = _resolve(option)
            if isinstance(option, ArrayObject) and len(option) >= 2:
                options.append((_text(_resolve(option[0])), _text(_resolve(option[1]))))
            else:
                options.append((_text(option), _text(option)))
    chosen = [_text(_resolve(v)) for v in value] if isinstance(value, ArrayObject) else []
    if not isinstance(value, ArrayObject) and value is not None:
        chosen = [_text(value)]
    chosen = [c for c in chosen if c]
    if not flags & _MULTI_SELECT:
        chosen = chosen[:1]
    displayed = dict(options)
    labels = [displayed.get(c, c) for c in chosen]
    label = ", ".join(labels) if labels != chosen else None
    return PdfFormField(
        name,
        PdfFieldKind.CHOICE,
        ", ".join(chosen) or None,
        label=label,
        options=tuple(export for export, _ in options),
        page=widget.page,
        bbox=widget.bbox,
    )


# --- PDF objects -----------------------------------------------------------------------


def _resolve(obj: Any) -> Any:
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def _as_dict(obj: Any) -> DictionaryObject:
    resolved = _resolve(obj)
    return resolved if isinstance(resolved, DictionaryObject) else DictionaryObject()


def _ref_key(ref: IndirectObject) -> tuple[int, int]:
    return (ref.idnum, ref.generation)


def _key(node: DictionaryObject) -> tuple[int, int] | None:
    ref = node.indirect_reference
    return _ref_key(ref) if ref is not None else None


def _flags(raw: Any) -> int:
    try:
        return int(_resolve(raw) or 0)
    except (TypeError, ValueError):
        return 0


def _text(value: Any) -> str:
    """A value as text: strings as given, a name without its slash, rich text's stream
    decoded; anything else (null, a number where text belongs) as empty or its text."""
    if value is None:
        return ""
    if isinstance(value, NameObject):
        return str(value)[1:]
    if isinstance(value, StreamObject):
        return value.get_data().decode("utf-8", errors="replace")
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def _page_fractions(rect: Any, page: Any) -> BBox | None:
    """A rectangle in PDF user space as fractions of the page as displayed (its crop
    box, turned by /Rotate), origin top-left."""
    rect = _resolve(rect)
    try:
        x0, y0, x1, y1 = (float(_resolve(v)) for v in rect)
        box = page.cropbox
        left, bottom = float(box.left), float(box.bottom)
        width, height = float(box.width), float(box.height)
        rotation = int(page.rotation) % 360
    except (TypeError, ValueError):
        return None  # no usable /Rect: the value is still exact, only its place unknown
    if width <= 0 or height <= 0:
        return None
    corners = []
    for x, y in ((x0, y0), (x1, y1)):
        u, v = (x - left) / width, (bottom + height - y) / height
        # Turned clockwise by the page's /Rotate, as a viewer shows it.
        turned = {0: (u, v), 90: (1 - v, u), 180: (1 - u, 1 - v), 270: (v, 1 - u)}
        corners.append(turned.get(rotation, (u, v)))
    (a, b), (c, d) = corners

    def clamp(n: float) -> float:
        return round(min(1.0, max(0.0, n)), 4)

    return (clamp(min(a, c)), clamp(min(b, d)), clamp(max(a, c)), clamp(max(b, d)))

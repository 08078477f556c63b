"""Random form designs: a seed gives a whole new form, its layout and its template.

The bundled designs (``_designs.py``) are two forms the extraction engine was
tuned on. A random design draws 10-20 fields from a pool of kinds (names,
dates, NI number, money, tick boxes, choices...), words each label one of
several ways, and lays the page out its own way: labels left of, above or
inside their boxes, comb boxes, ruled grids, two columns, tick boxes before or
after their statements, Yes/No pairs and rows of options, several typefaces and
print sizes. Each design carries the template an engineer would write for it.

Every choice comes from ``random.Random(f"design:{seed}:{attempt}")``; a layout
that would not fit on one A4 page is redrawn with the next attempt, so a seed
always gives the same design.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from config.form_template import FieldSpec, FieldType, FormTemplate, Position
from switchover.specimens._filling import FilledField, FilledForm, fill_form

PAGE_WIDTH, PAGE_HEIGHT = A4
TOP = 0.135 * PAGE_HEIGHT  # where the first section starts, below the title block
BOTTOM = PAGE_HEIGHT - 40  # the footer line sits below this
COLUMN_GAP = 18.0
ROW_GAP = 7.0
TICK = 12.0  # a tick box's side
COMB_CELL = 17.0
HEADER_HEIGHT = 18.0


class FieldStyle(StrEnum):
    """How one field is printed."""

    RIGHT = "right"  # label, then the value box to its right
    BELOW = "below"  # label above its box
    INSIDE = "inside"  # label as a small caption in the box's top-left corner
    COMB_RIGHT = "comb_right"  # label, then one cell per character to its right
    COMB_BELOW = "comb_below"  # label above one cell per character
    GRID = "grid"  # a cell of a ruled table: label cell, value cell, shared walls
    TICK_AFTER = "tick_after"  # statement, then its tick box just after the text
    TICK_RIGHT = "tick_right"  # statement, tick box in a column at the right margin
    TICK_BEFORE = "tick_before"  # tick box, then the statement
    YES_NO = "yes_no"  # question, then "Yes [ ]  No [ ]"
    CHOICE_ROW = "choice_row"  # question, then 3-5 options each with its own box
    ZONE = "zone"  # the office reference box: fixed coordinates, no label


_TICK_STYLES = (FieldStyle.TICK_AFTER, FieldStyle.TICK_RIGHT, FieldStyle.TICK_BEFORE)
_OPTION_STYLES = (FieldStyle.YES_NO, FieldStyle.CHOICE_ROW)


# --- typefaces ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Typeface:
    """A family of printed type: regular, bold and italic font names."""

    family: str
    regular: str
    bold: str
    italic: str


_TTF_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
_BUILT_IN = {
    "Helvetica": Typeface("Helvetica", "Helvetica", "Helvetica-Bold", "Helvetica-Oblique"),
    "Times": Typeface("Times", "Times-Roman", "Times-Bold", "Times-Italic"),
    "Courier": Typeface("Courier", "Courier", "Courier-Bold", "Courier-Oblique"),
}
# TrueType families (fonts-dejavu-core, fonts-liberation) and the built-in face that
# stands in when a machine lacks one, so that a seed draws the same design everywhere.
_TTF_FAMILIES = (
    ("DejaVu Sans", "Helvetica", ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique")),
    ("DejaVu Serif", "Times", ("DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic")),
    ("Liberation Sans", "Helvetica",
     ("LiberationSans-Regular", "LiberationSans-Bold", "LiberationSans-Italic")),
    ("Liberation Serif", "Times",
     ("LiberationSerif-Regular", "LiberationSerif-Bold", "LiberationSerif-Italic")),
)  # fmt: skip


def _register_typefaces() -> tuple[Typeface, ...]:
    """The built-in faces and the TrueType families, registered from the system's files
    (nothing downloads); a family whose files are missing prints in its stand-in."""
    faces = list(_BUILT_IN.values())
    for family, stand_in, names in _TTF_FAMILIES:
        paths = [next((d / f"{n}.ttf" for d in _TTF_DIRS if (d / f"{n}.ttf").is_file()), None)
                 for n in names]  # fmt: skip
        if any(p is None for p in paths):
            faces.append(_BUILT_IN[stand_in])
            continue
        for name, path in zip(names, paths, strict=True):
            if name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(name, str(path)))
        faces.append(Typeface(family, *names))
    return tuple(faces)


TYPEFACES = _register_typefaces()


def text_width(text: str, font: str, size: float) -> float:
    return float(pdfmetrics.stringWidth(text, font, size))


# --- the pool of field kinds -------------------------------------------------------------


@dataclass(frozen=True)
class FieldKind:
    """A kind of question a form asks: the field's type, its names and label wordings.

    Field names carry the words the filler looks for (``birth``, ``income``, ``rent``...).
    """

    key: str
    type: FieldType
    names: tuple[str, ...]
    labels: tuple[str, ...]
    section: str
    styles: tuple[FieldStyle, ...]
    options: tuple[tuple[str, ...], ...] = ()
    required: float = 0.5


_BOXED = (FieldStyle.RIGHT, FieldStyle.RIGHT, FieldStyle.BELOW, FieldStyle.INSIDE)
_COMBED = (*_BOXED, FieldStyle.COMB_RIGHT, FieldStyle.COMB_BELOW)
_TICKS = (FieldStyle.TICK_AFTER, FieldStyle.TICK_RIGHT, FieldStyle.TICK_BEFORE)

_KINDS: tuple[FieldKind, ...] = (
    FieldKind("surname", FieldType.NAME, ("surname", "last_name", "family_name"),
              ("Surname", "Last name", "Family name", "Surname or family name"),
              "you", _BOXED, required=1.0),
    FieldKind("forenames", FieldType.NAME, ("forenames", "first_names", "given_names"),
              ("Forenames", "First names", "Given names", "All first names in full"),
              "you", _BOXED, required=1.0),
    FieldKind("title", FieldType.CHOICE, ("title",), ("Title", "Your title"), "you",
              (FieldStyle.CHOICE_ROW,),
              (("Mr", "Mrs", "Ms", "Miss", "Mx"), ("Mr", "Mrs", "Miss", "Ms"),
               ("Mr", "Mrs", "Ms", "Dr"))),
    FieldKind("date_of_birth", FieldType.DATE, ("date_of_birth",),
              ("Date of birth", "Your date of birth", "When were you born?",
               "Date of birth (day, month and year)"), "you", _COMBED, required=0.9),
    FieldKind("ni_number", FieldType.NI_NUMBER, ("national_insurance_number", "ni_number"),
              ("National Insurance number", "NI number", "Your National Insurance number",
               "National Insurance no."), "you", _COMBED),
    FieldKind("marital_status", FieldType.CHOICE, ("marital_status",),
              ("Marital status", "Relationship status"), "you", (FieldStyle.CHOICE_ROW,),
              (("Single", "Married", "Civil partner", "Divorced", "Widowed"),
               ("Single", "Married", "Separated", "Widowed"))),
    FieldKind("address_line_1", FieldType.TEXT, ("address_line_1",),
              ("Address line 1", "House number and street", "Street address",
               "First line of your address"), "home", _BOXED, required=0.8),
    FieldKind("address_line_2", FieldType.TEXT, ("address_line_2",),
              ("Address line 2", "Area or district", "Second line of address"), "home", _BOXED,
              required=0.2),
    FieldKind("town", FieldType.TEXT, ("town",), ("Town or city", "Town", "Post town"), "home",
              _BOXED),
    FieldKind("postcode", FieldType.POSTCODE, ("postcode",),
              ("Postcode", "Post code", "Postcode of your home"), "home", _COMBED, required=0.8),
    FieldKind("date_moved_in", FieldType.DATE, ("date_moved_in",),
              ("Date you moved in", "Date you moved to this address",
               "Date you moved in to the address given above"), "home", _COMBED),
    FieldKind("years_at_address", FieldType.INTEGER, ("years_at_address",),
              ("Years at this address", "How many years have you lived there?"), "home", _BOXED),
    FieldKind("rents_home", FieldType.CHOICE, ("rents_home",),
              ("Do you rent your home?", "Is your home rented?"), "home", (FieldStyle.YES_NO,),
              (("Yes", "No"),)),
    FieldKind("email", FieldType.EMAIL, ("email",),
              ("Email address", "E-mail", "Your email", "Email (if you have one)"), "contact",
              _BOXED),
    FieldKind("phone", FieldType.PHONE, ("phone", "mobile", "telephone"),
              ("Telephone number", "Phone number", "Mobile number", "Daytime phone number",
               "Contact telephone"), "contact", _BOXED),
    FieldKind("contact_preference", FieldType.CHOICE, ("contact_preference",),
              ("How should we contact you?", "Preferred way to contact you"), "contact",
              (FieldStyle.CHOICE_ROW,),
              (("Post", "Email", "Phone"), ("Letter", "Phone", "Text message"))),
    FieldKind("occupation", FieldType.TEXT, ("occupation",),
              ("Occupation", "Your job", "Job title", "What work do you do?"), "money", _BOXED),
    FieldKind("employment_status", FieldType.CHOICE, ("employment_status",),
              ("Employment status", "Are you working?"), "money", (FieldStyle.CHOICE_ROW,),
              (("Employed", "Self-employed", "Unemployed", "Retired"),
               ("Full time", "Part time", "Not working", "Retired", "Student"))),
    FieldKind("income", FieldType.MONEY, ("monthly_income", "gross_income"),
              ("Monthly income before tax", "Gross monthly income", "Your income each month",
               "Total income from work and benefits each month"), "money", _BOXED),
    FieldKind("rent", FieldType.MONEY, ("monthly_rent", "rent"),
              ("Rent each month", "Monthly rent", "Rent you pay each month"), "money", _BOXED),
    FieldKind("savings", FieldType.MONEY, ("savings",),
              ("Savings", "Total savings and investments", "Money in bank accounts"), "money",
              _BOXED),
    FieldKind("council_tax", FieldType.MONEY, ("council_tax",),
              ("Council Tax each month", "Council Tax (monthly)", "Monthly Council Tax"), "money",
              _BOXED),
    FieldKind("children", FieldType.INTEGER, ("number_of_children", "children"),
              ("Number of children", "How many children live with you?", "Children under 16"),
              "money", _BOXED),
    FieldKind("sort_code", FieldType.TEXT, ("sort_code",), ("Sort code", "Bank sort code"),
              "money", (FieldStyle.COMB_RIGHT, FieldStyle.COMB_BELOW)),
    FieldKind("in_work", FieldType.CHOICE, ("in_work", "paid_work"),
              ("Are you in paid work?", "Do you work for pay?"), "money", (FieldStyle.YES_NO,),
              (("Yes", "No"),)),
    FieldKind("disability", FieldType.CHOICE, ("disability",),
              ("Do you have a disability?", "Do you have a long-term illness or disability?"),
              "money", (FieldStyle.YES_NO,), (("Yes", "No"),)),
    FieldKind("universal_credit", FieldType.CHECKBOX, ("universal_credit",),
              ("I receive Universal Credit", "I get Universal Credit"), "declare", _TICKS),
    FieldKind("has_partner", FieldType.CHECKBOX, ("has_partner",),
              ("I have a partner who lives with me", "I live with a partner"), "declare", _TICKS),
    FieldKind("postal_vote", FieldType.CHECKBOX, ("postal_vote",),
              ("I want a postal vote", "Send me a postal vote application"), "declare", _TICKS),
    FieldKind("contact_consent", FieldType.CHECKBOX, ("contact_consent",),
              ("You may contact me about this claim", "I agree to be contacted"), "declare",
              _TICKS),
    FieldKind("date_signed", FieldType.DATE, ("date_signed", "signature_date"),
              ("Date signed", "Date of signature", "Today's date"), "declare", _COMBED,
              required=0.9),
)  # fmt: skip

_SECTION_ORDER = ("you", "home", "contact", "money", "declare")
_SECTION_TITLES = {
    "you": ("About you", "Your details", "Personal details", "The applicant"),
    "home": ("Where you live", "Your home", "Your address"),
    "contact": ("How we can contact you", "Contact details", "Keeping in touch"),
    "money": ("Your circumstances", "Money and work", "Income and outgoings"),
    "declare": ("Declaration", "Your declaration", "Before you sign"),
}
_SECTION_INTROS = {
    "you": ("Give your name as it appears on official documents.",
            "We may check what you tell us with other departments."),
    "home": ("Give the address where you live now.",),
    "contact": ("We only use these details to ask about this form.",),
    "money": ("Give amounts before tax.", "Leave a box empty if it does not apply to you."),
    "declare": ("Tell us about any changes straight away.",),
}  # fmt: skip
_AUTHORITIES = (
    "Department for Work and Pensions", "HM Revenue & Customs", "Northshire County Council",
    "Legal Aid Agency", "Valuation Office Agency", "Borough of Eastmoor", "Home Office",
    "Driver and Vehicle Licensing Agency", "City of Westbridge Council",
)  # fmt: skip
_TITLES = (
    ("Housing support application", "For people who need help with housing costs"),
    ("Change of circumstances", "Tell us what has changed"),
    ("Free school meals", "Application for a school year"),
    ("Hardship fund claim", "One-off help in an emergency"),
    ("Residents' parking permit", "Application and renewal"),
    ("Discretionary payment", "Request for extra help"),
    ("Blue Badge", "Application for a disabled person's parking badge"),
    ("Winter fuel support", "Claim form"),
)
_NOTES = (
    "It is a criminal offence to give false information on this form.",
    "We will use the information you give to decide your claim and may share it with "
    "other public bodies to prevent fraud.",
    "Keep a copy of this form. If you need help filling it in, ask at any of our offices.",
    "Incomplete forms will be returned and may delay your payment.",
)
_INSTRUCTIONS = (
    "Please write in BLOCK CAPITALS using black ink.",
    "Use black or blue ink. Tick the boxes that apply.",
    "Please complete all sections that apply to you.",
    "Write clearly inside the boxes.",
)
_REFERENCE = (
    ("Office use only", "^[A-Z]{2}[0-9]{6}$"),
    ("Reference number", "^[0-9]{8}$"),
    ("Case reference", "^C[0-9]{7}$"),
    ("For official use", None),
)


# --- the design ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldLayout:
    """How one field is printed, and how the applicant writes in it.

    Attributes:
        name: the template field's name.
        kind: the pool kind (``surname``, ``income``...).
        style: how it is drawn.
        label_lines: the printed label, one entry per printed line (joined with a
            space it is the template's label); empty for the zone.
        options: the printed options of a Yes/No or choice row, left to right.
        comb_groups: cells per group of a comb (``(2, 2, 4)`` for DD MM YYYY), else empty.
        leaders: dotted leaders run from the label to its box.
        pound: a "£" is printed left of the box; the applicant writes only the amount.
        long_date: the applicant writes the date out ("1st Oct 2020").
    """

    name: str
    kind: str
    style: FieldStyle
    label_lines: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    comb_groups: tuple[int, ...] = ()
    leaders: bool = False
    pound: bool = False
    long_date: bool = False
    required: bool = False

    @property
    def label(self) -> str | None:
        return " ".join(self.label_lines) or None

    @property
    def features(self) -> frozenset[str]:
        """The layout features this field shows, as the tests and the bench count them."""
        found = {str(self.style)}
        if self.style in (FieldStyle.COMB_RIGHT, FieldStyle.COMB_BELOW):
            found.add("comb")
        found |= {n for n, on in (("leaders", self.leaders), ("pound_outside", self.pound),
                                  ("long_date", self.long_date),
                                  ("wrapped_label", len(self.label_lines) > 1)) if on}  # fmt: skip
        return frozenset(found)


@dataclass(frozen=True)
class SectionLayout:
    """A titled block: rows of one field, or two side by side; ``grid`` draws a ruled table."""

    heading: str
    rows: tuple[tuple[FieldLayout, ...], ...]
    intro: str = ""
    grid: bool = False
    signature: bool = False


@dataclass(frozen=True)
class Zone:
    """The office reference box, in page fractions, with its caption."""

    name: str
    box: tuple[float, float, float, float]
    caption: str
    pattern: str | None


@dataclass(frozen=True)
class RandomDesign:
    """A randomly drawn form: its printed layout and the template an engineer would write.

    Attributes:
        seed: the design seed.
        template: the template for this form.
        typeface: the printed type; ``size`` its body size in points (8-12).
        header_style: ``grey`` bars, ``dark`` bars with white text, or ``rule`` (bold
            text over a line).
        value_x: where value boxes of ``right`` fields start in a one-column row (points);
            None when each box starts just after its label.
        block_capitals: the applicant writes names and text in capitals.
        email_mixed_case: the applicant writes the e-mail address in mixed case.
    """

    seed: int
    template: FormTemplate
    authority: str
    title: str
    subtitle: str
    instructions: str
    sections: tuple[SectionLayout, ...]
    typeface: Typeface
    size: float
    header_style: str
    margin: float
    value_x: float | None
    zone: Zone | None
    notes: tuple[str, ...]
    footer: str
    block_capitals: bool
    email_mixed_case: bool

    @property
    def layouts(self) -> dict[str, FieldLayout]:
        """Every field's layout by field name (the zone's too)."""
        found = {f.name: f for s in self.sections for row in s.rows for f in row}
        if self.zone is not None:
            found[self.zone.name] = FieldLayout(self.zone.name, "reference", FieldStyle.ZONE)
        return found

    @property
    def features(self) -> frozenset[str]:
        """Every layout feature on the page: each field's, plus the page's own."""
        found: set[str] = {f"header_{self.header_style}", f"font_{self.typeface.family}"}
        for section in self.sections:
            found |= {"grid"} if section.grid else set()
            for row in section.rows:
                found |= {"two_columns"} if len(row) > 1 else set()
                for item in row:
                    found |= item.features
        if self.zone is not None:
            found.add("zone_pattern" if self.zone.pattern else "zone")
        if self.notes:
            found.add("small_print")
        if self.value_x is not None:
            found.add("aligned_boxes")
        return frozenset(found)

    def describe(self) -> dict[str, Any]:
        """The layout as plain data (for the truth JSON and the bench)."""
        return {
            "seed": self.seed,
            "typeface": self.typeface.family,
            "size": self.size,
            "header_style": self.header_style,
            "features": sorted(self.features),
            "fields": {
                name: {"kind": f.kind, "style": str(f.style), "features": sorted(f.features)}
                for name, f in self.layouts.items()
            },
        }

    def printed_texts(self) -> list[str]:
        """Every phrase printed on the page other than the values (labels joined over lines)."""
        texts = [self.authority, self.title, self.subtitle, self.instructions, self.footer,
                 "Page 1 of 1", "Signature", "£", *self.notes]  # fmt: skip
        if self.zone is not None:
            texts.append(self.zone.caption)
        for section in self.sections:
            texts += [section.heading, section.intro]
            for item in (f for row in section.rows for f in row):
                texts += [item.label or "", *item.options]
                texts += list(_comb_hints(item))
        return [t for t in texts if t]

    def template_yaml(self) -> str:
        """The template as an engineer would write it (only the keys that matter)."""
        document = _template_document(self.template)
        return yaml.dump(document, Dumper=_TemplateDumper, sort_keys=False, allow_unicode=True)


class _TemplateDumper(yaml.SafeDumper):
    """Short lists (zones, choices, match phrases) on one line, as engineers write them."""


def _flow_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    scalars = all(not isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=scalars)


_TemplateDumper.add_representer(list, _flow_list)


def _comb_hints(item: FieldLayout) -> tuple[str, ...]:
    """The small print over a date comb's groups."""
    return ("DD", "MM", "YYYY") if item.comb_groups == (2, 2, 4) else ()


def _template_document(template: FormTemplate) -> dict[str, Any]:
    fields = []
    for spec in template.fields:
        entry: dict[str, Any] = {"name": spec.name}
        if spec.label:
            entry["label"] = spec.label
        entry["position"] = str(spec.position)
        entry["type"] = str(spec.type)
        if spec.required:
            entry["required"] = True
        if spec.zone is not None:
            entry["zone"] = list(spec.zone)
        if spec.pattern:
            entry["pattern"] = spec.pattern
        if spec.choices:
            entry["choices"] = list(spec.choices)
        fields.append(entry)
    return {
        "form_type": template.form_type,
        "title": template.title,
        "match": {"all_text": template.match.all_text, "any_text": template.match.any_text},
        "fields": fields,
        "review": {"min_confidence": template.review.min_confidence},
    }


@dataclass(frozen=True)
class Metrics:
    """Sizes that follow from the print size; the renderer draws with the same ones."""

    size: float

    @property
    def line(self) -> float:
        return self.size * 1.25

    @property
    def box(self) -> float:
        return max(20.0, self.size + 11)

    @property
    def caption(self) -> float:
        return max(6.5, self.size * 0.75)

    def field_height(self, item: FieldLayout) -> float:
        """The height of one field's row, without the gap after it."""
        lines = len(item.label_lines)
        hints = 8.0 if _comb_hints(item) else 0.0
        if item.style in (FieldStyle.RIGHT, FieldStyle.GRID):
            return max(self.box, lines * self.line + 6)
        if item.style is FieldStyle.COMB_RIGHT:
            return max(self.box + hints, lines * self.line + 6)
        if item.style in (FieldStyle.BELOW, FieldStyle.COMB_BELOW):
            return lines * self.line + 3 + hints + self.box
        if item.style is FieldStyle.INSIDE:
            return self.caption + 4 + self.box
        return max(TICK, lines * self.line) + 2

    def section_height(self, section: SectionLayout, width: float) -> float:
        height = HEADER_HEIGHT + 8
        if section.intro:
            height += (
                len(simpleSplit(section.intro, "Helvetica", self.size - 1, width)) * (self.line - 1)
                + 4
            )
        for row in section.rows:
            height += max(self.field_height(f) for f in row)
            height += 0 if section.grid and row[0].style is FieldStyle.GRID else ROW_GAP
        if section.grid:
            height += ROW_GAP
        if section.signature:
            height += SIGNATURE_HEIGHT + ROW_GAP
        return height + 6


SIGNATURE_HEIGHT = 30.0


def random_design(seed: int) -> RandomDesign:
    """A new form design: 10-20 fields drawn at random, each printed its own way.

    Args:
        seed: the same seed gives the same design (and, filled, the same bytes).

    Returns:
        The design and its template.
    """
    for attempt in range(100):
        rng = random.Random(f"design:{seed}:{attempt}")
        design = _draft(seed, rng, max_fields=20 if attempt < 10 else 14)
        if design is not None:
            return design
    raise RuntimeError(f"no design for seed {seed} fits on a page")  # pragma: no cover


@dataclass
class _Page:
    """What a draft has decided so far about the page as a whole."""

    typeface: Typeface
    size: float
    margin: float
    value_x: float | None
    leaders: bool
    two_columns: bool
    tick_style: FieldStyle
    printed: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    @property
    def width(self) -> float:
        return PAGE_WIDTH - 2 * self.margin

    def column_width(self, columns: int) -> float:
        return (self.width - (columns - 1) * COLUMN_GAP) / columns

    def clashes(self, label: str) -> bool:
        """Whether the label would be printed inside another phrase, or another label inside it."""
        low = label.lower()
        return any(low in t.lower() for t in self.printed + self.labels) or any(
            other.lower() in low for other in self.labels
        )


def _draft(seed: int, rng: random.Random, *, max_fields: int) -> RandomDesign | None:
    """One attempt at a design; None when it does not fit on the page."""
    page = _Page(
        typeface=rng.choice(TYPEFACES),
        size=rng.choice((8.0, 8.5, 9.0, 9.5, 10.0, 10.5, 11.0, 11.5, 12.0)),
        margin=rng.uniform(0.06, 0.09) * PAGE_WIDTH,
        value_x=None,
        leaders=False,
        two_columns=rng.random() < 0.5,
        tick_style=rng.choice(_TICK_STYLES),
    )
    if rng.random() < 0.6:
        page.value_x = page.margin + page.width * rng.uniform(0.30, 0.42)
        page.leaders = rng.random() < 0.4
    title, subtitle = rng.choice(_TITLES)
    authority = rng.choice(_AUTHORITIES)
    instructions = rng.choice(_INSTRUCTIONS)
    footer = f"{title} - {authority}" if rng.random() < 0.5 else "Please return this form to us"
    notes = tuple(rng.sample(_NOTES, rng.randint(1, 2))) if rng.random() < 0.6 else ()
    zone = _zone(rng)
    page.printed += [title, subtitle, authority, instructions, footer, "Page 1 of 1", "Signature",
                     *notes, *(k.caption for k in [zone] if k)]  # fmt: skip
    count = rng.randint(10, max_fields) - (zone is not None)
    kinds = _pick_kinds(rng, count)
    headings = _headings(rng, kinds)
    page.printed += [h for h, _ in headings.values()] + [i for _, i in headings.values() if i]
    for kind in kinds:
        page.printed += [o for opts in kind.options for o in opts]
    layouts = [f for f in (_field(kind, rng, page) for kind in kinds) if f is not None]
    by_section = {key: [f for f in layouts if _KIND_SECTION[f.kind] == key] for key in headings}
    sections = tuple(
        _section(rng, page, headings[key], by_section[key]) for key in headings if by_section[key]
    )
    metrics = Metrics(page.size)
    used = sum(metrics.section_height(s, page.width) for s in sections)
    used += sum(len(simpleSplit(n, "Helvetica", 7, page.width)) * 9 for n in notes) + 4
    if TOP + used > BOTTOM:
        return None
    return RandomDesign(
        seed=seed,
        template=_template(seed, title, authority, zone, sections),
        authority=authority,
        title=title,
        subtitle=subtitle,
        instructions=instructions,
        sections=sections,
        typeface=page.typeface,
        size=page.size,
        header_style=rng.choice(("grey", "dark", "rule")),
        margin=page.margin,
        value_x=page.value_x,
        zone=zone,
        notes=notes,
        footer=footer,
        block_capitals=rng.random() < 0.7,
        email_mixed_case=rng.random() < 0.4,
    )


_KIND_SECTION = {k.key: k.section for k in _KINDS}


def _zone(rng: random.Random) -> Zone | None:
    if rng.random() < 0.25:
        return None
    caption, pattern = rng.choice(_REFERENCE)
    x0 = rng.uniform(0.62, 0.68)
    y0 = rng.uniform(0.030, 0.040)
    box = (round(x0, 3), round(y0, 3), round(rng.uniform(0.90, 0.93), 3), round(y0 + 0.036, 3))
    return Zone("office_reference", box, caption, pattern)


def _pick_kinds(rng: random.Random, count: int) -> list[FieldKind]:
    """``count`` kinds, surname and forenames among them, in the order of the form's sections."""
    always = [k for k in _KINDS if k.required == 1.0]
    others = rng.sample([k for k in _KINDS if k.required < 1.0], count - len(always))
    chosen = always + others
    # Within a section the order is loose, but an address reads line 1, line 2, town, postcode.
    place = {
        k.key: i + (0 if k.key in _ADDRESS else rng.uniform(-3, 3)) for i, k in enumerate(_KINDS)
    }
    return sorted(chosen, key=lambda k: (_SECTION_ORDER.index(k.section), place[k.key]))


_ADDRESS = ("address_line_1", "address_line_2", "town", "postcode")


def _headings(rng: random.Random, kinds: list[FieldKind]) -> dict[str, tuple[str, str]]:
    numbering = rng.choice(("{n}  {t}", "Part {n}  {t}", "Section {l}: {t}", "{t}"))
    headings = {}
    present = [key for key in _SECTION_ORDER if any(k.section == key for k in kinds)]
    for number, key in enumerate(present, start=1):
        heading = numbering.format(
            n=number, l="ABCDEF"[number - 1], t=rng.choice(_SECTION_TITLES[key])
        )
        intro = rng.choice(_SECTION_INTROS[key]) if rng.random() < 0.25 else ""
        headings[key] = (heading, intro)
    return headings


_BOX_STYLES = (FieldStyle.RIGHT, FieldStyle.BELOW, FieldStyle.INSIDE)
_COMB_GROUPS = {
    FieldType.DATE: (2, 2, 4),
    FieldType.NI_NUMBER: (2, 2, 2, 2, 1),
    FieldType.POSTCODE: (4, 3),
    FieldType.TEXT: (2, 2, 2),  # a sort code
}
_PATTERNS = {"sort_code": "^[0-9]{6}$"}


def _field(kind: FieldKind, rng: random.Random, page: _Page) -> FieldLayout | None:
    """One field of ``kind``: its name, label wording and style; None when every wording clashes."""
    labels = list(kind.labels)
    rng.shuffle(labels)
    label = next((text for text in labels if not page.clashes(text)), None)
    if label is None:
        return None
    style = _style(kind, rng, page)
    options = rng.choice(kind.options) if kind.options else ()
    while options and _options_width(label, options, page) > page.width:
        options = options[:-1]
    if style is FieldStyle.CHOICE_ROW and len(options) < 3:
        return None  # too few options left to be a choice row on one line
    page.labels.append(label)
    comb = style in (FieldStyle.COMB_RIGHT, FieldStyle.COMB_BELOW)
    return FieldLayout(
        name=rng.choice(kind.names),
        kind=kind.key,
        style=style,
        label_lines=(label,),
        options=options,
        comb_groups=_COMB_GROUPS[kind.type] if comb else (),
        leaders=page.leaders and style is FieldStyle.RIGHT,
        pound=kind.type is FieldType.MONEY
        and style is not FieldStyle.INSIDE
        and rng.random() < 0.6,
        long_date=kind.type is FieldType.DATE and not comb and rng.random() < 0.4,
        required=kind.type is not FieldType.CHECKBOX and rng.random() < kind.required,
    )


def _style(kind: FieldKind, rng: random.Random, page: _Page) -> FieldStyle:
    if kind.styles == _TICKS:
        return page.tick_style if rng.random() < 0.7 else rng.choice(_TICKS)
    combs = [s for s in kind.styles if s in (FieldStyle.COMB_RIGHT, FieldStyle.COMB_BELOW)]
    if combs and (rng.random() < 0.35 or len(combs) == len(kind.styles)):
        return rng.choice(combs)
    boxes = [s for s in kind.styles if s in _BOX_STYLES]
    return rng.choice(boxes) if boxes else kind.styles[0]


def _options_width(label: str, options: tuple[str, ...], page: _Page) -> float:
    face, size = page.typeface.regular, page.size
    start = text_width(label, face, size) + 16
    if page.value_x is not None:
        start = max(start, page.value_x - page.margin)
    return start + sum(text_width(o, face, size) + 4 + TICK + 14 for o in options)


def comb_width(groups: tuple[int, ...]) -> float:
    """The width of a comb: its cells, with a gap between groups."""
    return sum(groups) * COMB_CELL + (len(groups) - 1) * 8


_PAIRABLE = (FieldStyle.RIGHT, FieldStyle.BELOW, FieldStyle.INSIDE, FieldStyle.COMB_BELOW)


def _section(
    rng: random.Random, page: _Page, heading: tuple[str, str], fields: list[FieldLayout]
) -> SectionLayout:
    """Arrange a section's fields in rows (a ruled grid, two columns) and wrap their labels."""
    boxed = [f for f in fields if f.style in _BOX_STYLES]
    grid = len(boxed) >= 2 and rng.random() < 0.3
    if grid:
        gridded = [_replace(f, style=FieldStyle.GRID, leaders=False, pound=False) for f in boxed]
        fields = gridded + [f for f in fields if f.style not in _BOX_STYLES]
    rows: list[tuple[FieldLayout, ...]] = []
    pending = list(fields)
    while pending:
        first = pending.pop(0)
        pairable = _PAIRABLE if first.style is not FieldStyle.GRID else (FieldStyle.GRID,)
        if (page.two_columns and pending and first.style in pairable
                and pending[0].style in pairable and rng.random() < 0.7):  # fmt: skip
            rows.append((first, pending.pop(0)))
        else:
            rows.append((first,))
    wrapped: list[tuple[FieldLayout, ...]] = []
    for row in rows:
        done = tuple(_wrap(f, page, len(row)) for f in row)
        if len(done) > 1 and any(f.style is not row[0].style for f in done):
            # A label too long for a half-width grid cell moves above its box: that
            # field is no longer a cell of the grid, and the row is drawn as a grid
            # or not at all, so each field gets a row of its own (before, the label
            # was printed over the value cell beside it).
            wrapped += [(_wrap(f, page, 1),) for f in row]
        else:
            wrapped.append(done)
    heading_text, intro = heading
    declare = any(_KIND_SECTION[f.kind] == "declare" for f in fields)
    return SectionLayout(heading_text, tuple(wrapped), intro=intro, grid=grid, signature=declare)


def _replace(item: FieldLayout, **changes: Any) -> FieldLayout:
    values = {name: getattr(item, name) for name in FieldLayout.__dataclass_fields__}
    return FieldLayout(**(values | changes))


def label_width(item: FieldLayout, page_width: float, value_x: float | None, columns: int,
                size: float, margin: float) -> float:  # fmt: skip
    """The width a label may take before it wraps, for its style and column."""
    column = (page_width - (columns - 1) * COLUMN_GAP) / columns
    if item.style is FieldStyle.GRID:
        return column * 0.4 - 8
    if item.style is FieldStyle.COMB_RIGHT:
        room = column - comb_width(item.comb_groups) - 16
        return min(room, value_x - margin - 10) if value_x and columns == 1 else room
    if item.style is FieldStyle.RIGHT:
        if columns > 1:
            return column * 0.45
        if value_x is not None:
            return value_x - margin - (16 if item.pound or item.leaders else 10)
        return column * 0.5
    if item.style is FieldStyle.INSIDE:
        return column - 8
    return column if item.style in (FieldStyle.BELOW, FieldStyle.COMB_BELOW) else page_width


def _wrap(item: FieldLayout, page: _Page, columns: int) -> FieldLayout:
    """Break the label over lines as it will print; a label of more than two lines goes above
    its box instead (three in a grid cell)."""
    label = item.label or ""
    size = Metrics(page.size).caption if item.style is FieldStyle.INSIDE else page.size
    width = label_width(item, page.width, page.value_x, columns, page.size, page.margin)
    lines = tuple(simpleSplit(label, page.typeface.regular, size, width))
    if len(lines) > (3 if item.style is FieldStyle.GRID else 2):
        below = FieldStyle.COMB_BELOW if item.comb_groups else FieldStyle.BELOW
        return _wrap(_replace(item, style=below, leaders=False), page, columns)
    return _replace(item, label_lines=lines)


_POSITIONS = {
    FieldStyle.RIGHT: Position.RIGHT,
    FieldStyle.COMB_RIGHT: Position.RIGHT,
    FieldStyle.GRID: Position.RIGHT,
    FieldStyle.BELOW: Position.BELOW,
    FieldStyle.COMB_BELOW: Position.BELOW,
    FieldStyle.INSIDE: Position.INSIDE,
}
_KIND_TYPE = {k.key: k.type for k in _KINDS}


def _template(
    seed: int, title: str, authority: str, zone: Zone | None, sections: tuple[SectionLayout, ...]
) -> FormTemplate:
    specs = []
    if zone is not None:
        specs.append(
            FieldSpec(
                name=zone.name,
                position=Position.ZONE,
                zone=zone.box,
                type=FieldType.TEXT,
                pattern=zone.pattern,
                required=True,
            )
        )
    for item in (f for s in sections for row in s.rows for f in row):
        specs.append(
            FieldSpec(
                name=item.name,
                label=item.label,
                position=_POSITIONS.get(item.style, Position.RIGHT),
                type=_KIND_TYPE[item.kind],
                required=item.required,
                pattern=_PATTERNS.get(item.kind),
                choices=list(item.options),
            )
        )
    return FormTemplate(
        form_type=f"random-design-{seed}",
        title=title,
        match={"all_text": [title], "any_text": [authority]},
        fields=specs,
    )


# --- filling: how the applicant writes in each layout ---------------------------------------

_OCCUPATIONS = (
    "NURSE", "TEACHING ASSISTANT", "BUS DRIVER", "RETIRED", "CARE WORKER", "ELECTRICIAN",
    "SHOP ASSISTANT", "STUDENT", "CLEANER", "ACCOUNTANT", "CHEF", "WAREHOUSE OPERATIVE",
)  # fmt: skip
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def fill_design(design: RandomDesign, copy: int) -> FilledForm:
    """Fill one copy of a random design, written as its layout makes people write.

    The values come from :func:`fill_form` (the same British test data as the bundled
    forms); then the applicant adapts them to the page: one character per comb cell,
    no "£" where the form prints one, dates written out, capitals or not.

    Args:
        design: the form.
        copy: the copy number; the same copy of the same design is always filled the same.

    Returns:
        The filled form; each field's value is what ``normalise`` makes of what is written.
    """
    filled = fill_form(design.template, seed=copy)
    rng = random.Random(f"pen:{design.seed}:{copy}")
    layouts = design.layouts
    fields = [_pen(design, layouts[f.spec.name], f, rng) for f in filled.fields]
    return FilledForm(
        template=filled.template, seed=filled.seed, applicant=filled.applicant, fields=fields
    )


def _pen(
    design: RandomDesign, item: FieldLayout, filled: FilledField, rng: random.Random
) -> FilledField:
    spec, written, value = filled.spec, filled.written, filled.value
    if value is None:
        return filled
    if item.kind == "occupation":
        written = rng.choice(_OCCUPATIONS)
    elif item.kind == "reference" and spec.pattern is None:
        written = f"{rng.randint(0, 99999999):08d}"
    if spec.type in (FieldType.NAME, FieldType.TEXT) and not spec.pattern:
        written = written if design.block_capitals else written.title()
    elif spec.type is FieldType.EMAIL and design.email_mixed_case:
        written = ".".join(part.capitalize() for part in written.split("."))
    elif spec.type is FieldType.DATE:
        when = date.fromisoformat(value)
        if item.comb_groups:
            written = f"{when.day:02d} {when.month:02d} {when.year}"
        elif item.long_date:
            written = _long_date(when, rng)
    elif spec.type is FieldType.NI_NUMBER and item.comb_groups:
        written = value
    elif spec.type is FieldType.MONEY and item.pound:
        written = written.removeprefix("£")
    # What normalise makes of it (tests check): names and text as written, e-mail in lower case.
    if spec.type in (FieldType.NAME, FieldType.TEXT):
        value = written
    elif spec.type is FieldType.EMAIL:
        value = written.lower()
    return FilledField(spec=spec, written=written, value=value)


def _long_date(when: date, rng: random.Random) -> str:
    """A date written out: ``1 October 2020``, ``1st Oct 2020``, ``1st of October 2020``."""
    day = when.day
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    month = _MONTHS[when.month - 1]
    styles = (
        f"{day} {month} {when.year}",
        f"{day}{suffix} {month[:3]} {when.year}",
        f"{day}{suffix} of {month} {when.year}",
        f"{day}{suffix} {month} {when.year}",
    )
    return rng.choice(styles)

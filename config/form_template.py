"""The form template format (DESIGN.md, ``config/forms/*.yaml``), as pydantic models.

A template says how to recognise a form and where each field's value lies.
Coordinates are fractions of the page, so a template holds at any DPI.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.errors import TemplateError


class FieldType(StrEnum):
    TEXT = "text"
    NAME = "name"
    DATE = "date"
    NI_NUMBER = "ni_number"
    POSTCODE = "postcode"
    EMAIL = "email"
    PHONE = "phone"
    MONEY = "money"
    INTEGER = "integer"
    CHECKBOX = "checkbox"
    CHOICE = "choice"


class Position(StrEnum):
    """Where a field's value lies relative to its printed label."""

    RIGHT = "right"  # in the box (or on the line) right of the label
    BELOW = "below"  # in the box under the label: the label stands above its box
    INSIDE = "inside"  # the label is printed inside the box, as a caption or hint
    ZONE = "zone"  # at fixed page coordinates; no label needed


Zone = tuple[float, float, float, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatchRules(_Strict):
    all_text: list[str] = Field(default_factory=list)
    any_text: list[str] = Field(default_factory=list)


class FieldSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str | None = None
    position: Position = Position.RIGHT
    type: FieldType = FieldType.TEXT
    required: bool = False
    zone: Zone | None = None
    page: int = Field(default=1, ge=1)
    pattern: str | None = None
    choices: list[str] = Field(default_factory=list)
    # How far the value may reach from its label, as a fraction of the page.
    max_width: float | None = Field(default=None, gt=0, le=1)
    max_height: float | None = Field(default=None, gt=0, le=1)
    # A fillable PDF's own field for this value (its full name, as PDF tools list it):
    # read exactly, without OCR, when the document carries one.
    pdf_field: str | None = Field(default=None, min_length=1)

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as e:
                raise ValueError(f"pattern does not compile: {e}") from e
        return value

    @field_validator("zone")
    @classmethod
    def _zone_in_page(cls, value: Zone | None) -> Zone | None:
        if value is not None:
            x0, y0, x1, y1 = value
            if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                raise ValueError("zone must be x0 < x1 and y0 < y1 within 0..1")
        return value

    @model_validator(mode="after")
    def _anchor_given(self) -> FieldSpec:
        if self.position is Position.ZONE and self.zone is None:
            raise ValueError(f"field {self.name!r}: position zone needs a zone")
        if self.position is not Position.ZONE and not self.label:
            raise ValueError(f"field {self.name!r}: position {self.position} needs a label")
        if (
            self.zone is not None
            and self.position is not Position.ZONE
            and (self.type not in (FieldType.CHECKBOX, FieldType.CHOICE))
        ):
            raise ValueError(
                f"field {self.name!r}: a zone with a label is only for tick boxes "
                "(checkbox, choice); use position: zone"
            )
        if self.type is FieldType.CHOICE and not self.choices:
            raise ValueError(f"field {self.name!r}: type choice needs choices")
        return self


class ReviewRules(_Strict):
    min_confidence: float = Field(default=0.80, ge=0, le=1)
    sla_hours: float = Field(default=48, gt=0)


class LegacyMatch(_Strict):
    source: str
    table: str
    keys: dict[str, str] = Field(default_factory=dict)
    fuzzy: dict[str, str] = Field(default_factory=dict)


class Costs(_Strict):
    paper_gbp: Decimal = Field(ge=0, decimal_places=2)
    digital_gbp: Decimal = Field(ge=0, decimal_places=2)

    @property
    def saving_gbp(self) -> Decimal:
        return self.paper_gbp - self.digital_gbp


class DeliveryKind(StrEnum):
    POSTGRES = "postgres"
    WEBHOOK = "webhook"


class Destination(_Strict):
    """Where approved records of a form type are delivered (docs/delivery.md)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: DeliveryKind
    url: str = Field(min_length=1)
    table: str | None = Field(default=None, pattern=r"^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$")

    @model_validator(mode="after")
    def _table_for_postgres(self) -> Destination:
        if self.kind is DeliveryKind.POSTGRES and self.table is None:
            raise ValueError(f"destination {self.name!r}: kind postgres needs a table")
        return self


class Retention(_Strict):
    """How long a form type's scans and records are kept after the decision."""

    scans_days: int | None = Field(default=None, ge=0)
    records_years: int | None = Field(default=None, ge=0)


class FormTemplate(_Strict):
    form_type: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    match: MatchRules = Field(default_factory=MatchRules)
    fields: list[FieldSpec]
    review: ReviewRules = Field(default_factory=ReviewRules)
    legacy_match: LegacyMatch | None = None
    costs: Costs = Field(
        default_factory=lambda: Costs(paper_gbp=Decimal(0), digital_gbp=Decimal(0))
    )
    deliver_to: list[Destination] = Field(default_factory=list)
    retention: Retention = Field(default_factory=Retention)
    version: Literal[1] = 1

    @model_validator(mode="after")
    def _unique_field_names(self) -> FormTemplate:
        seen: set[str] = set()
        for spec in self.fields:
            if spec.name in seen:
                raise ValueError(f"field {spec.name!r} appears twice")
            seen.add(spec.name)
        return self

    @model_validator(mode="after")
    def _unique_destinations(self) -> FormTemplate:
        names = [destination.name for destination in self.deliver_to]
        if len(names) != len(set(names)):
            raise ValueError("deliver_to: each destination needs a name of its own")
        return self

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)


def load_template(path: Path) -> FormTemplate:
    """Read one template file.

    Raises:
        TemplateError: naming the file, the YAML line and the field that is wrong, as in
            ``register.yaml line 14, field "surname": position below needs a label``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TemplateError(f"cannot read template: {e}", where=str(path)) from e
    try:
        raw = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        where, message = _syntax_problem(text, e)
        raise TemplateError(message, where=f"{path} {where}".rstrip()) from e
    except (ValueError, RecursionError) as e:
        # The YAML reader's limits: an integer of over 4,300 digits, nesting past the stack.
        problem = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise TemplateError(f"not valid YAML: {problem}", where=str(path)) from e
    try:
        return FormTemplate.model_validate(raw)
    except ValidationError as e:
        problems = [_placed(root, tuple(err["loc"]), err["msg"]) for err in e.errors()]
        (where, message), rest = problems[0], problems[1:]
        message = "; ".join([message, *(f"{w}: {m}" for w, m in rest)])
        raise TemplateError(message, where=f"{path} {where}") from e


# A field's first line in the YAML, "- name: surname": names a field a syntax error is in.
_FIELD_START = re.compile(r"""^\s*-\s+name:\s*["']?([A-Za-z0-9_]+)""")


def _syntax_problem(text: str, error: yaml.YAMLError) -> tuple[str, str]:
    """Where a YAML syntax error is (``line 14, field "surname"``) and what it is."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    message = f"not valid YAML: {context + ', ' if context else ''}{problem}"
    if mark is None:
        return "", message
    lines = text.splitlines()[: mark.line + 1]
    name = None
    for line in reversed(lines):
        if found := _FIELD_START.match(line):
            name = found[1]
            break
        if line.startswith("fields:"):
            break
    where = f"line {mark.line + 1}" + (f', field "{name}"' if name else "")
    return where, message


def _placed(root: yaml.Node | None, loc: tuple[int | str, ...], msg: str) -> tuple[str, str]:
    """A validation error's place in the YAML and its message.

    The place is the line of the deepest node of ``loc`` the file has (a missing key's
    mapping) and, under ``fields``, the field by its name; the message starts with the
    key it is about, after the field.
    """
    message = msg.removeprefix("Value error, ")
    line = _line_of(root, loc)
    keys: tuple[int | str, ...] = loc
    field = ""
    if len(loc) >= 2 and loc[0] == "fields" and isinstance(loc[1], int):
        name = _field_name(root, loc[1])
        field = f'field "{name}"' if name else f"field {loc[1] + 1}"
        keys = loc[2:]
        # Our own checks name the field already: say it once.
        message = re.sub(r"^field '[^']*': ", "", message)
    if keys:
        message = f"{'.'.join(str(k) for k in keys)}: {message}"
    where = ", ".join(p for p in (f"line {line}" if line else "", field) if p)
    return where or "(top)", message


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the deepest node along ``loc`` (a key's line for a mapping's
    value, so a nested block points at its key)."""
    if root is None:
        return None
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next((p for p in node.value if p[0].value == str(part)), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _field_name(root: yaml.Node | None, index: int) -> str | None:
    """The ``name`` of ``fields[index]`` as written, if it has one."""
    if not isinstance(root, yaml.MappingNode):
        return None
    fields = next((v for k, v in root.value if k.value == "fields"), None)
    if not isinstance(fields, yaml.SequenceNode) or not 0 <= index < len(fields.value):
        return None
    spec = fields.value[index]
    if not isinstance(spec, yaml.MappingNode):
        return None
    name = next((v for k, v in spec.value if k.value == "name"), None)
    return str(name.value) if isinstance(name, yaml.ScalarNode) else None


def bundled_template_dir() -> Path:
    return Path(str(resources.files("config") / "forms"))


def load_templates(extra_dir: Path | None = None) -> dict[str, FormTemplate]:
    """The bundled templates, plus those in ``extra_dir`` (which win on the same form type)."""
    templates: dict[str, FormTemplate] = {}
    for folder in [bundled_template_dir(), extra_dir]:
        if folder is None or not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            template = load_template(path)
            templates[template.form_type] = template
    return templates

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
        if self.zone is not None and self.position is not Position.ZONE and (
            self.type not in (FieldType.CHECKBOX, FieldType.CHOICE)
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
    version: Literal[1] = 1

    @model_validator(mode="after")
    def _unique_field_names(self) -> FormTemplate:
        seen: set[str] = set()
        for spec in self.fields:
            if spec.name in seen:
                raise ValueError(f"field {spec.name!r} appears twice")
            seen.add(spec.name)
        return self

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)


def load_template(path: Path) -> FormTemplate:
    """Read one template file.

    Raises:
        TemplateError: naming the file and the field that is wrong.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise TemplateError(f"cannot read template: {e}", where=str(path)) from e
    try:
        return FormTemplate.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors()
        )
        raise TemplateError(problems, where=str(path)) from e


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

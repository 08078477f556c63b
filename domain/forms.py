"""What digitisation produces: words read from pages, and fields extracted from forms.

The JSON shapes of ``switchover ocr --json`` and ``switchover forms extract --json``
(DESIGN.md) are these models dumped with ``model_dump(mode="json")``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

BBox = tuple[float, float, float, float]
"""x0, y0, x1, y1 as fractions of the page, origin top-left."""


class WordSource(StrEnum):
    OCR = "ocr"
    TEXT_LAYER = "text"


class Word(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    confidence: float = Field(ge=0.0, le=1.0)
    bbox: BBox


class PageWords(BaseModel):
    """The words of one page, as OCR or the PDF's text layer gave them."""

    page: int = Field(ge=1, description="1-based page number")
    source: WordSource
    width_px: int
    height_px: int
    words: list[Word]


class DocumentWords(BaseModel):
    """``switchover ocr --json``: one object per file."""

    file: str
    pages: list[PageWords]


class EngineReading(BaseModel):
    """What one OCR engine read for a field, before voting: shown to the caseworker when
    the engines disagree."""

    engine: str = Field(description="the engine's name, e.g. 'tesseract' or 'rapidocr'")
    text: str
    confidence: float = Field(ge=0.0, le=1.0)


class ExtractedField(BaseModel):
    """One field of a form after extraction, normalisation and validation."""

    value: Any = None
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    valid: bool = False
    page: int | None = None
    bbox: BBox | None = None
    error: str | None = None
    readings: list[EngineReading] = Field(
        default_factory=list, description="each engine's reading, when more than one read it"
    )
    doubts: list[str] = Field(
        default_factory=list,
        description="what sent the field to a person however surely it was read (DOUBTS)",
    )


# What may send a field to a person however surely its letters were read: the page
# shows something a reader should see for themselves. Said to the caseworker.
DOUBTS = {
    "written_past_box": (
        "written on past its box: what lies beyond may be cut off, or another field's"
    ),
    "letter_struck_out": "a letter was struck out and is left out of the reading",
    "maybe_struck_out": "a stroke may strike a letter out",
    "spaces_left_out": (
        "the spaces read in it are left out: no gap in the writing is wide enough for one"
    ),
    "label_covered": (
        "its label was found by its last letters, the rest under writing: the place may"
        " be another field's"
    ),
}


class ReviewReason(BaseModel):
    """Why a form needs a person: which field (if any) and what is doubtful."""

    model_config = ConfigDict(frozen=True)

    field: str | None
    # low_confidence | invalid | missing | no_legacy_match | ambiguous_match
    # | legacy_match_unavailable (legacy matching could not run) | quarantined
    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}" if self.field else self.detail


class FormExtraction(BaseModel):
    """``switchover forms extract --json``: one object per file."""

    file: str
    form_type: str | None
    fields: dict[str, ExtractedField]
    needs_review: bool
    reasons: list[ReviewReason]
    pages: int = 0

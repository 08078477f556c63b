"""Inputs and results of the digitisation workflows and activities.

Every workflow and activity takes one model and returns one model, so fields can
be added without breaking workflows that are already running. Between steps only
references travel (document ids, storage keys), never page images.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from domain.forms import ExtractedField, FormExtraction, ReviewReason


class RecordStatus(StrEnum):
    PROCESSING = "processing"
    AWAITING_REVIEW = "awaiting_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    QUARANTINED = "quarantined"


SETTLED = frozenset({RecordStatus.AWAITING_REVIEW, RecordStatus.APPROVED, RecordStatus.REJECTED,
                     RecordStatus.QUARANTINED})  # fmt: skip
"""States in which a form no longer needs the machine: done, or with a person."""


class DocumentRef(BaseModel):
    """A stored original: its sha256 is its identity."""

    document_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str
    storage_key: str
    size_bytes: int = 0
    content_type: str | None = None


class DigitiseFormInput(BaseModel):
    document: DocumentRef
    form_type: str | None = None
    source: str = "cli"
    notify_parent: bool = False


class DigitiseFormStatus(BaseModel):
    """What the ``status`` query answers while the workflow runs."""

    status: RecordStatus = RecordStatus.PROCESSING
    stage: str = "received"
    form_type: str | None = None
    record_id: int | None = None
    task_id: int | None = None
    reasons: list[ReviewReason] = Field(default_factory=list)
    escalated: bool = False
    error: str | None = None


class DigitiseFormResult(BaseModel):
    document_id: str
    status: RecordStatus
    form_type: str | None = None
    record_id: int | None = None
    decided_by: str | None = None
    error: str | None = None


# --- activities ----------------------------------------------------------------------


class ExtractFormInput(BaseModel):
    document: DocumentRef
    form_type: str | None = None


class QuarantineInput(BaseModel):
    document: DocumentRef
    workflow_id: str
    error_type: str
    reason: str


class SaveExtractionInput(BaseModel):
    document: DocumentRef
    workflow_id: str
    extraction: FormExtraction


class SavedRecord(BaseModel):
    record_id: int
    task_id: int | None = None
    due_at: datetime | None = None
    sla_seconds: float | None = None


class EscalateInput(BaseModel):
    workflow_id: str
    record_id: int
    task_id: int


# --- the caseworker's decision -------------------------------------------------------


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ReviewDecision(BaseModel):
    """What a caseworker decided: approve (with corrected values) or reject (with a reason)."""

    decision: Decision
    decided_by: str = Field(min_length=1)
    corrections: dict[str, str] = Field(default_factory=dict)
    reason: str | None = None


class CheckDecisionInput(BaseModel):
    form_type: str
    fields: dict[str, ExtractedField]
    decision: ReviewDecision


class ReviewOutcome(BaseModel):
    """The workflow's answer to a decision. ``accepted`` is false when a corrected value
    does not validate; ``errors`` then says which field and why, and the task stays open."""

    accepted: bool
    status: RecordStatus
    errors: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, ExtractedField] = Field(default_factory=dict)


class FinaliseInput(BaseModel):
    workflow_id: str
    record_id: int
    task_id: int | None
    status: RecordStatus
    fields: dict[str, ExtractedField]
    decided_by: str
    reason: str | None = None


# --- batches -------------------------------------------------------------------------


class DigitiseBatchInput(BaseModel):
    """A batch names a manifest in storage (one DocumentRef per line), not the documents."""

    batch_id: str
    manifest_key: str
    total: int
    form_type: str | None = None
    max_concurrent: int = Field(default=8, ge=1)
    starts_per_run: int = Field(
        default=500, ge=1, description="children per run before continue-as-new"
    )
    # Carried across continue-as-new:
    offset: int = 0
    in_flight: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)


class ReadManifestInput(BaseModel):
    manifest_key: str
    offset: int
    limit: int


class ManifestPage(BaseModel):
    documents: list[DocumentRef]


class ChildSettled(BaseModel):
    workflow_id: str
    status: RecordStatus


class DigitiseBatchResult(BaseModel):
    batch_id: str
    total: int
    counts: dict[str, int]


def count_of(counts: dict[str, Any], status: RecordStatus) -> int:
    return int(counts.get(status.value, 0))

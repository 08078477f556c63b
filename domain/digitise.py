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
    legacy_match: dict[str, Any] | None = None
    """What matching against the legacy system found (``LegacyMatchResult.record()``)."""


class SavedRecord(BaseModel):
    record_id: int
    task_id: int | None = None
    due_at: datetime | None = None
    sla_seconds: float | None = None


class EscalateInput(BaseModel):
    workflow_id: str
    record_id: int
    task_id: int


# --- matching against the legacy system ------------------------------------------------


class LegacyMatchOutcome(StrEnum):
    MATCHED = "matched"
    """One legacy record is the person: a key hit, or a fuzzy score over the threshold with
    a clear margin over the runner-up."""
    AMBIGUOUS = "ambiguous"
    """Two or more legacy records fit about equally well (twins, duplicate records)."""
    NONE = "none"
    """No legacy record fits well enough (or the form gives too little to match on)."""
    UNAVAILABLE = "unavailable"
    """Matching could not run: the legacy source stayed unreachable, or the template names
    a system, table or column that does not exist."""
    SKIPPED = "skipped"
    """The form's template asks for no legacy match, or names a system that no migration
    plan describes on this installation (``system`` and ``detail`` then say which)."""


class LegacyCandidate(BaseModel):
    """One legacy record that may be the person on the form.

    The review page (``switchover.web.routers.review``) shows ``system``, ``key``, ``score``
    and ``fields`` beside the form's own values.
    """

    key: str | None = Field(description="the legacy record's key, as the plan names it")
    score: float = Field(ge=0.0, le=1.0)
    system: str
    table: str
    via: str = Field(description="key (an exact key hit) or fuzzy (blocking and scoring)")
    field_scores: dict[str, float | None] = Field(
        default_factory=dict, description="form field -> 0..1; None when one side has no value"
    )
    fields: dict[str, Any] = Field(
        default_factory=dict,
        description="form field -> the legacy value, written the way the form's value is",
    )


class LegacyMatchInput(BaseModel):
    document_id: str
    form_type: str | None
    fields: dict[str, ExtractedField]


class LegacyMatchResult(BaseModel):
    """What matching a form against its legacy system found."""

    outcome: LegacyMatchOutcome
    system: str | None = None
    table: str | None = None
    score: float | None = Field(default=None, description="the best candidate's score")
    candidates: list[LegacyCandidate] = Field(
        default_factory=list, description="best first; for none, the nearest misses"
    )
    detail: str = ""

    @property
    def best(self) -> LegacyCandidate | None:
        return self.candidates[0] if self.candidates else None

    def review_reason(self) -> ReviewReason | None:
        """The review reason this outcome gives the form, if any."""
        if self.outcome is LegacyMatchOutcome.NONE:
            return ReviewReason(field=None, code="no_legacy_match", detail=self.detail)
        if self.outcome is LegacyMatchOutcome.AMBIGUOUS:
            return ReviewReason(field=None, code="ambiguous_match", detail=self.detail)
        if self.outcome is LegacyMatchOutcome.UNAVAILABLE:
            return ReviewReason(field=None, code="legacy_match_unavailable", detail=self.detail)
        return None

    def record(self) -> dict[str, Any] | None:
        """The form record's ``legacy_match`` JSON; None when the template asks for none."""
        if self.outcome is LegacyMatchOutcome.SKIPPED and self.system is None:
            return None
        best = self.best
        return {
            "outcome": self.outcome.value,
            "system": self.system,
            "table": self.table,
            "score": self.score,
            "key": best.key
            if best is not None and self.outcome is LegacyMatchOutcome.MATCHED
            else None,
            "detail": self.detail,
            "candidates": [c.model_dump(mode="json") for c in self.candidates],
        }


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

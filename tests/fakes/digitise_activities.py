"""Fake digitisation activities, registered under the real names, for workflow tests.

They keep what they were asked in memory so a test can check what the workflow did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import names
from domain.digitise import (
    CheckDecisionInput,
    Decision,
    DocumentRef,
    EscalateInput,
    ExtractFormInput,
    FinaliseInput,
    LegacyCandidate,
    LegacyMatchInput,
    LegacyMatchOutcome,
    LegacyMatchResult,
    ManifestPage,
    QuarantineInput,
    ReadManifestInput,
    RecordStatus,
    ReviewOutcome,
    SavedRecord,
    SaveExtractionInput,
)
from domain.forms import ExtractedField, FormExtraction, ReviewReason


def extraction(doubtful: bool) -> FormExtraction:
    fields = {
        "surname": ExtractedField(value="OKAFOR", confidence=0.95, valid=True, page=1),
        "postcode": ExtractedField(
            value="SW1A 1AA" if not doubtful else "SW1A 1A", confidence=0.6 if doubtful else 0.9,
            valid=not doubtful, page=1, error="not a UK postcode" if doubtful else None,
        ),
    }  # fmt: skip
    reasons = (
        [ReviewReason(field="postcode", code="invalid", detail="not a UK postcode")]
        if doubtful
        else []
    )
    return FormExtraction(
        file="scan.png", form_type="register-to-vote", fields=fields,
        needs_review=doubtful, reasons=reasons, pages=1,
    )  # fmt: skip


def legacy_result(outcome: LegacyMatchOutcome) -> LegacyMatchResult:
    """What the fake legacy matching answers: one candidate at 0.97, two at 0.95, or none."""
    scores = {LegacyMatchOutcome.MATCHED: [0.97], LegacyMatchOutcome.AMBIGUOUS: [0.95, 0.95]}
    candidates = [
        LegacyCandidate(key=f"E{n:07d}", score=score, system="legacy-electoral", table="ELECTOR",
                        via="fuzzy", fields={"surname": "OKAFOR"})
        for n, score in enumerate(scores.get(outcome, []), start=17)
    ]  # fmt: skip
    return LegacyMatchResult(
        outcome=outcome, system="legacy-electoral", table="ELECTOR",
        score=candidates[0].score if candidates else None, candidates=candidates,
        detail=f"fake {outcome.value}",
    )  # fmt: skip


@dataclass
class FakeDigitiseActivities:
    """Document ids starting with 'b' are bad input, 'd' doubtful, anything else clean.

    Legacy matching: ids starting with 'e' have no legacy match, 'c' an ambiguous one, 'f'
    meet an unreachable legacy system (a retryable failure, every time); any other matches.
    """

    sla_seconds: float = 48 * 3600
    manifest: list[DocumentRef] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    quarantined: list[QuarantineInput] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    finalised: list[FinaliseInput] = field(default_factory=list)
    saved: list[SaveExtractionInput] = field(default_factory=list)
    extractions: dict[str, FormExtraction] = field(default_factory=dict)
    """What extraction gives for particular documents, by document id."""
    extract_calls: int = 0
    match_calls: int = 0

    @activity.defn(name=names.REGISTER_DOCUMENT)
    async def register_document(self, document: DocumentRef) -> None:
        self.registered.append(document.document_id)

    @activity.defn(name=names.EXTRACT_FORM)
    async def extract_form(self, request: ExtractFormInput) -> FormExtraction:
        self.extract_calls += 1
        first = request.document.document_id[0]
        if first == "b":
            raise ApplicationError(
                f"{request.document.filename}: not a PDF or image (starts with b'PK')",
                type="UnsupportedFormatError",
                non_retryable=True,
            )
        if request.document.document_id in self.extractions:
            return self.extractions[request.document.document_id]
        return extraction(doubtful=first == "d")

    @activity.defn(name=names.QUARANTINE_DOCUMENT)
    async def quarantine_document(self, request: QuarantineInput) -> None:
        self.quarantined.append(request)

    @activity.defn(name=names.MATCH_LEGACY)
    async def match_legacy(self, request: LegacyMatchInput) -> LegacyMatchResult:
        self.match_calls += 1
        first = request.document_id[0]
        if first == "f":
            raise ApplicationError(
                "cannot reach the legacy database: OperationalError", type="DatabaseError"
            )
        outcome = {"e": LegacyMatchOutcome.NONE, "c": LegacyMatchOutcome.AMBIGUOUS}.get(
            first, LegacyMatchOutcome.MATCHED
        )
        return legacy_result(outcome)

    @activity.defn(name=names.SAVE_EXTRACTION)
    async def save_extraction(self, request: SaveExtractionInput) -> SavedRecord:
        self.saved.append(request)
        record_id = len(self.registered)
        if not request.extraction.needs_review:
            return SavedRecord(record_id=record_id)
        return SavedRecord(
            record_id=record_id, task_id=100 + record_id,
            due_at=datetime.now(UTC) + timedelta(seconds=self.sla_seconds),
            sla_seconds=self.sla_seconds,
        )  # fmt: skip

    @activity.defn(name=names.ESCALATE_REVIEW)
    async def escalate_review(self, request: EscalateInput) -> None:
        self.escalated.append(request.task_id)

    @activity.defn(name=names.CHECK_DECISION)
    async def check_decision(self, request: CheckDecisionInput) -> ReviewOutcome:
        fields = dict(request.fields)
        errors: dict[str, str] = {}
        for name, value in request.decision.corrections.items():
            if name == "postcode" and value.replace(" ", "").upper() != "SW1A1AA":
                errors[name] = "Enter a real postcode, like SW1A 1AA"
            else:
                fields[name] = fields[name].model_copy(
                    update={"value": value, "valid": True, "confidence": 1.0, "error": None}
                )
        status = (
            RecordStatus.APPROVED
            if request.decision.decision is Decision.APPROVE
            else RecordStatus.REJECTED
        )
        if errors:
            return ReviewOutcome(accepted=False, status=RecordStatus.AWAITING_REVIEW, errors=errors)
        return ReviewOutcome(accepted=True, status=status, fields=fields)

    @activity.defn(name=names.FINALISE_RECORD)
    async def finalise_record(self, request: FinaliseInput) -> None:
        self.finalised.append(request)

    @activity.defn(name=names.READ_MANIFEST)
    async def read_manifest(self, request: ReadManifestInput) -> ManifestPage:
        return ManifestPage(
            documents=self.manifest[request.offset : request.offset + request.limit]
        )

    def all(self) -> list[object]:
        return [
            self.register_document, self.extract_form, self.quarantine_document,
            self.save_extraction, self.escalate_review, self.check_decision,
            self.finalise_record, self.read_manifest, self.match_legacy,
        ]  # fmt: skip


def document(prefix: str, n: int = 0) -> DocumentRef:
    digest = (prefix + format(n, "x")).ljust(64, "0")
    return DocumentRef(document_id=digest, filename=f"scan-{n}.png", storage_key=f"k/{digest}")


def manifest_lines(documents: list[DocumentRef]) -> str:
    return "\n".join(json.dumps(d.model_dump()) for d in documents)

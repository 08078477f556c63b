"""Digitisation workflows: one form, and batches of many.

``DigitiseFormWorkflow`` takes a stored document to a decided record: register,
extract (on the OCR queue), persist, then either finish (auto-approved) or open a
review task and wait for the caseworker's decision, durably, for as long as it
takes, escalating when the SLA passes. Bad documents are quarantined, never lost.

``DigitiseBatchWorkflow`` runs many of those with bounded concurrency and
continues as new so its history stays small at any batch size.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities import names
    from domain.delivery import NotificationKind, NotifyInput
    from domain.digitise import (
        CheckDecisionInput,
        ChildSettled,
        Decision,
        DigitiseBatchInput,
        DigitiseBatchResult,
        DigitiseFormInput,
        DigitiseFormResult,
        DigitiseFormStatus,
        EscalateInput,
        ExtractFormInput,
        FinaliseInput,
        LegacyMatchInput,
        LegacyMatchOutcome,
        LegacyMatchResult,
        ManifestPage,
        QuarantineInput,
        ReadManifestInput,
        RecordStatus,
        ReviewDecision,
        ReviewOutcome,
        SavedRecord,
        SaveExtractionInput,
    )
    from domain.forms import ExtractedField, FormExtraction
    from domain.workflow_ids import digitise_id

from workflows.calls import BRIEF, LEGACY_MATCH, OCR, QUICK, call
from workflows.notify import notify


def _failure_of(error: ActivityError) -> ApplicationError:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause
    return ApplicationError(str(cause or error), type="OcrEngineError")


@workflow.defn
class DigitiseFormWorkflow:
    """One document, from the stored original to an approved or rejected record."""

    def __init__(self) -> None:
        self._state = DigitiseFormStatus()
        self._decision: ReviewDecision | None = None
        self._deciding = False
        self._fields: dict[str, ExtractedField] = {}
        self._form_type: str | None = None
        self._record: SavedRecord | None = None

    @workflow.run
    async def run(self, request: DigitiseFormInput) -> DigitiseFormResult:
        document = request.document
        workflow_id = workflow.info().workflow_id

        await call(
            names.REGISTER_DOCUMENT,
            document,
            BRIEF,
        )

        self._state.stage = "extracting"
        try:
            extraction = await call(
                names.EXTRACT_FORM,
                ExtractFormInput(document=document, form_type=request.form_type),
                OCR,
                result_type=FormExtraction,
            )
        except ActivityError as e:
            # Bad input fails at once; anything else has had its retries. Either way the
            # document goes to quarantine with the reason, where a person will see it.
            return await self._quarantine(request, workflow_id, _failure_of(e))

        self._form_type = extraction.form_type
        self._fields = extraction.fields
        self._state.form_type = extraction.form_type
        self._state.reasons = extraction.reasons
        legacy_match = None
        # Workflows that passed this point before legacy matching existed replay without it.
        if workflow.patched("legacy-match"):
            self._state.stage = "matching"
            match = await self._match_legacy(document.document_id, extraction)
            legacy_match = match.record()
            reason = match.review_reason()
            if reason is not None:
                extraction = extraction.model_copy(
                    update={"reasons": [*extraction.reasons, reason], "needs_review": True}
                )
                self._state.reasons = extraction.reasons
        self._state.stage = "saving"
        self._record = await call(
            names.SAVE_EXTRACTION,
            SaveExtractionInput(
                document=document,
                workflow_id=workflow_id,
                extraction=extraction,
                legacy_match=legacy_match,
            ),
            QUICK,
            result_type=SavedRecord,
        )
        self._state.record_id = self._record.record_id
        self._state.task_id = self._record.task_id

        if self._record.task_id is None:
            return await self._finish(request, RecordStatus.APPROVED, "auto-approved", None)

        self._state.status = RecordStatus.AWAITING_REVIEW
        self._state.stage = "awaiting_review"
        await self._tell_parent(request, RecordStatus.AWAITING_REVIEW)
        decision = await self._wait_for_decision()
        status = (
            RecordStatus.APPROVED
            if decision.decision is Decision.APPROVE
            else RecordStatus.REJECTED
        )
        return await self._finish(request, status, decision.decided_by, decision.reason)

    async def _match_legacy(
        self, document_id: str, extraction: FormExtraction
    ) -> LegacyMatchResult:
        """The form's person in the legacy system its template names (``skipped`` when the
        template names none). A source that stays unreachable, or a template naming a
        system no plan describes, gives ``unavailable``: the form goes to a person."""
        try:
            return await call(
                names.MATCH_LEGACY,
                LegacyMatchInput(
                    document_id=document_id,
                    form_type=extraction.form_type,
                    fields=extraction.fields,
                ),
                LEGACY_MATCH,
                result_type=LegacyMatchResult,
            )
        except ActivityError as e:
            failure = _failure_of(e) if isinstance(e.cause, ApplicationError) else None
            kind = failure.type if failure is not None and failure.type else "timeout"
            workflow.logger.warning(
                "legacy matching failed",
                extra={"error_type": kind, "form_type": extraction.form_type},
            )
            return LegacyMatchResult(
                outcome=LegacyMatchOutcome.UNAVAILABLE,
                detail=f"legacy matching could not run ({kind}); check the person in the "
                "legacy system by hand",
            )

    async def _wait_for_decision(self) -> ReviewDecision:
        assert self._record is not None
        sla = timedelta(seconds=self._record.sla_seconds or 48 * 3600)
        try:
            await workflow.wait_condition(lambda: self._decision is not None, timeout=sla)
        except TimeoutError:
            self._state.escalated = True
            await call(
                names.ESCALATE_REVIEW,
                EscalateInput(
                    workflow_id=workflow.info().workflow_id,
                    record_id=self._record.record_id,
                    task_id=self._record.task_id or 0,
                ),
                QUICK,
            )
            # Workflows that escalated before notifications existed replay without one.
            if workflow.patched("notify-review-overdue"):
                task = self._record.task_id or 0
                await notify(NotifyInput(
                    kind=NotificationKind.REVIEW_OVERDUE, subject=f"review task {task}",
                    path=f"/review/tasks/{task}", reference=f"review-overdue-{task}",
                ))  # fmt: skip
            # Escalated, not abandoned: the form still waits for a person.
            await workflow.wait_condition(lambda: self._decision is not None)
        assert self._decision is not None
        return self._decision

    async def _finish(
        self,
        request: DigitiseFormInput,
        status: RecordStatus,
        decided_by: str,
        reason: str | None,
    ) -> DigitiseFormResult:
        assert self._record is not None
        self._state.stage = "finalising"
        await call(
            names.FINALISE_RECORD,
            FinaliseInput(
                workflow_id=workflow.info().workflow_id,
                record_id=self._record.record_id,
                task_id=self._record.task_id,
                status=status,
                fields=self._fields,
                decided_by=decided_by,
                reason=reason,
            ),
            QUICK,
        )
        self._state.status = status
        self._state.stage = "done"
        if status is RecordStatus.APPROVED and self._record.task_id is None:
            await self._tell_parent(request, status)
        # Let a decision's update answer before the run closes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return DigitiseFormResult(
            document_id=request.document.document_id,
            status=status,
            form_type=self._form_type,
            record_id=self._record.record_id,
            decided_by=decided_by,
        )

    async def _quarantine(
        self, request: DigitiseFormInput, workflow_id: str, cause: ApplicationError
    ) -> DigitiseFormResult:
        self._state.stage = "quarantining"
        await call(
            names.QUARANTINE_DOCUMENT,
            QuarantineInput(
                document=request.document,
                workflow_id=workflow_id,
                error_type=cause.type or "BadInputError",
                reason=cause.message,
            ),
            QUICK,
        )
        self._state.status = RecordStatus.QUARANTINED
        self._state.stage = "done"
        self._state.error = cause.message
        await self._tell_parent(request, RecordStatus.QUARANTINED)
        return DigitiseFormResult(
            document_id=request.document.document_id,
            status=RecordStatus.QUARANTINED,
            error=cause.message,
        )

    async def _tell_parent(self, request: DigitiseFormInput, status: RecordStatus) -> None:
        parent = workflow.info().parent
        if not request.notify_parent or parent is None:
            return
        # By workflow id only, so the signal reaches the parent's current run even after
        # it has continued as new.
        handle = workflow.get_external_workflow_handle(parent.workflow_id)
        await handle.signal(
            DigitiseBatchWorkflow.child_settled,
            ChildSettled(workflow_id=workflow.info().workflow_id, status=status),
        )

    @workflow.query
    def status(self) -> DigitiseFormStatus:
        return self._state

    @workflow.update
    async def decide(self, decision: ReviewDecision) -> ReviewOutcome:
        """The caseworker's decision. Corrections are validated exactly as the pipeline
        validates; invalid ones come back as errors and the task stays open. An accepted
        decision is answered when the record has been saved with it."""
        self._deciding = True
        try:
            outcome = await call(
                names.CHECK_DECISION,
                CheckDecisionInput(
                    form_type=self._form_type or "", fields=self._fields, decision=decision
                ),
                BRIEF,
                result_type=ReviewOutcome,
            )
        finally:
            self._deciding = False
        if not outcome.accepted:
            return outcome
        self._fields = outcome.fields
        self._decision = decision
        # Answer once the record is saved, so the caseworker's "approved" is the truth.
        await workflow.wait_condition(lambda: self._state.stage == "done")
        return outcome.model_copy(update={"status": self._state.status})

    @decide.validator
    def _validate_decision(self, decision: ReviewDecision) -> None:
        if self._state.status is not RecordStatus.AWAITING_REVIEW:
            raise ApplicationError(
                f"this form is {self._state.status.value}, not awaiting review",
                type="ConflictError",
            )
        if self._decision is not None or self._deciding:
            raise ApplicationError(
                "a decision on this form has already been made", type="ConflictError"
            )
        if decision.decision is Decision.REJECT and not (decision.reason or "").strip():
            raise ApplicationError("a rejection needs a reason", type="BadInputError")


@workflow.defn
class DigitiseBatchWorkflow:
    """Many documents, at most ``max_concurrent`` of them being processed at once.

    A child counts against the limit until it settles: finished, quarantined, or
    waiting for a person (a form in review must not hold up the rest of the batch).
    """

    def __init__(self) -> None:
        self._in_flight: set[str] = set()
        self._counts: dict[str, int] = {}

    @workflow.run
    async def run(self, batch: DigitiseBatchInput) -> DigitiseBatchResult:
        self._in_flight = set(batch.in_flight)
        self._counts = dict(batch.counts)
        offset = batch.offset
        started_this_run = 0
        page_size = min(100, batch.starts_per_run)

        while offset < batch.total:
            if started_this_run >= batch.starts_per_run:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    batch.model_copy(
                        update={
                            "offset": offset,
                            "in_flight": sorted(self._in_flight),
                            "counts": self._counts,
                        }
                    )
                )
            page = await call(
                names.READ_MANIFEST,
                ReadManifestInput(manifest_key=batch.manifest_key, offset=offset, limit=page_size),
                QUICK,
                result_type=ManifestPage,
            )
            if not page.documents:
                break
            for document in page.documents:
                await workflow.wait_condition(lambda: len(self._in_flight) < batch.max_concurrent)
                child_id = digitise_id(document.document_id)
                self._in_flight.add(child_id)
                try:
                    await workflow.start_child_workflow(
                        DigitiseFormWorkflow.run,
                        DigitiseFormInput(
                            document=document,
                            form_type=batch.form_type,
                            source=f"batch:{batch.batch_id}",
                            notify_parent=True,
                        ),
                        id=child_id,
                        parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                        # A document already digitised is not digitised again; one that
                        # failed or was terminated may be.
                        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                    )
                except WorkflowAlreadyStartedError:
                    # The same document twice in a batch (or ingested before): one record.
                    self._in_flight.discard(child_id)
                    self._counts["duplicate"] = self._counts.get("duplicate", 0) + 1
                offset += 1
                started_this_run += 1

        await workflow.wait_condition(lambda: not self._in_flight)
        return DigitiseBatchResult(batch_id=batch.batch_id, total=batch.total, counts=self._counts)

    @workflow.signal
    def child_settled(self, settled: ChildSettled) -> None:
        if settled.workflow_id in self._in_flight:
            self._in_flight.discard(settled.workflow_id)
            key = settled.status.value
            self._counts[key] = self._counts.get(key, 0) + 1

    @workflow.query
    def progress(self) -> dict[str, int]:
        return {**self._counts, "in_flight": len(self._in_flight)}

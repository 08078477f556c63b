"""Digitisation activities: thin methods over the OCR pipeline, the engine database and the
document store, which are handed in by the worker (or by a test).

Each is idempotent, because Temporal may run any of them again: the database functions
they call upsert by workflow, task or (kind, ref), and storage is content-addressed.
They log field names and counts, never values. They are synchronous: the worker runs
them in thread pools, so the database and Tesseract never block its event loop.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from temporalio import activity

from activities import names
from activities.errors import translated
from adapters.legacy_match import (
    LegacyMatcher,
    field_kinds,
    open_plan_source,
    plan_for,
    plan_key_columns,
)
from adapters.storage import DocumentStore, open_store
from config.form_template import FormTemplate, LegacyMatch, load_templates
from config.log import get_logger
from config.migration_plan import MigrationPlan
from config.settings import Settings
from db import audit, documents, ledger, records, review
from db.corrections import CorrectedScan, keep_corrections
from db.models import FormRecord, LedgerKind
from db.session import session_scope
from domain.digitise import (
    CheckDecisionInput,
    Decision,
    DocumentRef,
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
    ReviewOutcome,
    SavedRecord,
    SaveExtractionInput,
)
from domain.errors import NotFoundError, OcrEngineError, TemplateError
from domain.forms import ExtractedField, FormExtraction, ReviewReason
from legacy_connectors import LegacySource

log = get_logger(__name__)

MANIFEST_CHUNK = 100
"""Documents per manifest object: a batch reads its manifest one object at a time."""

SYSTEM_ACTOR = "switchover"


def manifest_chunk_key(prefix: str, index: int) -> str:
    return f"{prefix}/{index:06d}.jsonl"


def write_manifest(store: DocumentStore, prefix: str, refs: list[DocumentRef]) -> None:
    """Store a batch's documents as numbered chunks under ``prefix``."""
    for index in range(0, max(len(refs), 1), MANIFEST_CHUNK):
        lines = "\n".join(r.model_dump_json() for r in refs[index : index + MANIFEST_CHUNK])
        store.put_at(manifest_chunk_key(prefix, index // MANIFEST_CHUNK), lines.encode())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _template(templates: dict[str, FormTemplate], form_type: str | None) -> FormTemplate:
    if form_type is None or form_type not in templates:
        raise TemplateError(f"no template for form type {form_type!r}")
    return templates[form_type]


def _extract_in_child(
    path: Path, templates: dict[str, FormTemplate], form_type: str | None, display_name: str
) -> FormExtraction:
    from ocr import extract_path

    return extract_path(path, templates, form_type=form_type, display_name=display_name)


@dataclass
class OcrActivities:
    """The CPU-bound activity, run on the OCR queue (one slot per core).

    Tesseract runs in child processes, never in the worker: an engine that aborts on a
    strange page (Tesseract asserts rather than raising) takes down one child, and the
    worker replaces the pool and reports a retryable ``OcrEngineError``.
    """

    store: DocumentStore
    templates: dict[str, FormTemplate]
    processes: int = 1
    heartbeat_seconds: float = 10.0
    extract: Callable[..., FormExtraction] = _extract_in_child
    """What the child process runs; tests hand in one that crashes."""
    _pool: ProcessPoolExecutor | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> OcrActivities:
        return cls(open_store(settings.resolved_storage_url, settings),
                   load_templates(settings.forms_dir), processes=settings.ocr_workers)  # fmt: skip

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # forkserver, not fork: the worker process has threads of its own.
                self._pool = ProcessPoolExecutor(
                    self.processes, mp_context=multiprocessing.get_context("forkserver")
                )
            return self._pool

    def _discard_pool(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=False)

    def close(self) -> None:
        """End the child processes (the worker calls this when it stops)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    @activity.defn(name=names.EXTRACT_FORM)
    @translated
    def extract_form(self, request: ExtractFormInput) -> FormExtraction:
        """Read the stored document and extract its fields, heartbeating while it works."""
        document = request.document
        with _local_copy(self.store, document) as path:
            pool = self._get_pool()
            future = pool.submit(self.extract, path, self.templates, request.form_type,
                                 document.filename)  # fmt: skip
            try:
                while True:
                    try:
                        extraction = future.result(timeout=self.heartbeat_seconds)
                        break
                    except FuturesTimeout:
                        activity.heartbeat("reading pages")
            except BrokenProcessPool as e:
                self._discard_pool(pool)
                raise OcrEngineError(
                    "the OCR engine crashed while reading this document", where=document.filename
                ) from e
        log.info(
            "form_extracted",
            document=document.document_id[:12],
            form_type=extraction.form_type,
            fields=len(extraction.fields),
            needs_review=extraction.needs_review,
            doubtful=[r.field for r in extraction.reasons],
        )
        return extraction

    def all(self) -> list[Callable[..., Any]]:
        return [self.extract_form]


@contextlib.contextmanager
def _local_copy(store: DocumentStore, document: DocumentRef) -> Iterator[Path]:
    """The document as a local file, so a 300-page PDF is read page by page, not held."""
    suffix = Path(document.filename).suffix[:10]
    with tempfile.TemporaryDirectory(prefix="switchover-") as folder:
        path = Path(folder) / f"document{suffix}"
        with store.open(document.storage_key) as source, path.open("wb") as target:
            while chunk := source.read(1 << 20):
                target.write(chunk)
        yield path


def _match_values(spec: LegacyMatch, fields: dict[str, ExtractedField]) -> dict[str, Any]:
    """The form values legacy matching uses: a key only when it is valid (a key is trusted
    as read), a fuzzy field whenever it holds something (scoring allows for misreadings)."""
    values: dict[str, Any] = {}
    for name in spec.keys:
        found = fields.get(name)
        if found is not None and found.valid and found.value is not None:
            values[name] = found.value
    for name in spec.fuzzy:
        found = fields.get(name)
        if found is not None and found.value not in (None, ""):
            values[name] = found.value
    return values


@dataclass
class DigitiseActivities:
    """Database and storage activities, run on the IO queue.

    Legacy matching opens each legacy system once (found by its id among the migration
    plans in ``plans_dir`` and the bundled ones) and keeps it open for later forms;
    ``close`` releases them.
    """

    store: DocumentStore
    database_url: str
    templates: dict[str, FormTemplate]
    plans_dir: Path | None = None
    open_legacy: Callable[[MigrationPlan], LegacySource] = open_plan_source
    """Opens a plan's legacy source; tests hand in one that fails."""
    _matchers: dict[str, LegacyMatcher] = field(default_factory=dict, init=False, repr=False)
    _sources: dict[str, LegacySource] = field(default_factory=dict, init=False, repr=False)
    _legacy_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _unmatched_systems: set[str] = field(default_factory=set, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> DigitiseActivities:
        return cls(
            open_store(settings.resolved_storage_url, settings),
            settings.resolved_database_url,
            load_templates(settings.forms_dir),
            plans_dir=settings.plans_dir,
        )

    def close(self) -> None:
        """Release the legacy sources opened for matching."""
        with self._legacy_lock:
            sources = list(self._sources.values())
            self._sources.clear()
            self._matchers.clear()
        for source in sources:
            source.close()

    def _matcher(self, template: FormTemplate) -> LegacyMatcher | None:
        """The template's matcher; None when no plan describes its legacy system here."""
        spec = template.legacy_match
        assert spec is not None
        with self._legacy_lock:
            matcher = self._matchers.get(template.form_type)
            if matcher is not None:
                return matcher
            plan = plan_for(spec.source, self.plans_dir)
            if plan is None:
                return None
            source = self._sources.get(spec.source)
            if source is None:
                source = self.open_legacy(plan)
                self._sources[spec.source] = source
            matcher = LegacyMatcher(
                spec, source, kinds=field_kinds(template),
                key_columns=plan_key_columns(plan, spec.table),
            )  # fmt: skip
            self._matchers[template.form_type] = matcher
            return matcher

    @activity.defn(name=names.MATCH_LEGACY)
    @translated
    def match_legacy(self, request: LegacyMatchInput) -> LegacyMatchResult:
        """Find the form's person in the legacy system its template names.

        A template without ``legacy_match`` gives ``skipped``; so does one whose system no
        migration plan describes on this installation (the bundled register-to-vote
        template names ``legacy-electoral``): matching is switched on by putting that
        system's plan in ``plans_dir``, and until then a warning says it is off. An
        unreachable legacy database is a retryable ``DatabaseError``; an invalid plan, or
        a table or column the source lacks, a non-retryable ``PlanError``.
        """
        template = self.templates.get(request.form_type or "")
        if template is None or template.legacy_match is None:
            return LegacyMatchResult(outcome=LegacyMatchOutcome.SKIPPED)
        spec = template.legacy_match
        matcher = self._matcher(template)
        if matcher is None:
            if spec.source not in self._unmatched_systems:  # once per system, not per form
                self._unmatched_systems.add(spec.source)
                log.warning("legacy_match_not_configured", form_type=template.form_type,
                            system=spec.source, plans_dir=str(self.plans_dir))  # fmt: skip
            return LegacyMatchResult(
                outcome=LegacyMatchOutcome.SKIPPED, system=spec.source, table=spec.table,
                detail=f"no migration plan describes {spec.source} here: not matched",
            )  # fmt: skip
        result = matcher.match(_match_values(spec, request.fields))
        # Outcome and score only: the candidates' values are personal data.
        log.info(
            "legacy_matched", document=request.document_id[:12], form_type=template.form_type,
            system=spec.source, outcome=result.outcome.value, score=result.score,
            candidates=len(result.candidates),
        )  # fmt: skip
        return result

    @activity.defn(name=names.REGISTER_DOCUMENT)
    @translated
    def register_document(self, document: DocumentRef) -> None:
        with session_scope(self.database_url) as session:
            documents.register_document(
                session,
                sha256=document.document_id,
                filename=document.filename,
                content_type=document.content_type or "application/octet-stream",
                size_bytes=document.size_bytes,
                storage_key=document.storage_key,
            )
            audit.append_audit_event(
                session, actor=SYSTEM_ACTOR, action="received", subject_type="document",
                subject_id=document.document_id,
                detail={"workflow_id": activity.info().workflow_id, "size": document.size_bytes},
            )  # fmt: skip

    @activity.defn(name=names.QUARANTINE_DOCUMENT)
    @translated
    def quarantine_document(self, request: QuarantineInput) -> None:
        document = request.document
        key = f"quarantine/{document.document_id}/{Path(document.filename).name}"
        with self.store.open(document.storage_key) as source:
            self.store.put_at(key, source.read())
        with session_scope(self.database_url) as session:
            documents.quarantine_document(
                session, sha256=document.document_id, filename=document.filename,
                error_type=request.error_type, reason=request.reason, storage_key=key,
                where=document.filename,
            )  # fmt: skip
            record = records.save_form_record(
                session, workflow_id=request.workflow_id, document_id=document.document_id,
                form_type=None, status=RecordStatus.QUARANTINED, fields={},
                reasons=[ReviewReason(field=None, code="quarantined", detail=request.reason)],
            )  # fmt: skip
            session.flush()
            audit.append_audit_event(
                session, actor=SYSTEM_ACTOR, action="quarantined", subject_type="form_record",
                subject_id=str(record.id),
                detail={"error_type": request.error_type, "quarantine_key": key},
            )  # fmt: skip
        log.warning("document_quarantined", document=document.document_id[:12],
                    error_type=request.error_type)  # fmt: skip

    @activity.defn(name=names.SAVE_EXTRACTION)
    @translated
    def save_extraction(self, request: SaveExtractionInput) -> SavedRecord:
        extraction = request.extraction
        template = _template(self.templates, extraction.form_type)
        status = (
            RecordStatus.AWAITING_REVIEW if extraction.needs_review else RecordStatus.PROCESSING
        )
        with session_scope(self.database_url) as session:
            try:
                records.get_form_record_by_workflow(session, request.workflow_id)
                first_time = False
            except NotFoundError:
                first_time = True
            record = records.save_form_record(
                session, workflow_id=request.workflow_id, document_id=request.document.document_id,
                form_type=extraction.form_type, status=status, fields=extraction.fields,
                reasons=extraction.reasons, legacy_match=request.legacy_match,
            )  # fmt: skip
            session.flush()
            if first_time:
                audit.append_audit_event(
                    session, actor=SYSTEM_ACTOR, action="extracted", subject_type="form_record",
                    subject_id=str(record.id),
                    detail={"form_type": extraction.form_type, "fields": len(extraction.fields),
                            "pages": extraction.pages},
                )  # fmt: skip
            if not extraction.needs_review:
                return SavedRecord(record_id=record.id)
            sla = dt.timedelta(hours=template.review.sla_hours)
            task = review.open_review_task(
                session, record_id=record.id, workflow_id=request.workflow_id,
                form_type=extraction.form_type, reasons=extraction.reasons,
                due_at=_now() + sla,
            )  # fmt: skip
            session.flush()
            if first_time:
                audit.append_audit_event(
                    session, actor=SYSTEM_ACTOR, action="flagged", subject_type="form_record",
                    subject_id=str(record.id),
                    detail={"task_id": task.id,
                            "reasons": [{"field": r.field, "code": r.code}
                                        for r in extraction.reasons]},
                )  # fmt: skip
            return SavedRecord(
                record_id=record.id, task_id=task.id, due_at=task.due_at,
                sla_seconds=sla.total_seconds(),
            )  # fmt: skip

    @activity.defn(name=names.ESCALATE_REVIEW)
    @translated
    def escalate_review(self, request: EscalateInput) -> None:
        with session_scope(self.database_url) as session:
            task = review.record_escalation(session, request.task_id)
            audit.append_audit_event(
                session, actor=SYSTEM_ACTOR, action="escalated", subject_type="form_record",
                subject_id=str(request.record_id),
                detail={"task_id": task.id, "due_at": task.due_at.isoformat()},
            )  # fmt: skip
        log.warning("review_escalated", task_id=request.task_id)

    @activity.defn(name=names.CHECK_DECISION)
    @translated
    def check_decision(self, request: CheckDecisionInput) -> ReviewOutcome:
        """Validate a caseworker's corrections exactly as the pipeline validates values."""
        from ocr.validators import normalise

        decision = request.decision
        if decision.decision is Decision.REJECT:
            return ReviewOutcome(accepted=True, status=RecordStatus.REJECTED, fields=request.fields)
        template = _template(self.templates, request.form_type)
        known = {spec.name: spec for spec in template.fields}
        fields = dict(request.fields)
        errors: dict[str, str] = {}
        for name, raw in decision.corrections.items():
            spec = known.get(name)
            if spec is None:
                errors[name] = f"{template.form_type} has no field {name!r}"
                continue
            value, error = normalise(spec, raw)
            if error is not None and not (error == "empty" and not spec.required):
                errors[name] = error
                continue
            previous = fields.get(name, ExtractedField())
            fields[name] = previous.model_copy(
                update={"value": value, "valid": True, "confidence": 1.0, "error": None}
            )
        for spec in template.fields:
            current = fields.get(spec.name)
            still_wrong = current is None or (not current.valid and spec.name not in errors)
            if still_wrong and (
                spec.required or (current is not None and current.value is not None)
            ):
                errors.setdefault(
                    spec.name,
                    (current.error if current is not None and current.error else "needs a value")
                    + " (correct it, or reject the form)",
                )
        if errors:
            return ReviewOutcome(accepted=False, status=RecordStatus.AWAITING_REVIEW, errors=errors)
        return ReviewOutcome(accepted=True, status=RecordStatus.APPROVED, fields=fields)

    @activity.defn(name=names.FINALISE_RECORD)
    @translated
    def finalise_record(self, request: FinaliseInput) -> None:
        """Approve or reject the record, close its task, and enter the saving in the ledger."""
        approved = request.status is RecordStatus.APPROVED
        with session_scope(self.database_url) as session:
            record = records.get_form_record(session, request.record_id)
            if record.status is request.status and record.decided_at is not None:
                return  # a retry: the first attempt committed all of what follows at once
            before = {name: dict(value) for name, value in (record.fields or {}).items()}
            record = records.save_form_record(
                session, workflow_id=request.workflow_id, document_id=record.document_id,
                form_type=record.form_type, status=request.status,
                fields=request.fields, reasons=[ReviewReason.model_validate(r)
                                                for r in record.reasons],
                legacy_match=record.legacy_match, decided_at=_now(),
            )  # fmt: skip
            if request.task_id is not None:
                corrections = {
                    name: field.value
                    for name, field in request.fields.items()
                    if before.get(name, {}).get("value") != field.value
                }
                review.decide_review(
                    session, request.task_id, approve=approved, decided_by=request.decided_by,
                    corrections=corrections, reason=request.reason,
                )  # fmt: skip
                if approved and corrections:
                    self._keep_corrections(session, record, before, corrections, request)
                # The trail is immutable, so it names the fields corrected, never the values
                # (those live in the record, where they can be corrected or erased).
                for name in sorted(corrections):
                    audit.append_audit_event(
                        session, actor=request.decided_by, action="corrected",
                        subject_type="form_record", subject_id=str(record.id),
                        detail={"field": name},
                    )  # fmt: skip
            audit.append_audit_event(
                session, actor=request.decided_by, action=request.status.value,
                subject_type="form_record", subject_id=str(record.id),
                detail={"reason": request.reason} if request.reason else {},
            )  # fmt: skip
            template = self.templates.get(record.form_type or "")
            if template is not None:
                ledger.add_ledger_entry(
                    session, kind=LedgerKind.FORM, subject=template.form_type,
                    ref=f"form-record:{record.id}", amount_gbp=template.costs.saving_gbp,
                    occurred_on=_now().date(),
                    note=f"{template.costs.paper_gbp} paper - {template.costs.digital_gbp} digital",
                )  # fmt: skip
        log.info("record_finalised", record_id=request.record_id, status=request.status.value)

    def _keep_corrections(
        self,
        session: Session,
        record: FormRecord,
        before: dict[str, dict[str, Any]],
        corrected: dict[str, Any],
        request: FinaliseInput,
    ) -> None:
        """Keep the caseworker's corrections beside what extraction gave: labelled
        examples for tuning the OCR (``db.corrections``)."""
        template = self.templates.get(record.form_type or "")
        scan = CorrectedScan(
            record_id=record.id,
            document_id=record.document_id,
            storage_key=documents.get_document(session, record.document_id).storage_key,
            form_type=record.form_type,
            field_types={s.name: s.type.value for s in template.fields} if template else {},
        )
        keep_corrections(session, scan, before, corrected, corrected_by=request.decided_by)

    @activity.defn(name=names.READ_MANIFEST)
    @translated
    def read_manifest(self, request: ReadManifestInput) -> ManifestPage:
        refs: list[DocumentRef] = []
        position = request.offset
        end = request.offset + request.limit
        while position < end:
            chunk, start = divmod(position, MANIFEST_CHUNK)
            try:
                text = self.store.get(manifest_chunk_key(request.manifest_key, chunk)).decode()
            except NotFoundError:
                break
            lines = [line for line in text.splitlines() if line.strip()]
            taken = lines[start : start + (end - position)]
            if not taken:
                break
            refs.extend(DocumentRef.model_validate_json(line) for line in taken)
            position += len(taken)
        return ManifestPage(documents=refs)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.register_document, self.quarantine_document, self.save_extraction,
            self.escalate_review, self.check_decision, self.finalise_record, self.read_manifest,
            self.match_legacy,
        ]  # fmt: skip

"""Mailroom intake: files that arrive by a watched folder, an S3 prefix, a mailbox or an
upload become documents, each digitised by its own ``DigitiseFormWorkflow``.

For every file as it arrived (route, source, reference, content) the engine database
keeps one ``IntakeItem``, so no route takes a file twice and a restart forgets nothing.
Whether a file is new is asked of its content: the same bytes arriving by a second route
are recorded as a duplicate and start nothing. A bulk scan with separator sheets is split
into one document per form, each with the form type its separator names.

Polling is a plain loop here (``switchover forms watch``, or the worker when
``SWITCHOVER_INTAKE_SOURCES`` is set), not a Temporal workflow: a watched folder is a path
on one machine, so the loop must run where the share is mounted; what it must never
forget (what was taken) is in the engine database; and everything after a file is taken
(OCR, review, retries, escalation) is already durable in the digitise workflow it starts,
whose id derives from the content so that a second start is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Protocol

from sqlalchemy import select
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from adapters.intake import (
    Arrival,
    IntakeSource,
    Outcome,
    Parcel,
    kinds_named,
    open_source,
    sniff,
    split_bulk_scan,
)
from adapters.storage import DocumentStore, open_store
from config.form_template import load_templates
from config.log import get_logger
from config.settings import TASK_QUEUE_WORKFLOWS, Settings
from db import documents
from db.models import IntakeItem, IntakeState
from db.session import insert_or_ignore, session_scope
from domain.digitise import DigitiseFormInput, DocumentRef
from domain.errors import (
    BadInputError,
    DocumentTooLargeError,
    SwitchoverError,
    UnsupportedFormatError,
)
from domain.workflow_ids import digitise_id
from switchover.temporal import connect, rpc_failure
from workflows.digitise import DigitiseFormWorkflow

log = get_logger(__name__)

QUARANTINE_PREFIX = "quarantine/intake"


class DocumentStarter(Protocol):
    """Starts a document's digitisation; answers its workflow id and whether it had
    been started before."""

    def __call__(
        self, document: DocumentRef, form_type: str | None, source: str
    ) -> Awaitable[tuple[str, bool]]: ...


def temporal_starter(client: Client) -> DocumentStarter:
    """Start ``DigitiseFormWorkflow`` on Temporal, one per document id (its content hash)."""

    async def start(document: DocumentRef, form_type: str | None, source: str) -> tuple[str, bool]:
        workflow_id = digitise_id(document.document_id)
        try:
            await client.start_workflow(
                DigitiseFormWorkflow.run,
                DigitiseFormInput(document=document, form_type=form_type, source=source),
                id=workflow_id,
                task_queue=TASK_QUEUE_WORKFLOWS,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            )
        except WorkflowAlreadyStartedError:
            return workflow_id, True
        except RPCError as e:
            raise rpc_failure(e, f"starting {workflow_id}") from e
        return workflow_id, False

    return start


@dataclass(frozen=True, slots=True)
class TakenDocument:
    """A document started from a file (the file itself, or one form split from it)."""

    document_id: str
    filename: str
    form_type: str | None
    pages: list[int] | None
    workflow_id: str


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What became of one file.

    Attributes:
        new: False when this very arrival was recorded before (a restart, a file that
            could not be moved away): then nothing was done again.
    """

    route: str
    source: str
    ref: str
    filename: str
    sha256: str
    state: IntakeState
    documents: list[TakenDocument]
    reason: str | None
    new: bool

    def line(self) -> str:
        """One line for people (the terminal, not the log: a file name may name a person)."""
        where = f"{self.route} {self.ref}"
        if self.state is IntakeState.QUARANTINED:
            return f"{where}: quarantined: {self.reason}"
        if self.state is IntakeState.DUPLICATE:
            return f"{where}: already received ({self.reason})"
        if not self.new:
            return f"{where}: taken before"
        if len(self.documents) == 1 and self.documents[0].pages is None:
            return f"{where}: started {self.documents[0].workflow_id}"
        kinds = ", ".join(f"{d.form_type or 'form type to be recognised'}" for d in self.documents)
        return f"{where}: split into {len(self.documents)} documents ({kinds})"

    def as_json(self) -> dict[str, Any]:
        return {"route": self.route, "source": self.source, "ref": self.ref,
                "filename": self.filename, "sha256": self.sha256, "state": self.state.value,
                "new": self.new, "reason": self.reason,
                "documents": [vars_of(d) for d in self.documents]}  # fmt: skip


def vars_of(document: TakenDocument) -> dict[str, Any]:
    return {"document_id": document.document_id, "filename": document.filename,
            "form_type": document.form_type, "pages": document.pages,
            "workflow_id": document.workflow_id}  # fmt: skip


def require_template(form_type: str | None, form_types: Iterable[str]) -> None:
    """Refuse a form type that has no template.

    Raises:
        BadInputError: no template for it.
    """
    known = sorted(form_types)
    if form_type is not None and form_type not in known:
        raise BadInputError(f"no template for form type {form_type!r}; have {', '.join(known)}")


def arrival_key(route: str, source: str, ref: str, sha256: str) -> str:
    """The sha256 that names one arrival: this content, at this reference of this source."""
    return hashlib.sha256("\n".join((route, source, ref, sha256)).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _Piece:
    data: bytes
    content_type: str
    filename: str
    form_type: str | None
    pages: list[int] | None


@dataclass
class Intake:
    """Takes arriving files: stores them, splits bulk scans, starts their workflows and
    remembers them in the engine database.

    Attributes:
        settings: the database, size and page limits.
        store: where originals are kept (content-addressed).
        start: what starts a document's digitisation (Temporal, or a test's stand-in).
        form_types: the form types that have templates.
    """

    settings: Settings
    store: DocumentStore
    start: DocumentStarter
    form_types: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    async def connect(cls, settings: Settings) -> Intake:
        """The intake the settings describe, starting workflows on their Temporal."""
        client = await connect(settings)
        return cls.of(settings, temporal_starter(client))

    @classmethod
    def of(cls, settings: Settings, start: DocumentStarter) -> Intake:
        return cls(settings, open_store(settings.resolved_storage_url, settings), start,
                   frozenset(load_templates(settings.forms_dir)))  # fmt: skip

    def check_form_type(self, form_type: str | None) -> None:
        """Refuse a form type that has no template (before anything is taken)."""
        require_template(form_type, self.form_types)

    async def take(
        self, route: str, source: str, arrival: Arrival, *, form_type: str | None = None
    ) -> IntakeResult:
        """Take one file: once per arrival, once per content across every route.

        Bad files are quarantined with their reason, never dropped and never raised.

        Raises:
            ServiceUnavailableError: the database, the store or Temporal failed; nothing
                was recorded, so the same file is taken at the next try.
        """
        key = arrival_key(route, source, arrival.ref, arrival.sha256)
        known = await asyncio.to_thread(self._known, key, arrival.sha256)
        if known is not None:
            seen, earlier = known
            if seen is not None:
                return _result(route, source, arrival, seen, new=False)
            assert earlier is not None
            reason = f"the same file came by {earlier.route} as {earlier.ref}"
            return await self._record(route, source, arrival, key, IntakeState.DUPLICATE,
                                      _documents(earlier), reason)  # fmt: skip
        try:
            pieces = await asyncio.to_thread(self._pieces, arrival, form_type)
        except BadInputError as e:
            await asyncio.to_thread(self._quarantine_copy, arrival, e)
            return await self._record(route, source, arrival, key, IntakeState.QUARANTINED,
                                      [], e.message)  # fmt: skip
        taken = [await self._start(piece, f"{route}:{source}") for piece in pieces]
        return await self._record(route, source, arrival, key, IntakeState.TAKEN, taken, None)

    async def take_parcel(
        self, source: IntakeSource, parcel: Parcel, *, form_type: str | None = None
    ) -> list[IntakeResult]:
        """Take every file of a parcel, then have its source move or mark it."""
        results = [await self.take(source.route, source.source, arrival, form_type=form_type)
                   for arrival in parcel.arrivals]  # fmt: skip
        outcome = (Outcome.TAKEN if any(r.state is not IntakeState.QUARANTINED for r in results)
                   else Outcome.QUARANTINED)  # fmt: skip
        await asyncio.to_thread(source.finish, parcel, outcome)
        return results

    # --- the steps ----------------------------------------------------------------------

    def _known(self, key: str, sha256: str) -> tuple[IntakeItem | None, IntakeItem | None] | None:
        """(this arrival, as recorded) or (None, the earlier arrival that took the same
        content), or None when the content is new."""
        with session_scope(self.settings.resolved_database_url) as session:
            seen = session.scalars(select(IntakeItem).where(IntakeItem.arrival == key)).first()
            if seen is not None:
                session.expunge(seen)
                return seen, None
            earlier = session.scalars(
                select(IntakeItem)
                .where(IntakeItem.sha256 == sha256, IntakeItem.state == IntakeState.TAKEN)
                .order_by(IntakeItem.id)
            ).first()
            if earlier is None:
                return None
            session.expunge(earlier)
            return None, earlier

    def _pieces(self, arrival: Arrival, form_type: str | None) -> list[_Piece]:
        limit = self.settings.intake_max_mb
        if arrival.data is None:
            raise DocumentTooLargeError(f"{arrival.size} bytes, over the limit of {limit} MB")
        content_type = sniff(arrival.data[:1024])
        if content_type is None:
            raise UnsupportedFormatError(f"not a document: its content is not {kinds_named()}")
        split = split_bulk_scan(arrival.data, content_type, max_pages=self.settings.max_pdf_pages)
        if split is None:
            return [_Piece(arrival.data, content_type, arrival.filename, form_type, None)]
        if not split.documents:
            raise BadInputError(f"only separator sheets ({split.separators}) and blank pages "
                                f"({split.blank_pages}): no form in it")  # fmt: skip
        pieces = []
        name = PurePosixPath(arrival.filename)
        for number, document in enumerate(split.documents, start=1):
            named = document.form_type or form_type
            if named is not None and named not in self.form_types:
                raise BadInputError(
                    f"the separator before page {document.pages[0]} names form type "
                    f"{named!r}, which has no template"
                )
            pieces.append(_Piece(document.data, document.content_type,
                                 f"{name.stem}-{number:03d}{name.suffix}", named,
                                 list(document.pages)))  # fmt: skip
        log.info("intake.split", documents=len(pieces), separators=split.separators,
                 blank_pages=split.blank_pages)  # fmt: skip
        return pieces

    async def _start(self, piece: _Piece, source: str) -> TakenDocument:
        stored = await asyncio.to_thread(
            self.store.put, piece.data, content_type=piece.content_type
        )
        ref = DocumentRef(document_id=stored.sha256, filename=piece.filename,
                          storage_key=stored.key, size_bytes=stored.size,
                          content_type=piece.content_type)  # fmt: skip
        await asyncio.to_thread(self._register, ref)
        workflow_id, _already = await self.start(ref, piece.form_type, source)
        return TakenDocument(stored.sha256, piece.filename, piece.form_type, piece.pages,
                             workflow_id)  # fmt: skip

    def _register(self, ref: DocumentRef) -> None:
        with session_scope(self.settings.resolved_database_url) as session:
            documents.register_document(
                session, sha256=ref.document_id, filename=ref.filename,
                content_type=ref.content_type or "application/octet-stream",
                size_bytes=ref.size_bytes, storage_key=ref.storage_key,
            )  # fmt: skip

    def _quarantine_copy(self, arrival: Arrival, error: SwitchoverError) -> None:
        """Keep the refused file (when it was read) and list it with the quarantined
        documents, for a person to see."""
        storage_key = ""
        if arrival.data is not None:
            storage_key = f"{QUARANTINE_PREFIX}/{arrival.sha256}"
            self.store.put_at(storage_key, arrival.data)
        with session_scope(self.settings.resolved_database_url) as session:
            documents.quarantine_document(session, sha256=arrival.sha256,
                                          filename=arrival.filename[:1024],
                                          error_type=error.type_name, reason=error.message,
                                          storage_key=storage_key, where=error.where)  # fmt: skip
        log.warning("intake.quarantined", sha256=arrival.sha256[:12], error=error.type_name)

    async def _record(
        self,
        route: str,
        source: str,
        arrival: Arrival,
        key: str,
        state: IntakeState,
        taken: list[TakenDocument],
        reason: str | None,
    ) -> IntakeResult:
        def write() -> None:
            with session_scope(self.settings.resolved_database_url) as session:
                session.execute(
                    insert_or_ignore(session, IntakeItem)
                    .values(arrival=key, route=route, source=source[:1024],
                            ref=arrival.ref[:1024], sha256=arrival.sha256,
                            size_bytes=arrival.size, state=state,
                            documents=[vars_of(d) for d in taken], reason=reason)
                    .on_conflict_do_nothing(index_elements=[IntakeItem.arrival])
                )  # fmt: skip

        await asyncio.to_thread(write)
        log.info("intake.item", route=route, state=state.value, documents=len(taken),
                 sha256=arrival.sha256[:12])  # fmt: skip
        return IntakeResult(route, source, arrival.ref, arrival.filename, arrival.sha256, state,
                            taken, reason, new=True)  # fmt: skip


def _documents(item: IntakeItem) -> list[TakenDocument]:
    return [TakenDocument(d["document_id"], d["filename"], d.get("form_type"), d.get("pages"),
                          d["workflow_id"]) for d in item.documents]  # fmt: skip


def _result(
    route: str, source: str, arrival: Arrival, item: IntakeItem, *, new: bool
) -> IntakeResult:
    return IntakeResult(route, source, arrival.ref, arrival.filename, arrival.sha256,
                        item.state, _documents(item), item.reason, new=new)  # fmt: skip


def quarantined(settings: Settings, *, limit: int = 100) -> list[dict[str, Any]]:
    """The documents set aside, newest first, by intake or by digitisation, with why and
    where their copy is kept, for ``switchover forms quarantined``."""
    with session_scope(settings.resolved_database_url) as session:
        return [
            {"when": row.created_at.isoformat(), "filename": row.filename,
             "sha256": row.document_sha256, "error": row.error_type, "reason": row.reason,
             "where": row.where, "kept_at": row.storage_key or None}
            for row in documents.list_quarantined(session, limit=limit)
        ]  # fmt: skip


# --- watching: the CLI's and the worker's loop ----------------------------------------------

Report = Callable[[IntakeResult], None]


async def poll_sources(
    intake: Intake, sources: Sequence[IntakeSource], *, form_type: str | None, report: Report
) -> list[Exception]:
    """Poll every source once and take what is ready; a source that fails is logged and
    left for the next poll (what it had not finished is offered again), and never stops
    the others or the worker."""
    failures: list[Exception] = []
    for source in sources:
        try:
            parcels = await asyncio.to_thread(source.poll)
            for parcel in parcels:
                for result in await intake.take_parcel(source, parcel, form_type=form_type):
                    report(result)
        except SwitchoverError as e:
            log.warning("intake.poll_failed", route=source.route, error=e.type_name)
            failures.append(e)
        except Exception as e:  # a bug must not stop a worker's other work; it is logged
            log.error("intake.poll_failed_unexpectedly", route=source.route,
                      error=type(e).__name__)  # fmt: skip
            failures.append(e)
    return failures


def background_watchers(settings: Settings) -> list[Callable[[asyncio.Event], Awaitable[None]]]:
    """The worker's intake loop, when ``SWITCHOVER_INTAKE_SOURCES`` names anything."""
    if not settings.intake_sources:
        return []

    async def watch_until(stop: asyncio.Event) -> None:
        log.info("intake.watching", sources=len(settings.intake_sources))
        try:
            await watch(settings, settings.intake_sources, stop=stop)
        except SwitchoverError as e:
            # A source that cannot be watched at all (a missing folder, a bad URL): the
            # worker goes on with its other work and says why it is not watching.
            log.error("intake.not_watching", error=e.type_name, reason=str(e))

    return [watch_until]


async def watch(
    settings: Settings,
    wheres: Sequence[str],
    *,
    form_type: str | None = None,
    once: bool = False,
    settle_seconds: float = 2.0,
    stop: asyncio.Event | None = None,
    report: Report = lambda result: None,
    intake: Intake | None = None,
) -> None:
    """Watch folders, S3 prefixes and mailboxes, taking each file once it is complete.

    Args:
        settings: the poll interval, limits, database, store and Temporal.
        wheres: what to watch (see ``adapters.intake.open_source``).
        form_type: the form type of everything that arrives, when one route is for one
            form (a separator sheet's form type wins).
        once: poll, wait ``settle_seconds`` for files still being written, poll again, stop.
        settle_seconds: how long ``once`` waits between its two looks.
        stop: set it to stop watching (the worker's shutdown); default never.
        report: told of every file taken, refused or found to be a duplicate.
        intake: default one on the settings' Temporal.

    Raises:
        BadInputError: a source that cannot be watched, or a form type without template.
        ServiceUnavailableError: with ``once``, a source that could not be polled.
    """
    sources = [open_source(where, settings) for where in wheres]
    intake = intake or await Intake.connect(settings)
    intake.check_form_type(form_type)
    stop = stop or asyncio.Event()
    try:
        if once:
            seen: list[IntakeResult] = []

            def counted(result: IntakeResult) -> None:
                seen.append(result)
                report(result)

            await poll_sources(intake, sources, form_type=form_type, report=counted)
            await asyncio.sleep(settle_seconds)
            while True:  # a source offers a few files a poll: poll until nothing is left
                before = len(seen)
                failures = await poll_sources(intake, sources, form_type=form_type, report=counted)
                if failures:
                    raise failures[0]
                if len(seen) == before:
                    return
        while not stop.is_set():
            await poll_sources(intake, sources, form_type=form_type, report=report)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.intake_poll_seconds)
    finally:
        for source in sources:
            await asyncio.to_thread(source.close)

"""``switchover forms ingest``: store files and start their digitisation workflows.

One file starts one ``DigitiseFormWorkflow``; more start one ``DigitiseBatchWorkflow``
whose manifest lies in storage. Workflow ids derive from the content's sha256, so the
same file ingested twice is one document and one record.
"""

from __future__ import annotations

import asyncio
import mimetypes
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.digitise import write_manifest
from adapters.storage import DocumentStore, open_store
from config.settings import TASK_QUEUE_WORKFLOWS, Settings
from domain.digitise import (
    SETTLED,
    DigitiseBatchInput,
    DigitiseFormInput,
    DigitiseFormStatus,
    DocumentRef,
    RecordStatus,
)
from domain.errors import BadInputError, ServiceUnavailableError, UnreadableDocumentError
from domain.workflow_ids import digitise_id
from switchover.temporal import connect
from workflows.digitise import DigitiseBatchWorkflow, DigitiseFormWorkflow

DOCUMENT_SUFFIXES = frozenset(
    {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".heic", ".heif", ".bmp", ".gif", ".webp"}
)
"""Suffixes picked up when a folder is ingested; a file named explicitly is always taken."""


def expand(paths: list[Path]) -> list[Path]:
    """Files named, plus the documents inside folders named (recursively, in name order)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )  # fmt: skip
        else:
            files.append(path)
    if not files:
        raise BadInputError("no documents found", where=", ".join(map(str, paths)))
    return files


def store_file(store: DocumentStore, path: Path) -> DocumentRef:
    """Put the file's bytes in the content-addressed store (the same bytes, one object).

    Raises:
        UnreadableDocumentError: the file cannot be read (gone, a folder's entry that is
            no file, no permission), naming it.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UnreadableDocumentError(
            f"cannot read the file ({e.strerror or type(e).__name__})", where=str(path)
        ) from e
    stored = store.put(data)
    content_type = mimetypes.guess_type(path.name)[0]
    return DocumentRef(document_id=stored.sha256, filename=path.name,
                       storage_key=stored.key, size_bytes=stored.size,
                       content_type=content_type)  # fmt: skip


def workflow_id_for(document: DocumentRef) -> str:
    return digitise_id(document.document_id)


async def start_one(
    client: Client, document: DocumentRef, form_type: str | None
) -> tuple[WorkflowHandle[Any, Any], bool]:
    """Start a document's workflow; the bool says whether it was already known."""
    workflow_id = workflow_id_for(document)
    try:
        handle = await client.start_workflow(
            DigitiseFormWorkflow.run,
            DigitiseFormInput(document=document, form_type=form_type, source="cli"),
            id=workflow_id,
            task_queue=TASK_QUEUE_WORKFLOWS,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
        return handle, False
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(workflow_id), True


async def wait_settled(
    handle: WorkflowHandle[DigitiseFormWorkflow, Any], poll: float = 0.5
) -> DigitiseFormStatus:
    """Poll the workflow's status until the form is decided, quarantined or with a person.

    Raises:
        ServiceUnavailableError: the workflow closed without settling (failed, terminated
            or timed out), so waiting longer would wait for ever.
    """
    while True:
        state = await handle.query(DigitiseFormWorkflow.status)
        if state.status in SETTLED and state.stage in ("awaiting_review", "done"):
            return state
        described = await handle.describe()
        if described.status is not None and described.status != WorkflowExecutionStatus.RUNNING:
            raise ServiceUnavailableError(
                f"workflow {handle.id} ended as {described.status.name.lower()} before the "
                f"form settled (stage {state.stage}); see the Temporal UI"
            )
        await asyncio.sleep(poll)


async def ingest(
    settings: Settings, paths: list[Path], form_type: str | None, *, wait: bool
) -> dict[str, Any]:
    """Store the documents at ``paths`` and start digitising them.

    Returns:
        A summary: ``lines`` for people, and ``documents`` / ``counts`` for ``--json``.
    """
    files = expand(paths)
    store = open_store(settings.resolved_storage_url, settings)
    refs = [await asyncio.to_thread(store_file, store, path) for path in files]
    client = await connect(settings)
    if len(refs) == 1:
        handle, known = await start_one(client, refs[0], form_type)
        summary: dict[str, Any] = {"workflow_id": handle.id, "documents": 1, "already": known}
        lines = [f"{refs[0].filename}: {'already ingested as' if known else 'started'} {handle.id}"]
        if wait:
            state = await wait_settled(handle)
            summary["status"] = state.status.value
            summary["record_id"] = state.record_id
            summary["task_id"] = state.task_id
            lines.append(_describe(refs[0].filename, state))
        summary["lines"] = lines
        return summary

    batch_id = uuid.uuid4().hex[:12]
    prefix = f"batches/{batch_id}"
    await asyncio.to_thread(write_manifest, store, prefix, refs)
    handle = await client.start_workflow(
        DigitiseBatchWorkflow.run,
        DigitiseBatchInput(batch_id=batch_id, manifest_key=prefix, total=len(refs),
                           form_type=form_type),
        id=f"digitise-batch-{batch_id}",
        task_queue=TASK_QUEUE_WORKFLOWS,
    )  # fmt: skip
    summary = {"workflow_id": handle.id, "documents": len(refs)}
    lines = [f"batch {batch_id}: {len(refs)} documents, workflow {handle.id}"]
    if wait:
        result = await handle.result()
        summary["counts"] = result.counts
        lines.append(
            "  " + ", ".join(f"{n} {status.replace('_', ' ')}"
                             for status, n in sorted(result.counts.items()))
        )  # fmt: skip
    summary["lines"] = lines
    return summary


def _describe(filename: str, state: DigitiseFormStatus) -> str:
    if state.status is RecordStatus.AWAITING_REVIEW:
        why = "; ".join(str(r) for r in state.reasons)
        return f"{filename}: waiting for review as task {state.task_id} ({why})"
    if state.status is RecordStatus.QUARANTINED:
        return f"{filename}: quarantined: {state.error}"
    return f"{filename}: {state.status.value} as record {state.record_id} ({state.form_type})"

"""The review queue and the ledger, for the terminal (the web queue comes later).

Listing reads the engine database; a decision goes to the waiting workflow as a
Temporal update, which answers with the workflow's own verdict.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from config.settings import Settings
from db import ledger, review
from db.models import ReviewStatus
from db.session import session_scope
from domain.digitise import ReviewDecision, ReviewOutcome
from domain.errors import ERROR_TYPES, ConflictError, NotFoundError
from switchover.identity import grant
from switchover.temporal import connect
from workflows.digitise import DigitiseFormWorkflow


def _task_row(task: Any) -> dict[str, Any]:
    return {
        "id": task.id,
        "record_id": task.record_id,
        "workflow_id": task.workflow_id,
        "form_type": task.form_type,
        "status": task.status.value,
        "reasons": task.reasons,
        "due_at": task.due_at.isoformat(),
        "escalated_at": task.escalated_at.isoformat() if task.escalated_at else None,
        "decided_by": task.decided_by,
    }


def list_tasks(settings: Settings, *, status: str, form_type: str | None) -> list[dict[str, Any]]:
    try:
        wanted = ReviewStatus(status)
    except ValueError as e:
        raise NotFoundError(f"no review status {status!r}") from e
    with session_scope(settings.resolved_database_url) as session:
        return [_task_row(t) for t in
                review.list_review_tasks(session, status=wanted, form_type=form_type)]  # fmt: skip


def show_task(settings: Settings, task_id: int) -> dict[str, Any]:
    with session_scope(settings.resolved_database_url) as session:
        task = review.get_review_task(session, task_id, with_record=True)
        row = _task_row(task)
        row["fields"] = task.record.fields
        row["filename"] = task.record.document.filename
        row["document_id"] = task.record.document_id
        return row


async def decide(settings: Settings, task_id: int, decision: ReviewDecision) -> ReviewOutcome:
    """Send a decision to the workflow that waits for it, in the name of
    ``decision.decided_by``, whom the caller has proved (a web session, a CLI token).

    Raises:
        NotPermittedError: this process proved someone else with a token.
        ConflictError: the task is already decided, or its workflow is no longer waiting.
    """
    with session_scope(settings.resolved_database_url) as session:
        workflow_id = review.get_review_task(session, task_id).workflow_id
    # The worker takes the caseworker's name only with a grant (switchover.identity): the
    # web app's session or the CLI's token proved who decides.
    await grant(settings, decision.decided_by, workflow_id)
    client = await connect(settings)
    handle = client.get_workflow_handle(workflow_id)
    try:
        outcome = await handle.execute_update(DigitiseFormWorkflow.decide, decision)
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        kind = ERROR_TYPES.get(getattr(cause, "type", "") or "", ConflictError)
        raise kind(f"task {task_id}: {getattr(cause, 'message', cause)}") from e
    except RPCError as e:
        raise ConflictError(f"task {task_id}: its workflow is not waiting ({e.message})") from e
    return outcome


def savings_rows(settings: Settings) -> list[dict[str, Any]]:
    with session_scope(settings.resolved_database_url) as session:
        return [
            {"kind": t.kind.value, "subject": t.subject, "entries": t.count,
             "amount_gbp": str(t.total_gbp)}
            for t in ledger.ledger_totals(session)
        ]  # fmt: skip

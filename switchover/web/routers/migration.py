"""A system's migration on its page: where the latest run stands (stage, state, why it
waits, stopped or failed, each table's progress and reconciliation), and the engineer's
decisions: re-sync, accept or abort a failed gate; pause, resume or cancel the run.

A decision goes to the running ``MigrateSystemWorkflow`` as an update in the signed-in
engineer's name (``switchover.migrate``); the workflow checks the role again and records
the decision, refusals too, in the audit trail. The page shows its answer or its refusal.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from config.log import get_logger
from config.settings import Settings
from db.models import QuarantineState, Role
from db.quarantine import open_counts, quarantined_records
from db.session import session_scope
from domain.errors import (
    BadInputError,
    ConflictError,
    NotFoundError,
    NotPermittedError,
    ServiceUnavailableError,
    SwitchoverError,
)
from domain.migration import GateAction, MigrationStage, RunControlAction, RunState
from switchover import migrate
from switchover.web.auth import CheckedForm, CurrentUser, require_role

log = get_logger(__name__)
router = APIRouter()

Engineer = Annotated[CurrentUser, Depends(require_role(Role.ENGINEER))]

STATES = {
    RunState.RUNNING: ("Running", "blue"),
    RunState.PAUSED: ("Paused", "yellow"),
    RunState.AWAITING_DECISION: ("Waiting for an engineer", "red"),
    RunState.READY_FOR_CUTOVER: ("Ready for cutover", "green"),
    RunState.CUTOVER_STARTED: ("Handed to the cutover", "green"),
    RunState.STOPPED: ("Stopped where asked", "grey"),
    RunState.CANCELLED: ("Cancelled", "grey"),
    RunState.ABORTED: ("Aborted", "orange"),
    RunState.FAILED: ("Failed", "red"),
    RunState.TERMINATED: ("Terminated", "orange"),
}
GATE_ACTIONS = {
    GateAction.RESYNC: "Re-sync and reconcile again",
    GateAction.ACCEPT: "Accept the differences",
    GateAction.ABORT: "Abort the migration",
}
CONTROL_ACTIONS = {
    RunControlAction.PAUSE: "Pause the copy",
    RunControlAction.RESUME: "Resume the copy",
    RunControlAction.CANCEL: "Cancel the migration",
}
NEEDS_REASON = {GateAction.ACCEPT.value, GateAction.ABORT.value}
REASON_LIMIT = 2000
QUARANTINE_SHOWN = 200


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _actions(view: migrate.MigrationView) -> list[tuple[str, str]]:
    """The decisions that fit where the run is (the workflow has the last word)."""
    if not view.running:
        return []
    actions = [(a.value, text) for a, text in GATE_ACTIONS.items()] if view.waiting_tables else []
    if view.state is RunState.PAUSED:
        actions.append((RunControlAction.RESUME.value, CONTROL_ACTIONS[RunControlAction.RESUME]))
    elif view.stage in (None, MigrationStage.PROFILE, MigrationStage.COPY):
        actions.append((RunControlAction.PAUSE.value, CONTROL_ACTIONS[RunControlAction.PAUSE]))
    actions.append((RunControlAction.CANCEL.value, CONTROL_ACTIONS[RunControlAction.CANCEL]))
    return actions


async def migration_context(
    settings: Settings, system_id: str, user: CurrentUser
) -> dict[str, Any]:
    """The migration part of the system page."""
    note = None
    try:
        view = await migrate.migration_view(settings, system_id)
    except ServiceUnavailableError as e:
        # The detail (addresses, transport errors) is for the log, not for the page.
        log.warning("migration.status_unreachable", system_id=system_id, error=type(e).__name__)
        view, note = None, "Temporal is unreachable, so the migration's state cannot be shown."
    except SwitchoverError as e:
        view, note = None, f"The migration's state cannot be shown: {e}"
    engineer = user.has(Role.ENGINEER)
    return {
        "migration": view,
        "migration_note": note,
        "migration_state": STATES[view.state] if view else None,
        "migration_actions": _actions(view) if view and engineer else [],
        "migration_table": view.waiting_tables[0] if view and view.waiting_tables else None,
        **quarantine_context(settings, system_id),
        "quarantine_can_accept": engineer,
    }


def quarantine_context(settings: Settings, system_id: str) -> dict[str, Any]:
    """The system's open quarantined legacy records, with counts per table (the first
    ``QUARANTINE_SHOWN`` of them listed; the command line lists every one)."""
    with session_scope(settings.resolved_database_url) as session:
        counts = open_counts(session, system_id)
        records = quarantined_records(session, system_id, state=QuarantineState.OPEN,
                                      limit=QUARANTINE_SHOWN)  # fmt: skip
        shown = [
            {"table": r.table_name, "record": r.record_number, "byte_offset": r.byte_offset,
             "reason": r.reason}
            for r in records
        ]  # fmt: skip
    return {"quarantine_counts": counts, "quarantine_records": shown,
            "quarantine_total": sum(counts.values())}  # fmt: skip


def _reason_problem(reason: str, needed_to: str | None) -> str | None:
    """What is wrong with a form's reason: missing where ``needed_to`` do something, or
    too long."""
    if needed_to and not reason:
        return f"Enter why you {needed_to} (it is kept in the audit trail)"
    if len(reason) > REASON_LIMIT:
        return f"The reason must be {REASON_LIMIT:,} characters or fewer"
    return None


async def _send(
    settings: Settings, system_id: str, action: str, *, actor: str, reason: str | None,
    table: str | None,
) -> str:  # fmt: skip
    if action in GATE_ACTIONS:
        return await migrate.decide(settings, system_id, GateAction(action), actor=actor,
                                    reason=reason, table=table)  # fmt: skip
    return await migrate.control(settings, system_id, RunControlAction(action), actor=actor,
                                 reason=reason)  # fmt: skip


@router.post("/dashboard/systems/{system_id}/migration")
async def decide(request: Request, system_id: str, user: Engineer, form: CheckedForm) -> Response:
    """Re-sync, accept or abort the failed gate, or pause, resume or cancel the run, as the
    signed-in engineer; the page shows what the workflow answered."""
    from switchover.web.routers.cutover import system_page  # it draws this router's part

    action = str(form.get("action") or "")
    if action not in GATE_ACTIONS and action not in CONTROL_ACTIONS:
        raise HTTPException(400, "Choose re-sync, accept, abort, pause, resume or cancel.")
    reason = " ".join(str(form.get("reason") or "").split())
    table = str(form.get("table") or "") or None
    problem = _reason_problem(reason, action if action in NEEDS_REASON else None)
    if problem:
        return await system_page(
            request, user, system_id, errors=[{"text": problem, "href": "#migration-reason"}],
            field_errors={"migration-reason": problem}, values={"migration-reason": reason},
            status_code=400,
        )  # fmt: skip
    settings = _settings(request)
    status, notice = 200, None
    try:
        answer = await _send(settings, system_id, action, actor=user.username,
                             reason=reason or None, table=table)  # fmt: skip
        notice = f"The migration workflow accepted: {answer}"
    except NotPermittedError as e:
        status, problem = 403, f"The migration workflow refused: {e}"
    except (ConflictError, NotFoundError) as e:
        status, problem = 409, f"The migration workflow refused: {e}"
    except BadInputError as e:
        status, problem = 400, f"The migration workflow refused: {e}"
    except ServiceUnavailableError as e:
        log.warning("migration.decision_failed", system_id=system_id, error=type(e).__name__)
        status = 503
        problem = "The migration workflow could not be reached, so nothing was done. Try again."
    return await system_page(
        request, user, system_id, notice=notice, problem=problem, problem_href="#migration",
        values={} if notice else {"migration-reason": reason}, status_code=status,
    )  # fmt: skip


__all__ = ["migration_context", "router"]


QUARANTINE_REFUSALS: dict[type[SwitchoverError], int] = {
    NotPermittedError: 403, ConflictError: 409, NotFoundError: 409, BadInputError: 400,
}  # fmt: skip


@router.post("/dashboard/systems/{system_id}/quarantine")
async def accept_quarantined(
    request: Request, system_id: str, user: Engineer, form: CheckedForm
) -> Response:
    """Accept every open quarantined record of a table, as the signed-in engineer, with a
    reason (each record goes into the audit trail)."""
    from switchover.web.routers.cutover import system_page  # it draws this router's part

    table = str(form.get("table") or "")
    if not table:
        raise HTTPException(400, "Choose the table whose records you accept.")
    reason = " ".join(str(form.get("reason") or "").split())
    problem = _reason_problem(reason, "accept these records")
    if problem:
        return await system_page(
            request, user, system_id, errors=[{"text": problem, "href": "#quarantine-reason"}],
            field_errors={"quarantine-reason": problem}, values={"quarantine-reason": reason},
            status_code=400,
        )  # fmt: skip
    status, notice = 200, None
    try:
        accepted = await asyncio.to_thread(
            migrate.accept_quarantined, _settings(request), system_id, table,
            actor=user.username, reason=reason,
        )  # fmt: skip
        notice = f"Accepted {accepted} quarantined record{'s' if accepted != 1 else ''} of {table}."
    except tuple(QUARANTINE_REFUSALS) as e:
        status = next(code for kind, code in QUARANTINE_REFUSALS.items() if isinstance(e, kind))
        problem = f"Not accepted: {e}"
    return await system_page(
        request, user, system_id, notice=notice, problem=problem, problem_href="#quarantine",
        values={} if notice else {"quarantine-reason": reason}, status_code=status,
    )  # fmt: skip

"""A system's cutover and retirement in the web app: the live state, the stage history
with the gate figures each step was decided on, the engineer's actions, and the
retirement checklist closed item by item with evidence.

The system page itself (``/dashboard/systems/{id}``) is drawn here for both the
programme manager (who reads it) and the engineer (who also acts on it). An action goes
to the running ``CutoverWorkflow`` as its ``act`` update in the signed-in person's name
(``switchover.cutover.act``); the page shows the workflow's answer or its refusal. Only
engineers see the buttons and may post, and the workflow checks the role again itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from starlette.datastructures import UploadFile

from config.log import get_logger
from config.settings import Settings
from db import programme
from db.audit import append_audit_event
from db.models import CutoverState, Role, System
from db.session import session_scope
from domain.cutover import CutoverPhase, EngineerAction, EngineerActionKind, GateFigures
from domain.errors import (
    BadInputError,
    ConflictError,
    NotFoundError,
    NotPermittedError,
    ServiceUnavailableError,
)
from switchover import cutover
from switchover.web.auth import CheckedForm, CurrentUser, require_role
from switchover.web.rendering import render
from switchover.web.routers.migration import migration_context

log = get_logger(__name__)
router = APIRouter()

Engineer = Annotated[CurrentUser, Depends(require_role(Role.ENGINEER))]
SystemReader = Annotated[CurrentUser, Depends(require_role(Role.MANAGER, Role.ENGINEER))]
ChecklistCloser = Annotated[CurrentUser, Depends(require_role(*cutover.CHECKLIST_ROLES))]

PHASES = {
    CutoverPhase.PENDING: ("Not begun", "grey"),
    CutoverPhase.SHADOW: ("Shadowing", "light-blue"),
    CutoverPhase.STAGE: ("Stage in progress", "blue"),
    CutoverPhase.AWAITING_APPROVAL: ("Waiting for approval", "yellow"),
    CutoverPhase.AWAITING_ENGINEER: ("Waiting for an engineer", "red"),
    CutoverPhase.COMPLETE: ("Complete", "green"),
    CutoverPhase.ABANDONED: ("Abandoned", "grey"),
}
ACTIONS = {
    EngineerActionKind.APPROVE: "Approve the next stage",
    EngineerActionKind.ADVANCE: "Advance now",
    EngineerActionKind.ROLLBACK: "Roll back a stage",
    EngineerActionKind.FREEZE: "Freeze at this stage",
}
# Which actions the phase allows, as the workflow judges them; the workflow has the last
# word (a refusal is shown), this only spares people buttons that cannot work.
FITTING = {
    CutoverPhase.SHADOW: [EngineerActionKind.ADVANCE, EngineerActionKind.FREEZE],
    CutoverPhase.STAGE: [
        EngineerActionKind.ADVANCE,
        EngineerActionKind.ROLLBACK,
        EngineerActionKind.FREEZE,
    ],
    CutoverPhase.AWAITING_APPROVAL: [EngineerActionKind.APPROVE, EngineerActionKind.ROLLBACK],
    CutoverPhase.AWAITING_ENGINEER: [EngineerActionKind.ADVANCE, EngineerActionKind.ROLLBACK],
}
NOUNS = {
    EngineerActionKind.APPROVE: "approval",
    EngineerActionKind.ADVANCE: "advance",
    EngineerActionKind.ROLLBACK: "roll-back",
    EngineerActionKind.FREEZE: "freeze",
}
NOTICES = {"closed": "The checklist item has been closed and its evidence kept."}
REASON_LIMIT = 2000


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@dataclass(frozen=True, slots=True)
class FigureRow:
    """Gate figures as the history table shows them: words and percentages."""

    requests: str
    error_rate: str
    p95: str
    mismatch_rate: str
    reconciliation: str
    failures: list[str]
    verdict: str  # passed | failed | too few requests


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f}%"


def figure_row(figures: GateFigures | None) -> FigureRow | None:
    """The figures of one step, ready to show (None when the step had none)."""
    if figures is None:
        return None
    verdict = "passed" if figures.passed else "failed"
    if figures.too_few_requests and figures.passed:
        verdict = "too few requests"
    return FigureRow(
        requests=f"{figures.requests:,}",
        error_rate=_rate(figures.error_rate),
        p95="–" if figures.p95_ms is None else f"{figures.p95_ms:,.0f} ms",
        mismatch_rate=_rate(figures.mismatch_rate),
        reconciliation={True: "Passed", False: "Failed", None: "–"}[figures.reconciliation_passed],
        failures=list(figures.failures),
        verdict=verdict,
    )


async def _cutover_context(settings: Settings, system_id: str, user: CurrentUser) -> dict[str, Any]:
    """The cutover part of the system page: state, history, actions, checklist."""
    try:
        view: cutover.CutoverView | None = await cutover.cutover_view(settings, system_id)
    except NotFoundError:
        view = None
    checklist = await run_in_threadpool(cutover.checklist_items, settings, system_id)
    actions: list[tuple[str, str]] = []
    if view is not None and view.running and user.has(Role.ENGINEER):
        actions = [(k.value, ACTIONS[k]) for k in FITTING.get(view.status.phase, [])]
    return {
        "view": view,
        "phase": PHASES[view.status.phase] if view else PHASES[CutoverPhase.PENDING],
        "history": [(line, figure_row(line.figures)) for line in (view.history if view else [])],
        "last_figures": figure_row(view.last_figures) if view else None,
        "actions": actions,
        "is_engineer": user.has(Role.ENGINEER),
        "may_close": user.has(*cutover.CHECKLIST_ROLES),
        "checklist": checklist,
    }


def _programme_context(settings: Settings, system_id: str) -> dict[str, Any]:
    with session_scope(settings.resolved_database_url) as session:
        found, changes = programme.stage_history(session, system_id)
        summary = next(s for s in programme.system_summaries(session) if s.id == system_id)
    return {"title": found.name, "system": found, "summary": summary, "changes": changes}


async def system_page(
    request: Request,
    user: CurrentUser,
    system_id: str,
    *,
    notice: str | None = None,
    problem: str | None = None,
    problem_href: str = "#cutover",
    errors: list[dict[str, str]] | None = None,
    field_errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The system page: programme figures, the migration's run, cutover state and history,
    checklist.

    Args:
        notice: a success message (the workflow's answer).
        problem: a refusal or failure, shown in the error summary.
        problem_href: the part of the page the problem is about (``#migration``,
            ``#cutover``, ``#checklist``).
        errors: error summary entries for form fields (``text``, ``href``).
        field_errors: per form field id, its error message.
        values: per form field id, what the person had typed.
        status_code: the page's HTTP status (400, 403, 409, 503 for a refusal).

    Raises:
        HTTPException: 404 when there is no such system.
    """
    settings = _settings(request)
    try:
        context = await run_in_threadpool(_programme_context, settings, system_id)
    except NotFoundError as e:
        raise HTTPException(404, "There is no legacy system with that id.") from e
    context.update(await migration_context(settings, system_id, user))
    context.update(await _cutover_context(settings, system_id, user))
    summary_errors = list(errors or [])
    if problem:
        summary_errors.insert(0, {"text": problem, "href": problem_href})
    context.update(
        {
            "notice": notice,
            "errors": summary_errors,
            "field_errors": field_errors or {},
            "values": values or {},
            "back": ("/dashboard", "Back to the programme")
            if user.has(Role.MANAGER)
            else ("/cutover", "Back to cutovers"),
        }
    )
    return render(request, "dashboard/system.html", context, status_code=status_code)


# --- the list of cutovers --------------------------------------------------------------


def _cutover_rows(settings: Settings) -> list[dict[str, Any]]:
    with session_scope(settings.resolved_database_url) as session:
        states = {s.system_id: s for s in session.scalars(select(CutoverState))}
        rows = []
        for summary in programme.system_summaries(session):
            state = states.get(summary.id)
            label, colour = PHASES[state.phase if state else CutoverPhase.PENDING]
            rows.append(
                {
                    "id": summary.id,
                    "name": summary.name,
                    "department": summary.department,
                    "stage": summary.stage,
                    "phase": label,
                    "colour": colour,
                    "modern_percent": state.modern_percent if state else 0,
                    "system_of_record": state.system_of_record.value if state else "legacy",
                    "updated_at": state.updated_at if state else None,
                }
            )
    return rows


@router.get("/cutover")
def cutovers(request: Request, user: SystemReader) -> Response:
    """Every legacy system with where its cutover stands, linking to its page."""
    rows = _cutover_rows(_settings(request))
    return render(request, "cutover/list.html", {"title": "Cutovers", "rows": rows})


# --- the engineer's actions ------------------------------------------------------------


def _known(settings: Settings, system_id: str) -> bool:
    with session_scope(settings.resolved_database_url) as session:
        return session.get(System, system_id) is not None


def _audit(settings: Settings, actor: str, action: str, system_id: str, **detail: Any) -> None:
    with session_scope(settings.resolved_database_url) as session:
        append_audit_event(
            session,
            actor=actor,
            action=action,
            subject_type="system",
            subject_id=system_id,
            detail=detail or None,
        )


@router.post("/dashboard/systems/{system_id}/cutover")
async def act(request: Request, system_id: str, user: Engineer, form: CheckedForm) -> Response:
    """Approve, advance, roll back or freeze the system's cutover, as the signed-in
    engineer; the page shows what the workflow answered."""
    settings = _settings(request)
    if not await run_in_threadpool(_known, settings, system_id):
        raise HTTPException(404, "There is no legacy system with that id.")
    try:
        kind = EngineerActionKind(str(form.get("action") or ""))
    except ValueError as e:
        raise HTTPException(400, "Choose approve, advance, roll back or freeze.") from e
    reason = " ".join(str(form.get("reason") or "").split())
    if len(reason) > REASON_LIMIT:
        message = f"The reason must be {REASON_LIMIT:,} characters or fewer"
        return await system_page(
            request, user, system_id, errors=[{"text": message, "href": "#reason"}],
            field_errors={"reason": message}, values={"reason": reason}, status_code=400,
        )  # fmt: skip
    action = EngineerAction(kind=kind, actor=user.username, reason=reason or None)
    status, notice, problem = 200, None, None
    noun = NOUNS[kind]
    try:
        answer = await cutover.act(settings, system_id, action)
        notice = f"The cutover workflow accepted your {noun}: {answer}"
    except NotPermittedError as e:
        status, problem = 403, f"The cutover workflow refused your {noun}: {e}"
    except (ConflictError, NotFoundError) as e:
        status, problem = 409, f"The cutover workflow refused your {noun}: {e}"
    except BadInputError as e:
        status, problem = 400, f"The cutover workflow refused your {noun}: {e}"
    except ServiceUnavailableError as e:
        log.warning("cutover.action_failed", system_id=system_id, error=type(e).__name__)
        status = 503
        problem = "The cutover workflow could not be reached, so nothing was done. Try again."
    await run_in_threadpool(
        _audit, settings, user.username, f"cutover.{kind.value}", system_id,
        accepted=notice is not None,
    )  # fmt: skip
    return await system_page(
        request, user, system_id, notice=notice, problem=problem,
        values={} if notice else {"reason": reason}, status_code=status,
    )  # fmt: skip


# --- the retirement checklist ----------------------------------------------------------


async def _evidence(form: Any, position: int) -> tuple[cutover.Evidence | None, str | None]:
    """The uploaded file (None when no file was chosen) or why it cannot be taken."""
    upload = form.get("evidence")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None, None
    data = await upload.read(cutover.MAX_EVIDENCE_BYTES + 1)
    if not data:
        return None, "The selected file is empty"
    if len(data) > cutover.MAX_EVIDENCE_BYTES:
        return None, f"The selected file must be smaller than {cutover.MAX_EVIDENCE_BYTES >> 20} MB"
    # Only the base name: some browsers send the whole path of the person's computer.
    name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1][:200] or f"evidence-{position}"
    return cutover.Evidence(name=name, data=data), None


@router.post("/dashboard/systems/{system_id}/checklist/{position}")
async def close(
    request: Request, system_id: str, position: int, user: ChecklistCloser, form: CheckedForm
) -> Response:
    """Close one checklist item with a note and, optionally, a file of evidence."""
    settings = _settings(request)
    note = " ".join(str(form.get("note") or "").split())
    field_errors: dict[str, str] = {}
    if not note:
        field_errors[f"note-{position}"] = "Enter what was done to close this item"
    evidence, file_error = await _evidence(form, position)
    if file_error:
        field_errors[f"evidence-{position}"] = file_error
    if field_errors:
        return await system_page(
            request, user, system_id,
            errors=[{"text": text, "href": f"#{field}"} for field, text in field_errors.items()],
            field_errors=field_errors, values={f"note-{position}": note}, status_code=400,
        )  # fmt: skip
    try:
        await run_in_threadpool(
            cutover.close_item, settings, system_id, position, actor=user.username, note=note,
            evidence=evidence,
        )  # fmt: skip
    except NotFoundError as e:
        raise HTTPException(404, "There is no such checklist item.") from e
    except (ConflictError, NotPermittedError) as e:
        return await system_page(
            request, user, system_id, problem=f"The item was not closed: {e}",
            problem_href="#checklist", status_code=409 if isinstance(e, ConflictError) else 403,
        )  # fmt: skip
    await cutover.notify_checklist_changed(settings, system_id)
    return RedirectResponse(
        f"/dashboard/systems/{quote(system_id, safe='')}?notice=closed#checklist", status_code=303
    )


@router.get("/dashboard/systems/{system_id}/checklist/{position}/evidence")
def evidence(request: Request, system_id: str, position: int, user: ChecklistCloser) -> Response:
    """An item's evidence file, as a download (never shown inline: it is someone's upload)."""
    settings = _settings(request)
    try:
        found = cutover.evidence_of(settings, system_id, position)
    except NotFoundError as e:
        raise HTTPException(404, "This checklist item has no evidence.") from e
    _audit(settings, user.username, "checklist.evidence_downloaded", system_id, position=position)
    fallback = "".join(c if c.isalnum() or c in "._-" else "_" for c in found.name) or "evidence"
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(found.name)}"
    return Response(
        found.data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


def page_notice(request: Request) -> str | None:
    """The success message a redirect asked for (by key: never text from the address)."""
    return NOTICES.get(request.query_params.get("notice", ""))


__all__ = ["page_notice", "router", "system_page"]

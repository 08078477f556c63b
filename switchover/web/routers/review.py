"""The caseworker's review queue: filter and sort the queue, claim a form, correct its
fields beside the scan, approve or reject it.

A decision goes to the waiting workflow as a Temporal update (``switchover.review.decide``)
and the page shows the workflow's answer: corrections are validated there exactly as the
pipeline validates values. Views, claims and refused decisions are audit events; the
decision itself is recorded by the workflow's activity, in the caseworker's name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from config.form_template import FieldType, FormTemplate
from config.log import get_logger
from config.settings import Settings
from db import review as tasks
from db.audit import append_audit_event, audit_events_for
from db.models import ReviewStatus, ReviewTask
from db.session import session_scope
from db.types import utcnow
from domain.digitise import Decision, ReviewDecision, ReviewOutcome
from domain.errors import BadInputError, ConflictError, NotFoundError, SwitchoverError
from domain.forms import DOUBTS
from switchover.review import decide
from switchover.web.auth import Caseworker, CheckedForm, CurrentUser
from switchover.web.rendering import render
from switchover.web.scans import page_png

log = get_logger(__name__)
router = APIRouter(prefix="/review")

# The queue is filtered and counted in Python over the open tasks: reasons live in a JSON
# column, which SQLite and PostgreSQL query differently. Plenty for a team's open queue.
QUEUE_LIMIT = 5000
PAGE_SIZE = 100

REASONS = {
    "low_confidence": "Low confidence",
    "invalid": "Invalid value",
    "missing": "Missing value",
    "no_legacy_match": "No legacy match",
    "legacy_match_unavailable": "Legacy system unreachable",
    "ambiguous_match": "Several legacy matches",
}
AGES = {
    "under-1-day": ("Under 1 day", dt.timedelta(0), dt.timedelta(days=1)),
    "1-to-3-days": ("1 to 3 days", dt.timedelta(days=1), dt.timedelta(days=3)),
    "over-3-days": ("Over 3 days", dt.timedelta(days=3), None),
}
SORTS = {"due": "Due", "received": "Received", "form": "Form type"}
NOTICES = {
    "claimed": "You have claimed this form. Nobody else can work on it while your claim lasts.",
    "renewed": "Your claim on this form has been renewed.",
    "released": "You have released the form. Someone else can now claim it.",
    "approved": "The form has been approved and its record saved.",
    "rejected": "The form has been rejected.",
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _templates(request: Request) -> dict[str, FormTemplate]:
    templates: dict[str, FormTemplate] = request.app.state.form_templates
    return templates


# --- the queue -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One open task as the queue shows it."""

    id: int
    form_type: str
    form_title: str
    reasons: list[str]
    reason_codes: frozenset[str]
    received_at: dt.datetime
    due_at: dt.datetime
    breached: bool
    age: str
    claimed_by: str | None
    claim_expires_at: dt.datetime | None


def _age_bucket(age: dt.timedelta) -> str:
    for key, (_label, low, high) in AGES.items():
        if age >= low and (high is None or age < high):
            return key
    return "over-3-days"


def _row(task: ReviewTask, templates: dict[str, FormTemplate], now: dt.datetime) -> QueueRow:
    form_type = task.form_type or "unknown"
    template = templates.get(form_type)
    codes = frozenset(str(r.get("code")) for r in task.reasons)
    holder = tasks.claim_holder(task, now=now)
    return QueueRow(
        id=task.id,
        form_type=form_type,
        form_title=template.title if template else form_type,
        reasons=sorted({REASONS.get(code, code.replace("_", " ").capitalize()) for code in codes}),
        reason_codes=codes,
        received_at=task.created_at,
        due_at=task.due_at,
        breached=task.due_at <= now,
        age=_age_bucket(now - task.created_at),
        claimed_by=holder,
        claim_expires_at=task.claim_expires_at if holder else None,
    )


def _matches(row: QueueRow, chosen: dict[str, set[str]], skip: str | None = None) -> bool:
    checks = {
        "form_type": lambda: row.form_type in chosen["form_type"],
        "reason": lambda: bool(row.reason_codes & chosen["reason"]),
        "age": lambda: row.age in chosen["age"],
        "sla": lambda: "breached" not in chosen["sla"] or row.breached,
    }
    return all(not chosen[group] or check() for group, check in checks.items() if group != skip)


def _options(
    group: str,
    labels: dict[str, str],
    rows: list[QueueRow],
    chosen: dict[str, set[str]],
    values: Callable[[QueueRow, str], bool],
) -> list[dict[str, Any]]:
    # Counts per option honour the other groups' filters, so each count says how many
    # forms ticking that box would show.
    others = [row for row in rows if _matches(row, chosen, skip=group)]
    return [
        {
            "value": value,
            "text": labels.get(value, value),
            "count": sum(1 for row in others if values(row, value)),
            "checked": value in chosen[group],
        }
        for value in labels
    ]


@router.get("")
def queue(
    request: Request,
    user: Caseworker,
    form_type: list[str] = Query(default=[]),  # noqa: B008 - FastAPI's way of declaring lists
    reason: list[str] = Query(default=[]),  # noqa: B008
    age: list[str] = Query(default=[]),  # noqa: B008
    sla: list[str] = Query(default=[]),  # noqa: B008
    sort: str = "due",
    order: str = "asc",
) -> Response:
    """The open tasks, filtered (form type, reason, age, SLA breached) and sorted."""
    settings = _settings(request)
    templates = _templates(request)
    now = utcnow()
    with session_scope(settings.resolved_database_url) as session:
        open_tasks = tasks.list_review_tasks(session, status=ReviewStatus.OPEN, limit=QUEUE_LIMIT)
        rows = [_row(task, templates, now) for task in open_tasks]
        append_audit_event(
            session,
            actor=user.username,
            action="viewed",
            subject_type="review_queue",
            subject_id="open",
            detail={"filters": sorted(form_type + reason + age + sla)},
        )
    chosen = {"form_type": set(form_type), "reason": set(reason), "age": set(age), "sla": set(sla)}
    form_labels = {row.form_type: row.form_title for row in rows}
    form_labels.update({k: t.title for k, t in templates.items() if k not in form_labels})
    reason_labels = dict(REASONS)
    reason_labels.update(
        {
            c: c.replace("_", " ").capitalize()
            for row in rows
            for c in row.reason_codes
            if c not in REASONS
        }
    )
    groups = [
        (
            "form_type",
            "Form type",
            _options(
                "form_type",
                dict(sorted(form_labels.items())),
                rows,
                chosen,
                lambda r, v: r.form_type == v,
            ),
        ),
        (
            "reason",
            "Reason for review",
            _options("reason", reason_labels, rows, chosen, lambda r, v: v in r.reason_codes),
        ),
        (
            "age",
            "Age",
            _options(
                "age", {k: v[0] for k, v in AGES.items()}, rows, chosen, lambda r, v: r.age == v
            ),
        ),
        (
            "sla",
            "Deadline",
            _options(
                "sla", {"breached": "Past its deadline"}, rows, chosen, lambda r, v: r.breached
            ),
        ),
    ]
    shown = [row for row in rows if _matches(row, chosen)]
    sort = sort if sort in SORTS else "due"
    descending = order == "desc"
    key = {
        "due": lambda r: (r.due_at, r.id),
        "received": lambda r: (r.received_at, r.id),
        "form": lambda r: (r.form_title, r.due_at, r.id),
    }[sort]
    shown.sort(key=key, reverse=descending)
    filters = [
        (name, value)
        for name, values in (
            ("form_type", form_type),
            ("reason", reason),
            ("age", age),
            ("sla", sla),
        )
        for value in values
    ]
    selected = [
        {
            "group": label,
            "text": option["text"],
            "href": "?"
            + urlencode(
                [f for f in filters if f != (group, option["value"])]
                + [("sort", sort), ("order", order)]
            ),
        }
        for group, label, options in groups
        for option in options
        if option["checked"]
    ]

    def sort_link(column: str) -> dict[str, str]:
        next_order = "desc" if column == sort and not descending else "asc"
        state = "none"
        if column == sort:
            state = "descending" if descending else "ascending"
        return {
            "href": "?" + urlencode([*filters, ("sort", column), ("order", next_order)]),
            "aria_sort": state,
        }

    return render(
        request,
        "review/queue.html",
        {
            "title": "Review queue",
            "rows": shown[:PAGE_SIZE],
            "total_open": len(rows),
            "total_shown": len(shown),
            "groups": groups,
            "selected": selected,
            "sort": sort,
            "order": order,
            "sort_links": {column: sort_link(column) for column in SORTS},
            "now": now,
        },
    )


# --- one task ------------------------------------------------------------------------


def _load(settings: Settings, task_id: int) -> ReviewTask:
    with session_scope(settings.resolved_database_url) as session:
        try:
            return tasks.get_review_task(session, task_id, with_record=True)
        except NotFoundError as e:
            raise HTTPException(404, "There is no such form in the review queue.") from e


def _refuse_if_someone_else_has_it(task: ReviewTask, user: CurrentUser) -> None:
    holder = tasks.claim_holder(task)
    if task.status is ReviewStatus.OPEN and holder is not None and holder != user.username:
        until = task.claim_expires_at
        raise HTTPException(
            403,
            f"{holder} is working on this form"
            + (f" until {until:%H:%M} UTC" if until else "")
            + ". You can claim it when they release it or their claim runs out.",
        )


def _display(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "" if value is None else str(value)


# How the engines' names read on the page; another engine shows under its own name.
ENGINE_NAMES = {"tesseract": "Tesseract", "rapidocr": "RapidOCR", "pdf-text": "PDF text layer"}


def _readings(field: dict[str, Any]) -> list[dict[str, Any]]:
    """Each engine's reading of a field, when two or more engines read it (one reading
    says nothing the value and its confidence do not)."""
    readings = [r for r in field.get("readings") or [] if isinstance(r, dict)]
    if len(readings) < 2:
        return []
    return [
        {
            "engine": str(r.get("engine") or ""),
            "engine_name": ENGINE_NAMES.get(
                str(r.get("engine")), str(r.get("engine") or "An engine")
            ),
            "text": str(r.get("text") or ""),
            "confidence": float(r.get("confidence") or 0.0),
        }
        for r in readings
    ]


def _field_rows(
    task: ReviewTask,
    template: FormTemplate | None,
    submitted: dict[str, str] | None,
    errors: dict[str, str],
) -> list[dict[str, Any]]:
    fields: dict[str, Any] = task.record.fields or {}
    specs = {spec.name: spec for spec in template.fields} if template else {}
    threshold = template.review.min_confidence if template else 0.8
    doubtful = {r.get("field") for r in task.reasons}
    names = list(specs) + [name for name in fields if name not in specs]
    rows = []
    for number, name in enumerate(names, start=1):
        field = fields.get(name) or {}
        spec = specs.get(name)
        confidence = float(field.get("confidence") or 0.0)
        rows.append(
            {
                "number": number,
                "name": name,
                "label": (
                    spec.label if spec and spec.label else name.replace("_", " ").capitalize()
                ),
                "type": spec.type.value if spec else "text",
                "checkbox": bool(spec and spec.type is FieldType.CHECKBOX),
                "required": bool(spec and spec.required),
                "value": _display(field.get("value")),
                "input": (submitted or {}).get(name, _display(field.get("value"))),
                "confidence": confidence,
                "low": confidence < threshold,
                "valid": bool(field.get("valid")),
                "error": errors.get(name),
                "pipeline_error": field.get("error"),
                "flagged": name in doubtful or not field.get("valid") or confidence < threshold,
                "page": int(field.get("page") or (spec.page if spec else 1)),
                "bbox": field.get("bbox"),
                "readings": _readings(field),
                "doubts": [DOUBTS.get(str(d), str(d)) for d in field.get("doubts") or []],
            }
        )
    return rows


def _timeline(settings: Settings, task: ReviewTask) -> list[dict[str, Any]]:
    labels = {
        "received": "Form received",
        "extracted": "Fields extracted",
        "flagged": "Sent for review",
        "escalated": "Deadline passed: escalated",
        "claimed": "Claimed",
        "released": "Released",
        "corrected": "Field corrected",
        "decision_refused": "Decision not accepted",
        "approved": "Approved",
        "rejected": "Rejected",
        "quarantined": "Quarantined",
    }
    with session_scope(settings.resolved_database_url) as session:
        events = audit_events_for(
            session, [("document", task.record.document_id), ("form_record", task.record_id)]
        )
        items = []
        for event in events:
            if event.action == "viewed":
                continue  # in the trail, but a timeline of every look would hide the story
            detail = event.detail or {}
            text = ""
            if event.action == "corrected":
                text = str(detail.get("field", "")).replace("_", " ").capitalize()
            elif event.action == "flagged":
                text = ", ".join(
                    sorted(
                        {
                            REASONS.get(str(r.get("code")), str(r.get("code")))
                            for r in detail.get("reasons", [])
                        }
                    )
                )
            elif event.action == "rejected":
                text = str(detail.get("reason") or "")
            elif event.action == "decision_refused":
                text = "Check: " + ", ".join(
                    str(f).replace("_", " ") for f in detail.get("fields", [])
                )
            items.append(
                {
                    "label": labels.get(event.action, event.action.replace("_", " ")),
                    "actor": event.actor,
                    "at": event.occurred_at,
                    "text": text,
                }
            )
        return items


def _legacy_candidates(task: ReviewTask, fields: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The legacy-match side-by-side, when the record has candidates.

    ``legacy_match`` is ``{"candidates": [{"key": ..., "score": 0..1, "system": ...,
    "fields": {name: value}}]}``; a record without it shows nothing.
    """
    match = task.record.legacy_match
    candidates = (match or {}).get("candidates") or []
    if not candidates:
        return None
    return {
        "candidates": [
            {
                "key": c.get("key"),
                "score": c.get("score"),
                "system": c.get("system"),
                "fields": {k: _display(v) for k, v in (c.get("fields") or {}).items()},
            }
            for c in candidates[:3]
        ],
        "rows": [
            f for f in fields if any(f["name"] in (c.get("fields") or {}) for c in candidates)
        ],
    }


def _task_page(
    request: Request,
    user: CurrentUser,
    task: ReviewTask,
    *,
    submitted: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    reason: str = "",
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    settings = _settings(request)
    template = _templates(request).get(task.form_type or "")
    errors = errors or {}
    fields = _field_rows(task, template, submitted, errors)
    holder = tasks.claim_holder(task)
    mine = task.status is ReviewStatus.OPEN and holder == user.username
    error_list = [
        {"text": f"{f['label']}: {f['error']}", "href": f"#field-{f['name']}"}
        for f in fields
        if f["error"]
    ]
    if "reason" in errors:
        error_list.append({"text": errors["reason"], "href": "#reason"})
    pages = sorted({f["page"] for f in fields if f["bbox"]} or {1})
    return render(
        request,
        "review/task.html",
        {
            "title": f"Form {task.id}: {template.title if template else task.form_type}",
            "task": task,
            "form_title": template.title if template else (task.form_type or "Unknown form"),
            "fields": fields,
            "pages": pages,
            "holder": holder,
            "mine": mine,
            "open": task.status is ReviewStatus.OPEN,
            "errors": error_list,
            "reason": reason,
            "reason_error": errors.get("reason"),
            "problem": problem,
            "notice": NOTICES.get(request.query_params.get("notice", "")),
            "timeline": _timeline(settings, task),
            "legacy": _legacy_candidates(task, fields),
            "reasons": [
                REASONS.get(str(r.get("code")), str(r.get("code")))
                + (f": {str(r.get('field')).replace('_', ' ')}" if r.get("field") else "")
                for r in task.reasons
            ],
            "now": utcnow(),
        },
        status_code=status_code,
    )


@router.get("/tasks/{task_id}")
def task_page(request: Request, task_id: int, user: Caseworker) -> Response:
    """A form: the scan with the fields' boxes, beside the fields to correct; its timeline."""
    settings = _settings(request)
    task = _load(settings, task_id)
    _refuse_if_someone_else_has_it(task, user)
    with session_scope(settings.resolved_database_url) as session:
        append_audit_event(
            session,
            actor=user.username,
            action="viewed",
            subject_type="form_record",
            subject_id=task.record_id,
            detail={"task_id": task.id},
        )
    return _task_page(request, user, task)


@router.get("/tasks/{task_id}/pages/{page}.png")
def page_image(request: Request, task_id: int, page: int, user: Caseworker) -> Response:
    """A page of the form's scan, only to a caseworker who may see the task."""
    settings = _settings(request)
    task = _load(settings, task_id)
    _refuse_if_someone_else_has_it(task, user)
    try:
        png = page_png(
            settings, task.record.document.storage_key, task.record.document.filename, page
        )
    except (NotFoundError, BadInputError) as e:
        raise HTTPException(404, "This page of the form cannot be shown.") from e
    # Never kept by the browser: a scan must not outlive sign-out (the app says so too).
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/tasks/{task_id}/claim")
def claim(request: Request, task_id: int, user: Caseworker, form: CheckedForm) -> Response:
    """Claim a form (or renew one's own claim) for the settings' lease."""
    settings = _settings(request)
    lease = dt.timedelta(minutes=settings.web_claim_minutes)
    with session_scope(settings.resolved_database_url) as session:
        try:
            before = tasks.get_review_task(session, task_id)
            renewing = tasks.claim_holder(before) == user.username
            task = tasks.claim_task(session, task_id, by=user.username, lease=lease)
        except NotFoundError as e:
            raise HTTPException(404, "There is no such form in the review queue.") from e
        except ConflictError:
            task = None
        if task is not None:
            append_audit_event(
                session,
                actor=user.username,
                action="claimed",
                subject_type="form_record",
                subject_id=task.record_id,
                detail={"task_id": task.id, "renewed": renewing, "until": task.claim_expires_at},
            )
    if task is None:
        current = _load(settings, task_id)
        _refuse_if_someone_else_has_it(current, user)
        return _task_page(
            request, user, current, status_code=409, problem="This form has already been decided."
        )
    notice = "renewed" if renewing else "claimed"
    return RedirectResponse(f"/review/tasks/{task_id}?notice={notice}", status_code=303)


@router.post("/tasks/{task_id}/release")
def release(request: Request, task_id: int, user: Caseworker, form: CheckedForm) -> Response:
    """Give a form back to the queue."""
    settings = _settings(request)
    with session_scope(settings.resolved_database_url) as session:
        try:
            released = tasks.release_claim(session, task_id, by=user.username)
            record_id = tasks.get_review_task(session, task_id).record_id
        except NotFoundError as e:
            raise HTTPException(404, "There is no such form in the review queue.") from e
        if released:
            append_audit_event(
                session,
                actor=user.username,
                action="released",
                subject_type="form_record",
                subject_id=record_id,
                detail={"task_id": task_id},
            )
    return RedirectResponse("/review?notice=released", status_code=303)


def _corrections(task: ReviewTask, form: Iterable[tuple[str, Any]]) -> dict[str, str]:
    fields: dict[str, Any] = task.record.fields or {}
    submitted = {
        key.removeprefix("field-"): str(value) for key, value in form if key.startswith("field-")
    }
    return {
        name: value
        for name, value in submitted.items()
        if " ".join(value.split())
        != " ".join(_display((fields.get(name) or {}).get("value")).split())
    }


@router.post("/tasks/{task_id}/decision")
async def decision(request: Request, task_id: int, user: Caseworker, form: CheckedForm) -> Response:
    """Approve (with corrections) or reject (with a reason) a form one has claimed.

    The workflow answers: an accepted decision comes back when the record is saved; a
    correction that does not validate comes back with the field's error, and the form
    stays open.
    """
    settings = _settings(request)
    task = await run_in_threadpool(_load, settings, task_id)
    _refuse_if_someone_else_has_it(task, user)
    action = str(form.get("action") or "")
    reason = " ".join(str(form.get("reason") or "").split())
    submitted = {
        key.removeprefix("field-"): str(value)
        for key, value in form.multi_items()
        if key.startswith("field-")
    }
    if task.status is not ReviewStatus.OPEN:
        return _task_page(
            request,
            user,
            task,
            status_code=409,
            problem=f"This form has already been {task.status.value} by "
            f"{task.decided_by}. Nothing was changed.",
        )
    if tasks.claim_holder(task) != user.username:
        return _task_page(
            request,
            user,
            task,
            submitted=submitted,
            reason=reason,
            status_code=409,
            problem="Your claim on this form has run out. Claim it again to "
            "carry on; your changes are still in the boxes below.",
        )
    if action not in ("approve", "reject"):
        raise HTTPException(400, "Choose to approve or reject the form.")
    if action == "reject" and not reason:
        return _task_page(
            request,
            user,
            task,
            submitted=submitted,
            status_code=400,
            errors={"reason": "Enter why you are rejecting this form"},
        )
    corrections = _corrections(task, form.multi_items()) if action == "approve" else {}
    choice = ReviewDecision(
        decision=Decision.APPROVE if action == "approve" else Decision.REJECT,
        decided_by=user.username,
        corrections=corrections,
        reason=reason or None,
    )
    try:
        outcome: ReviewOutcome = await decide(settings, task_id, choice)
    except ConflictError as e:
        log.info("review.decision_conflict", task_id=task_id)
        current = await run_in_threadpool(_load, settings, task_id)
        return _task_page(
            request,
            user,
            current,
            status_code=409,
            problem=f"Your decision was not saved: {_plain(e)}",
        )
    except SwitchoverError as e:
        log.warning("review.decision_failed", task_id=task_id, error=type(e).__name__)
        raise HTTPException(503, "The decision could not be sent. Try again in a minute.") from e
    if not outcome.accepted:
        await run_in_threadpool(_audit_refusal, settings, user, task, sorted(outcome.errors))
        return _task_page(
            request,
            user,
            task,
            submitted=submitted,
            errors=outcome.errors,
            reason=reason,
            status_code=400,
        )
    log.info(
        "review.decided",
        task_id=task_id,
        status=outcome.status.value,
        corrected_fields=sorted(corrections),
    )
    return RedirectResponse(
        f"/review/tasks/{task_id}?notice={outcome.status.value}", status_code=303
    )


def _plain(error: Exception) -> str:
    # "task 7: this form is approved, not awaiting review" -> the part after the task id.
    text = str(error)
    return text.split(": ", 1)[1] if text.startswith("task ") and ": " in text else text


def _audit_refusal(
    settings: Settings, user: CurrentUser, task: ReviewTask, names: list[str]
) -> None:
    with session_scope(settings.resolved_database_url) as session:
        append_audit_event(
            session,
            actor=user.username,
            action="decision_refused",
            subject_type="form_record",
            subject_id=task.record_id,
            detail={"task_id": task.id, "fields": names},
        )

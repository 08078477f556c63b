"""A system's cutover and retirement, for the terminal and the web app alike.

Status comes from the running ``CutoverWorkflow``'s ``status`` query when there is one,
else from what the workflow wrote to the engine database (the live setting and the stage
history). Engineers' actions go to the workflow as its ``act`` update, which checks the
actor's role itself: refusing in the CLI or the web app too is a courtesy, the workflow's
refusal is the guard. Closing a retirement checklist item is a database write (with the
evidence file in the document store), then a ``checklist_changed`` signal so a waiting
workflow notices at once rather than at its next periodic re-read.

The workflow is addressed by name (``"status"``, ``"act"``, ``"checklist_changed"``), not
by importing its class: the shell talks to workflows only through the Temporal client.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from config.log import get_logger
from config.settings import Settings
from db import accounts
from db.cutover import cutover_history, cutover_state, setting_of
from db.models import ChecklistItem, CutoverEvent, Role, System
from db.session import session_scope
from domain.cutover import (
    ChecklistItemStatus,
    CutoverEventKind,
    CutoverPhase,
    CutoverStatus,
    EngineerAction,
    GateFigures,
)
from domain.errors import (
    BadInputError,
    NotFoundError,
    NotPermittedError,
    ServiceUnavailableError,
    SwitchoverError,
)
from domain.workflow_ids import cutover_id
from switchover.identity import grant
from switchover.temporal import connect, send_update

log = get_logger(__name__)

QUERY_TIMEOUT = dt.timedelta(seconds=5)
"""A query waits for a worker to answer; a page or a status line should not wait long."""
MAX_EVIDENCE_BYTES = 20 * 1024 * 1024
"""Evidence is a letter, a screenshot, a DNS zone export: not an archive."""
CHECKLIST_ROLES = (Role.ENGINEER, Role.MANAGER)
"""Who may close retirement checklist items and read their evidence: the engineer closes
the technical items (DNS removed), the programme manager the contractual ones."""

# What the workflow waits for, when only the engine database's phase is known.
_WAITING_BY_PHASE = {
    CutoverPhase.SHADOW: "the shadow comparison to soak",
    CutoverPhase.STAGE: "the stage to soak, then its gates",
    CutoverPhase.AWAITING_APPROVAL: "an engineer's approval to begin the next stage",
    CutoverPhase.AWAITING_ENGINEER: "an engineer: a gate failed",
}


def workflow_id(system_id: str) -> str:
    """The id of a system's cutover workflow."""
    return cutover_id(system_id)


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One step of the stage history, with the gate figures it was decided on."""

    occurred_at: dt.datetime
    kind: CutoverEventKind
    modern_percent: int | None
    actor: str
    figures: GateFigures | None
    note: str | None

    @property
    def label(self) -> str:
        """The step in words: ``Gate failed at 25%``."""
        text = self.kind.value.replace("_", " ").capitalize()
        if self.modern_percent is not None:
            text += f" at {self.modern_percent}%"
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "occurred_at": self.occurred_at.isoformat(),
            "kind": self.kind.value,
            "modern_percent": self.modern_percent,
            "actor": self.actor,
            "figures": self.figures.model_dump(mode="json") if self.figures else None,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class CutoverView:
    """Everything known about a system's cutover: live status and its history.

    Attributes:
        status: from the workflow's query when it runs, else rebuilt from the database.
        source: ``workflow`` or ``engine database``: where ``status`` came from.
        running: whether a cutover workflow runs for the system now.
        note: why the status is not the workflow's own (it ended; Temporal unreachable).
    """

    system_id: str
    status: CutoverStatus
    source: str
    running: bool
    history: Sequence[HistoryLine] = field(default_factory=list)
    note: str | None = None

    @property
    def last_figures(self) -> GateFigures | None:
        """The workflow's last figures, else the newest figures of the history."""
        if self.status.last_figures is not None:
            return self.status.last_figures
        return next((h.figures for h in reversed(self.history) if h.figures), None)

    def as_json(self) -> dict[str, Any]:
        figures = self.last_figures
        return {
            "system": self.system_id,
            "source": self.source,
            "running": self.running,
            "note": self.note,
            "phase": self.status.phase.value,
            "modern_percent": self.status.setting.modern_percent,
            "shadow": self.status.setting.shadow,
            "system_of_record": self.status.setting.system_of_record.value,
            "held": self.status.held,
            "waiting_for": self.status.waiting_for,
            "stages": self.status.stages,
            "decommission_step": self.status.decommission_step,
            "change_stream": _dumped(self.status.change_stream),
            "way_back": _dumped(self.status.way_back),
            "last_figures": figures.model_dump(mode="json") if figures else None,
            "history": [h.as_json() for h in self.history],
        }


def _dumped(model: BaseModel | None) -> dict[str, Any] | None:
    return model.model_dump(mode="json") if model is not None else None


def _line(event: CutoverEvent) -> HistoryLine:
    return HistoryLine(
        occurred_at=event.occurred_at,
        kind=event.kind,
        modern_percent=event.modern_percent,
        actor=event.actor,
        figures=GateFigures.model_validate(event.figures) if event.figures else None,
        note=event.note,
    )


def _stored(settings: Settings, system_id: str) -> tuple[bool, CutoverStatus, list[HistoryLine]]:
    """(whether the system is known, its status as the database tells it, its history)."""
    with session_scope(settings.resolved_database_url) as session:
        known = session.get(System, system_id) is not None
        state = cutover_state(session, system_id)
        history = [_line(e) for e in cutover_history(session, system_id)]
        status = CutoverStatus(
            system_id=system_id,
            phase=state.phase if state else CutoverPhase.PENDING,
            setting=setting_of(state),
            held=bool(history) and history[-1].kind is CutoverEventKind.FROZEN,
            waiting_for=_WAITING_BY_PHASE.get(state.phase) if state else None,
            stage_started_at=state.stage_started_at if state else None,
        )
    return known or state is not None or bool(history), status, history


async def _running_status(client: Client, system_id: str) -> tuple[CutoverStatus | None, str]:
    """The running workflow's status (None when it is not running) and a note why not."""
    handle = client.get_workflow_handle(workflow_id(system_id))
    try:
        described = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
    except RPCError as e:
        if e.status is RPCStatusCode.NOT_FOUND:
            return None, "no cutover workflow has run for this system"
        raise ServiceUnavailableError(f"Temporal did not answer: {e.message}") from e
    if described.status is not WorkflowExecutionStatus.RUNNING:
        ended = described.status.name.lower().replace("_", " ") if described.status else "ended"
        return None, f"the cutover workflow has ended ({ended})"
    try:
        status = await handle.query("status", result_type=CutoverStatus, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as e:
        return None, f"the cutover workflow did not answer ({e.message}); is a worker running?"
    return status, ""


async def cutover_view(settings: Settings, system_id: str) -> CutoverView:
    """A system's cutover: the workflow's status when it runs, else the database's.

    Temporal being unreachable is not an error here: the engine database still tells
    the stage history and the live setting, and ``note`` says the status is not live.

    Raises:
        NotFoundError: neither the database nor Temporal knows a cutover of the system.
    """
    known, stored, history = await asyncio.to_thread(_stored, settings, system_id)
    try:
        client = await connect(settings)
        live, note = await _running_status(client, system_id)
    except ServiceUnavailableError as e:
        # The detail (addresses, transport errors) is for the log, not for the page.
        log.warning("cutover.status_unreachable", system_id=system_id, error=type(e).__name__)
        live, note = None, "Temporal is unreachable, so this is the engine database's record"
    if live is not None:
        return CutoverView(system_id, live, "workflow", True, history)
    if not known:
        raise NotFoundError(f"no cutover for {system_id}: the system is not known")
    return CutoverView(system_id, stored, "engine database", False, history, note)


async def act(settings: Settings, system_id: str, action: EngineerAction) -> str:
    """Send an engineer's action to the system's cutover workflow.

    Returns:
        The workflow's answer, for people.

    Raises:
        NotPermittedError: the actor is not an engineer (the workflow checked).
        ConflictError: the action does not fit where the cutover is.
        NotFoundError: no cutover workflow runs for the system.
        ServiceUnavailableError: Temporal is unreachable, or no worker answered.
    """
    client = await connect(settings)
    # The actor was proven by the caller (a token, a session): the worker's role check
    # accepts the name only with this grant.
    await grant(settings, action.actor, workflow_id(system_id))
    handle = client.get_workflow_handle(workflow_id(system_id))
    answer = await send_update(handle, "act", action, what=f"the cutover of {system_id}",
                               missing=f"no cutover is running for {system_id}")  # fmt: skip
    log.info("cutover.action_accepted", system_id=system_id, action=action.kind.value)
    return answer


async def act_from_cli(settings: Settings, system_id: str, action: EngineerAction) -> str:
    """``act``, with the action in the audit trail whether the workflow took it or not (the
    web app records its own).

    Raises:
        The errors of ``act``.
    """
    from switchover.audit import record_cli_action

    def record(accepted: bool) -> None:
        record_cli_action(settings, actor=action.actor, action=f"cutover.{action.kind.value}",
                          subject_type="system", subject_id=system_id,
                          detail={"accepted": accepted})  # fmt: skip

    try:
        answer = await act(settings, system_id, action)
    except SwitchoverError:
        await asyncio.to_thread(record, False)
        raise
    await asyncio.to_thread(record, True)
    return answer


async def notify_checklist_changed(settings: Settings, system_id: str) -> str | None:
    """Tell a running cutover workflow to read the checklist again.

    Returns:
        None when told; otherwise why not (no workflow runs, Temporal unreachable). Not an
        error: the workflow re-reads the checklist on its own every few hours.
    """
    try:
        client = await connect(settings)
        handle = client.get_workflow_handle(workflow_id(system_id))
        await handle.signal("checklist_changed", rpc_timeout=QUERY_TIMEOUT)
    except ServiceUnavailableError:
        return "Temporal is unreachable; the cutover workflow will see it at its next check"
    except RPCError as e:
        if e.status is RPCStatusCode.NOT_FOUND:
            return "no cutover workflow is running for this system"
        return f"the cutover workflow was not told ({e.message}); it will see it at its next check"
    return None


# --- the retirement checklist ----------------------------------------------------------


def item_json(item: ChecklistItemStatus) -> dict[str, Any]:
    """A checklist item as ``--json`` prints it (the evidence by name; its key is internal)."""
    return {
        "number": item.position,
        "item": item.item,
        "closed": item.closed_by is not None,
        "closed_by": item.closed_by,
        "closed_at": item.closed_at.isoformat() if item.closed_at else None,
        "note": item.note,
        "evidence_name": item.evidence_name,
    }


def checklist_items(settings: Settings, system_id: str) -> list[ChecklistItemStatus]:
    """A system's retirement checklist, in order (empty until decommissioning opens it).

    Raises:
        NotFoundError: no such system.
    """
    from db.decommission import checklist

    with session_scope(settings.resolved_database_url) as session:
        return list(checklist(session, system_id).items)


def checklist_of(settings: Settings, system_id: str) -> list[dict[str, Any]]:
    """A system's retirement checklist as ``--json`` prints it."""
    return [item_json(item) for item in checklist_items(settings, system_id)]


def check_may_close(settings: Settings, username: str) -> None:
    """Refuse anyone who may not close checklist items.

    Raises:
        NotPermittedError: no such active account, or it holds neither role.
    """
    with session_scope(settings.resolved_database_url) as session:
        user = accounts.get_user_by_username(session, username)
        roles = set(user.roles) if user is not None and user.active else set()
    if not roles.intersection(r.value for r in CHECKLIST_ROLES):
        raise NotPermittedError(
            f"{username} may not close checklist items: that needs the engineer or manager role"
        )


@dataclass(frozen=True, slots=True)
class Evidence:
    """A file offered as evidence: its name as the person gave it, and its bytes."""

    name: str
    data: bytes


def close_item(
    settings: Settings,
    system_id: str,
    position: int,
    *,
    actor: str,
    note: str,
    evidence: Evidence | None = None,
) -> dict[str, Any]:
    """Close one checklist item with a note and, optionally, a file stored as evidence.

    The file is stored before the item is closed: content-addressed, so a retry after a
    failed close stores nothing twice.

    Raises:
        BadInputError: no note, an empty or too large file.
        NotPermittedError: the actor may not close items.
        NotFoundError: no such system or item.
        ConflictError: the item is already closed.
    """
    from adapters.storage import open_store
    from db.decommission import close_checklist_item

    note = " ".join(note.split())
    if not note:
        raise BadInputError("closing an item needs a note saying what was done")
    check_may_close(settings, actor)
    key = name = None
    if evidence is not None:
        if not evidence.data:
            raise BadInputError(f"the evidence file {evidence.name!r} is empty")
        if len(evidence.data) > MAX_EVIDENCE_BYTES:
            raise BadInputError(
                f"the evidence file {evidence.name!r} is over "
                f"{MAX_EVIDENCE_BYTES // (1024 * 1024)} MB"
            )
        key = open_store(settings.resolved_storage_url, settings).put(evidence.data).key
        name = evidence.name
    with session_scope(settings.resolved_database_url) as session:
        item = close_checklist_item(
            session, system_id, position, actor=actor, note=note, evidence_key=key,
            evidence_name=name,
        )  # fmt: skip
        closed = item_json(item)
    log.info("checklist.closed", system_id=system_id, position=position, evidence=key is not None)
    return closed


def evidence_of(settings: Settings, system_id: str, position: int) -> Evidence:
    """The evidence file of a closed checklist item.

    Raises:
        NotFoundError: no such item, or it has no evidence.
    """
    from adapters.storage import open_store

    with session_scope(settings.resolved_database_url) as session:
        item = session.scalars(
            select(ChecklistItem).where(
                ChecklistItem.system_id == system_id, ChecklistItem.position == position
            )
        ).one_or_none()
        if item is None or not item.evidence_key:
            raise NotFoundError(f"checklist item {position} of {system_id} has no evidence")
        key, name = item.evidence_key, item.evidence_name or "evidence"
    return Evidence(name=name, data=open_store(settings.resolved_storage_url, settings).get(key))


__all__ = [
    "CHECKLIST_ROLES",
    "CutoverView",
    "Evidence",
    "HistoryLine",
    "act",
    "act_from_cli",
    "check_may_close",
    "checklist_items",
    "checklist_of",
    "close_item",
    "cutover_view",
    "evidence_of",
    "item_json",
    "notify_checklist_changed",
    "workflow_id",
]

"""People's decisions about a migration: who may take them, and the audit trail of them.

A gate decision (re-sync, accept, abort) or a pause, resume or cancel reaches
``MigrateSystemWorkflow`` as an update in a person's name. The workflow asks
``authorise_decision`` whether that person is an active engineer in the engine database
(a refusal is itself recorded, then raised as ``NotPermittedError``), applies the decision,
and has ``record_decision`` append it to the hash-chained audit trail before it answers.
Both run on the IO queue and are idempotent: a retried ``record_decision`` whose first
attempt committed finds its event (by the update's id) and adds none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity

from activities import names
from activities.errors import translated
from config.log import get_logger
from config.settings import Settings
from db import accounts
from db.audit import append_audit_event
from db.models import AuditEvent, Role
from db.session import session_scope
from domain.errors import NotPermittedError
from domain.migration import RecordDecisionInput

log = get_logger(__name__)

SUBJECT_TYPE = "system"
RECENT_EVENTS = 50
"""Events of the same system and action looked through for a retried record's first
attempt: a retry follows its attempt within minutes."""


def _holds_role(session: Session, username: str, role: Role) -> bool:
    user = accounts.get_user_by_username(session, username)
    return user is not None and user.active and role.value in user.roles


def _recorded(session: Session, request: RecordDecisionInput) -> bool:
    """Whether this update's decision is in the trail already (a retried attempt)."""
    update_id = request.detail.get("update_id")
    if not update_id:
        return False
    recent = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.subject_type == SUBJECT_TYPE,
            AuditEvent.subject_id == request.system_id,
            AuditEvent.action == request.action,
        )
        .order_by(AuditEvent.id.desc())
        .limit(RECENT_EVENTS)
    )
    return any(event.detail.get("update_id") == update_id for event in recent)


@dataclass
class DecisionActivities:
    """Role checks and the audit trail of people's migration decisions."""

    database_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> DecisionActivities:
        return cls(settings.resolved_database_url)

    def all(self) -> list[Callable[..., Any]]:
        return [self.authorise_decision, self.record_decision]

    @activity.defn(name=names.AUTHORISE_DECISION)
    @translated
    def authorise_decision(self, request: RecordDecisionInput) -> None:
        """Refuse anyone who is not an active engineer, and record the refusal."""
        with session_scope(self.database_url) as session:
            allowed = _holds_role(session, request.actor, Role.ENGINEER)
        if allowed:
            return
        self._append(request.model_copy(update={"accepted": False}))
        log.warning("decision.refused", action=request.action, system=request.system_id)
        raise NotPermittedError(
            f"{request.actor} is not an active engineer; only an engineer may decide "
            f"{request.system_id}'s migration"
        )

    @activity.defn(name=names.RECORD_DECISION)
    @translated
    def record_decision(self, request: RecordDecisionInput) -> None:
        """Append an accepted decision to the audit trail (once, however often retried)."""
        self._append(request)
        log.info("decision.recorded", action=request.action, system=request.system_id)

    def _append(self, request: RecordDecisionInput) -> None:
        with session_scope(self.database_url) as session:
            if _recorded(session, request):
                return
            append_audit_event(
                session,
                actor=request.actor,
                action=request.action,
                subject_type=SUBJECT_TYPE,
                subject_id=request.system_id,
                detail={**request.detail, "accepted": request.accepted},
            )


__all__ = ["DecisionActivities"]

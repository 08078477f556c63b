"""Decommissioning activities: freeze the legacy source, archive it, work its retirement
checklist, retire it, and accrue what retired systems save. All run on the IO queue.

Each receives the plan's path and the system id (``DecommissionInput``) and does its own
reading, so no row travels through Temporal. Each records what it did in the engine
database in one transaction: the system's stage, a line of its cutover history and an
audit event. Retried, each is safe: the freeze statements are repeatable by contract, an
archive run writes a new folder of its own, stages only move forward, and the ledger
adds a day once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from activities import names
from activities.errors import translated
from adapters.change_capture import may_stream, stop_stream
from adapters.decommission import archive_legacy as write_archive
from adapters.decommission import freeze_legacy as freeze_source
from adapters.storage import DocumentStore, open_store
from config.log import get_logger
from config.migration_plan import MigrationPlan, load_plan
from config.settings import Settings
from db import decommission as checklists
from db.audit import append_audit_event
from db.cutover import record_cutover_event
from db.ledger import accrue_system_savings
from db.models import System
from db.programme import move_system
from db.session import session_scope
from domain.cutover import (
    AccrueSavingsInput,
    ArchiveResult,
    ChecklistStatus,
    CutoverEventKind,
    DecommissionInput,
    FreezeResult,
)
from domain.errors import ConflictError, NotFoundError, PlanError
from domain.systems import SystemStage
from legacy_connectors import open_source

log = get_logger(__name__)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _heartbeat(*details: Any) -> None:
    if activity.in_activity():
        activity.heartbeat(*details)


@dataclass
class DecommissionActivities:
    """Freeze, archive, checklist, retire and savings, with the store and clock injected."""

    database_url: str
    store: DocumentStore
    clock: Callable[[], dt.datetime] = field(default=_utc_now)

    @classmethod
    def from_settings(cls, settings: Settings) -> DecommissionActivities:
        return cls(
            settings.resolved_database_url,
            open_store(settings.resolved_storage_url, settings),
        )

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.freeze_legacy,
            self.archive_legacy,
            self.open_checklist,
            self.checklist_status,
            self.retire_system,
            self.accrue_savings,
        ]

    def _plan(self, request: DecommissionInput) -> MigrationPlan:
        plan = load_plan(request.plan_path)
        if plan.system.id != request.system_id:
            raise PlanError(
                f"the plan is for system {plan.system.id!r}, not {request.system_id!r}",
                where=request.plan_path,
            )
        return plan

    def _known_system(self, system_id: str) -> None:
        # Checked before the legacy system is touched: a freeze is not undone lightly.
        with session_scope(self.database_url) as session:
            if session.get(System, system_id) is None:
                raise NotFoundError(f"no legacy system {system_id!r} in the programme")

    def _record_step(
        self,
        request: DecommissionInput,
        *,
        stage: SystemStage,
        kind: CutoverEventKind,
        action: str,
        note: str,
        detail: dict[str, Any],
        now: dt.datetime,
    ) -> None:
        """Move the system forward to ``stage`` (never back) and write the history lines."""
        with session_scope(self.database_url) as session:
            system = session.get(System, request.system_id)
            if system is None:
                raise NotFoundError(f"no legacy system {request.system_id!r} in the programme")
            if system.stage.order < stage.order:
                move_system(
                    session, request.system_id, stage, actor=request.actor, note=note, at=now
                )
            record_cutover_event(
                session, request.system_id, kind, actor=request.actor, note=note, at=now
            )
            append_audit_event(
                session,
                actor=request.actor,
                action=action,
                subject_type="system",
                subject_id=request.system_id,
                detail=detail,
                occurred_at=now,
            )

    @activity.defn(name=names.FREEZE_LEGACY)
    @translated
    def freeze_legacy(self, request: DecommissionInput) -> FreezeResult:
        """Make the legacy source read-only and prove it; the system moves to frozen.

        Raises:
            ValidationFailed: a write still succeeded after the freeze (non-retryable).
        """
        plan = self._plan(request)
        self._known_system(request.system_id)
        now = self.clock()
        result = freeze_source(plan, self.store, now=now)
        if may_stream(plan):
            # frozen, legacy has nothing more to say: its slot would hold WAL for ever
            source = open_source(plan.source)
            try:
                stop_stream(plan, source)
            finally:
                source.close()
        self._record_step(
            request, stage=SystemStage.FROZEN, kind=CutoverEventKind.LEGACY_FROZEN,
            action="legacy.frozen", note=result.detail, now=now,
            detail={"statements_run": result.statements_run,
                    "write_refused": result.write_refused},
        )  # fmt: skip
        log.info("legacy_frozen", system=request.system_id, write_refused=result.write_refused)
        return result

    @activity.defn(name=names.ARCHIVE_LEGACY)
    @translated
    def archive_legacy(self, request: DecommissionInput) -> ArchiveResult:
        """Archive every table and file, verify it by reading it back, record it; the
        system moves to archived.

        Raises:
            PlanError: the plan says ``archive: false``.
            ValidationFailed: the archive did not read back as written (non-retryable).
        """
        plan = self._plan(request)
        if not plan.decommission.archive:
            raise PlanError("the plan's decommission.archive is false: nothing to archive")
        self._known_system(request.system_id)
        now = self.clock()
        result = write_archive(plan, self.store, now=now, progress=_heartbeat)
        with session_scope(self.database_url) as session:
            checklists.record_archive(session, request.system_id, result, verified_at=now, at=now)
        note = (
            f"{result.files} objects, {result.rows} rows, {result.bytes} bytes; "
            f"manifest {result.manifest_key} (sha256 {result.manifest_sha256}), read back"
        )
        self._record_step(
            request, stage=SystemStage.ARCHIVED, kind=CutoverEventKind.ARCHIVED,
            action="legacy.archived", note=note, now=now,
            detail={"manifest_key": result.manifest_key,
                    "manifest_sha256": result.manifest_sha256, "files": result.files,
                    "rows": result.rows, "bytes": result.bytes},
        )  # fmt: skip
        log.info("legacy_archived", system=request.system_id, files=result.files)
        return result

    @activity.defn(name=names.OPEN_CHECKLIST)
    @translated
    def open_checklist(self, request: DecommissionInput) -> ChecklistStatus:
        """Create the system's retirement checklist from the plan (idempotent)."""
        plan = self._plan(request)
        with session_scope(self.database_url) as session:
            return checklists.open_checklist(
                session, request.system_id, plan.decommission.checklist
            )

    @activity.defn(name=names.CHECKLIST_STATUS)
    @translated
    def checklist_status(self, request: DecommissionInput) -> ChecklistStatus:
        """The checklist as it stands: who closed which item, when."""
        with session_scope(self.database_url) as session:
            return checklists.checklist(session, request.system_id)

    @activity.defn(name=names.RETIRE_SYSTEM)
    @translated
    def retire_system(self, request: DecommissionInput) -> None:
        """Mark the system retired once every checklist item is closed, and start its
        savings: the ledger accrues from today.

        Raises:
            ConflictError: an item is still open, or the plan asks for an archive and
                none is recorded.
        """
        plan = self._plan(request)
        now = self.clock()
        with session_scope(self.database_url) as session:
            system = session.get(System, request.system_id)
            if system is None:
                raise NotFoundError(f"no legacy system {request.system_id!r} in the programme")
            status = checklists.checklist(session, request.system_id)
            still_open = [f"{i.position}. {i.item}" for i in status.items if not i.closed_by]
            if still_open:
                raise ConflictError(
                    f"{len(still_open)} checklist item(s) still open: {'; '.join(still_open)}",
                    where=f"system {request.system_id}",
                )
            if plan.decommission.archive and (
                checklists.latest_archive(session, request.system_id) is None
            ):
                raise ConflictError(
                    "the plan asks for an archive and none is recorded: archive it first",
                    where=f"system {request.system_id}",
                )
            if system.stage is not SystemStage.RETIRED:
                note = f"{len(status.items)} checklist item(s) closed"
                move_system(
                    session, request.system_id, SystemStage.RETIRED, actor=request.actor,
                    note=note, at=now,
                )  # fmt: skip
                record_cutover_event(
                    session, request.system_id, CutoverEventKind.RETIRED, actor=request.actor,
                    note=note, at=now,
                )  # fmt: skip
                append_audit_event(
                    session, actor=request.actor, action="system.retired",
                    subject_type="system", subject_id=request.system_id,
                    detail={"retired_on": now.date().isoformat(),
                            "checklist_items": len(status.items)},
                    occurred_at=now,
                )  # fmt: skip
            added = accrue_system_savings(session, today=now.date())
        log.info("system_retired", system=request.system_id, ledger_entries=added)

    @activity.defn(name=names.ACCRUE_SAVINGS)
    @translated
    def accrue_savings(self, request: AccrueSavingsInput) -> int:
        """Bring every retired system's ledger up to today (or ``request.today``).

        Returns:
            How many ledger entries were added.
        """
        when = request.today or self.clock()
        today = when.astimezone(dt.UTC).date() if when.tzinfo else when.date()
        with session_scope(self.database_url) as session:
            return accrue_system_savings(session, today=today)

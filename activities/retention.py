"""The retention activity: delete the scans and records each form type's template says
are due (``retention: {scans_days, records_years}``), and say so in the audit trail.

Objects are deleted from storage before the database change that records it commits; a
run killed in between deletes them again next time (a no-op) and then records it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from activities.errors import translated
from adapters.storage import DocumentStore, open_store
from config.form_template import FormTemplate, load_templates
from config.log import get_logger
from config.settings import Settings
from db import retention
from db.session import session_scope
from db.types import utcnow
from domain import delivery as names
from domain.delivery import RetentionInput, RetentionResult

log = get_logger(__name__)


@dataclass
class RetentionActivities:
    store: DocumentStore
    database_url: str
    templates: dict[str, FormTemplate]

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionActivities:
        return cls(open_store(settings.resolved_storage_url, settings),
                   settings.resolved_database_url, load_templates(settings.forms_dir))  # fmt: skip

    def all(self) -> list[Callable[..., Any]]:
        return [self.apply_retention]

    @activity.defn(name=names.APPLY_RETENTION)
    @translated
    def apply_retention(self, request: RetentionInput) -> RetentionResult:
        """Delete up to ``limit`` due scans and due records as of ``request.as_of``."""
        as_of = request.as_of or utcnow()
        scans = {t.form_type: t.retention.scans_days for t in self.templates.values()
                 if t.retention.scans_days is not None}  # fmt: skip
        kept = {t.form_type: t.retention.records_years for t in self.templates.values()
                if t.retention.records_years is not None}  # fmt: skip
        result = RetentionResult()
        with session_scope(self.database_url) as session:
            for record in retention.due_records(session, kept, as_of, limit=request.limit):
                for key in retention.scan_keys(session, record):
                    self.store.delete(key)
                rule = f"records_years={kept[record.form_type or '']}"
                retention.record_deleted(session, record, rule=rule, at=as_of)
                result.records_deleted += 1
            room = request.limit - result.records_deleted
            for record in retention.due_scans(session, scans, as_of, limit=max(room, 0)):
                for key in retention.scan_keys(session, record):
                    self.store.delete(key)
                rule = f"scans_days={scans[record.form_type or '']}"
                retention.scan_deleted(session, record, rule=rule, at=as_of)
                result.scans_deleted += 1
        result.more = result.records_deleted + result.scans_deleted >= request.limit
        log.info("retention.applied", as_of=as_of.isoformat(), scans_deleted=result.scans_deleted,
                 records_deleted=result.records_deleted, more=result.more)  # fmt: skip
        return result


__all__ = ["RetentionActivities"]

"""The audit trail from the terminal: verify the chain against the newest exported head,
write the head out now, and record the actions people take from the command line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from activities.audit import export_head, latest_exported_head, parse_head
from adapters.storage import open_store
from config.settings import Settings
from db.audit import AuditChainReport, AuditHead, append_audit_event, verify_audit_chain
from db.session import session_scope
from domain.audit import ExportedAuditHead


def verify(
    settings: Settings, *, head_file: Path | None = None, use_stored_head: bool = True
) -> tuple[AuditChainReport, str | None]:
    """Walk the chain; check it against a head (a file given, else the newest exported one).

    Returns:
        The report, and where the head it was checked against came from (None: no head).

    Raises:
        BadInputError: the head file or the stored head is not a head.
    """
    expected: AuditHead | None = None
    source: str | None = None
    if head_file is not None:
        expected, source = parse_head(head_file.read_bytes(), where=str(head_file)), str(head_file)
    elif use_stored_head:
        found = latest_exported_head(open_store(settings.resolved_storage_url, settings))
        if found is not None:
            source, expected = found
    with session_scope(settings.resolved_database_url) as session:
        return verify_audit_chain(session, expected=expected), source


def export_head_now(settings: Settings) -> ExportedAuditHead:
    """Write the chain's head to the object store now (as the daily schedule does)."""
    store = open_store(settings.resolved_storage_url, settings)
    return export_head(store, settings.resolved_database_url,
                       retention_days=settings.audit_head_retention_days)  # fmt: skip


def record_cli_action(
    settings: Settings,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | int,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append an action taken from the command line to the audit trail (``via: cli``)."""
    with session_scope(settings.resolved_database_url) as session:
        append_audit_event(
            session, actor=actor, action=action, subject_type=subject_type,
            subject_id=subject_id, detail={**(detail or {}), "via": "cli"},
        )  # fmt: skip


__all__ = ["export_head_now", "record_cli_action", "verify"]

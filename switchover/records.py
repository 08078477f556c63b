"""Approved records after the decision, for the terminal: their deliveries, re-driving the
dead ones, and erasing one person's data (``db.retention``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from config.form_template import FieldType, FormTemplate, load_templates
from config.settings import Settings
from db import outbox, retention
from db.models import Delivery, DeliveryState
from db.session import session_scope
from db.types import utcnow
from domain.errors import BadInputError

NI_SHAPE = re.compile(r"[A-Z]{2}[0-9]{6}[A-D]")


def _delivery_row(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "record_id": delivery.record_id,
        "version": delivery.version,
        "destination": delivery.destination,
        "kind": delivery.kind,
        "state": delivery.state.value,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
        "dead_at": delivery.dead_at.isoformat() if delivery.dead_at else None,
    }


def list_deliveries(
    settings: Settings, *, dead: bool = False, limit: int = 200
) -> list[dict[str, Any]]:
    """Deliveries, newest first; only the dead-lettered ones with ``dead``."""
    with session_scope(settings.resolved_database_url) as session:
        rows = outbox.list_deliveries(session, state=DeliveryState.DEAD if dead else None,
                                      limit=limit)  # fmt: skip
        return [_delivery_row(d) for d in rows]


def redrive(settings: Settings, delivery_ids: Sequence[int] | None) -> list[int]:
    """Put dead deliveries back in the queue (all of them when ``delivery_ids`` is None);
    the next delivery pass, within a minute, sends them.

    Raises:
        NotFoundError: a named delivery does not exist.
        ConflictError: a named delivery is not dead.
    """
    with session_scope(settings.resolved_database_url) as session:
        return outbox.redrive(session, delivery_ids)


def erase(settings: Settings, ni_number: str, *, dry_run: bool, actor: str) -> dict[str, Any]:
    """Remove one person's personal data from records, scans and legacy-match results.

    The person's records keep their ids, form types and statuses with every value blanked;
    their scans are deleted from storage; other records' legacy-match results naming them
    are dropped; pending deliveries of their records are closed. The audit trail keeps its
    events (they name fields and ids, never values) and gains one per record erased.
    With ``dry_run`` nothing changes and the report says what would be removed.

    Raises:
        BadInputError: ``ni_number`` is not shaped like a National Insurance number.
    """
    from adapters.storage import open_store

    wanted = retention.compact_ni(ni_number)
    if not NI_SHAPE.fullmatch(wanted):
        raise BadInputError("not a National Insurance number (2 letters, 6 digits, A-D)",
                            where="--ni")  # fmt: skip
    templates = load_templates(settings.forms_dir)
    ni_fields = {
        form_type: [spec.name for spec in template.fields if spec.type is FieldType.NI_NUMBER]
        for form_type, template in templates.items()
    }
    report = retention.ErasureReport(dry_run=dry_run)
    with session_scope(settings.resolved_database_url) as session:
        own, mentioned = retention.find_person(session, ni_fields, wanted)
        for record in own:
            report.records.append(retention.erase_record(session, record, actor=actor))
        for record in mentioned:
            retention.clear_legacy_match(session, record, actor=actor)
            report.legacy_matches_cleared.append(record.id)
        if dry_run:
            session.rollback()
        else:
            # Objects first: a failure here leaves the database as it was, and erasing
            # again deletes what is left (deleting a missing object is no error).
            store = open_store(settings.resolved_storage_url, settings)
            for erased in report.records:
                for key in erased.scan_keys:
                    store.delete(key)
    return report.as_json()


def retention_due(
    settings: Settings, templates: Mapping[str, FormTemplate]
) -> list[dict[str, Any]]:
    """Per form type with a retention schedule: scans due for deletion now and within 30
    days, and records due now (the programme dashboard shows this)."""
    rules = {
        form_type: (t.retention.scans_days, t.retention.records_years)
        for form_type, t in templates.items()
        if t.retention.scans_days is not None or t.retention.records_years is not None
    }
    with session_scope(settings.resolved_database_url) as session:
        rows = retention.due_summary(session, rules, utcnow())
    return [vars(row) for row in rows]

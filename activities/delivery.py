"""Delivery activities: list the outbox's deliveries, deliver one, dead-letter one.

Run on the IO queue. ``deliver_record`` is safe to run any number of times for the same
delivery: the destination itself recognises a version it holds (the PostgreSQL table's
delivered mark, the webhook's idempotency key), and the engine's mark is written after.
Field values go to the destination only, never to a log line or an error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from activities.errors import translated
from adapters.delivery import Destination, RecordPayload, open_destination
from config import form_template
from config.form_template import FormTemplate, load_templates
from config.log import get_logger
from config.settings import Settings
from db import outbox, records
from db.models import DeliveryState
from db.session import session_scope
from domain import delivery as names
from domain.delivery import (
    DeadLetterInput,
    DeliverInput,
    DeliverResult,
    DeliveryPage,
    DeliveryRefused,
    ListDeliveriesInput,
    PendingDelivery,
)
from domain.errors import SwitchoverError

log = get_logger(__name__)

Opener = Callable[[form_template.Destination, Settings], Destination]


@dataclass
class DeliveryActivities:
    """The outbox's deliveries, to the destinations the form templates name."""

    settings: Settings
    templates: dict[str, FormTemplate]
    open: Opener = open_destination
    _open: dict[tuple[str, str], Destination] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryActivities:
        return cls(settings, load_templates(settings.forms_dir))

    @property
    def database_url(self) -> str:
        return self.settings.resolved_database_url

    def all(self) -> list[Callable[..., Any]]:
        return [self.list_deliveries, self.deliver_record, self.dead_letter_delivery]

    def close(self) -> None:
        with self._lock:
            opened, self._open = list(self._open.values()), {}
        for destination in opened:
            destination.close()

    def _destinations(self, form_type: str | None) -> list[form_template.Destination]:
        template = self.templates.get(form_type or "")
        return list(template.deliver_to) if template is not None else []

    @activity.defn(name=names.LIST_DELIVERIES)
    @translated
    def list_deliveries(self, request: ListDeliveriesInput) -> DeliveryPage:
        """List the destinations of newly approved records, then the deliveries to make."""
        with session_scope(self.database_url) as session:
            for entry in outbox.unexpanded_entries(session, limit=request.limit):
                specs = self._destinations(entry.form_type)
                outbox.expand_entry(session, entry, [(d.name, d.kind.value) for d in specs])
            pending = outbox.pending_deliveries(session, limit=request.limit)
            return DeliveryPage(
                deliveries=[
                    PendingDelivery(
                        delivery_id=d.id,
                        record_id=d.record_id,
                        version=d.version,
                        destination=d.destination,
                    )
                    for d in pending
                ],
                max_attempts=self.settings.delivery_max_attempts,
            )

    def _destination(self, form_type: str | None, name: str) -> Destination:
        with self._lock:
            opened = self._open.get((form_type or "", name))
            if opened is not None:
                return opened
            spec = next((d for d in self._destinations(form_type) if d.name == name), None)
            if spec is None:
                raise DeliveryRefused(f"the template of {form_type!r} no longer names a "
                                      f"destination {name!r}")  # fmt: skip
            opened = self._open[(form_type or "", name)] = self.open(spec, self.settings)
            return opened

    @activity.defn(name=names.DELIVER_RECORD)
    @translated
    def deliver_record(self, request: DeliverInput) -> DeliverResult:
        """Deliver one record version to one destination (once, however often retried)."""
        attempt = activity.info().attempt
        with session_scope(self.database_url) as session:
            delivery = outbox.get_delivery(session, request.delivery_id)
            if delivery.state is DeliveryState.DELIVERED:
                return DeliverResult(delivered=True, already=True)
            record = records.get_form_record(session, delivery.record_id)
            payload = RecordPayload(
                record_id=record.id, version=delivery.version, form_type=record.form_type,
                document_id=record.document_id, approved_at=record.decided_at or record.created_at,
                fields={name: value.get("value") for name, value in (record.fields or {}).items()},
            )  # fmt: skip
            destination_name = delivery.destination
        try:
            fresh = self._destination(payload.form_type, destination_name).deliver(payload)
        except SwitchoverError as e:
            with session_scope(self.database_url) as session:
                outbox.record_attempt(session, request.delivery_id, attempt=attempt, error=str(e))
            log.warning(
                "delivery.attempt_failed", delivery_id=request.delivery_id,
                destination=destination_name, attempt=attempt, error_type=e.type_name,
            )  # fmt: skip
            raise
        with session_scope(self.database_url) as session:
            outbox.mark_delivered(session, request.delivery_id, attempt=attempt)
        log.info("delivery.made", delivery_id=request.delivery_id, destination=destination_name,
                 attempt=attempt, already=not fresh)  # fmt: skip
        return DeliverResult(delivered=True, already=not fresh)

    @activity.defn(name=names.DEAD_LETTER_DELIVERY)
    @translated
    def dead_letter_delivery(self, request: DeadLetterInput) -> None:
        """Set a delivery aside with the reason its last attempt failed."""
        with session_scope(self.database_url) as session:
            outbox.mark_dead(session, request.delivery_id, reason=request.reason)


__all__ = ["DeliveryActivities"]

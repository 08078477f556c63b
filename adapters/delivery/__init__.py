"""Destinations of approved records: a PostgreSQL table, a signed webhook."""

from __future__ import annotations

from adapters.delivery.base import Destination, RecordPayload
from adapters.delivery.postgres import PostgresDestination
from adapters.delivery.webhook import WebhookDestination, sign, verify_signature
from config import form_template
from config.settings import Settings


def open_destination(spec: form_template.Destination, settings: Settings) -> Destination:
    """The destination a template's ``deliver_to`` entry names."""
    if spec.kind is form_template.DeliveryKind.POSTGRES:
        assert spec.table is not None  # the template's validation requires it
        return PostgresDestination(spec.url, spec.table)
    secret = settings.delivery_webhook_secret
    return WebhookDestination(spec.url, secret.get_secret_value().encode() if secret else b"")


__all__ = [
    "Destination",
    "PostgresDestination",
    "RecordPayload",
    "WebhookDestination",
    "open_destination",
    "sign",
    "verify_signature",
]

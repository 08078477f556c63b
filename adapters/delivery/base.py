"""What a destination of approved records does, and what it is sent."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class RecordPayload:
    """One approved record, as every destination receives it.

    ``fields`` holds the values (personal data): it goes to the destination and nowhere
    else, never to a log line or an error message.
    """

    record_id: int
    version: int
    form_type: str | None
    document_id: str
    approved_at: dt.datetime
    fields: dict[str, Any]

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt at this version of this record."""
        return f"record-{self.record_id}-v{self.version}"

    def as_json(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "version": self.version,
            "form_type": self.form_type,
            "document_id": self.document_id,
            "approved_at": self.approved_at.isoformat(),
            "fields": self.fields,
        }


class Destination(Protocol):
    """A place approved records go: a table, a webhook."""

    def deliver(self, payload: RecordPayload) -> bool:
        """Deliver one record version; True when this call delivered it, False when the
        destination already held it (an earlier attempt got through).

        Raises:
            DeliveryFailed: a failure that may pass; the attempt is retried.
            DeliveryRefused: the destination refused it for good.
        """
        ...

    def close(self) -> None: ...

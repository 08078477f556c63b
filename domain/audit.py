"""The audit trail's head as it is written out: what the daily export and the CLI share."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel


class ExportAuditHeadInput(BaseModel):
    """Nothing to choose yet: the head of the whole trail is written out."""


class ExportedAuditHead(BaseModel):
    """A head written to the object store.

    Attributes:
        key: where it is in the object store.
        event_id: the chain's last event (0 for an empty trail).
        hash: that event's hash.
        events: how many events the chain held.
        exported_at: when.
        locked_until: the S3 Object Lock retention date, or None where the store has none.
    """

    key: str
    event_id: int
    hash: str
    events: int
    exported_at: dt.datetime
    locked_until: dt.datetime | None = None

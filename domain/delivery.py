"""Inputs and results of delivery, notification and retention workflows and activities,
and the names of those activities (importable by workflows: no I/O here)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.errors import ExitCode, ServiceUnavailableError, SwitchoverError

# Activity names (activities.delivery, activities.notify, activities.retention).
LIST_DELIVERIES = "list_deliveries"  # ListDeliveriesInput -> DeliveryPage
DELIVER_RECORD = "deliver_record"  # DeliverInput -> DeliverResult
DEAD_LETTER_DELIVERY = "dead_letter_delivery"  # DeadLetterInput -> None
NOTIFY = "notify"  # NotifyInput -> NotifyResult
APPLY_RETENTION = "apply_retention"  # RetentionInput -> RetentionResult

DELIVERY_WORKFLOW_ID = "deliver-records"
RETENTION_WORKFLOW_ID = "apply-retention"


class DeliverRecordsInput(BaseModel):
    """One pass of the delivery workflow over the outbox."""

    max_attempts: int | None = Field(default=None, ge=1)
    """Attempts at one delivery before it is dead-lettered; default the settings'
    ``delivery_max_attempts`` (read by the worker that lists the deliveries)."""
    attempt_timeout_s: float = 60.0
    """How long one attempt may take; a worker killed mid-attempt is noticed after this."""
    first_retry_s: float = 10.0
    backoff: float = 3.0
    max_retry_s: float = 900.0
    """Retries wait 10 s, 30 s, 90 s... up to 15 minutes: about 50 minutes over 8 attempts."""
    page_size: int = Field(default=50, ge=1)
    concurrency: int = Field(default=8, ge=1)
    pages_per_run: int = Field(default=20, ge=1)
    """Pages after which the run continues as new, so its history stays small."""
    delivered: int = 0
    dead: int = 0


class DeliverRecordsResult(BaseModel):
    delivered: int = 0
    dead: int = 0


class ListDeliveriesInput(BaseModel):
    limit: int = 50


class PendingDelivery(BaseModel):
    delivery_id: int
    record_id: int
    version: int
    destination: str


class DeliveryPage(BaseModel):
    deliveries: list[PendingDelivery] = Field(default_factory=list)
    max_attempts: int = 8
    """The settings' attempt limit."""


class DeliverInput(BaseModel):
    delivery_id: int


class DeliverResult(BaseModel):
    delivered: bool = True
    already: bool = False
    """The destination held this version already (an earlier attempt got through)."""


class DeadLetterInput(BaseModel):
    delivery_id: int
    reason: str


class NotificationKind(StrEnum):
    REVIEW_OVERDUE = "review_overdue"
    GATE_FAILED = "gate_failed"
    APPROVAL_WAITING = "approval_waiting"
    CHECKLIST_STALE = "checklist_stale"


class NotifyInput(BaseModel):
    """A notification: its kind, what it is about (an id, never a person's data) and a
    reference that makes a repeated request recognisable at Notify."""

    kind: NotificationKind
    subject: str = Field(max_length=200, description="a task id, a system id")
    count: int | None = None
    detail: str | None = Field(default=None, max_length=200, description="a stage, a gate")
    path: str | None = Field(default=None, description="the web app page, e.g. /review/3")
    reference: str = Field(max_length=255)


class NotifyResult(BaseModel):
    sent: bool
    notification_id: str | None = None
    why_not: str | None = None


class RetentionInput(BaseModel):
    as_of: datetime | None = None
    """The time retention is judged at; the workflow passes its own clock."""
    limit: int = 1000
    """Records handled per activity call."""


class RetentionResult(BaseModel):
    scans_deleted: int = 0
    records_deleted: int = 0
    more: bool = False
    """The limit was reached: call again."""


class DeliveryFailed(ServiceUnavailableError):
    """A destination failed in a way that may pass (unreachable, 5xx, throttled)."""


class DeliveryRefused(SwitchoverError):
    """A destination refused a record for good (a 4xx, a table it cannot write, a
    destination the template no longer names): dead-lettered at once, re-drivable."""

    exit_code = ExitCode.CHECK_FAILED


class NotificationFailed(ServiceUnavailableError):
    """GOV.UK Notify could not be reached, or answered 5xx or 429: retried."""


class NotificationRefused(SwitchoverError):
    """Notify refused the request (bad key, template, recipient), or its personalisation
    looked like personal data: not retried, logged for the operator."""

    exit_code = ExitCode.CHECK_FAILED

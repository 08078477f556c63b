"""Notifications through GOV.UK Notify, with its Python client.

Emails go to the team mailbox the settings name (``notify_email_to``), using one Notify
template per kind of event (``notify_template_*``). Templates hold no personal data: the
personalisation carries only ids, counts, system names and links, and ``safe_value``
refuses anything that looks like a person's data (an NI number, a postcode, an email
address, a date) before a request is made.
"""

from __future__ import annotations

import re
from typing import Any

import requests
from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

from config.settings import Settings
from domain.delivery import (
    NotificationFailed,
    NotificationKind,
    NotificationRefused,
    NotifyInput,
)

_SAFE = re.compile(r"[A-Za-z0-9 _.:/#%()\-]{0,200}")
_PERSONAL = [
    re.compile(r"[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]", re.IGNORECASE),  # NI number
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE),  # postcode
    re.compile(r"@"),  # email address
    re.compile(r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b"),  # date
]


def safe_value(name: str, value: str | int) -> str | int:
    """``value`` if it may go into a notification; otherwise ``NotificationRefused``."""
    if isinstance(value, int):
        return value
    if not _SAFE.fullmatch(value) or any(p.search(value) for p in _PERSONAL):
        raise NotificationRefused(f"personalisation {name!r} looks like personal data: not sent")
    return value


def template_ids(settings: Settings) -> dict[NotificationKind, str | None]:
    return {
        NotificationKind.REVIEW_OVERDUE: settings.notify_template_review_overdue,
        NotificationKind.GATE_FAILED: settings.notify_template_gate_failed,
        NotificationKind.APPROVAL_WAITING: settings.notify_template_approval_waiting,
        NotificationKind.CHECKLIST_STALE: settings.notify_template_checklist_stale,
    }


class Notifier:
    """Sends one email per notification to the team mailbox."""

    def __init__(self, settings: Settings, *, timeout_s: float = 10.0) -> None:
        self.settings = settings
        key = settings.notify_api_key
        self._client = (
            NotificationsAPIClient(
                key.get_secret_value(), base_url=settings.notify_base_url, timeout=timeout_s
            )
            if key is not None
            else None
        )

    def why_not(self, kind: NotificationKind) -> str | None:
        """Why this kind would not be sent (None: it would)."""
        if self._client is None:
            return "SWITCHOVER_NOTIFY_API_KEY is not set"
        if not self.settings.notify_email_to:
            return "SWITCHOVER_NOTIFY_EMAIL_TO is not set"
        if not template_ids(self.settings)[kind]:
            return f"SWITCHOVER_NOTIFY_TEMPLATE_{kind.value.upper()} is not set"
        return None

    def personalisation(self, request: NotifyInput) -> dict[str, str | int]:
        link = ""
        if request.path:
            base = (self.settings.public_url or "").rstrip("/")
            link = f"{base}{request.path}"
        values: dict[str, str | int] = {
            "subject": request.subject,
            "count": request.count if request.count is not None else "",
            "detail": request.detail or "",
            "link": link,
        }
        return {name: safe_value(name, value) for name, value in values.items()}

    def send(self, request: NotifyInput) -> str:
        """Send one notification; Notify's id for it.

        Raises:
            NotificationRefused: not configured for this kind, personal data in the
                personalisation, or a 4xx from Notify.
            NotificationFailed: Notify unreachable, or a 5xx or 429.
        """
        why = self.why_not(request.kind)
        if why is not None or self._client is None:
            raise NotificationRefused(why or "not configured")
        personalisation = self.personalisation(request)
        try:
            answer: dict[str, Any] = self._client.send_email_notification(
                email_address=self.settings.notify_email_to,
                template_id=template_ids(self.settings)[request.kind],
                personalisation=personalisation,
                reference=request.reference,
            )
        except APIError as e:
            status = getattr(e, "status_code", 0) or 0
            message = f"GOV.UK Notify answered {status}"
            if status >= 500 or status == 429:
                raise NotificationFailed(message) from e
            raise NotificationRefused(message) from e
        except requests.RequestException as e:
            raise NotificationFailed(f"GOV.UK Notify did not answer: {type(e).__name__}") from e
        return str(answer.get("id", ""))

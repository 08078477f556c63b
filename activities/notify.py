"""The notification activity: one email through GOV.UK Notify for an event people must act
on (a review deadline passed, a gate failed, an approval waiting, a checklist item stale).

Not configured (no API key, mailbox or template for the kind): nothing is sent and the
result says why, so workflows run the same with or without Notify.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from activities.errors import translated
from adapters.notify import Notifier
from config.log import get_logger
from config.settings import Settings
from domain import delivery as names
from domain.delivery import NotifyInput, NotifyResult

log = get_logger(__name__)


@dataclass
class NotifyActivities:
    notifier: Notifier

    @classmethod
    def from_settings(cls, settings: Settings) -> NotifyActivities:
        return cls(Notifier(settings))

    def all(self) -> list[Callable[..., Any]]:
        return [self.notify]

    @activity.defn(name=names.NOTIFY)
    @translated
    def notify(self, request: NotifyInput) -> NotifyResult:
        why = self.notifier.why_not(request.kind)
        if why is not None:
            log.info("notification.skipped", kind=request.kind.value, why=why)
            return NotifyResult(sent=False, why_not=why)
        notification_id = self.notifier.send(request)
        log.info("notification.sent", kind=request.kind.value, reference=request.reference)
        return NotifyResult(sent=True, notification_id=notification_id)


__all__ = ["NotifyActivities"]

"""Delivery to a webhook: the record as JSON, signed, with an idempotency key.

Headers of every request:

- ``Idempotency-Key``: ``record-<id>-v<version>``, the same on every attempt;
- ``X-Switchover-Timestamp``: seconds since the epoch when the request was signed;
- ``X-Switchover-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with the
  shared secret, of the timestamp, a full stop and the body's bytes.

A webhook cannot take part in our transaction, so sending is at least once: a worker
killed after the receiver answered but before the answer was recorded sends again, with
the same key. The receiver keeps the keys it has processed and does nothing for a key it
has seen; ``verify_signature`` checks a request on its side. 2xx is delivered, 409 is
"already had it"; 408, 425, 429 and 5xx are retried; any other answer is refused for good.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from adapters.delivery.base import RecordPayload
from domain.delivery import DeliveryFailed, DeliveryRefused

SIGNATURE_HEADER = "X-Switchover-Signature"
TIMESTAMP_HEADER = "X-Switchover-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRIED_STATUSES = frozenset({408, 425, 429})


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value for a body sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(
    secret: bytes, timestamp: str, body: bytes, signature: str, *, tolerance_s: float = 300,
    now: float | None = None,
) -> bool:  # fmt: skip
    """A receiver's check: the signature matches and the timestamp is recent (so a captured
    request cannot be replayed later)."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookDestination:
    """Approved records POSTed to ``url``."""

    def __init__(self, url: str, secret: bytes, *, timeout_s: float = 10.0) -> None:
        if not secret:
            raise DeliveryRefused(
                "a webhook destination needs SWITCHOVER_DELIVERY_WEBHOOK_SECRET", where=url
            )
        self.url = url
        self._secret = secret
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def deliver(self, payload: RecordPayload) -> bool:
        body = json.dumps(payload.as_json(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, default=str).encode("utf-8")  # fmt: skip
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: payload.idempotency_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise DeliveryFailed(f"the webhook did not answer: {type(e).__name__}",
                                 where=self.url) from e  # fmt: skip
        status = response.status_code
        if 200 <= status < 300:
            return True
        if status == 409:
            return False
        # The status only: a body may echo the record's values.
        message = f"the webhook answered {status} {response.reason_phrase}"
        if status >= 500 or status in RETRIED_STATUSES:
            raise DeliveryFailed(message, where=self.url)
        raise DeliveryRefused(message, where=self.url)

    def close(self) -> None:
        self._client.close()

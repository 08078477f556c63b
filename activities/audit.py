"""The audit chain's head, written out to the object store so truncation shows.

An attacker who can write the engine database can delete the last events, or rewrite
every hash from an edited event on, and leave a chain that verifies. The head (the last
event's id and hash) written elsewhere every day stops that: ``switchover audit verify``
checks the chain still holds the newest exported head. On S3 with Object Lock enabled
on the bucket, each head is stored under a compliance-mode retention, so no one, the
bucket's owner included, can change or delete it before the date; other stores keep it
as an ordinary object (document what guards them).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from activities.errors import translated
from activities.names import EXPORT_AUDIT_HEAD
from adapters.storage import DocumentStore, open_store
from config.log import get_logger
from config.settings import Settings
from db.audit import AuditHead, audit_head
from db.session import session_scope
from db.types import utcnow
from domain.audit import ExportAuditHeadInput, ExportedAuditHead
from domain.errors import BadInputError, StorageError

log = get_logger(__name__)

HEADS_PREFIX = "audit/heads/"


def _lockable(store: DocumentStore) -> tuple[Any, str, str] | None:
    """The S3 client, bucket and key prefix when the store is a bucket with Object Lock on."""
    client, bucket = getattr(store, "client", None), getattr(store, "bucket", None)
    if client is None or not bucket or not hasattr(client, "get_object_lock_configuration"):
        return None
    from botocore.exceptions import ClientError

    try:
        config = client.get_object_lock_configuration(Bucket=bucket)
    except ClientError:
        return None  # no lock configuration: the bucket was made without Object Lock
    if config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
        return None
    return client, bucket, str(getattr(store, "prefix", "") or "")


def export_head(
    store: DocumentStore, database_url: str, *, retention_days: int, now: dt.datetime | None = None
) -> ExportedAuditHead:
    """Write the chain's head now to a new object under ``audit/heads/``.

    Raises:
        StorageError: the store refused the write.
    """
    with session_scope(database_url) as session:
        head = audit_head(session)
    when = (now or utcnow()).astimezone(dt.UTC)
    key = f"{HEADS_PREFIX}{when:%Y%m%dT%H%M%S%fZ}-event-{head.event_id}.json"
    body = {**head.as_json(), "exported_at": when.isoformat()}
    data = json.dumps(body, sort_keys=True).encode()
    locked_until: dt.datetime | None = None
    lock = _lockable(store)
    if lock is None:
        store.put_at(key, data, content_type="application/json")
    else:
        client, bucket, prefix = lock
        locked_until = when + dt.timedelta(days=retention_days)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client.put_object(
                Bucket=bucket, Key=f"{prefix}/{key}" if prefix else key, Body=data,
                ContentType="application/json",
                ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode(),  # noqa: S324
                ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=locked_until,
            )  # fmt: skip
        except (BotoCoreError, ClientError) as e:
            raise StorageError(f"the audit head could not be written to {key}: {e}") from e
    log.info("audit.head_exported", key=key, event_id=head.event_id, locked=lock is not None)
    return ExportedAuditHead(key=key, event_id=head.event_id, hash=head.hash, events=head.events,
                             exported_at=when, locked_until=locked_until)  # fmt: skip


def latest_exported_head(store: DocumentStore) -> tuple[str, AuditHead] | None:
    """The newest head written out (its key and content), or None when none was.

    Raises:
        BadInputError: the newest head is not a head (it was tampered with, or is foreign).
    """
    keys = [k for k in store.list(HEADS_PREFIX) if k.endswith(".json")]
    if not keys:
        return None
    key = max(keys)
    return key, parse_head(store.get(key), where=key)


def parse_head(data: bytes, *, where: str) -> AuditHead:
    """An exported head read back.

    Raises:
        BadInputError: not JSON with an event id, a 64-hex hash and a count.
    """
    try:
        body = json.loads(data)
        head = AuditHead(event_id=int(body["event_id"]), hash=str(body["hash"]),
                         events=int(body["events"]))  # fmt: skip
    except (ValueError, KeyError, TypeError) as e:
        raise BadInputError(f"{where}: not an exported audit head ({e})") from e
    if len(head.hash) != 64 or any(c not in "0123456789abcdef" for c in head.hash):
        raise BadInputError(f"{where}: the head's hash is not a sha256")
    return head


@dataclass
class AuditActivities:
    """The daily export of the audit chain's head."""

    database_url: str
    store: DocumentStore
    retention_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditActivities:
        return cls(settings.resolved_database_url,
                   open_store(settings.resolved_storage_url, settings),
                   settings.audit_head_retention_days)  # fmt: skip

    def all(self) -> list[Callable[..., Any]]:
        return [self.export_audit_head]

    @activity.defn(name=EXPORT_AUDIT_HEAD)
    @translated
    def export_audit_head(self, request: ExportAuditHeadInput) -> ExportedAuditHead:
        """Write the head out (a new object each time: a retry writes one more)."""
        return export_head(self.store, self.database_url, retention_days=self.retention_days)


__all__ = [
    "EXPORT_AUDIT_HEAD",
    "HEADS_PREFIX",
    "AuditActivities",
    "export_head",
    "latest_exported_head",
    "parse_head",
]

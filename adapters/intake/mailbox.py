"""A mailbox: forms sent as attachments to an IMAP folder.

Each message is one parcel: its attachments are taken (a message without any brings
itself, which is quarantined as not a document), then the message is moved to the
processed folder (or the quarantine folder, when nothing in it could be taken). Messages
are read with ``BODY.PEEK`` so that a failure half-way leaves them unread where they were;
the engine database remembers every attachment taken, so a message seen again after a
crash adds nothing and is moved on.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import hashlib
import imaplib
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from adapters.intake.arrivals import PER_POLL, Arrival, Outcome, Parcel
from config.log import get_logger
from domain.errors import ServiceUnavailableError

log = get_logger(__name__)


@dataclass
class MailboxSource:
    """The messages of one IMAP folder.

    Attributes:
        host, port, username, password: the IMAP account (plain IMAP with STARTTLS
            when ``tls`` is "starttls", IMAP over TLS when "tls", none when "none").
        folder: where forms arrive, e.g. ``INBOX``.
        processed_folder: where a message goes once its attachments are taken.
        quarantine_folder: where a message goes when nothing in it could be taken.
        max_bytes: larger attachments are quarantined unread.
    """

    host: str
    port: int
    username: str
    password: str
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantined"
    tls: str = "tls"
    max_bytes: int = 100 * 1024 * 1024
    timeout: float = 30.0
    route: str = field(default="mailbox", init=False)
    _imap: imaplib.IMAP4 | None = field(default=None, init=False, repr=False)

    @property
    def source(self) -> str:
        return f"imap://{self.username}@{self.host}:{self.port}/{self.folder}"

    def poll(self) -> list[Parcel]:
        with self._failures("read"):
            imap = self._connection()
            imap.noop()  # lets the server tell of messages delivered since the last poll
            found = _ok(imap.uid("SEARCH", "ALL"))
            uids = found[0].split() if found and isinstance(found[0], bytes) else []
            return [self._parcel(imap, uid) for uid in uids[:PER_POLL]]

    def finish(self, parcel: Parcel, outcome: Outcome) -> None:
        uid = parcel.handle
        assert isinstance(uid, bytes)
        target = self.processed_folder if outcome is Outcome.TAKEN else self.quarantine_folder
        with self._failures("move a message"):
            imap = self._connection()
            imap.create(_quoted(target))  # "already exists" is an answer, not an error
            if "MOVE" in imap.capabilities:
                _ok(imap.uid("MOVE", uid.decode(), _quoted(target)))
            else:
                _ok(imap.uid("COPY", uid.decode(), _quoted(target)))
                _ok(imap.uid("STORE", uid.decode(), "+FLAGS", "(\\Deleted)"))
                _ok(imap.expunge())

    def close(self) -> None:
        if self._imap is not None:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                self._imap.logout()
            self._imap = None

    def _connection(self) -> imaplib.IMAP4:
        if self._imap is not None:
            return self._imap
        imap: imaplib.IMAP4
        if self.tls == "tls":
            imap = imaplib.IMAP4_SSL(self.host, self.port, timeout=self.timeout)
        else:
            imap = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
            if self.tls == "starttls":
                imap.starttls()
        _ok(imap.login(self.username, self.password))
        # Servers announce more once signed in (MOVE among them); imaplib keeps the first list.
        announced = _ok(imap.capability())
        if announced and isinstance(announced[-1], bytes):
            imap.capabilities = tuple(announced[-1].decode().upper().split())
        _ok(imap.select(_quoted(self.folder)))
        self._imap = imap
        return imap

    @contextlib.contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        """IMAP and network failures become ours; the connection is dropped, to be made
        again at the next poll."""
        try:
            yield
        except (imaplib.IMAP4.error, OSError, EOFError) as e:
            self.close()
            raise ServiceUnavailableError(f"could not {doing}: {e}", where=self.source) from e

    def _parcel(self, imap: imaplib.IMAP4, uid: bytes) -> Parcel:
        answer = _ok(imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])"))
        raw = next(part[1] for part in answer if isinstance(part, tuple))
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        message_id = str(message.get("Message-ID") or "").strip()
        ref = message_id or f"sha256:{hashlib.sha256(raw).hexdigest()}"
        arrivals = tuple(self._attachments(ref, message))
        if not arrivals:
            arrivals = (Arrival.of(ref, "message.eml", raw),)
        return Parcel(ref=ref, arrivals=arrivals, handle=uid)

    def _attachments(self, ref: str, message: EmailMessage) -> Iterator[Arrival]:
        number = 0
        for part in message.walk():
            if part.is_multipart() or part.get_content_disposition() == "inline":
                continue
            name = part.get_filename()
            if not name and part.get_content_disposition() != "attachment":
                continue
            number += 1
            data = part.get_payload(decode=True)
            if not isinstance(data, bytes):
                continue
            name = (name or f"attachment-{number}").replace("\\", "/").rsplit("/", 1)[-1]
            where = f"{ref}#{number}:{name}"
            if len(data) > self.max_bytes:
                yield Arrival(ref=where, filename=name, sha256=hashlib.sha256(data).hexdigest(),
                              size=len(data), data=None)  # fmt: skip
            else:
                yield Arrival.of(where, name, data)


def _ok(answer: tuple[str, list[Any]]) -> list[Any]:
    status, data = answer
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        raise imaplib.IMAP4.error(f"{status} {detail}".strip())
    return data


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'

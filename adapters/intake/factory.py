"""Choose an intake source from what an operator writes: a folder, an S3 prefix, a mailbox."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from adapters.intake.arrivals import IntakeSource
from adapters.intake.folder import FolderSource
from adapters.intake.mailbox import MailboxSource
from adapters.intake.prefix import PrefixSource
from adapters.storage import open_store
from config.settings import Settings
from domain.errors import BadInputError

MAILBOX_SCHEMES = {"imap": ("none", 143), "imaps": ("tls", 993)}


def open_source(where: str, settings: Settings) -> IntakeSource:
    """The source ``where`` names.

    Args:
        where: a folder (a path or ``file:///path``); ``s3://bucket/prefix``; or
            ``imaps://user@host[:port]/Folder`` (``imap://`` for plain IMAP; add
            ``?starttls=1`` to upgrade it), with optional ``processed=`` and
            ``quarantine=`` folders in the query. The mailbox password comes from the
            settings (``SWITCHOVER_INTAKE_IMAP_PASSWORD``), never from the URL, so that it
            stays out of process lists and logs.
        settings: the size limit, S3 endpoint and mailbox password.

    Raises:
        BadInputError: a folder that does not exist, or a URL of another kind.
    """
    parts = urlsplit(where)
    max_bytes = settings.intake_max_mb * 1024 * 1024
    if parts.scheme == "s3":
        if not parts.netloc:
            raise BadInputError(f"no bucket in {where!r}")
        return PrefixSource(open_store(where, settings), where, max_bytes)
    if parts.scheme in MAILBOX_SCHEMES:
        return _mailbox(where, settings, max_bytes)
    if parts.scheme not in ("", "file"):
        raise BadInputError(f"watch a folder, s3://bucket/prefix or imaps://user@host/Folder, "
                            f"not {where!r}")  # fmt: skip
    folder = Path(unquote(parts.path) if parts.scheme == "file" else where)
    if not folder.is_dir():
        raise BadInputError("no such folder", where=str(folder))
    return FolderSource(folder, max_bytes)


def _mailbox(where: str, settings: Settings, max_bytes: int) -> MailboxSource:
    parts = urlsplit(where)
    tls, default_port = MAILBOX_SCHEMES[parts.scheme]
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if query.get("starttls") in ("1", "true", "yes"):
        tls = "starttls"
    if not parts.hostname or not parts.username:
        raise BadInputError(
            f"a mailbox URL needs a user and a host: {parts.scheme}://user@host/Folder"
        )
    if parts.password:
        raise BadInputError("put the mailbox password in SWITCHOVER_INTAKE_IMAP_PASSWORD, "
                            "not in the URL")  # fmt: skip
    if settings.intake_imap_password is None:
        raise BadInputError("SWITCHOVER_INTAKE_IMAP_PASSWORD is not set", where="mailbox")
    return MailboxSource(
        host=parts.hostname,
        port=parts.port or default_port,
        username=unquote(parts.username),
        password=settings.intake_imap_password.get_secret_value(),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
        processed_folder=query.get("processed", "Processed"),
        quarantine_folder=query.get("quarantine", "Quarantined"),
        tls=tls,
        max_bytes=max_bytes,
    )

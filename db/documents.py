"""Documents as received, and documents quarantined because they could not be processed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, select
from sqlalchemy.orm import Session

from config.log import get_logger
from db.models import Document, QuarantinedDocument
from db.session import insert_or_ignore
from domain.errors import NotFoundError

log = get_logger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_sha256(sha256: str) -> str:
    """``sha256`` if it is 64 lower-case hex digits.

    Raises:
        ValueError: otherwise.
    """
    if not _SHA256.match(sha256):
        raise ValueError("a document id is a sha256 in 64 lower-case hex digits")
    return sha256


def register_document(
    session: Session,
    *,
    sha256: str,
    filename: str,
    content_type: str,
    size_bytes: int,
    storage_key: str,
) -> Document:
    """Record a stored original; the same content registered again is the same document.

    The first registration wins: a later upload of the same bytes under another name
    keeps the first filename.

    Args:
        session: the caller's session; the caller's scope commits.
        sha256: the content's sha256 (lower-case hex), the document's id.
        filename: the file's name as received.
        content_type: its media type, e.g. ``application/pdf``.
        size_bytes: its size.
        storage_key: where the document store keeps it.

    Returns:
        The document, new or as first registered.
    """
    check_sha256(sha256)
    statement = (
        insert_or_ignore(session, Document)
        .values(
            id=sha256,
            filename=filename,
            content_type=content_type,
            size_bytes=size_bytes,
            storage_key=storage_key,
        )
        .on_conflict_do_nothing(index_elements=[Document.id])
    )
    if cast(CursorResult[Any], session.execute(statement)).rowcount:
        log.info("document.registered", document_id=sha256, size_bytes=size_bytes)
    return get_document(session, sha256)


def get_document(session: Session, sha256: str) -> Document:
    """The document with this sha256.

    Raises:
        NotFoundError: no such document.
    """
    document = session.execute(
        select(Document).where(Document.id == sha256).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if document is None:
        raise NotFoundError(f"no document {sha256}")
    return document


def quarantine_document(
    session: Session,
    *,
    sha256: str,
    filename: str,
    error_type: str,
    reason: str,
    storage_key: str,
    where: str | None = None,
) -> QuarantinedDocument:
    """Record that a document could not be processed, and where its quarantined copy is.

    A document may be quarantined more than once for different errors; the same error at
    the same place again (a retried activity, the same file dropped twice) is the same
    entry.

    Args:
        session: the caller's session.
        sha256: the document's content sha256.
        filename: its name as received.
        error_type: the ``domain.errors`` class name, e.g. ``UnreadableDocumentError``.
        reason: the error's message, for a person to read.
        storage_key: key of the quarantined copy in the document store.
        where: the file or page the error is about.
    """
    check_sha256(sha256)
    existing = session.execute(
        select(QuarantinedDocument)
        .where(
            QuarantinedDocument.document_sha256 == sha256,
            QuarantinedDocument.error_type == error_type,
            QuarantinedDocument.where.is_not_distinct_from(where),
        )
        .order_by(QuarantinedDocument.id)
        .limit(1)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    entry = QuarantinedDocument(
        document_sha256=sha256,
        filename=filename,
        error_type=error_type,
        reason=reason,
        where=where,
        storage_key=storage_key,
    )
    session.add(entry)
    session.flush()
    log.warning("document.quarantined", document_id=sha256, error_type=error_type)
    return entry


def list_quarantined(
    session: Session, *, sha256: str | None = None, limit: int = 100, offset: int = 0
) -> Sequence[QuarantinedDocument]:
    """Quarantined documents, newest first, optionally of one document only."""
    statement = select(QuarantinedDocument)
    if sha256 is not None:
        statement = statement.where(QuarantinedDocument.document_sha256 == sha256)
    statement = statement.order_by(
        QuarantinedDocument.created_at.desc(), QuarantinedDocument.id.desc()
    )
    return session.scalars(statement.limit(limit).offset(offset)).all()

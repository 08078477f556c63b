"""Documents are registered once per content; quarantine keeps every distinct failure."""

from __future__ import annotations

import pytest

from db.documents import get_document, list_quarantined, quarantine_document, register_document
from db.session import session_scope
from domain.errors import NotFoundError
from tests.db.factories import sha256_of

SHA = sha256_of("a scanned form")


def _register(db_url: str, filename: str) -> None:
    with session_scope(db_url) as session:
        register_document(
            session,
            sha256=SHA,
            filename=filename,
            content_type="application/pdf",
            size_bytes=1234,
            storage_key=f"documents/{SHA[:2]}/{SHA[2:4]}/{SHA}",
        )


def test_the_same_content_twice_is_one_document(db_url: str) -> None:
    _register(db_url, "first.pdf")
    _register(db_url, "second-upload.pdf")
    with session_scope(db_url) as session:
        document = get_document(session, SHA)
    assert document.filename == "first.pdf"
    assert document.size_bytes == 1234
    assert document.created_at.tzinfo is not None


def test_unknown_document_is_not_found(db_url: str) -> None:
    with pytest.raises(NotFoundError), session_scope(db_url) as session:
        get_document(session, sha256_of("never seen"))


def test_a_document_id_must_be_a_sha256(db_url: str) -> None:
    with pytest.raises(ValueError, match="sha256"), session_scope(db_url) as session:
        register_document(
            session,
            sha256="ABC",
            filename="x",
            content_type="x",
            size_bytes=1,
            storage_key="k",
        )


def test_quarantine_is_idempotent_per_error_and_place(db_url: str) -> None:
    def quarantine(error_type: str, where: str | None) -> int:
        with session_scope(db_url) as session:
            return quarantine_document(
                session,
                sha256=SHA,
                filename="bad.pdf",
                error_type=error_type,
                reason="the file ends early",
                where=where,
                storage_key=f"quarantine/{SHA}/bad.pdf",
            ).id

    first = quarantine("UnreadableDocumentError", None)
    assert quarantine("UnreadableDocumentError", None) == first  # a retried activity
    page_2 = quarantine("BlankPageError", "page 2")
    assert quarantine("BlankPageError", "page 2") == page_2
    assert quarantine("BlankPageError", "page 3") not in {first, page_2}

    with session_scope(db_url) as session:
        entries = list_quarantined(session, sha256=SHA)
        assert len(entries) == 3
        assert {e.where for e in entries} == {None, "page 2", "page 3"}
        assert list_quarantined(session, sha256=sha256_of("other")) == []

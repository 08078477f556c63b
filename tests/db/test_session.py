"""Sessions commit or roll back; SQLite is set up for several processes; errors are ours."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import db.session
from db.documents import get_document, register_document
from db.session import create_database_engine, get_engine, session_scope, translate_errors
from domain.errors import DatabaseError, NotFoundError
from tests.db.factories import sha256_of

SHA = sha256_of("doc")


def _register(session: object) -> None:
    register_document(
        session,  # type: ignore[arg-type]
        sha256=SHA,
        filename="a.png",
        content_type="image/png",
        size_bytes=1,
        storage_key="k",
    )


def test_the_scope_commits(db_url: str) -> None:
    with session_scope(db_url) as session:
        _register(session)
    with session_scope(db_url) as session:
        assert get_document(session, SHA).filename == "a.png"


def test_the_scope_rolls_back_on_error(db_url: str) -> None:
    def failing_activity() -> None:
        with session_scope(db_url) as session:
            _register(session)
            raise RuntimeError("the activity failed")

    with pytest.raises(RuntimeError):
        failing_activity()
    with pytest.raises(NotFoundError), session_scope(db_url) as session:
        get_document(session, SHA)


def test_objects_stay_readable_after_the_scope(db_url: str) -> None:
    with session_scope(db_url) as session:
        _register(session)
        document = get_document(session, SHA)
    assert document.storage_key == "k"


def test_one_engine_per_url(db_url: str) -> None:
    assert get_engine(db_url) is get_engine(db_url)


def test_sqlite_is_set_up_for_several_processes(tmp_path: object) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path}/x.db")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()


def test_sqlite_savepoints_work(db_url: str) -> None:
    with session_scope(db_url) as session:
        nested = session.begin_nested()
        _register(session)
        nested.rollback()
        with pytest.raises(NotFoundError):
            get_document(session, SHA)


def test_an_unreachable_database_is_a_retryable_database_error() -> None:
    # Port 1 on localhost: nothing listens, the connection is refused at once.
    url = "postgresql+psycopg://postgres@127.0.0.1:1/none"
    with pytest.raises(DatabaseError) as caught, session_scope(url) as session:
        session.execute(text("SELECT 1"))
    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, Exception)


def test_a_locked_sqlite_database_is_a_database_error(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/locked.db"
    blocker = create_database_engine(url)
    monkeypatch.setattr(db.session, "SQLITE_BUSY_TIMEOUT_MS", 100)
    waiter = create_database_engine(url)
    try:
        with blocker.connect() as holding:
            holding.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            holding.commit()
            holding.exec_driver_sql("INSERT INTO t VALUES (1)")  # holds the write lock
            with (
                pytest.raises(DatabaseError, match="locked"),
                translate_errors(),
                waiter.connect() as connection,
            ):
                connection.exec_driver_sql("INSERT INTO t VALUES (2)")
    finally:
        blocker.dispose()
        waiter.dispose()

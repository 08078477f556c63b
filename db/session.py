"""Engines and sessions: one engine per database URL, one session per activity or request.

SQLite, the default, is shared by several worker processes, so each connection turns on
foreign keys, WAL (readers do not block the writer), a busy timeout, and begins every
transaction with ``BEGIN IMMEDIATE``: a transaction holds the write lock from its start,
so a read-then-write can never fail half-way on a lock another process took meanwhile,
and the busy timeout queues writers instead of failing them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from config.settings import Settings, get_settings
from domain.errors import ConflictError, DatabaseError

SQLITE_BUSY_TIMEOUT_MS = 30_000

_engines: dict[str, Engine] = {}
_sessionmakers: dict[str, sessionmaker[Session]] = {}
_lock = threading.Lock()


def database_url(url: str | None = None, settings: Settings | None = None) -> str:
    """The URL to use: ``url`` when given, else the settings' (SQLite in the state folder)."""
    if url:
        return url
    return (settings or get_settings()).resolved_database_url


def create_database_engine(
    url: str, *, sqlite_foreign_keys: bool = True, pooled: bool = True
) -> Engine:
    """A new engine for ``url``, set up for Switchover. Most code wants ``get_engine``.

    Args:
        url: a SQLAlchemy URL: ``sqlite:///path`` or ``postgresql+psycopg://...``.
        sqlite_foreign_keys: enforce foreign keys on SQLite. Migrations turn this off,
            because SQLite batch mode rebuilds tables that others refer to.
        pooled: keep connections in a pool; migrations use none.
    """
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if not pooled:
        kwargs["poolclass"] = NullPool
    if parsed.get_backend_name() == "sqlite":
        _ensure_sqlite_folder(parsed)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(parsed, **kwargs)
        _configure_sqlite(engine, foreign_keys=sqlite_foreign_keys)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"application_name": "switchover", "connect_timeout": 10}
    return create_engine(parsed, **kwargs)


def _ensure_sqlite_folder(url: URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine, *, foreign_keys: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module, which would otherwise begin
        # transactions late and lazily (and break SAVEPOINT); we emit BEGIN below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            # Safe with WAL: a power cut may lose the last commits, never corrupt the file.
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def get_engine(url: str | None = None, settings: Settings | None = None) -> Engine:
    """The process's engine for a database URL, created on first use.

    Args:
        url: the database URL; default the settings' ``resolved_database_url``.
        settings: settings to read the default from; default ``get_settings()``.
    """
    resolved = database_url(url, settings)
    with _lock:
        engine = _engines.get(resolved)
        if engine is None:
            engine = _engines[resolved] = create_database_engine(resolved)
        return engine


def _get_sessionmaker(resolved: str) -> sessionmaker[Session]:
    engine = get_engine(resolved)
    with _lock:
        factory = _sessionmakers.get(resolved)
        if factory is None:
            # Objects stay readable after the commit that ends the scope: callers return
            # them from activities and render them in pages.
            factory = _sessionmakers[resolved] = sessionmaker(engine, expire_on_commit=False)
        return factory


def dispose_engines() -> None:
    """Close every cached engine's connections and forget them (tests, process shutdown)."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
        _sessionmakers.clear()
    for engine in engines:
        engine.dispose()


@contextmanager
def session_scope(url: str | None = None, settings: Settings | None = None) -> Iterator[Session]:
    """A session whose transaction commits when the block ends, or rolls back on error.

    Use one per activity or request. Database failures that may pass (connection lost,
    lock or statement timeout, deadlock, busy SQLite) leave as ``DatabaseError``
    (retryable); constraint violations as ``ConflictError``.

    Args:
        url: the database URL; default the settings' ``resolved_database_url``.
        settings: settings to read the default from; default ``get_settings()``.

    Example:
        >>> with session_scope() as session:
        ...     task = get_review_task(session, 42)
    """
    factory = _get_sessionmaker(database_url(url, settings))
    with translate_errors():
        session = factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn SQLAlchemy's errors into the domain's at the boundary of the database."""
    try:
        yield
    except exc.IntegrityError as e:
        raise ConflictError(f"the database refused a change: {_first_line(e.orig)}") from e
    except (exc.OperationalError, exc.InterfaceError, exc.TimeoutError) as e:
        cause = getattr(e, "orig", None) or e
        raise DatabaseError(f"the engine database failed: {_first_line(cause)}") from e
    except exc.DBAPIError as e:
        if e.connection_invalidated:
            raise DatabaseError(f"lost the database connection: {_first_line(e.orig)}") from e
        raise


def _first_line(error: object) -> str:
    # Driver messages go on for lines (SQL, parameters); parameters may hold personal data.
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def insert_or_ignore(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT for ``table`` in the session's dialect, which has ``on_conflict_do_nothing``
    and ``on_conflict_do_update``: the atomic upserts that make repository calls idempotent.
    """
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    if session.get_bind().dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database: {session.get_bind().dialect.name}")

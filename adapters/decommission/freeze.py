"""Freeze a legacy source: make it read-only, then show that a write fails.

This is the only code that changes a legacy system (STYLE.md rule 11). A sql source is
frozen by the plan's ``decommission.freeze_sql`` statements, run on a writable connection
of its own (the connectors open sources read-only on purpose). What works depends on the
engine and on who connects:

* MariaDB: ``SET GLOBAL read_only = ON`` does not bind an account with READ ONLY ADMIN
  (root has it); triggers that ``SIGNAL SQLSTATE '45000'`` on insert, update and delete
  bind everyone.
* PostgreSQL: ``ALTER DATABASE db SET default_transaction_read_only = on`` binds new
  sessions (a session may still turn it off: it is a guard, not a wall); triggers that
  ``RAISE EXCEPTION`` bind everyone but the owner who drops them.
* SQLite: triggers ``BEFORE INSERT/UPDATE/DELETE ... SELECT RAISE(ABORT, 'frozen')``.

The freeze is then proved, not assumed: on a new connection, a harmless write (the plan's
``freeze_check``, or one column of one row set to itself) runs in a transaction that is
always rolled back, and it must fail. If it succeeds the freeze did not hold, and that is
an error, never a quiet pass.

A file source (copybook, csv, dbf, access) is frozen by taking write permission off its
files (``chmod a-w``) and recording each file's sha256 in the object store
(``archives/<system>/freeze.json``). File modes do not bind root (nor a process with
CAP_DAC_OVERRIDE), so a write may still be possible; the result says so plainly. The
proof for files is the archive: it sums every file again and refuses one that changed
since the freeze.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from adapters.decommission.sources import source_files
from adapters.storage import DocumentStore
from adapters.storage.store import sha256_of_file
from config.log import get_logger
from config.migration_plan import MigrationPlan, SqlSourceConfig
from domain.cutover import FreezeResult
from domain.errors import DatabaseError, NotFoundError, PlanError, ValidationFailed

log = get_logger(__name__)

_WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


class FrozenFile(BaseModel):
    """One file of a frozen file source, as it was when frozen."""

    name: str
    path: str
    sha256: str
    bytes: int


class FreezeRecord(BaseModel):
    """What a file source held when it was frozen: the sums the archive must match."""

    system_id: str
    frozen_at: dt.datetime
    source_kind: str
    files: list[FrozenFile]


def freeze_record_key(system_id: str) -> str:
    """Where a file source's freeze record is kept in the object store."""
    return f"archives/{system_id}/freeze.json"


def read_freeze_record(store: DocumentStore, system_id: str) -> FreezeRecord | None:
    """The sums taken when the system's files were frozen, or None if never frozen."""
    try:
        data = store.get(freeze_record_key(system_id))
    except NotFoundError:
        return None
    return FreezeRecord.model_validate_json(data)


def freeze_legacy(
    plan: MigrationPlan, store: DocumentStore, *, now: dt.datetime | None = None
) -> FreezeResult:
    """Make the plan's legacy source read-only and prove it (see the module's notes).

    Args:
        plan: the migration plan (its source, tables and ``decommission`` section).
        store: the object store, for a file source's freeze record.
        now: when; default now.

    Returns:
        What was run and whether a write was refused afterwards.

    Raises:
        PlanError: a sql source without freeze statements, a statement that fails, or
            nothing to try a write on; freeze statements given for a file source.
        ValidationFailed: a write succeeded after the freeze statements.
        DatabaseError: the legacy database cannot be reached.
    """
    if isinstance(plan.source, SqlSourceConfig):
        return freeze_sql_source(plan)
    return freeze_file_source(plan, store, now=now)


# --- sql ------------------------------------------------------------------------------


def _first_line(error: object) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]


def _writable_engine(config: SqlSourceConfig) -> sa.Engine:
    url = sa.make_url(config.url)
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() in ("mysql", "mariadb", "postgresql"):
        connect_args["connect_timeout"] = config.connect_timeout_s
    # No pool: every connect is a new session, so settings that bind new sessions only
    # (PostgreSQL's default_transaction_read_only) apply to the proving write.
    return sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)


def freeze_sql_source(plan: MigrationPlan) -> FreezeResult:
    """Run the plan's freeze statements on the legacy database, then prove the freeze.

    Raises:
        PlanError: no statements, a failing statement (named by its index), or no row
            to try a write on and no ``freeze_check``.
        ValidationFailed: the proving write succeeded.
        DatabaseError: the database cannot be reached.
    """
    config = plan.source
    assert isinstance(config, SqlSourceConfig)
    statements = plan.decommission.freeze_sql
    where = sa.make_url(config.url).render_as_string(hide_password=True)
    if not statements:
        raise PlanError(
            "a sql source is frozen by decommission.freeze_sql; the plan gives no statements",
            where=plan.system.id,
        )
    engine = _writable_engine(config)
    try:
        with _connect(engine, where) as conn:
            try:
                _writable_session(conn)
            except sa_exc.DBAPIError as e:
                raise _failed(e, "making the session writable", where) from e
            for index, statement in enumerate(statements):
                try:
                    conn.exec_driver_sql(statement)
                    conn.commit()
                except sa_exc.DBAPIError as e:
                    if e.connection_invalidated:
                        raise DatabaseError(
                            f"lost the connection running freeze_sql[{index}]", where=where
                        ) from e
                    raise PlanError(
                        f"decommission.freeze_sql[{index}] failed: {_first_line(e.orig)}",
                        where=where,
                    ) from e
        log.info("freeze.statements_run", system=plan.system.id, statements=len(statements))
        target, refusal = _try_a_write(engine, plan, where)
    finally:
        engine.dispose()
    if refusal is None:
        raise ValidationFailed(
            f"the freeze did not hold: after {len(statements)} freeze statement(s) a write "
            f"to {target} succeeded (it was rolled back); the legacy source is still writable",
            where=where,
        )
    log.info("freeze.proved", system=plan.system.id)
    return FreezeResult(
        statements_run=len(statements),
        write_refused=True,
        detail=f"{len(statements)} freeze statement(s) run; a write to {target} was then "
        f"refused: {refusal}",
    )


_READ_WRITE_SESSION = {
    # A frozen PostgreSQL database makes new sessions read-only by default, ALTER
    # DATABASE included: a retried freeze must still be able to run its statements.
    "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "mysql": "SET SESSION TRANSACTION READ WRITE",
    "mariadb": "SET SESSION TRANSACTION READ WRITE",
    "sqlite": "PRAGMA query_only = OFF",
}


def _writable_session(conn: sa.Connection) -> None:
    """Make the statements' own session read-write (never the proving write's)."""
    statement = _READ_WRITE_SESSION.get(conn.dialect.name)
    if statement is not None:
        conn.exec_driver_sql(statement)
        conn.commit()


def _failed(e: sa_exc.DBAPIError, doing: str, where: str) -> Exception:
    """Our error for a database failure: a lost connection may pass, the rest will not."""
    if e.connection_invalidated or isinstance(e, sa_exc.OperationalError):
        return DatabaseError(f"{doing} failed: {_first_line(e.orig)}", where=where)
    return PlanError(f"{doing} failed: {_first_line(e.orig)}", where=where)


def _connect(engine: sa.Engine, where: str) -> sa.Connection:
    try:
        return engine.connect()
    except sa_exc.DBAPIError as e:
        raise DatabaseError(
            f"cannot reach the legacy database: {type(e.orig).__name__}", where=where
        ) from e


def _try_a_write(engine: sa.Engine, plan: MigrationPlan, where: str) -> tuple[str, str | None]:
    """Try the proving write in a transaction that is rolled back.

    Returns:
        What was written to, and the database's refusal (None: the write went through).
    """
    config = plan.source
    assert isinstance(config, SqlSourceConfig)
    with _connect(engine, where) as conn:
        if plan.decommission.freeze_check:
            target = "decommission.freeze_check"
            statement: sa.Executable | str = plan.decommission.freeze_check
        else:
            try:
                target, statement = _harmless_update(conn, plan, where)
            except sa_exc.DBAPIError as e:
                raise _failed(e, "finding a row to try a write on", where) from e
        conn.rollback()  # end the reading transaction: the write gets one of its own
        transaction = conn.begin()
        try:
            if isinstance(statement, str):
                conn.exec_driver_sql(statement)
            else:
                conn.execute(statement)
        except sa_exc.DBAPIError as e:
            if e.connection_invalidated:
                raise DatabaseError("lost the connection proving the freeze", where=where) from e
            return target, _first_line(e.orig)
        finally:
            transaction.rollback()
    return target, None


def _harmless_update(conn: sa.Connection, plan: MigrationPlan, where: str) -> tuple[str, Any]:
    """``UPDATE t SET c = c`` on one row of the first plan table that has a row.

    One row, so a large table is not rewritten; a row that exists, so row triggers fire.
    The column set is one that may be written: not computed, not an identity, not part
    of the key when another column will do.
    """
    config = plan.source
    assert isinstance(config, SqlSourceConfig)
    for table_plan in plan.tables:
        try:
            table = sa.Table(
                table_plan.source, sa.MetaData(), autoload_with=conn, schema=config.db_schema
            )
        except sa_exc.NoSuchTableError as e:
            raise PlanError(f"the source has no table {table_plan.source!r}", where=where) from e
        writable = [c for c in table.columns if c.computed is None and c.identity is None]
        key = list(table.primary_key.columns) or writable
        plain = [c for c in writable if c not in set(table.primary_key.columns)]
        candidates = plain or writable
        if not candidates or not key:
            continue
        row = conn.execute(sa.select(*key).limit(1)).first()
        if row is None:
            continue
        condition = sa.and_(
            *(c.is_(None) if v is None else c == v for c, v in zip(key, row, strict=True))
        )
        column = candidates[0]
        statement = sa.update(table).where(condition).values({column.name: column})
        return f"{table_plan.source}.{column.name}", statement
    raise PlanError(
        "cannot prove the freeze: no plan table has a row to try a write on; "
        "give decommission.freeze_check, a write that must fail once frozen",
        where=where,
    )


# --- files ----------------------------------------------------------------------------


def freeze_file_source(
    plan: MigrationPlan, store: DocumentStore, *, now: dt.datetime | None = None
) -> FreezeResult:
    """Take write permission off every file of the source and record their sums.

    Raises:
        PlanError: freeze statements given for a file source, or a missing file.
    """
    if plan.decommission.freeze_sql:
        raise PlanError(
            f"decommission.freeze_sql is for sql sources; a {plan.source.kind} source is "
            "frozen by making its files read-only",
            where=plan.system.id,
        )
    files = source_files(plan.source)
    frozen: list[FrozenFile] = []
    for file in files:
        mode = file.path.stat().st_mode
        os.chmod(file.path, stat.S_IMODE(mode) & ~_WRITE_BITS)
        sha256, size = sha256_of_file(file.path)
        frozen.append(FrozenFile(name=file.name, path=str(file.path), sha256=sha256, bytes=size))
    record = FreezeRecord(
        system_id=plan.system.id,
        frozen_at=(now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC),
        source_kind=plan.source.kind,
        files=frozen,
    )
    key = freeze_record_key(plan.system.id)
    store.put_at(key, record.model_dump_json(indent=2).encode(), content_type="application/json")
    refused = all(_write_refused(file.path) for file in files)
    detail = f"{len(files)} file(s) made read-only (a-w); their sha256 sums are recorded at {key}"
    if refused:
        detail += "; opening them for writing was refused"
    else:
        detail += (
            "; this process could still open them for writing (it runs as root, which file "
            "modes do not bind): the proof is the archive, whose sums must match these"
        )
    log.info("freeze.files", system=plan.system.id, files=len(files), write_refused=refused)
    return FreezeResult(statements_run=0, write_refused=refused, detail=detail)


def _write_refused(path: Any) -> bool:
    # Opening for update writes nothing and leaves the file's times alone.
    try:
        with open(path, "r+b"):
            return False
    except PermissionError:
        return True

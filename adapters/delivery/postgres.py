"""Delivery into a PostgreSQL table: an upsert by record id and a delivered mark, in one
transaction of the target database.

The mark (``<table>_deliveries``, keyed by record id and version) is inserted first; if
it is there already, an earlier attempt committed this version and nothing is written. So
a worker killed at any moment, then retried, leaves the record in the table once, and
the mark says it was delivered once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, create_engine, exc, make_url, text

from adapters.delivery.base import RecordPayload
from config.log import get_logger
from db.types import canonical_json
from domain.delivery import DeliveryFailed, DeliveryRefused

log = get_logger(__name__)

_LOCK_KEY = 0x64656C76  # "delv": one table creation at a time across workers


def _quoted(name: str) -> str:
    # Names come from the template, whose pattern allows only [a-z0-9_] parts.
    return ".".join(f'"{part}"' for part in name.split("."))


class PostgresDestination:
    """Approved records upserted into ``table`` (``schema.table`` or ``table``) at ``url``.

    The table is created when missing: ``record_id`` (primary key), ``version``,
    ``form_type``, ``document_id``, ``approved_at``, ``fields`` (jsonb), ``delivered_at``.
    """

    def __init__(self, url: str, table: str) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql":
            raise DeliveryRefused(f"a postgres destination needs a postgresql URL, not "
                                  f"{parsed.get_backend_name()}")  # fmt: skip
        self._engine: Engine = create_engine(
            parsed, pool_pre_ping=True,
            connect_args={"application_name": "switchover-delivery", "connect_timeout": 10},
        )  # fmt: skip
        self.table = table
        schema, _, name = table.rpartition(".")
        self._schema = schema or None
        self._data = _quoted(table)
        self._marks = _quoted(f"{schema}.{name}_deliveries" if schema else f"{name}_deliveries")
        self._ready = False
        self._lock = threading.Lock()

    def _prepare(self) -> None:
        with self._lock:
            if self._ready:
                return
            with _translated(self.table), self._engine.begin() as connection:
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
                if self._schema:
                    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {_quoted(self._schema)}"))
                connection.execute(text(
                    f"CREATE TABLE IF NOT EXISTS {self._data} ("
                    " record_id bigint PRIMARY KEY, version integer NOT NULL,"
                    " form_type text, document_id text NOT NULL,"
                    " approved_at timestamptz NOT NULL, fields jsonb NOT NULL,"
                    " delivered_at timestamptz NOT NULL DEFAULT now())"
                ))  # fmt: skip
                connection.execute(text(
                    f"CREATE TABLE IF NOT EXISTS {self._marks} ("
                    " record_id bigint NOT NULL, version integer NOT NULL,"
                    " delivered_at timestamptz NOT NULL DEFAULT now(),"
                    " PRIMARY KEY (record_id, version))"
                ))  # fmt: skip
            self._ready = True

    def deliver(self, payload: RecordPayload) -> bool:
        self._prepare()
        row: dict[str, Any] = {
            "record_id": payload.record_id,
            "version": payload.version,
            "form_type": payload.form_type,
            "document_id": payload.document_id,
            "approved_at": payload.approved_at,
            "fields": canonical_json(payload.fields),
        }
        with _translated(self.table), self._engine.begin() as connection:
            marked = connection.execute(
                text(f"INSERT INTO {self._marks} (record_id, version) VALUES (:record_id, :version)"
                     " ON CONFLICT DO NOTHING RETURNING record_id"),
                row,
            ).first()  # fmt: skip
            if marked is None:
                return False
            connection.execute(
                text(
                    f"INSERT INTO {self._data} AS t (record_id, version, form_type, document_id,"
                    " approved_at, fields) VALUES (:record_id, :version, :form_type, :document_id,"
                    " :approved_at, CAST(:fields AS jsonb))"
                    " ON CONFLICT (record_id) DO UPDATE SET version = EXCLUDED.version,"
                    " form_type = EXCLUDED.form_type, document_id = EXCLUDED.document_id,"
                    " approved_at = EXCLUDED.approved_at, fields = EXCLUDED.fields,"
                    " delivered_at = now() WHERE t.version <= EXCLUDED.version"
                ),
                row,
            )
        return True

    def close(self) -> None:
        self._engine.dispose()


@contextlib.contextmanager
def _translated(table: str) -> Iterator[None]:
    """The target database's failures as ours: the driver's first line, never parameters."""
    try:
        yield
    except exc.SQLAlchemyError as error:
        orig = getattr(error, "orig", None) or error
        first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        passing = isinstance(error, exc.OperationalError | exc.InterfaceError | exc.TimeoutError)
        if passing or (isinstance(error, exc.DBAPIError) and error.connection_invalidated):
            raise DeliveryFailed(f"the target database failed: {first}", where=table) from error
        raise DeliveryRefused(
            f"the target database refused the record: {first}", where=table
        ) from error

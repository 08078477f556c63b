"""SQLite as a legacy source: connections are made read-only by ``query_only``; rows are
streamed for checksums, and a table without a key cannot be read by ``_row_hash``."""

from __future__ import annotations

from typing import Any

from legacy_connectors.sql.source import SqlSource


class SqliteSource(SqlSource):
    """A SQLite legacy database file (``sqlite:///path``)."""

    backends = ("sqlite",)

    def _make_read_only(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()

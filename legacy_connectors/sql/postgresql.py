"""PostgreSQL as a legacy source: read-only sessions, a named (server-side) cursor per read,
checksums pushed down, CHAR read without its padding, and logical decoding from a
replication slot as its change stream (``legacy_connectors.pg_logical``)."""

from __future__ import annotations

from typing import Any

from legacy_connectors.base import ChangeStream
from legacy_connectors.canonical import FOLD_HEX_DIGITS
from legacy_connectors.sql.pushdown import NULL_MARK, PushDownSource
from legacy_connectors.sql.source import ColumnKind


class PostgresSource(PushDownSource):
    """A PostgreSQL legacy database (``postgresql+psycopg://``)."""

    backends = ("postgresql",)
    read_only_statements = ("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",)

    def _connect_args(self) -> dict[str, Any]:
        return {"connect_timeout": self.connect_timeout_s}

    def change_stream(self, *, slot: str | None = None) -> ChangeStream | None:
        """Logical decoding from ``slot`` (``base.ChangeStreamSource``; made once by
        ``legacy_connectors.pg_logical.create_slot``); None without a slot."""
        if slot is None:
            return None
        # imported here: only sources with a stream need it
        from legacy_connectors.pg_logical import PostgresLogicalStream

        return PostgresLogicalStream(self, slot)

    def _value_sql(self, kind: ColumnKind) -> str:
        x, text = self._quote(kind.name), self._text_sql(kind)
        return f"CASE WHEN {x} IS NULL THEN '~' ELSE char_length({text})::text || ':' || {text} END"

    def _lean_text_sql(self, kind: ColumnKind) -> str:
        return f"COALESCE({self._text_sql(kind)}, {self._char_sql(NULL_MARK)})"

    def _text_sql(self, kind: ColumnKind) -> str:
        """A value's canonical text (``canonical``'s rules), as PostgreSQL spells it."""
        x = self._quote(kind.name)
        stamp = f"{x} AT TIME ZONE 'UTC'" if kind.aware else x
        return {
            "boolean": f"CASE WHEN {x} THEN '1' ELSE '0' END",
            "float": f"round({x}::numeric, 6)::text",
            "date": f"to_char({x}, 'YYYY-MM-DD')",
            "datetime": f"to_char({stamp}, 'YYYY-MM-DD HH24:MI:SS.US')",
            "time": f"to_char(DATE '2000-01-01' + {x}, 'HH24:MI:SS.US')",
            "interval": postgres_duration_text(x),
            "bytes": f"encode({x}, 'hex')",
        }.get(kind.kind, f"{x}::text")

    def _char_sql(self, code: int) -> str:
        return f"chr({code})"

    def _md5_fold_sql(self, md5: str) -> str:
        return f"('x' || substr({md5}, 1, {FOLD_HEX_DIGITS}))::bit({FOLD_HEX_DIGITS * 4})::bigint"


def postgres_duration_text(x: str) -> str:
    """PostgreSQL's spelling of an interval as canonical text: ``[-]HH:MM:SS.ffffff`` with
    as many hour digits as it needs, as MariaDB prints its TIME and as ``canonical`` prints a
    ``timedelta``. (``to_char`` keeps days apart from hours, so it is built from the epoch.)"""
    seconds = f"abs(extract(epoch FROM {x}))"
    return (
        f"(CASE WHEN {x} < interval '0' THEN '-' ELSE '' END"
        f" || to_char(floor({seconds} / 3600), 'FM999999999900')"
        f" || ':' || to_char(floor(mod({seconds}, 3600) / 60), 'FM00')"
        f" || ':' || to_char(mod({seconds}, 60), 'FM00.000000'))"
    )

"""Legacy sources (sql, copybook, csv, dbf, access): read-only, streamed, exact.

``open_source(config)`` turns a plan's ``source`` section into an open ``LegacySource``.
What a source can do beyond that is asked of it through the optional protocols
(``ChangeStreamSource``, ``TextReader``, ``ChecksumPushDown``, ``ChangedSinceSource``,
``RepeatedKeysSource``, ``OneTableSource``), never by its class.
Each kind has a module-level ``open_<kind>_source(config)`` function, imported only when
that kind is used, so a missing optional part (a driver, mdbtools) only matters to the
plans that need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any

from domain.errors import PlanError
from legacy_connectors.base import (
    RECORD_NUMBER,
    ROW_HASH,
    ChangedSinceSource,
    ChangeStreamSource,
    ChecksumPushDown,
    Column,
    InYear,
    Key,
    LegacySource,
    OneTableSource,
    ReadStats,
    RepeatedKeysSource,
    Row,
    SegmentChecksum,
    SkippedRecord,
    StartsWith,
    TableInfo,
    TextBatch,
    TextReader,
)

SOURCE_OPENERS: dict[str, str] = {
    "sql": "legacy_connectors.sql:open_sql_source",
    "csv": "legacy_connectors.text_files:open_csv_source",
    "dbf": "legacy_connectors.dbf:open_dbf_source",
    "access": "legacy_connectors.access:open_access_source",
    "copybook": "legacy_connectors.copybook:open_copybook_source",
}
"""Plan source ``kind`` -> ``module:function`` that builds its source from the config."""


def open_source(config: Any, *, filters: Mapping[str, str] | None = None) -> LegacySource:
    """Build and open the legacy source a plan's ``source`` section describes.

    Args:
        config: one of ``config.migration_plan``'s source configs (discriminated on ``kind``).
        filters: per-table SQL conditions (the plans' ``where``); SQL sources only.

    Returns:
        An open source; close it when done.

    Raises:
        PlanError: unknown kind, or filters given to a file source.
        DatabaseError: a database source cannot be reached.
        LegacyReadError: a file source cannot be opened or is not what it claims.
    """
    kind = getattr(config, "kind", None)
    opener = SOURCE_OPENERS.get(str(kind))
    if opener is None:
        raise PlanError(f"unknown source kind {kind!r}; known: {', '.join(SOURCE_OPENERS)}")
    module_name, _, function = opener.partition(":")
    build = getattr(import_module(module_name), function)
    if kind == "sql":
        source = build(config, filters=filters)
    elif kind == "copybook":
        # The copybook opener takes its options by name (it is also called from tests
        # and tools without a plan).
        if filters:
            raise PlanError("`where` filters are for sql sources, not copybook")
        source = build(**config.model_dump(exclude={"kind"}))
    else:
        if filters:
            raise PlanError(f"`where` filters are for sql sources, not {kind}")
        source = build(config)
    source.open()
    return source


__all__ = [
    "RECORD_NUMBER",
    "ROW_HASH",
    "SOURCE_OPENERS",
    "ChangeStreamSource",
    "ChangedSinceSource",
    "ChecksumPushDown",
    "Column",
    "InYear",
    "Key",
    "LegacySource",
    "OneTableSource",
    "ReadStats",
    "RepeatedKeysSource",
    "Row",
    "SegmentChecksum",
    "SkippedRecord",
    "StartsWith",
    "TableInfo",
    "TextBatch",
    "TextReader",
    "open_source",
]

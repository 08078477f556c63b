"""Decommissioning a legacy system: freeze it (read-only, proved by a refused write),
archive it (Parquet tables and original files in the object store, with a manifest of
sha256 sums, read back), so that it can be retired."""

from adapters.decommission.archive import (
    ROW_GROUP_ROWS,
    ArchiveCheck,
    archive_legacy,
    archive_prefix,
    table_entry_name,
    verify_archive,
)
from adapters.decommission.freeze import (
    FreezeRecord,
    FrozenFile,
    freeze_legacy,
    freeze_record_key,
    read_freeze_record,
)
from adapters.decommission.sources import SourceFile, open_legacy_source, source_files

__all__ = [
    "ROW_GROUP_ROWS",
    "ArchiveCheck",
    "FreezeRecord",
    "FrozenFile",
    "SourceFile",
    "archive_legacy",
    "archive_prefix",
    "freeze_legacy",
    "freeze_record_key",
    "open_legacy_source",
    "read_freeze_record",
    "source_files",
    "table_entry_name",
    "verify_archive",
]

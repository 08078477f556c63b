"""Mainframe files described by COBOL copybooks: EBCDIC, fixed or variable records,
packed and binary numbers, OCCURS (DEPENDING ON), REDEFINES, multi-segment files."""

from __future__ import annotations

from pathlib import Path

from legacy_connectors.base import LegacySource
from legacy_connectors.copybook.codepages import CodePage, code_page
from legacy_connectors.copybook.layout import Field, FieldType
from legacy_connectors.copybook.parser import CopybookSyntaxError, parse_copybook
from legacy_connectors.copybook.source import CopybookSource

__all__ = [
    "CodePage",
    "CopybookSource",
    "CopybookSyntaxError",
    "Field",
    "FieldType",
    "code_page",
    "open_copybook_source",
    "parse_copybook",
]


def open_copybook_source(
    *,
    copybook: Path,
    data: Path,
    encoding: str = "cp037",
    record_format: str = "F",
    rdw_counts_header: bool = True,
    rdw_big_endian: bool = True,
    segment_field: str | None = None,
    segments: dict[str, str] | None = None,
    redefines: dict[str, str] | None = None,
    quarantine_bad_records: bool = False,
    record_length: int | None = None,
    float_format: str = "ieee754",
) -> LegacySource:
    """A copybook source from a migration plan's copybook options.

    Args:
        copybook: the COBOL copybook.
        data: the data file.
        encoding: the code page of text and zoned fields (cp037, cp500, cp1047, cp1140,
            cp1141, cp1148, cp273...).
        record_format: F or FB (fixed length), V or VB (record descriptor words).
        rdw_counts_header: whether an RDW's length counts its own 4 bytes (IBM standard).
        rdw_big_endian: RDW byte order; little-endian RDWs carry the length in bytes 3-4.
        segment_field: in a multi-segment file, the field whose value picks the layout.
        segments: segment value -> layout (01 record or REDEFINES view); a table each.
        redefines: REDEFINES area -> the one view to decode (default: every view).
        quarantine_bad_records: set bad records aside in ReadStats.skipped instead of
            failing the read.
        record_length: fixed-length files whose records are longer than the copybook.
        float_format: COMP-1/COMP-2 as IEEE 754 (default) or IBM hexadecimal ("ibm").

    Returns:
        The source; it parses the copybook on first use.

    Raises:
        PlanError: an option that cannot work (unknown code page, record format).
    """
    return CopybookSource(
        copybook=copybook,
        data=data,
        encoding=encoding,
        record_format=record_format,
        rdw_counts_header=rdw_counts_header,
        rdw_big_endian=rdw_big_endian,
        segment_field=segment_field,
        segments=segments,
        redefines=redefines,
        quarantine_bad_records=quarantine_bad_records,
        record_length=record_length,
        float_format=float_format,
    )

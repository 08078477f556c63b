"""Mailroom intake: the routes by which forms arrive (a watched folder, an S3 prefix, an
IMAP mailbox) and the splitting of bulk scans at separator sheets."""

from adapters.intake.arrivals import (
    PER_POLL,
    Arrival,
    IntakeSource,
    Outcome,
    Parcel,
    is_temporary_name,
)
from adapters.intake.factory import open_source
from adapters.intake.folder import QUARANTINED_DIR, TAKEN_DIR, FolderSource
from adapters.intake.kinds import DOCUMENT_KINDS, SNIFF_BYTES, kinds_named, sniff
from adapters.intake.mailbox import MailboxSource
from adapters.intake.prefix import PrefixSource
from adapters.intake.separators import (
    Separator,
    SplitDocument,
    SplitScan,
    read_separator,
    separator_sheet,
    separator_sheet_pdf,
    separator_text,
    split_bulk_scan,
)

__all__ = [
    "DOCUMENT_KINDS",
    "PER_POLL",
    "QUARANTINED_DIR",
    "SNIFF_BYTES",
    "TAKEN_DIR",
    "Arrival",
    "FolderSource",
    "IntakeSource",
    "MailboxSource",
    "Outcome",
    "Parcel",
    "PrefixSource",
    "Separator",
    "SplitDocument",
    "SplitScan",
    "is_temporary_name",
    "kinds_named",
    "open_source",
    "read_separator",
    "separator_sheet",
    "separator_sheet_pdf",
    "separator_text",
    "sniff",
    "split_bulk_scan",
]

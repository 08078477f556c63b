"""What arrives by a route: files, grouped as they came (one file, or one message's
attachments), and the interface every route implements."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

TEMPORARY_PREFIXES = (".", "~$", "~")
TEMPORARY_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".filepart", ".swp",
                      ".download", ".!ut")  # fmt: skip
"""Names that scanners, copy tools and office programs give files still being written."""

PER_POLL = 20
"""Parcels a source offers at one poll, oldest first: their files are in memory together.
The rest wait for the next poll."""


def is_temporary_name(name: str) -> bool:
    """Whether a file's name says it is still being written (``scan.pdf.part``, ``~$a.pdf``,
    ``.scan.pdf``): such a file is never taken, whatever its size does."""
    lower = name.lower()
    return lower.startswith(TEMPORARY_PREFIXES) or lower.endswith(TEMPORARY_SUFFIXES)


@dataclass(frozen=True, slots=True)
class Arrival:
    """One file as it arrived.

    Attributes:
        ref: which file, at its source: a path under the folder, a key, a message's id
            and the attachment's number and name.
        filename: its name, as people know it.
        sha256: the content's sha256.
        size: its size in bytes.
        data: the bytes, or None when the file is over the size limit (then it is
            quarantined without being read into memory).
    """

    ref: str
    filename: str
    sha256: str
    size: int
    data: bytes | None

    @classmethod
    def of(cls, ref: str, filename: str, data: bytes) -> Arrival:
        return cls(ref=ref, filename=filename, sha256=hashlib.sha256(data).hexdigest(),
                   size=len(data), data=data)  # fmt: skip


class Outcome(StrEnum):
    """What became of a parcel, which decides where its source puts it."""

    TAKEN = "taken"
    QUARANTINED = "quarantined"


@dataclass(frozen=True, slots=True)
class Parcel:
    """What arrived together: one file in a folder or under a prefix, or one message
    with its attachments. A source moves or marks a parcel once all of it is taken.

    Attributes:
        ref: the file's path or key, or the message's id.
        arrivals: its files (a message without attachments brings the message itself,
            which is then quarantined as not a document).
        handle: what the source needs to move it (a path, a key, a message number).
    """

    ref: str
    arrivals: tuple[Arrival, ...]
    handle: object = field(default=None, compare=False)


class IntakeSource(Protocol):
    """A route by which forms arrive: a watched folder, an S3 prefix, a mailbox.

    Attributes:
        route: ``folder``, ``s3`` or ``mailbox``.
        source: where, for people and for the engine database's memory of what was
            taken: the folder's absolute path, ``s3://bucket/prefix``, ``imap://user@host/Folder``.
    """

    route: str

    @property
    def source(self) -> str: ...

    def poll(self) -> list[Parcel]:
        """The parcels complete now and not yet moved or marked as taken.

        Raises:
            ServiceUnavailableError: the source cannot be reached (worth trying again).
        """
        ...

    def finish(self, parcel: Parcel, outcome: Outcome) -> None:
        """Move or mark a parcel once every file of it is taken or quarantined, so that it
        is not offered again (the engine database remembers it too, should this fail)."""
        ...

    def close(self) -> None:
        """Let go of connections."""
        ...

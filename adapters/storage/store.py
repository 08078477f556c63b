"""The document store interface: content-addressed originals, and objects at chosen keys."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK_SIZE = 1024 * 1024


class Readable(Protocol):
    """Anything with ``read``: an open file, an upload's stream, a response body."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class StoredObject:
    """Where an object is and what it holds.

    Attributes:
        sha256: the content's sha256, lower-case hex.
        key: the object's key in the store, e.g. ``documents/ab/cd/abcd...``.
        size: its size in bytes.
    """

    sha256: str
    key: str
    size: int


def content_key(sha256: str) -> str:
    """The key of content-addressed content: ``documents/<2 hex>/<2 hex>/<sha256>``.

    The two levels of prefix keep folders (local) and key ranges (S3) small.
    """
    return f"documents/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def check_key(key: str) -> str:
    """``key`` if it is a safe relative key: '/'-separated, no empty, '.' or '..' parts.

    Raises:
        ValueError: otherwise; a key must never reach outside the store.
    """
    parts = key.split("/")
    if (
        not key
        or "\\" in key
        or "\x00" in key
        or any(part in {"", ".", ".."} or part.startswith(".tmp-") for part in parts)
    ):
        raise ValueError(f"not a valid storage key: {key!r}")
    return key


def sha256_of_file(path: Path) -> tuple[str, int]:
    """The sha256 and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class DocumentStore(ABC):
    """Where originals, quarantined copies and archives are kept (local folder or S3).

    Content-addressed puts (``put``, ``put_file``) key an object by its sha256, so the
    same content stored twice is one object, uploaded once. ``put_at`` writes at a key the
    caller chooses. Writes are all-or-nothing: a reader sees the whole object or none.
    Errors: a missing key raises ``domain.errors.NotFoundError``; failures that may pass
    (network, throttling, disk) raise ``domain.errors.StorageError``.
    """

    def put(self, data: bytes, *, content_type: str | None = None) -> StoredObject:
        """Store ``data`` under its content key; a no-op when that content is already stored."""
        sha256 = hashlib.sha256(data).hexdigest()
        key = content_key(sha256)
        if not self.exists(key):
            self._write(key, data, content_type=content_type, sha256=sha256)
        return StoredObject(sha256=sha256, key=key, size=len(data))

    def put_file(self, path: Path, *, content_type: str | None = None) -> StoredObject:
        """Store a file under its content key without reading it all into memory."""
        sha256, size = sha256_of_file(path)
        key = content_key(sha256)
        if not self.exists(key):
            with path.open("rb") as file:
                self._write(key, file, content_type=content_type, sha256=sha256)
        return StoredObject(sha256=sha256, key=key, size=size)

    def put_at(
        self, key: str, data: bytes | Readable, *, content_type: str | None = None
    ) -> StoredObject:
        """Store ``data`` (bytes or a readable binary stream) at ``key``, replacing any object.

        Used for quarantined copies and archives, whose keys say what they are.
        """
        check_key(key)
        if isinstance(data, bytes):
            sha256 = hashlib.sha256(data).hexdigest()
            self._write(key, data, content_type=content_type, sha256=sha256)
            return StoredObject(sha256=sha256, key=key, size=len(data))
        hashing = _HashingReader(data)
        self._write(key, hashing, content_type=content_type, sha256=None)
        return StoredObject(sha256=hashing.hexdigest(), key=key, size=hashing.size)

    @abstractmethod
    def _write(
        self, key: str, data: bytes | Readable, *, content_type: str | None, sha256: str | None
    ) -> None:
        """Write the object atomically; ``sha256`` is known in advance unless None."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The whole object. For large objects use ``open``."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the object; close it (``with store.open(k) as f``)."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""

    @abstractmethod
    def size(self, key: str) -> int:
        """The object's size in bytes."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error (retention, tests)."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """The keys that start with ``prefix``, in key order."""


class _HashingReader:
    """A read-only stream that hashes and counts what passes through it."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self._digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._stream.read(size)
        self._digest.update(chunk)
        self.size += len(chunk)
        return chunk

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

"""Document storage in a local folder (the embedded default, ``.switchover/objects``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from adapters.storage.store import CHUNK_SIZE, DocumentStore, Readable, check_key
from domain.errors import NotFoundError, StorageError


class LocalStore(DocumentStore):
    """Objects as files under a root folder; a key's '/' parts are folders.

    Writes go to a temporary file beside the target, are flushed to disk, then renamed
    over it: a reader, or a crash, never sees half an object.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _write(
        self, key: str, data: bytes | Readable, *, content_type: str | None, sha256: str | None
    ) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as file:
                    if isinstance(data, bytes):
                        file.write(data)
                    else:
                        while chunk := data.read(CHUNK_SIZE):
                            file.write(chunk)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
                raise
            _fsync_folder(path.parent)
        except OSError as e:
            raise StorageError(f"cannot write {key}: {e.strerror or e}") from e

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as e:
            raise NotFoundError(f"no stored object {key}") from e
        except OSError as e:
            raise StorageError(f"cannot read {key}: {e.strerror or e}") from e

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError) as e:
            raise NotFoundError(f"no stored object {key}") from e
        except OSError as e:
            raise StorageError(f"cannot read {key}: {e.strerror or e}") from e

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise NotFoundError(f"no stored object {key}")
        return path.stat().st_size

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as e:
            raise StorageError(f"cannot delete {key}: {e.strerror or e}") from e

    def list(self, prefix: str = "") -> Iterator[str]:
        # Walk only the deepest folder the prefix names, then filter on the rest.
        folder = prefix.rpartition("/")[0]
        base = self._path(folder) if folder else self.root
        if not base.is_dir():
            return iter(())
        keys = []
        for directory, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                key = Path(directory, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return iter(sorted(keys))


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk too (POSIX).
    if os.name != "posix":  # pragma: no cover
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

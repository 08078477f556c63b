"""A watched folder: files from a scanner or a network share, taken once complete.

A file is complete when its size and modification time are the same at two polls in a
row (a scanner or a copy over the network is still writing while they change), or when it
was moved in whole under its final name; names that say a file is still being written
(``.part``, ``~$``, a leading dot) are never taken. Taken files are moved into
``.taken/`` in the folder and refused ones into ``.quarantined/``, keeping the path they
had below the folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from adapters.intake.arrivals import PER_POLL, Arrival, Outcome, Parcel, is_temporary_name
from adapters.storage.store import sha256_of_file
from config.log import get_logger

log = get_logger(__name__)

TAKEN_DIR = ".taken"
QUARANTINED_DIR = ".quarantined"


@dataclass
class FolderSource:
    """Files under ``folder`` (and its sub-folders, except hidden ones), oldest first."""

    folder: Path
    max_bytes: int
    route: str = field(default="folder", init=False)
    _seen: dict[Path, tuple[int, int]] = field(default_factory=dict, init=False, repr=False)
    _stuck: set[Path] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self.folder = self.folder.resolve()

    @property
    def source(self) -> str:
        return str(self.folder)

    def poll(self) -> list[Parcel]:
        """Files whose size and modification time have not changed since the last poll."""
        observed: dict[Path, tuple[int, int]] = {}
        ready: list[tuple[int, Path]] = []
        for path in self._candidates():
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # moved away between listing and looking
            state = (stat.st_size, stat.st_mtime_ns)
            observed[path] = state
            if stat.st_size > 0 and self._seen.get(path) == state and path not in self._stuck:
                ready.append((stat.st_mtime_ns, path))
        self._seen = observed
        return [self._parcel(path) for _, path in sorted(ready)[:PER_POLL]]

    def finish(self, parcel: Parcel, outcome: Outcome) -> None:
        path = parcel.handle
        assert isinstance(path, Path)
        into = TAKEN_DIR if outcome is Outcome.TAKEN else QUARANTINED_DIR
        target = self.folder / into / path.relative_to(self.folder)
        if target.exists():
            target = target.with_name(
                f"{target.stem}-{parcel.arrivals[0].sha256[:12]}{target.suffix}"
            )
        try:
            _move(path, target)
        except OSError as e:
            # A read-only share: the engine database still knows the file was taken.
            log.warning("intake.folder.not_moved", folder=self.source, error=e.strerror)
            self._stuck.add(path)  # not offered again until a restart (then known and skipped)
        self._seen.pop(path, None)

    def close(self) -> None:
        self._seen.clear()

    def _candidates(self) -> list[Path]:
        found: list[Path] = []
        for root, dirs, files in os.walk(self.folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(Path(root) / name for name in sorted(files) if not is_temporary_name(name))
        return [p for p in found if p.is_file() and not p.is_symlink()]

    def _parcel(self, path: Path) -> Parcel:
        ref = path.relative_to(self.folder).as_posix()
        size = path.stat().st_size
        if size > self.max_bytes:
            sha256, size = sha256_of_file(path)
            arrival = Arrival(ref=ref, filename=path.name, sha256=sha256, size=size, data=None)
        else:
            arrival = Arrival.of(ref, path.name, path.read_bytes())
        return Parcel(ref=ref, arrivals=(arrival,), handle=path)


def _move(path: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)

"""An S3 prefix, polled: objects put under it are taken once each.

An object appears in S3 only once its upload is complete, so an object listed is whole;
names that say a file is still being written are skipped all the same (a sync tool may
upload ``scan.pdf.part`` and rename it). Taken objects are moved under ``.taken/`` below
the prefix and refused ones under ``.quarantined/``; the engine database remembers them
as well, for a bucket where the poller may read but not delete.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from adapters.intake.arrivals import PER_POLL, Arrival, Outcome, Parcel, is_temporary_name
from adapters.intake.folder import QUARANTINED_DIR, TAKEN_DIR
from adapters.storage.store import CHUNK_SIZE, DocumentStore, check_key
from config.log import get_logger
from domain.errors import StorageError

log = get_logger(__name__)


@dataclass
class PrefixSource:
    """The objects under a store's prefix (``open_store("s3://bucket/incoming")``).

    Attributes:
        store: the store rooted at the watched prefix.
        url: the prefix's URL, e.g. ``s3://bucket/incoming``: the source's name.
        max_bytes: larger objects are quarantined unread.
    """

    store: DocumentStore
    url: str
    max_bytes: int
    route: str = field(default="s3", init=False)
    _stuck: set[str] = field(default_factory=set, init=False, repr=False)

    @property
    def source(self) -> str:
        return self.url.rstrip("/")

    def poll(self) -> list[Parcel]:
        parcels = []
        for key in self.store.list(""):
            parts = key.split("/")
            if parts[0] in (TAKEN_DIR, QUARANTINED_DIR) or any(is_temporary_name(p) for p in parts):
                continue
            try:
                check_key(key)
            except ValueError:
                log.warning("intake.prefix.odd_key", source=self.source)
                continue
            if key in self._stuck:
                continue
            parcels.append(Parcel(ref=key, arrivals=(self._arrival(key),), handle=key))
            if len(parcels) == PER_POLL:
                break
        return parcels

    def finish(self, parcel: Parcel, outcome: Outcome) -> None:
        key = parcel.handle
        assert isinstance(key, str)
        into = TAKEN_DIR if outcome is Outcome.TAKEN else QUARANTINED_DIR
        try:
            with self.store.open(key) as body:
                self.store.put_at(f"{into}/{key}", body)
            self.store.delete(key)
        except StorageError as e:
            # A bucket the poller may read but not change: the engine database still
            # knows the object was taken; this process stops offering it.
            log.warning("intake.prefix.not_moved", source=self.source, error=e.type_name)
            self._stuck.add(key)

    def close(self) -> None:
        """Nothing held: boto3 keeps its own connection pool."""

    def _arrival(self, key: str) -> Arrival:
        name = key.rsplit("/", 1)[-1]
        size = self.store.size(key)
        if size <= self.max_bytes:
            return Arrival.of(key, name, self.store.get(key))
        digest = hashlib.sha256()
        with self.store.open(key) as body:
            while chunk := body.read(CHUNK_SIZE):
                digest.update(chunk)
        return Arrival(ref=key, filename=name, sha256=digest.hexdigest(), size=size, data=None)

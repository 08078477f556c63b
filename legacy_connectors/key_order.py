"""Key order for files, which have no index: an external merge sort every file source shares.

A file keeps its records in the order they were written, often not the order of the key a
plan copies and reconciles by. ``KeySort`` puts (key, record number, payload) items in key
order in bounded memory: items are sorted in memory in runs of at most ``SORT_RUN_ROWS``
items or ``SORT_RUN_BYTES`` of payload, each full run is spilled to an anonymous temporary
file, and the runs are merged. Memory is bounded by a run and one chunk per spilled run,
never by the file. A small input never touches the disk.

A key that repeats is an error (``RepeatedKey``, naming both records): rows with the same
key cannot be told apart by a copy or a reconciliation, and keeping either one would
silently drop the other.
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import IO, Any

from legacy_connectors.base import Key

SORT_RUN_ROWS = 100_000
"""Items sorted in memory at once before a run is spilled to a temporary file."""

SORT_RUN_BYTES = 32 << 20
"""Payload bytes (as the caller weighs them) after which a run is spilled early."""

_SPILL_CHUNK = 1024  # items per pickle call: one call per item would dominate the cost

Order = tuple[tuple[bool, Any], ...]
"""A key in sortable form: each value as (is None, value), so None sorts last (NULLS LAST)."""

Item = tuple[Order, int, Any]
"""(key order, record number, payload): what ``KeySort`` sorts and gives back."""

# Sorting by the key alone is stable, so records with one key stay in file order (items are
# added in file order and runs merged in the order they were spilled): the earlier record
# of a repeated key comes first. Twice as fast as comparing (key, number) pairs.
_by_key = itemgetter(0)


def key_order(key: Key) -> Order:
    """``key`` in sortable form (None last, as SQL's NULLS LAST); one type per column."""
    return tuple([(v is None, v) for v in key])


def key_orders(keys: Sequence[Key]) -> list[Order]:
    """``key_order`` of each key (a list at a time: half the cost for one-column keys)."""
    if keys and len(keys[0]) == 1:
        return [((v is None, v),) for (v,) in keys]
    return [key_order(k) for k in keys]


def key_of_order(order: Order) -> Key:
    """The key back from its sortable form."""
    return tuple(v for _none, v in order)


class RepeatedKey(Exception):
    """Two records of one table have the same key.

    Attributes:
        first: the item of the earlier record (by record number).
        second: the item of the later one.
    """

    def __init__(self, first: Item, second: Item) -> None:
        super().__init__(f"records {first[1]} and {second[1]} have the same key")
        self.first = first
        self.second = second


class KeySort:
    """Items in key order, in bounded memory (see the module docstring).

    Use as a context manager: ``add`` every item, then iterate ``merged()`` once; leaving
    the block closes (and so deletes) the spilled runs.
    """

    def __init__(self, *, run_rows: int | None = None, run_bytes: int | None = None) -> None:
        self.run_rows = run_rows or SORT_RUN_ROWS
        self.run_bytes = run_bytes or SORT_RUN_BYTES
        self.spilled = 0
        self._run: list[Item] = []
        self._bytes = 0
        self._runs: list[IO[bytes]] = []

    def __enter__(self) -> KeySort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, order: Order, number: int, payload: Any, size: int = 0) -> None:
        """One item; ``size`` is what it weighs against ``run_bytes`` (0: count only)."""
        self._run.append((order, number, payload))
        self._bytes += size
        if len(self._run) >= self.run_rows or self._bytes >= self.run_bytes:
            self._spill()

    def extend(self, items: list[Item], size: int = 0) -> None:
        """Several items at once (a run may then pass its limit by up to ``len(items)``);
        ``size`` is what they weigh together."""
        self._run.extend(items)
        self._bytes += size
        if len(self._run) >= self.run_rows or self._bytes >= self.run_bytes:
            self._spill()

    def merged(self) -> Iterator[Item]:
        """Every item added, by key (then record number).

        Raises:
            RepeatedKey: two items have the same key (raised when the merge reaches them).
        """
        self._run.sort(key=_by_key)
        streams = [_unspill(f) for f in self._runs]
        previous: Item | None = None
        for item in heapq.merge(*streams, iter(self._run), key=_by_key):
            if previous is not None and previous[0] == item[0]:
                raise RepeatedKey(previous, item)
            previous = item
            yield item

    def close(self) -> None:
        """Delete the spilled runs. Idempotent."""
        for f in self._runs:
            f.close()
        self._runs = []
        self._run = []

    def _spill(self) -> None:
        self._run.sort(key=_by_key)
        # An anonymous file: the system removes it even if this process dies.
        f = tempfile.TemporaryFile(prefix="switchover-sort-")  # noqa: SIM115 - closed by close()
        run = self._run
        for start in range(0, len(run), _SPILL_CHUNK):
            pickle.dump(run[start : start + _SPILL_CHUNK], f, protocol=pickle.HIGHEST_PROTOCOL)
        f.seek(0)
        self._runs.append(f)
        self.spilled += 1
        self._run = []
        self._bytes = 0


def _unspill(f: IO[bytes]) -> Iterator[Item]:
    while True:
        try:
            chunk = pickle.load(f)  # noqa: S301 - our own temporary file
        except EOFError:
            return
        yield from chunk

"""A migration's change stream: started before the copy, applied at every catch-up, and the
position that reconciliation compares at.

A SQL source whose server keeps a change stream (the MariaDB/MySQL binlog, PostgreSQL
logical decoding) is kept in step by it rather than by ``updated_at`` re-copies and
re-diffs: the profile takes the stream's head before any row is copied
(``start_stream``), and every catch-up applies what legacy committed since
(``SystemStream.catch_up``), deletes and tables without ``updated_at`` included. Whether a
system uses its stream is decided once, at the start: the target then holds the stream's
position (``adapters.target.changes``), and every later activity goes on from it.

Reconciliation under live writes compares at a position (``reconcile_at_position``): the
target holds every change up to P; a key that differs and that the stream shows
unchanged between P and the end of the compare is a real difference; a key the stream
changed meanwhile is a write in flight, applied and compared again, and still in flight
after a few rounds (a row written again and again) it is counted as such, not as a
difference. So a gate converges at any write rate the stream keeps up with.

Nothing here logs a row value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from adapters.reconciliation.engine import DifferingKeys, Reconciler, Reconciliation
from adapters.target.changes import AppliedChanges, ChangeApplier, ChangeLag, change_applier
from adapters.target.postgres import PostgresTarget
from config.log import get_logger
from config.migration_plan import MigrationPlan
from domain.errors import PlanError
from legacy_connectors.base import (
    BinlogPosition,
    ChangeStream,
    ChangeStreamSource,
    Key,
    LegacySource,
    PostgresLsn,
    StreamPosition,
)

__all__ = [
    "IN_FLIGHT_ROUNDS",
    "SystemStream",
    "change_lag",
    "may_stream",
    "open_stream",
    "reconcile_at_position",
    "start_stream",
    "stop_stream",
    "stream_problems",
]

log = get_logger(__name__)

IN_FLIGHT_ROUNDS = 5
"""Times keys changed during a compare are applied and compared again before those still
changing are counted as in flight."""
CHUNK_CHANGES = 20_000
"""Changes applied between heartbeats of a long catch-up."""
CLOCK_MARGIN = dt.timedelta(seconds=1)
"""Taken off the time a catch-up began before it is published for read-your-writes: the
proxies' clocks and the worker's may differ a little, and an early mark is only
cautious (a writer's reads stay on the system of record a moment longer)."""


@dataclass
class SystemStream:
    """One system's change stream and the applier that keeps its target in step."""

    plan: MigrationPlan
    stream: ChangeStream
    applier: ChangeApplier

    def started(self) -> bool:
        """True when the target holds a position: the stream is this system's catch-up."""
        return self.applier.position() is not None

    def catch_up(
        self, *, watch: Collection[str] = (), heartbeat: Callable[[], None] | None = None
    ) -> tuple[AppliedChanges, dt.datetime]:
        """Apply everything committed on legacy up to now, in chunks, until the stream's
        head as it was at the start is reached (a chunk may stop short of ``CHUNK_CHANGES``
        and of the head: PostgreSQL's peek is bounded in rows, which other tables' changes
        use up too) or a read finds nothing more.

        Args:
            watch: source tables whose changed keys to return.
            heartbeat: called after each chunk (a long backlog takes a while).

        Returns:
            What was applied, and a time every change committed before which is now in
            the target (less ``CLOCK_MARGIN``): the start, since everything committed then
            lies at or before the head read at once after.
        """
        began = dt.datetime.now(dt.UTC)
        head = self.stream.head()
        total = AppliedChanges()
        while True:
            done = self.applier.catch_up(self.stream, max_changes=CHUNK_CHANGES, watch=watch)
            total.add(done)
            if heartbeat is not None:
                heartbeat()
            if not done.transactions:
                return total, began - CLOCK_MARGIN
            if done.changes < CHUNK_CHANGES and not _short_of(done.position, head):
                return total, began - CLOCK_MARGIN

    def lag(self) -> ChangeLag:
        """How far the target is behind legacy, in changes and seconds."""
        return self.applier.lag(self.stream)


def _short_of(position: StreamPosition | None, head: StreamPosition) -> bool:
    """Whether ``position`` lies before ``head`` (positions of one stream)."""
    if isinstance(position, BinlogPosition) and isinstance(head, BinlogPosition):
        return position < head
    if isinstance(position, PostgresLsn) and isinstance(head, PostgresLsn):
        return position < head
    return False


def may_stream(plan: MigrationPlan) -> bool:
    """Whether the plan lets its system use a change stream (the source may still have
    none, or not be ready: ``stream_problems``)."""
    return getattr(plan.source, "change_stream", "off") != "off"


def _stream_of(plan: MigrationPlan, source: LegacySource) -> ChangeStream | None:
    """The source's change stream as the plan would use it (not yet checked), or None."""
    if not may_stream(plan):
        return None
    if not isinstance(source, ChangeStreamSource):
        return None
    from legacy_connectors.pg_logical import slot_name

    return source.change_stream(slot=slot_name(plan.system.id))


def stream_problems(plan: MigrationPlan, source: LegacySource) -> list[str]:
    """Why the plan's system cannot use a change stream, one clear line each; empty when
    it can (or when the plan turns it off: nothing to check then)."""
    if not may_stream(plan):
        return []
    stream = _stream_of(plan, source)
    if stream is None:
        return ["the source has no change stream (MariaDB/MySQL and PostgreSQL have one)"]
    problems = [
        f"table {t.source} has a `where` filter, which a change stream cannot apply"
        for t in plan.tables
        if t.where
    ]
    try:
        return problems + stream.problems()
    finally:
        stream.close()


def start_stream(plan: MigrationPlan, source: LegacySource, target: PostgresTarget) -> str | None:
    """Begin the system's change stream at the source's head, before the copy (idempotent:
    a stream already begun goes on from its position).

    Returns:
        The position the stream goes on from, as text; None when the system does not use
        a stream (its plan turns it off, or ``auto`` and the server is not ready).

    Raises:
        PlanError: the plan says ``change_stream: on`` and the server is not ready (the
            message names the first thing to change).
    """
    mode = getattr(plan.source, "change_stream", "off")
    problems = stream_problems(plan, source)
    if problems:
        if mode == "on":
            raise PlanError(f"the change stream is not ready: {'; '.join(problems)}")
        log.warning("change_stream_unused", system=plan.system.id, problems=len(problems),
                    first=problems[0])  # fmt: skip
        return None
    stream = _stream_of(plan, source)
    if stream is None:
        return None
    try:
        applier = change_applier(plan, source, target)
        found = applier.position()
        if found is not None:
            return str(found)
        position = applier.start_at(stream.start())
    finally:
        stream.close()
    log.info("change_stream_started", system=plan.system.id, position=str(position))
    return str(position)


@contextmanager
def open_stream(
    plan: MigrationPlan, source: LegacySource, target: PostgresTarget
) -> Iterator[SystemStream | None]:
    """The system's stream when it uses one (``start_stream`` began it), else None."""
    stream = _stream_of(plan, source)
    if stream is None or any(t.where for t in plan.tables):
        yield None
        return
    try:
        system = SystemStream(plan, stream, change_applier(plan, source, target))
        yield system if system.started() else None
    finally:
        stream.close()


def stop_stream(plan: MigrationPlan, source: LegacySource) -> bool:
    """End the system's change stream on the legacy server (its PostgreSQL slot is
    dropped): once legacy is frozen nothing follows it. True when there was one to end."""
    stream = _stream_of(plan, source)
    if stream is None:
        return False
    try:
        stream.stop()
    finally:
        stream.close()
    log.info("change_stream_stopped", system=plan.system.id)
    return True


def change_lag(plan: MigrationPlan) -> ChangeLag | None:
    """How far the system's target is behind legacy (None: it has no change stream).

    Raises:
        DatabaseError: legacy or the target cannot be reached.
    """
    if not may_stream(plan):
        return None
    from adapters.target import open_target
    from legacy_connectors import open_source

    source = open_source(plan.source)
    try:
        stream = _stream_of(plan, source)
        if stream is None:
            return None
        stream.close()
        target = open_target(plan.target)
        try:
            with open_stream(plan, source, target) as system:
                return None if system is None else system.lag()
        finally:
            target.close()
    finally:
        source.close()


def reconcile_at_position(
    reconciler: Reconciler,
    stream: SystemStream,
    table: str,
    *,
    rounds: int = IN_FLIGHT_ROUNDS,
    heartbeat: Callable[[], None] | None = None,
) -> Reconciliation:
    """Reconcile a table at a change-stream position, so that writes legacy takes during
    the compare are not differences (the module's docstring says how).

    Returns:
        The report: differences are those behind the position only; ``in_flight`` counts
        the keys still changing, ``position`` names where the target stood.
    """
    source_table = reconciler.plan.table(table).source
    watch = {source_table}
    stream.catch_up(heartbeat=heartbeat)
    first = reconciler.reconcile(table)
    if first.report.passed or first.report.stopped is not None:
        return _at_position(first, first, stream, in_flight=0)
    suspects = first.keys.legacy_side
    real: list[Key] = []
    in_flight: list[Key] = []
    for round_number in range(rounds):
        moved, _ = stream.catch_up(watch=watch, heartbeat=heartbeat)
        touched = moved.changed.get(source_table, set())
        real += [k for k in suspects if k not in touched]
        in_flight = [k for k in suspects if k in touched]
        if not in_flight or round_number == rounds - 1:
            break
        suspects = reconciler.reconcile(table, only=in_flight).keys.legacy_side
        in_flight = []
        if not suspects:
            break
    if not real:
        return _at_position(first, None, stream, in_flight=len(in_flight))
    behind = reconciler.reconcile(table, only=list(dict.fromkeys(real)))
    return _at_position(first, behind, stream, in_flight=len(in_flight))


def _at_position(
    whole: Reconciliation,
    behind: Reconciliation | None,
    stream: SystemStream,
    *,
    in_flight: int,
) -> Reconciliation:
    """The report of a compare at a position: the whole table's counts and method, the
    differences ``behind`` the position (None: none)."""
    position = stream.applier.position()
    first = whole.report
    if behind is None:
        none: dict[str, list[object]] = {"missing": [], "extra": [], "changed": []}
        differences = first.model_copy(
            update={**none, "missing_count": 0, "extra_count": 0, "changed_count": 0}
        )
        keys = DifferingKeys(recopy=[], delete=[])
    else:
        differences, keys = behind.report, behind.keys
    found = differences.missing_count + differences.extra_count + differences.changed_count
    report = differences.model_copy(
        update={
            "legacy_rows": first.legacy_rows,
            "target_rows": first.target_rows,
            "method": first.method,
            "passed": first.stopped is None and (first.passed or found == 0),
            "stopped": first.stopped,
            "in_flight": in_flight,
            "position": None if position is None else str(position),
        }
    )
    if not report.passed or in_flight:
        log.info("reconciled_at_position", table=report.table, passed=report.passed,
                 behind=found, in_flight=in_flight, position=report.position)  # fmt: skip
    return Reconciliation(report, keys)

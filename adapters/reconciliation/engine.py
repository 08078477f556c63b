"""Legacy table against its copy: counts, segment checksums with bisection, field diffs.

First both sides are counted; counts further apart than the diff budget stop the run at
once (the copy went wrong: there is nothing to learn from listing a million rows). Then
one of two ways finds the rows that may differ, chosen per table:

* **Segments** (pushed down). When every column is copied unchanged, both databases are
  MariaDB or PostgreSQL and the key is one integer column, each database sums a 60-bit
  fold of every row's md5 per key bucket, in GROUP BY queries (two at a time per
  database, both databases at once). The row texts follow ``legacy_connectors.canonical``'s
  rules, so the two engines agree. Buckets whose count or sum differ are split ``FANOUT``
  ways and summed again, only over their own key ranges, until a bucket holds at most
  ``LEAF_ROWS`` rows. Only those rows are read. Every row is hashed once per side.
* **Streamed.** Otherwise (transforms the target's SQL cannot repeat, text or composite
  keys, file sources, SQLite) the legacy rows are streamed in key order through the
  plan's ``RowMapper`` and hashed here, while the target's per-row md5 is computed by the
  target database where it can (only the key and the hash cross the network). The two
  streams are merged by key in bounded memory; a key seen on one side waits only until the
  other side's stream has passed it, so two engines that order text keys differently
  (collations) still pair up correctly.

Either way, rows that may differ are then read from both sides and compared field by
field (``compare``), with the plan's tolerances and the engines' normalisations: a
checksum difference that normalisation explains (``-0`` and ``0``, a timestamp rounded by
the target) is no difference. A time budget (checked between queries and every
``STREAM_BATCH`` rows) and a diff budget end a run early, saying so. Row values are never
logged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from adapters.mapping import RowMapper
from adapters.reconciliation.compare import (
    ColumnRule,
    TargetColumnType,
    changed_columns,
    column_rules,
)
from config.log import get_logger
from config.migration_plan import MigrationPlan, TablePlan
from domain.errors import DatabaseError, PlanError, ValidationFailed
from domain.reconciliation import ChangedRow, TableReport, report_value
from legacy_connectors.base import ChecksumPushDown, Key, LegacySource, Row, TableInfo
from legacy_connectors.canonical import CHECKSUM_MODULUS, row_md5
from legacy_connectors.sql import SqlSource

log = get_logger(__name__)

FANOUT = 32
"""How many sub-buckets a differing bucket is split into."""
LEAF_ROWS = 64
"""A differing bucket with at most this many rows (on either side) is read and compared."""
FIRST_BUCKET_ROWS = 250
"""Rows per bucket of the first, whole-table checksum pass (about)."""
MAX_FIRST_BUCKETS = 4096
PARTS = 2
"""Queries each database runs at once in the checksum passes."""
LOOKUP_CHUNK = 500
ENUMERATED_RANGE = 4 * LEAF_ROWS
"""Key ranges up to this wide are read by listing their keys (integer keys only)."""
STREAM_BATCH = 10_000
MAX_WAITING = 1_000_000
"""Keys seen on one side only, held until the other side's stream passes them, at most.
Engines that order the key alike keep a handful; this bounds memory when they do not."""


@dataclass(frozen=True)
class Budgets:
    """When a diff gives up, and how much of what it found a report keeps.

    Attributes:
        time_s: seconds a table may take.
        differences: differences (missing + extra + changed) after which it stops: a copy
            that went wrong is reported as such without listing a million rows.
        samples: keys or changed rows kept per kind in the report.
    """

    time_s: float = 3600.0
    differences: int = 10_000
    samples: int = 100


class _Stop(Exception):
    """A budget ran out; the message says which and what was done by then."""


@dataclass(frozen=True)
class DifferingKeys:
    """Exactly the keys that differ, for a re-sync.

    Attributes:
        recopy: source keys (``RowMapper.source_key`` order) to copy again: rows missing
            from the target and rows whose columns differ.
        delete: target keys (``RowMapper.target_key`` order) the legacy table does not have.
    """

    recopy: list[Key]
    delete: list[Key]

    @property
    def legacy_side(self) -> list[Key]:
        """Every differing key as the legacy side spells it (``ResyncKeysInput``'s form): a
        re-sync upserts those the legacy table has and deletes the others. Exact when the
        key is copied unchanged, which is what a key normally is."""
        return [*self.recopy, *self.delete]


@dataclass(frozen=True)
class Reconciliation:
    """One table's report (samples capped) and every differing key (for a re-sync)."""

    report: TableReport
    keys: DifferingKeys


@dataclass
class _Findings:
    """What a diff found so far: every key, values of the first ``samples`` changed rows.

    Memory is bounded by the diff budget: past it the diff stops.
    """

    budgets: Budgets
    missing: list[tuple[Key, Key]] = field(default_factory=list)  # (target key, source key)
    extra: list[Key] = field(default_factory=list)
    changed: list[tuple[Key, Key]] = field(default_factory=list)
    changed_columns: list[dict[str, tuple[Any, Any]]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.changed)

    def _check(self) -> None:
        if self.total > self.budgets.differences:
            raise _Stop(
                f"stopped early: more than {self.budgets.differences} differences (diff "
                "budget); the copy itself probably went wrong"
            )

    def add_missing(self, target_key: Key, source_key: Key) -> None:
        self.missing.append((target_key, source_key))
        self._check()

    def add_extra(self, target_key: Key) -> None:
        self.extra.append(target_key)
        self._check()

    def add_changed(self, target_key: Key, source_key: Key, columns: dict[str, Any]) -> None:
        self.changed.append((target_key, source_key))
        if len(self.changed_columns) < self.budgets.samples:
            self.changed_columns.append(columns)
        self._check()


@dataclass
class _Table:
    """One table's two sides and how to compare them."""

    plan: TablePlan
    mapper: RowMapper
    rules: list[ColumnRule]
    target_info: TableInfo
    target_types: dict[str, TargetColumnType]
    source_info: TableInfo

    @property
    def source(self) -> str:
        return self.plan.source

    @property
    def target(self) -> str:
        return self.plan.target

    @property
    def target_names(self) -> list[str]:
        return [c.name for c in self.mapper.target_columns]

    @property
    def target_scales(self) -> list[int | None]:
        return [self.target_info.column(n).scale for n in self.target_names]


class Reconciler:
    """Reconciles a plan's tables: the legacy source against the target database.

    Args:
        plan: the migration plan.
        legacy: the open legacy source (``legacy_connectors.open_source``).
        target: the open target database, read through the SQL source (read-only).
        budgets: time and diff budgets, sample size.
        progress: called with a short note (no row values) as the work advances; the
            activity heartbeats with it.
    """

    def __init__(
        self,
        plan: MigrationPlan,
        legacy: LegacySource,
        target: SqlSource,
        *,
        budgets: Budgets | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.plan = plan
        self.legacy = legacy
        self.target = target
        self.budgets = budgets or Budgets()
        self.progress = progress or (lambda _note: None)
        self._deadline = math.inf

    # --- public -----------------------------------------------------------------------

    def reconcile_table(self, table: str) -> TableReport:
        """Diff one table of the plan (by source or target name).

        Returns:
            The report; ``stopped`` says when a budget ended it early (it then fails).

        Raises:
            PlanError: the table, a column or the key does not fit the plan.
            DatabaseError: either database cannot be reached.
        """
        return self.reconcile(table).report

    def differing_keys(self, table: str) -> DifferingKeys:
        """Exactly the keys that differ, so that the copy can re-copy (or delete) them.

        Raises:
            ValidationFailed: a budget ended the diff early; the list would be incomplete.
        """
        result = self.reconcile(table)
        if result.report.stopped is not None:
            where = f"table {result.report.source_table}"
            raise ValidationFailed(result.report.stopped, where=where)
        return result.keys

    def reconcile(self, table: str, *, only: Sequence[Key] | None = None) -> Reconciliation:
        """Diff one table, or only some of its keys (after a re-sync of them).

        Args:
            table: the plan's source or target name of the table.
            only: source keys (``RowMapper.source_key`` order) to compare; None for all.

        Returns:
            The report (samples capped, counts complete) and every differing key.
        """
        started = time.monotonic()
        findings = _Findings(self.budgets)
        setup, legacy_rows, target_rows, method, stopped = self._run(table, findings, only)
        cap = self.budgets.samples
        changed_keys = findings.changed[: len(findings.changed_columns)]
        report = TableReport(
            table=setup.target,
            source_table=setup.source,
            legacy_rows=legacy_rows,
            target_rows=target_rows,
            missing=[[report_value(v) for v in k] for k, _ in findings.missing[:cap]],
            extra=[[report_value(v) for v in k] for k in findings.extra[:cap]],
            changed=[
                ChangedRow(
                    key=[report_value(v) for v in k],
                    columns={n: (report_value(a), report_value(b)) for n, (a, b) in c.items()},
                )
                for (k, _), c in zip(changed_keys, findings.changed_columns, strict=True)
            ],
            missing_count=len(findings.missing),
            extra_count=len(findings.extra),
            changed_count=len(findings.changed),
            passed=stopped is None and findings.total == 0 and legacy_rows == target_rows,
            stopped=stopped,
            method=method,
            seconds=round(time.monotonic() - started, 3),
        )
        log.info("table_reconciled", table=setup.target, method=method, passed=report.passed,
                 missing=report.missing_count, extra=report.extra_count,
                 changed=report.changed_count, stopped=stopped is not None,
                 seconds=report.seconds)  # fmt: skip
        keys = DifferingKeys(
            recopy=[s for _, s in findings.missing] + [s for _, s in findings.changed],
            delete=list(findings.extra),
        )
        return Reconciliation(report, keys)

    # --- the run ----------------------------------------------------------------------

    def _run(
        self, table: str, findings: _Findings, only: Sequence[Key] | None = None
    ) -> tuple[_Table, int, int, str, str | None]:
        self._deadline = time.monotonic() + self.budgets.time_s
        setup = self._setup(self.plan.table(table))
        self.progress(f"{setup.target}: counting")
        with ThreadPoolExecutor(2, thread_name_prefix="reconcile") as pool:
            legacy_count = pool.submit(self.legacy.count, setup.source)
            target_rows = self.target.count(setup.target)
            legacy_rows = legacy_count.result()
        if only is not None:
            method = "keys"
        else:
            method = "segments" if self._can_push_down(setup) else "streamed"
        stopped = None
        try:
            gap = abs(legacy_rows - target_rows)
            if only is None and gap > self.budgets.differences:
                raise _Stop(
                    f"stopped early: the row counts differ by {gap}, more than the diff budget "
                    f"of {self.budgets.differences}; the copy itself probably went wrong"
                )
            if only is not None:
                for start in range(0, len(only), LOOKUP_CHUNK):
                    chunk = only[start : start + LOOKUP_CHUNK]
                    self._compare_keys(setup, {setup.mapper.map_key(k): k for k in chunk},
                                       findings)  # fmt: skip
            elif method == "segments":
                self._segments(setup, findings, max(legacy_rows, target_rows))
            else:
                self._streamed(setup, findings)
        except _Stop as e:
            stopped = str(e)
            log.warning("reconciliation_stopped", table=setup.target, reason=stopped)
        return setup, legacy_rows, target_rows, method, stopped

    def _check_time(self) -> None:
        if time.monotonic() > self._deadline:
            raise _Stop(
                f"stopped early: the time budget of {self.budgets.time_s:g} s ran out; "
                "the differences listed are those found by then"
            )

    def _setup(self, table_plan: TablePlan) -> _Table:
        infos = {t.name: t for t in self.legacy.describe()}
        info = infos.get(table_plan.source)
        if info is None:
            raise PlanError(f"the legacy source has no table {table_plan.source!r}")
        mapper = RowMapper(table_plan, info)
        target_infos = {t.name: t for t in self.target.describe()}
        target_info = target_infos.get(table_plan.target)
        if target_info is None:
            raise PlanError(f"the target has no table {table_plan.target!r}")
        have = {c.name for c in target_info.columns}
        lacking = [c.name for c in mapper.target_columns if c.name not in have]
        if lacking:
            raise PlanError(
                f"the target table {table_plan.target!r} lacks columns: {', '.join(lacking)}"
            )
        target_types = self._target_types(table_plan.target)
        pairs = [(m.source, m.target.name) for m in mapper.columns]
        rules = column_rules(table_plan, pairs, target_types)
        return _Table(table_plan, mapper, rules, target_info, target_types, info)

    def _target_types(self, table: str) -> dict[str, TargetColumnType]:
        """CHAR columns and timestamp precisions, which the portable types do not carry."""
        return {
            name: TargetColumnType(char=stored.char, fraction_digits=stored.fraction_digits)
            for name, stored in self.target.stored_types(table).items()
        }

    def _can_push_down(self, t: _Table) -> bool:
        """Both databases can compute the same row folds: nothing is transformed, both push
        checksums down, and the key is one integer column (buckets are key arithmetic)."""
        if not isinstance(self.legacy, ChecksumPushDown):
            return False
        if not isinstance(self.target, ChecksumPushDown):
            return False
        if any(m.transform is not None for m in t.mapper.columns):
            return False
        if len(t.mapper.source_key) != 1:
            return False
        source_key, target_key = t.mapper.source_key[0], t.mapper.target_key[0]
        # Untransformed, a mapped column keeps the source column's portable type.
        legacy_type = next(m.target.type for m in t.mapper.columns if m.source == source_key)
        return legacy_type == "integer" and t.target_info.column(target_key).type == "integer"

    # --- segments ---------------------------------------------------------------------

    def _segments(self, t: _Table, findings: _Findings, rows: int) -> None:
        legacy, target = self.legacy, self.target
        assert isinstance(legacy, ChecksumPushDown)
        assert isinstance(target, ChecksumPushDown)
        key_source, key_target = t.mapper.source_key[0], t.mapper.target_key[0]
        bounds = [
            legacy.key_bounds(t.source, [key_source]),
            self.target.key_bounds(t.target, [key_target]),
        ]
        known = [b for b in bounds if b is not None]
        if not known:
            return
        low = min(int(b[0][0]) for b in known)
        high = max(int(b[1][0]) for b in known)
        span = high - low + 1
        buckets = max(1, min(MAX_FIRST_BUCKETS, rows // FIRST_BUCKET_ROWS))
        width = max(1, math.ceil(span / buckets))
        ranges = [(low, high + 1)]
        legacy_columns = [m.source for m in t.mapper.columns]
        level = 0
        with ThreadPoolExecutor(2 * PARTS, thread_name_prefix="checksums") as pool:
            while ranges:
                self._check_time()
                self.progress(f"{t.target}: level {level}, {len(ranges)} ranges, width {width}")
                parts = _parts(ranges, low, width)
                legacy_jobs = [
                    pool.submit(legacy.bucket_checksums, t.source, key_source, legacy_columns,
                                origin=low, width=width, ranges=part)
                    for part in parts
                ]  # fmt: skip
                target_jobs = [
                    pool.submit(target.bucket_checksums, t.target, key_target,
                                t.target_names, origin=low, width=width, ranges=part)
                    for part in parts
                ]  # fmt: skip
                mine = _added([job.result() for job in legacy_jobs])
                ours = _added([job.result() for job in target_jobs])
                to_read: list[tuple[int, int]] = []
                to_split: list[tuple[int, int]] = []
                for bucket in sorted(set(mine) | set(ours)):
                    left, right = mine.get(bucket, (0, 0)), ours.get(bucket, (0, 0))
                    if left == right:
                        continue
                    start = low + bucket * width
                    span_range = (start, start + width)
                    if width == 1 or max(left[0], right[0]) <= LEAF_ROWS:
                        to_read.append(span_range)
                    else:
                        to_split.append(span_range)
                self._compare_ranges(t, _merged(to_read), findings, pool)
                ranges = to_split
                width = max(1, math.ceil(width / FANOUT))
                level += 1

    def _compare_ranges(
        self,
        t: _Table,
        ranges: Sequence[tuple[int, int]],
        findings: _Findings,
        pool: ThreadPoolExecutor,
    ) -> None:
        """Read the rows of these key ranges from both sides (side by side) and compare them.

        Narrow ranges are read by their keys, a few hundred per query, rather than one
        query per range: after a bisection there are as many ranges as differences.
        """
        narrow = [(a, b) for a, b in ranges if b - a <= ENUMERATED_RANGE]
        keys = [(k,) for a, b in narrow for k in range(a, b)]
        for start in range(0, len(keys), LOOKUP_CHUNK * 8):
            self._check_time()
            chunk = keys[start : start + LOOKUP_CHUNK * 8]
            theirs = pool.submit(self._legacy_keys, t, chunk)
            key_target = list(t.mapper.target_key)
            target_rows = self.target.lookup(t.target, key_target, chunk)
            self._pair(t, theirs.result(), target_rows, findings)
        for start, end in ranges:
            if end - start <= ENUMERATED_RANGE:
                continue
            self._check_time()
            theirs = pool.submit(self._legacy_range, t, start, end)
            target_rows = {}
            key_target = list(t.mapper.target_key)
            for batch in self.target.read(
                t.target, key_target, after=(start - 1,), upto=(end - 1,), batch_rows=LEAF_ROWS
            ):
                for row in batch:
                    target_rows[tuple(row[k] for k in key_target)] = row
            self._pair(t, theirs.result(), target_rows, findings)

    def _legacy_keys(self, t: _Table, keys: Sequence[Key]) -> dict[Key, tuple[Key, Row]]:
        """The legacy rows with these (source) keys, mapped, by target key."""
        key_target = list(t.mapper.target_key)
        out: dict[Key, tuple[Key, Row]] = {}
        for source_key, row in self.legacy.lookup(t.source, t.mapper.source_key, keys).items():
            mapped = t.mapper.map(row)
            out[tuple(mapped[k] for k in key_target)] = (source_key, mapped)
        return out

    def _legacy_range(self, t: _Table, start: int, end: int) -> dict[Key, tuple[Key, Row]]:
        """The legacy rows of keys ``start`` (inclusive) to ``end`` (exclusive), mapped."""
        key_source, key_target = list(t.mapper.source_key), list(t.mapper.target_key)
        out: dict[Key, tuple[Key, Row]] = {}
        for batch in self.legacy.read(
            t.source, key_source, after=(start - 1,), upto=(end - 1,), batch_rows=LEAF_ROWS
        ):
            for row in batch:
                mapped = t.mapper.map(row)
                out[tuple(mapped[k] for k in key_target)] = (
                    tuple(row[k] for k in key_source),
                    mapped,
                )
        return out

    def _pair(
        self,
        t: _Table,
        legacy_rows: dict[Key, tuple[Key, Row]],
        target_rows: dict[Key, Row],
        findings: _Findings,
    ) -> None:
        for key in _in_order(legacy_rows):
            source_key, mapped = legacy_rows[key]
            row = target_rows.pop(key, None)
            if row is None:
                findings.add_missing(key, source_key)
                continue
            columns = changed_columns(t.rules, mapped, row)
            if columns:
                findings.add_changed(key, source_key, columns)
        for key in _in_order(target_rows):
            findings.add_extra(key)

    # --- streamed ---------------------------------------------------------------------

    def _streamed(self, t: _Table, findings: _Findings) -> None:
        waiting_legacy: dict[Key, tuple[str, Key]] = {}  # target key -> (md5, source key)
        waiting_target: dict[Key, str] = {}
        suspects: dict[Key, Key] = {}  # target key -> source key
        legacy = self._legacy_hashes(t)
        target = self._target_hashes(t)
        head_l, head_t = next(legacy, None), next(target, None)
        seen = 0
        while head_l is not None or head_t is not None:
            seen += 1
            if seen % STREAM_BATCH == 0:
                self._check_time()
                self.progress(f"{t.target}: {seen} rows streamed")
                if len(waiting_legacy) + len(waiting_target) > MAX_WAITING:
                    raise _Stop(
                        f"stopped early: more than {MAX_WAITING} rows wait for their pair; "
                        "the copy went wrong, or the two databases order the key very "
                        "differently (a text key's collation)"
                    )
            if head_t is None or (head_l is not None and _precedes(head_l[0], head_t[0])):
                assert head_l is not None
                key, digest, source_key = head_l
                other = waiting_target.pop(key, None)
                if other is None:
                    waiting_legacy[key] = (digest, source_key)
                elif other != digest:
                    suspects[key] = source_key
                head_l = next(legacy, None)
            else:
                key, digest = head_t
                mine = waiting_legacy.pop(key, None)
                if mine is None:
                    waiting_target[key] = digest
                elif mine[0] != digest:
                    suspects[key] = mine[1]
                head_t = next(target, None)
            if len(suspects) >= LOOKUP_CHUNK:
                self._compare_keys(t, suspects, findings)
                suspects = {}
        self._compare_keys(t, suspects, findings)
        for key in _in_order(waiting_legacy):
            findings.add_missing(key, waiting_legacy[key][1])
        for key in _in_order(waiting_target):
            findings.add_extra(key)

    def _legacy_hashes(self, t: _Table) -> Iterator[tuple[Key, str, Key]]:
        """(target key, md5 of the mapped row, source key), in the source's key order.

        Computed by the legacy database when nothing is transformed (only keys and hashes
        cross the network); otherwise here, from the rows mapped as the copy maps them.
        """
        key_source, key_target = list(t.mapper.source_key), list(t.mapper.target_key)
        chars = [t.target_types.get(n, TargetColumnType()).char for n in key_target]
        legacy = self.legacy
        if (
            isinstance(legacy, ChecksumPushDown)
            and all(m.transform is None for m in t.mapper.columns)
            and set(key_source) <= {c.name for c in t.source_info.columns}
        ):
            columns = [m.source for m in t.mapper.columns]
            for key, digest in legacy.row_hashes(t.source, key_source, columns,
                                                 batch_rows=STREAM_BATCH):  # fmt: skip
                yield _strip_chars(key, chars), digest, key
            return
        names, scales = t.target_names, t.target_scales
        for batch in legacy.read(t.source, key_source, batch_rows=STREAM_BATCH):
            for row in batch:
                mapped = t.mapper.map(row)
                key = _strip_chars(tuple(mapped[k] for k in key_target), chars)
                digest = row_md5([mapped[n] for n in names], scales)
                yield key, digest, tuple(row[k] for k in key_source)

    def _target_hashes(self, t: _Table) -> Iterator[tuple[Key, str]]:
        """(key, md5 of the row) in the target's key order, the md5 computed in SQL if it can."""
        key_target = list(t.mapper.target_key)
        chars = [t.target_types.get(n, TargetColumnType()).char for n in key_target]
        names, scales = t.target_names, t.target_scales
        target = self.target
        if not isinstance(target, ChecksumPushDown):
            for batch in target.read(t.target, key_target, batch_rows=STREAM_BATCH):
                for row in batch:
                    key = _strip_chars(tuple(row[k] for k in key_target), chars)
                    yield key, row_md5([row[n] for n in names], scales)
            return
        for key, digest in target.row_hashes(t.target, key_target, names,
                                             batch_rows=STREAM_BATCH):  # fmt: skip
            yield _strip_chars(key, chars), digest

    def _compare_keys(self, t: _Table, suspects: dict[Key, Key], findings: _Findings) -> None:
        """Read rows whose hashes differ from both sides and compare them field by field."""
        if not suspects:
            return
        self._check_time()
        key_source, key_target = list(t.mapper.source_key), list(t.mapper.target_key)
        chars = [t.target_types.get(n, TargetColumnType()).char for n in key_target]
        found = self.legacy.lookup(t.source, key_source, list(suspects.values()))
        legacy_rows: dict[Key, tuple[Key, Row]] = {}
        for source_key, row in found.items():
            mapped = t.mapper.map(row)
            key = _strip_chars(tuple(mapped[k] for k in key_target), chars)
            legacy_rows[key] = (source_key, mapped)
        target_rows = {
            _strip_chars(k, chars): row
            for k, row in self.target.lookup(t.target, key_target, list(suspects)).items()
        }
        self._pair(t, legacy_rows, target_rows, findings)


def _parts(
    ranges: Sequence[tuple[int, int]], origin: int, width: int
) -> list[list[tuple[int, int]]]:
    """``ranges`` in ``PARTS`` groups of about equal key span, cut on bucket boundaries,
    so that each database works on several at once (it uses one core per query)."""
    if len(ranges) >= PARTS:
        return [list(ranges[i::PARTS]) for i in range(PARTS)]
    out = []
    for start, end in ranges:
        buckets = math.ceil((end - start) / width)
        step = max(1, math.ceil(buckets / PARTS)) * width
        cuts = [*range(start, end, step), end]
        out += [[(a, b)] for a, b in pairwise(cuts) if a < b]
    return out


def _added(results: Sequence[dict[int, tuple[int, int]]]) -> dict[int, tuple[int, int]]:
    """Per bucket, the rows and checksums of several parts added (a bucket may span two)."""
    out: dict[int, tuple[int, int]] = {}
    for result in results:
        for bucket, (rows, total) in result.items():
            had_rows, had_total = out.get(bucket, (0, 0))
            out[bucket] = (had_rows + rows, (had_total + total) % CHECKSUM_MODULUS)
    return out


def _merged(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Adjacent key ranges as one, so that neighbouring buckets are read in one query."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and out[-1][1] >= start:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _strip_chars(key: Key, chars: Sequence[bool]) -> Key:
    if not any(chars):
        return key
    return tuple(
        v.rstrip(" ") if c and isinstance(v, str) else v for v, c in zip(key, chars, strict=True)
    )


def _precedes(a: Key, b: Key) -> bool:
    """Whether key ``a`` comes first (or ties); keys that do not compare alternate safely."""
    try:
        return bool(a <= b)
    except TypeError:
        return True


def _in_order(keys: Iterator[Key] | Sequence[Key] | dict[Key, Any]) -> list[Key]:
    """Keys sorted for a readable report; as they came if their values do not compare."""
    listed = list(keys)
    try:
        return sorted(listed)
    except TypeError:
        return listed


@contextmanager
def open_reconciler(
    plan: MigrationPlan,
    *,
    budgets: Budgets | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[Reconciler]:
    """A reconciler with the plan's legacy source and target database open; closes both.

    Raises:
        PlanError: the plan's source cannot be opened as described.
        DatabaseError: either database cannot be reached.
    """
    from legacy_connectors import open_source

    filters = {t.source: t.where for t in plan.tables if t.where}
    legacy = open_source(plan.source, filters=filters or None)
    try:
        target = SqlSource(plan.target.url, schema=plan.target.db_schema)
        try:
            target.open()
        except DatabaseError as e:
            # The SQL source speaks of "the legacy database"; this one is the target.
            raise DatabaseError(
                e.message.replace("the legacy database", "the target database"), where=e.where
            ) from e
        try:
            yield Reconciler(plan, legacy, target, budgets=budgets, progress=progress)
        finally:
            target.close()
    finally:
        legacy.close()

"""Inputs and results of the migration workflows and activities.

Only references travel through Temporal: the plan's path, a table's name, key bounds and
counts, never rows. Key values are lists in the key's column order (JSON has no tuples).

The reconcile contract (``activities.names.RECONCILE_TABLE``, implemented with the
reconciliation engine): ``ReconcileTableInput`` → ``ReconcileTableResult``. It compares
one table's legacy rows, mapped by ``adapters.mapping.RowMapper``, with the target, and
decides ``passed`` with the plan's tolerances.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

KeyValues = list[Any]
"""One row's key, values in the key's column order."""

DEFAULT_HEARTBEAT_TIMEOUT_S = 30.0
"""How long a copy may be silent before its worker counts as dead and another resumes it
from the last key it reported. A copy heartbeats after every load of ``batch_rows``, so
this is short; a plan whose loads take longer says so (``heartbeat_timeout_s``)."""


class MigrationStage(StrEnum):
    """The migration stages this workflow runs, in order (DESIGN.md, migration flow)."""

    PROFILE = "profile"
    COPY = "copy"
    RECONCILE = "reconcile"
    CATCH_UP = "catch-up"
    CUTOVER = "cutover"  # CutoverWorkflow, which this workflow starts and leaves running
    RETIRE = "retire"  # the cutover goes on to freeze, archive and retire

    @property
    def order(self) -> int:
        return list(MigrationStage).index(self)


class TableState(StrEnum):
    PENDING = "pending"
    COPYING = "copying"
    PAUSED = "paused"
    COPIED = "copied"
    RECONCILING = "reconciling"
    AWAITING_DECISION = "awaiting_decision"
    RESYNCING = "resyncing"
    PASSED = "passed"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"
    FAILED = "failed"


class RunState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    AWAITING_DECISION = "awaiting_decision"
    READY_FOR_CUTOVER = "ready_for_cutover"
    CUTOVER_STARTED = "cutover_started"  # CutoverWorkflow runs on: `switchover cutover status`
    STOPPED = "stopped"  # reached the stage asked for with --until
    CANCELLED = "cancelled"
    ABORTED = "aborted"
    FAILED = "failed"  # a copy failed, or Temporal says the run did (its reason says why)
    TERMINATED = "terminated"  # ended from outside, by Temporal's terminate


# --- profile --------------------------------------------------------------------------


class ProfileInput(BaseModel):
    plan_path: str


class TableProfile(BaseModel):
    """One table as found in the source, checked against the plan."""

    table: str  # the plan's source name
    target: str
    key: list[str]
    rows: int
    lowest: KeyValues | None = None
    highest: KeyValues | None = None


class ProfileResult(BaseModel):
    system_id: str
    system_name: str
    tables: list[TableProfile]
    batch_rows: int
    change_stream: str | None = None
    """The change-stream position the system's catch-up goes on from (None: no stream;
    catch-up by ``updated_at`` and re-diffs)."""


# --- copy -----------------------------------------------------------------------------


class PrepareTargetInput(BaseModel):
    plan_path: str
    table: str


class CopyBatchInput(BaseModel):
    """Copy rows with keys strictly after ``after`` and up to ``upto`` (inclusive), at most
    ``max_rows`` of them."""

    plan_path: str
    table: str
    after: KeyValues | None = None
    upto: KeyValues | None = None
    max_rows: int = Field(default=100_000, gt=0)


class CopyBatchResult(BaseModel):
    rows: int
    last_key: KeyValues | None  # None: nothing copied
    done: bool  # the range is exhausted


class CopyTableInput(BaseModel):
    """A table's copy; carried across continue-as-new with the progress so far."""

    plan_path: str
    table: str
    upto: KeyValues | None = None
    lowest: KeyValues | None = None
    """With ``upto``, for a single integer key: the copy splits the keys into ranges of
    about ``batch_max_rows`` rows, each read by one query that ends by itself."""
    rows_total: int = 0
    batch_max_rows: int = 500_000
    batches_per_run: int = Field(default=50, gt=0)
    """Batches before the workflow continues as new, so history stays bounded."""
    after: KeyValues | None = None
    rows_copied: int = 0
    started_at: datetime | None = None
    paused: bool = False
    parent_workflow_id: str | None = None
    run_number: int = 1  # continue-as-new generation
    heartbeat_timeout_s: float = Field(default=DEFAULT_HEARTBEAT_TIMEOUT_S, gt=0)
    """Silence this long from a copy activity means its worker died: it is retried, from
    the last key it reported."""


class CopyTableProgress(BaseModel):
    """What the copy's ``progress`` query answers."""

    table: str
    state: TableState = TableState.PENDING
    rows_copied: int = 0
    rows_total: int = 0
    rows_per_second: float = 0.0
    eta_seconds: float | None = None
    last_key: KeyValues | None = None
    runs: int = 1  # continue-as-new generations of this copy, counting this one


class CopyTableResult(BaseModel):
    table: str
    rows_copied: int
    cancelled: bool = False


# --- reconcile (implemented with the reconciliation engine) ------------------------------


class ReconcileTableInput(BaseModel):
    """Reconcile one table of a plan.

    Attributes:
        keys: only these legacy keys; None for the whole table.
    """

    plan_path: str
    table: str
    keys: list[KeyValues] | None = None


class ReconcileTableResult(BaseModel):
    """One table's reconciliation, as the gate needs it.

    Attributes:
        passed: every difference is within the plan's tolerances.
        missing, extra, changed: counts of keys absent from the target, absent from the
            legacy side, and present on both with differing values beyond tolerance.
        differing_keys: a sample of legacy-side keys of those differences, for people;
            a re-sync finds every differing key itself (``ResyncKeysInput``).
        stopped: why the diff ended early (a budget), if it did; it then fails.
        report_id: the stored report, when the engine stores one.
        in_flight: keys legacy kept changing during a compare at a change-stream
            ``position`` (not differences).
        quarantined: legacy records a copy set aside that are still open (not accepted);
            the gate does not pass while any is.
    """

    table: str
    passed: bool
    legacy_rows: int = 0
    target_rows: int = 0
    missing: int = 0
    extra: int = 0
    changed: int = 0
    differing_keys: list[KeyValues] = Field(default_factory=list)
    stopped: str | None = None
    report_id: int | None = None
    in_flight: int = 0
    position: str | None = None
    quarantined: int = 0


class ResyncKeysInput(BaseModel):
    """Copy the differing keys again: upsert those the legacy side has, delete the rest.

    Attributes:
        keys: these legacy keys; None: the keys the reconciliation engine finds differ
            (``Reconciler.differing_keys``), found inside the activity so that no key list
            travels through Temporal.
    """

    plan_path: str
    table: str
    keys: list[KeyValues] | None = None


class ResyncKeysResult(BaseModel):
    upserted: int
    deleted: int


class CatchUpInput(BaseModel):
    """Re-copy a table's rows changed since ``since`` (by the plan's ``updated_at`` column)."""

    plan_path: str
    table: str
    since: datetime


class CatchUpResult(BaseModel):
    """What a catch-up did: changes applied from the stream, or rows re-copied by the
    plan's ``updated_at`` column (neither: the reconciliation's re-sync does it).

    Attributes:
        rows: changes applied, or rows re-copied.
        by_updated_at: re-copied by ``updated_at``.
        by_stream: applied from the change stream, up to ``position``.
    """

    rows: int
    by_updated_at: bool
    by_stream: bool = False
    position: str | None = None
    seconds_behind: float = 0.0
    """With a stream: how far the oldest change applied was behind legacy's commit."""


class StreamLag(BaseModel):
    """The change stream as the last catch-up left it, for status pages.

    Attributes:
        position: where the target stands in legacy's stream.
        changes: changes that catch-up applied.
        seconds_behind: how far modern was behind legacy's writes when it began.
        at: when it ended.
    """

    position: str | None
    changes: int
    seconds_behind: float
    at: datetime

    @classmethod
    def of(cls, result: CatchUpResult, at: datetime) -> StreamLag | None:
        """The lag a catch-up's result shows (None when it did not use a stream)."""
        if not result.by_stream:
            return None
        return cls(position=result.position, changes=result.rows,
                   seconds_behind=result.seconds_behind, at=at)  # fmt: skip

    def line(self) -> str:
        """In words: ``12 changes applied, 1.3 s behind, at binlog.000042:1234 (15:30:21 UTC)``."""
        return (f"{self.changes} changes applied, {self.seconds_behind:.1f} s behind, at "
                f"{self.position or '?'} ({self.at:%H:%M:%S} UTC)")  # fmt: skip


# --- gate ---------------------------------------------------------------------------


class GateAction(StrEnum):
    RESYNC = "resync"
    ACCEPT = "accept"
    ABORT = "abort"


class GateDecision(BaseModel):
    """The engineer's answer to a failed gate.

    ``decided_by`` is checked: the workflow refuses anyone who is not an active engineer
    in the engine database, and records the decision in the audit trail.
    """

    table: str
    action: GateAction
    reason: str | None = None
    decided_by: str = "engineer"


class RunControlAction(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


class RunControl(BaseModel):
    """An engineer's pause, resume or cancel of a system's migration (checked and audited
    like a ``GateDecision``)."""

    action: RunControlAction
    actor: str
    reason: str | None = None


class RecordDecisionInput(BaseModel):
    """A person's decision about a migration, for the audit trail.

    Attributes:
        actor: who decided.
        action: what, e.g. ``migration.gate_accept`` or ``migration.pause``.
        system_id: the system whose migration it is.
        detail: the table, the engineer's reason, the workflow and update ids.
        accepted: False when the workflow refused it (the role check failed).
    """

    actor: str
    action: str
    system_id: str
    detail: dict[str, Any] = Field(default_factory=dict)
    accepted: bool = True


# --- the system's run ----------------------------------------------------------------


class MigrateSystemInput(BaseModel):
    plan_path: str
    until: MigrationStage | None = None
    """Stop after this stage; None: everything the plan describes (with a ``cutover``
    section: cutover, then decommissioning)."""
    max_parallel_tables: int = Field(default=2, gt=0)
    batch_max_rows: int = Field(default=500_000, gt=0)
    """Rows per copy activity (each heartbeats after every batch of the plan's
    ``batch_rows``): fewer activities cost less set-up, a retry resumes where it was."""
    batches_per_run: int = Field(default=50, gt=0)
    heartbeat_timeout_s: float = Field(default=DEFAULT_HEARTBEAT_TIMEOUT_S, gt=0)
    """The plan's ``heartbeat_timeout_s``: for the copies and the catch-up."""


class TableStatus(BaseModel):
    table: str
    state: TableState = TableState.PENDING
    rows_total: int = 0
    rows_copied: int = 0
    reconciliation: ReconcileTableResult | None = None
    decision: GateDecision | None = None


class MigrationStatus(BaseModel):
    """What ``MigrateSystemWorkflow``'s ``status`` query answers."""

    system_id: str | None = None
    stage: MigrationStage = MigrationStage.PROFILE
    state: RunState = RunState.RUNNING
    tables: dict[str, TableStatus] = Field(default_factory=dict)
    copy_started_at: datetime | None = None
    reason: str | None = None
    """Why the run waits, stopped or was cancelled, for people."""
    change_stream: StreamLag | None = None
    """The change stream at the last catch-up (None: no stream, or none yet)."""


class MigrateSystemResult(BaseModel):
    system_id: str
    state: RunState
    stage: MigrationStage
    tables: dict[str, TableStatus]
    reason: str | None = None
    """Why it was aborted or cancelled (``MigrationStatus.reason``)."""


class RecordStageInput(BaseModel):
    """Record a stage or a gate for the programme dashboard."""

    plan_path: str
    stage: str  # a domain.systems.SystemStage value
    note: str | None = None
    rows_migrated: int | None = None
    rows_total: int | None = None
    reconciliation_passed: bool | None = None


# --- plan validation (switchover migrate validate) -------------------------------------


class TableCheck(BaseModel):
    """One table of a plan, checked against the real source and target."""

    table: str
    target: str
    rows: int | None = None
    sampled: int = 0
    duplicate_keys: int = 0
    """Key values held by more than one row."""
    duplicate_examples: list[KeyValues] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


class PlanCheck(BaseModel):
    """A plan checked against the real source and target."""

    system_id: str
    problems: list[str] = Field(default_factory=list)
    tables: list[TableCheck] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    """What works but less well than it could (a change stream the server is not ready
    for, under ``change_stream: auto``): the check still passes."""

    @property
    def passed(self) -> bool:
        return not self.problems and all(not t.problems for t in self.tables)

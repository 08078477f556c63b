"""A legacy system's migration, for the terminal and the web app alike: check a plan,
start a run, wait for it, tell where each run stands, and pass people's decisions on.

Where a run stands comes from Temporal: a running workflow answers its ``status`` query;
an ended one gives its result, or the failure it ended with (whose innermost message,
say a ``LegacyReadError`` naming file, record and offset, is the reason shown). A gate
decision or a pause, resume or cancel goes to the workflow as an update in a person's
name; the workflow checks that they are an engineer and records it in the audit trail,
so refusing here would only be a courtesy.

The workflow is addressed by name (``"MigrateSystemWorkflow"``, ``"status"``,
``"decide_gate"``, ``"control"``): the shell talks to workflows only through the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    FailureError,
    TerminatedError,
    TimeoutError,
)
from temporalio.service import RPCError, RPCStatusCode

from adapters.change_capture import stream_problems
from adapters.mapping import RowMapper
from adapters.target import PostgresTarget, open_target, postgres_type
from config.log import get_logger
from config.migration_plan import MigrationPlan, TablePlan, load_plan
from config.settings import TASK_QUEUE_WORKFLOWS, Settings
from db import accounts
from db.audit import append_audit_event
from db.models import QuarantinedRecord, QuarantineState, Role
from db.quarantine import accept_records, quarantined_records
from db.session import session_scope
from domain.errors import (
    ERROR_TYPES,
    BadInputError,
    ConflictError,
    ExitCode,
    LegacyReadError,
    NotFoundError,
    NotPermittedError,
    PlanError,
    SwitchoverError,
)
from domain.migration import (
    CopyTableProgress,
    GateAction,
    GateDecision,
    KeyValues,
    MigrateSystemInput,
    MigrateSystemResult,
    MigrationStage,
    MigrationStatus,
    PlanCheck,
    RunControl,
    RunControlAction,
    RunState,
    StreamLag,
    TableCheck,
    TableState,
    TableStatus,
)
from domain.workflow_ids import copy_id, copy_part_id, cutover_id, migration_id, system_of_migration
from legacy_connectors import (
    ROW_HASH,
    LegacySource,
    RepeatedKeysSource,
    TableInfo,
    open_source,
)
from switchover.identity import grant
from switchover.schedules import ensure_reconcile_schedule
from switchover.temporal import (
    RESTART_PATIENCE_S,
    connect,
    outlast_restarts,
    rpc_failure,
    send_update,
)

log = get_logger(__name__)

QUARANTINE_ACCEPT_REFUSED = "migration.quarantine_accept_refused"

WORKFLOW = "MigrateSystemWorkflow"
QUERY_TIMEOUT = dt.timedelta(seconds=5)
"""A status query waits for a worker to answer; a status line should not wait long."""
ENDED_QUERY_TIMEOUT = dt.timedelta(seconds=2)
"""An ended run's tables come from a query a worker answers by replaying it; without a
worker the reason alone is shown, after this long."""
_ENDED = {
    WorkflowExecutionStatus.CANCELED: RunState.CANCELLED,
    WorkflowExecutionStatus.TERMINATED: RunState.TERMINATED,
}


class MigrationFailedError(SwitchoverError):
    """A run ended in failure; the exit code is the innermost failure's (a bad legacy
    record is bad input, 2; a failure of ours with no class of its own, 1)."""

    def __init__(self, message: str, *, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class RunStarted:
    """A run just started: what to follow."""

    system_id: str
    workflow_id: str
    run_id: str | None
    plan_version: str | None = None


@dataclass(frozen=True, slots=True)
class MigrationView:
    """Where one system's latest run stands.

    Attributes:
        state: a ``RunState`` value: what the workflow says, or how Temporal says it ended.
        reason: why it waits, stopped, was cancelled or failed, for people.
        running: the workflow is running (decisions can reach it).
        tables: per table, as ``--json`` prints them.
    """

    system_id: str
    workflow_id: str
    state: RunState
    stage: MigrationStage | None
    reason: str | None
    running: bool
    tables: list[dict[str, Any]] = field(default_factory=list)
    change_stream: StreamLag | None = None

    @property
    def waiting_tables(self) -> list[str]:
        return [t["table"] for t in self.tables if t["state"] == TableState.AWAITING_DECISION]

    def as_json(self) -> dict[str, Any]:
        return {
            "system": self.system_id,
            "workflow_id": self.workflow_id,
            "stage": self.stage.value if self.stage else None,
            "state": self.state.value,
            "reason": self.reason,
            "running": self.running,
            "tables": self.tables,
            "change_stream": (
                self.change_stream.model_dump(mode="json") if self.change_stream else None
            ),
        }


# --- the plan and the run --------------------------------------------------------------


def validate_plan(plan_file: Path, *, sample_rows: int) -> PlanCheck:
    """The plan checked against the real source and target (``migrate validate``)."""
    return check_plan(load_plan(plan_file), sample_rows=sample_rows)


MAX_PARTS = 64
"""The most key ranges a table's copy is split into (the plan's ``parallel``)."""
PLAN_MEMO = "plan_version"
"""The run's memo entry naming its stored plan version (``migrate run`` compares it)."""
REPLACE_WAIT_S = 30.0


def store_run_plan(settings: Settings, plan_file: Path) -> tuple[str, str]:
    """Store the plan file (with its files' fingerprints) in the engine database, upgraded
    first if it is behind; the system's id and the stored version."""
    from db.migrate import current_revision, head_revision, upgrade
    from db.plans import store_plan

    url = settings.resolved_database_url
    if current_revision(url) != head_revision():
        upgrade(url)  # the plan needs its table
    with session_scope(url) as session:
        stored = store_plan(session, plan_file)
        return stored.system_id, stored.version


async def _described(
    client: Client, workflow_id: str, what: str
) -> WorkflowExecutionDescription | None:
    """The workflow's description; None when Temporal has never heard of it."""
    try:
        return await client.get_workflow_handle(workflow_id).describe(rpc_timeout=QUERY_TIMEOUT)
    except RPCError as e:
        if e.status is RPCStatusCode.NOT_FOUND:
            return None
        raise rpc_failure(e, what) from e


async def _in_flight_version(client: Client, workflow_id: str) -> str | None:
    """The stored plan version of the system's running migration ("" when it ran from a
    file, before plans were stored); None when none runs."""
    described = await _described(client, workflow_id, f"the migration {workflow_id}")
    if described is None or described.status is not WorkflowExecutionStatus.RUNNING:
        return None
    return str((await described.memo()).get(PLAN_MEMO) or "")


async def _replace(client: Client, workflow_id: str, tables: Sequence[str], version: str) -> None:
    """End the run in flight (and its copies) so a run of another plan version can start;
    what it copied stays, and the new run upserts over it."""
    reason = f"replaced by plan version {version[:12]} (migrate run --new-version)"
    handles = [client.get_workflow_handle(copy_id(workflow_id, t)) for t in tables]
    with contextlib.suppress(RPCError):
        await client.get_workflow_handle(workflow_id).terminate(reason=reason)
    # A child's parent-close policy is applied by the server a moment later: the new run
    # must not meet its predecessor's copy under the same id.
    for handle in handles:
        for _ in range(int(REPLACE_WAIT_S * 5)):
            try:
                described = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
            except RPCError:
                break
            if described.status is not WorkflowExecutionStatus.RUNNING:
                break
            with contextlib.suppress(RPCError):
                await handle.terminate(reason=reason)
            await asyncio.sleep(0.2)


async def start_run(
    settings: Settings,
    plan_file: Path,
    *,
    until: MigrationStage | None,
    parallel: int,
    new_version: bool = False,
) -> RunStarted:
    """Store the plan in the engine database and start the migration of its system on the
    workers; the run carries the stored version, so workers need no plan file and editing
    the file does not change the run. A plan with ``reconcile.every`` gets (or updates)
    its schedule of reconciliation after cutover.

    Args:
        new_version: when a run of another version of the plan is in flight, end it and
            start this one (without: refused).

    Raises:
        PlanError: the plan does not load, or a file it names cannot be read.
        ConflictError: a migration of the system is running already (with another plan
            version, unless ``new_version``).
        ServiceUnavailableError: Temporal is unreachable.
    """
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from db.plans import plan_ref

    plan = load_plan(plan_file)
    system_id, version = await asyncio.to_thread(store_run_plan, settings, plan_file)
    request = MigrateSystemInput(
        plan_path=plan_ref(version),
        until=until,
        max_parallel_tables=parallel,
        heartbeat_timeout_s=plan.heartbeat_timeout_s,
    )
    client = await connect(settings)
    workflow_id = migration_id(system_id)
    running = await _in_flight_version(client, workflow_id)
    if running == version:
        raise ConflictError(f"a migration of {system_id} is already running this plan "
                            f"(version {version[:12]})")  # fmt: skip
    if running is not None and not new_version:
        was = f"version {running[:12]}" if running else "a plan file"
        raise ConflictError(f"a migration of {system_id} is running with {was}; this plan "
                            f"is version {version[:12]}: pass --new-version to replace that "
                            "run")  # fmt: skip
    if running is not None:
        await _replace(client, workflow_id, [t.source for t in plan.tables], version)
    try:
        handle = await client.start_workflow(
            WORKFLOW, request, id=workflow_id, task_queue=TASK_QUEUE_WORKFLOWS,
            result_type=MigrateSystemResult, memo={PLAN_MEMO: version},
        )  # fmt: skip
    except WorkflowAlreadyStartedError as e:
        raise ConflictError(f"a migration of {system_id} is already running") from e
    except RPCError as e:
        raise rpc_failure(e, f"starting the migration of {system_id}") from e
    log.info("migration.started", system_id=system_id, until=until.value if until else None,
             plan_version=version[:12], replaced=running is not None)  # fmt: skip
    try:  # reconciliation after cutover, on the plan's schedule (reconcile.every)
        await ensure_reconcile_schedule(client, plan, plan_ref(version))
    except RPCError as e:
        raise rpc_failure(e, f"scheduling the reconciliation of {system_id}") from e
    return RunStarted(system_id, handle.id, handle.result_run_id, version)


async def wait_for_run(
    settings: Settings,
    started: RunStarted,
    *,
    follow_cutover: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> MigrateSystemResult:
    """The run's result once it ends, through restarts of the Temporal server; with
    ``follow_cutover``, the cutover it started must end too.

    Raises:
        MigrationFailedError: the run (or the cutover) failed, was cancelled in Temporal
            or terminated; the message says why.
        ServiceUnavailableError: Temporal stayed unreachable too long.
    """
    # The run is started: a server away for a restart now is waited out, as below.
    client = await connect(settings, patience_s=RESTART_PATIENCE_S)
    handle = client.get_workflow_handle(
        started.workflow_id, run_id=started.run_id, result_type=MigrateSystemResult
    )
    what = f"waiting for the migration of {started.system_id}"
    try:
        result = await outlast_restarts(handle.result, what=what)
    except WorkflowFailureError as e:
        state, reason, code = ended_badly(e)
        raise MigrationFailedError(
            f"the migration of {started.system_id} {_ended_words(state)}: {reason}", exit_code=code
        ) from None
    if follow_cutover and result.state is RunState.CUTOVER_STARTED:
        say(f"{started.system_id}: migrated; waiting for the cutover "
            f"(switchover cutover status {started.system_id})")  # fmt: skip
        cutover = client.get_workflow_handle(cutover_id(started.system_id))
        try:
            await outlast_restarts(cutover.result, what=f"waiting for the cutover of "
                                   f"{started.system_id}")  # fmt: skip
        except WorkflowFailureError as e:
            state, reason, code = ended_badly(e)
            raise MigrationFailedError(
                f"the cutover of {started.system_id} {_ended_words(state)}: {reason}",
                exit_code=code,
            ) from None
    return result


def ended_badly(error: WorkflowFailureError) -> tuple[RunState, str, ExitCode]:
    """How a run that did not complete ended, why, and the exit code that says so."""
    cause = error.cause
    if isinstance(cause, CancelledError):
        return RunState.CANCELLED, "cancelled in Temporal", ExitCode.CHECK_FAILED
    if isinstance(cause, TerminatedError):
        return RunState.TERMINATED, cause.message or "terminated", ExitCode.CHECK_FAILED
    if isinstance(cause, TimeoutError):
        return RunState.FAILED, "the run timed out", ExitCode.CHECK_FAILED
    innermost: BaseException = cause
    while isinstance(innermost, FailureError) and innermost.cause is not None:
        innermost = innermost.cause
    message = getattr(innermost, "message", None) or str(innermost) or "no reason given"
    name = innermost.type if isinstance(innermost, ApplicationError) else None
    kind = ERROR_TYPES.get(name or "")
    return RunState.FAILED, message, kind.exit_code if kind else ExitCode.CHECK_FAILED


def _ended_words(state: RunState) -> str:
    return {RunState.CANCELLED: "was cancelled", RunState.TERMINATED: "was terminated"}.get(
        state, "failed"
    )


# --- checking a plan (migrate validate) -----------------------------------------------


DUPLICATE_EXAMPLES = 5


def check_plan(
    plan: MigrationPlan,
    *,
    source_opener: Callable[..., LegacySource] = open_source,
    target_opener: Callable[[Any], PostgresTarget] = open_target,
    sample_rows: int = 1_000,
) -> PlanCheck:
    """Check a plan against the real source and target, without changing either.

    Per table: the table and its mapped and key columns exist, the key is unique (or how
    many key values repeat, with examples), the transforms parse and apply to the first
    ``sample_rows`` rows, and an existing target table can take the mapped columns.

    Returns:
        The findings; ``passed`` when there are none. Messages name tables, columns and
        transforms, never row values (keys excepted, as in reconciliation reports).
    """
    check = PlanCheck(system_id=plan.system.id)
    filters = {t.source: t.where for t in plan.tables if t.where}
    try:
        source = source_opener(plan.source, filters=filters or None)
    except SwitchoverError as e:
        check.problems.append(f"source: {e}")
        return check
    target: PostgresTarget | None = None
    try:
        try:
            target = target_opener(plan.target)
        except SwitchoverError as e:
            check.problems.append(f"target: {e}")
        _check_stream(plan, source, check)
        infos = {info.name: info for info in source.describe()}
        for table_plan in plan.tables:
            table = TableCheck(table=table_plan.source, target=table_plan.target)
            check.tables.append(table)
            info = infos.get(table_plan.source)
            if info is None:
                table.problems.append(f"the source has no table {table_plan.source!r}")
                continue
            try:
                mapper = RowMapper(table_plan, info)
                for column in mapper.target_columns:
                    postgres_type(column)
            except PlanError as e:
                table.problems.append(e.message)
                continue
            if table_plan.parallel > 1 and not _integer_key(info, mapper.source_key):
                check.warnings.append(f"{table_plan.source}: parallel needs a single integer "
                                      "key; the table is copied as one range")  # fmt: skip
            try:
                table.rows = source.count(table_plan.source)
                _check_keys(table_plan, mapper, source, table)
                _check_sample(table_plan, mapper, source, table, sample_rows)
            except SwitchoverError as e:
                table.problems.append(f"reading the source: {e}")
            if target is not None:
                try:
                    found = target.problems(table_plan.target, mapper.target_columns)
                except SwitchoverError as e:
                    found = [str(e)]
                table.problems += [f"target {table_plan.target}: {p}" for p in found]
    finally:
        source.close()
        if target is not None:
            target.close()
    return check


def _integer_key(info: TableInfo, key: Sequence[str]) -> bool:
    if len(key) != 1:
        return False
    try:
        return info.column(key[0]).type == "integer"
    except KeyError:
        return key[0] == "_record"


def _check_stream(plan: MigrationPlan, source: LegacySource, check: PlanCheck) -> None:
    """What the DBA must enable for the change stream: problems when the plan requires
    it, warnings when it would use it if it could."""
    mode = getattr(plan.source, "change_stream", "off")
    if mode == "off":
        return
    try:
        found = stream_problems(plan, source)
    except SwitchoverError as e:
        found = [str(e)]
    lines = [f"change stream: {problem}" for problem in found]
    if mode == "on":
        check.problems += lines
    elif lines:
        check.warnings += [*lines, "change stream: not used until then; catch-up re-copies "
                           "by updated_at and re-diffs instead"]  # fmt: skip


def _check_keys(
    table_plan: TablePlan,
    mapper: RowMapper,
    source: LegacySource,
    table: TableCheck,
) -> None:
    if isinstance(source, RepeatedKeysSource) and ROW_HASH not in mapper.source_key:
        # The source groups the keys itself: exact, and nothing streams.
        repeated, found = source.repeated_keys(
            table_plan.source, mapper.source_key, examples=DUPLICATE_EXAMPLES
        )
        examples = [list(key) for key in found]
    else:
        repeated, examples = _streamed_duplicates(table_plan, mapper, source)
    table.duplicate_keys, table.duplicate_examples = repeated, examples
    if repeated:
        table.problems.append(
            f"the key ({', '.join(mapper.source_key)}) is not unique: {repeated} key values "
            "repeat; a copy would keep one row of each"
        )


def _streamed_duplicates(
    table_plan: TablePlan, mapper: RowMapper, source: LegacySource
) -> tuple[int, list[KeyValues]]:
    # Rows come in key order, so a repeated key is the same as the one before it.
    count, previous = 0, None
    examples: list[KeyValues] = []
    for batch in source.read(table_plan.source, mapper.source_key, batch_rows=50_000):
        for row in batch:
            key = tuple(row[k] for k in mapper.source_key)
            if key == previous:
                count += 1
                if len(examples) < DUPLICATE_EXAMPLES:
                    examples.append(list(key))
            previous = key
    return count, examples


def _check_sample(
    table_plan: TablePlan,
    mapper: RowMapper,
    source: LegacySource,
    table: TableCheck,
    sample_rows: int,
) -> None:
    failures: dict[str, int] = {}
    batches = source.read(table_plan.source, mapper.source_key, batch_rows=max(sample_rows, 1))
    try:
        for batch in batches:
            for row in batch[:sample_rows]:
                table.sampled += 1
                try:
                    mapper.map(row)
                except LegacyReadError as e:
                    failures[e.message] = failures.get(e.message, 0) + 1
            break
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    for message, rows in failures.items():
        table.problems.append(f"{message}: {rows} of the first {table.sampled} rows")


# --- where runs stand ------------------------------------------------------------------


def _table_json(table: TableStatus) -> dict[str, Any]:
    entry: dict[str, Any] = {"table": table.table, "state": table.state.value,
                             "rows_total": table.rows_total, "rows_copied": table.rows_copied,
                             "rows_per_second": None, "eta_seconds": None}  # fmt: skip
    if table.reconciliation is not None:
        r = table.reconciliation
        entry["reconciliation"] = {"passed": r.passed, "missing": r.missing, "extra": r.extra,
                                   "changed": r.changed}  # fmt: skip
    if table.decision is not None:
        d = table.decision
        entry["decision"] = {"action": d.action.value, "by": d.decided_by, "reason": d.reason}
    return entry


async def _progress(client: Client, copy_workflow_id: str) -> CopyTableProgress | None:
    try:
        progress: CopyTableProgress = await client.get_workflow_handle(copy_workflow_id).query(
            "progress", result_type=CopyTableProgress, rpc_timeout=QUERY_TIMEOUT
        )
    except RPCError:
        return None  # between runs of the copy, or no such copy
    return progress


async def _with_rates(client: Client, workflow_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A copying table's rate and ETA, from its copy's ``progress`` query (summed over
    its parts when the plan copies it in parallel key ranges)."""
    if entry["state"] not in (TableState.COPYING, TableState.PAUSED):
        return entry
    whole = copy_id(workflow_id, entry["table"])
    single = await _progress(client, whole)
    found = [single] if single is not None else []
    for number in range(1, MAX_PARTS + 1 if single is None else 1):
        part = await _progress(client, copy_part_id(workflow_id, entry["table"], number))
        if part is None:
            break
        found.append(part)
    if not found:
        return entry  # the parent's figures stand
    rate = sum(p.rows_per_second for p in found)
    copied = sum(p.rows_copied for p in found)
    left = max(entry["rows_total"] - copied, 0)
    paused = all(p.state is TableState.PAUSED for p in found)
    return {**entry, "state": (TableState.PAUSED if paused else found[0].state).value,
            "rows_copied": copied, "rows_per_second": round(rate, 1),
            "eta_seconds": left / rate if rate else None}  # fmt: skip


async def _status(client: Client, workflow_id: str, timeout: dt.timedelta) -> MigrationStatus:
    handle = client.get_workflow_handle(workflow_id)
    status: MigrationStatus = await handle.query(
        "status", result_type=MigrationStatus, rpc_timeout=timeout
    )
    return status


async def _running_view(client: Client, workflow_id: str, system_id: str) -> MigrationView:
    try:
        status = await _status(client, workflow_id, QUERY_TIMEOUT)
    except RPCError as e:
        return MigrationView(system_id, workflow_id, RunState.RUNNING, None,
                             f"the workflow did not answer ({e.message}); is a worker running?",
                             running=True)  # fmt: skip
    tables = [await _with_rates(client, workflow_id, _table_json(t))
              for t in status.tables.values()]  # fmt: skip
    return MigrationView(status.system_id or system_id, workflow_id, status.state, status.stage,
                         status.reason, running=True, tables=tables,
                         change_stream=status.change_stream)  # fmt: skip


async def _ended_view(
    client: Client, workflow_id: str, system_id: str, how: WorkflowExecutionStatus | None
) -> MigrationView:
    handle = client.get_workflow_handle(workflow_id, result_type=MigrateSystemResult)
    try:
        result = await handle.result(rpc_timeout=QUERY_TIMEOUT)
    except WorkflowFailureError as e:
        state, reason, _ = ended_badly(e)
    else:
        tables = [_table_json(t) for t in result.tables.values()]
        return MigrationView(result.system_id or system_id, workflow_id, result.state,
                             result.stage, result.reason, running=False, tables=tables)  # fmt: skip
    state = _ENDED.get(how, state) if how is not None else state
    try:  # the tables as they were when it ended, if a worker answers
        status = await _status(client, workflow_id, ENDED_QUERY_TIMEOUT)
    except RPCError:
        return MigrationView(system_id, workflow_id, state, None, reason, running=False)
    tables = [_table_json(t) for t in status.tables.values()]
    return MigrationView(status.system_id or system_id, workflow_id, state, status.stage, reason,
                         running=False, tables=tables)  # fmt: skip


async def _view(client: Client, workflow_id: str) -> MigrationView | None:
    system_id = system_of_migration(workflow_id) or workflow_id
    described = await _described(client, workflow_id, f"the migration of {system_id}")
    if described is None:
        return None
    if described.status is WorkflowExecutionStatus.RUNNING:
        return await _running_view(client, workflow_id, system_id)
    return await _ended_view(client, workflow_id, system_id, described.status)


async def migration_views(settings: Settings, system_id: str | None = None) -> list[MigrationView]:
    """Where the latest run of ``system_id``'s migration stands, or of every migration
    Temporal knows.

    Raises:
        NotFoundError: no migration of ``system_id`` has run.
        ServiceUnavailableError: Temporal is unreachable.
    """
    client = await connect(settings)
    if system_id:
        ids = [migration_id(system_id)]
    else:
        query = f"WorkflowType = '{WORKFLOW}'"
        try:
            ids = sorted({w.id async for w in client.list_workflows(query)})
        except RPCError as e:
            raise rpc_failure(e, "listing migrations") from e
    views = [view for workflow_id in ids if (view := await _view(client, workflow_id))]
    if system_id and not views:
        raise NotFoundError(f"no migration of {system_id} has run")
    return views


async def migration_view(settings: Settings, system_id: str) -> MigrationView | None:
    """Where the latest run of a system's migration stands; None when none has run."""
    try:
        return (await migration_views(settings, system_id))[0]
    except NotFoundError:
        return None


# --- people's decisions ----------------------------------------------------------------


def _reason(text: str | None) -> str | None:
    return " ".join((text or "").split()) or None


async def _waiting_table(client: Client, system_id: str) -> str:
    try:
        status = await _status(client, migration_id(system_id), QUERY_TIMEOUT)
    except RPCError as e:
        raise rpc_failure(e, f"the migration of {system_id}",
                          missing=f"no migration of {system_id} is running") from e  # fmt: skip
    waiting = [t for t, s in status.tables.items() if s.state is TableState.AWAITING_DECISION]
    if not waiting:
        raise ConflictError(f"no table of {system_id}'s migration is waiting for a decision")
    if len(waiting) > 1:
        raise BadInputError(f"{', '.join(waiting)} are waiting: say which with --table")
    return waiting[0]


async def decide(
    settings: Settings,
    system_id: str,
    action: GateAction,
    *,
    actor: str,
    reason: str | None,
    table: str | None = None,
) -> str:
    """An engineer's answer to a failed gate: re-sync the differing keys, accept them, or
    abort the run. ``table`` defaults to the table waiting.

    Returns:
        The workflow's answer, for people.

    Raises:
        NotPermittedError: the actor is not an engineer (the workflow checked).
        ConflictError: nothing waits for a decision, or not that table.
        BadInputError: an accept or abort without a reason.
        NotFoundError: no migration of the system is running.
        ServiceUnavailableError: Temporal, or every worker, did not answer.
    """
    client = await connect(settings)
    await grant(settings, actor, migration_id(system_id))  # the caller proved who acts
    table = table or await _waiting_table(client, system_id)
    decision = GateDecision(table=table, action=action, reason=_reason(reason), decided_by=actor)
    answer = await send_update(
        client.get_workflow_handle(migration_id(system_id)), "decide_gate", decision,
        what=f"the migration of {system_id}", missing=f"no migration of {system_id} is running",
    )  # fmt: skip
    log.info("migration.decided", system_id=system_id, action=action.value, table=table)
    return answer


async def control(
    settings: Settings, system_id: str, action: RunControlAction, *, actor: str, reason: str | None
) -> str:
    """An engineer's pause, resume or cancel of a system's migration.

    Raises:
        The errors of ``decide``.
    """
    client = await connect(settings)
    await grant(settings, actor, migration_id(system_id))  # the caller proved who acts
    request = RunControl(action=action, actor=actor, reason=_reason(reason))
    answer = await send_update(
        client.get_workflow_handle(migration_id(system_id)), "control", request,
        what=f"the migration of {system_id}", missing=f"no migration of {system_id} is running",
    )  # fmt: skip
    log.info("migration.controlled", system_id=system_id, action=action.value)
    return answer


# --- quarantined legacy records --------------------------------------------------------


def _quarantined_json(r: QuarantinedRecord) -> dict[str, Any]:
    return {
        "table": r.table_name, "record": r.record_number, "byte_offset": r.byte_offset,
        "reason": r.reason, "state": r.state.value, "raw_key": r.raw_key,
        "raw_sha256": r.raw_sha256, "raw_size": r.raw_size, "run_id": r.run_id,
        "decided_by": r.decided_by,
        "decided_at": r.decided_at.isoformat() if r.decided_at else None,
        "decision_reason": r.decision_reason,
    }  # fmt: skip


def quarantine_rows(
    settings: Settings, system_id: str, *, table: str | None = None
) -> list[dict[str, Any]]:
    """A system's quarantined legacy records (of one file or table), for people: where each
    is (table, record number, byte offset), why it was set aside, its raw bytes' storage
    key, and its state (open, accepted by whom and why, or re-run). Never a value."""
    with session_scope(settings.resolved_database_url) as session:
        return [_quarantined_json(r) for r in quarantined_records(session, system_id, table=table)]


def accept_quarantined(
    settings: Settings,
    system_id: str,
    table: str,
    *,
    actor: str,
    reason: str | None,
    records: Sequence[int] | None = None,
) -> int:
    """An engineer accepts a table's open quarantined records (these, or all when
    ``records`` is None) with a reason: each is marked accepted and written to the audit
    chain, and reconciliation stops counting it against the table.

    Returns:
        How many were accepted.

    Raises:
        NotPermittedError: the actor is not an active engineer (the refusal is audited).
        BadInputError: no reason, or an empty list of records.
        NotFoundError: a record asked for is not open in quarantine.
        ConflictError: the table has no open quarantined records.
    """
    reason = _reason(reason)
    if reason is None:
        raise BadInputError("accepting quarantined records needs a reason")
    if records is not None and not records:
        raise BadInputError("say which records with --record N, or --all")
    detail = {"table": table, "records": list(records) if records is not None else "all"}
    with session_scope(settings.resolved_database_url) as session:
        user = accounts.get_user_by_username(session, actor)
        allowed = user is not None and user.active and Role.ENGINEER.value in user.roles
        if not allowed:
            append_audit_event(session, actor=actor, action=QUARANTINE_ACCEPT_REFUSED,
                               subject_type="system", subject_id=system_id,
                               detail={**detail, "reason": reason})  # fmt: skip
    if not allowed:
        raise NotPermittedError(f"{actor} is not an active engineer; only an engineer may "
                                f"accept {system_id}'s quarantined records")  # fmt: skip
    with session_scope(settings.resolved_database_url) as session:
        waiting = {r.record_number for r in quarantined_records(
            session, system_id, table=table, state=QuarantineState.OPEN)}  # fmt: skip
        if not waiting:
            raise ConflictError(f"{system_id} has no open quarantined records in {table}")
        absent = sorted(set(records or ()) - waiting)
        if absent:
            raise NotFoundError(f"not open in {table}'s quarantine: record "
                                f"{', '.join(map(str, absent))}")  # fmt: skip
        accepted = accept_records(session, system_id, table, actor=actor, reason=reason,
                                  records=records)  # fmt: skip
    log.info("quarantine.accepted", system_id=system_id, table=table, records=len(accepted))
    return len(accepted)


__all__ = [
    "MigrationFailedError",
    "MigrationView",
    "RunStarted",
    "accept_quarantined",
    "check_plan",
    "control",
    "decide",
    "ended_badly",
    "migration_view",
    "migration_views",
    "quarantine_rows",
    "start_run",
    "store_run_plan",
    "validate_plan",
    "wait_for_run",
]

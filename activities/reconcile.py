"""Reconciliation activities: a table for the migration's gate, and every table of a
scheduled run after cutover (the CLI's in-process run is ``switchover.reconcile``).

They diff with ``adapters.reconciliation`` and store each table's report in the engine
database (``reconciliation_reports``). The activity answers the migration's gate with
counts and the differing keys (for a re-sync), never row values: the values stay in the
stored report, which ``report_id`` names. Nothing here logs a row value.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.service import RPCError

from activities import names
from activities.errors import translated
from adapters.change_capture import may_stream, open_stream, reconcile_at_position
from adapters.reconciliation import Budgets, Reconciler, open_reconciler
from adapters.reconciliation.engine import Reconciliation
from adapters.target import PostgresTarget, open_target
from config.log import get_logger
from config.migration_plan import MigrationPlan, load_plan
from config.settings import Settings
from db.models import QuarantineState, ReconciliationReport
from db.plans import serve_stored_plans
from db.programme import record_reconciliation
from db.quarantine import mark_rerun, quarantined_records, table_counts
from db.session import session_scope
from domain.migration import ProfileInput, ReconcileTableInput, ReconcileTableResult
from domain.reconciliation import TableReport, report_value, with_quarantined
from legacy_connectors.base import RECORD_NUMBER, Key, ReadStats

log = get_logger(__name__)


ReconcilerOpener = Callable[..., AbstractContextManager[Reconciler]]


def store_report(
    database_url: str,
    system_id: str,
    report: TableReport,
    *,
    run_id: str | None = None,
    system_passed: bool | None = None,
) -> int:
    """Store one table's report; optionally note the system's result on its programme row.

    Args:
        database_url: the engine database.
        system_id: the plan's system id.
        report: the table's report.
        run_id: the migration run (workflow id) it belongs to, if any.
        system_passed: the whole system's result to record on its row, when known.

    Returns:
        The stored report's id.
    """
    now = dt.datetime.now(dt.UTC)
    with session_scope(database_url) as session:
        row = ReconciliationReport(
            system_id=system_id, run_id=run_id, table_name=report.table,
            source_table=report.source_table, passed=report.passed,
            legacy_rows=report.legacy_rows, target_rows=report.target_rows,
            missing_count=report.missing_count, extra_count=report.extra_count,
            changed_count=report.changed_count, stopped=report.stopped, method=report.method,
            seconds=report.seconds, report=report.model_dump(mode="json"), created_at=now,
        )  # fmt: skip
        session.add(row)
        if system_passed is not None:
            record_reconciliation(session, system_id, passed=system_passed, at=now)
        session.flush()
        return row.id


def count_quarantined(database_url: str, system_id: str, report: TableReport) -> TableReport:
    """``report`` with its table's open quarantined records counted (it fails while any
    is), and the accepted ones accounting for a legacy count that includes them."""
    with session_scope(database_url) as session:
        counts = table_counts(session, system_id, report.source_table)
    return with_quarantined(report, system_id, counts[QuarantineState.OPEN],
                            counts[QuarantineState.ACCEPTED])  # fmt: skip


def _wire_key(legacy: Any, table: str, key: Sequence[str], values: list[Any]) -> Key:
    """A key as JSON carried it, typed again as the source's columns are."""
    from activities.migrate import key_from_wire

    info = next((t for t in legacy.describe() if t.name == table), None)
    typed = key_from_wire(info, key, values) if info is not None else tuple(values)
    return tuple(values) if typed is None else typed


@dataclass
class ReconcileActivities:
    """The reconcile activity, run on the IO queue.

    Attributes:
        database_url: the engine database, where reports are stored.
        budgets: time and diff budgets and the sample size of every run (also how many
            differing keys go back to the workflow, for people: a re-sync finds them all
            itself, so that Temporal's history stays small).
        heartbeat: called with progress notes (the activity's heartbeat).
        opener: opens a reconciler for a plan (tests hand in their own).
        target_opener: opens the target for writing, to apply a change stream.
    """

    database_url: str
    budgets: Budgets = field(default_factory=Budgets)
    heartbeat: Callable[..., None] = activity.heartbeat
    opener: ReconcilerOpener = open_reconciler
    target_opener: Callable[[Any], PostgresTarget] = open_target

    def __post_init__(self) -> None:
        serve_stored_plans(self.database_url)  # runs carry their stored plan's reference

    @classmethod
    def from_settings(cls, settings: Settings) -> ReconcileActivities:
        return cls(settings.resolved_database_url)

    @activity.defn(name=names.RECONCILE_TABLE)
    @translated
    def reconcile_table(self, request: ReconcileTableInput) -> ReconcileTableResult:
        """Diff one table (or only some keys of it), store the report, answer the gate.

        A failed table marks the system's last reconciliation failed; the workflow marks
        it passed when every table's gate has passed.
        """
        plan = load_plan(request.plan_path)
        table_plan = plan.table(request.table)
        info = activity.info() if activity.in_activity() else None
        with self.opener(plan, budgets=self.budgets, progress=self.heartbeat) as reconciler:
            only = None
            if request.keys is not None:
                key = table_plan.key or _declared_key(reconciler, table_plan.source)
                only = [
                    _wire_key(reconciler.legacy, table_plan.source, key, k) for k in request.keys
                ]
            self._recheck_quarantined(plan, reconciler, table_plan.source)
            result = self._reconcile(plan, reconciler, request.table, only)
        report = count_quarantined(self.database_url, plan.system.id, result.report)
        report_id = store_report(
            self.database_url, plan.system.id, report,
            run_id=info.workflow_id if info is not None else None,
            system_passed=False if not report.passed else None,
        )  # fmt: skip
        return self._result(report, report_id, result).model_copy(update={"table": request.table})

    def _result(
        self, report: TableReport, report_id: int, result: Reconciliation
    ) -> ReconcileTableResult:
        """The gate's answer from a stored report: counts and a sample of keys."""
        keys = result.keys.legacy_side[: self.budgets.samples]
        return ReconcileTableResult(
            table=report.source_table,
            passed=report.passed,
            legacy_rows=report.legacy_rows,
            target_rows=report.target_rows,
            missing=report.missing_count,
            extra=report.extra_count,
            changed=report.changed_count,
            differing_keys=[[report_value(v) for v in k] for k in keys],
            stopped=report.stopped,
            report_id=report_id,
            in_flight=report.in_flight,
            position=report.position,
            quarantined=report.quarantined,
        )

    @activity.defn(name=names.RECONCILE_SCHEDULED)
    @translated
    def reconcile_scheduled(self, request: ProfileInput) -> list[ReconcileTableResult]:
        """Reconcile every table of the plan within the budgets of its ``reconcile``
        section (a scheduled run after cutover): each table gets what is left of the
        run's time, and the diff stops one difference past what the run may find. A
        table passes when it finished and the run's differences so far are within budget.
        """
        plan = load_plan(request.plan_path)
        budget = plan.reconcile
        deadline = time.monotonic() + budget.max_minutes * 60
        info = activity.info() if activity.in_activity() else None
        allowed, results = budget.max_differences, []
        for index, table_plan in enumerate(plan.tables):
            left = deadline - time.monotonic()
            if left <= 0:
                stopped = f"not reached within the run's {budget.max_minutes:g} minutes"
                results.append(ReconcileTableResult(table=table_plan.source, passed=False,
                                                    stopped=stopped))  # fmt: skip
                continue
            budgets = Budgets(time_s=left, differences=max(allowed, 0) + 1,
                              samples=self.budgets.samples)  # fmt: skip
            with self.opener(plan, budgets=budgets, progress=self.heartbeat) as reconciler:
                self._recheck_quarantined(plan, reconciler, table_plan.source)
                found = self._reconcile(plan, reconciler, table_plan.source, None)
            report = count_quarantined(self.database_url, plan.system.id, found.report)
            differences = (report.missing_count + report.extra_count + report.changed_count
                           + report.quarantined)  # fmt: skip
            within = report.stopped is None and differences <= allowed
            allowed = max(allowed - differences, 0) if within else -1
            last = index == len(plan.tables) - 1
            report_id = store_report(
                self.database_url, plan.system.id, report,
                run_id=info.workflow_id if info is not None else None,
                system_passed=False if not within else (True if last else None),
            )  # fmt: skip
            result = self._result(report, report_id, found)
            results.append(result.model_copy(update={"passed": within}))
        return results

    @activity.defn(name=names.SYSTEM_STAGE)
    @translated
    def system_stage(self, system_id: str) -> str:
        """The system's stage (``domain.systems.SystemStage``); "" when unregistered."""
        from db.models import System

        with session_scope(self.database_url) as session:
            system = session.get(System, system_id)
            return system.stage.value if system is not None else ""

    @activity.defn(name=names.PAUSE_SCHEDULE)
    async def pause_schedule(self, schedule_id: str) -> None:
        """Pause a schedule, with a note saying why (the system it checks is retired)."""
        handle = activity.client().get_schedule_handle(schedule_id)
        with contextlib.suppress(RPCError):  # gone already: nothing left to stop
            await handle.pause(note="the system is retired: nothing left to reconcile")

    def _recheck_quarantined(self, plan: MigrationPlan, reconciler: Reconciler, table: str) -> None:
        """Mark ``rerun`` the table's open quarantined records that the source now reads (a
        fixed plan): one pass in file order, only when some are open."""
        if not getattr(plan.source, "quarantine_bad_records", False):
            return  # without quarantine a record that is still bad would stop the pass
        with session_scope(self.database_url) as session:
            waiting = {r.record_number for r in quarantined_records(
                session, plan.system.id, table=table, state=QuarantineState.OPEN)}  # fmt: skip
        if not waiting:
            return
        stats = ReadStats()
        for _batch in reconciler.legacy.read(table, [RECORD_NUMBER], stats=stats):
            self.heartbeat()
        still_bad = {s.record_number for s in stats.skipped if s.table == table}
        with session_scope(self.database_url) as session:
            fixed = mark_rerun(session, plan.system.id, table, waiting - still_bad)
        if fixed:
            log.info("quarantine.rerun", system=plan.system.id, table=table, records=fixed)

    def _reconcile(
        self, plan: MigrationPlan, reconciler: Reconciler, table: str, only: list[Key] | None
    ) -> Reconciliation:
        """The whole table at a change-stream position where the system has a stream (so
        that writes during the compare are not differences); else as it stands."""
        if only is None and may_stream(plan):
            target = self.target_opener(plan.target)
            try:
                with open_stream(plan, reconciler.legacy, target) as stream:
                    if stream is not None:
                        return reconcile_at_position(
                            reconciler, stream, table, heartbeat=lambda: self.heartbeat()
                        )
            finally:
                target.close()
        return reconciler.reconcile(table, only=only)

    def all(self) -> list[Callable[..., Any]]:
        return [self.reconcile_table, self.reconcile_scheduled, self.system_stage,
                self.pause_schedule]  # fmt: skip


def _declared_key(reconciler: Reconciler, table: str) -> list[str]:
    info = next((t for t in reconciler.legacy.describe() if t.name == table), None)
    return list(info.key or ()) if info is not None else []

"""``switchover reconcile PLAN``: legacy against target in this process, the reports
stored in the engine database as the migration's are (``activities.reconcile``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from activities.reconcile import ReconcilerOpener, count_quarantined, store_report
from adapters.reconciliation import Budgets, open_reconciler
from config.migration_plan import MigrationPlan, load_plan
from config.settings import Settings
from domain.reconciliation import SystemReport


def reconcile_plan(
    database_url: str,
    plan: MigrationPlan,
    *,
    tables: Sequence[str] = (),
    budgets: Budgets | None = None,
    opener: ReconcilerOpener = open_reconciler,
) -> SystemReport:
    """Reconcile a plan's tables in this process (``switchover reconcile``) and store the
    reports, noting the system's result on its programme row when it is registered.

    Args:
        database_url: the engine database (migrated to the newest schema).
        plan: the plan.
        tables: source or target names of the tables to reconcile; default all.
        budgets: time and diff budgets and the sample size.
        opener: opens a reconciler for the plan.

    Raises:
        PlanError: a table the plan does not have, or a plan that does not fit the data.
        DatabaseError: a database cannot be reached.
    """
    chosen = [plan.table(name) for name in tables] if tables else list(plan.tables)
    reports = []
    with opener(plan, budgets=budgets) as reconciler:
        for table_plan in chosen:
            report = reconciler.reconcile_table(table_plan.source)
            reports.append(count_quarantined(database_url, plan.system.id, report))
    system = SystemReport(system=plan.system.id, tables=reports)
    for index, report in enumerate(reports):
        last = index == len(reports) - 1
        store_report(database_url, plan.system.id, report,
                     system_passed=system.passed if last else None)  # fmt: skip
    return system


def reconcile_file(
    settings: Settings, plan_file: Path, *, tables: Sequence[str] = (), budgets: Budgets
) -> SystemReport:
    """``switchover reconcile PLAN``: the plan file loaded, the engine database brought up
    to date if it is behind (the reports need their table), and ``reconcile_plan``.

    Raises:
        PlanError: the plan does not load, or names a table it does not have.
        DatabaseError: a database cannot be reached.
    """
    from db.migrate import current_revision, head_revision, upgrade

    plan = load_plan(plan_file)
    url = settings.resolved_database_url
    if current_revision(url) != head_revision():
        upgrade(url)
    return reconcile_plan(url, plan, tables=tables, budgets=budgets)


__all__ = ["reconcile_file", "reconcile_plan"]

"""The programme manager's figures, computed in the database from the engine's tables.

Every figure the dashboard shows comes from here, so a test can check each against
rows it seeded, and the CSV/JSON exports say exactly what the page says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db.models import (
    FormRecord,
    LedgerEntry,
    LedgerKind,
    ReviewStatus,
    ReviewTask,
    System,
    SystemStageChange,
)
from domain.digitise import RecordStatus
from domain.errors import NotFoundError
from domain.systems import RED_RISK_SCORE, SystemStage

ZERO = Decimal("0.00")


def _pounds(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class SystemSummary:
    """One row of the systems table."""

    id: str
    name: str
    department: str
    stage: str  # as people read it: "cutover 25%"
    stage_order: int
    risk_score: int
    risk_red: bool
    traffic_on_modern_percent: int
    rows_migrated: int
    rows_total: int | None
    last_reconciliation: str  # "passed", "failed" or "not yet"
    last_reconciliation_at: dt.datetime | None
    savings_to_date_gbp: Decimal
    projected_savings_per_year_gbp: Decimal


def _traffic_percent(system: System) -> int:
    if system.stage.order > SystemStage.CUTOVER.order:
        return 100
    if system.stage is SystemStage.CUTOVER:
        return system.cutover_percent or 0
    return 0


def register_system(
    session: Session,
    *,
    system_id: str,
    name: str,
    department: str,
    risk_score: int,
    annual_run_cost_gbp: Decimal,
    migration_cost_gbp: Decimal,
    actor: str,
    at: dt.datetime | None = None,
) -> System:
    """Add a legacy system to the programme at the planned stage (or return it if known)."""
    system = session.get(System, system_id)
    if system is not None:
        return system
    now = at or dt.datetime.now(dt.UTC)
    system = System(
        id=system_id, name=name, department=department, stage=SystemStage.PLANNED,
        risk_score=risk_score, annual_run_cost_gbp=annual_run_cost_gbp,
        migration_cost_gbp=migration_cost_gbp, rows_migrated=0, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(system)
    session.add(SystemStageChange(system_id=system_id, stage=SystemStage.PLANNED,
                                  occurred_at=now, actor=actor))  # fmt: skip
    session.flush()
    return system


def move_system(
    session: Session,
    system_id: str,
    stage: SystemStage,
    *,
    actor: str,
    cutover_percent: int | None = None,
    note: str | None = None,
    at: dt.datetime | None = None,
) -> System:
    """Move a system to a stage (or to another cutover share) and record the step.

    Raises:
        NotFoundError: no such system.
        ValueError: a cutover share outside 0..100, or one given for another stage.
    """
    system = session.get(System, system_id)
    if system is None:
        raise NotFoundError(f"no legacy system {system_id!r}")
    if cutover_percent is not None and (
        stage is not SystemStage.CUTOVER or not 0 <= cutover_percent <= 100
    ):
        raise ValueError("a cutover share is 0..100 and belongs to the cutover stage")
    now = at or dt.datetime.now(dt.UTC)
    system.stage = stage
    system.cutover_percent = cutover_percent
    system.updated_at = now
    if stage is SystemStage.RETIRED and system.retired_on is None:
        system.retired_on = now.date()
    session.add(SystemStageChange(system_id=system_id, stage=stage, cutover_percent=cutover_percent,
                                  occurred_at=now, actor=actor, note=note))  # fmt: skip
    session.flush()
    return system


def system_summaries(session: Session) -> list[SystemSummary]:
    """Every legacy system with its stage, risk, progress and savings, riskiest first."""
    saved = dict(
        session.execute(
            select(LedgerEntry.subject, func.sum(LedgerEntry.amount_gbp))
            .where(LedgerEntry.kind == LedgerKind.SYSTEM)
            .group_by(LedgerEntry.subject)
        ).all()
    )
    rows = []
    for system in session.scalars(select(System).order_by(System.risk_score.desc(), System.id)):
        passed = system.last_reconciliation_passed
        rows.append(
            SystemSummary(
                id=system.id,
                name=system.name,
                department=system.department,
                stage=system.stage.label(system.cutover_percent),
                stage_order=system.stage.order,
                risk_score=system.risk_score,
                risk_red=system.risk_score >= RED_RISK_SCORE,
                traffic_on_modern_percent=_traffic_percent(system),
                rows_migrated=system.rows_migrated,
                rows_total=system.rows_total,
                last_reconciliation="not yet" if passed is None
                else ("passed" if passed else "failed"),
                last_reconciliation_at=system.last_reconciliation_at,
                savings_to_date_gbp=Decimal(saved.get(system.id) or ZERO),
                # Retiring a system saves its whole run cost, every year after.
                projected_savings_per_year_gbp=system.annual_run_cost_gbp,
            )
        )  # fmt: skip
    return rows


def stage_history(session: Session, system_id: str) -> tuple[System, list[SystemStageChange]]:
    """A system and the stages it went through, oldest first.

    Raises:
        NotFoundError: no such system.
    """
    system = session.get(System, system_id)
    if system is None:
        raise NotFoundError(f"no legacy system {system_id!r}")
    changes = session.scalars(
        select(SystemStageChange)
        .where(SystemStageChange.system_id == system_id)
        .order_by(SystemStageChange.occurred_at, SystemStageChange.id)
    ).all()
    return system, list(changes)


def systems_by_stage(session: Session) -> list[tuple[SystemStage, int]]:
    """How many systems stand at each stage, every stage listed in order."""
    counts = dict(session.execute(select(System.stage, func.count()).group_by(System.stage)).all())
    return [(stage, int(counts.get(stage, 0))) for stage in SystemStage]


@dataclass(frozen=True)
class DigitisationFigures:
    forms_received: int
    forms_decided: int
    auto_approved: int
    straight_through_percent: float  # auto-approved share of decided forms
    quarantined: int
    review_backlog: int
    oldest_backlog_hours: float | None
    sla_breaches: int  # open tasks past their deadline
    cost_per_form_before_gbp: Decimal  # every form handled on paper
    cost_per_form_after_gbp: Decimal  # the digital path


def digitisation_figures(
    session: Session, *, now: dt.datetime, costs: Mapping[str, tuple[Decimal, Decimal]]
) -> DigitisationFigures:
    """Forms received and how they went, the review backlog, and cost per form.

    Args:
        session: a session.
        now: the time to measure ages and deadlines against (timezone-aware).
        costs: per form type, (paper cost, digital cost) from the templates.
    """
    by_status = dict(
        session.execute(select(FormRecord.status, func.count()).group_by(FormRecord.status)).all()
    )
    received = sum(by_status.values())
    decided = by_status.get(RecordStatus.APPROVED, 0) + by_status.get(RecordStatus.REJECTED, 0)
    reviewed = select(ReviewTask.record_id)
    auto = (
        session.scalar(
            select(func.count())
            .select_from(FormRecord)
            .where(FormRecord.status == RecordStatus.APPROVED, FormRecord.id.not_in(reviewed))
        )
        or 0
    )
    backlog, oldest, breaches = session.execute(
        select(
            func.count(),
            func.min(ReviewTask.created_at),
            func.sum(case((ReviewTask.due_at < now, 1), else_=0)),
        ).where(ReviewTask.status == ReviewStatus.OPEN)
    ).one()
    per_type = session.execute(
        select(FormRecord.form_type, func.count())
        .where(FormRecord.form_type.is_not(None))
        .group_by(FormRecord.form_type)
    ).all()
    known = [(costs[t], n) for t, n in per_type if t is not None and t in costs]
    counted = sum(n for _, n in known)
    before = sum((paper * n for (paper, _), n in known), ZERO)
    after = sum((digital * n for (_, digital), n in known), ZERO)
    oldest_hours = None
    if oldest is not None:
        oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.UTC)
        oldest_hours = (now - oldest_at).total_seconds() / 3600
    return DigitisationFigures(
        forms_received=received,
        forms_decided=decided,
        auto_approved=int(auto),
        straight_through_percent=100 * auto / decided if decided else 0.0,
        quarantined=by_status.get(RecordStatus.QUARANTINED, 0),
        review_backlog=int(backlog or 0),
        oldest_backlog_hours=oldest_hours,
        sla_breaches=int(breaches or 0),
        cost_per_form_before_gbp=_pounds(before / counted) if counted else ZERO,
        cost_per_form_after_gbp=_pounds(after / counted) if counted else ZERO,
    )


def cumulative_savings(session: Session) -> list[tuple[dt.date, Decimal]]:
    """Savings to date, day by day (days with entries), forms and systems together."""
    total = ZERO
    series = []
    for day, amount in session.execute(
        select(LedgerEntry.occurred_on, func.sum(LedgerEntry.amount_gbp))
        .group_by(LedgerEntry.occurred_on)
        .order_by(LedgerEntry.occurred_on)
    ):
        total += Decimal(amount)
        series.append((day, total))
    return series


def forms_per_day(session: Session, *, days: Sequence[dt.date]) -> list[tuple[dt.date, int, int]]:
    """For each day: forms received that day, and the review backlog at its end."""
    if not days:
        return []
    start = dt.datetime.combine(days[0], dt.time(), tzinfo=dt.UTC)
    received = (
        session.execute(select(FormRecord.created_at).where(FormRecord.created_at >= start))
        .scalars()
        .all()
    )
    tasks = session.execute(select(ReviewTask.created_at, ReviewTask.decided_at)).all()
    out = []
    for day in days:
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        on_day = sum(1 for at in received if at.date() == day)
        backlog = sum(1 for created, decided in tasks
                      if created < end and (decided is None or decided >= end))  # fmt: skip
        out.append((day, on_day, backlog))
    return out


def record_reconciliation(
    session: Session, system_id: str, *, passed: bool, at: dt.datetime | None = None
) -> bool:
    """Note a system's latest reconciliation on its row, for the dashboard.

    Returns:
        False when the system is not in the programme yet (nothing to update).
    """
    system = session.get(System, system_id)
    if system is None:
        return False
    now = at or dt.datetime.now(dt.UTC)
    system.last_reconciliation_passed = passed
    system.last_reconciliation_at = now
    system.updated_at = now
    session.flush()
    return True

"""The programme dashboard: every legacy system on its road to retirement, how
digitisation is going, and what it has all saved, with CSV and JSON exports of every
table shown.

The figures come from ``db.programme``; this module only lays them out. Charts are
server-side SVG (``switchover.web.svg_charts``) with the same figures as tables beside
them, so the page works without JavaScript and reads well to a screen reader.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from config.settings import Settings
from db import programme
from db.audit import append_audit_event
from db.models import Role
from db.session import session_scope
from domain.systems import SystemStage
from switchover.exports import csv_text
from switchover.records import retention_due
from switchover.web.auth import CurrentUser, Manager, require_role
from switchover.web.rendering import render
from switchover.web.routers.cutover import page_notice, system_page
from switchover.web.svg_charts import BLUE, GREEN, GREY, RED, Bar, Point, bar_chart
from switchover.web.svg_charts import cumulative_savings_chart as savings_chart

router = APIRouter(prefix="/dashboard")

SystemReader = Annotated[CurrentUser, Depends(require_role(Role.MANAGER, Role.ENGINEER))]
CHART_DAYS = 14
STAGE_COLOURS = {SystemStage.RETIRED: GREEN, SystemStage.PLANNED: GREY}


@dataclass(frozen=True)
class Table:
    """A table as the page shows it and as it is exported: headings and plain values."""

    name: str
    caption: str
    headings: Sequence[str]
    rows: Sequence[Sequence[Any]]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _costs(request: Request) -> dict[str, tuple[Decimal, Decimal]]:
    return {
        form_type: (t.costs.paper_gbp, t.costs.digital_gbp)
        for form_type, t in request.app.state.form_templates.items()
    }


def _tables(request: Request) -> tuple[dict[str, Table], dict[str, Any]]:
    """Every table of the dashboard, plus the figures the page shows around them."""
    settings = _settings(request)
    now = dt.datetime.now(dt.UTC)
    days = [now.date() - dt.timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    with session_scope(settings.resolved_database_url) as session:
        systems = programme.system_summaries(session)
        by_stage = programme.systems_by_stage(session)
        forms = programme.digitisation_figures(session, now=now, costs=_costs(request))
        savings = programme.cumulative_savings(session)
        per_day = programme.forms_per_day(session, days=days)
    tables = {
        "systems": Table(
            "systems",
            "Legacy systems, riskiest first",
            ["System", "Department", "Stage", "Risk score", "Traffic on modern (%)",
             "Rows migrated", "Last reconciliation", "Saved to date (£)",
             "Projected saving a year (£)", "Id"],
            [[s.name, s.department, s.stage, s.risk_score, s.traffic_on_modern_percent,
              s.rows_migrated, s.last_reconciliation, s.savings_to_date_gbp,
              s.projected_savings_per_year_gbp, s.id] for s in systems],
        ),
        "stages": Table(
            "stages", "Systems by stage", ["Stage", "Systems"],
            [[stage.value, count] for stage, count in by_stage],
        ),
        "digitisation": Table(
            "digitisation", "Digitisation", ["Measure", "Value"],
            [["Forms received", forms.forms_received],
             ["Forms decided", forms.forms_decided],
             ["Approved without review", forms.auto_approved],
             ["Straight-through rate (%)", round(forms.straight_through_percent, 1)],
             ["Quarantined", forms.quarantined],
             ["Review backlog", forms.review_backlog],
             ["Oldest in backlog (hours)",
              None if forms.oldest_backlog_hours is None else round(forms.oldest_backlog_hours, 1)],
             ["Past their deadline", forms.sla_breaches],
             ["Cost per form on paper (£)", forms.cost_per_form_before_gbp],
             ["Cost per form digitised (£)", forms.cost_per_form_after_gbp]],
        ),
        "forms-per-day": Table(
            "forms-per-day", f"Forms received and review backlog, last {CHART_DAYS} days",
            ["Day", "Forms received", "Backlog at end of day"],
            [[day.isoformat(), received, backlog] for day, received, backlog in per_day],
        ),
        "savings": Table(
            "savings", "Cumulative savings", ["Day", "Saved to date (£)"],
            [[day.isoformat(), total] for day, total in savings],
        ),
    }  # fmt: skip
    figures = {
        "systems": systems,
        "by_stage": by_stage,
        "forms": forms,
        "savings": savings,
        "per_day": per_day,
        "saved_to_date": savings[-1][1] if savings else Decimal("0.00"),
        "projected_per_year": sum(
            (s.projected_savings_per_year_gbp for s in systems), Decimal("0.00")
        ),
        "red": sum(1 for s in systems if s.risk_red),
    }
    return tables, figures


@router.get("")
def dashboard(request: Request, user: Manager) -> Response:
    """The whole programme on one page."""
    tables, figures = _tables(request)
    settings = _settings(request)
    target = settings.savings_target_gbp_per_year
    days = [f"{day:%d %b}" for day, _, _ in figures["per_day"]]
    charts = {
        "savings": savings_chart(
            "savings-chart", [Point(d, v) for d, v in figures["savings"]], target
        ),
        "stages": bar_chart(
            "stages-chart",
            "Systems by stage",
            [Bar(stage.value, count, STAGE_COLOURS.get(stage, BLUE))
             for stage, count in figures["by_stage"]],
        ),
        "forms": bar_chart(
            "forms-chart",
            f"Forms received per day, last {CHART_DAYS} days",
            [Bar(day, received)
             for day, (_, received, _) in zip(days, figures["per_day"], strict=True)],
        ),
        "backlog": bar_chart(
            "backlog-chart",
            f"Review backlog at the end of each day, last {CHART_DAYS} days",
            [Bar(day, backlog, RED if backlog else GREY)
             for day, (_, _, backlog) in zip(days, figures["per_day"], strict=True)],
        ),
    }  # fmt: skip
    _audit(request, user.username, "dashboard.viewed", "dashboard", "programme")
    return render(
        request,
        "dashboard/programme.html",
        {"title": "Programme dashboard", "tables": tables, "charts": charts, **figures,
         "target": target,
         "retention": retention_due(settings, request.app.state.form_templates)},
    )  # fmt: skip


@router.get("/systems/{system_id}")
async def system(request: Request, system_id: str, user: SystemReader) -> Response:
    """One system: its figures, every stage it went through, its cutover and retirement.

    Engineers see it too: it is where they approve and steer the cutover.
    """
    page = await system_page(request, user, system_id, notice=page_notice(request))
    await run_in_threadpool(
        _audit, request, user.username, "dashboard.system_viewed", "system", system_id
    )
    return page


@router.get("/export/{table}.{fmt}")
def export(request: Request, table: str, fmt: str, user: Manager) -> Response:
    """A table of the dashboard as CSV or JSON, exactly as the page shows it."""
    tables, _ = _tables(request)
    if table not in tables or fmt not in ("csv", "json"):
        raise HTTPException(404, "There is no such export.")
    chosen = tables[table]
    _audit(request, user.username, "dashboard.exported", "dashboard", f"{table}.{fmt}")
    filename = f"switchover-{table}-{dt.date.today().isoformat()}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "json":
        body = json.dumps(
            [dict(zip(chosen.headings, row, strict=True)) for row in chosen.rows],
            default=_plain, indent=2,
        )  # fmt: skip
        return Response(body, media_type="application/json", headers=headers)
    # Names in these tables come from plans and forms: no cell may run as a formula.
    body = csv_text(chosen.headings, [[_plain(v) for v in row] for row in chosen.rows])
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _audit(request: Request, actor: str, action: str, subject_type: str, subject: str) -> None:
    with session_scope(_settings(request).resolved_database_url) as session:
        append_audit_event(
            session, actor=actor, action=action, subject_type=subject_type, subject_id=subject
        )

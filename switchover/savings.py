"""``switchover savings report``: what the programme saves, from the ledger.

The ledger is first brought up to today (every retired system's day-by-day run cost
avoided; idempotent, as the nightly schedule does), so the report is current even where no
worker runs the schedule. Then: the ledger's totals, each system with its stage, CDDO risk
score, savings to date and projected a year, the same per department, systems by stage,
and the cost of handling a form before and after digitisation.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any, TextIO

from config.settings import Settings
from switchover.exports import write_csv


def savings_report(settings: Settings, *, today: dt.date | None = None) -> dict[str, Any]:
    """The report as plain data (amounts as strings of pounds and pence)."""
    from config.form_template import load_templates
    from db import ledger, programme
    from db.session import session_scope

    templates = load_templates(settings.forms_dir)
    costs = {name: (t.costs.paper_gbp, t.costs.digital_gbp) for name, t in templates.items()}
    now = dt.datetime.now(dt.UTC)
    with session_scope(settings.resolved_database_url) as session:
        ledger.accrue_system_savings(session, today=today or now.date())
        totals = ledger.ledger_totals(session)
        systems = programme.system_summaries(session)
        stages = programme.systems_by_stage(session)
        forms = programme.digitisation_figures(session, now=now, costs=costs)
    departments: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"saved_to_date_gbp": Decimal(0), "projected_per_year_gbp": Decimal(0)}
    )
    for system in systems:
        department = departments[system.department or "(none)"]
        department["saved_to_date_gbp"] += system.savings_to_date_gbp
        department["projected_per_year_gbp"] += system.projected_savings_per_year_gbp
    return {
        "ledger": [
            {
                "kind": t.kind.value,
                "subject": t.subject,
                "entries": t.count,
                "amount_gbp": str(t.total_gbp),
            }
            for t in totals
        ],
        "total_gbp": str(sum((t.total_gbp for t in totals), Decimal(0))),
        "systems": [
            {
                "system": s.id,
                "name": s.name,
                "department": s.department,
                "stage": s.stage,
                "risk_score": s.risk_score,
                "risk_red": s.risk_red,
                "saved_to_date_gbp": str(s.savings_to_date_gbp),
                "projected_per_year_gbp": str(s.projected_savings_per_year_gbp),
            }
            for s in systems
        ],
        "departments": [
            {"department": name, **{k: str(v) for k, v in figures.items()}}
            for name, figures in sorted(departments.items())
        ],
        "systems_by_stage": [{"stage": stage.value, "systems": n} for stage, n in stages],
        "cost_per_form": {
            "before_gbp": str(forms.cost_per_form_before_gbp),
            "after_gbp": str(forms.cost_per_form_after_gbp),
            "forms_decided": forms.forms_decided,
        },
    }


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report for people, as lines of text."""

    def pounds(text: str) -> str:
        return f"£{Decimal(text):>14,.2f}"

    lines = ["Ledger"]
    for row in report["ledger"]:
        lines.append(f"  {row['kind']:<8} {row['subject']:<30} {row['entries']:>7}  "
                     f"{pounds(row['amount_gbp'])}")  # fmt: skip
    lines.append(f"  {'total':<39} {'':>7}  {pounds(report['total_gbp'])}")
    if report["systems"]:
        lines += ["", "Systems (riskiest first)"]
        for s in report["systems"]:
            risk = f"{s['risk_score']}{' red' if s['risk_red'] else ''}"
            lines.append(
                f"  {s['system']:<24} {s['stage']:<14} risk {risk:<7} saved "
                f"{pounds(s['saved_to_date_gbp'])}  a year {pounds(s['projected_per_year_gbp'])}"
            )
        lines += ["", "Departments"]
        for d in report["departments"]:
            lines.append(f"  {d['department']:<40} saved {pounds(d['saved_to_date_gbp'])}  "
                         f"a year {pounds(d['projected_per_year_gbp'])}")  # fmt: skip
        by_stage = ", ".join(
            f"{s['stage']} {s['systems']}" for s in report["systems_by_stage"] if s["systems"]
        )
        lines += ["", f"Systems by stage: {by_stage}"]
    cost = report["cost_per_form"]
    lines += [
        "",
        f"Cost per form: £{Decimal(cost['before_gbp']):,.2f} on paper, "
        f"£{Decimal(cost['after_gbp']):,.2f} digitised ({cost['forms_decided']} forms decided)",
    ]
    return lines


def write_ledger_csv(report: dict[str, Any], out: TextIO) -> None:
    """The ledger's totals as CSV (``savings report --csv``), safe to open in a spreadsheet:
    a subject (a system id or form type from a plan or template) never runs as a formula."""
    write_csv(
        out,
        ["kind", "subject", "entries", "amount_gbp"],
        ([r["kind"], r["subject"], r["entries"], r["amount_gbp"]] for r in report["ledger"]),
    )

"""``switchover savings report`` over a real engine database: the ledger brought up to
today first, systems with stage and risk, departments, systems by stage, cost per form."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from config.settings import Settings
from db.migrate import upgrade
from db.programme import move_system, register_system
from db.session import session_scope
from domain.systems import SystemStage
from switchover.savings import report_lines, savings_report


def test_the_report_accrues_to_today_and_adds_up_per_system_and_department(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path / "state")
    upgrade(settings.resolved_database_url)
    with session_scope(settings.resolved_database_url) as session:
        for system_id, department, cost, risk in (
            ("legacy-a", "Benefits", 36500, 22),
            ("legacy-b", "Benefits", 73000, 12),
            ("legacy-c", "Licensing", 10000, 18),
        ):
            register_system(session, system_id=system_id, name=system_id, department=department,
                            risk_score=risk, annual_run_cost_gbp=Decimal(cost),
                            migration_cost_gbp=Decimal(1000), actor="test")  # fmt: skip
        # Retired on 2027-03-01; the report is for 2027-03-10: ten days at £100 a day.
        move_system(session, "legacy-a", SystemStage.RETIRED, actor="test",
                    at=dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC))  # fmt: skip
        move_system(session, "legacy-b", SystemStage.CUTOVER, cutover_percent=25, actor="test")
    report = savings_report(settings, today=dt.date(2027, 3, 10))

    systems = {s["system"]: s for s in report["systems"]}
    assert systems["legacy-a"]["saved_to_date_gbp"] == "0.00"  # 10 × £100 − £1,000
    assert systems["legacy-a"]["stage"] == "retired"
    assert systems["legacy-a"]["projected_per_year_gbp"] == "36500.00"
    assert systems["legacy-b"]["stage"] == "cutover 25%"
    assert systems["legacy-b"]["saved_to_date_gbp"] == "0.00"
    assert report["systems"][0]["system"] == "legacy-a"  # riskiest first
    assert systems["legacy-a"]["risk_red"] is True
    assert systems["legacy-b"]["risk_red"] is False
    departments = {d["department"]: d for d in report["departments"]}
    assert set(departments) == {"Benefits", "Licensing"}
    assert report["ledger"] == [
        {"kind": "system", "subject": "legacy-a", "entries": 11, "amount_gbp": "0.00"}
    ]
    stages = {s["stage"]: s["systems"] for s in report["systems_by_stage"]}
    assert (stages["retired"], stages["cutover"], stages["planned"]) == (1, 1, 1)
    # Asking again adds nothing: the ledger is append-only and accrued once per day.
    again = savings_report(settings, today=dt.date(2027, 3, 10))
    assert again["ledger"] == report["ledger"]
    text = "\n".join(report_lines(report))
    assert "Systems by stage: planned 1, cutover 1, retired 1" in text
    assert "Cost per form:" in text

"""The programme dashboard's figures match rows seeded in the database, on both backends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from db import documents, ledger, records, review
from db.models import LedgerKind
from db.programme import (
    cumulative_savings,
    digitisation_figures,
    forms_per_day,
    move_system,
    register_system,
    stage_history,
    system_summaries,
    systems_by_stage,
)
from db.session import session_scope
from domain.digitise import RecordStatus
from domain.errors import NotFoundError
from domain.forms import ExtractedField, ReviewReason
from domain.systems import SystemStage

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
COSTS = {"register-to-vote": (Decimal("6.80"), Decimal("0.42")),
         "legal-aid-means": (Decimal("14.50"), Decimal("1.10"))}  # fmt: skip


def seed_systems(url: str) -> None:
    with session_scope(url) as s:
        for sid, risk, cost in [("electoral", 22, "420000"), ("benefits", 12, "95000"),
                                ("payroll", 16, "60000")]:  # fmt: skip
            register_system(s, system_id=sid, name=sid.title(), department="Dept",
                            risk_score=risk, annual_run_cost_gbp=Decimal(cost),
                            migration_cost_gbp=Decimal("1000"), actor="eng", at=T0)  # fmt: skip
        move_system(s, "electoral", SystemStage.MIGRATING, actor="eng", at=T0 + dt.timedelta(1))
        move_system(s, "electoral", SystemStage.CUTOVER, cutover_percent=25, actor="eng",
                    at=T0 + dt.timedelta(9))  # fmt: skip
        move_system(s, "payroll", SystemStage.RETIRED, actor="eng", at=T0 + dt.timedelta(3))
        ledger.add_ledger_entry(s, kind=LedgerKind.SYSTEM, subject="payroll", ref="payroll:d1",
                                amount_gbp=Decimal("164.38"),
                                occurred_on=(T0 + dt.timedelta(4)).date())  # fmt: skip


def seed_forms(url: str) -> None:
    """Four forms: two auto-approved, one approved after review, one still in review
    (past its SLA), and one quarantined."""
    field = {"surname": ExtractedField(value="X", confidence=0.9, valid=True)}
    reason = [ReviewReason(field="surname", code="low_confidence", detail="doubtful")]
    with session_scope(url) as s:
        for n, (status, form_type, task) in enumerate([
            (RecordStatus.APPROVED, "register-to-vote", None),
            (RecordStatus.APPROVED, "legal-aid-means", None),
            (RecordStatus.APPROVED, "register-to-vote", "decided"),
            (RecordStatus.AWAITING_REVIEW, "register-to-vote", "open"),
            (RecordStatus.QUARANTINED, None, None),
        ]):  # fmt: skip
            sha = f"{n:064x}"
            documents.register_document(s, sha256=sha, filename=f"{n}.png",
                                        content_type="image/png", size_bytes=1,
                                        storage_key=f"k/{n}")  # fmt: skip
            record = records.save_form_record(s, workflow_id=f"wf-{n}", document_id=sha,
                                              form_type=form_type, status=status, fields=field,
                                              reasons=reason if task else [])  # fmt: skip
            s.flush()
            if task:
                t = review.open_review_task(s, record_id=record.id, workflow_id=f"wf-{n}",
                                            form_type=form_type, reasons=reason,
                                            due_at=T0 - dt.timedelta(hours=1))  # fmt: skip
                s.flush()
                if task == "decided":
                    review.decide_review(s, t.id, approve=True, decided_by="cw")
            if status is RecordStatus.APPROVED and form_type:
                ledger.add_ledger_entry(s, kind=LedgerKind.FORM, subject=form_type,
                                        ref=f"form-record:{record.id}",
                                        amount_gbp=COSTS[form_type][0] - COSTS[form_type][1],
                                        occurred_on=T0.date())  # fmt: skip


def test_systems_table(db_url: str) -> None:
    seed_systems(db_url)
    with session_scope(db_url) as s:
        rows = {r.id: r for r in system_summaries(s)}
    assert list(rows) == ["electoral", "payroll", "benefits"]  # riskiest first
    assert rows["electoral"].stage == "cutover 25%"
    assert rows["electoral"].traffic_on_modern_percent == 25
    assert rows["electoral"].risk_red
    assert rows["payroll"].risk_red  # 16 is red
    assert not rows["benefits"].risk_red
    assert rows["payroll"].traffic_on_modern_percent == 100
    assert rows["payroll"].savings_to_date_gbp == Decimal("164.38")
    assert rows["benefits"].savings_to_date_gbp == Decimal("0.00")
    assert rows["electoral"].projected_savings_per_year_gbp == Decimal("420000.00")
    assert rows["benefits"].last_reconciliation == "not yet"


def test_stage_history_and_counts(db_url: str) -> None:
    seed_systems(db_url)
    with session_scope(db_url) as s:
        system, changes = stage_history(s, "electoral")
        assert [(c.stage, c.cutover_percent) for c in changes] == [
            (SystemStage.PLANNED, None), (SystemStage.MIGRATING, None),
            (SystemStage.CUTOVER, 25)]  # fmt: skip
        counts = dict(systems_by_stage(s))
        assert counts[SystemStage.CUTOVER] == 1
        assert counts[SystemStage.RETIRED] == 1
        assert counts[SystemStage.PLANNED] == 1
        assert sum(counts.values()) == 3
        assert system.retired_on is None
        with pytest.raises(NotFoundError):
            stage_history(s, "nope")
        with pytest.raises(ValueError, match="cutover share"):
            move_system(s, "benefits", SystemStage.SHADOW, cutover_percent=5, actor="eng")


def test_digitisation_figures(db_url: str) -> None:
    seed_forms(db_url)
    with session_scope(db_url) as s:
        figures = digitisation_figures(s, now=T0 + dt.timedelta(hours=1), costs=COSTS)
    assert figures.forms_received == 5
    assert figures.forms_decided == 3
    assert figures.auto_approved == 2
    assert figures.straight_through_percent == pytest.approx(200 / 3)
    assert figures.quarantined == 1
    assert figures.review_backlog == 1
    assert figures.sla_breaches == 1
    assert figures.oldest_backlog_hours is not None
    # Three register-to-vote forms and one legal aid form have a form type.
    assert figures.cost_per_form_before_gbp == Decimal("8.73")  # (3*6.80 + 14.50) / 4
    assert figures.cost_per_form_after_gbp == Decimal("0.59")  # (3*0.42 + 1.10) / 4


def test_cumulative_savings_and_forms_per_day(db_url: str) -> None:
    seed_systems(db_url)
    seed_forms(db_url)
    with session_scope(db_url) as s:
        series = cumulative_savings(s)
        assert series[-1][1] == Decimal("6.38") * 2 + Decimal("13.40") + Decimal("164.38")
        assert [day for day, _ in series] == sorted(day for day, _ in series)
        today = dt.datetime.now(dt.UTC).date()
        (row,) = forms_per_day(s, days=[today])
    assert row == (today, 5, 1)  # the records were made today; one task still open

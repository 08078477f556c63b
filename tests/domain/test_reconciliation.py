"""A reconciliation report with quarantined records: never passing while any is open,
and the accepted ones accounting for a legacy count that includes them."""

from __future__ import annotations

import random

import pytest

from domain.reconciliation import TableReport, with_quarantined


def _report(legacy: int, target: int, missing: int = 0, stopped: str | None = None) -> TableReport:
    return TableReport(table="account", source_table="ACCOUNT", legacy_rows=legacy,
                       target_rows=target, missing_count=missing, stopped=stopped,
                       passed=stopped is None and missing == 0 and legacy == target)  # fmt: skip


@pytest.mark.parametrize("seed", range(20))
def test_open_records_fail_the_report_and_say_how_to_accept_them(seed: int) -> None:
    rng = random.Random(seed)
    rows, bad = rng.randrange(0, 1000), rng.randrange(1, 50)
    counted = rng.choice([rows, rows + bad])  # a source that counts bad records, or not
    missing = rng.choice([0, 0, rng.randrange(1, 5)])
    report = with_quarantined(_report(counted, rows, missing), "bens", bad)
    assert not report.passed
    assert report.quarantined == bad
    if missing:
        assert report.stopped is None  # the gate's automatic re-sync still runs
    else:
        assert f"{bad} quarantined record" in (report.stopped or "")
        assert "quarantine accept bens --table ACCOUNT" in (report.stopped or "")


def test_accepted_records_account_for_a_count_that_includes_them() -> None:
    assert with_quarantined(_report(60, 54), "bens", 0, accepted=6).passed
    assert not with_quarantined(_report(60, 54), "bens", 0, accepted=5).passed
    assert not with_quarantined(_report(60, 54, missing=6), "bens", 0, accepted=6).passed
    assert not with_quarantined(_report(60, 54, stopped="time"), "bens", 0, accepted=6).passed
    assert with_quarantined(_report(54, 54), "bens", 0, accepted=6).passed
    stopped = with_quarantined(_report(60, 54, stopped="time budget"), "bens", 2).stopped
    assert (stopped or "").startswith("time budget; 2 quarantined records")

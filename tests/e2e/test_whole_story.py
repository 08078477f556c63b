"""The demo's path end to end, with every part real: a Temporal dev server, the worker
with the production activities, the legacy SQLite database behind its HTTP service, the
modern service over PostgreSQL, the builtin router as its own process steered through the
engine database, and citizens' traffic throughout.

The legacy system is migrated and reconciled, shadowed, and cut over stage by stage with
an engineer's approvals; at 25 % the modern service fails, the gate fails and rolls back,
and after the fault is removed the engineer advances and the stage passes. Then legacy is
frozen (a write is refused), archived (read back and verified) and retired once its
checklist is closed, and the ledger counts from that day.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from db.cutover import cutover_history
from db.decommission import latest_archive
from db.ledger import accrue_system_savings
from db.migrate import upgrade
from db.models import LedgerEntry, LedgerKind, System
from db.session import session_scope
from domain.cutover import CutoverEventKind
from domain.systems import SystemStage
from switchover import demo_system
from switchover.worker import build_workers, production_activities, run_workers
from tests.conftest import IN_CI


@pytest.fixture
def target_url() -> Iterator[str]:
    name = f"so_story_{uuid.uuid4().hex[:10]}"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        demo_system.ensure_database(url)
    except psycopg.OperationalError as e:
        if IN_CI:
            pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is not reachable: {e}")
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is not reachable: {e}")
    try:
        yield url
    finally:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as a:
            a.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_migrate_shadow_cut_over_with_a_rollback_then_freeze_archive_and_retire(
    local_env: WorkflowEnvironment, target_url: str, tmp_path: Path
) -> None:
    import asyncio

    settings = Settings(home=tmp_path / "state")
    upgrade(settings.resolved_database_url)
    system = demo_system.write_legacy_system(
        tmp_path / "legacy", target_url=target_url, people=300, soak_minutes=0.1, min_requests=10
    )
    mainframe = demo_system.write_mainframe_system(
        tmp_path / "mainframe", target_url=target_url, claimant_ids=system.claimant_ids,
        payments=500,
    )  # fmt: skip
    demo_system.ensure_engineer(settings, "erin")
    said: list[str] = []
    activities = production_activities(settings)
    workers = build_workers(local_env.client, activities, ocr_slots=1)
    stop = asyncio.Event()
    worker_task = asyncio.create_task(run_workers(workers, stop, activities))
    try:
        story = await demo_system.migrate_cut_over_and_retire(
            settings, local_env.client, system, engineer="erin", say=said.append, fail_at=25,
            timeout_s=420, mainframe_plan=mainframe,
        )  # fmt: skip
    finally:
        stop.set()
        await worker_task

    assert story.gate_failures == 1, said
    assert story.unexpected_failures == [], said
    assert story.mainframe_rows == 500  # EBCDIC records with packed decimals, reconciled
    assert story.approvals == 4  # each weighted stage: 5, 25, 50, 100
    assert story.checklist_closed == 3
    with session_scope(settings.resolved_database_url) as session:
        history = [
            (e.kind, e.modern_percent, e.actor)
            for e in cutover_history(session, demo_system.SYSTEM_ID)
        ]
        retired = session.get(System, demo_system.SYSTEM_ID)
        archive = latest_archive(session, demo_system.SYSTEM_ID)
        assert retired is not None
        assert retired.stage is SystemStage.RETIRED
        assert retired.retired_on == dt.datetime.now(dt.UTC).date()
        accrue_system_savings(session, today=retired.retired_on)
        entries = session.query(LedgerEntry).filter(LedgerEntry.kind == LedgerKind.SYSTEM).all()
    kinds = [(kind, percent) for kind, percent, _actor in history]
    # The rollback: the 25 % gate failed on the injected errors, traffic went back to 5 %,
    # and the engineer's advance retried 25 %, which passed with the fault removed.
    failed_at = kinds.index((CutoverEventKind.GATE_FAILED, 25))
    assert kinds[failed_at + 1] == (CutoverEventKind.ROLLED_BACK, 5)
    assert kinds[failed_at + 2] == (CutoverEventKind.ADVANCED, 5)
    assert kinds[failed_at + 3] == (CutoverEventKind.STAGE_STARTED, 25)
    assert kinds[failed_at + 4] == (CutoverEventKind.GATE_PASSED, 25)
    assert (CutoverEventKind.COMPLETED, 100) in kinds
    assert [k for k, _p in kinds if k in (CutoverEventKind.LEGACY_FROZEN, CutoverEventKind.ARCHIVED,
            CutoverEventKind.RETIRED)] == [CutoverEventKind.LEGACY_FROZEN,
            CutoverEventKind.ARCHIVED, CutoverEventKind.RETIRED]  # fmt: skip
    approvals = [actor for kind, _p, actor in history if kind is CutoverEventKind.APPROVED]
    assert approvals == ["erin"] * 4
    # Frozen: a write to the legacy database is refused, whoever makes it.
    with sqlite3.connect(system.database) as legacy, pytest.raises(sqlite3.DatabaseError,
                                                                   match="frozen"):  # fmt: skip
        legacy.execute("UPDATE CLAIMANT SET POSTCODE = 'X' WHERE CLAIMANT_ID = 1001")
    # Archived and read back.
    assert archive is not None
    assert archive.verified_at is not None
    assert archive.rows == 300
    # Savings from the day of retirement: one day's run cost, less the migration's cost.
    day = Decimal(420000) / (366 if _leap(retired.retired_on.year) else 365)
    amounts = sorted(e.amount_gbp for e in entries)
    assert amounts == [Decimal(-60000), day.quantize(Decimal("0.01"))]
    await _page_shows_the_story(settings)
    # Citizens were answered by both sides along the way.
    assert any("answered by legacy" in line and "answered by modern" in line
               for line in story.lines)  # fmt: skip


async def _page_shows_the_story(settings: Settings) -> None:
    """The system's page, in Debian's Chromium, tells the same story from the engine
    database: the failed gate with its figures, the rollback, the retirement."""
    import threading

    from playwright.async_api import async_playwright

    from switchover.devserver import free_port
    from switchover.web.server import build_server
    from tests.web.conftest import add_user
    from tests.web.test_browser import ARTEFACTS, CHROMIUM, CHROMIUM_ARGS, _sign_in

    web = settings.model_copy(update={"web_port": free_port()})
    add_user(web, "pm1", "manager")
    server = build_server(web)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the web server did not start"
        threading.Event().wait(0.05)
    base = f"http://127.0.0.1:{web.web_port}"
    path = f"/dashboard/systems/{demo_system.SYSTEM_ID}"
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                await _sign_in(page, base, "pm1", path)
                rows = page.locator("#cutover-history tbody tr")
                kinds = [await rows.nth(i).get_attribute("data-kind")
                         for i in range(await rows.count())]  # fmt: skip
                failed = await rows.nth(kinds.index("gate_failed")).inner_text()
                ARTEFACTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(ARTEFACTS / "whole-story.png"), full_page=True)
            finally:
                await browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
    at = kinds.index("gate_failed")
    assert kinds[at : at + 3] == ["gate_failed", "rolled_back", "advanced"]
    assert kinds[-1] == "retired"
    assert "Gate failed at 25%" in failed
    assert "error rate" in failed


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)

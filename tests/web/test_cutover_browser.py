"""A system's cutover page in a real browser: headless Chromium (Debian's) driven by
Playwright, against the web app served by uvicorn, the engine database seeded with two
weeks of cutover history, and a stand-in ``CutoverWorkflow`` on a real Temporal dev
server waiting for approval.

The engineer reads the stage history and its gate figures, approves the next stage, and
closes a retirement checklist item with a file. Screenshots go to
.switchover/test-artefacts/.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from db.migrate import upgrade
from db.session import dispose_engines
from domain.cutover import CutoverStatus
from switchover.devserver import free_port
from switchover.web.server import build_server
from tests.switchover.test_cutover_cli import running_stand_in
from tests.web.conftest import add_user
from tests.web.test_browser import ARTEFACTS, CHROMIUM, CHROMIUM_ARGS, _sign_in
from tests.web.test_cutover_pages import seed_story

pytestmark = pytest.mark.slow


@pytest.fixture
def web_server(tmp_path: Path, local_env: WorkflowEnvironment) -> Iterator[Settings]:
    """The web app on a free port, with an engineer and a manager to sign in."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: apt-get install -y chromium")
    settings = Settings(
        home=tmp_path / "state",
        temporal_address=local_env.client.service_client.config.target_host,
        web_port=free_port(),
    )
    upgrade(settings.resolved_database_url)
    add_user(settings, "eng1", "engineer")
    add_user(settings, "pm1", "manager")
    server = build_server(settings)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("the web server did not start")
        threading.Event().wait(0.05)
    try:
        yield settings
    finally:
        server.should_exit = True
        thread.join(10)
        dispose_engines()


async def test_an_engineer_reads_the_stage_history_and_approves_in_a_browser(
    web_server: Settings, local_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    settings = web_server
    system_id = f"electoral-{uuid.uuid4().hex[:8]}"
    seed_story(settings.resolved_database_url, system_id)
    evidence = tmp_path / "dns-zone-export.txt"
    evidence.write_text("electoral.example.gov.uk: no records\n")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{settings.web_port}"
    path = f"/dashboard/systems/{system_id}"

    async with running_stand_in(local_env.client, settings.resolved_database_url) as start:
        handle = await start(system_id)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 900})
                page = await context.new_page()
                await _sign_in(page, base, "eng1", path)

                state = await page.locator("#cutover-state").inner_text()
                assert "Waiting for approval" in state
                assert "5% of requests" in state  # the workflow's own figure, live
                assert "Legacy" in state
                assert "approval to begin 25%" in state

                rows = page.locator("#cutover-history tbody tr")
                steps = [await rows.nth(i).inner_text() for i in range(await rows.count())]
                kinds = [await rows.nth(i).get_attribute("data-kind") for i in range(len(steps))]
                assert kinds == [
                    "shadow_started", "stage_started", "gate_passed", "approved",
                    "stage_started", "gate_failed", "rolled_back", "advanced", "stage_started",
                    "gate_passed",
                ]  # fmt: skip
                failed = steps[kinds.index("gate_failed")]
                for figure in ("Gate failed at 25%", "9,120", "4.12%", "1,310 ms", "Failed",
                               "error rate 4.12% > 1.00%", "p95 1310 ms > 800 ms"):  # fmt: skip
                    assert figure in failed, figure
                assert "Gate passed at 25%" in steps[-1]
                assert "8,870" in steps[-1]
                assert "eng1" in steps[kinds.index("approved")]
                assert "Connection pool fixed" in steps[kinds.index("advanced")]
                await page.screenshot(path=str(ARTEFACTS / "cutover-history.png"), full_page=True)

                await page.get_by_label("Reason (optional)").fill("25% soaked cleanly")
                await page.get_by_role("button", name="Approve the next stage").click()
                banner = page.locator(".govuk-notification-banner--success")
                await banner.wait_for()
                assert "approved by eng1: 25% of traffic goes to modern" in (
                    await banner.inner_text()
                )
                await page.screenshot(path=str(ARTEFACTS / "cutover-approved.png"), full_page=True)

                item = page.locator('[data-item="2"]')
                await item.get_by_label("What was done").fill("Zone records removed on 3 Nov")
                await item.get_by_label("Evidence (optional)").set_input_files(str(evidence))
                await item.get_by_role("button", name="Close item 2").click()
                await page.wait_for_url(f"{base}{path}?notice=closed#checklist")
                closed = await page.locator('[data-item="2"]').inner_text()
                assert "Closed by eng1" in closed
                assert "dns-zone-export.txt" in closed
                await page.screenshot(path=str(ARTEFACTS / "cutover-checklist.png"), full_page=True)
            finally:
                await browser.close()

        status = await handle.query("status", result_type=CutoverStatus)
        assert status.setting.modern_percent == 25
        assert await handle.query("checklist_signals", result_type=int) == 1

"""Upload in a real browser (Debian's Chromium through Playwright) against the app served
by uvicorn and a real Temporal dev server: with JavaScript the files go with a progress bar
and the page is not left; without it the form posts as it is; a refused file's error
summary takes the focus."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from db.models import Document
from tests.intake.conftest import count, one_page_pdf
from tests.web.test_browser import (  # noqa: F401  (fixtures shared with the review test)
    ARTEFACTS,
    CHROMIUM_ARGS,
    _sign_in,
    chromium,
    web_server,
)

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    first, second = tmp_path / "post-0001.pdf", tmp_path / "post-0002.pdf"
    first.write_bytes(one_page_pdf(201))
    second.write_bytes(one_page_pdf(202))
    return [first, second]


async def test_upload_with_and_without_javascript(
    web_server: Settings,  # noqa: F811
    local_env: WorkflowEnvironment,
    chromium: Path,  # noqa: F811
    files: list[Path],
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    base = f"http://127.0.0.1:{web_server.web_port}"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await (await browser.new_context()).new_page()
            await _sign_in(page, base, "cw1", "/upload")
            await page.evaluate("window.stillThisPage = true")
            await page.get_by_label("Scanned forms").set_input_files([str(p) for p in files])
            await page.get_by_role("button", name="Upload").click()
            banner = page.locator(".govuk-notification-banner")
            await banner.wait_for()
            assert "2 of 2 files received for digitising" in await banner.inner_text()
            # Sent by the script, not by a page load: the page's own state survived.
            assert await page.evaluate("window.stillThisPage === true")
            assert await page.evaluate(
                "document.activeElement.classList.contains('govuk-notification-banner')"
            )
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTEFACTS / "upload-results.png"), full_page=True)

            # A file that is not a document: the error summary, focused, names it.
            notes = tmp_path / "notes.pdf"
            notes.write_bytes(b"not a scan at all")
            await page.get_by_label("Scanned forms").set_input_files([str(notes)])
            await page.get_by_role("button", name="Upload").click()
            summary = page.locator(".govuk-error-summary")
            await summary.wait_for()
            assert "notes.pdf must be a PDF" in await summary.inner_text()
            assert await page.evaluate(
                "document.activeElement.classList.contains('govuk-error-summary')"
            )
            assert await page.title() == "Error: Upload scanned forms – Switchover"
            await page.screenshot(path=str(ARTEFACTS / "upload-error.png"), full_page=True)

            plain = await (await browser.new_context(java_script_enabled=False)).new_page()
            await _sign_in(plain, base, "cw1", "/upload")
            third = tmp_path / "post-0003.pdf"
            third.write_bytes(one_page_pdf(203))
            await plain.get_by_label("Scanned forms").set_input_files([str(third), str(files[0])])
            await plain.get_by_role("button", name="Upload").click()
            await plain.locator("#upload-results").wait_for()
            text = await plain.locator("#upload-results").inner_text()
            assert "Received" in text
            assert "Already received" in text
        finally:
            await browser.close()
    assert count(web_server, Document) == 3

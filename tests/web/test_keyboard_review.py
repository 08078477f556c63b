"""The review flow by keyboard alone, in a real browser (WCAG 2.1.1): sign in, open the
queue, open a form, claim it, correct a field (first wrongly, following the error summary
back to the field), approve. Only key presses: no clicks, no filling by selector.

It runs against the browser test's scene: the web app served by uvicorn, a real Temporal
dev server and a real DigitiseFormWorkflow waiting for a caseworker.
"""

from __future__ import annotations

from typing import Any

import pytest

from db.records import get_form_record
from db.session import session_scope
from domain.digitise import DigitiseFormResult, RecordStatus
from tests.web.accessibility import axe_violations, describe
from tests.web.conftest import PASSWORD
from tests.web.test_browser import (  # noqa: F401 (fixtures)
    CHROMIUM_ARGS,
    Scene,
    chromium,
    scene,
    web_server,
)

pytestmark = pytest.mark.slow

MAX_TABS = 80

_FOCUSED = """selector => {
  const el = document.activeElement
  if (!el || el === document.body) return {matches: false, visible: true, what: 'body'}
  const box = el.getBoundingClientRect()
  return {
    matches: el.matches(selector),
    visible: box.width > 0 && box.height > 0,
    what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' ' +
          (el.innerText || el.value || '').trim().slice(0, 40),
  }
}"""


async def tab_to(page: Any, selector: str) -> list[str]:
    """Press Tab until the focused element matches ``selector``; every element passed on
    the way must be on screen (focus never goes somewhere unseen).

    Returns:
        What focus passed through, for a failure's message.
    """
    passed: list[str] = []
    for _ in range(MAX_TABS):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(_FOCUSED, selector)
        passed.append(focused["what"])
        assert focused["visible"], f"focus went to something unseen: {passed}"
        if focused["matches"]:
            return passed
    raise AssertionError(f"{selector} not reached in {MAX_TABS} tabs: {passed}")


async def focused_matches(page: Any, selector: str) -> bool:
    result = await page.evaluate(_FOCUSED, selector)
    return bool(result["matches"])


async def test_a_caseworker_reviews_a_form_by_keyboard_alone(
    scene: Scene,  # noqa: F811
    chromium: Any,  # noqa: F811
) -> None:
    from playwright.async_api import async_playwright

    base = scene.base_url
    task = scene.task_id
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 900}, bypass_csp=True
            )
            page = await context.new_page()
            await page.goto(f"{base}/review")  # typed into the address bar

            await tab_to(page, "#username")
            await page.keyboard.type("cw1")
            await tab_to(page, "#password")
            await page.keyboard.type(PASSWORD)
            await page.keyboard.press("Enter")
            await page.wait_for_url(f"{base}/review")

            # The queue: the form's link, then the form.
            await tab_to(page, f'a[href="/review/tasks/{task}"]')
            await page.keyboard.press("Enter")
            await page.wait_for_url(f"{base}/review/tasks/{task}")
            await tab_to(page, f'form[action="/review/tasks/{task}/claim"] button')
            await page.keyboard.press("Enter")
            await page.wait_for_url(f"{base}/review/tasks/{task}?notice=claimed")

            # A wrong correction: the error summary takes focus and leads back to the field.
            await tab_to(page, "#field-postcode")
            await page.keyboard.press("Control+A")
            await page.keyboard.type("NOT A POSTCODE")
            await tab_to(page, 'button[value="approve"]')
            await page.keyboard.press("Enter")
            await page.locator(".govuk-error-summary").wait_for()
            assert await focused_matches(page, ".govuk-error-summary"), "summary not focused"
            violations = await axe_violations(page)
            assert not violations, describe(violations)
            await tab_to(page, '.govuk-error-summary a[href="#field-postcode"]')
            await page.keyboard.press("Enter")
            assert await focused_matches(page, "#field-postcode"), "the link did not lead back"

            await page.keyboard.press("Control+A")
            await page.keyboard.type(scene.postcode.lower())
            await tab_to(page, 'button[value="approve"]')
            await page.keyboard.press("Enter")
            await page.wait_for_url(f"{base}/review/tasks/{task}?notice=approved")
            assert "The form has been approved" in await page.content()
        finally:
            await browser.close()

    # The workflow took the correction, as typed (normalised), in the caseworker's name.
    handle = scene.env.client.get_workflow_handle(scene.workflow_id, result_type=DigitiseFormResult)
    assert (await handle.result()).decided_by == "cw1"
    with session_scope(scene.settings.resolved_database_url) as session:
        saved = get_form_record(session, scene.record_id)
    assert (saved.status, saved.fields["postcode"]["value"]) == (
        RecordStatus.APPROVED,
        scene.postcode,
    )

"""End to end in a real browser: headless Chromium (Debian's) driven by Playwright, against
the web app served by uvicorn, a real Temporal dev server, a worker with the real database
and storage activities, and a real DigitiseFormWorkflow waiting for a caseworker.

Only extraction is faked, under its real name: it reads the specimen with the real OCR
pipeline (so the field boxes are real) and then makes the postcode doubtful, so that the
form certainly needs a person. Screenshots go to .switchover/test-artefacts/.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities import names
from activities.digitise import DigitiseActivities
from adapters.storage import open_store
from config.form_template import load_templates
from config.settings import TASK_QUEUE_WORKFLOWS, Settings
from db.migrate import upgrade
from db.records import get_form_record
from db.session import dispose_engines, session_scope
from domain.digitise import (
    DigitiseFormInput,
    DigitiseFormResult,
    DocumentRef,
    ExtractFormInput,
    RecordStatus,
)
from domain.forms import ExtractedField, FormExtraction, ReviewReason
from ocr import extract_files
from ocr.validators import normalise
from switchover.devserver import free_port
from switchover.specimens import write_specimens
from switchover.web.server import build_server
from switchover.worker import ActivitySet, build_workers, run_workers
from tests.web.conftest import PASSWORD, add_user
from workflows.digitise import DigitiseFormWorkflow

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(__file__).resolve().parents[2] / ".switchover" / "test-artefacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Scene:
    settings: Settings
    base_url: str
    env: WorkflowEnvironment
    workflow_id: str
    task_id: int
    record_id: int
    postcode: str


class DoubtfulExtraction:
    """The real extraction of the specimen, with its postcode made doubtful."""

    def __init__(self, scan: Path, truth: dict[str, Any]) -> None:
        templates = load_templates()
        (read,) = extract_files([scan], templates, form_type="register-to-vote", jobs=1)
        assert isinstance(read, FormExtraction), read
        specs = {spec.name: spec for spec in templates["register-to-vote"].fields}
        fields: dict[str, ExtractedField] = {}
        for name, spec in specs.items():
            found = read.fields.get(name, ExtractedField(page=1))
            true = truth.get(name)
            # Every other field right, so the one correction decides the outcome.
            value = None if true is None else normalise(spec, str(true)).value
            fields[name] = found.model_copy(
                update={
                    "value": value,
                    "valid": True,
                    "confidence": max(found.confidence, 0.9),
                    "error": None,
                }
            )
        fields["postcode"] = fields["postcode"].model_copy(
            update={
                "value": "SW1A 1A",
                "valid": False,
                "confidence": 0.41,
                "error": "not a UK postcode",
            }
        )
        self.extraction = read.model_copy(
            update={
                "fields": fields,
                "needs_review": True,
                "reasons": [
                    ReviewReason(field="postcode", code="invalid", detail="not a UK postcode")
                ],
            }
        )

    @activity.defn(name=names.EXTRACT_FORM)
    def extract_form(self, request: ExtractFormInput) -> FormExtraction:
        return self.extraction


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: apt-get install -y chromium")
    return CHROMIUM


@pytest.fixture
def web_server(tmp_path: Path, local_env: WorkflowEnvironment) -> Iterator[Settings]:
    settings = Settings(
        home=tmp_path / "state",
        temporal_address=local_env.client.service_client.config.target_host,
        web_port=free_port(),
    )
    upgrade(settings.resolved_database_url)
    add_user(settings, "cw1", "caseworker")
    add_user(settings, "cw2", "caseworker")
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


@pytest_asyncio.fixture
async def scene(
    tmp_path: Path, local_env: WorkflowEnvironment, web_server: Settings
) -> AsyncIterator[Scene]:
    settings = web_server
    (specimen,) = write_specimens(
        tmp_path / "in", form_type="register-to-vote", count=1, seed=11, variants=("scan",)
    )
    scan = specimen.files["scan"]
    stored = open_store(settings.resolved_storage_url, settings).put_file(
        scan, content_type="image/png"
    )
    document = DocumentRef(
        document_id=stored.sha256,
        filename=scan.name,
        storage_key=stored.key,
        size_bytes=stored.size,
        content_type="image/png",
    )
    extraction = await asyncio.to_thread(DoubtfulExtraction, scan, specimen.truth)
    io = DigitiseActivities.from_settings(settings)
    workers = build_workers(
        local_env.client,
        ActivitySet(ocr=[extraction.extract_form], io=io.all()),
        ocr_slots=1,
        io_slots=4,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run_workers(workers, stop))
    try:
        workflow_id = f"digitise-{stored.sha256}"
        handle = await local_env.client.start_workflow(
            DigitiseFormWorkflow.run,
            DigitiseFormInput(document=document, source="test"),
            id=workflow_id,
            task_queue=TASK_QUEUE_WORKFLOWS,
        )
        for _ in range(300):
            state = await handle.query(DigitiseFormWorkflow.status)
            if state.task_id is not None and state.status is RecordStatus.AWAITING_REVIEW:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"the workflow did not reach review: {state}")
        yield Scene(
            settings=settings,
            base_url=f"http://127.0.0.1:{settings.web_port}",
            env=local_env,
            workflow_id=workflow_id,
            task_id=state.task_id,
            record_id=state.record_id or 0,
            postcode=specimen.truth["postcode"],
        )
    finally:
        stop.set()
        await running


async def _sign_in(page: Any, base_url: str, username: str, goto: str) -> None:
    await page.goto(base_url + goto)
    assert "/sign-in" in page.url
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.wait_for_url(f"{base_url}{goto}")


async def test_caseworker_claims_corrects_and_approves_in_a_browser(scene: Scene, chromium) -> None:
    from playwright.async_api import async_playwright

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    base = scene.base_url
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            first = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await first.new_page()
            await _sign_in(page, base, "cw1", "/review")
            row = page.locator(f'tr[data-task-id="{scene.task_id}"]')
            await row.wait_for()
            assert "invalid value" in (await row.inner_text()).lower()
            await page.screenshot(path=str(ARTEFACTS / "review-queue.png"), full_page=True)

            await row.get_by_role("button", name=f"Claim form {scene.task_id}").click()
            await page.wait_for_url(f"{base}/review/tasks/{scene.task_id}?notice=claimed")
            postcode = page.get_by_label("Postcode")
            assert await postcode.input_value() == "SW1A 1A"
            assert await page.locator('rect.app-field-box--flagged[data-field="postcode"]').count()
            image = page.locator("img.app-scan__image").first
            await image.wait_for()
            assert await image.evaluate("img => img.complete && img.naturalWidth > 100")
            await page.screenshot(path=str(ARTEFACTS / "review-task.png"), full_page=True)

            # Someone else, in another browser, is refused the claimed form.
            second = await browser.new_context()
            other = await second.new_page()
            await _sign_in(other, base, "cw2", "/review")
            other_row = other.locator(f'tr[data-task-id="{scene.task_id}"]')
            assert "cw1" in await other_row.inner_text()
            assert await other_row.get_by_role("button").count() == 0
            refused = await other.goto(f"{base}/review/tasks/{scene.task_id}")
            assert refused is not None
            assert refused.status == 403
            assert "cw1 is working on this form" in await other.content()
            assert "SW1A 1A" not in await other.content()

            # A wrong correction comes back with the workflow's validation error.
            await postcode.fill("NOT A POSTCODE")
            await page.get_by_role("button", name="Approve").click()
            summary = page.locator(".govuk-error-summary")
            await summary.wait_for()
            assert "Postcode" in await summary.inner_text()
            await page.screenshot(path=str(ARTEFACTS / "review-task-error.png"), full_page=True)

            await page.get_by_label("Postcode").fill(scene.postcode.lower())
            await page.get_by_role("button", name="Approve").click()
            await page.wait_for_url(f"{base}/review/tasks/{scene.task_id}?notice=approved")
            assert "The form has been approved" in await page.content()
            timeline = await page.locator(".moj-timeline").inner_text()
            for step in (
                "Form received",
                "Fields extracted",
                "Sent for review",
                "Claimed",
                "Field corrected",
                "Approved",
            ):
                assert step in timeline, step
            await page.screenshot(path=str(ARTEFACTS / "review-task-approved.png"), full_page=True)

            # Deciding again, from a page still open in the other browser, is refused.
            again = await other.goto(f"{base}/review/tasks/{scene.task_id}")
            assert again is not None
            assert again.status == 200
            assert "Approved" in await other.content()
        finally:
            await browser.close()

    result = await scene.env.client.get_workflow_handle(
        scene.workflow_id, result_type=DigitiseFormResult
    ).result()
    assert result.status is RecordStatus.APPROVED
    assert result.decided_by == "cw1"
    with session_scope(scene.settings.resolved_database_url) as session:
        record = get_form_record(session, scene.record_id)
        assert record.status is RecordStatus.APPROVED
        assert record.fields["postcode"]["value"] == scene.postcode
        assert record.fields["postcode"]["valid"] is True

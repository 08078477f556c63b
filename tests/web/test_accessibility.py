"""Every page of the web app against WCAG 2.2 AA, in a real browser: axe-core's A and AA
rules and the reflow check (nothing scrolls sideways at 320 px), signed out and signed in
as each role, at 320 and 1280 px wide.

The pages are read from the app's routes, so a page added later is checked without
anyone listing it here: a route without path parameters is visited as it is, and a route
with parameters is visited with every value ``PATH_VALUES`` holds for them (a parameter
nobody has given values fails the test, naming it). What answers with something other
than HTML (images, exports, JSON, downloads) is not a page and is left out. The data the
pages show is real: review tasks on a stored scan (open, claimed, decided; fields read by
two engines), systems with a migration waiting at its gate and a cutover waiting for
approval on a real Temporal dev server, quarantined records, a closed checklist item.

At 1280 px, table rows taller than six lines are reported too: columns squeezed so narrow
that short values wrap into a tall, thin table.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fastapi.routing import APIRoute
from temporalio.testing import WorkflowEnvironment

from adapters.storage import open_store
from config.settings import Settings
from db import documents, records, review
from db.models import RecordStatus
from db.programme import register_system
from db.quarantine import KeptRecord, keep_records
from db.session import session_scope
from domain.forms import EngineReading, ExtractedField, ReviewReason
from domain.migration import TableState
from switchover import cutover
from switchover.specimens import write_specimens
from switchover.web.app import AREAS, create_app
from tests.db.test_programme import seed_forms, seed_systems
from tests.switchover.test_cutover_cli import running_stand_in
from tests.switchover.test_migrate_cli import Engine, start, until, workers
from tests.web.accessibility import (
    NARROW,
    WIDE,
    axe_violations,
    describe,
    sideways_scroll,
    squashed_rows,
)
from tests.web.conftest import PASSWORD, add_user
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, web_server  # noqa: F401
from tests.web.test_cutover_pages import seed_story
from tests.workflows.test_migrate import FakeMigration

pytestmark = pytest.mark.slow

# Who signs in: None is signed out.
PEOPLE: dict[str | None, str] = {
    "cw1": "caseworker",
    "eng1": "engineer",
    "pm1": "manager",
    "admin1": "admin",
    None: "signed out",  # last: its failed sign-in must not slow the others' sign-ins
}
PARAMETER = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@dataclass
class Seeded:
    """What the pages show, and the values of each path parameter that reach it."""

    values: dict[str, list[str]] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    """Page states a plain visit does not show: notices, filters, a page not found."""
    story: str = ""
    """The system whose cutover is two weeks in."""


async def _submit(page: Any, base: str, path: str, button: str, **fields: str) -> None:
    """Fill a page's form, press its button and wait for the errors it answers with (the
    upload page answers in place, without a new page)."""
    await page.goto(base + path)
    for selector, value in fields.items():
        await page.locator(f"#{selector}").fill(value)
    await page.locator(button).click()
    await page.locator(".govuk-error-summary").wait_for()


def posted(data: Seeded) -> dict[str | None, list[tuple[str, Any]]]:
    """Page states only a form's answer shows (error summaries), per person: what each
    is called in a failure, and how to reach it."""
    story = data.story
    return {
        None: [("sign-in with a wrong password", lambda page, base: _submit(
            page, base, "/sign-in", "form[action='/sign-in'] button[type=submit]",
            username="cw1", password="not the password"))],
        "cw1": [("upload with no file chosen", lambda page, base: _submit(
            page, base, "/upload", "#upload-button"))],
        "eng1": [("checklist item closed without a note", lambda page, base: _submit(
            page, base, f"/dashboard/systems/{story}", "[data-item='2'] button[type=submit]"))],
    }  # fmt: skip


def _readings(text: str, confidence: float, other: str, other_confidence: float) -> list:
    return [
        EngineReading(engine="tesseract", text=text, confidence=confidence),
        EngineReading(engine="rapidocr", text=other, confidence=other_confidence),
    ]


def seed_review(settings: Settings, scan: Path, truth: dict[str, Any]) -> dict[str, int]:
    """Four review tasks on one stored scan: open, claimed by cw1, claimed by cw2, approved.

    Fields carry boxes on the page and, for two of them, what each OCR engine read.
    """
    stored = open_store(settings.resolved_storage_url, settings).put_file(
        scan, content_type="image/png"
    )
    fields = {
        name: ExtractedField(
            value=str(value), confidence=0.93, valid=True, page=1,
            bbox=(0.3, 0.1 + 0.05 * n, 0.7, 0.13 + 0.05 * n),
        )
        for n, (name, value) in enumerate(sorted(truth.items()))
        if isinstance(value, str)
    }  # fmt: skip
    fields["postcode"] = fields["postcode"].model_copy(update={
        "value": "SW1A 1A", "valid": False, "confidence": 0.41, "error": "not a UK postcode",
        "readings": _readings("SW1A 1A", 0.41, "SW1A 1AA", 0.77)})  # fmt: skip
    surname = str(truth["surname"])
    fields["surname"] = fields["surname"].model_copy(
        update={"confidence": 0.62, "readings": _readings(surname, 0.62, surname[:-1], 0.58)}
    )
    reasons = [
        ReviewReason(field="postcode", code="invalid", detail="not a UK postcode"),
        ReviewReason(field="surname", code="low_confidence", detail="engines disagree"),
    ]
    tasks: dict[str, int] = {}
    lease = dt.timedelta(minutes=60)
    with session_scope(settings.resolved_database_url) as session:
        documents.register_document(session, sha256=stored.sha256, filename=scan.name,
                                    content_type="image/png", size_bytes=stored.size,
                                    storage_key=stored.key)  # fmt: skip
        for state in ("open", "mine", "theirs", "approved"):
            workflow_id = f"digitise-a11y-{state}-{uuid.uuid4().hex[:6]}"
            record = records.save_form_record(
                session, workflow_id=workflow_id, document_id=stored.sha256,
                form_type="register-to-vote", status=RecordStatus.AWAITING_REVIEW,
                fields=fields, reasons=reasons,
                legacy_match={"candidates": [
                    {"key": "E0000451", "score": 0.82, "system": "legacy-electoral",
                     "fields": {"surname": truth["surname"], "postcode": truth["postcode"]}}]},
            )  # fmt: skip
            session.flush()
            task = review.open_review_task(
                session, record_id=record.id, workflow_id=workflow_id,
                form_type="register-to-vote", reasons=reasons,
                due_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=-2 if state == "open" else 40),
            )  # fmt: skip
            session.flush()
            if state in ("mine", "theirs"):
                review.claim_task(session, task.id, by="cw1" if state == "mine" else "cw2",
                                  lease=lease)  # fmt: skip
            if state == "approved":
                review.decide_review(session, task.id, approve=True, decided_by="cw2")
            tasks[state] = task.id
    return tasks


def seed_systems_pages(settings: Settings, story: str, benefits: str) -> None:
    """The programme's systems and forms, a cutover two weeks in (one checklist item closed
    with evidence, quarantined records) and a system whose migration will wait at a gate."""
    url = settings.resolved_database_url
    seed_systems(url)
    seed_forms(url)
    seed_story(url, story)
    with session_scope(url) as session:
        register_system(session, system_id=benefits, name="Benefits ledger", department="Welfare",
                        risk_score=12, annual_run_cost_gbp=Decimal("90000"),
                        migration_cost_gbp=Decimal("20000"), actor="eng1")  # fmt: skip
        keep_records(session, story, [
            KeptRecord("ELECTOR", 4, 88, "DOB: not a date (19791340)"),
            KeptRecord("ELECTOR", 9, 198, "NINO: the record is 3 bytes short"),
        ])  # fmt: skip
    cutover.close_item(settings, story, 1, actor="eng1", note="Contract ended on 3 November",
                       evidence=cutover.Evidence("letter.txt", b"ended\n"))  # fmt: skip


def routes(app: Any) -> list[APIRoute]:
    """The app's own routes and every area's (``switchover.web.app.AREAS``, where each
    area of the service is registered)."""
    found = [r for r in app.routes if isinstance(r, APIRoute)]
    for area in AREAS:
        router = importlib.import_module(area.router_module).router
        found += [r for r in router.routes if isinstance(r, APIRoute)]
    return found


def pages(app: Any, values: dict[str, list[str]]) -> list[str]:
    """Every GET path of the app, path parameters filled in with each of their values.

    Raises:
        AssertionError: a route has a parameter ``values`` gives nothing for.
    """
    paths: list[str] = []
    for route in routes(app):
        if "GET" not in route.methods:
            continue
        filled = [route.path]
        for name in PARAMETER.findall(route.path):
            assert values.get(name), (
                f"{route.path}: no values for {{{name}}}; add some to the seeding in {__name__}"
            )
            filled = [
                PARAMETER.sub(lambda m, v=v, n=name: v if m.group(1) == n else m.group(0), p)
                for p in filled
                for v in values[name]
            ]
        paths.extend(filled)
    return paths


async def _sign_in(page: Any, base: str, username: str) -> None:
    await page.goto(f"{base}/sign-in")
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("form[action='/sign-in'] button[type=submit]").click()
    await page.wait_for_url(f"{base}/")


@pytest_asyncio.fixture
async def seeded(
    tmp_path: Path,
    local_env: WorkflowEnvironment,
    web_server: Settings,  # noqa: F811
) -> AsyncIterator[tuple[Settings, Seeded]]:
    """The web server with every role's person and the data its pages show; a migration
    waiting at its gate and a cutover waiting for approval run meanwhile."""
    settings = web_server
    for username, role in PEOPLE.items():
        if username and username != "cw1":  # the browser test's fixture made cw1 and cw2
            add_user(settings, username, role)
    (specimen,) = write_specimens(
        tmp_path / "in", form_type="register-to-vote", count=1, seed=5, variants=("scan",)
    )
    tasks = await asyncio.to_thread(seed_review, settings, specimen.files["scan"], specimen.truth)
    story, benefits = f"electoral-{uuid.uuid4().hex[:6]}", f"benefits-{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(seed_systems_pages, settings, story, benefits)
    fake = FakeMigration(rows={"A": 30, "B": 12}, failing=Counter({"A": 1}), system_id=benefits)
    client = local_env.client
    engine = Engine(settings, settings.resolved_database_url)
    async with workers(client, engine, fake), running_stand_in(client, engine.url) as cutovers:
        migration = await start(client, benefits)
        await until(client, benefits, lambda s: "A" in s.tables
                    and s.tables["A"].state is TableState.AWAITING_DECISION)  # fmt: skip
        await cutovers(story)
        try:
            yield (
                settings,
                Seeded(
                    values={
                        "task_id": [str(t) for t in tasks.values()],
                        "page": ["1"],
                        "system_id": [story, benefits, "payroll"],
                        "position": ["1", "2"],
                        "table": ["systems"],
                        "fmt": ["csv"],
                    },
                    extra=[
                        f"/review/tasks/{tasks['mine']}?notice=claimed",
                        "/review?reason=invalid&sort=received&order=desc",
                        f"/dashboard/systems/{story}?notice=closed",
                        "/sign-in?signed_out=1",
                        "/no-such-page",
                    ],
                    story=story,
                ),
            )
        finally:
            await migration.terminate()


@dataclass
class Finding:
    who: str
    path: str
    status: int
    violations: list[dict[str, Any]]
    sideways: dict[str, Any] | None
    squashed: list[str]


async def _check(page: Any, who: str, what: str, status: int, width: int) -> Finding | None:
    """The checks of the page as it is now."""
    await page.wait_for_load_state("load")
    violations = await axe_violations(page)
    sideways = await sideways_scroll(page) if width == NARROW else None
    squashed = await squashed_rows(page) if width == WIDE else []
    if violations or sideways or squashed:
        return Finding(who, what, status, violations, sideways, squashed)
    return None


async def _check_pages(
    browser: Any,
    base: str,
    username: str | None,
    width: int,
    paths: list[str],
    actions: list[tuple[str, Any]],
) -> tuple[list[Finding], int]:
    """Visit every path as one person at one width; what each page breaks, and how many
    pages were checked."""
    context = await browser.new_context(
        viewport={"width": width, "height": 900}, bypass_csp=True, accept_downloads=False
    )
    findings: list[Finding] = []
    errors_seen: set[tuple[int, str]] = set()
    checked = 0
    try:
        page = await context.new_page()
        if username:
            await _sign_in(page, base, username)
        for path in paths:
            # Ask first, without the browser: downloads and images are not pages.
            probe = await context.request.get(base + path, max_redirects=0)
            if probe.status in (301, 302, 303, 307) or "text/html" not in probe.headers.get(
                "content-type", ""
            ):
                continue
            answer = await page.goto(base + path)
            assert answer is not None
            assert answer.status < 500, f"{path} as {username}: {answer.status}"
            if answer.status >= 400:  # one refusal or "not found" page stands for the rest
                shown = (answer.status, await page.title())
                if shown in errors_seen:
                    continue
                errors_seen.add(shown)
            found = await _check(page, PEOPLE[username], path, answer.status, width)
            findings += [found] if found else []
            checked += 1
        for what, act in actions:
            await act(page, base)
            found = await _check(page, PEOPLE[username], what, 400, width)
            findings += [found] if found else []
            checked += 1
    finally:
        await context.close()
    return findings, checked


@pytest.mark.parametrize("width", [NARROW, WIDE])
async def test_every_page_passes_wcag_checks_for_every_role(
    seeded: tuple[Settings, Seeded], width: int
) -> None:
    from playwright.async_api import async_playwright

    settings, data = seeded
    base = f"http://127.0.0.1:{settings.web_port}"
    paths = pages(create_app(settings), data.values) + data.extra
    for page in ("/review", "/review/tasks/", "/cutover", "/dashboard/systems/", "/admin/users"):
        assert any(p.startswith(page) for p in paths), page
    findings: list[Finding] = []
    checked = Counter[str]()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            states = posted(data)
            for username in PEOPLE:
                found, count = await _check_pages(
                    browser, base, username, width, paths, states.get(username, [])
                )
                findings += found
                checked[PEOPLE[username]] = count
        finally:
            await browser.close()
    # Each role reached real pages, not only sign-in and refusals.
    assert checked["signed out"] >= 3, checked
    assert all(checked[who] >= 5 for who in PEOPLE.values() if who != "signed out"), checked
    report = []
    for f in findings:
        report.append(f"{f.who} {f.path} ({f.status}) at {width}px:")
        if f.sideways:
            report.append(f"  scrolls sideways: {f.sideways}")
        if f.squashed:
            report.append(f"  tall, narrow table rows: {f.squashed}")
        if f.violations:
            report.append(describe(f.violations))
    rules = Counter(v["id"] for f in findings for v in f.violations)
    assert not findings, f"{sum(rules.values())} violations {dict(rules)}\n" + "\n".join(report)


async def test_the_checks_find_what_they_are_for() -> None:
    """The checker is not blind: a page with an image without a text alternative, an
    unlabelled input and a wide table fails both checks at 320 px."""
    from playwright.async_api import async_playwright

    cells = "".join(f"<td>column {n} of a wide table</td>" for n in range(12))
    bad = (
        "<!doctype html><html lang='en'><head><title>Bad</title></head><body><main>"
        "<h1>Bad</h1><img src='data:,'><input type='text'>"
        f"<table><tr>{cells}</tr></table></main></body></html>"
    )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(viewport={"width": NARROW, "height": 900})
            page = await context.new_page()
            await page.set_content(bad)
            found = {v["id"] for v in await axe_violations(page)}
            sideways = await sideways_scroll(page)
        finally:
            await browser.close()
    assert {"image-alt", "label"} <= found, found
    assert sideways is not None
    assert sideways["scrollWidth"] > NARROW
    assert any(name.startswith("table") for name in sideways["wide"]), sideways


async def test_a_squashed_table_is_found_at_desktop_width() -> None:
    from playwright.async_api import async_playwright

    cells = "".join(f"<td>step {n}: the gate failed on its error rate</td>" for n in range(9))
    squashed = (
        "<!doctype html><html lang='en'><head><title>Squashed</title></head><body>"
        f"<table id='history' style='width: 400px'><tbody><tr>{cells}</tr></tbody></table>"
        "</body></html>"
    )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await browser.new_page(viewport={"width": WIDE, "height": 900})
            await page.set_content(squashed)
            found = await squashed_rows(page)
        finally:
            await browser.close()
    assert found, "a 9-column table 400 px wide was not found squashed"
    assert found[0].startswith("#history row 0")

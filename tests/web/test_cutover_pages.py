"""The system page's cutover and retirement parts, and the engineer's actions.

The web app runs in-process on a fresh SQLite engine database; cutover workflows are the
stand-in of ``tests.switchover.test_cutover_cli`` (the ``CutoverWorkflow`` contract) on a
real Temporal dev server, so every action really goes through a Temporal update.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from db.audit import audit_events_for
from db.cutover import record_cutover_event, set_cutover_state
from db.decommission import open_checklist
from db.migrate import upgrade
from db.models import AuditEvent
from db.programme import register_system
from db.session import dispose_engines, session_scope
from domain.cutover import CutoverEventKind, CutoverPhase, CutoverStatus, GateFigures, RouterSetting
from tests.switchover.test_cutover_cli import running_stand_in
from tests.web.conftest import csrf_of

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
CHECKLIST = ["Supplier contract ended", "DNS records removed", "Data retention agreed"]


def figures(requests: int, error_rate: float, p95: float, *failures: str) -> GateFigures:
    return GateFigures(requests=requests, error_rate=error_rate, p95_ms=p95,
                       mismatch_rate=0.0004, reconciliation_passed=not failures,
                       failures=list(failures))  # fmt: skip


def seed_story(database_url: str, system_id: str) -> None:
    """A system two weeks into its cutover: 5% passed, approved; 25% failed its gate and
    was rolled back; 25% again, passed; now waiting for approval of 50%."""
    story: list[tuple[CutoverEventKind, int | None, str, GateFigures | None, str | None]] = [
        (CutoverEventKind.SHADOW_STARTED, 0, "cutover-workflow", None, None),
        (CutoverEventKind.STAGE_STARTED, 5, "cutover-workflow", None, None),
        (CutoverEventKind.GATE_PASSED, 5, "cutover-workflow", figures(1840, 0.0022, 287.0), None),
        (CutoverEventKind.APPROVED, 5, "eng1", None, "Gates fine over the weekend"),
        (CutoverEventKind.STAGE_STARTED, 25, "cutover-workflow", None, None),
        (CutoverEventKind.GATE_FAILED, 25, "cutover-workflow",
         figures(9120, 0.0412, 1310.0, "error rate 4.12% > 1.00%", "p95 1310 ms > 800 ms"),
         None),
        (CutoverEventKind.ROLLED_BACK, 5, "cutover-workflow", None, "gate failed at 25%"),
        (CutoverEventKind.ADVANCED, 5, "eng1", None, "Connection pool fixed"),
        (CutoverEventKind.STAGE_STARTED, 25, "cutover-workflow", None, None),
        (CutoverEventKind.GATE_PASSED, 25, "cutover-workflow", figures(8870, 0.0031, 402.0),
         None),
    ]  # fmt: skip
    with session_scope(database_url) as session:
        register_system(
            session, system_id=system_id, name="Electoral Register", department="Local Gov",
            risk_score=22, annual_run_cost_gbp=Decimal("420000"),
            migration_cost_gbp=Decimal("60000"), actor="eng1", at=T0,
        )  # fmt: skip
        for n, (kind, percent, actor, figs, note) in enumerate(story):
            at = T0 + dt.timedelta(hours=12 * n)
            record_cutover_event(session, system_id, kind, actor=actor, modern_percent=percent,
                                 figures=figs, note=note, at=at)  # fmt: skip
        set_cutover_state(session, system_id, phase=CutoverPhase.AWAITING_APPROVAL,
                          setting=RouterSetting(modern_percent=25, shadow=True),
                          at=T0 + dt.timedelta(days=4))  # fmt: skip
        open_checklist(session, system_id, CHECKLIST)


@pytest.fixture
def settings(tmp_path: Path, local_env: WorkflowEnvironment) -> Iterator[Settings]:
    """The web app's settings, pointed at the Temporal dev server."""
    settings = Settings(
        home=tmp_path / "state",
        temporal_address=local_env.client.service_client.config.target_host,
    )
    upgrade(settings.resolved_database_url)
    try:
        yield settings
    finally:
        dispose_engines()


@pytest.fixture
def system_id(settings: Settings) -> str:
    system_id = f"electoral-{uuid.uuid4().hex[:8]}"
    seed_story(settings.resolved_database_url, system_id)
    return system_id


@pytest_asyncio.fixture
async def start_cutover(
    local_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[Callable[[str], Awaitable[WorkflowHandle[Any, Any]]]]:
    async with running_stand_in(local_env.client, settings.resolved_database_url) as start:
        yield start


async def call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A request in a thread: the app may call Temporal, whose worker runs in our loop."""
    return await asyncio.to_thread(method, *args, **kwargs)


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


# --- what the page shows ------------------------------------------------------------------


async def test_the_page_shows_state_history_and_gate_figures(client_for, system_id) -> None:
    engineer = client_for("eng1", "engineer")
    page = await call(engineer.get, f"/dashboard/systems/{system_id}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Waiting for approval" in text
    assert "25% of requests, with shadow comparison" in text
    assert "Legacy (it receives the writes)" in text
    assert "An engineer's approval to begin the next stage" in text
    assert "the engine database" in text  # no workflow runs: the page says so
    # The history, oldest first, with the failed gate's figures and who did what.
    history = text[text.index("Cutover stage history") : text.index("Retirement checklist")]
    order = ["Stage started at 5%", "Gate passed at 5%", "Approved at 5%", "Gate failed at 25%",
             "Rolled back at 5%", "Advanced at 5%", "Gate passed at 25%"]  # fmt: skip
    positions = [history.index(step) for step in order]
    assert positions == sorted(positions)
    assert "9,120" in history
    assert "4.12%" in history
    assert "1,310 ms" in history
    assert "error rate 4.12% > 1.00%" in history
    assert "Gates fine over the weekend" in history
    assert "eng1" in history
    # The last figures are the newest: 25% passed.
    last = text[text.index("Last gate figures") : text.index("Cutover stage history")]
    assert "8,870" in last
    assert "Passed" in last
    # Nothing runs, so an engineer is told there is nothing to act on, and no buttons.
    assert 'id="cutover-actions"' not in page.text
    assert "No cutover workflow is running" in text


async def test_an_engineer_sees_the_actions_that_fit_and_a_manager_none(
    client_for, system_id, start_cutover
) -> None:
    await start_cutover(system_id)
    engineer = client_for("eng1", "engineer")
    page = await call(engineer.get, f"/dashboard/systems/{system_id}")
    assert 'id="cutover-actions"' in page.text
    assert 'value="approve"' in page.text
    assert 'value="rollback"' in page.text
    assert 'value="freeze"' not in page.text  # not while waiting for approval
    assert "the running cutover workflow" in text_of(page.text)
    assert "an engineer&#39;s approval to begin 25%" in page.text.lower()

    manager = client_for("pm1", "manager")
    read_only = await call(manager.get, f"/dashboard/systems/{system_id}")
    assert read_only.status_code == 200
    assert "Cutover stage history" in read_only.text
    assert 'id="cutover-actions"' not in read_only.text
    assert "<button" not in read_only.text.split('id="cutover"')[1].split('id="checklist"')[0]


async def test_the_cutover_list_links_each_system(client_for, system_id) -> None:
    engineer = client_for("eng1", "engineer")
    page = await call(engineer.get, "/cutover")
    assert page.status_code == 200
    assert f'href="/dashboard/systems/{system_id}"' in page.text
    row = page.text.split(f'data-system="{system_id}"')[1].split("</tr>")[0]
    assert "Waiting for approval" in row
    assert "25%" in row
    assert 'href="/cutover"' in engineer.get("/").text  # in the engineer's navigation


# --- actions --------------------------------------------------------------------------------


async def test_an_engineer_approves_and_sees_the_workflows_answer(
    client_for, settings, system_id, start_cutover
) -> None:
    handle = await start_cutover(system_id)
    engineer = client_for("eng1", "engineer")
    token = csrf_of(engineer.get("/").text)
    answer = await call(
        engineer.post,
        f"/dashboard/systems/{system_id}/cutover",
        data={"csrf_token": token, "action": "approve", "reason": "all green"},
    )
    assert answer.status_code == 200, answer.text
    assert "govuk-notification-banner--success" in answer.text
    assert "approved by eng1: 25% of traffic goes to modern" in answer.text
    status = await handle.query("status", result_type=CutoverStatus)
    assert status.setting.modern_percent == 25
    with session_scope(settings.resolved_database_url) as session:
        events = audit_events_for(session, [("system", system_id)])
        actions = [(e.actor, e.action, (e.detail or {}).get("accepted")) for e in events
                   if e.action.startswith("cutover.")]  # fmt: skip
    assert actions == [("eng1", "cutover.approve", True)]


async def test_a_refusal_by_the_workflow_is_shown_in_the_error_summary(
    client_for, system_id, start_cutover
) -> None:
    handle = await start_cutover(system_id)
    engineer = client_for("eng1", "engineer")
    token = csrf_of(engineer.get("/").text)
    answer = await call(
        engineer.post,
        f"/dashboard/systems/{system_id}/cutover",
        data={"csrf_token": token, "action": "freeze", "reason": "hold"},
    )
    assert answer.status_code == 409
    summary = answer.text.split('class="govuk-error-summary"')[1].split("</div>")[0]
    assert "refused your freeze" in summary
    assert "cannot freeze now: the cutover is awaiting approval" in summary
    assert re.search(r'<textarea[^>]*name="reason"[^>]*>hold</textarea>', answer.text)
    assert (await handle.query("status", result_type=CutoverStatus)).setting.modern_percent == 5


async def test_non_engineers_get_no_action_and_the_workflow_is_untouched(
    client_for, system_id, start_cutover
) -> None:
    handle = await start_cutover(system_id)
    manager = client_for("pm1", "manager")
    token = csrf_of(manager.get("/").text)
    answer = await call(
        manager.post,
        f"/dashboard/systems/{system_id}/cutover",
        data={"csrf_token": token, "action": "approve"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert (await handle.query("status", result_type=CutoverStatus)).phase is (
        CutoverPhase.AWAITING_APPROVAL
    )


async def test_no_running_workflow_unknown_action_and_forged_token(client_for, system_id) -> None:
    engineer = client_for("eng1", "engineer")
    token = csrf_of(engineer.get("/").text)
    url = f"/dashboard/systems/{system_id}/cutover"
    none = await call(engineer.post, url, data={"csrf_token": token, "action": "approve"})
    assert none.status_code == 409
    assert f"no cutover is running for {system_id}" in none.text
    odd = await call(engineer.post, url, data={"csrf_token": token, "action": "explode"})
    assert odd.status_code == 400
    forged = await call(engineer.post, url, data={"csrf_token": "forged", "action": "approve"})
    assert forged.status_code == 403
    assert "This form has expired" in forged.text
    unknown = await call(engineer.post, "/dashboard/systems/nope/cutover",
                         data={"csrf_token": token, "action": "approve"})  # fmt: skip
    assert unknown.status_code == 404


async def test_temporal_unreachable_is_a_503_with_the_history_still_shown(
    settings, system_id
) -> None:
    from fastapi.testclient import TestClient

    from switchover.web import create_app
    from tests.web.conftest import add_user, sign_in

    add_user(settings, "eng1", "engineer")
    cut_off = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    with TestClient(create_app(cut_off)) as engineer:
        sign_in(engineer, "eng1")
        page = engineer.get(f"/dashboard/systems/{system_id}")
        assert page.status_code == 200
        assert "Temporal is unreachable" in page.text
        assert "Gate failed at 25%" in page.text
        token = csrf_of(page.text)
        answer = engineer.post(f"/dashboard/systems/{system_id}/cutover",
                               data={"csrf_token": token, "action": "approve"})  # fmt: skip
        assert answer.status_code == 503
        assert "could not be reached, so nothing was done" in answer.text


# --- the retirement checklist -----------------------------------------------------------------


async def test_closing_an_item_with_evidence_and_downloading_it(
    client_for, settings, system_id, start_cutover
) -> None:
    handle = await start_cutover(system_id)
    manager = client_for("pm1", "manager")
    token = csrf_of(manager.get("/").text)
    letter = b"%PDF-1.4 the supplier confirms contract 4471 ended"
    closed = await call(
        manager.post, f"/dashboard/systems/{system_id}/checklist/1",
        data={"csrf_token": token, "note": "Contract 4471 ended 31 March"},
        files={"evidence": ("C:\\Users\\pm\\letter 4471.pdf", letter, "application/pdf")},
        follow_redirects=False,
    )  # fmt: skip
    assert closed.status_code == 303, closed.text
    assert closed.headers["location"].endswith("?notice=closed#checklist")
    assert await handle.query("checklist_signals", result_type=int) == 1

    page = await call(manager.get, closed.headers["location"])
    item = page.text.split('data-item="1"')[1].split('data-item="2"')[0]
    assert "Closed by pm1" in item
    assert "Contract 4471 ended 31 March" in item
    assert "letter 4471.pdf" in item  # the base name only, not the person's folders
    assert "The checklist item has been closed" in page.text
    assert "Checklist closed" in page.text  # a line of the stage history too

    download = await call(manager.get, f"/dashboard/systems/{system_id}/checklist/1/evidence")
    assert download.status_code == 200
    assert download.content == letter
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["content-type"] == "application/octet-stream"
    engineer = client_for("eng1", "engineer")
    assert engineer.get(f"/dashboard/systems/{system_id}/checklist/1/evidence").status_code == 200
    caseworker = client_for("cw1", "caseworker")
    refused = caseworker.get(f"/dashboard/systems/{system_id}/checklist/1/evidence")
    assert refused.status_code == 403
    assert letter not in refused.content
    assert manager.get(f"/dashboard/systems/{system_id}/checklist/2/evidence").status_code == 404
    with session_scope(settings.resolved_database_url) as session:
        downloads = session.scalars(
            select(AuditEvent.actor).where(AuditEvent.action == "checklist.evidence_downloaded")
        ).all()
    assert sorted(downloads) == ["eng1", "pm1"]


async def test_a_close_needs_a_note_and_happens_once(client_for, system_id) -> None:
    engineer = client_for("eng1", "engineer")
    token = csrf_of(engineer.get("/").text)
    url = f"/dashboard/systems/{system_id}/checklist/2"
    empty = await call(engineer.post, url, data={"csrf_token": token, "note": "  "})
    assert empty.status_code == 400
    summary = empty.text.split('class="govuk-error-summary"')[1].split("</div>")[0]
    assert 'href="#note-2"' in summary
    assert "Enter what was done to close this item" in summary

    first = await call(engineer.post, url, data={"csrf_token": token, "note": "Zone removed"},
                       follow_redirects=False)  # fmt: skip
    assert first.status_code == 303
    again = await call(engineer.post, url, data={"csrf_token": token, "note": "Again"})
    assert again.status_code == 409
    assert "already closed by eng1" in again.text
    missing = await call(engineer.post, f"/dashboard/systems/{system_id}/checklist/9",
                         data={"csrf_token": token, "note": "x"})  # fmt: skip
    assert missing.status_code == 404

"""The programme dashboard shows what the database holds, and exports exactly that."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from db.programme import system_summaries
from db.session import session_scope
from tests.db.test_programme import seed_forms, seed_systems

ARTEFACTS = Path(__file__).resolve().parents[2] / ".switchover" / "test-artefacts"


@pytest.fixture
def manager(settings, client_for):
    seed_systems(settings.resolved_database_url)
    seed_forms(settings.resolved_database_url)
    return client_for("pm1", "manager")


def test_the_page_shows_the_figures_of_the_database(manager, settings) -> None:
    page = manager.get("/dashboard")
    assert page.status_code == 200
    html = page.text
    for name in ("Electoral", "Payroll", "Benefits"):
        assert name in html
    assert "cutover 25%" in html
    # Saved to date: two register-to-vote forms, one legal aid form and a retired system.
    total = Decimal("6.38") * 2 + Decimal("13.40") + Decimal("164.38")
    assert f'data-test-id="saved-to-date">£{total:,.2f}' in html
    assert 'data-test-id="red">2<' in html
    assert html.count('<svg class="app-chart"') == 4
    assert 'role="img"' in html
    assert "<desc" in html  # each chart describes itself in words


def test_exports_match_the_page_and_the_database(manager, settings) -> None:
    as_json = manager.get("/dashboard/export/systems.json")
    assert as_json.status_code == 200
    assert "attachment" in as_json.headers["content-disposition"]
    with session_scope(settings.resolved_database_url) as session:
        expected = {s.id: s for s in system_summaries(session)}
    rows = {r["Id"]: r for r in as_json.json()}
    assert set(rows) == set(expected)
    assert rows["electoral"]["Stage"] == "cutover 25%"
    assert rows["payroll"]["Saved to date (£)"] == str(expected["payroll"].savings_to_date_gbp)

    digitisation = manager.get("/dashboard/export/digitisation.csv")
    table = dict(list(csv.reader(io.StringIO(digitisation.text)))[1:])
    assert table["Forms received"] == "5"
    assert table["Approved without review"] == "2"
    assert table["Past their deadline"] == "1"
    assert table["Cost per form on paper (£)"] == "8.73"

    for name in ("stages", "forms-per-day", "savings"):
        for fmt in ("csv", "json"):
            assert manager.get(f"/dashboard/export/{name}.{fmt}").status_code == 200
    assert manager.get("/dashboard/export/users.csv").status_code == 404
    assert manager.get("/dashboard/export/systems.xlsx").status_code == 404


def test_csv_exports_never_hold_a_formula(manager, settings) -> None:
    from db.programme import register_system

    hostile = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)",
               "-2+3", "\t=1+1", "\r=1+1"]  # fmt: skip
    with session_scope(settings.resolved_database_url) as session:
        for n, text in enumerate(hostile):
            register_system(session, system_id=f"hostile{n}", name=text, department=text,
                            risk_score=1, annual_run_cost_gbp=Decimal("1"),
                            migration_cost_gbp=Decimal("0"), actor="eng")  # fmt: skip
    exported = manager.get("/dashboard/export/systems.csv")
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.text)))
    cells = [cell for row in rows for cell in row]
    for text in hostile:
        assert text not in cells
        assert "'" + text in cells  # shown as the text it is
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    # Numbers stay numbers: a negative amount is not a formula.
    payroll = next(row for row in rows if row[-1] == "payroll")
    assert all(not cell.startswith("'") for cell in payroll)


def test_a_system_page_shows_its_stage_history(manager) -> None:
    page = manager.get("/dashboard/systems/electoral")
    assert page.status_code == 200
    assert (
        page.text.index("Cutover 25%") < page.text.index("Migrating") < page.text.index("Planned")
    )  # newest first
    assert manager.get("/dashboard/systems/nope").status_code == 404


def test_screenshot_of_the_dashboard(manager, settings, tmp_path) -> None:
    """The dashboard in a real browser, saved for people to look at."""
    import threading
    import time

    import uvicorn
    from playwright.sync_api import sync_playwright

    from switchover.web import create_app
    from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

    cookies = manager.cookies
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies([
                {"name": c.name, "value": c.value, "domain": "127.0.0.1", "path": "/"}
                for c in cookies.jar
            ])  # fmt: skip
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/dashboard")
            assert page.locator("h1").inner_text() == "Programme dashboard"
            page.screenshot(path=str(ARTEFACTS / "dashboard.png"), full_page=True)
            # On a phone the page reflows: nothing is wider than the screen but the
            # systems table, which scrolls inside its own pane.
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"http://127.0.0.1:{port}/dashboard")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0
            page.screenshot(path=str(ARTEFACTS / "dashboard-phone.png"), full_page=False)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)

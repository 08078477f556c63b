"""The web app's guards: sign-in everywhere, roles on the server, CSRF on every form,
no data for tasks one may not see, sessions that really end, sign-in throttles, redacted
logs."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from config.log import configure_logging
from config.settings import Settings
from db.models import WebSession
from db.review import claim_task
from db.session import session_scope
from tests.db.factories import make_task
from tests.web.conftest import PASSWORD, csrf_of

# Every page and action with an example path; {task} is replaced by a real task id.
PAGES = [
    "/", "/review", "/review/tasks/{task}", "/review/tasks/{task}/pages/1.png", "/admin/users",
    "/dashboard", "/dashboard/systems/electoral", "/dashboard/export/systems.csv",
    "/cutover", "/dashboard/systems/electoral/checklist/1/evidence", "/upload",
]  # fmt: skip
# Example paths whose route has parameters other than the task's.
ROUTE_OF = {
    "/dashboard/systems/electoral": "/dashboard/systems/{system_id}",
    "/dashboard/export/systems.csv": "/dashboard/export/{table}.{fmt}",
    "/dashboard/systems/electoral/checklist/1/evidence": (
        "/dashboard/systems/{system_id}/checklist/{position}/evidence"
    ),
    "/dashboard/systems/electoral/cutover": "/dashboard/systems/{system_id}/cutover",
    "/dashboard/systems/electoral/migration": "/dashboard/systems/{system_id}/migration",
    "/dashboard/systems/electoral/quarantine": "/dashboard/systems/{system_id}/quarantine",
    "/dashboard/systems/electoral/checklist/1": (
        "/dashboard/systems/{system_id}/checklist/{position}"
    ),
}
REVIEW_ACTIONS = [
    "/review/tasks/{task}/claim",
    "/review/tasks/{task}/release",
    "/review/tasks/{task}/decision",
]
# Engineers act on a cutover; engineers and managers close retirement checklist items.
CUTOVER_ACTIONS = ["/dashboard/systems/electoral/cutover"]
CHECKLIST_ACTIONS = ["/dashboard/systems/electoral/checklist/1"]
# Engineers decide a migration's gates and accept its quarantined records.
MIGRATION_ACTIONS = ["/dashboard/systems/electoral/migration",
                     "/dashboard/systems/electoral/quarantine"]  # fmt: skip
ACTIONS = ["/sign-out", *REVIEW_ACTIONS, *CUTOVER_ACTIONS, *CHECKLIST_ACTIONS, *MIGRATION_ACTIONS,
           "/upload"]  # fmt: skip
# The Temporal UI's payload codec: JSON, 401 without sign-in, engineers only (tested below).
CODEC = {("POST", "/codec/decode"), ("POST", "/codec/encode"), ("OPTIONS", "/codec/{operation}")}
PUBLIC = {"/sign-in", "/sign-in/sso", "/sign-in/sso/callback", "/sign-in/sso/jwks.json",
          "/healthz"}  # fmt: skip


@pytest.fixture
def task_id(settings: Settings) -> int:
    with session_scope(settings.resolved_database_url) as session:
        return make_task(session).id


def test_every_route_is_listed_here(settings) -> None:
    # A new route must be added to PAGES or ACTIONS (or PUBLIC), so the tests below cover it.
    import importlib

    from switchover.web import AREAS, create_app

    every = list(create_app(settings).routes)
    for area in AREAS:
        every += importlib.import_module(area.router_module).router.routes
    routes = {
        (method, route.path)
        for route in every
        if getattr(route, "methods", None)
        for method in route.methods
        if method != "HEAD"
    }
    covered = {("GET", ROUTE_OF.get(p, p).replace("{task}", "{task_id}")) for p in PAGES}
    covered |= {("POST", ROUTE_OF.get(p, p).replace("{task}", "{task_id}")) for p in ACTIONS}
    covered = {(m, p.replace("pages/1.png", "pages/{page}.png")) for m, p in covered}
    public = {(m, p) for m, p in routes if p in PUBLIC}
    assert routes - public - CODEC == covered


@pytest.mark.parametrize("path", PAGES + ACTIONS)
def test_without_sign_in_every_page_redirects_to_sign_in(app_client, task_id, path) -> None:
    url = path.format(task=task_id)
    method = app_client.post if path in ACTIONS else app_client.get
    answer = method(url, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/sign-in?next=")


@pytest.mark.parametrize(
    ("role", "path", "allowed"),
    [
        ("caseworker", "/review", True),
        ("caseworker", "/admin/users", False),
        ("engineer", "/review", False),
        ("engineer", "/review/tasks/{task}", False),
        ("engineer", "/review/tasks/{task}/pages/1.png", False),
        ("manager", "/review", False),
        ("manager", "/admin/users", False),
        ("admin", "/admin/users", True),
        ("admin", "/review/tasks/{task}", False),
        ("manager", "/dashboard", True),
        ("manager", "/dashboard/export/systems.csv", True),
        ("caseworker", "/dashboard", False),
        ("engineer", "/dashboard/export/systems.json", False),
        ("admin", "/dashboard/systems/electoral", False),
        ("caseworker", "/dashboard/systems/electoral", False),
        ("engineer", "/cutover", True),
        ("manager", "/cutover", True),
        ("caseworker", "/cutover", False),
        ("admin", "/cutover", False),
        ("caseworker", "/dashboard/systems/electoral/checklist/1/evidence", False),
        ("admin", "/dashboard/systems/electoral/checklist/1/evidence", False),
    ],
)
def test_each_role_is_refused_what_it_may_not_see(client_for, task_id, role, path, allowed):
    client = client_for(f"someone-{role}", role)
    answer = client.get(path.format(task=task_id), follow_redirects=False)
    assert (answer.status_code == 200) is allowed, answer.status_code
    if not allowed:
        assert answer.status_code == 403
        assert "You do not have permission" in answer.text
        assert "OKAFOR" not in answer.text


@pytest.mark.parametrize("role", ["engineer", "manager", "admin"])
def test_each_role_is_refused_the_caseworkers_actions(client_for, task_id, role):
    client = client_for(f"someone-{role}", role)
    token = csrf_of(client.get("/").text)
    for action in REVIEW_ACTIONS:
        answer = client.post(
            action.format(task=task_id),
            data={"csrf_token": token, "action": "approve"},
            follow_redirects=False,
        )
        assert answer.status_code == 403, action


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [(role, action, False) for role in ("caseworker", "manager", "admin")
     for action in CUTOVER_ACTIONS + MIGRATION_ACTIONS]
    + [(role, action, False) for role in ("caseworker", "admin") for action in CHECKLIST_ACTIONS]
    + [("engineer", action, True) for action in CUTOVER_ACTIONS + CHECKLIST_ACTIONS]
    + [("manager", action, True) for action in CHECKLIST_ACTIONS],
)  # fmt: skip
def test_cutover_and_checklist_actions_need_their_role(client_for, role, action, allowed):
    client = client_for(f"someone-{role}", role)
    token = csrf_of(client.get("/").text)
    answer = client.post(
        action, data={"csrf_token": token, "action": "approve", "note": "done"},
        follow_redirects=False,
    )  # fmt: skip
    # Allowed people get past the role check to the system, which these tests never made.
    assert answer.status_code == (404 if allowed else 403), answer.status_code
    if not allowed:
        assert "You do not have permission" in answer.text


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("token", [None, "forged"])
def test_a_form_post_without_the_csrf_token_is_refused(client_for, task_id, action, token):
    # Someone holding every role each action needs, so that only the token is missing.
    client = client_for("cw1", "caseworker", "engineer")
    data = {"action": "approve"} | ({"csrf_token": token} if token else {})
    answer = client.post(action.format(task=task_id), data=data, follow_redirects=False)
    assert answer.status_code == 403
    assert "This form has expired" in answer.text


def test_the_sign_in_form_needs_its_own_csrf_token(app_client, settings) -> None:
    from tests.web.conftest import add_user

    add_user(settings, "cw1", "caseworker")
    answer = app_client.post(
        "/sign-in", data={"username": "cw1", "password": PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 403
    assert "switchover_session" not in app_client.cookies


def test_unknown_task_gives_404_and_someone_elses_claimed_task_403(client_for, settings, task_id):
    cw1 = client_for("cw1", "caseworker")
    assert cw1.get("/review/tasks/999999").status_code == 404
    assert cw1.get("/review/tasks/abc").status_code in (404, 422)
    with session_scope(settings.resolved_database_url) as session:
        claim_task(session, task_id, by="cw2", lease=dt.timedelta(minutes=30))
    page = cw1.get(f"/review/tasks/{task_id}")
    assert page.status_code == 403
    assert "cw2 is working on this form" in page.text
    assert "OKAFOR" not in page.text
    assert cw1.get(f"/review/tasks/{task_id}/pages/1.png").status_code == 403
    token = csrf_of(cw1.get("/review").text)
    claim = cw1.post(
        f"/review/tasks/{task_id}/claim", data={"csrf_token": token}, follow_redirects=False
    )
    assert claim.status_code == 403


def test_session_cookie_flags_and_sign_out_deletes_the_session(client_for, settings) -> None:
    client = client_for("cw1", "caseworker")
    with session_scope(settings.resolved_database_url) as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 1
    cookie = client.cookies.get("switchover_session")
    assert cookie
    page = client.get("/")
    token = csrf_of(page.text)
    out = client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert "switchover_session=" in out.headers["set-cookie"]
    with session_scope(settings.resolved_database_url) as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0
    # The old cookie, replayed, is worth nothing now.
    client.cookies.set("switchover_session", cookie)
    assert client.get("/review", follow_redirects=False).status_code == 303


def test_cookies_are_httponly_lax_and_secure_when_set(settings, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from switchover.web import create_app
    from tests.web.conftest import add_user

    add_user(settings, "cw1", "caseworker")
    secure = settings.model_copy(update={"web_secure_cookies": True})
    with TestClient(create_app(secure), base_url="https://testserver") as client:
        token = csrf_of(client.get("/sign-in").text)
        answer = client.post(
            "/sign-in",
            data={"username": "cw1", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
    header = answer.headers["set-cookie"].lower()
    assert "httponly" in header
    assert "samesite=lax" in header
    assert "secure" in header


def test_repeated_failures_slow_that_client_on_every_replica(app_client, settings):
    from tests.web.conftest import add_user

    add_user(settings, "cw1", "caseworker")
    for _ in range(3):
        token = csrf_of(app_client.get("/sign-in").text)
        wrong = app_client.post(
            "/sign-in", data={"username": "cw1", "password": "nope", "csrf_token": token}
        )
    assert wrong.status_code == 429
    assert "too many times" in wrong.text
    token = csrf_of(app_client.get("/sign-in").text)
    right = app_client.post(
        "/sign-in", data={"username": "cw1", "password": PASSWORD, "csrf_token": token}
    )
    assert right.status_code == 429
    assert "too many times" in right.text
    # A second web replica sees the same wait (it is in the database).
    from fastapi.testclient import TestClient

    from switchover.web import create_app

    with TestClient(create_app(settings)) as other:
        token = csrf_of(other.get("/sign-in").text)
        again = other.post(
            "/sign-in", data={"username": "cw1", "password": PASSWORD, "csrf_token": token}
        )
        assert again.status_code == 429


def test_an_unknown_username_gets_the_same_answer(app_client) -> None:
    token = csrf_of(app_client.get("/sign-in").text)
    answer = app_client.post(
        "/sign-in", data={"username": "nobody", "password": "x", "csrf_token": token}
    )
    assert answer.status_code == 401
    assert "Enter a correct username and password" in answer.text


def test_sign_in_goes_back_only_to_this_site(app_client, settings) -> None:
    from tests.web.conftest import add_user

    add_user(settings, "cw1", "caseworker")
    token = csrf_of(app_client.get("/sign-in").text)
    answer = app_client.post(
        "/sign-in",
        data={
            "username": "cw1",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_pages_carry_security_headers_and_no_caching(client_for) -> None:
    client = client_for("cw1", "caseworker")
    answer = client.get("/review")
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"


def test_no_personal_data_in_the_logs(client_for, settings, task_id, capsys) -> None:
    configure_logging("DEBUG", "json", force=True)
    try:
        client = client_for("cw1", "caseworker")
        token = csrf_of(client.get("/review").text)
        client.post(f"/review/tasks/{task_id}/claim", data={"csrf_token": token})
        client.get(f"/review/tasks/{task_id}")
        # A decision with personal data in it; Temporal is not running, so it fails.
        client.post(
            f"/review/tasks/{task_id}/decision",
            data={
                "csrf_token": token,
                "action": "approve",
                "field-surname": "SMITHERINGTON",
                "field-date_of_birth": "12/03/1961",
            },
        )
        client.post("/sign-in", data={"username": "cw1", "password": PASSWORD, "csrf_token": token})
    finally:
        configure_logging(settings.log_level, settings.log_format, force=True)
    logged = capsys.readouterr().err
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    assert any(line.get("event") == "audit.appended" for line in lines)
    for secret in ("SMITHERINGTON", "OKAFOR", "1961", PASSWORD):
        assert secret not in logged


# --- held-out probes: caching, throttles, enumeration, fixation, exports, the codec -----


@pytest.fixture
def task_with_scan(settings: Settings) -> int:
    """A review task whose document is a real page image in storage."""
    import io

    from PIL import Image, ImageDraw

    from adapters.storage import open_store
    from db.models import Document, FormRecord

    with session_scope(settings.resolved_database_url) as session:
        task = make_task(session)
        record = session.get_one(FormRecord, task.record_id)
        key, task_id = session.get_one(Document, record.document_id).storage_key, task.id
    image = Image.new("L", (1240, 1754), 255)
    ImageDraw.Draw(image).text((120, 160), "Surname OKAFOR  Date of birth 12/03/1961", fill=0)
    out = io.BytesIO()
    image.save(out, format="PNG")
    open_store(settings.resolved_storage_url, settings).put_at(key, out.getvalue())
    return task_id


# What each role may open, with the personal data or figures it shows.
ALLOWED = [("caseworker", "/review"), ("caseworker", "/review/tasks/{task}"),
           ("caseworker", "/review/tasks/{task}/pages/1.png"), ("caseworker", "/upload"),
           ("manager", "/dashboard"), ("manager", "/dashboard/export/systems.csv"),
           ("manager", "/dashboard/export/systems.json"), ("engineer", "/cutover"),
           ("admin", "/admin/users"), ("caseworker", "/")]  # fmt: skip


@pytest.mark.parametrize(("role", "path"), ALLOWED)
def test_nothing_a_signed_in_person_sees_is_kept_in_a_cache(
    client_for, task_with_scan, role, path
) -> None:
    # After sign-out on a shared computer, the browser's cache must hold no page, scan or
    # export for the next person to find.
    client = client_for(f"someone-{role}", role)
    answer = client.get(path.format(task=task_with_scan), follow_redirects=False)
    assert answer.status_code == 200, (path, answer.status_code)
    assert answer.headers["cache-control"] == "no-store", path
    if path.endswith(".png"):
        assert answer.headers["content-type"] == "image/png"


def _sign_in_try(client, username: str, password: str, **headers: str):
    token = csrf_of(client.get("/sign-in").text)
    return client.post(
        "/sign-in",
        data={"username": username, "password": password, "csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )


def test_a_forged_forwarded_for_does_not_escape_the_throttles(app_client, settings) -> None:
    from tests.web.conftest import add_user

    add_user(settings, "cw1", "caseworker")
    codes = [
        _sign_in_try(app_client, "cw1", f"guess-{n}", **{"X-Forwarded-For": f"10.9.8.{n}",
                     "X-Real-IP": f"10.9.8.{n}", "Forwarded": f"for=10.9.8.{n}"}).status_code
        for n in range(5)
    ]  # fmt: skip
    assert codes[:2] == [401, 401]
    assert set(codes[2:]) == {429}


def test_throttled_answers_do_not_tell_which_usernames_exist(app_client, settings) -> None:
    from tests.web.conftest import add_user

    add_user(settings, "cw1", "caseworker")
    known = [_sign_in_try(app_client, "cw1", f"guess-{n}") for n in range(4)]
    unknown = [_sign_in_try(app_client, "nobody-here", f"guess-{n}") for n in range(4)]
    assert [a.status_code for a in known] == [a.status_code for a in unknown]
    for a, b in zip(known, unknown, strict=True):
        assert a.text.replace("cw1", "NAME").replace("nobody-here", "NAME").count(
            "wrong details"
        ) == b.text.replace("nobody-here", "NAME").count("wrong details")


def test_a_session_cookie_planted_before_sign_in_is_not_kept(app_client, settings) -> None:
    from tests.web.conftest import add_user

    add_user(settings, "cw1", "caseworker")
    app_client.cookies.set("switchover_session", "planted-by-an-attacker")
    answer = _sign_in_try(app_client, "cw1", PASSWORD)
    assert answer.status_code == 303
    session = next(c for c in answer.headers.get_list("set-cookie")
                   if c.startswith("switchover_session="))  # fmt: skip
    assert "planted-by-an-attacker" not in session  # a new token, made by the server
    # And the planted value opens nothing.
    from fastapi.testclient import TestClient

    with TestClient(app_client.app) as other:
        other.cookies.set("switchover_session", "planted-by-an-attacker")
        assert other.get("/review", follow_redirects=False).status_code == 303


def test_the_device_cookie_is_private_to_the_sign_in_page(app_client, settings) -> None:
    from tests.web.conftest import add_user

    add_user(settings, "cw1", "caseworker")
    answer = _sign_in_try(app_client, "cw1", PASSWORD)
    cookies = [c.lower() for c in answer.headers.get_list("set-cookie")]
    device = next(c for c in cookies if c.startswith("switchover_device="))
    assert "httponly" in device
    assert "samesite=lax" in device
    assert "path=/sign-in" in device
    assert "cw1" not in device  # the accounts it knows are keyed hashes


def test_a_forged_device_cookie_buys_nothing(app_client, settings) -> None:
    from tests.web.conftest import add_user

    add_user(settings, "cw1", "caseworker")
    app_client.cookies.set("switchover_device", "eyJkIjoiYSIsImEiOltdfQ.forged.sig")
    codes = [_sign_in_try(app_client, "cw1", f"guess-{n}").status_code for n in range(4)]
    assert codes[-1] == 429


@pytest.mark.parametrize("table", ["systems", "stages", "digitisation", "forms-per-day",
                                   "savings"])  # fmt: skip
def test_no_export_holds_a_cell_a_spreadsheet_would_run(client_for, settings, table) -> None:
    import csv
    import io
    from decimal import Decimal

    from db.programme import register_system

    with session_scope(settings.resolved_database_url) as session:
        register_system(session, system_id="=cmd", name='=HYPERLINK("http://x")',
                        department="@SUM(A1)", risk_score=1, annual_run_cost_gbp=Decimal(1),
                        migration_cost_gbp=Decimal(0), actor="eng")  # fmt: skip
    client = client_for("pm1", "manager")
    exported = client.get(f"/dashboard/export/{table}.csv")
    assert exported.status_code == 200
    for row in csv.reader(io.StringIO(exported.text)):
        for cell in row:
            assert cell[:1] not in ("=", "+", "@", "\t", "\r"), (table, cell)
            assert not (cell[:1] == "-" and not cell[1:].replace(".", "").isdigit()), cell


@pytest.mark.parametrize("operation", ["decode", "encode"])
def test_the_codec_opens_payloads_only_to_signed_in_engineers(client_for, app_client, operation):
    body = {"payloads": []}
    assert app_client.post(f"/codec/{operation}", json=body).status_code == 401
    for role in ("caseworker", "manager", "admin"):
        client = client_for(f"someone-{role}", role)
        assert client.post(f"/codec/{operation}", json=body).status_code == 403
    engineer = client_for("eng1", "engineer")
    assert engineer.post(f"/codec/{operation}", json=body).status_code == 200


@pytest.mark.parametrize("typed", ["x" * 5000, "<script>alert(1)</script>", "a\x00b\nc"])
def test_whatever_is_typed_as_a_username_is_refused_plainly(app_client, settings, typed):
    from db.models import AuditEvent

    answer = _sign_in_try(app_client, typed, "a password")
    assert answer.status_code == 401
    assert "<script>alert(1)" not in answer.text
    with session_scope(settings.resolved_database_url) as session:
        actors = set(session.scalars(select(AuditEvent.actor)))
    assert actors == {"(not a username)"}

"""Signing in: failures slow the client that fails, never the account's owner elsewhere;
a password sprayed across usernames from one client is slowed; an unknown username costs
as much work as a known one; sessions end after idle time and after their longest life."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher

from config.settings import Settings
from db import accounts
from db.session import session_scope
from switchover.web import auth, create_app
from tests.web.conftest import PASSWORD, add_user, csrf_of

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

STRANGER = ("203.0.113.7", 50000)
OWNER_ELSEWHERE = ("198.51.100.20", 50000)


@pytest.fixture
def app(settings: Settings) -> Any:
    # Three failures per username and client (conftest), five per client whatever the names.
    return create_app(settings.model_copy(update={"web_client_sign_in_failures": 5}))


@pytest.fixture
def client_at(app: Any) -> Iterator[Any]:
    made: list[TestClient] = []

    def make(address: tuple[str, int]) -> TestClient:
        client = TestClient(app, client=address)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def _try(client: TestClient, username: str, password: str) -> Any:
    token = csrf_of(client.get("/sign-in").text)
    return client.post(
        "/sign-in",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def test_a_stranger_failing_slows_only_themselves(settings, client_at) -> None:
    add_user(settings, "cw1", "caseworker")
    stranger = client_at(STRANGER)
    answers = [_try(stranger, "cw1", f"guess-{n}") for n in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert "too many times" in answers[-1].text
    assert int(answers[-1].headers["retry-after"]) > 0
    # Even the right password is not checked while that client waits.
    assert _try(stranger, "cw1", PASSWORD).status_code == 429
    # The owner, signing in from elsewhere, is not held up by it.
    owner = client_at(OWNER_ELSEWHERE)
    assert _try(owner, "cw1", PASSWORD).status_code == 303
    assert owner.get("/review").status_code == 200


def test_the_owners_browser_is_not_held_up_behind_the_strangers_address(settings, client_at):
    add_user(settings, "cw1", "caseworker")
    # The owner signed in on this browser before: it holds a device cookie for cw1.
    owner = client_at(STRANGER)
    assert _try(owner, "cw1", PASSWORD).status_code == 303
    assert owner.cookies.get(auth.DEVICE_COOKIE)
    # A stranger behind the same address (an office's NAT) fails on cw1 and waits...
    stranger = client_at(STRANGER)
    for n in range(3):
        _try(stranger, "cw1", f"guess-{n}")
    assert _try(stranger, "cw1", PASSWORD).status_code == 429
    # ...and the owner's browser still signs in, being counted on its own.
    assert _try(owner, "cw1", PASSWORD).status_code == 303


def test_a_device_cookie_for_one_account_does_not_help_against_another(settings, client_at):
    add_user(settings, "cw1", "caseworker")
    add_user(settings, "mallory", "caseworker")
    insider = client_at(STRANGER)
    assert _try(insider, "mallory", PASSWORD).status_code == 303
    answers = [_try(insider, "cw1", f"guess-{n}") for n in range(3)]
    assert answers[-1].status_code == 429


def test_spraying_one_password_across_usernames_is_slowed(settings, client_at) -> None:
    for n in range(8):
        add_user(settings, f"person{n}", "caseworker")
    sprayer = client_at(STRANGER)
    answers = [_try(sprayer, f"person{n}", "Winter2026!") for n in range(8)]
    # Each username saw one failure only; the client's own count makes it wait.
    assert [a.status_code for a in answers[:4]] == [401] * 4
    assert {a.status_code for a in answers[4:]} == {429}
    # A client that has not sprayed is unaffected, and so are the accounts.
    assert _try(client_at(OWNER_ELSEWHERE), "person7", PASSWORD).status_code == 303


def test_a_success_does_not_reset_the_clients_count(settings, client_at) -> None:
    # Otherwise someone with an account could spray between their own sign-ins.
    add_user(settings, "mallory", "caseworker")
    sprayer = client_at(STRANGER)
    for n in range(4):
        assert _try(sprayer, f"someone{n}", "Winter2026!").status_code == 401
    assert _try(sprayer, "mallory", PASSWORD).status_code == 303
    assert _try(sprayer, "someone9", "Winter2026!").status_code == 429


class CountingHasher:
    """The real hasher, counting the verifications it does."""

    def __init__(self) -> None:
        self.real = PasswordHasher()
        self.verified = 0

    def verify(self, hash: str, password: str) -> bool:
        self.verified += 1
        return self.real.verify(hash, password)


@pytest.mark.parametrize("case", ["unknown", "wrong-password", "single-sign-on", "disabled"])
def test_every_refusal_does_one_password_verification(settings, client_at, monkeypatch, case):
    add_user(settings, "cw1", "caseworker")
    with session_scope(settings.resolved_database_url) as session:
        accounts.upsert_oidc_user(
            session, subject="idp|1", username="sso1", display_name="S", roles=["caseworker"]
        )
        disabled = accounts.create_user(
            session,
            username="gone",
            roles=["caseworker"],
            password_hash=auth.hash_password(PASSWORD),
        )
        disabled.active = False
    username, password = {
        "unknown": ("nobody", PASSWORD),
        "wrong-password": ("cw1", "not it"),
        "single-sign-on": ("sso1", PASSWORD),
        "disabled": ("gone", PASSWORD),
    }[case]
    hasher = CountingHasher()
    monkeypatch.setattr(auth, "_hasher", hasher)
    answer = _try(client_at(STRANGER), username, password)
    assert answer.status_code == 401
    assert "Enter a correct username and password" in answer.text
    assert hasher.verified == 1


def test_the_dummy_hash_costs_what_a_real_one_does() -> None:
    # Same algorithm and parameters as the hashes of real passwords.
    real = auth.hash_password(PASSWORD)
    assert real.split("$")[1:4] == auth._DUMMY_HASH.split("$")[1:4]


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(auth, "utcnow", clock)
    return clock


def _signed_in(settings: Settings, *, idle_minutes: float, hours: float) -> TestClient:
    update = {"web_session_idle_minutes": idle_minutes, "web_session_hours": hours}
    add_user(settings, "cw1", "caseworker")
    client = TestClient(create_app(settings.model_copy(update=update)), client=STRANGER)
    assert _try(client, "cw1", PASSWORD).status_code == 303
    return client


def test_a_session_ends_after_idle_time(settings, clock) -> None:
    with _signed_in(settings, idle_minutes=30, hours=8) as client:
        # Busy: a request every 20 minutes keeps it alive well past 30 minutes.
        for _ in range(4):
            clock.now += dt.timedelta(minutes=20)
            assert client.get("/review", follow_redirects=False).status_code == 200
        # Idle for 31 minutes: it has ended, and the next page asks to sign in again.
        clock.now += dt.timedelta(minutes=31)
        answer = client.get("/review", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/sign-in")


def test_a_busy_session_still_ends_at_its_longest_life(settings, clock) -> None:
    with _signed_in(settings, idle_minutes=30, hours=1) as client:
        for _ in range(2):
            clock.now += dt.timedelta(minutes=25)
            assert client.get("/review", follow_redirects=False).status_code == 200
        clock.now += dt.timedelta(minutes=15)  # 65 minutes after signing in
        assert client.get("/review", follow_redirects=False).status_code == 303

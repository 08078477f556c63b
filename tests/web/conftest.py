"""The web app on a fresh SQLite engine database, driven in-process by Starlette's client."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from db import accounts
from db.migrate import upgrade
from db.session import dispose_engines, session_scope
from switchover.web import create_app
from switchover.web.auth import hash_password

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings of a throwaway state folder, its database migrated."""
    settings = Settings(home=tmp_path / "state", web_lockout_minutes=15, web_max_sign_in_failures=3)
    upgrade(settings.resolved_database_url)
    try:
        yield settings
    finally:
        dispose_engines()


def add_user(settings: Settings, username: str, *roles: str) -> None:
    with session_scope(settings.resolved_database_url) as session:
        accounts.create_user(
            session, username=username, roles=roles, password_hash=hash_password(PASSWORD)
        )


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    token = csrf_of(client.get("/sign-in").text)
    answer = client.post(
        "/sign-in",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


@pytest.fixture
def client_for(settings: Settings, app_client: TestClient):
    """A signed-in client per username (created with the given roles)."""
    app = app_client.app
    clients: list[TestClient] = []

    def make(username: str, *roles: str) -> TestClient:
        add_user(settings, username, *roles)
        client = TestClient(app)
        clients.append(client)
        sign_in(client, username)
        return client

    yield make
    for client in clients:
        client.close()

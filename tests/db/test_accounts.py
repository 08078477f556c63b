"""Web accounts: users, sessions that expire and end, sign-in lock-out across replicas."""

from __future__ import annotations

import datetime as dt

import pytest

from db.accounts import (
    clear_sign_in_failures,
    create_user,
    end_expired_web_sessions,
    end_web_session,
    extend_web_session,
    get_user_by_username,
    get_web_session,
    record_sign_in_failure,
    sign_in_locked_until,
    start_web_session,
    upsert_oidc_user,
)
from db.session import session_scope
from domain.errors import ConflictError

T0 = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def test_users_are_unique_and_roles_are_checked(db_url: str) -> None:
    with session_scope(db_url) as session:
        user = create_user(
            session,
            username="alex",
            roles=["caseworker", "admin", "admin"],
            password_hash="$argon2id$x",
        )
        assert user.roles == ["admin", "caseworker"]
    with session_scope(db_url) as session:
        with pytest.raises(ConflictError):
            create_user(session, username="alex", roles=["caseworker"], password_hash=None)
        with pytest.raises(ValueError, match="'wizard'"):
            create_user(session, username="sam", roles=["wizard"], password_hash=None)


def test_sessions_live_expire_extend_and_end(db_url: str) -> None:
    with session_scope(db_url) as session:
        user = create_user(session, username="alex", roles=["caseworker"], password_hash=None)
        start_web_session(
            session, user=user, token_sha256="a" * 64, csrf_token="c" * 43, lifetime=HOUR, now=T0
        )
    with session_scope(db_url) as session:
        live = get_web_session(session, "a" * 64, now=T0 + HOUR / 2)
        assert live is not None
        assert live.user.username == "alex"
        assert get_web_session(session, "a" * 64, now=T0 + HOUR) is None
        assert get_web_session(session, "b" * 64, now=T0) is None
        extend_web_session(session, "a" * 64, lifetime=HOUR, now=T0 + HOUR / 2)
    with session_scope(db_url) as session:
        assert get_web_session(session, "a" * 64, now=T0 + HOUR) is not None
        assert end_web_session(session, "a" * 64) is True
        assert get_web_session(session, "a" * 64, now=T0) is None
        assert end_web_session(session, "a" * 64) is False


def test_an_inactive_user_has_no_session(db_url: str) -> None:
    with session_scope(db_url) as session:
        user = create_user(session, username="alex", roles=["caseworker"], password_hash=None)
        start_web_session(
            session, user=user, token_sha256="a" * 64, csrf_token="c", lifetime=HOUR, now=T0
        )
        user.active = False
    with session_scope(db_url) as session:
        assert get_web_session(session, "a" * 64, now=T0) is None
        assert end_expired_web_sessions(session, now=T0 + 2 * HOUR) == 1


def test_lock_out_after_repeated_failures_then_clear(db_url: str) -> None:
    for n in range(4):
        with session_scope(db_url) as session:
            assert (
                record_sign_in_failure(
                    session,
                    "alex",
                    max_failures=5,
                    lockout=HOUR,
                    now=T0 + n * dt.timedelta(seconds=1),
                )
                is None
            )
            assert sign_in_locked_until(session, "alex", now=T0) is None
    with session_scope(db_url) as session:
        until = record_sign_in_failure(session, "alex", max_failures=5, lockout=HOUR, now=T0)
        assert until == T0 + HOUR
    with session_scope(db_url) as session:
        assert sign_in_locked_until(session, "alex", now=T0 + HOUR / 2) == T0 + HOUR
        assert sign_in_locked_until(session, "alex", now=T0 + HOUR) is None
        assert sign_in_locked_until(session, "nobody", now=T0) is None
        clear_sign_in_failures(session, "alex")
        assert sign_in_locked_until(session, "alex", now=T0 + HOUR / 2) is None


def test_single_sign_on_accounts_follow_the_provider(db_url: str) -> None:
    with session_scope(db_url) as session:
        first = upsert_oidc_user(
            session,
            subject="https://idp|42",
            username="sam@example.org",
            display_name="Sam",
            roles=["caseworker"],
        )
    with session_scope(db_url) as session:
        again = upsert_oidc_user(
            session,
            subject="https://idp|42",
            username="sam@example.org",
            display_name="Sam B",
            roles=["manager"],
        )
        assert again.id == first.id
        assert (again.display_name, again.roles) == ("Sam B", ["manager"])
        assert again.password_hash is None
        create_user(session, username="kim", roles=["admin"], password_hash="h")
        with pytest.raises(ConflictError):
            upsert_oidc_user(
                session, subject="https://idp|7", username="kim", display_name="Kim", roles=[]
            )
        assert get_user_by_username(session, "kim") is not None

"""Web accounts: people, their signed-in sessions, and failed sign-ins.

Everything a web replica needs to know about who is signed in lives here, in the engine
database, so any number of replicas can serve the same people. Passwords arrive already
hashed (argon2, in ``switchover.web.auth``); session tokens arrive as their sha256.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session, joinedload

from config.log import get_logger
from db.models import Role, SignInThrottle, User, WebSession
from db.session import insert_or_ignore
from db.types import utcnow
from domain.errors import ConflictError, NotFoundError

log = get_logger(__name__)


def _roles(roles: Sequence[str | Role]) -> list[str]:
    # Validated here so that a typo never reaches the table (Role raises ValueError).
    return sorted({Role(role).value for role in roles})


def create_user(
    session: Session,
    *,
    username: str,
    roles: Sequence[str | Role],
    password_hash: str | None,
    display_name: str | None = None,
) -> User:
    """Add a local account.

    Raises:
        ConflictError: the username is taken.
        ValueError: an unknown role.
    """
    if get_user_by_username(session, username) is not None:
        raise ConflictError(f"there is already a user {username!r}")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=password_hash,
        roles=_roles(roles),
        active=True,
    )
    session.add(user)
    session.flush()
    log.info("user.created", user_id=user.id, roles=user.roles)
    return user


def set_password(session: Session, username: str, password_hash: str) -> User:
    """Replace a local account's password hash.

    Raises:
        NotFoundError: no such user.
    """
    user = get_user_by_username(session, username)
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    user.password_hash = password_hash
    session.flush()
    return user


def get_user_by_username(session: Session, username: str) -> User | None:
    """The account with this username, or None."""
    return session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def list_users(session: Session) -> Sequence[User]:
    """Every account, by username."""
    return session.scalars(select(User).order_by(User.username)).all()


def upsert_oidc_user(
    session: Session,
    *,
    subject: str,
    username: str,
    display_name: str,
    roles: Sequence[str | Role],
) -> User:
    """The account of a single sign-on identity, created on first sign-in; its roles and
    name follow the identity provider's at every sign-in.

    Raises:
        ConflictError: a local account already has this username.
    """
    user = session.execute(select(User).where(User.oidc_subject == subject)).scalar_one_or_none()
    if user is None:
        if get_user_by_username(session, username) is not None:
            raise ConflictError(f"a local account is already called {username!r}")
        user = User(
            username=username,
            oidc_subject=subject,
            password_hash=None,
            active=True,
            display_name=display_name,
            roles=_roles(roles),
        )
        session.add(user)
    else:
        user.display_name = display_name
        user.roles = _roles(roles)
    session.flush()
    return user


def start_web_session(
    session: Session,
    *,
    user: User,
    token_sha256: str,
    csrf_token: str,
    lifetime: dt.timedelta,
    now: dt.datetime | None = None,
) -> WebSession:
    """Record a signed-in browser for ``user``."""
    now = now or utcnow()
    row = WebSession(
        id=token_sha256,
        user_id=user.id,
        csrf_token=csrf_token,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    user.last_signed_in_at = now
    session.flush()
    return row


def get_web_session(
    session: Session, token_sha256: str, *, now: dt.datetime | None = None
) -> WebSession | None:
    """The live session with this token hash, with its user loaded; None when there is none,
    it has expired, or its user is no longer active."""
    row = session.execute(
        select(WebSession)
        .options(joinedload(WebSession.user))
        .where(WebSession.id == token_sha256, WebSession.expires_at > (now or utcnow()))
    ).scalar_one_or_none()
    if row is None or not row.user.active:
        return None
    return row


def extend_web_session(
    session: Session, token_sha256: str, *, lifetime: dt.timedelta, now: dt.datetime | None = None
) -> None:
    """Push a session's expiry ``lifetime`` past now (sessions end after idle time)."""
    now = now or utcnow()
    session.execute(
        update(WebSession)
        .where(WebSession.id == token_sha256)
        .values(last_seen_at=now, expires_at=now + lifetime)
    )


def end_web_session(session: Session, token_sha256: str) -> bool:
    """Delete a session (sign-out). True when there was one."""
    result = session.execute(delete(WebSession).where(WebSession.id == token_sha256))
    return bool(cast(CursorResult[Any], result).rowcount)


def end_expired_web_sessions(session: Session, *, now: dt.datetime | None = None) -> int:
    """Delete sessions past their expiry; how many."""
    result = session.execute(delete(WebSession).where(WebSession.expires_at <= (now or utcnow())))
    return int(cast(CursorResult[Any], result).rowcount)


def sign_in_locked_until(
    session: Session, username: str, *, now: dt.datetime | None = None
) -> dt.datetime | None:
    """When a lock-out on this username ends, if it is locked out now."""
    locked_until = session.execute(
        select(SignInThrottle.locked_until).where(SignInThrottle.username == username)
    ).scalar_one_or_none()
    if locked_until is not None and locked_until > (now or utcnow()):
        return locked_until
    return None


def record_sign_in_failure(
    session: Session,
    username: str,
    *,
    max_failures: int,
    lockout: dt.timedelta,
    now: dt.datetime | None = None,
) -> dt.datetime | None:
    """Count a failed sign-in; at ``max_failures`` in a row the username is locked out.

    Counted for any username, known or not, so that the answers do not tell which
    accounts exist. The increment is one UPDATE, so replicas counting at once lose none.

    Returns:
        When the lock-out ends, if this failure started one.
    """
    now = now or utcnow()
    session.execute(
        insert_or_ignore(session, SignInThrottle)
        .values(username=username, failures=0)
        .on_conflict_do_nothing(index_elements=[SignInThrottle.username])
    )
    session.execute(
        update(SignInThrottle)
        .where(SignInThrottle.username == username)
        .values(failures=SignInThrottle.failures + 1, last_failure_at=now)
    )
    failures = session.execute(
        select(SignInThrottle.failures).where(SignInThrottle.username == username)
    ).scalar_one()
    if failures < max_failures:
        return None
    locked_until = now + lockout
    # The count starts again after a lock-out, so each further run of failures locks again.
    session.execute(
        update(SignInThrottle)
        .where(SignInThrottle.username == username)
        .values(failures=0, locked_until=locked_until)
    )
    log.warning("sign_in.locked_out", failures=failures)
    return locked_until


def clear_sign_in_failures(session: Session, username: str) -> None:
    """Forget failed sign-ins after a successful one."""
    session.execute(delete(SignInThrottle).where(SignInThrottle.username == username))

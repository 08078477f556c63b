"""Web accounts: people, their signed-in sessions, and failed sign-ins (throttles).

Everything a web replica needs to know about who is signed in lives here, in the engine
database, so any number of replicas can serve the same people. Passwords arrive already
hashed (argon2, in ``switchover.web.auth``); session tokens arrive as their sha256.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, case, delete, func, select, update
from sqlalchemy.orm import Session, joinedload

from config.log import get_logger
from db.models import Role, SignInThrottle, User, WebSession
from db.session import insert_or_ignore
from db.types import utcnow
from domain.errors import BadInputError, ConflictError, NotFoundError

log = get_logger(__name__)


def _roles(roles: Sequence[str | Role]) -> list[str]:
    # Validated here so that a typo never reaches the table (Role raises ValueError).
    return sorted({Role(role).value for role in roles})


USERNAME_MAX = 128
DISPLAY_NAME_MAX = 100
# Letters and digits first (so no cell of an export starts a formula), then what e-mail
# addresses and single sign-on subjects use; no spaces, markup, quotes or control characters.
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+:=-]*")
USERNAME_RULE = (
    f"1 to {USERNAME_MAX} letters (A-Z), digits, '.', '_', '-', '@', '+', ':' or '=', "
    "starting with a letter or digit"
)


def check_username(username: str) -> str:
    """``username`` if it keeps the rules for usernames (``USERNAME_RULE``).

    Raises:
        BadInputError: it does not, saying which rule.
    """
    if not username.strip():
        raise BadInputError("a username cannot be blank")
    if len(username) > USERNAME_MAX:
        raise BadInputError(f"a username has at most {USERNAME_MAX} characters")
    if not _USERNAME.fullmatch(username):
        raise BadInputError(f"username {username!r} is not allowed: use {USERNAME_RULE}")
    return username


def check_display_name(display_name: str) -> str:
    """``display_name`` without surrounding spaces, if it is a name a page can show: not
    blank, at most ``DISPLAY_NAME_MAX`` characters, no markup, no control or formatting
    characters (which could reverse or hide text).

    Raises:
        BadInputError: it is not.
    """
    name = display_name.strip()
    if not name:
        raise BadInputError("a display name cannot be blank")
    if len(name) > DISPLAY_NAME_MAX:
        raise BadInputError(f"a display name has at most {DISPLAY_NAME_MAX} characters")
    if any(c in "<>" or unicodedata.category(c) in ("Cc", "Cf") for c in name):
        raise BadInputError("a display name cannot hold '<', '>', control or formatting characters")
    return name


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
        BadInputError: the username or display name breaks the rules (``check_username``,
            ``check_display_name``).
        ConflictError: the username is taken (in any mix of capitals).
        ValueError: an unknown role.
    """
    check_username(username)
    display_name = check_display_name(display_name) if display_name is not None else username
    _refuse_taken(session, username)
    user = User(
        username=username,
        display_name=display_name,
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


def _refuse_taken(session: Session, username: str) -> None:
    # Names that differ only in capitals would read as one person in the audit trail.
    taken = session.execute(
        select(User.username).where(func.lower(User.username) == username.lower())
    ).first()
    if taken is not None:
        raise ConflictError(f"there is already a user {taken[0]!r}")


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
    name follow the identity provider's at every sign-in. A display name the pages could
    not show safely is replaced by the username.

    Raises:
        BadInputError: the username breaks the rules (``check_username``).
        ConflictError: a local account already has this username.
    """
    try:
        display_name = check_display_name(display_name)
    except BadInputError:
        display_name = username
    user = session.execute(select(User).where(User.oidc_subject == subject)).scalar_one_or_none()
    if user is None:
        check_username(username)
        try:
            _refuse_taken(session, username)
        except ConflictError as e:
            raise ConflictError(f"a local account is already called {username!r}") from e
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
    session: Session,
    token_sha256: str,
    *,
    lifetime: dt.timedelta,
    now: dt.datetime | None = None,
    ends_by: dt.datetime | None = None,
) -> None:
    """Push a session's expiry ``lifetime`` past now (sessions end after idle time), but
    never past ``ends_by`` (the longest a session lives, however busy)."""
    now = now or utcnow()
    expires_at = now + lifetime if ends_by is None else min(now + lifetime, ends_by)
    session.execute(
        update(WebSession)
        .where(WebSession.id == token_sha256)
        .values(last_seen_at=now, expires_at=expires_at)
    )


def end_web_session(session: Session, token_sha256: str) -> bool:
    """Delete a session (sign-out). True when there was one."""
    result = session.execute(delete(WebSession).where(WebSession.id == token_sha256))
    return bool(cast(CursorResult[Any], result).rowcount)


def end_expired_web_sessions(session: Session, *, now: dt.datetime | None = None) -> int:
    """Delete sessions past their expiry; how many."""
    result = session.execute(delete(WebSession).where(WebSession.expires_at <= (now or utcnow())))
    return int(cast(CursorResult[Any], result).rowcount)


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """How one kind of sign-in counter slows tries down.

    Attributes:
        scope: what is counted: ``client`` (every failure from one client, whatever the
            username) or ``account_client`` (failures on one username from one client).
        free_failures: failures allowed before tries have to wait.
        first_wait: the wait after the first failure past the free ones; it doubles with
            each further failure, up to ``longest_wait``.
        longest_wait: the most a try ever waits.
        forget_after: a counter whose last failure is older than this starts again.
    """

    scope: str
    free_failures: int
    first_wait: dt.timedelta
    longest_wait: dt.timedelta
    forget_after: dt.timedelta

    def wait_after(self, failures: int) -> dt.timedelta | None:
        """How long tries wait after ``failures`` failures in a row; None for no wait."""
        beyond = failures - self.free_failures
        if beyond < 0:
            return None
        # Capped before doubling, so a long run of failures cannot overflow.
        return min(self.first_wait * 2 ** min(beyond, 32), self.longest_wait)


def sign_in_blocked_until(
    session: Session, keys: Sequence[str], *, now: dt.datetime | None = None
) -> dt.datetime | None:
    """Until when sign-in tries counted under any of ``keys`` have to wait, if they do now."""
    now = now or utcnow()
    return session.execute(
        select(func.max(SignInThrottle.blocked_until)).where(
            SignInThrottle.key.in_(list(keys)), SignInThrottle.blocked_until > now
        )
    ).scalar_one_or_none()


def count_sign_in_try(
    session: Session,
    counters: Sequence[tuple[str, ThrottleRule]],
    *,
    now: dt.datetime | None = None,
) -> tuple[dt.datetime | None, dict[str, dt.datetime | None]]:
    """Count a sign-in try under each ``(key, rule)`` *before* its password is checked, as
    a failure until it proves otherwise (``refund_sign_in_try``); a counter past its free
    failures makes further tries under it wait, twice as long at each further failure.

    Counting first means tries sent all at once cannot slip through together: each
    increment is one UPDATE that holds the row until the transaction ends, and it counts
    only while the counter is not waiting, so once one try starts a wait the others in
    flight are refused. Counted for any username, known or not, so that the answers do not
    tell which accounts exist. Commit before checking the password.

    Returns:
        Until when tries have to wait if this one must be refused unchecked (else None),
        and, per key, the wait this try started (to undo if it succeeds).
    """
    now = now or utcnow()
    waiting = sign_in_blocked_until(session, [key for key, _ in counters], now=now)
    if waiting is not None:
        return waiting, {}
    started: dict[str, dt.datetime | None] = {}
    for key, rule in counters:
        session.execute(
            insert_or_ignore(session, SignInThrottle)
            .values(key=key, scope=rule.scope, failures=0, last_failure_at=now)
            .on_conflict_do_nothing(index_elements=[SignInThrottle.key])
        )
        stale = SignInThrottle.last_failure_at < now - rule.forget_after
        counted = session.execute(
            update(SignInThrottle)
            .where(
                SignInThrottle.key == key,
                SignInThrottle.blocked_until.is_(None) | (SignInThrottle.blocked_until <= now),
            )
            .values(
                failures=case((stale, 1), else_=SignInThrottle.failures + 1),
                last_failure_at=now,
            )
        )
        if not cast(CursorResult[Any], counted).rowcount:
            # Another try started a wait between our look and our count.
            waiting = sign_in_blocked_until(session, [key], now=now)
            return waiting or now, started
        failures = session.execute(
            select(SignInThrottle.failures).where(SignInThrottle.key == key)
        ).scalar_one()
        wait = rule.wait_after(failures)
        started[key] = None if wait is None else now + wait
        if wait is not None:
            session.execute(
                update(SignInThrottle)
                .where(SignInThrottle.key == key)
                .values(blocked_until=now + wait)
            )
            log.warning(
                "sign_in.slowed",
                scope=rule.scope,
                failures=failures,
                wait_s=int(wait.total_seconds()),
            )
    return None, started


def refund_sign_in_try(session: Session, started: dict[str, dt.datetime | None]) -> None:
    """Take back a try counted by ``count_sign_in_try`` that succeeded: one failure less,
    and the wait it started (if any, and still the same) lifted. Waits earlier failures
    started stay, so signing in to one's own account never clears a client's count."""
    for key, until in started.items():
        values: dict[str, Any] = {
            "failures": case((SignInThrottle.failures > 0, SignInThrottle.failures - 1), else_=0)
        }
        if until is not None:
            values["blocked_until"] = case(
                (SignInThrottle.blocked_until == until, None),
                else_=SignInThrottle.blocked_until,
            )
        session.execute(update(SignInThrottle).where(SignInThrottle.key == key).values(**values))


def clear_sign_in_failures(session: Session, key: str) -> None:
    """Forget a counter's failures (the account's, from a client that has now signed in)."""
    session.execute(delete(SignInThrottle).where(SignInThrottle.key == key))


def forget_old_sign_in_failures(session: Session, *, before: dt.datetime) -> int:
    """Delete counters whose last failure is older than ``before`` and whose wait is over;
    how many. Keeps the table as small as the failures of the last hours."""
    result = session.execute(
        delete(SignInThrottle).where(
            SignInThrottle.last_failure_at < before,
            (SignInThrottle.blocked_until.is_(None)) | (SignInThrottle.blocked_until < before),
        )
    )
    return int(cast(CursorResult[Any], result).rowcount)

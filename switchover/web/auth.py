"""Who is signed in, and what they may do: passwords, sessions, roles, CSRF.

State lives only in the engine database (sessions, lock-outs) and in signed cookies, so
any number of web replicas serve the same people. The session cookie holds a random
token; the database holds its sha256. Every form carries a CSRF token: for a signed-in
person the synchroniser token of their session row; on the sign-in form (no session yet)
a signed double-submit token tied to a random cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, HTTPException, Request, Response
from starlette.datastructures import FormData

from config.settings import Settings
from db import accounts
from db.models import Role, User
from db.session import session_scope
from db.types import utcnow

SESSION_COOKIE = "switchover_session"
SIGN_IN_COOKIE = "switchover_sign_in"
CSRF_FIELD = "csrf_token"

_hasher = PasswordHasher()
# Verified against when the username is unknown, so that a wrong username takes as long
# as a wrong password and the timing does not tell which accounts exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; parameters inside the hash)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; False for accounts with no password (single sign-on)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_sha256(token: str) -> str:
    """What the database keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def web_secret(settings: Settings) -> bytes:
    """The key that signs cookies: the setting, or a random key kept in the state folder
    (so a restarted embedded stack keeps working sign-in forms)."""
    if settings.web_secret_key is not None:
        return settings.web_secret_key.get_secret_value().encode()
    path = Path(settings.home) / "web-secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created with no permissions for anyone else, then filled.
        fd = path.open("x", encoding="ascii")
        path.chmod(0o600)
        with fd:
            fd.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip().encode()


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The signed-in person of a request."""

    id: int
    username: str
    display_name: str
    roles: frozenset[Role]
    session_id: str
    csrf_token: str

    def has(self, *roles: Role) -> bool:
        """Whether the person holds any of ``roles``."""
        return bool(self.roles.intersection(roles))


class SignInRequired(Exception):
    """Raised by the dependencies when no one is signed in; the app redirects to sign-in."""


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def secure_cookies(request: Request) -> bool:
    """Cookies are Secure when the setting says so or the request came over TLS."""
    return _settings(request).web_secure_cookies or request.url.scheme == "https"


def start_session(request: Request, response: Response, user_id: int) -> None:
    """Sign a person in: a new session row, and its token in an HttpOnly cookie."""
    settings = _settings(request)
    token = secrets.token_urlsafe(32)
    lifetime = dt.timedelta(hours=settings.web_session_hours)
    with session_scope(settings.resolved_database_url) as session:
        user = session.get_one(User, user_id)
        accounts.start_web_session(
            session,
            user=user,
            token_sha256=token_sha256(token),
            csrf_token=secrets.token_urlsafe(32),
            lifetime=lifetime,
        )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
    )


def end_session(request: Request, response: Response) -> None:
    """Sign out: the session row is deleted, so the cookie is worthless even if kept."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with session_scope(_settings(request).resolved_database_url) as session:
            accounts.end_web_session(session, token_sha256(token))
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies(request)
    )


# Extending the session on every request would write on every page; once a few minutes is
# enough for an idle timeout measured in hours.
_TOUCH_EVERY = dt.timedelta(minutes=5)
_ROLE_VALUES = frozenset(role.value for role in Role)


def signed_in(request: Request) -> CurrentUser:
    """The dependency of every page: the signed-in person, or a redirect to sign in."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired
    settings = _settings(request)
    key = token_sha256(token)
    now = utcnow()
    with session_scope(settings.resolved_database_url) as session:
        row = accounts.get_web_session(session, key, now=now)
        if row is None:
            raise SignInRequired
        if now - row.last_seen_at > _TOUCH_EVERY:
            accounts.extend_web_session(
                session, key, now=now, lifetime=dt.timedelta(hours=settings.web_session_hours)
            )
        user = CurrentUser(
            id=row.user.id,
            username=row.user.username,
            display_name=row.user.display_name,
            roles=frozenset(Role(r) for r in row.user.roles if r in _ROLE_VALUES),
            session_id=key,
            csrf_token=row.csrf_token,
        )
    request.state.user = user
    return user


SignedIn = Annotated[CurrentUser, Depends(signed_in)]


def require_role(*roles: Role) -> Callable[[CurrentUser], CurrentUser]:
    """A dependency that lets through only people holding one of ``roles`` (else 403).

    Example:
        >>> @router.get("/review")
        ... def queue(user: Annotated[CurrentUser, Depends(require_role(Role.CASEWORKER))]): ...
    """

    def dependency(user: SignedIn) -> CurrentUser:
        if not user.has(*roles):
            raise HTTPException(403, "You do not have permission to see this page.")
        return user

    return dependency


Caseworker = Annotated[CurrentUser, Depends(require_role(Role.CASEWORKER))]
Admin = Annotated[CurrentUser, Depends(require_role(Role.ADMIN))]
Manager = Annotated[CurrentUser, Depends(require_role(Role.MANAGER))]


async def checked_form(request: Request, user: SignedIn) -> FormData:
    """The posted form, once its CSRF token matches the session's (else 403).

    Every POST handler takes its form through this dependency, so none can forget it.
    """
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, user.csrf_token):
        raise HTTPException(403, "This form has expired. Go back, reload the page and try again.")
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


# --- the sign-in form, before there is a session ---------------------------------------


def sign_in_csrf(request: Request) -> str:
    """The sign-in form's token: an HMAC of a random cookie value (set here when missing)."""
    nonce = request.cookies.get(SIGN_IN_COOKIE)
    if not nonce:
        nonce = secrets.token_urlsafe(24)
        request.state.new_sign_in_nonce = nonce
    return hmac.new(request.app.state.secret, nonce.encode(), hashlib.sha256).hexdigest()


def set_sign_in_cookie(request: Request, response: Response) -> None:
    """Send the random cookie that ``sign_in_csrf`` made for this response, if it made one."""
    nonce = getattr(request.state, "new_sign_in_nonce", None)
    if nonce:
        response.set_cookie(
            SIGN_IN_COOKIE,
            nonce,
            httponly=True,
            samesite="lax",
            secure=secure_cookies(request),
            path="/sign-in",
        )


async def checked_sign_in_form(request: Request) -> FormData:
    """The posted sign-in form, once its double-submit token matches its cookie (else 403)."""
    form = await request.form()
    nonce = request.cookies.get(SIGN_IN_COOKIE)
    sent = form.get(CSRF_FIELD)
    if not nonce or not isinstance(sent, str):
        raise HTTPException(403, "This form has expired. Go back, reload the page and try again.")
    expected = hmac.new(request.app.state.secret, nonce.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "This form has expired. Go back, reload the page and try again.")
    return form


def safe_next(target: str | None) -> str:
    """A post-sign-in destination that stays on this site (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target

"""Who is signed in, and what they may do: passwords, sessions, roles, CSRF.

State lives only in the engine database (sessions, sign-in throttles) and in signed cookies, so
any number of web replicas serve the same people. The session cookie holds a random
token; the database holds its sha256. Every form carries a CSRF token: for a signed-in
person the synchroniser token of their session row; on the sign-in form (no session yet)
a signed double-submit token tied to a random cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData

from config.settings import Settings
from db import accounts
from db.accounts import ThrottleRule
from db.models import Role, User
from db.session import session_scope
from db.types import utcnow

SESSION_COOKIE = "switchover_session"
SIGN_IN_COOKIE = "switchover_sign_in"
DEVICE_COOKIE = "switchover_device"
DEVICE_MAX_AGE = 90 * 24 * 3600
# A shared tablet may be used by a few people; the cookie remembers the latest few.
DEVICE_ACCOUNTS = 8
CSRF_FIELD = "csrf_token"

_hasher = PasswordHasher()
# Verified against when the username is unknown, so that a wrong username takes as long
# as a wrong password and the timing does not tell which accounts exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; parameters inside the hash)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``.

    Always does the work of one argon2 verification, against a dummy hash when there is no
    account or it has no password (single sign-on), so that the time taken does not tell
    which usernames exist.
    """
    try:
        matched = _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None


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


def set_private_cookie(
    request: Request,
    response: Response,
    name: str,
    value: str,
    *,
    path: str,
    max_age: int | None = None,
) -> None:
    """Set a cookie scripts cannot read, sent only to ``path``, Secure where it can be."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path=path,
    )


def _session_limits(settings: Settings) -> tuple[dt.timedelta, dt.timedelta]:
    """How long a session lives without a request, and at most from sign-in."""
    longest = dt.timedelta(hours=settings.web_session_hours)
    return min(dt.timedelta(minutes=settings.web_session_idle_minutes), longest), longest


def start_session(request: Request, response: Response, user_id: int) -> None:
    """Sign a person in: a new session row, and its token in an HttpOnly cookie."""
    settings = _settings(request)
    token = secrets.token_urlsafe(32)
    idle, longest = _session_limits(settings)
    with session_scope(settings.resolved_database_url) as session:
        user = session.get_one(User, user_id)
        accounts.start_web_session(
            session,
            user=user,
            token_sha256=token_sha256(token),
            csrf_token=secrets.token_urlsafe(32),
            lifetime=idle,
            now=utcnow(),
        )
    set_private_cookie(
        request, response, SESSION_COOKIE, token, path="/", max_age=int(longest.total_seconds())
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


# Extending the session on every request would write on every page; a tenth of the idle
# time (at most five minutes) is often enough for the idle time to hold within that tenth.
_TOUCH_EVERY = dt.timedelta(minutes=5)
_ROLE_VALUES = frozenset(role.value for role in Role)


def signed_in(request: Request) -> CurrentUser:
    """The dependency of every page: the signed-in person, or a redirect to sign in.

    A session ends after ``web_session_idle_minutes`` without a request, and
    ``web_session_hours`` after sign-in however busy.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired
    settings = _settings(request)
    idle, longest = _session_limits(settings)
    key = token_sha256(token)
    now = utcnow()
    with session_scope(settings.resolved_database_url) as session:
        row = accounts.get_web_session(session, key, now=now)
        if row is None:
            raise SignInRequired
        if now - row.last_seen_at > min(_TOUCH_EVERY, idle / 10):
            accounts.extend_web_session(
                session, key, now=now, lifetime=idle, ends_by=row.created_at + longest
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
        set_private_cookie(request, response, SIGN_IN_COOKIE, nonce, path="/sign-in")


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


# --- slowing down password guessing ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignInClient:
    """Whom the sign-in throttles count a try against.

    A browser holding a device cookie for the username (set there by an earlier successful
    sign-in) is counted on its own; any other try is counted against its address, per
    address and per username from that address. So a stranger failing on a known account
    slows only themselves, the owner signing in elsewhere (or from their usual browser
    behind the same address) is not held up, and one address spraying a password across
    many usernames waits longer and longer.
    """

    counters: tuple[tuple[str, ThrottleRule], ...]
    account_key: str


def throttle_rules(settings: Settings) -> tuple[ThrottleRule, ThrottleRule]:
    """The rules for one client (any usernames), and for one username from one client."""
    first = dt.timedelta(seconds=settings.web_sign_in_first_wait_seconds)
    longest = dt.timedelta(minutes=settings.web_lockout_minutes)
    forget = dt.timedelta(minutes=settings.web_sign_in_forget_minutes)
    client = ThrottleRule("client", settings.web_client_sign_in_failures, first, longest, forget)
    account = ThrottleRule(
        "account_client", settings.web_max_sign_in_failures, first, longest, forget
    )
    return client, account


def client_address(request: Request) -> str:
    """The address a request came from; an IPv6 address as its /64, which one holder has."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _keyed(request: Request, *parts: str) -> str:
    # Keyed, so that the table does not give away usernames or addresses to whoever reads it.
    message = "\0".join(parts).encode()
    return hmac.new(request.app.state.secret, message, hashlib.sha256).hexdigest()


def _device_serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.secret, salt="switchover-device")


def _device(request: Request) -> tuple[str | None, list[str]]:
    """This browser's device id and the accounts (keyed hashes) that signed in on it."""
    try:
        found = _device_serializer(request).loads(
            request.cookies.get(DEVICE_COOKIE, ""), max_age=DEVICE_MAX_AGE
        )
        return str(found["d"]), [str(a) for a in found["a"]]
    except (BadSignature, KeyError, TypeError):
        return None, []


def sign_in_client(request: Request, username: str) -> SignInClient:
    """The counters a sign-in try for ``username`` from this request is counted under."""
    client_rule, account_rule = throttle_rules(_settings(request))
    name = username.casefold()
    device, known = _device(request)
    if device is not None and _keyed(request, "device-account", name) in known:
        key = _keyed(request, "account_device", name, device)
        return SignInClient(counters=((key, account_rule),), account_key=key)
    address = client_address(request)
    key = _keyed(request, "account_client", name, address)
    return SignInClient(
        counters=((_keyed(request, "client", address), client_rule), (key, account_rule)),
        account_key=key,
    )


def remember_device(request: Request, response: Response, username: str) -> None:
    """After a successful sign-in: this browser is now known for ``username``."""
    device, known = _device(request)
    account = _keyed(request, "device-account", username.casefold())
    others = [a for a in known if a != account][-(DEVICE_ACCOUNTS - 1) :]
    device = device or secrets.token_urlsafe(18)
    value = _device_serializer(request).dumps({"d": device, "a": [*others, account]})
    set_private_cookie(
        request, response, DEVICE_COOKIE, value, path="/sign-in", max_age=DEVICE_MAX_AGE
    )

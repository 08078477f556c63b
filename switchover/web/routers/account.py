"""Signing in and out (local accounts, and single sign-on when configured), and the start page."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.datastructures import FormData

from config.log import get_logger
from config.settings import Settings
from db import accounts
from db.audit import append_audit_event
from db.session import session_scope
from db.types import utcnow
from domain.errors import BadInputError, ConflictError
from switchover.web import oidc
from switchover.web.auth import (
    CheckedForm,
    SignedIn,
    checked_sign_in_form,
    end_session,
    remember_device,
    safe_next,
    sign_in_client,
    start_session,
    verify_password,
)
from switchover.web.rendering import render

log = get_logger(__name__)
router = APIRouter()

SignInForm = Annotated[FormData, Depends(checked_sign_in_form)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("/")
def start_page(request: Request, user: SignedIn) -> Response:
    """Where a person lands: the areas their roles open."""
    return render(request, "home.html", {"title": f"Hello, {user.display_name}"})


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/", signed_out: bool = False) -> Response:
    """The sign-in form."""
    notice = "You have signed out." if signed_out else None
    return _sign_in_form(request, next=safe_next(next), notice=notice)


def _sign_in_form(
    request: Request,
    *,
    next: str,
    username: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    notice: str | None = None,
) -> Response:
    errors = errors or {}
    return render(
        request,
        "account/sign_in.html",
        {
            "title": "Sign in",
            "next": next,
            "username": username,
            "field_errors": errors,
            "errors": [{"text": text, "href": f"#{name}"} for name, text in errors.items()],
            "oidc_enabled": oidc.enabled(_settings(request)),
            "notice": notice,
        },
        status_code=status_code,
    )


@router.post("/sign-in")
def sign_in(request: Request, form: SignInForm) -> Response:
    """Check a username and password. Failures slow further tries from the same client
    (for that username, and for any username); they never lock the account for its owner
    signing in from elsewhere."""
    settings = _settings(request)
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    next_page = safe_next(str(form.get("next") or "/"))
    errors: dict[str, str] = {}
    if not username:
        errors["username"] = "Enter your username"
    if not password:
        errors["password"] = "Enter your password"  # noqa: S105 - a message, not a secret
    if errors:
        return _sign_in_form(
            request, next=next_page, username=username, errors=errors, status_code=400
        )

    client = sign_in_client(request, username)
    now = utcnow()
    # The try is counted before the password is checked (and committed), so that tries
    # sent all at once cannot slip past the waits together.
    with session_scope(settings.resolved_database_url) as session:
        refused_until, started = accounts.count_sign_in_try(session, client.counters, now=now)
        user = None if refused_until else accounts.get_user_by_username(session, username)
        password_hash, user_id = (user.password_hash, user.id) if user else (None, None)
        active = user is not None and user.active
    if refused_until is not None:
        log.info("sign_in.refused", slowed=True)
        return _refused(request, next_page, username, refused_until, now)
    # One argon2 verification whether or not the username exists.
    ok = verify_password(password_hash, password) and active and user_id is not None
    wait_until = None if ok else max((u for u in started.values() if u), default=None)
    with session_scope(settings.resolved_database_url) as session:
        if ok:
            accounts.refund_sign_in_try(session, started)
            accounts.clear_sign_in_failures(session, client.account_key)
        else:
            accounts.forget_old_sign_in_failures(
                session, before=now - dt.timedelta(minutes=settings.web_sign_in_forget_minutes)
            )
        # What was typed is kept only if it could be a username: not a password typed in
        # the wrong box, nor markup or a megabyte of text for the audit trail.
        named = username if ok or _could_be_username(username) else "(not a username)"
        append_audit_event(
            session,
            actor=named,
            action="signed_in" if ok else "sign_in_failed",
            subject_type="user",
            subject_id=user_id if ok and user_id is not None else named,
            detail={"method": "password"} if ok else {"slowed": wait_until is not None},
        )
    if not ok or user_id is None:
        log.info("sign_in.refused", slowed=wait_until is not None)
        return _refused(request, next_page, username, wait_until, now)
    response = RedirectResponse(next_page, status_code=303)
    start_session(request, response, user_id)
    remember_device(request, response, username)
    return response


def _could_be_username(text: str) -> bool:
    try:
        accounts.check_username(text)
    except BadInputError:
        return False
    return True


def _refused(
    request: Request,
    next_page: str,
    username: str,
    wait_until: dt.datetime | None,
    now: dt.datetime,
) -> Response:
    """The same answer whether or not the username exists; when tries from this client have
    to wait, for how long (429, with Retry-After)."""
    if wait_until is None:
        return _sign_in_form(
            request,
            next=next_page,
            username=username,
            errors={"username": "Enter a correct username and password"},
            status_code=401,
        )
    seconds = max(1, math.ceil((wait_until - now).total_seconds()))
    minutes = math.ceil(seconds / 60)
    message = (
        "You have entered the wrong details too many times. Wait "
        f"{minutes} minute{'s' if minutes != 1 else ''}, then try again."
    )
    response = _sign_in_form(
        request, next=next_page, username=username, errors={"username": message}, status_code=429
    )
    response.headers["Retry-After"] = str(seconds)
    return response


@router.post("/sign-out")
def sign_out(request: Request, user: SignedIn, form: CheckedForm) -> Response:
    """End the session: its row is deleted, not only the cookie."""
    with session_scope(_settings(request).resolved_database_url) as session:
        append_audit_event(
            session,
            actor=user.username,
            action="signed_out",
            subject_type="user",
            subject_id=user.id,
        )
    response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
    end_session(request, response)
    return response


@router.get("/sign-in/sso")
async def single_sign_on(request: Request, next: str = "/") -> Response:
    """Send the browser to the identity provider (OpenID Connect, code flow with PKCE)."""
    settings = _settings(request)
    if not oidc.enabled(settings):
        raise HTTPException(404, "Single sign-on is not set up for this service.")
    return await oidc.start(request, settings, next_page=safe_next(next))


@router.get("/sign-in/sso/jwks.json")
def single_sign_on_keys(request: Request) -> Response:
    """The public half of the key that signs client assertions and request objects, for a
    provider that reads the service's keys from a URL (404 when there is none)."""
    key = oidc.signing_key(_settings(request))
    if key is None:
        raise HTTPException(404, "This service signs nothing for single sign-on.")
    return JSONResponse({"keys": [key.public_jwk()]})


@router.get("/sign-in/sso/callback")
async def single_sign_on_callback(request: Request) -> Response:
    """The identity provider's answer: check it, map its roles, start a session."""
    settings = _settings(request)
    if not oidc.enabled(settings):
        raise HTTPException(404, "Single sign-on is not set up for this service.")
    identity, next_page = await oidc.finish(request, settings)
    if not identity.roles:
        raise HTTPException(403, "Your account has no role in this service. Ask an administrator.")
    with session_scope(settings.resolved_database_url) as session:
        try:
            user = accounts.upsert_oidc_user(
                session,
                subject=identity.subject,
                username=identity.username,
                display_name=identity.display_name,
                roles=sorted(identity.roles),
            )
        except ConflictError as e:
            raise HTTPException(403, "A local account already has this name.") from e
        except BadInputError as e:
            raise HTTPException(
                403, "Your account's name cannot be used in this service. Ask an administrator."
            ) from e
        append_audit_event(
            session,
            actor=user.username,
            action="signed_in",
            subject_type="user",
            subject_id=user.id,
            detail={"method": "oidc"},
        )
        user_id = user.id
    response = RedirectResponse(next_page, status_code=303)
    oidc.forget_state(request, response)
    start_session(request, response, user_id)
    return response

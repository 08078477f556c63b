"""Single sign-on with OpenID Connect: the authorisation code flow with PKCE.

The provider is found by discovery (``/.well-known/openid-configuration``). The ID token is
verified against the provider's published keys (signature, issuer, audience, expiry,
nonce). Roles come from one claim (``SWITCHOVER_OIDC_ROLES_CLAIM``), mapped through
``SWITCHOVER_OIDC_ROLE_MAP``; a claim value that is a role's own name maps to that role.
The state, nonce and PKCE verifier ride in a signed, short-lived cookie, so any replica
can finish a sign-in another replica started.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from fastapi import HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from config.log import get_logger
from config.settings import Settings
from db.models import Role
from switchover.web.auth import secure_cookies

log = get_logger(__name__)

STATE_COOKIE = "switchover_sso"
STATE_MAX_AGE = 600
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the provider says signed in, and the roles their claims map to."""

    subject: str
    username: str
    display_name: str
    roles: frozenset[Role]


def enabled(settings: Settings) -> bool:
    """Whether single sign-on is configured."""
    return bool(settings.oidc_issuer and settings.oidc_client_id)


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.secret, salt="switchover-sso")


async def _discover(settings: Settings) -> dict[str, Any]:
    issuer = (settings.oidc_issuer or "").rstrip("/")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(f"{issuer}/.well-known/openid-configuration")
            answer.raise_for_status()
            config: dict[str, Any] = answer.json()
    except (httpx.HTTPError, ValueError) as e:
        log.error("oidc.discovery_failed", error=type(e).__name__)
        raise HTTPException(503, "The sign-in service cannot be reached. Try again later.") from e
    if config.get("issuer", "").rstrip("/") != issuer:
        raise HTTPException(503, "The sign-in service is misconfigured (issuer mismatch).")
    return config


def _redirect_uri(request: Request) -> str:
    return str(request.url_for("single_sign_on_callback"))


async def start(request: Request, settings: Settings, *, next_page: str) -> Response:
    """Redirect to the provider's authorisation endpoint, remembering state in a cookie."""
    config = await _discover(settings)
    state = secrets.token_urlsafe(24)
    nonce = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.oidc_client_id,
            "redirect_uri": _redirect_uri(request),
            "scope": settings.oidc_scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(f"{config['authorization_endpoint']}?{query}", status_code=303)
    cookie = _serializer(request).dumps(
        {"state": state, "nonce": nonce, "verifier": verifier, "next": next_page}
    )
    response.set_cookie(
        STATE_COOKIE,
        cookie,
        max_age=STATE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/sign-in/sso",
    )
    return response


def forget_state(request: Request, response: Response) -> None:
    """Delete the sign-in state cookie once it has been used."""
    response.delete_cookie(
        STATE_COOKIE,
        path="/sign-in/sso",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


async def finish(request: Request, settings: Settings) -> tuple[Identity, str]:
    """Check the provider's answer, exchange the code, verify the ID token.

    Returns:
        The identity, and the page to go to next.

    Raises:
        HTTPException: 400 for an answer that does not belong to a sign-in started here
            (wrong or missing state, an error from the provider, an invalid token); 503 when
            the provider cannot be reached.
    """
    try:
        remembered = _serializer(request).loads(
            request.cookies.get(STATE_COOKIE, ""), max_age=STATE_MAX_AGE
        )
    except BadSignature as e:
        raise HTTPException(400, "Your sign-in took too long or was interrupted. Try again.") from e
    params = request.query_params
    if params.get("error"):
        raise HTTPException(400, "The sign-in service did not sign you in. Try again.")
    if not secrets.compare_digest(params.get("state", ""), remembered["state"]):
        raise HTTPException(400, "Your sign-in took too long or was interrupted. Try again.")
    config = await _discover(settings)
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(
                config["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": params.get("code", ""),
                    "redirect_uri": _redirect_uri(request),
                    "code_verifier": remembered["verifier"],
                },
                auth=(settings.oidc_client_id or "", secret),
            )
            if answer.status_code >= 400:
                raise HTTPException(400, "The sign-in service refused the sign-in. Try again.")
            id_token = answer.json()["id_token"]
            keys = (await client.get(config["jwks_uri"])).json()
    except (httpx.HTTPError, ValueError, KeyError) as e:
        log.error("oidc.token_exchange_failed", error=type(e).__name__)
        raise HTTPException(503, "The sign-in service cannot be reached. Try again later.") from e
    claims = _verify(id_token, keys, settings, issuer=config["issuer"])
    if not secrets.compare_digest(str(claims.get("nonce", "")), remembered["nonce"]):
        raise HTTPException(400, "The sign-in could not be checked. Try again.")
    return _identity(claims, settings, issuer=config["issuer"]), remembered["next"]


def _verify(token: str, keys: dict[str, Any], settings: Settings, *, issuer: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
        jwk_set = jwt.PyJWKSet.from_dict(keys)
        candidates = [k for k in jwk_set.keys if header.get("kid") in (None, k.key_id)]
        if not candidates:
            raise jwt.InvalidTokenError("no key of the provider matches the token")
        claims: dict[str, Any] = jwt.decode(
            token,
            key=candidates[0],
            algorithms=_ALGORITHMS,
            audience=settings.oidc_client_id,
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            leeway=30,
        )
    except (jwt.InvalidTokenError, jwt.PyJWKError, json.JSONDecodeError) as e:
        log.warning("oidc.token_invalid", error=type(e).__name__)
        raise HTTPException(400, "The sign-in could not be checked. Try again.") from e
    return claims


def _identity(claims: dict[str, Any], settings: Settings, *, issuer: str) -> Identity:
    raw = claims.get(settings.oidc_roles_claim, [])
    values = [raw] if isinstance(raw, str) else [str(v) for v in raw or []]
    known = {role.value: role for role in Role}
    roles: set[Role] = set()
    for value in values:
        mapped = settings.oidc_role_map.get(value, value)
        if mapped in known:
            roles.add(known[mapped])
    username = str(claims.get(settings.oidc_username_claim) or claims.get("email") or claims["sub"])
    return Identity(
        subject=f"{issuer}|{claims['sub']}",
        username=username,
        display_name=str(claims.get("name") or username),
        roles=frozenset(roles),
    )

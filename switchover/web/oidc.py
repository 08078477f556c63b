"""Single sign-on with OpenID Connect: the authorisation code flow with PKCE.

The provider is found by discovery (``/.well-known/openid-configuration``). The ID token is
verified against the provider's published keys (signature, issuer, audience, expiry,
nonce, and the vector of trust when one was asked for).

At the token endpoint the service proves itself with a client secret, or, as GOV.UK One
Login and most government providers ask, with ``private_key_jwt``: a short-lived client
assertion (RFC 7523) signed with the service's private key, naming its ``kid``, with a
fresh ``jti`` each time. The authorisation request can travel as a signed request object
(RFC 9101, ``request=``), and ask for vectors of trust (``vtr``, RFC 8485).

Roles come from one claim (``SWITCHOVER_OIDC_ROLES_CLAIM``), mapped through
``SWITCHOVER_OIDC_ROLE_MAP``; a claim value that is a role's own name maps to that role.
The state, nonce and PKCE verifier ride in a signed, short-lived cookie, so any replica
can finish a sign-in another replica started.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from config.log import get_logger
from config.settings import Settings
from db.models import Role
from switchover.web.auth import secure_cookies, set_private_cookie

log = get_logger(__name__)

STATE_COOKIE = "switchover_sso"
STATE_MAX_AGE = 600
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name, not a secret
PRIVATE_KEY_JWT = "private_key_jwt"
# Assertions and request objects live long enough to cross a slow network, no longer.
SIGNED_LIFETIME_S = 300
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384"}


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


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The service's private key for client assertions and request objects."""

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    algorithm: str
    kid: str

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK, with its ``kid``, use and algorithm."""
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        public: dict[str, Any] = json.loads(algorithm.to_jwk(self.key.public_key()))
        return public | {"kid": self.kid, "use": "sig", "alg": self.algorithm}

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims``, its header naming this key."""
        return jwt.encode(
            claims, self.key, algorithm=self.algorithm, headers={"kid": self.kid, "typ": "JWT"}
        )


def _thumbprint(jwk: dict[str, Any]) -> str:
    # RFC 7638: the required members only, sorted, no spaces.
    members = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@lru_cache(maxsize=4)
def _load_key(path: Path, kid: str | None) -> SigningKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm = "RS256"
    elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _EC_ALGORITHMS:
        algorithm = _EC_ALGORITHMS[key.curve.name]
    else:
        raise ValueError("an RSA or EC P-256/P-384 key is needed")
    unnamed = SigningKey(key, algorithm, kid="")
    return SigningKey(key, algorithm, kid or _thumbprint(unnamed.public_jwk()))


def signing_key(settings: Settings) -> SigningKey | None:
    """The service's signing key, when one is configured.

    Raises:
        HTTPException: 503 when the configured key cannot be read or used (logged).
    """
    if settings.oidc_private_key_file is None:
        return None
    try:
        return _load_key(settings.oidc_private_key_file, settings.oidc_private_key_id)
    except (OSError, ValueError, TypeError) as e:
        log.error("oidc.private_key_unusable", error=type(e).__name__)
        raise HTTPException(503, "The sign-in service is misconfigured.") from e


def _required_key(settings: Settings) -> SigningKey:
    key = signing_key(settings)
    if key is None:
        log.error("oidc.private_key_missing")
        raise HTTPException(503, "The sign-in service is misconfigured.")
    return key


def _signed_claims(lifetime: int = SIGNED_LIFETIME_S) -> dict[str, Any]:
    now = int(time.time())
    return {"iat": now, "nbf": now, "exp": now + lifetime, "jti": secrets.token_urlsafe(24)}


def client_assertion(settings: Settings, *, token_endpoint: str) -> str:
    """An RFC 7523 client assertion for the token endpoint: issued by and about the client,
    for that endpoint, short-lived, with a ``jti`` never used before."""
    client_id = settings.oidc_client_id or ""
    claims = {"iss": client_id, "sub": client_id, "aud": token_endpoint, **_signed_claims()}
    return _required_key(settings).sign(claims)


def requested_vectors(settings: Settings) -> list[str]:
    """The vectors of trust asked for (``SWITCHOVER_OIDC_VTR``, a JSON list or one value)."""
    if not settings.oidc_vtr:
        return []
    try:
        parsed = json.loads(settings.oidc_vtr)
    except ValueError:
        parsed = settings.oidc_vtr
    return [parsed] if isinstance(parsed, str) else [str(v) for v in parsed]


async def start(request: Request, settings: Settings, *, next_page: str) -> Response:
    """Redirect to the provider's authorisation endpoint, remembering state in a cookie."""
    config = await _discover(settings)
    state = secrets.token_urlsafe(24)
    nonce = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    params: dict[str, Any] = {
        "response_type": "code",
        "client_id": settings.oidc_client_id,
        "redirect_uri": _redirect_uri(request),
        "scope": settings.oidc_scopes,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }
    if vectors := requested_vectors(settings):
        params["vtr"] = json.dumps(vectors)
    if settings.oidc_ui_locales:
        params["ui_locales"] = settings.oidc_ui_locales
    if settings.oidc_signed_request:
        # Everything travels inside the signed object; the query repeats only what OpenID
        # Connect asks to see outside it.
        audience = settings.oidc_request_audience or config["issuer"]
        claims = params | {"iss": settings.oidc_client_id, "aud": audience, **_signed_claims()}
        request_object = _required_key(settings).sign(claims)
        params = {
            "response_type": "code",
            "client_id": settings.oidc_client_id,
            "scope": settings.oidc_scopes,
            "request": request_object,
        }
    query = urlencode(params)
    response = RedirectResponse(f"{config['authorization_endpoint']}?{query}", status_code=303)
    cookie = _serializer(request).dumps(
        {"state": state, "nonce": nonce, "verifier": verifier, "next": next_page}
    )
    set_private_cookie(
        request, response, STATE_COOKIE, cookie, path="/sign-in/sso", max_age=STATE_MAX_AGE
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
    form = {
        "grant_type": "authorization_code",
        "code": params.get("code", ""),
        "redirect_uri": _redirect_uri(request),
        "code_verifier": remembered["verifier"],
    }
    form, auth = _client_authentication(settings, form, token_endpoint=config["token_endpoint"])
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(config["token_endpoint"], data=form, auth=auth)
            if answer.status_code >= 400:
                raise HTTPException(400, "The sign-in service refused the sign-in. Try again.")
            tokens = answer.json()
            keys = (await client.get(config["jwks_uri"])).json()
            claims = _verify(tokens["id_token"], keys, settings, issuer=config["issuer"])
            if not secrets.compare_digest(str(claims.get("nonce", "")), remembered["nonce"]):
                raise HTTPException(400, "The sign-in could not be checked. Try again.")
            vectors = requested_vectors(settings)
            if vectors and claims.get("vot") not in vectors:
                # The provider signed the person in at a lower level of trust than asked.
                log.warning("oidc.vector_of_trust_refused")
                raise HTTPException(403, "Your sign-in did not reach the level this service needs.")
            claims = await _with_userinfo(client, config, tokens, claims, settings)
    except (httpx.HTTPError, ValueError, KeyError) as e:
        log.error("oidc.token_exchange_failed", error=type(e).__name__)
        raise HTTPException(503, "The sign-in service cannot be reached. Try again later.") from e
    return _identity(claims, settings, issuer=config["issuer"]), remembered["next"]


async def _with_userinfo(
    client: httpx.AsyncClient,
    config: dict[str, Any],
    tokens: dict[str, Any],
    claims: dict[str, Any],
    settings: Settings,
) -> dict[str, Any]:
    """The ID token's claims, completed from the userinfo endpoint when the name or roles
    claim is not in the token (GOV.UK One Login gives ``email`` only there).

    The ID token's own claims win; userinfo for another subject is refused (OIDC Core 5.3.2).
    """
    named = settings.oidc_username_claim in claims or "email" in claims
    endpoint = config.get("userinfo_endpoint")
    if named and settings.oidc_roles_claim in claims:
        return claims
    if not endpoint or "access_token" not in tokens:
        return claims
    answer = await client.get(
        endpoint, headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    answer.raise_for_status()
    info = answer.json()
    if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
        log.warning("oidc.userinfo_subject_mismatch")
        raise HTTPException(400, "The sign-in could not be checked. Try again.")
    return info | claims


def _client_authentication(
    settings: Settings, form: dict[str, str], *, token_endpoint: str
) -> tuple[dict[str, str], httpx.Auth]:
    """The token request's form and HTTP authentication, by ``oidc_token_auth``."""
    client_id = settings.oidc_client_id or ""
    if settings.oidc_token_auth == PRIVATE_KEY_JWT:
        assertion = client_assertion(settings, token_endpoint=token_endpoint)
        # No secret goes anywhere: the signed assertion is the only proof.
        return form | {
            "client_id": client_id,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
        }, httpx.Auth()
    if settings.oidc_token_auth != CLIENT_SECRET_BASIC:
        log.error("oidc.token_auth_unknown")
        raise HTTPException(503, "The sign-in service is misconfigured.")
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
    return form, httpx.BasicAuth(client_id, secret)


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

"""Single sign-on against a small OpenID Connect provider served on 127.0.0.1 by the test:
discovery, the code flow with PKCE, a signed ID token, roles from a claim; and, as GOV.UK
One Login asks, private_key_jwt client authentication (the provider refuses client
secrets), signed request objects and vectors of trust."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from config.settings import Settings
from switchover.web import create_app
from switchover.web.oidc import JWT_BEARER, client_assertion


class FakeProvider:
    """Signs in whoever it is asked to, with the claims the test sets.

    Like GOV.UK One Login when ``client_jwks`` is set: it refuses client secrets at the
    token endpoint and takes only a client assertion (RFC 7523) signed by a registered key,
    for its token endpoint, unexpired, whose ``jti`` it has not seen; and it reads a signed
    request object (``request=``) in place of the query's parameters.
    """

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.claims: dict[str, Any] = {}
        self.codes: dict[str, dict[str, str]] = {}
        self.client_jwks: dict[str, Any] | None = None
        self.seen_jti: set[str] = set()
        self.refusals: list[str] = []
        self.assertions: list[str] = []
        self.asked: list[dict[str, str]] = []
        self.vot: str | None = None  # what the ID token says was reached; default as asked
        self.userinfo: dict[str, Any] | None = None  # served at /userinfo when set
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    def _client_key(self, token: str) -> Any:
        kid = jwt.get_unverified_header(token).get("kid")
        for jwk in (self.client_jwks or {}).get("keys", []):
            if jwk.get("kid") == kid:
                return jwt.PyJWK(jwk)
        raise jwt.InvalidTokenError(f"no registered client key {kid!r}")

    def check_assertion(self, form: dict[str, str], headers: Any) -> str | None:
        """Why the token request's client authentication is refused, or None."""
        if headers.get("Authorization") or "client_secret" in form:
            return "client secrets are not accepted"
        if form.get("client_assertion_type") != JWT_BEARER:
            return "no client assertion"
        assertion = form.get("client_assertion", "")
        try:
            claims = jwt.decode(
                assertion, self._client_key(assertion), algorithms=["RS256", "ES256"],
                audience=self.token_endpoint, options={"require": ["exp", "jti", "iss", "sub"]},
            )  # fmt: skip
        except jwt.InvalidTokenError as e:
            return f"bad assertion: {type(e).__name__}"
        if claims["iss"] != "switchover" or claims["sub"] != "switchover":
            return "assertion not from the client"
        if claims["exp"] - int(time.time()) > 600:
            return "assertion lives too long"
        if claims["jti"] in self.seen_jti:
            return "assertion replayed"
        self.seen_jti.add(claims["jti"])
        self.assertions.append(assertion)
        return None

    def authorisation_request(self, query: dict[str, str]) -> dict[str, str]:
        """The parameters of an authorisation request, from its request object if any."""
        if "request" not in query:
            return query
        token = query["request"]
        claims = jwt.decode(
            token, self._client_key(token), algorithms=["RS256", "ES256"],
            audience=self.issuer, options={"require": ["exp", "iss", "aud"]},
        )  # fmt: skip
        assert claims["iss"] == query["client_id"] == claims["client_id"]
        return {k: v for k, v in claims.items() if isinstance(v, str)}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, body: dict[str, Any], status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/.well-known/openid-configuration":
                    self._json({"issuer": provider.issuer,
                                "authorization_endpoint": f"{provider.issuer}/authorize",
                                "token_endpoint": provider.token_endpoint,
                                "jwks_uri": f"{provider.issuer}/jwks",
                                "userinfo_endpoint": f"{provider.issuer}/userinfo"})  # fmt: skip
                elif url.path == "/userinfo":
                    if provider.userinfo is None or self.headers["Authorization"] != "Bearer x":
                        self._json({"error": "invalid_token"}, 401)
                    else:
                        self._json(provider.userinfo)
                elif url.path == "/jwks":
                    public = json.loads(
                        jwt.algorithms.RSAAlgorithm.to_jwk(provider.key.public_key())
                    )
                    self._json({"keys": [public | {"kid": "k1", "use": "sig", "alg": "RS256"}]})
                elif url.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    try:
                        asked = provider.authorisation_request(query)
                    except (jwt.InvalidTokenError, AssertionError):
                        self._json({"error": "invalid_request_object"}, 400)
                        return
                    provider.asked.append(asked)
                    code = f"code-{len(provider.codes)}"
                    provider.codes[code] = asked
                    target = (
                        asked["redirect_uri"]
                        + "?"
                        + urlencode({"code": code, "state": asked["state"]})
                    )
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                else:
                    self._json({"error": "not found"}, 404)

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if provider.client_jwks is not None:
                    refused = provider.check_assertion(form, self.headers)
                    if refused:
                        provider.refusals.append(refused)
                        self._json({"error": "invalid_client"}, 401)
                        return
                asked = provider.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "").encode()
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
                if asked is None or challenge.decode() != asked["code_challenge"]:
                    self._json({"error": "invalid_grant"}, 400)
                    return
                now = int(time.time())
                vot = provider.vot or (json.loads(asked["vtr"])[0] if "vtr" in asked else None)
                token = jwt.encode(
                    {"iss": provider.issuer, "aud": "switchover", "iat": now, "exp": now + 300,
                     "nonce": asked["nonce"], **({"vot": vot} if vot else {}),
                     **provider.claims},
                    provider.key, algorithm="RS256", headers={"kid": "k1"},
                )  # fmt: skip
                self._json({"id_token": token, "token_type": "Bearer", "access_token": "x"})

        return Handler

    def __enter__(self) -> FakeProvider:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


@pytest.fixture
def sso_client(settings: Settings, provider: FakeProvider) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={"oidc_issuer": provider.issuer, "oidc_client_id": "switchover",
                "oidc_role_map": {"casework-team": "caseworker"}}
    )  # fmt: skip
    with TestClient(create_app(configured)) as client:
        yield client


def _sign_in_with_sso(client: TestClient) -> Any:
    start = client.get("/sign-in/sso?next=/review", follow_redirects=False)
    assert start.status_code == 303
    import httpx

    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    assert at_provider.status_code == 302
    back = urlparse(at_provider.headers["location"])
    return client.get(f"{back.path}?{back.query}", follow_redirects=False)


def test_single_sign_on_maps_a_claim_to_roles(sso_client, provider) -> None:
    provider.claims = {"sub": "42", "preferred_username": "sam", "name": "Sam Caseworker",
                       "roles": ["casework-team", "unrelated-group"]}  # fmt: skip
    done = _sign_in_with_sso(sso_client)
    assert done.status_code == 303
    assert done.headers["location"] == "/review"
    queue = sso_client.get("/review")
    assert queue.status_code == 200
    assert "Sam Caseworker" in queue.text
    assert sso_client.get("/admin/users").status_code == 403


def test_single_sign_on_without_a_role_is_refused(sso_client, provider) -> None:
    provider.claims = {"sub": "7", "preferred_username": "kim", "roles": ["other"]}
    refused = _sign_in_with_sso(sso_client)
    assert refused.status_code == 403
    assert sso_client.get("/review", follow_redirects=False).status_code == 303


def test_a_callback_that_was_not_started_here_is_refused(sso_client) -> None:
    answer = sso_client.get("/sign-in/sso/callback?code=code-0&state=forged")
    assert answer.status_code == 400


# --- private_key_jwt, signed request objects and vectors of trust (GOV.UK One Login) ----


@pytest.fixture
def key_file(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "client-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture
def one_login_settings(settings: Settings, provider: FakeProvider, key_file) -> Settings:
    """The service set up as GOV.UK One Login asks."""
    return settings.model_copy(
        update={"oidc_issuer": provider.issuer, "oidc_client_id": "switchover",
                "oidc_role_map": {"casework-team": "caseworker"},
                "oidc_token_auth": "private_key_jwt", "oidc_private_key_file": key_file,
                "oidc_private_key_id": "switchover-2026", "oidc_signed_request": True,
                "oidc_vtr": '["Cl.Cm"]', "oidc_ui_locales": "cy"}
    )  # fmt: skip


@pytest.fixture
def one_login(one_login_settings: Settings, provider: FakeProvider) -> Iterator[TestClient]:
    with TestClient(create_app(one_login_settings)) as client:
        # Registered with the provider as One Login takes it: the public key, from the app.
        provider.client_jwks = client.get("/sign-in/sso/jwks.json").json()
        yield client


CASEWORKER = {"sub": "urn:fdc:gov.uk:2022:abc", "email": "sam@example.gov.uk",
              "roles": ["casework-team"]}  # fmt: skip


def test_private_key_jwt_with_a_signed_request_and_vectors_of_trust(one_login, provider):
    provider.claims = CASEWORKER
    keys = one_login.get("/sign-in/sso/jwks.json").json()["keys"]
    assert [k["kid"] for k in keys] == ["switchover-2026"]
    assert "d" not in keys[0]  # the public half only

    start = one_login.get("/sign-in/sso?next=/review", follow_redirects=False)
    sent = {k: v[0] for k, v in parse_qs(urlparse(start.headers["location"]).query).items()}
    # Outside the signed object only what OpenID Connect asks to see there.
    assert set(sent) == {"response_type", "client_id", "scope", "request"}
    done = _sign_in_with_sso(one_login)
    assert done.status_code == 303, done.text
    assert one_login.get("/review").status_code == 200
    asked = provider.asked[-1]
    assert json.loads(asked["vtr"]) == ["Cl.Cm"]
    assert asked["ui_locales"] == "cy"
    assert asked["code_challenge_method"] == "S256"
    assert provider.refusals == []
    header = jwt.get_unverified_header(provider.assertions[-1])
    assert header["kid"] == "switchover-2026"


def test_each_sign_in_sends_a_fresh_assertion_and_a_replay_is_refused(one_login, provider):
    provider.claims = CASEWORKER
    for _ in range(2):
        assert _sign_in_with_sso(one_login).status_code == 303
    first, second = (jwt.decode(a, options={"verify_signature": False})
                     for a in provider.assertions)  # fmt: skip
    assert first["jti"] != second["jti"]
    assert first["aud"] == provider.token_endpoint
    assert 0 < first["exp"] - first["iat"] <= 300
    # The provider refuses the same assertion again (it checks jti).
    import httpx

    replay = httpx.post(provider.token_endpoint, data={
        "grant_type": "authorization_code", "code": "code-x", "client_id": "switchover",
        "client_assertion_type": JWT_BEARER, "client_assertion": provider.assertions[0],
    })  # fmt: skip
    assert replay.status_code == 401
    assert provider.refusals == ["assertion replayed"]


def test_the_provider_refuses_a_client_secret(settings, provider, key_file) -> None:
    provider.client_jwks = {"keys": []}
    provider.claims = CASEWORKER
    configured = settings.model_copy(
        update={"oidc_issuer": provider.issuer, "oidc_client_id": "switchover",
                "oidc_client_secret": SecretStr("s3cret"), "oidc_token_auth": "client_secret_basic"}
    )  # fmt: skip
    with TestClient(create_app(configured)) as client:
        refused = _sign_in_with_sso(client)
    assert refused.status_code == 400
    assert "refused the sign-in" in refused.text
    assert provider.refusals == ["client secrets are not accepted"]
    assert "switchover_session" not in client.cookies


@pytest.mark.parametrize(
    ("change", "why"),
    [({"aud": "https://elsewhere.example/token"}, "InvalidAudienceError"),
     ({"exp": 1}, "ExpiredSignatureError"),
     ({"sign_with_another_key": True}, "InvalidSignatureError")],
)  # fmt: skip
def test_the_provider_checks_the_assertion(
    one_login, one_login_settings, provider, change, why
) -> None:
    # The assertion our code makes, altered one way at a time: each is refused.
    settings = one_login_settings
    claims = jwt.decode(client_assertion(settings, token_endpoint=provider.token_endpoint),
                        options={"verify_signature": False})  # fmt: skip
    key = serialization.load_pem_private_key(settings.oidc_private_key_file.read_bytes(), None)
    if change.pop("sign_with_another_key", False):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims | change, key, algorithm="RS256",
                        headers={"kid": "switchover-2026"})  # fmt: skip
    refused = provider.check_assertion(
        {"client_assertion_type": JWT_BEARER, "client_assertion": forged}, {}
    )
    assert refused == f"bad assertion: {why}"


def test_a_lower_vector_of_trust_than_asked_is_refused(one_login, provider) -> None:
    provider.claims = CASEWORKER
    provider.vot = "Cl"
    refused = _sign_in_with_sso(one_login)
    assert refused.status_code == 403
    assert "level this service needs" in refused.text
    assert one_login.get("/review", follow_redirects=False).status_code == 303


def test_private_key_jwt_without_a_key_is_a_clear_misconfiguration(settings, provider):
    configured = settings.model_copy(
        update={"oidc_issuer": provider.issuer, "oidc_client_id": "switchover",
                "oidc_token_auth": "private_key_jwt", "oidc_signed_request": True}
    )  # fmt: skip
    with TestClient(create_app(configured)) as client:
        answer = client.get("/sign-in/sso", follow_redirects=False)
        assert answer.status_code == 503
        assert "misconfigured" in answer.text
        assert client.get("/sign-in/sso/jwks.json").status_code == 404


def test_what_the_id_token_lacks_comes_from_userinfo(one_login, provider, settings) -> None:
    # As GOV.UK One Login: the ID token names the subject only; the e-mail is at /userinfo.
    from db import accounts
    from db.session import session_scope

    provider.claims = {"sub": "urn:fdc:gov.uk:2022:56P4CMsGh_02YOlWpd8PAOI-2sVlB2nsNU7mcLZYhYw="}
    provider.userinfo = {"sub": provider.claims["sub"], "email": "sam@example.gov.uk",
                         "roles": ["casework-team"]}  # fmt: skip
    assert _sign_in_with_sso(one_login).status_code == 303
    with session_scope(settings.resolved_database_url) as session:
        user = accounts.get_user_by_username(session, "sam@example.gov.uk")
        assert user is not None
        assert user.roles == ["caseworker"]
    # Userinfo about someone else is refused.
    provider.userinfo = {"sub": "urn:fdc:gov.uk:2022:someone-else", "roles": ["casework-team"],
                         "email": "eve@example.gov.uk"}  # fmt: skip
    refused = _sign_in_with_sso(one_login)
    assert refused.status_code == 400

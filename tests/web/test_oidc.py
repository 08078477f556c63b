"""Single sign-on against a small OpenID Connect provider served on 127.0.0.1 by the test:
discovery, the code flow with PKCE, a signed ID token, roles from a claim."""

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
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from config.settings import Settings
from switchover.web import create_app


class FakeProvider:
    """Signs in whoever it is asked to, with the claims the test sets."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.claims: dict[str, Any] = {}
        self.codes: dict[str, dict[str, str]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"

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
                                "token_endpoint": f"{provider.issuer}/token",
                                "jwks_uri": f"{provider.issuer}/jwks"})  # fmt: skip
                elif url.path == "/jwks":
                    public = json.loads(
                        jwt.algorithms.RSAAlgorithm.to_jwk(provider.key.public_key())
                    )
                    self._json({"keys": [public | {"kid": "k1", "use": "sig", "alg": "RS256"}]})
                elif url.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    code = f"code-{len(provider.codes)}"
                    provider.codes[code] = query
                    target = (
                        query["redirect_uri"]
                        + "?"
                        + urlencode({"code": code, "state": query["state"]})
                    )
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                else:
                    self._json({"error": "not found"}, 404)

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                asked = provider.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "").encode()
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
                if asked is None or challenge.decode() != asked["code_challenge"]:
                    self._json({"error": "invalid_grant"}, 400)
                    return
                now = int(time.time())
                token = jwt.encode(
                    {"iss": provider.issuer, "aud": "switchover", "iat": now, "exp": now + 300,
                     "nonce": asked["nonce"], **provider.claims},
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

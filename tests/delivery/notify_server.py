"""A local HTTP server that speaks the part of GOV.UK Notify's API we use: POST
/v2/notifications/email with a JWT bearer token, checked with the API key's secret and
service id as Notify checks it. It keeps every request it accepted."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from notifications_python_client.authentication import decode_jwt_token
from notifications_python_client.errors import TokenError


@dataclass
class NotifyServer:
    service_id: str
    secret: str
    url: str = ""
    emails: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0

    @property
    def api_key(self) -> str:
        """An API key in Notify's format: name, service id, secret."""
        return f"switchover_test-{self.service_id}-{self.secret}"

    def answer(self, path: str, authorization: str, body: bytes) -> tuple[int, dict[str, Any]]:
        token = authorization.removeprefix("Bearer ")
        try:
            claims_ok = decode_jwt_token(token, self.secret)
            issuer = json.loads(_jwt_claims(token)).get("iss")
        except (TokenError, ValueError):
            claims_ok, issuer = False, None
        if not claims_ok or issuer != self.service_id:
            self.refused += 1
            return 403, {"errors": [{"error": "AuthError", "message": "Invalid token"}],
                         "status_code": 403}  # fmt: skip
        if path != "/v2/notifications/email":
            return 404, {"errors": [{"error": "NotFound"}], "status_code": 404}
        request = json.loads(body)
        self.emails.append(request)
        return 201, {
            "id": str(uuid.uuid4()),
            "reference": request.get("reference"),
            "content": {"subject": "Switchover", "body": "...", "from_email": "notify@test"},
            "uri": f"{self.url}/v2/notifications/x",
            "template": {"id": request["template_id"], "version": 1, "uri": self.url},
        }


def _jwt_claims(token: str) -> str:
    import base64

    payload = token.split(".")[1]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


@contextmanager
def notify_server() -> Iterator[NotifyServer]:
    state = NotifyServer(service_id=str(uuid.uuid4()), secret=str(uuid.uuid4()))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                status, answer = state.answer(self.path, self.headers.get("Authorization", ""),
                                              body)  # fmt: skip
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()

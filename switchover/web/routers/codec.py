"""The payload codec endpoint: the Temporal UI decodes payloads through it, for signed-in
engineers only.

It speaks Temporal's remote codec protocol: ``POST /codec/decode`` and ``/codec/encode``
take ``{"payloads": [...]}`` (each payload as proto3 JSON: metadata values and data in
base64) and answer the same shape. The Temporal UI calls it from the engineer's browser
with the engineer's cookie ("include cross-origin credentials"), so the answer carries the
CORS headers for the UI's origin only (``SWITCHOVER_TEMPORAL_UI_ORIGIN``). Nothing here
changes state, so there is no CSRF token to send: another site can make a browser post,
but not read the answer.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from config.log import get_logger
from config.settings import Settings
from db.models import Role
from switchover.codec import EncryptionCodec, PayloadKeyError, payload_keys
from switchover.web.auth import SignInRequired, signed_in

log = get_logger(__name__)

router = APIRouter(prefix="/codec")

MAX_BODY_BYTES = 8 * 1024 * 1024
"""A page of the UI shows one history at a time; more than this is not the UI."""
MAX_PAYLOADS = 10_000
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"


@functools.lru_cache(maxsize=4)
def _codec(keys_text: str | None, home: str) -> EncryptionCodec:
    settings = Settings(home=Path(home), payload_keys=keys_text)
    return EncryptionCodec(payload_keys(settings))


def _codec_of(settings: Settings) -> EncryptionCodec:
    keys = settings.payload_keys.get_secret_value() if settings.payload_keys else None
    return _codec(keys, str(settings.home))


def ui_origin(settings: Settings) -> str:
    """The one origin allowed to call the codec from a browser."""
    return (settings.temporal_ui_origin or f"http://localhost:{settings.temporal_ui_port}").rstrip(
        "/"
    )


def _cors(request: Request, response: Response) -> Response:
    settings: Settings = request.app.state.settings
    allowed = ui_origin(settings)
    if request.headers.get("origin", "").rstrip("/") == allowed:
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    return response


def _answer(request: Request, status: int, body: dict[str, Any]) -> Response:
    return _cors(request, JSONResponse(body, status_code=status))


@router.options("/{operation}")
def preflight(request: Request, operation: str) -> Response:
    """The browser's preflight: which origin, method and headers may call the codec."""
    response = Response(status_code=204)
    if operation in ("encode", "decode"):
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return _cors(request, response)


async def _run(request: Request, operation: str) -> Response:
    try:
        user = signed_in(request)
    except SignInRequired:
        return _answer(request, 401, {"error": "sign in to the Switchover web app first"})
    if not user.has(Role.ENGINEER):
        return _answer(request, 403, {"error": "only engineers may decode payloads"})
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _answer(request, 413, {"error": f"at most {MAX_BODY_BYTES} bytes"})
    try:
        payloads = _parse(body)
    except ValueError as e:
        return _answer(request, 400, {"error": str(e)})
    codec = _codec_of(request.app.state.settings)
    try:
        if operation == "decode":
            done = await codec.decode(payloads)
        else:
            done = await codec.encode(payloads)
    except PayloadKeyError as e:
        return _answer(request, 400, {"error": str(e)})
    # Who looked, and how much: never what (the payloads are personal data).
    log.info("codec.used", operation=operation, user=user.username, payloads=len(payloads))
    return _answer(request, 200, {"payloads": [json_format.MessageToDict(p) for p in done]})


def _parse(body: bytes) -> list[Payload]:
    import json

    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError("the body is not JSON") from e
    items = document.get("payloads") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ValueError('the body needs {"payloads": [...]}')
    if len(items) > MAX_PAYLOADS:
        raise ValueError(f"at most {MAX_PAYLOADS} payloads at a time")
    payloads = []
    for number, item in enumerate(items, start=1):
        try:
            payloads.append(json_format.ParseDict(item, Payload()))
        except (json_format.ParseError, TypeError, AttributeError) as e:
            raise ValueError(f"payload {number} is not a Temporal payload") from e
    return payloads


@router.post("/decode")
async def decode(request: Request) -> Response:
    """Payloads opened for the Temporal UI (engineers only)."""
    return await _run(request, "decode")


@router.post("/encode")
async def encode(request: Request) -> Response:
    """Payloads sealed for the Temporal UI (when an engineer sends a signal from it)."""
    return await _run(request, "encode")

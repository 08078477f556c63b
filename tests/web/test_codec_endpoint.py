"""The codec endpoint the Temporal UI decodes through: engineers only, the UI's origin only."""

from __future__ import annotations

import base64

from google.protobuf import json_format

from config.settings import Settings
from switchover.codec import ENCODING, data_converter

UI = "http://localhost:8233"
PERSON = {"surname": "OKAFOR", "national_insurance_number": "QQ123456C"}


async def _sealed_body(settings: Settings) -> dict[str, list[dict[str, object]]]:
    (payload,) = await data_converter(settings).encode([PERSON])
    assert payload.metadata["encoding"] == ENCODING
    return {"payloads": [json_format.MessageToDict(payload)]}


async def test_an_engineer_sees_payloads_decoded_from_the_ui_origin(settings, client_for):
    engineer = client_for("erin", "engineer")
    body = await _sealed_body(settings)
    answer = engineer.post(
        "/codec/decode", json=body, headers={"Origin": UI, "X-Namespace": "default"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == UI
    assert answer.headers["access-control-allow-credentials"] == "true"
    (opened,) = answer.json()["payloads"]
    assert base64.b64decode(opened["metadata"]["encoding"]) == b"json/plain"
    assert b"OKAFOR" in base64.b64decode(opened["data"])

    # And back: what the UI encodes (a signal's input) decodes to the same.
    again = engineer.post("/codec/encode", json={"payloads": [opened]}, headers={"Origin": UI})
    (resealed,) = again.json()["payloads"]
    assert b"OKAFOR" not in base64.b64decode(resealed["data"])
    assert engineer.post("/codec/decode", json={"payloads": [resealed]}).json()["payloads"] == [
        opened
    ]


async def test_no_one_else_decodes(settings, app_client, client_for):
    body = await _sealed_body(settings)
    assert app_client.post("/codec/decode", json=body).status_code == 401
    for who, role in (("carol", "caseworker"), ("mo", "manager"), ("ada", "admin")):
        answer = client_for(who, role).post("/codec/decode", json=body)
        assert answer.status_code == 403, who
        assert "OKAFOR" not in answer.text


async def test_another_origin_gets_no_cors_permission(settings, client_for):
    engineer = client_for("erin", "engineer")
    body = await _sealed_body(settings)
    answer = engineer.post("/codec/decode", json=body, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in answer.headers
    preflight = engineer.options(
        "/codec/decode",
        headers={"Origin": UI, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,x-namespace"},
    )  # fmt: skip
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == UI
    assert "X-Namespace" in preflight.headers["access-control-allow-headers"]
    other = engineer.options("/codec/decode", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_bad_bodies_are_told_what_is_wrong(client_for):
    engineer = client_for("erin", "engineer")
    for body, problem in (
        (b"not json", "not JSON"),
        (b'{"payload": []}', "payloads"),
        (b'{"payloads": [{"data": 5}]}', "payload 1"),
    ):
        answer = engineer.post("/codec/decode", content=body)
        assert answer.status_code == 400
        assert problem in answer.json()["error"]

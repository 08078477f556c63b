"""The payload codec: sealed payloads hold no plaintext, rotate by adding a key, refuse
tampering and unknown keys, and failures travel encoded."""

from __future__ import annotations

import base64
import random
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from config.settings import Settings
from switchover.codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    PayloadKeyError,
    PayloadKeys,
    data_converter,
    new_key_entry,
    payload_keys,
)

PERSON = {"surname": "OKAFOR", "national_insurance_number": "QQ123456C", "dob": "1961-02-03"}


def _keys(*entries: str) -> PayloadKeys:
    return PayloadKeys.parse(",".join(entries))


async def test_a_sealed_payload_holds_no_plaintext_and_opens_again() -> None:
    settings = Settings(payload_keys=new_key_entry("k1"), _env_file=None)  # type: ignore[call-arg]
    converter = data_converter(settings)
    (sealed,) = await converter.encode([PERSON])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"k1"
    raw = sealed.SerializeToString()
    for value in PERSON.values():
        assert value.encode() not in raw
    assert await converter.decode([sealed], [dict]) == [PERSON]


async def test_rotation_adds_a_key_in_front_and_old_payloads_still_open() -> None:
    old, new = new_key_entry("2026-01"), new_key_entry("2026-12")
    (before,) = await EncryptionCodec(_keys(old)).encode([Payload(data=b"OKAFOR")])
    rotated = EncryptionCodec(_keys(new, old))
    (after,) = await rotated.encode([Payload(data=b"OKAFOR")])
    assert after.metadata[KEY_ID_METADATA] == b"2026-12"
    assert [p.data for p in await rotated.decode([before, after])] == [b"OKAFOR", b"OKAFOR"]
    # A process that has only the new key names the key it lacks.
    with pytest.raises(PayloadKeyError, match="2026-01"):
        await EncryptionCodec(_keys(new)).decode([before])


async def test_tampered_or_relabelled_payloads_are_refused() -> None:
    one, two = new_key_entry("one"), new_key_entry("two")
    codec = EncryptionCodec(_keys(one, two))
    (sealed,) = await codec.encode([Payload(data=b"QQ123456C")])
    rng = random.Random(7)
    for _ in range(20):
        data = bytearray(sealed.data)
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        altered = Payload(metadata=dict(sealed.metadata), data=bytes(data))
        with pytest.raises(PayloadKeyError, match="altered"):
            await codec.decode([altered])
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"two"}, data=sealed.data)
    with pytest.raises(PayloadKeyError, match="altered"):
        await codec.decode([relabelled])


async def test_plain_payloads_pass_through_decode() -> None:
    codec = EncryptionCodec(_keys(new_key_entry("k")))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')
    assert await codec.decode([plain]) == [plain]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no payload keys"),
        ("nokey", "id:base64key"),
        ("k:not base64!", "not base64"),
        ("k:" + base64.b64encode(b"short").decode(), "5 bytes"),
        ("k:" + base64.b64encode(bytes(32)).decode() + ",k:" + base64.b64encode(bytes(16)).decode(),
         "twice"),
    ],
)  # fmt: skip
def test_bad_key_settings_say_what_is_wrong_without_showing_a_key(text: str, problem: str) -> None:
    with pytest.raises(PayloadKeyError, match=problem) as caught:
        PayloadKeys.parse(text)
    assert base64.b64encode(bytes(32)).decode() not in str(caught.value)


def test_repr_never_shows_keys() -> None:
    entry = new_key_entry("k")
    assert entry.split(":", 1)[1] not in repr(PayloadKeys.parse(entry))


def test_without_the_setting_the_state_folder_keeps_one_key(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, _env_file=None)  # type: ignore[call-arg]
    settings.payload_keys = None
    first, second = payload_keys(settings), payload_keys(settings)
    assert first == second
    assert (tmp_path / "payload-keys").stat().st_mode & 0o077 == 0


async def test_failure_messages_and_stack_traces_travel_encrypted() -> None:
    settings = Settings(payload_keys=new_key_entry("k1"), _env_file=None)  # type: ignore[call-arg]
    converter = data_converter(settings)
    try:
        raise ApplicationError("scan-okafor.png: surname OKAFOR is not valid", type="BadInput")
    except ApplicationError as e:
        error = e
    failure = Failure()
    await converter.encode_failure(error, failure)
    raw = failure.SerializeToString()
    assert b"OKAFOR" not in raw
    assert b"okafor" not in raw
    assert failure.message == "Encoded failure"
    decoded = await converter.decode_failure(failure)
    assert "OKAFOR" in str(decoded)

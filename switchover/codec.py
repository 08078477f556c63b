"""Personal data out of Temporal history: every payload encrypted, every failure too.

Workflow inputs, results, update arguments and activity results hold extracted field
values, caseworkers' corrections and legacy-match candidates: names, dates of birth, NI
numbers. ``EncryptionCodec`` seals each payload with AES-GCM before it leaves the process
and opens it when it comes back, so the Temporal server, its database and its UI see only
ciphertext. Failures travel encoded too (``DefaultFailureConverterWithEncodedAttributes``):
their messages and stack traces, which name files and fields, go inside an encrypted
payload and the history shows only "Encoded failure".

Keys come from ``SWITCHOVER_PAYLOAD_KEYS`` as ``id:base64key,...``. The first key encrypts;
every key listed decrypts, by the key id each payload carries in its metadata. Rotation is
adding a new key in front and keeping the old ones until no running workflow's history
needs them. Without the setting, one machine's stack keeps a key in its state folder.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from config.settings import Settings
from domain.errors import BadInputError

ENCODING = b"binary/encrypted"
"""The ``encoding`` metadata of a sealed payload (the name Temporal's samples use)."""
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
KEY_FILE = "payload-keys"
"""The state folder's key file when ``SWITCHOVER_PAYLOAD_KEYS`` is not set."""


class PayloadKeyError(BadInputError):
    """Payload keys that cannot be used, or a payload no configured key opens."""


@dataclass(frozen=True, slots=True)
class PayloadKeys:
    """The keys, by id; ``current`` is the one that encrypts."""

    current: str
    keys: Mapping[str, bytes]

    @classmethod
    def parse(cls, text: str) -> PayloadKeys:
        """Keys from ``id:base64key,...`` (the first encrypts).

        Raises:
            PayloadKeyError: an entry without an id, a key that is not base64 or not 16, 24
                or 32 bytes, an id given twice; the message never shows a key.
        """
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for number, entry in enumerate((e.strip() for e in text.split(",")), start=1):
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not sep or not key_id or not key_id.isascii() or not key_id.isprintable():
                raise PayloadKeyError(f"payload key {number}: write it as id:base64key")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError) as e:
                raise PayloadKeyError(f"payload key {key_id!r}: not base64") from e
            if len(key) not in (16, 24, 32):
                raise PayloadKeyError(
                    f"payload key {key_id!r}: {len(key)} bytes; AES needs 16, 24 or 32"
                )
            if key_id in keys:
                raise PayloadKeyError(f"payload key {key_id!r} is listed twice")
            keys[key_id] = key
            order.append(key_id)
        if not order:
            raise PayloadKeyError("no payload keys: set SWITCHOVER_PAYLOAD_KEYS to id:base64key")
        return cls(current=order[0], keys=keys)

    def __repr__(self) -> str:  # never the keys themselves
        return f"PayloadKeys(current={self.current!r}, ids={sorted(self.keys)!r})"


def new_key_entry(key_id: str) -> str:
    """A fresh ``id:base64key`` entry (256-bit), for an operator's settings."""
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def payload_keys(settings: Settings) -> PayloadKeys:
    """The keys the settings name, or the state folder's own key (made on first use)."""
    if settings.payload_keys is not None:
        return PayloadKeys.parse(settings.payload_keys.get_secret_value())
    path = Path(settings.home) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Created readable by no one else, then filled; a second process loses the race
            # and reads the winner's key.
            with path.open("x", encoding="ascii") as out:
                path.chmod(0o600)
                out.write(new_key_entry("local-1"))
        except FileExistsError:
            pass
    return PayloadKeys.parse(path.read_text(encoding="ascii"))


class EncryptionCodec(PayloadCodec):
    """AES-GCM over each whole payload (metadata and data), its key id in the metadata.

    The key id is authenticated data too, so a payload cannot be passed off as sealed with
    another key. Payloads that are not sealed pass through ``decode`` unchanged: histories
    written before encryption was turned on still read.
    """

    def __init__(self, keys: PayloadKeys) -> None:
        self._keys = keys
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.seal(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.open(p) for p in payloads]

    def seal(self, payload: Payload) -> Payload:
        """One payload, encrypted with the current key."""
        key_id = self._keys.current
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def open(self, payload: Payload) -> Payload:
        """One payload, decrypted if it was sealed.

        Raises:
            PayloadKeyError: sealed with a key not configured here, or altered.
        """
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode("ascii", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadKeyError(
                f"a payload is sealed with key {key_id!r}, which SWITCHOVER_PAYLOAD_KEYS "
                "does not hold (add the old key back after a rotation)"
            )
        data = bytes(payload.data)
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode())
        except InvalidTag as e:
            raise PayloadKeyError(f"a payload sealed with key {key_id!r} was altered") from e
        opened = Payload()
        opened.ParseFromString(plain)
        return opened


def data_converter(settings: Settings) -> DataConverter:
    """The converter of every client and worker: pydantic payloads, sealed; failures encoded."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(payload_keys(settings)),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


__all__ = [
    "ENCODING",
    "KEY_ID_METADATA",
    "EncryptionCodec",
    "PayloadKeyError",
    "PayloadKeys",
    "data_converter",
    "new_key_entry",
    "payload_keys",
]

"""The Temporal client every part of the shell uses: one place for address, namespace,
TLS and the pydantic data converter (form fields hold dates and decimals)."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from config.settings import Settings
from domain.errors import ServiceUnavailableError


def _tls(settings: Settings) -> TLSConfig | bool:
    if not (settings.temporal_tls or settings.temporal_tls_cert or settings.temporal_tls_ca):
        return False

    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path else None

    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_ca),
        client_cert=read(settings.temporal_tls_cert),
        client_private_key=read(settings.temporal_tls_key),
    )


async def connect(settings: Settings) -> Client:
    """Connect to Temporal as the settings say.

    Raises:
        ServiceUnavailableError: when the server cannot be reached.
    """
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            tls=_tls(settings),
            api_key=settings.temporal_api_key,
            data_converter=pydantic_data_converter,
        )
    except RuntimeError as e:
        raise ServiceUnavailableError(
            f"cannot reach Temporal at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace}): {e}"
        ) from e

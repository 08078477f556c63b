"""Choose the document store from a URL: ``file:///path`` or ``s3://bucket/prefix``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config

from adapters.storage.local import LocalStore
from adapters.storage.s3 import S3Store
from adapters.storage.store import DocumentStore
from config.settings import Settings, get_settings
from domain.errors import BadInputError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def open_store(url: str | None = None, settings: Settings | None = None) -> DocumentStore:
    """The document store that a storage URL names.

    Args:
        url: ``file:///abs/path`` (a local folder) or ``s3://bucket[/prefix]``; default the
            settings' ``resolved_storage_url``.
        settings: for the default URL and the S3 endpoint override and region.

    Raises:
        BadInputError: a URL of another kind.
    """
    settings = settings or get_settings()
    url = url or settings.resolved_storage_url
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise BadInputError(f"no bucket in storage URL {url!r}")
        return S3Store(s3_client(settings), parts.netloc, unquote(parts.path).strip("/"))
    raise BadInputError(f"storage URL must be file:// or s3://, not {url!r}")


def s3_client(settings: Settings) -> S3Client:
    """A boto3 S3 client for the settings' endpoint (MinIO, moto...) and region.

    Credentials come from boto3's usual chain (environment, profile, instance role).
    """
    config = Config(
        region_name=settings.s3_region,
        connect_timeout=5,
        read_timeout=60,
        retries={"mode": "standard", "max_attempts": 5},
        # S3-compatible servers on a custom endpoint rarely resolve bucket subdomains.
        s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=settings.s3_endpoint_url, config=config
    )

"""Document storage in S3 or any S3-compatible store (MinIO, Ceph...), through boto3."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from adapters.storage.store import DocumentStore, Readable, check_key
from domain.errors import NotFoundError, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}

# Multipart above 16 MiB: a scanned batch or an archive can be gigabytes.
_MIB = 1024 * 1024
TRANSFER = TransferConfig(multipart_threshold=16 * _MIB, multipart_chunksize=16 * _MIB)


@contextmanager
def _s3_errors(key: str) -> Iterator[None]:
    """Turn botocore's errors into ours: a missing key is NotFound, the rest may pass."""
    try:
        yield
    except ClientError as e:
        code = str(e.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND:
            raise NotFoundError(f"no stored object {key}") from e
        raise StorageError(f"object storage refused {key}: {code or e}") from e
    except (BotoCoreError, Boto3Error) as e:
        # Connection refused or reset, timeouts, a body cut short, throttling after retries.
        raise StorageError(f"object storage failed on {key}: {e}") from e


class S3Store(DocumentStore):
    """Objects in one bucket, under an optional prefix (``s3://bucket/prefix``).

    S3 writes are atomic by nature: an object appears whole when its upload completes.
    """

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def __repr__(self) -> str:
        return f"S3Store('s3://{self.bucket}/{self.prefix}')"

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _write(
        self, key: str, data: bytes | Readable, *, content_type: str | None, sha256: str | None
    ) -> None:
        extra: dict[str, Any] = {}
        if content_type:
            extra["ContentType"] = content_type
        if sha256:
            extra["Metadata"] = {"sha256": sha256}
        with _s3_errors(key):
            if isinstance(data, bytes):
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
            else:
                self.client.upload_fileobj(
                    data,  # type: ignore[arg-type]  # boto3 needs only read()
                    self.bucket,
                    self._key(key),
                    ExtraArgs=extra or None,
                    Config=TRANSFER,
                )

    def get(self, key: str) -> bytes:
        with _s3_errors(key):
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return response["Body"].read()

    def open(self, key: str) -> BinaryIO:
        with _s3_errors(key):
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        return io.BufferedReader(_BodyReader(key, response["Body"]), buffer_size=1024 * 1024)

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except NotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        with _s3_errors(key):
            return self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"]

    def delete(self, key: str) -> None:
        with _s3_errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        full_prefix = f"{self.prefix}/{prefix}" if self.prefix else prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        with _s3_errors(prefix or "/"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                for item in page.get("Contents", []):
                    yield item["Key"][strip:]


class _BodyReader(io.RawIOBase):
    """A response body as a raw stream, whose read errors are ours (``StorageError``)."""

    def __init__(self, key: str, body: Any) -> None:
        self._key = key
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with _s3_errors(self._key):
            chunk = self._body.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()

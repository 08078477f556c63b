"""What is particular to each store: the factory, local atomic writes, S3 errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from adapters.storage import LocalStore, S3Store, open_store
from adapters.storage.s3 import _s3_errors
from config.settings import Settings
from domain.errors import BadInputError, NotFoundError, StorageError


def test_the_factory_reads_the_url(tmp_path: Path) -> None:
    store = open_store((tmp_path / "o").as_uri(), Settings())
    assert isinstance(store, LocalStore)
    assert store.root == tmp_path / "o"
    s3 = open_store("s3://bucket/some/prefix/", Settings(s3_endpoint_url="http://127.0.0.1:1"))
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix) == ("bucket", "some/prefix")
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:1"
    assert s3.client.meta.region_name == "eu-west-2"
    with pytest.raises(BadInputError):
        open_store("ftp://x/y", Settings())
    with pytest.raises(BadInputError):
        open_store("s3:///nobucket", Settings())


def test_the_default_is_the_state_folder(tmp_path: Path) -> None:
    store = open_store(settings=Settings(home=tmp_path / ".switchover"))
    assert isinstance(store, LocalStore)
    assert store.root == tmp_path / ".switchover" / "objects"


def test_local_writes_leave_no_temporary_files(local_store: LocalStore) -> None:
    stored = local_store.put(b"data")
    files = [p for p in local_store.root.rglob("*") if p.is_file()]
    assert files == [local_store.root.joinpath(*stored.key.split("/"))]


def test_a_failed_local_write_leaves_nothing(local_store: LocalStore) -> None:
    class Broken:
        def read(self, size: int = -1, /) -> bytes:
            raise OSError(5, "Input/output error")

    with pytest.raises(StorageError):
        local_store.put_at("archives/a.bin", Broken())
    assert not local_store.exists("archives/a.bin")
    assert [p for p in local_store.root.rglob("*") if p.is_file()] == []


def test_s3_unreachable_is_a_retryable_storage_error() -> None:
    # Nothing listens on port 1: the connection is refused (botocore retries it first).
    store = open_store("s3://bucket", Settings(s3_endpoint_url="http://127.0.0.1:1"))
    with pytest.raises(StorageError) as caught:
        store.get("documents/x")
    assert caught.value.retryable


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("NoSuchKey", NotFoundError),
        ("404", NotFoundError),
        ("SlowDown", StorageError),
        ("ThrottlingException", StorageError),
        ("InternalError", StorageError),
        ("NoSuchBucket", StorageError),
    ],
)
def test_s3_error_codes(code: str, error: type[Exception]) -> None:
    with pytest.raises(error), _s3_errors("k"):
        raise ClientError({"Error": {"Code": code, "Message": "m"}}, "GetObject")


def test_s3_missing_bucket(s3_settings: Settings) -> None:
    store = open_store("s3://no-such-bucket", s3_settings)
    with pytest.raises(StorageError):
        store.put_at("a", b"x")

"""What every DocumentStore does, checked on LocalStore and on S3Store alike."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from adapters.storage import DocumentStore, StoredObject, content_key
from domain.errors import NotFoundError

PDF = b"%PDF-1.7\n" + b"scanned form " * 100


def test_content_addressed_put(store: DocumentStore) -> None:
    stored = store.put(PDF, content_type="application/pdf")
    sha = hashlib.sha256(PDF).hexdigest()
    assert stored == StoredObject(
        sha256=sha, key=f"documents/{sha[:2]}/{sha[2:4]}/{sha}", size=len(PDF)
    )
    assert stored.key == content_key(sha)
    assert store.get(stored.key) == PDF
    assert store.exists(stored.key)
    assert store.size(stored.key) == len(PDF)


def test_the_same_content_twice_is_one_object_uploaded_once(
    store: DocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.put(PDF)
    writes: list[str] = []
    original = store._write

    def counting_write(key: str, *args: object, **kwargs: object) -> None:
        writes.append(key)
        original(key, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_write", counting_write)
    assert store.put(PDF) == first
    assert writes == []
    assert list(store.list("documents/")) == [first.key]


def test_put_file_hashes_and_stores_without_reading_it_whole(
    store: DocumentStore, tmp_path: Path
) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(PDF)
    stored = store.put_file(path, content_type="application/pdf")
    assert stored == store.put(PDF)
    assert store.get(stored.key) == PDF


def test_put_at_an_explicit_key_replaces(store: DocumentStore) -> None:
    key = "quarantine/abc/bad.pdf"
    first = store.put_at(key, b"first")
    assert first == StoredObject(hashlib.sha256(b"first").hexdigest(), key, 5)
    store.put_at(key, io.BytesIO(b"second version"))
    assert store.get(key) == b"second version"
    assert list(store.list("quarantine/")) == [key]


def test_put_at_a_stream_reports_its_hash_and_size(store: DocumentStore) -> None:
    stored = store.put_at("archives/x/manifest.json", io.BytesIO(b'{"rows": 3}'))
    assert stored.sha256 == hashlib.sha256(b'{"rows": 3}').hexdigest()
    assert stored.size == 11


def test_missing_objects_are_not_found(store: DocumentStore) -> None:
    key = content_key("0" * 64)
    assert not store.exists(key)
    with pytest.raises(NotFoundError):
        store.get(key)
    with pytest.raises(NotFoundError):
        store.open(key)
    with pytest.raises(NotFoundError):
        store.size(key)


def test_delete_is_idempotent(store: DocumentStore) -> None:
    stored = store.put(PDF)
    store.delete(stored.key)
    store.delete(stored.key)
    assert not store.exists(stored.key)
    assert list(store.list()) == []


def test_list_by_prefix_in_key_order(store: DocumentStore) -> None:
    for key in ["b/2", "a/1", "a/3", "ab/4", "c"]:
        store.put_at(key, key.encode())
    assert list(store.list()) == ["a/1", "a/3", "ab/4", "b/2", "c"]
    assert list(store.list("a/")) == ["a/1", "a/3"]
    assert list(store.list("a")) == ["a/1", "a/3", "ab/4"]
    assert list(store.list("zzz/")) == []


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a", "a\\b", "a/.tmp-x"])
def test_unsafe_keys_are_refused(store: DocumentStore, key: str) -> None:
    with pytest.raises(ValueError, match="storage key"):
        store.put_at(key, b"x")
    with pytest.raises(ValueError, match="storage key"):
        store.get(key)


def test_a_large_object_streams_both_ways(store: DocumentStore, tmp_path: Path) -> None:
    # 20 MiB: above the multipart threshold of the S3 store.
    size = 20 * 1024 * 1024 + 123
    path = tmp_path / "batch.tiff"
    block = os.urandom(1024 * 1024)
    with path.open("wb") as file:
        for _ in range(size // len(block)):
            file.write(block)
        file.write(block[: size % len(block)])
    stored = store.put_file(path, content_type="image/tiff")
    assert stored.size == size
    assert store.size(stored.key) == size

    digest = hashlib.sha256()
    read = 0
    with store.open(stored.key) as stream:
        while chunk := stream.read(256 * 1024):
            digest.update(chunk)
            read += len(chunk)
    assert (read, digest.hexdigest()) == (size, stored.sha256)

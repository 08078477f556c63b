"""What ``forms ingest`` does before a workflow starts: files it cannot read are named,
as our error, before anything is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.storage import LocalStore
from domain.errors import UnreadableDocumentError
from switchover.ingest import expand, store_file


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    gone = tmp_path / "scan-7.pdf"
    with pytest.raises(UnreadableDocumentError, match=r"scan-7\.pdf: cannot read the file"):
        store_file(store, gone)
    (tmp_path / "folder.pdf").mkdir()
    with pytest.raises(UnreadableDocumentError, match=r"folder\.pdf: cannot read the file"):
        store_file(store, tmp_path / "folder.pdf")


def test_damaged_files_are_stored_as_they_are(tmp_path: Path) -> None:
    """Intake does not judge content: a damaged file is stored and its workflow
    quarantines it with the reason (tests/fuzz/test_worker_survives.py)."""
    store = LocalStore(tmp_path / "objects")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty.pdf").write_bytes(b"")
    (tmp_path / "in" / "junk.tif").write_bytes(b"II*\x00\xff\xff\xff\xff")
    refs = [store_file(store, p) for p in expand([tmp_path / "in"])]
    assert [(r.filename, r.size_bytes) for r in refs] == [("empty.pdf", 0), ("junk.tif", 8)]
    assert store.get(refs[1].storage_key) == b"II*\x00\xff\xff\xff\xff"

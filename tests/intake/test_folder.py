"""A watched folder: files taken once complete, never twice, bad ones quarantined."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.intake import PER_POLL, QUARANTINED_DIR, TAKEN_DIR, FolderSource, Outcome
from config.settings import Settings
from db import documents
from db.models import Document, IntakeItem, IntakeState
from db.session import session_scope
from switchover.intake import Intake, IntakeResult, watch
from tests.intake.bulk import bulk_scan
from tests.intake.conftest import Recorder, count, one_page_pdf, poll_twice

pytestmark = pytest.mark.asyncio(loop_scope="session")


PDF = one_page_pdf()


def _touch(path: Path, data: bytes, mtime_ns: int) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))


async def test_a_file_is_taken_only_once_its_size_and_time_stop_changing(tmp_path: Path) -> None:
    source = FolderSource(tmp_path, max_bytes=10_000)
    scan = tmp_path / "scan.pdf"
    _touch(scan, PDF[:100], 1_000_000_000)
    assert source.poll() == []  # first look
    _touch(scan, PDF[:400], 2_000_000_000)
    assert source.poll() == []  # still growing
    _touch(scan, PDF[:400], 3_000_000_000)
    assert source.poll() == []  # same size, touched again: still being written
    [parcel] = source.poll()
    assert parcel.ref == "scan.pdf"
    assert parcel.arrivals[0].data == PDF[:400]
    source.finish(parcel, Outcome.TAKEN)
    assert (tmp_path / TAKEN_DIR / "scan.pdf").read_bytes() == PDF[:400]
    assert source.poll() == []
    assert source.poll() == []


async def test_temporary_names_empty_files_and_hidden_folders_are_never_taken(
    tmp_path: Path,
) -> None:
    for name in ("scan.pdf.part", "~$scan.pdf", ".scan.pdf", "scan.pdf.tmp", "SCAN.PDF.CRDOWNLOAD"):
        (tmp_path / name).write_bytes(PDF)
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / ".taken").mkdir()
    (tmp_path / ".taken" / "old.pdf").write_bytes(PDF)
    (tmp_path / "batch-7").mkdir()
    (tmp_path / "batch-7" / "form.pdf").write_bytes(PDF)
    source = FolderSource(tmp_path, max_bytes=10_000)
    source.poll()
    assert [p.ref for p in source.poll()] == ["batch-7/form.pdf"]


async def test_not_a_document_is_quarantined_with_its_reason_and_kept(
    settings: Settings, intake: Intake, recorder: Recorder, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "letter.pdf").write_bytes(b"Dear Sir, please find my form enclosed.")
    source = FolderSource(folder, max_bytes=10_000)
    results = await poll_twice(intake, source)
    [result] = results
    assert result.state is IntakeState.QUARANTINED
    assert "not a document" in (result.reason or "")
    assert recorder.starts == 0
    assert (folder / QUARANTINED_DIR / "letter.pdf").exists()
    with session_scope(settings.resolved_database_url) as session:
        [kept] = documents.list_quarantined(session)
        assert kept.error_type == "UnsupportedFormatError"
        assert intake.store.get(kept.storage_key).startswith(b"Dear Sir")


async def test_a_file_over_the_size_limit_is_quarantined_unread(
    settings: Settings, recorder: Recorder, tmp_path: Path
) -> None:
    intake = Intake.of(settings, recorder)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "huge.pdf").write_bytes(PDF)
    source = FolderSource(folder, max_bytes=len(PDF) - 1)
    results = await poll_twice(intake, source)
    [result] = results
    assert result.state is IntakeState.QUARANTINED
    assert "over the limit" in (result.reason or "")
    assert recorder.starts == 0


async def test_after_a_crash_between_taking_and_moving_a_restart_takes_nothing_again(
    settings: Settings, intake: Intake, recorder: Recorder, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "form.pdf").write_bytes(PDF)
    source = FolderSource(folder, max_bytes=10_000)
    source.poll()
    [parcel] = source.poll()
    taken = await intake.take(source.route, source.source, parcel.arrivals[0])  # then "crash"
    assert taken.state is IntakeState.TAKEN
    assert recorder.starts == 1

    restarted = Intake.of(settings, recorder)
    fresh = FolderSource(folder, max_bytes=10_000)
    results = await poll_twice(restarted, fresh)
    [again] = results
    assert not again.new
    assert recorder.starts == 1
    assert count(settings, IntakeItem) == 1
    assert (folder / TAKEN_DIR / "form.pdf").exists()


async def test_a_tiff_bulk_scan_splits_and_an_unnamed_separator_takes_the_watch_form_type(
    settings: Settings, intake: Intake, recorder: Recorder, tmp_path: Path
) -> None:
    scan = bulk_scan(3, seed=21, blanks=1, kind="tiff", named=False)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "batch.tiff").write_bytes(scan.data)
    source = FolderSource(folder, max_bytes=50_000_000)
    results = await poll_twice(intake, source, "register-to-vote")
    [result] = results
    assert [d.pages for d in result.documents] == scan.form_pages
    assert {d.form_type for d in result.documents} == {"register-to-vote"}
    assert [d.filename for d in result.documents] == [f"batch-00{n}.tiff" for n in (1, 2, 3)]
    assert count(settings, Document) == 3
    for document, _form_type, _source in recorder.started.values():
        assert document.content_type == "image/tiff"
        assert intake.store.get(document.storage_key)[:4] == b"II*\x00"


async def test_a_separator_naming_an_unknown_form_type_quarantines_the_scan(
    intake: Intake, recorder: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = bulk_scan(2, seed=3, blanks=0)
    missing = scan.form_types[0]
    monkeypatch.setattr(intake, "form_types", intake.form_types - {missing})
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "batch.pdf").write_bytes(scan.data)
    source = FolderSource(folder, max_bytes=50_000_000)
    results = await poll_twice(intake, source)
    [result] = results
    assert result.state is IntakeState.QUARANTINED
    assert f"names form type {missing!r}, which has no template" in (result.reason or "")
    assert recorder.starts == 0


async def test_watch_once_takes_more_files_than_one_poll_offers(
    settings: Settings, intake: Intake, recorder: Recorder, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for shade in range(PER_POLL + 5):
        (folder / f"form-{shade:02d}.pdf").write_bytes(one_page_pdf(shade))
    results: list[IntakeResult] = []
    await watch(settings, [str(folder)], once=True, settle_seconds=0.01, intake=intake,
                report=results.append)  # fmt: skip
    assert len(results) == PER_POLL + 5
    assert recorder.starts == PER_POLL + 5
    assert len(list((folder / TAKEN_DIR).iterdir())) == PER_POLL + 5


async def test_a_file_that_cannot_be_moved_is_not_offered_again(
    intake: Intake, recorder: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "form.pdf").write_bytes(PDF)

    def read_only(path: Path, target: Path) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("adapters.intake.folder._move", read_only)
    source = FolderSource(folder, max_bytes=10_000)
    [taken] = await poll_twice(intake, source)
    assert taken.state is IntakeState.TAKEN
    assert await poll_twice(intake, source) == []
    assert (folder / "form.pdf").exists()
    assert recorder.starts == 1

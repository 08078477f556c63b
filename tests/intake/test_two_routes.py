"""The same file arriving by two routes is one document: once by a watched folder and once
under an S3 prefix, with workflows started on a real Temporal server."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.intake import FolderSource, open_source
from adapters.storage import s3_client
from config.settings import Settings
from db.models import Document, IntakeItem, IntakeState
from switchover.intake import Intake, temporal_starter
from tests.intake.conftest import BUCKET, count, one_page_pdf, poll_twice

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_scan_by_folder_then_by_s3_is_one_document_and_one_workflow(
    s3_settings: Settings, local_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    scan = one_page_pdf(123)
    folder = tmp_path / "scanner"
    folder.mkdir()
    (folder / "smith-application.pdf").write_bytes(scan)
    s3_client(s3_settings).put_object(Bucket=BUCKET, Key="two-routes/scan0001.pdf", Body=scan)
    intake = Intake.of(s3_settings, temporal_starter(local_env.client))

    [by_folder] = await poll_twice(intake, FolderSource(folder, max_bytes=1 << 20))
    [by_s3] = await poll_twice(intake, open_source(f"s3://{BUCKET}/two-routes", s3_settings))

    assert by_folder.state is IntakeState.TAKEN
    assert by_s3.state is IntakeState.DUPLICATE
    assert by_s3.reason == "the same file came by folder as smith-application.pdf"
    assert by_s3.documents == by_folder.documents
    [document] = by_folder.documents
    assert count(s3_settings, Document) == 1
    assert count(s3_settings, IntakeItem) == 2
    described = await local_env.client.get_workflow_handle(document.workflow_id).describe()
    assert described.id == f"digitise-{document.document_id}"

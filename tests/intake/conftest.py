"""Fixtures for the intake tests: a throwaway state folder with its engine database, and an
intake that starts workflows on a real Temporal server or records what it would start."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from adapters.intake import IntakeSource
from adapters.storage import s3_client
from config.settings import Settings
from db.migrate import upgrade
from db.models import Document, IntakeItem
from db.session import dispose_engines, session_scope
from domain.digitise import DocumentRef
from domain.workflow_ids import digitise_id
from switchover.intake import Intake, IntakeResult, poll_sources
from tests.intake.bulk import BulkScan, bulk_scan
from tests.switchover.conftest import run  # noqa: F401  (the CLI runner fixture)


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(home=tmp_path / "state", intake_max_mb=20, intake_poll_seconds=0.1)
    upgrade(settings.resolved_database_url)
    try:
        yield settings
    finally:
        dispose_engines()


BUCKET = "switchover-intake-test"


@pytest.fixture
def s3_settings(settings: Settings, aws_endpoint: str) -> Settings:
    settings = settings.model_copy(update={"s3_endpoint_url": aws_endpoint})
    client = s3_client(settings)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
        )
    return settings


@dataclass
class Recorder:
    """Stands in for Temporal where a test is about the files, not the workflows: it
    records each start and, like Temporal, refuses a second start of the same id."""

    started: dict[str, tuple[DocumentRef, str | None, str]] = field(default_factory=dict)
    starts: int = 0

    async def __call__(
        self, document: DocumentRef, form_type: str | None, source: str
    ) -> tuple[str, bool]:
        self.starts += 1
        workflow_id = digitise_id(document.document_id)
        if workflow_id in self.started:
            return workflow_id, True
        self.started[workflow_id] = (document, form_type, source)
        return workflow_id, False


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def intake(settings: Settings, recorder: Recorder) -> Intake:
    return Intake.of(settings, recorder)


async def poll_twice(
    intake: Intake, source: IntakeSource, form_type: str | None = None
) -> list[IntakeResult]:
    """Two polls, as a watcher makes them: a folder takes a file at its second look."""
    results: list[IntakeResult] = []
    for _ in range(2):
        failures = await poll_sources(intake, [source], form_type=form_type, report=results.append)
        assert failures == []
    return results


def one_page_pdf(shade: int = 255) -> bytes:
    """A small real PDF; ``shade`` makes different content."""
    out = io.BytesIO()
    when = time.gmtime(1_796_115_600)  # a fixed date: the same bytes every time
    Image.new("L", (200, 280), shade).save(out, format="PDF", creationDate=when, modDate=when)
    return out.getvalue()


def count(settings: Settings, model: type[Document] | type[IntakeItem]) -> int:
    with session_scope(settings.resolved_database_url) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture(scope="session")
def forty_page_scan() -> BulkScan:
    """The issue's bulk scan: 12 two-page forms, each behind a separator sheet naming its
    form type, and 4 blank pages between forms: 40 pages."""
    scan = bulk_scan(12, seed=15, blanks=4)
    assert scan.pages == 40
    return scan

"""What intake remembers, on both engine databases (SQLite and PostgreSQL): one row per
arrival however often it is taken, and the same content by a second route a duplicate."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.intake import Arrival
from config.settings import Settings
from db.models import Document, IntakeItem, IntakeState
from switchover.intake import Intake
from tests.db.conftest import db_url, postgres_url, sqlite_template  # noqa: F401
from tests.intake.conftest import Recorder, count, one_page_pdf

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_arrivals_and_duplicates_on_both_databases(
    db_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path / "state", database_url=db_url)
    recorder = Recorder()
    intake = Intake.of(settings, recorder)
    scan = Arrival.of("inbox/scan-1.pdf", "scan-1.pdf", one_page_pdf(77))

    first = await intake.take("folder", "/srv/scans", scan)
    again = await intake.take("folder", "/srv/scans", scan)
    attachment = Arrival.of("<m1@post>#1:scan.pdf", "scan.pdf", one_page_pdf(77))
    mailed = await intake.take("mailbox", "imap://forms@mail/INBOX", attachment)

    assert first.state is IntakeState.TAKEN
    assert first.new
    assert not again.new
    assert mailed.state is IntakeState.DUPLICATE
    assert mailed.documents == first.documents
    assert recorder.starts == 1
    assert count(settings, IntakeItem) == 2
    assert count(settings, Document) == 1

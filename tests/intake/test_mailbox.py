"""A mailbox: attachments taken from an IMAP folder of a real dovecot, each message moved
to the processed folder once its attachments are taken."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from pydantic import SecretStr

from adapters.intake import MailboxSource, open_source
from config.settings import Settings
from db.models import IntakeState
from switchover.intake import Intake, poll_sources
from tests.intake.conftest import Recorder, one_page_pdf
from tests.intake.imap_server import ImapServer, dovecot

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def imap() -> Iterator[ImapServer]:
    with dovecot() as server:
        yield server


def _message(message_id: str, attachments: list[tuple[str, str, bytes]]) -> bytes:
    message = EmailMessage()
    message["From"] = "post-room@example.gov.uk"
    message["To"] = "forms@example.gov.uk"
    message["Subject"] = "Scanned forms"
    message["Message-ID"] = message_id
    message.set_content("Forms from this morning's post.")
    for name, media_type, data in attachments:
        main, sub = media_type.split("/")
        message.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return message.as_bytes()


def _client(server: ImapServer) -> imaplib.IMAP4:
    client = imaplib.IMAP4(server.host, server.port)
    client.login(server.user, server.password)
    return client


def _count(server: ImapServer, folder: str) -> int:
    client = _client(server)
    try:
        status, data = client.select(f'"{folder}"', readonly=True)
        return int(data[0] or 0) if status == "OK" else 0
    finally:
        client.logout()


def _deliver(server: ImapServer, *messages: bytes) -> None:
    client = _client(server)
    try:
        for raw in messages:
            assert client.append("INBOX", None, None, raw)[0] == "OK"
    finally:
        client.logout()


@pytest.fixture
def mailbox(settings: Settings, imap: ImapServer) -> Iterator[MailboxSource]:
    settings = settings.model_copy(update={"intake_imap_password": SecretStr(imap.password)})
    source = open_source(f"imap://{imap.user}@{imap.host}:{imap.port}/INBOX", settings)
    assert isinstance(source, MailboxSource)
    try:
        yield source
    finally:
        source.close()


async def test_attachments_are_taken_and_each_message_moved_once_processed(
    imap: ImapServer, mailbox: MailboxSource, intake: Intake, recorder: Recorder
) -> None:
    form_a, form_b, form_c = one_page_pdf(250), one_page_pdf(240), one_page_pdf(230)
    two_forms = _message("<two@post-room>", [("a.pdf", "application/pdf", form_a),
                                             ("b.pdf", "application/pdf", form_b)])  # fmt: skip
    no_forms = _message("<none@post-room>", [])
    docx = ("cover.docx", "application/octet-stream", b"PK\x03\x04")
    mixed = _message("<mixed@post-room>", [docx, ("c.pdf", "application/pdf", form_c)])
    _deliver(imap, two_forms, no_forms, mixed)

    results = []
    assert await poll_sources(intake, [mailbox], form_type=None, report=results.append) == []

    states = {r.ref: r.state for r in results}
    assert states == {
        "<two@post-room>#1:a.pdf": IntakeState.TAKEN,
        "<two@post-room>#2:b.pdf": IntakeState.TAKEN,
        "<none@post-room>": IntakeState.QUARANTINED,
        "<mixed@post-room>#1:cover.docx": IntakeState.QUARANTINED,
        "<mixed@post-room>#2:c.pdf": IntakeState.TAKEN,
    }
    assert {r.source for r in results} == {mailbox.source}
    assert recorder.starts == 3
    assert _count(imap, "INBOX") == 0
    assert _count(imap, "Processed") == 2
    assert _count(imap, "Quarantined") == 1

    # The same message delivered again (a resend, or a crash before the move): nothing new.
    _deliver(imap, two_forms)
    again = []
    await poll_sources(intake, [mailbox], form_type=None, report=again.append)
    assert [r.new for r in again] == [False, False]
    assert recorder.starts == 3
    assert _count(imap, "INBOX") == 0
    assert _count(imap, "Processed") == 3


async def test_a_wrong_password_is_a_service_failure_not_a_crash(
    settings: Settings, imap: ImapServer, intake: Intake
) -> None:
    settings = settings.model_copy(update={"intake_imap_password": SecretStr("wrong")})
    source = open_source(f"imap://{imap.user}@{imap.host}:{imap.port}/INBOX", settings)
    failures = await poll_sources(intake, [source], form_type=None, report=lambda r: None)
    [failure] = failures
    assert failure.retryable
    assert imap.host in str(failure)
    assert "wrong" not in str(failure)

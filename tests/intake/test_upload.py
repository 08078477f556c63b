"""Caseworkers upload scans in the web app: several files at once, checked (size, and type
by magic bytes) before anything is stored, CSRF and role checked; workflows start on a real
Temporal server."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from db.models import Document, IntakeItem
from switchover.web import create_app
from tests.intake.conftest import count, one_page_pdf
from tests.web.conftest import add_user, csrf_of, sign_in

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def web_settings(settings: Settings, local_env: WorkflowEnvironment) -> Settings:
    address = local_env.client.service_client.config.target_host
    return settings.model_copy(update={"temporal_address": address, "intake_max_mb": 1})


@pytest.fixture
def caseworker(web_settings: Settings) -> Iterator[TestClient]:
    add_user(web_settings, "casey", "caseworker")
    with TestClient(create_app(web_settings)) as client:
        sign_in(client, "casey")
        yield client


def _png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (60, 80), shade).save(out, format="PNG")
    return out.getvalue()


def _post(client: TestClient, files: list[tuple[str, bytes]], **data: str):
    token = csrf_of(client.get("/upload").text)
    return client.post(
        "/upload",
        data={"csrf_token": token, "form_type": "recognise", **data},
        files=[("documents", (name, body, "application/octet-stream")) for name, body in files],
    )


def _objects(settings: Settings) -> list[Path]:
    root = settings.home / "objects"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_the_page_has_a_labelled_multiple_file_input_and_the_nav_shows_upload(
    caseworker: TestClient,
) -> None:
    page = caseworker.get("/upload")
    assert page.status_code == 200
    assert '<label class="govuk-label govuk-label--m" for="documents">' in page.text
    assert 'type="file" multiple' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    assert 'href="/upload"' in page.text  # the service navigation
    assert 'id="upload-progress-bar"' in page.text


async def test_several_files_are_received_and_a_png_named_pdf_is_judged_by_its_content(
    caseworker: TestClient, web_settings: Settings, local_env: WorkflowEnvironment
) -> None:
    answer = _post(caseworker, [("first.pdf", one_page_pdf(200)), ("photo.pdf", _png(180))],
                   form_type="register-to-vote")  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert "2 of 2 files received for digitising" in answer.text
    assert count(web_settings, Document) == 2
    assert count(web_settings, IntakeItem) == 2

    again = _post(caseworker, [("copy-of-first.pdf", one_page_pdf(200))])
    assert again.status_code == 200
    assert "0 of 1 file received" in again.text
    assert "Already received" in again.text
    assert count(web_settings, Document) == 2


async def test_a_file_that_is_not_a_document_stops_the_whole_upload_before_anything_is_stored(
    caseworker: TestClient, web_settings: Settings
) -> None:
    answer = _post(caseworker, [("good.pdf", one_page_pdf(90)),
                                ("notes.pdf", b"Dear caseworker, here are my notes")])  # fmt: skip
    assert answer.status_code == 400
    assert "There is a problem" in answer.text
    assert "notes.pdf must be a PDF, TIFF" in answer.text
    assert 'href="#documents"' in answer.text
    assert count(web_settings, IntakeItem) == 0
    assert _objects(web_settings) == []


async def test_a_file_over_the_limit_and_an_empty_file_are_refused_with_reasons(
    caseworker: TestClient, web_settings: Settings
) -> None:
    big = one_page_pdf(10) + b"%" * (1024 * 1024)
    answer = _post(caseworker, [("big.pdf", big), ("empty.pdf", b"")])
    assert answer.status_code == 400
    assert "big.pdf must be smaller than 1 MB" in answer.text
    assert "empty.pdf is empty" in answer.text
    assert _objects(web_settings) == []


async def test_no_file_chosen_is_an_error_not_a_crash(caseworker: TestClient) -> None:
    token = csrf_of(caseworker.get("/upload").text)
    answer = caseworker.post("/upload", data={"csrf_token": token})
    assert answer.status_code == 400
    assert "Select one or more scanned forms" in answer.text


async def test_without_the_csrf_token_nothing_is_taken(
    caseworker: TestClient, web_settings: Settings
) -> None:
    upload = [("documents", ("a.pdf", one_page_pdf(1), "application/pdf"))]
    answer = caseworker.post("/upload", data={"csrf_token": "forged"}, files=upload)
    assert answer.status_code == 403
    assert count(web_settings, IntakeItem) == 0


async def test_only_caseworkers_may_upload(web_settings: Settings) -> None:
    add_user(web_settings, "morgan", "manager")
    with TestClient(create_app(web_settings)) as client:
        sign_in(client, "morgan")
        assert client.get("/upload").status_code == 403
        assert 'href="/upload"' not in client.get("/dashboard").text
        token = csrf_of(client.get("/dashboard").text)
        upload = [("documents", ("a.pdf", one_page_pdf(2), "application/pdf"))]
        answer = client.post("/upload", data={"csrf_token": token}, files=upload)
        assert answer.status_code == 403
    assert count(web_settings, IntakeItem) == 0

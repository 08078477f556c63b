"""The issue's check: a 40-page bulk scan with separator sheets dropped into a watched folder
gives the right number of documents, each with its form type; dropped again, nothing new.

Workflows are started on a real Temporal server (no worker runs them: what is checked is
what intake asked Temporal to do, read back from each workflow's history)."""

from __future__ import annotations

import os
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from adapters.intake import TAKEN_DIR
from config.settings import Settings
from db.models import Document, IntakeItem, IntakeState
from domain.digitise import DigitiseFormInput
from switchover.intake import Intake, IntakeResult, temporal_starter, watch
from tests.intake.bulk import BulkScan
from tests.intake.conftest import count

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _started_input(env: WorkflowEnvironment, workflow_id: str) -> DigitiseFormInput:
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    first = history.events[0]
    assert first.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    payloads = first.workflow_execution_started_event_attributes.input.payloads
    [request] = await env.client.data_converter.decode(list(payloads), [DigitiseFormInput])
    assert isinstance(request, DigitiseFormInput)
    return request


def _drop(folder: Path, name: str, data: bytes) -> None:
    """As a scanner does: written under a temporary name, then renamed."""
    partial = folder / f"{name}.part"
    partial.write_bytes(data)
    os.replace(partial, folder / name)


async def _watch_once(settings: Settings, folder: Path, intake: Intake) -> list[IntakeResult]:
    results: list[IntakeResult] = []
    await watch(settings, [str(folder)], once=True, settle_seconds=0.05, intake=intake,
                report=results.append)  # fmt: skip
    return results


async def test_a_forty_page_bulk_scan_gives_one_document_per_form_and_again_nothing(
    settings: Settings, local_env: WorkflowEnvironment, tmp_path: Path, forty_page_scan: BulkScan
) -> None:
    folder = tmp_path / "scanner"
    folder.mkdir()
    intake = Intake.of(settings, temporal_starter(local_env.client))
    _drop(folder, "mailroom-0412.pdf", forty_page_scan.data)

    [result] = await _watch_once(settings, folder, intake)

    assert result.state is IntakeState.TAKEN
    assert len(result.documents) == 12
    assert [d.form_type for d in result.documents] == forty_page_scan.form_types
    # Separator sheets and blank pages are in no document.
    assert [d.pages for d in result.documents] == forty_page_scan.form_pages
    assert (folder / TAKEN_DIR / "mailroom-0412.pdf").read_bytes() == forty_page_scan.data
    assert not (folder / "mailroom-0412.pdf").exists()
    assert count(settings, Document) == 12
    for document, form_type in zip(result.documents, forty_page_scan.form_types, strict=True):
        request = await _started_input(local_env, document.workflow_id)
        assert request.form_type == form_type
        assert request.document.document_id == document.document_id
        stored = intake.store.get(request.document.storage_key)
        assert len(pdfium.PdfDocument(stored)) == 2

    # Dropped again, under another name and under the same one, by a fresh process (a
    # restart: nothing in memory): nothing new.
    again = Intake.of(settings, temporal_starter(local_env.client))
    _drop(folder, "mailroom-0412-rescan.pdf", forty_page_scan.data)
    _drop(folder, "mailroom-0412.pdf", forty_page_scan.data)
    results = await _watch_once(settings, folder, again)

    assert sorted(r.ref for r in results) == ["mailroom-0412-rescan.pdf", "mailroom-0412.pdf"]
    rescan, same = sorted(results, key=lambda r: r.ref)
    assert rescan.state is IntakeState.DUPLICATE
    assert rescan.new
    assert "mailroom-0412.pdf" in (rescan.reason or "")
    assert same.state is IntakeState.TAKEN
    assert not same.new  # this very arrival, seen before
    assert rescan.documents == same.documents == result.documents
    assert count(settings, Document) == 12
    assert count(settings, IntakeItem) == 2
    listed = [w.id async for w in local_env.client.list_workflows(
        " OR ".join(f"WorkflowId = '{d.workflow_id}'" for d in result.documents)
    )]  # fmt: skip
    assert len(listed) <= 12  # (visibility may lag; never more than one run per document)
    assert not any(p.is_file() for p in folder.iterdir())

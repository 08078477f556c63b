"""The worker's intake option: with ``SWITCHOVER_INTAKE_SOURCES`` set, a loop beside the
workers takes files as they arrive until the worker stops, and a source that fails does
not stop it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from adapters.intake import TAKEN_DIR
from config.settings import TASK_QUEUE_WORKFLOWS, Settings
from db.models import IntakeItem
from switchover.intake import background_watchers
from switchover.worker import ActivitySet, build_workers, production_activities, run_workers
from tests.intake.conftest import count, one_page_pdf

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _until(condition, what: str) -> None:
    for _ in range(600):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_the_worker_watches_its_sources_until_it_stops(
    settings: Settings, local_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    folder = tmp_path / "scanner"
    folder.mkdir()
    settings = settings.model_copy(update={
        "temporal_address": local_env.client.service_client.config.target_host,
        # A mailbox that refuses connections: logged, polled again, never fatal.
        "intake_sources": [str(folder), "imap://nobody@127.0.0.1:9/INBOX"],
        "intake_imap_password": SecretStr("unused"),
    })  # fmt: skip
    [loop] = background_watchers(settings)
    stop = asyncio.Event()
    running = asyncio.create_task(loop(stop))
    try:
        (folder / "form-1.pdf").write_bytes(one_page_pdf(11))
        await _until(lambda: (folder / TAKEN_DIR / "form-1.pdf").exists(), "form-1 taken")
        (folder / "form-2.pdf").write_bytes(one_page_pdf(22))
        await _until(lambda: (folder / TAKEN_DIR / "form-2.pdf").exists(), "form-2 taken")
        assert not running.done()
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
    assert count(settings, IntakeItem) == 2


async def test_no_sources_no_loop(settings: Settings) -> None:
    assert background_watchers(settings) == []


async def test_a_source_that_cannot_be_watched_ends_the_loop_not_the_worker(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings.model_copy(update={"intake_sources": [str(tmp_path / "nowhere")]})
    [loop] = background_watchers(settings)
    await asyncio.wait_for(loop(asyncio.Event()), timeout=30)
    assert "intake.not_watching" in capsys.readouterr().err


async def test_run_workers_runs_the_background_loops_and_waits_for_them_at_shutdown(
    local_env: WorkflowEnvironment,
) -> None:
    seen: list[str] = []

    async def loop(stop: asyncio.Event) -> None:
        seen.append("started")
        await stop.wait()
        await asyncio.sleep(0)
        seen.append("stopped")

    stop = asyncio.Event()
    activities = ActivitySet(ocr=[], io=[], background=[loop])
    workers = build_workers(local_env.client, activities, queues=[TASK_QUEUE_WORKFLOWS])
    running = asyncio.create_task(run_workers(workers, stop, activities))
    await _until(lambda: seen == ["started"], "the loop started")
    stop.set()
    await asyncio.wait_for(running, timeout=30)
    assert seen == ["started", "stopped"]


async def test_the_production_worker_carries_the_intake_loop_when_sources_are_set(
    settings: Settings, tmp_path: Path
) -> None:
    watching = settings.model_copy(update={"intake_sources": [str(tmp_path)]})
    assert len(production_activities(watching).background) == 1
    assert production_activities(settings).background == []

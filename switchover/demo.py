"""``switchover demo``: the whole digitisation story on bundled samples, then a summary.

Prints sample forms with ground truth, starts the embedded stack (or uses a Temporal
server already answering at the configured address), ingests everything as one batch,
plays a caseworker approving a form from the review queue, and reports outcomes, field
accuracy against the ground truth, and the savings ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import Client

from config.settings import Settings
from domain.digitise import Decision, ReviewDecision
from domain.errors import ServiceUnavailableError, SwitchoverError
from switchover.stack import embedded_temporal
from switchover.temporal import connect
from switchover.worker import build_workers, production_activities, run_workers


def say(text: str = "") -> None:
    print(text, file=sys.stdout, flush=True)


@contextlib.asynccontextmanager
async def _temporal(settings: Settings) -> AsyncIterator[Client]:
    try:
        client = await connect(settings)
    except ServiceUnavailableError:
        say(f"Starting the embedded Temporal server (state in {settings.home}/temporal.db)...")
        async with embedded_temporal(settings) as client:
            yield client
        return
    say(f"Using the Temporal server already at {settings.temporal_address}.")
    yield client


def _write_samples(folder: Path, count: int) -> list[Any]:
    from switchover.specimens import write_specimens

    specimens = write_specimens(
        folder, count=2 * count, seed=2026, variants=("scan", "photo", "digital")
    )
    # A file whose name lies about its content: it must be quarantined, not lost.
    (folder / "upload-from-scanner.pdf").write_bytes(b"PK\x03\x04 this is a zip archive\n" * 4)
    return specimens


async def run_demo(settings: Settings, *, count: int = 3) -> None:
    """Run the demo end to end and print what happened."""
    from db.migrate import upgrade
    from switchover.ingest import expand, ingest
    from switchover.review import decide, list_tasks, savings_rows, show_task

    folder = settings.home / "demo"
    say(f"1. Printing sample forms with ground truth into {folder} ...")
    specimens = await asyncio.to_thread(_write_samples, folder, count)
    files = expand([folder])
    say(f"   {len(specimens)} filled forms as scans, phone photos and digital PDFs: "
        f"{len(files)} files, one of them broken on purpose.")  # fmt: skip

    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    async with _temporal(settings) as client:
        activities = production_activities(settings)
        workers = build_workers(client, activities, ocr_slots=settings.ocr_workers)
        stop = asyncio.Event()
        worker_task = asyncio.create_task(run_workers(workers, stop, activities))
        try:
            say(f"2. Ingesting {len(files)} files as one batch "
                f"(watch it at http://localhost:{settings.temporal_ui_port}) ...")  # fmt: skip
            summary = await ingest(settings, [folder], None, wait=True)
            for line in summary["lines"]:
                say("   " + line)

            tasks = list_tasks(settings, status="open", form_type=None)
            say(f"3. {len(tasks)} forms wait for a caseworker.")
            if tasks:
                await _play_caseworker(settings, tasks[0]["id"], specimens, show_task, decide)
            _report(settings, specimens, savings_rows)
            if sys.stdin.isatty():
                say(f"\nThe stack stays up: Temporal UI http://localhost:{settings.temporal_ui_port}"
                    " . Ctrl-C stops it.")  # fmt: skip
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()
        finally:
            stop.set()
            await worker_task


async def _play_caseworker(
    settings: Settings, task_id: int, specimens: list[Any], show_task: Any, decide: Any
) -> None:
    task = show_task(settings, task_id)
    truth = _truth_for(task["filename"], specimens)
    doubtful = [r["field"] for r in task["reasons"] if r.get("field")]
    say(f"   Task {task_id} ({task['form_type']}): doubtful fields {', '.join(doubtful) or '-'}")
    corrections = {
        name: _as_typed(truth.get(name)) for name in doubtful
        if truth is not None and truth.get(name) is not None
    }  # fmt: skip
    try:
        outcome = await decide(
            settings,
            task_id,
            ReviewDecision(decision=Decision.APPROVE, decided_by="demo-caseworker",
                           corrections=corrections),
        )  # fmt: skip
    except SwitchoverError as e:
        say(f"   The workflow refused the decision: {e}")
        return
    if outcome.accepted:
        say(f"   A caseworker corrected {len(corrections)} field(s) and approved it: "
            f"{outcome.status.value}.")  # fmt: skip
    else:
        say(f"   The workflow sent the correction back: {outcome.errors}")


def _as_typed(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _truth_for(filename: str, specimens: list[Any]) -> dict[str, Any] | None:
    for specimen in specimens:
        if any(path.name == filename for path in specimen.files.values()):
            return dict(specimen.truth)
    return None


def _report(settings: Settings, specimens: list[Any], savings_rows: Any) -> None:
    from db import records
    from db.session import session_scope
    from switchover.specimens import FieldScore

    outcomes: Counter[str] = Counter()
    score = FieldScore()
    with session_scope(settings.resolved_database_url) as session:
        for record in records.list_form_records(session, limit=10_000):
            outcomes[record.status.value] += 1
            truth = next(
                (s.truth for s in specimens
                 if any(_sha256(p) == record.document_id for p in s.files.values())),
                None,
            )  # fmt: skip
            if truth is None:
                continue
            values = {name: f.get("value") for name, f in (record.fields or {}).items()}
            score.add(truth, values, {r.get("field") for r in record.reasons})
    say("4. Summary")
    say(
        "   records: "
        + ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(outcomes.items()))
    )
    if score.fields:
        say(f"   fields exactly right: {score.right}/{score.fields} "
            f"({100 * score.exact_rate:.1f}%); wrong and not flagged for review: "
            f"{score.wrong_unflagged} ({100 * score.wrong_unflagged_rate:.2f}%)")  # fmt: skip
    rows = savings_rows(settings)
    total_saved = sum((Decimal(r["amount_gbp"]) for r in rows), Decimal(0))
    for row in rows:
        amount = Decimal(row["amount_gbp"])
        say(f"   saved on {row['subject']}: {row['entries']} forms, £{amount:,.2f}")
    say(f"   total saved: £{total_saved:,.2f}")
    say(f"   Look further: `switchover review list`, `switchover savings report`, "
        f"Temporal UI http://localhost:{settings.temporal_ui_port}")  # fmt: skip


_hashes: dict[Path, str] = {}


def _sha256(path: Path) -> str:
    import hashlib

    if path not in _hashes:
        _hashes[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _hashes[path]

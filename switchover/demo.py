"""``switchover demo``: the whole story on bundled samples, then a summary.

Two things happen side by side on the embedded stack (or a Temporal server already
answering at the configured address), with the web app up:

- paper: sample forms with ground truth are printed, ingested as one batch, and a
  caseworker approves one from the review queue;
- a legacy system: a benefits database in SQLite, with an old HTTP service in front of it,
  is migrated to PostgreSQL, reconciled, shadowed and cut over stage by stage through the
  builtin router while citizens use it (one stage fails on errors injected into the modern
  service, rolls back, and passes once the fault is removed), then frozen, archived and
  retired; the savings ledger starts counting.

At the end it prints what happened and the savings, and (at a terminal) leaves the web app
and the Temporal UI open.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
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


DEMO_ENGINEER = "demo"
DEMO_PASSWORD = "switchover-demo"  # noqa: S105 - a local demo account, printed for people


async def run_demo(settings: Settings, *, count: int = 3) -> None:
    """Run the demo end to end and print what happened."""
    from db.migrate import upgrade
    from switchover import demo_system
    from switchover.stack import _web_beside_worker

    folder = settings.home / "demo"
    say(f"1. Printing sample forms with ground truth into {folder} ...")
    specimens = await asyncio.to_thread(_write_samples, folder / "forms", count)
    say(f"   {len(specimens)} filled forms as scans, phone photos and digital PDFs, "
        "and one broken file.")  # fmt: skip
    say(f"2. Writing two legacy systems into {folder}: benefits claimants in SQLite, and the "
        "mainframe's payment file (EBCDIC) ...")  # fmt: skip
    try:
        await asyncio.to_thread(demo_system.ensure_database, settings.demo_target_url)
        await asyncio.to_thread(demo_system.drop_schema, settings.demo_target_url)
    except Exception as e:  # psycopg's errors: the modern store is not there
        raise ServiceUnavailableError(
            f"the demo migrates into PostgreSQL at {settings.demo_target_url} and cannot reach "
            f"it ({e.__class__.__name__}); set SWITCHOVER_DEMO_TARGET_URL"
        ) from e
    system = await asyncio.to_thread(
        demo_system.write_legacy_system, folder / "legacy", target_url=settings.demo_target_url
    )
    mainframe = await asyncio.to_thread(
        demo_system.write_mainframe_system,
        folder / "mainframe",
        target_url=settings.demo_target_url,
        claimant_ids=system.claimant_ids,
    )
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    await asyncio.to_thread(demo_system.ensure_engineer, settings, DEMO_ENGINEER, DEMO_PASSWORD)
    async with _temporal(settings) as client:
        activities = production_activities(settings)
        workers = build_workers(client, activities, ocr_slots=settings.ocr_workers)
        stop = asyncio.Event()
        worker_task = asyncio.create_task(run_workers(workers, stop, activities))
        web_task = asyncio.create_task(_web_beside_worker(settings, stop))
        try:
            say(f"3. Digitising the forms and migrating the legacy system, side by side "
                f"(watch at http://localhost:{settings.temporal_ui_port} and "
                f"http://{settings.web_host}:{settings.web_port}, "
                f"signed in as {DEMO_ENGINEER} / {DEMO_PASSWORD}) ...")  # fmt: skip
            _, story = await asyncio.gather(
                _digitise(settings, folder / "forms", specimens),
                demo_system.migrate_cut_over_and_retire(
                    settings,
                    client,
                    system,
                    engineer=DEMO_ENGINEER,
                    say=say,
                    mainframe_plan=mainframe,
                ),
            )
            _report(settings, specimens, story)
            if sys.stdin.isatty():
                say(f"\nThe stack stays up: web app http://{settings.web_host}:{settings.web_port}"
                    f" (sign in as {DEMO_ENGINEER} / {DEMO_PASSWORD}), Temporal UI "
                    f"http://localhost:{settings.temporal_ui_port} . Ctrl-C stops it.")  # fmt: skip
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()
        finally:
            stop.set()
            await worker_task
            await web_task


async def _digitise(settings: Settings, folder: Path, specimens: list[Any]) -> None:
    """Ingest the sample forms as one batch and play a caseworker on the first task."""
    from switchover.ingest import ingest
    from switchover.review import decide, list_tasks, show_task

    summary = await ingest(settings, [folder], None, wait=True)
    for line in summary["lines"]:
        say("   [forms] " + line)
    tasks = list_tasks(settings, status="open", form_type=None)
    say(f"   [forms] {len(tasks)} forms wait for a caseworker.")
    if tasks:
        await _play_caseworker(settings, tasks[0]["id"], specimens, show_task, decide)


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


def _report(settings: Settings, specimens: list[Any], story: Any) -> None:
    from db import records
    from db.cutover import cutover_history
    from db.decommission import latest_archive
    from db.programme import system_summaries
    from db.session import session_scope
    from switchover.demo_system import SYSTEM_ID
    from switchover.savings import report_lines, savings_report
    from switchover.specimens import FieldScore

    outcomes: Counter[str] = Counter()
    score = FieldScore()
    report = savings_report(settings)  # brings the ledger up to today first
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
        history = [
            (e.kind.value.replace("_", " "), e.modern_percent, e.actor)
            for e in cutover_history(session, SYSTEM_ID)
        ]
        archive = latest_archive(session, SYSTEM_ID)
        systems = {s.id: s for s in system_summaries(session)}
    say("4. Summary")
    say("   Paper forms")
    say(
        "   records: "
        + ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(outcomes.items()))
    )
    if score.fields:
        say(f"   fields exactly right: {score.right}/{score.fields} "
            f"({100 * score.exact_rate:.1f}%); wrong and not flagged for review: "
            f"{score.wrong_unflagged} ({100 * score.wrong_unflagged_rate:.2f}%)")  # fmt: skip
    say("   The legacy benefits system")
    steps = ", ".join(
        f"{kind}" + (f" {percent}%" if percent and kind.startswith(("stage", "gate", "rolled"))
                     else "")
        for kind, percent, _actor in history
    )  # fmt: skip
    say(f"   history: {steps}")
    say(f"   gate failures: {story.gate_failures}; approvals by {DEMO_ENGINEER}: "
        f"{story.approvals}; checklist items closed: {story.checklist_closed}")  # fmt: skip
    for line in story.lines:
        say(f"   {line}")
    if archive is not None:
        files = f"{archive.files} file{'' if archive.files == 1 else 's'}"
        say(f"   archive: {files}, {archive.rows} rows, {archive.bytes:,} bytes, "
            f"read back and verified: {'yes' if archive.verified_at else 'no'} "
            f"({archive.manifest_key})")  # fmt: skip
    summary = systems.get(SYSTEM_ID)
    if summary is not None:
        say(f"   stage: {summary.stage}; saved to date £{summary.savings_to_date_gbp:,.2f} "
            f"(the migration's one-off cost is charged on retirement day); projected "
            f"£{summary.projected_savings_per_year_gbp:,.2f} a year")  # fmt: skip
        yearly = summary.projected_savings_per_year_gbp
        if yearly > 0:
            migration_cost = system_migration_cost(settings, SYSTEM_ID)
            days = math.ceil(migration_cost / (yearly / 365))
            say(
                f"   the retirement pays back the migration's £{migration_cost:,.2f} in {days} days"
            )
    for line in report_lines(report):
        say(f"   {line}")
    say("   Look further: `switchover cutover status legacy-benefits`, `switchover review list`, "
        "`switchover savings report`")  # fmt: skip


def system_migration_cost(settings: Settings, system_id: str) -> Decimal:
    from db.models import System
    from db.session import session_scope

    with session_scope(settings.resolved_database_url) as session:
        system = session.get(System, system_id)
        return system.migration_cost_gbp if system is not None else Decimal(0)


_hashes: dict[Path, str] = {}


def _sha256(path: Path) -> str:
    import hashlib

    if path not in _hashes:
        _hashes[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _hashes[path]

"""The demo's legacy system: a benefits database in SQLite, the HTTP service in front of it,
the modern service in front of the migrated copy, and citizens' traffic.

Everything is made here from a seed, nothing downloaded: ``write_legacy_system`` writes the
SQLite database and a migration plan in DESIGN.md's format; ``legacy_app`` and
``modern_app`` answer the same API (``GET /claimants/{id}``, ``POST
/claimants/{id}/postcode``), the first from SQLite, the second from PostgreSQL, with a
switch that makes the modern one fail (``ModernService.fault``) so a gate can be seen to
fail and roll back. ``Traffic`` plays citizens through the router.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
import yaml
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import make_url

from domain.workflow_ids import cutover_id, migration_id
from switchover.devserver import free_port

SYSTEM_ID = "legacy-benefits"
SCHEMA = "benefits"
FROZEN = "legacy system frozen"


@dataclass(frozen=True)
class DemoSystem:
    """Where the demo's legacy system lives and how it is reached."""

    folder: Path
    database: Path
    plan_path: Path
    target_url: str
    legacy_port: int
    modern_port: int
    proxy_port: int
    claimant_ids: list[int]

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def write_legacy_system(
    folder: Path,
    *,
    target_url: str,
    people: int = 300,
    seed: int = 2026,
    soak_minutes: float = 0.25,
    min_requests: int = 20,
    approval: str = "required",
) -> DemoSystem:
    """Write the legacy SQLite database and its migration plan into ``folder``."""
    from faker import Faker

    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "legacy-benefits.sqlite"
    database.unlink(missing_ok=True)
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    chooser = random.Random(seed)
    rows = []
    for number in range(1, people + 1):
        born = fake.date_of_birth(minimum_age=18, maximum_age=90)
        rows.append((
            1000 + number,
            fake.last_name().upper().ljust(30),  # CHAR(30): padded, as the old system kept it
            fake.first_name().upper().ljust(20),
            born.strftime("%Y%m%d"),
            f"{fake.random_uppercase_letter()}{fake.random_uppercase_letter()}"
            f"{chooser.randrange(10**6):06d}{chooser.choice('ABCD')}",
            fake.postcode(),
            str(Decimal(chooser.randrange(5_000, 40_000)) / 100),
            _now_text(),
        ))  # fmt: skip
    with sqlite3.connect(database) as connection:
        connection.execute(
            "CREATE TABLE CLAIMANT (CLAIMANT_ID INTEGER PRIMARY KEY, SURNAME CHAR(30) NOT NULL,"
            " FORENAME CHAR(20), DOB CHAR(8), NINO CHAR(9), POSTCODE VARCHAR(8),"
            " WEEKLY_AMOUNT DECIMAL(8,2), UPDATED_AT VARCHAR(19) NOT NULL)"
        )
        connection.executemany("INSERT INTO CLAIMANT VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    connection.close()
    legacy_port, modern_port, proxy_port = free_port(), free_port(), free_port()
    plan = {
        "system": {
            "id": SYSTEM_ID,
            "name": "Benefits claimants (1994 client-server)",
            "department": "Work and Pensions Services",
            "annual_run_cost_gbp": 420000,
            "migration_cost_gbp": 60000,
            "risk_score": 22,
        },
        "source": {"kind": "sql", "url": f"sqlite:///{database.name}"},
        "target": {"url": target_url, "schema": SCHEMA},
        "tables": [
            {
                "source": "CLAIMANT",
                "target": "claimants",
                "key": ["CLAIMANT_ID"],
                "columns": {
                    "CLAIMANT_ID": "claimant_id",
                    "SURNAME": {"to": "surname", "transform": "strip"},
                    "FORENAME": {"to": "forename", "transform": "strip"},
                    "DOB": {"to": "date_of_birth", "transform": "date:%Y%m%d"},
                    "NINO": {"to": "national_insurance_number", "transform": "upper"},
                    "WEEKLY_AMOUNT": {"to": "weekly_amount", "transform": "decimal:2"},
                },
                "tolerance": {"weekly_amount": 0.01},
                "updated_at": "UPDATED_AT",
            }
        ],
        "batch_rows": 100,
        "cutover": {
            "router": "builtin",
            "legacy_url": f"http://127.0.0.1:{legacy_port}",
            "modern_url": f"http://127.0.0.1:{modern_port}",
            "stages": [5, 25, 50, 100],
            "sticky_key": "header:X-Citizen-Id",
            "shadow": True,
            "gates": {
                "max_error_rate": 0.02,
                "max_p95_ms": 800,
                "max_mismatch_rate": 0.02,
                "min_requests": min_requests,
                "soak_minutes": soak_minutes,
            },
            "on_gate_failure": "rollback",
            "approval": approval,
            "catch_up_every_s": 2,
        },
        "decommission": {
            # SQLite has no read-only switch that binds every connection: triggers do.
            "freeze_sql": [
                f"CREATE TRIGGER IF NOT EXISTS frozen_{action.lower()} BEFORE {action} ON "
                f"CLAIMANT BEGIN SELECT RAISE(ABORT, '{FROZEN}'); END"
                for action in ("INSERT", "UPDATE", "DELETE")
            ],
            "archive": True,
            "checklist": [
                "Supplier support contract ended",
                "DNS records for the old service removed",
                "Data retention agreed with the records officer",
            ],
        },
    }
    plan_path = folder / "legacy-benefits.yaml"
    plan_path.write_text(
        "# The demo's legacy benefits system, written by `switchover demo`.\n"
        + yaml.safe_dump(plan, sort_keys=False),
        encoding="utf-8",
    )
    return DemoSystem(
        folder=folder, database=database, plan_path=plan_path, target_url=target_url,
        legacy_port=legacy_port, modern_port=modern_port, proxy_port=proxy_port,
        claimant_ids=[row[0] for row in rows],
    )  # fmt: skip


PAYMENTS_ID = "legacy-payments"
PAYMENTS_COPYBOOK = """\
      * Benefit payments, as the mainframe writes them each night (EBCDIC, cp037).
       01  PAYMENT-RECORD.
           05  PAYMENT-ID        PIC 9(8).
           05  CLAIMANT-ID       PIC 9(6).
           05  PAID-ON           PIC 9(8).
           05  AMOUNT            PIC S9(7)V99 COMP-3.
           05  METHOD            PIC X(4).
           05  REFERENCE         PIC X(12).
"""


def packed_decimal(value: Decimal, digits: int, scale: int) -> bytes:
    """COBOL COMP-3: two digits a byte, the sign in the last half-byte (C +, D -)."""
    number = str(int((abs(value) * 10**scale).to_integral_value())).rjust(digits, "0")
    if len(number) % 2 == 0:
        number = "0" + number
    nibbles = [int(c) for c in number] + [0xD if value < 0 else 0xC]
    return bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles), 2))


def write_mainframe_system(
    folder: Path, *, target_url: str, claimant_ids: list[int], payments: int = 2000,
    seed: int = 2026,
) -> Path:  # fmt: skip
    """A mainframe's payment file (fixed-length EBCDIC records with packed decimals), its
    copybook, and a plan that migrates it; returns the plan's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "payments.cpy").write_text(PAYMENTS_COPYBOOK, encoding="ascii")
    chooser = random.Random(seed)
    first_day = dt.date(2026, 1, 5)
    data = bytearray()
    for number in range(1, payments + 1):
        paid_on = first_day + dt.timedelta(days=7 * (number % 46))
        amount = Decimal(chooser.randrange(-5_000, 60_000)) / 100  # recoveries are negative
        data += f"{number:08d}{chooser.choice(claimant_ids):06d}{paid_on:%Y%m%d}".encode("cp037")
        data += packed_decimal(amount, 9, 2)
        data += chooser.choice(["BACS", "CHEQ", "POST"]).encode("cp037")
        data += f"PAY{number:09d}".encode("cp037")
    (folder / "payments.dat").write_bytes(bytes(data))
    plan = {
        "system": {
            "id": PAYMENTS_ID,
            "name": "Benefit payments (1979 mainframe batch)",
            "department": "Work and Pensions Services",
            "annual_run_cost_gbp": 1250000,
            "migration_cost_gbp": 300000,
            "risk_score": 27,
        },
        "source": {
            "kind": "copybook",
            "copybook": "payments.cpy",
            "data": "payments.dat",
            "encoding": "cp037",
            "record_format": "F",
        },
        "target": {"url": target_url, "schema": "payments"},
        "tables": [
            {
                "source": "PAYMENT-RECORD",
                "target": "payments",
                "key": ["PAYMENT-ID"],
                "columns": {
                    "PAYMENT-ID": "payment_id",
                    "CLAIMANT-ID": "claimant_id",
                    "PAID-ON": {"to": "paid_on", "transform": "date:%Y%m%d"},
                    "AMOUNT": {"to": "amount", "transform": "decimal:2"},
                    "METHOD": {"to": "method", "transform": "strip"},
                    "REFERENCE": "reference",
                },
            }
        ],
        "batch_rows": 500,
    }
    plan_path = folder / "legacy-payments.yaml"
    plan_path.write_text(
        "# The demo's mainframe payments file, written by `switchover demo`.\n"
        + yaml.safe_dump(plan, sort_keys=False),
        encoding="utf-8",
    )
    return plan_path


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database a URL names, when it does not exist yet."""
    parsed = make_url(url)
    with psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{parsed.database}"')


def drop_schema(url: str, *schemas: str) -> None:
    """Start the demo's modern store afresh."""
    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        for schema in schemas or (SCHEMA, "payments"):
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _libpq(url: str) -> str:
    parsed = make_url(url)
    return (
        f"host={parsed.host or '127.0.0.1'} port={parsed.port or 5432} "
        f"user={parsed.username or 'postgres'} dbname={parsed.database}"
    )


def _claimant(
    claimant_id: int, surname: str, forename: str | None, born: dt.date | None,
    postcode: str | None, amount: Decimal | None,
) -> dict[str, Any]:  # fmt: skip
    """One claimant as both services answer (the old service trims what it stores padded)."""
    return {
        "id": claimant_id,
        "surname": surname.strip(),
        "forename": (forename or "").strip(),
        "date_of_birth": born.isoformat() if born else None,
        "postcode": postcode,
        "weekly_amount": f"{amount:.2f}" if amount is not None else None,
    }


def legacy_app(database: Path) -> FastAPI:
    """The old system's HTTP front: reads and writes the SQLite database."""
    app = FastAPI(title="Legacy benefits service")

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(database, timeout=10)

    @app.get("/claimants/{claimant_id}")
    def read(claimant_id: int) -> JSONResponse:
        with closing(connect()) as connection:
            row = connection.execute(
                "SELECT CLAIMANT_ID, SURNAME, FORENAME, DOB, POSTCODE, WEEKLY_AMOUNT"
                " FROM CLAIMANT WHERE CLAIMANT_ID = ?",
                (claimant_id,),
            ).fetchone()
        if row is None:
            raise HTTPException(404, "no such claimant")
        born = dt.datetime.strptime(row[3], "%Y%m%d").date() if row[3] else None
        body = _claimant(row[0], row[1], row[2], born, row[4],
                         Decimal(str(row[5])) if row[5] is not None else None)  # fmt: skip
        return JSONResponse(body, headers={"X-Served-By": "legacy"})

    @app.post("/claimants/{claimant_id}/postcode")
    async def write(claimant_id: int, request: Request) -> JSONResponse:
        postcode = str((await request.json())["postcode"])
        try:
            with closing(connect()) as connection, connection:
                changed = connection.execute(
                    "UPDATE CLAIMANT SET POSTCODE = ?, UPDATED_AT = ? WHERE CLAIMANT_ID = ?",
                    (postcode, _now_text(), claimant_id),
                ).rowcount
        except sqlite3.DatabaseError as e:
            return JSONResponse({"error": str(e)}, status_code=503)
        if not changed:
            raise HTTPException(404, "no such claimant")
        return JSONResponse({"id": claimant_id, "postcode": postcode},
                            headers={"X-Served-By": "legacy"})  # fmt: skip

    return app


@dataclass
class ModernService:
    """The modern service's switch for the demo: while ``fault`` is set, it fails."""

    fault: bool = False


def modern_app(target_url: str, service: ModernService, schema: str = SCHEMA) -> FastAPI:
    """The modern service: the same API, over the migrated copy in PostgreSQL."""
    app = FastAPI(title="Modern benefits service")
    local = threading.local()
    table = f'"{schema}"."claimants"'

    def connection() -> psycopg.Connection[Any]:
        if getattr(local, "connection", None) is None or local.connection.closed:
            local.connection = psycopg.connect(_libpq(target_url), autocommit=True)
        return local.connection

    @app.get("/claimants/{claimant_id}")
    def read(claimant_id: int) -> JSONResponse:
        if service.fault:
            return JSONResponse(
                {"error": "injected fault"}, status_code=500, headers={"X-Served-By": "modern"}
            )
        row = (
            connection()
            .execute(
                f"SELECT claimant_id, surname, forename, date_of_birth, postcode, weekly_amount"
                f" FROM {table} WHERE claimant_id = %s",
                (claimant_id,),
            )
            .fetchone()
        )
        if row is None:
            raise HTTPException(404, "no such claimant")
        return JSONResponse(_claimant(*row), headers={"X-Served-By": "modern"})

    @app.post("/claimants/{claimant_id}/postcode")
    async def write(claimant_id: int, request: Request) -> JSONResponse:
        if service.fault:
            return JSONResponse(
                {"error": "injected fault"}, status_code=500, headers={"X-Served-By": "modern"}
            )
        postcode = str((await request.json())["postcode"])
        changed = await asyncio.to_thread(
            lambda: (
                connection()
                .execute(
                    f"UPDATE {table} SET postcode = %s WHERE claimant_id = %s",
                    (postcode, claimant_id),
                )
                .rowcount
            )
        )
        if not changed:
            raise HTTPException(404, "no such claimant")
        return JSONResponse({"id": claimant_id, "postcode": postcode},
                            headers={"X-Served-By": "modern"})  # fmt: skip

    return app


class ServiceThread:
    """An ASGI app served by uvicorn on 127.0.0.1 in a thread of this process."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                access_log=False, lifespan="off")  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServiceThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("a demo service did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Traffic:
    """Citizens using the service through the router: reads as fast as a few citizens go,
    and about ``writes_per_second`` postcode changes.

    Writes go to legacy until the last stage; modern sees them at the next catch-up, so a
    read of a row changed since then differs between the sides. The demo keeps that share
    small (few writes over many rows), as a real service's would be; its plan allows a
    shadow mismatch rate of 2 % for it.

    ``served`` counts answers by the side that gave them (the ``X-Served-By`` header).
    """

    url: str
    claimant_ids: list[int]
    writes_per_second: float = 0.5
    concurrency: int = 4
    served: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            await asyncio.gather(*(self._citizen(client, n) for n in range(self.concurrency)))

    def stop(self) -> None:
        self._stop.set()

    async def _citizen(self, client: httpx.AsyncClient, number: int) -> None:
        chooser = random.Random(number)
        next_write = time.monotonic() + 1 / self.writes_per_second
        while not self._stop.is_set():
            claimant = chooser.choice(self.claimant_ids)
            headers = {"X-Citizen-Id": str(claimant)}
            writing = number == 0 and time.monotonic() >= next_write
            if writing:
                next_write = time.monotonic() + 1 / self.writes_per_second
            try:
                if writing:
                    postcode = f"ZZ{chooser.randrange(1, 99)} {chooser.randrange(1, 9)}ZZ"
                    response = await client.post(
                        f"/claimants/{claimant}/postcode", json={"postcode": postcode},
                        headers=headers,
                    )  # fmt: skip
                else:
                    response = await client.get(f"/claimants/{claimant}", headers=headers)
            except httpx.HTTPError:
                self.statuses[0] += 1
                await asyncio.sleep(0.2)
                continue
            self.statuses[response.status_code] += 1
            self.served[response.headers.get("X-Served-By", "?")] += 1
            await asyncio.sleep(0.01)


# --- the story ------------------------------------------------------------------------------


@contextmanager
def proxy_process(settings: Any, system: DemoSystem) -> Iterator[subprocess.Popen[bytes]]:
    """The builtin router as its own process (as in production), steered through the
    engine database; stopped on the way out."""
    code = (
        "from adapters.router.builtin import run_proxy; from config.settings import Settings; "
        f"run_proxy({str(system.plan_path)!r}, Settings(), '127.0.0.1', {system.proxy_port})"
    )
    env = {
        **os.environ,
        "SWITCHOVER_DATABASE_URL": settings.resolved_database_url,
        "SWITCHOVER_HOME": str(settings.home),
    }
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the router exited with {process.returncode}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", system.proxy_port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the router did not start")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def ensure_engineer(settings: Any, username: str, password: str | None = None) -> None:
    """An engineer (and manager, and caseworker) account for the demo, made once."""
    from db.accounts import create_user, get_user_by_username
    from db.session import session_scope
    from switchover.web.auth import hash_password

    with session_scope(settings.resolved_database_url) as session:
        if get_user_by_username(session, username) is None:
            create_user(
                session,
                username=username,
                roles=["engineer", "manager", "caseworker", "admin"],
                password_hash=hash_password(password) if password else None,
                display_name="Demo engineer",
            )


@dataclass
class StoryLog:
    """What happened, for the summary."""

    lines: list[str] = field(default_factory=list)
    gate_failures: int = 0
    approvals: int = 0
    advances: int = 0
    checklist_closed: int = 0
    mainframe_rows: int = 0
    resyncs: int = 0
    unexpected_failures: list[str] = field(default_factory=list)


async def migrate_cut_over_and_retire(
    settings: Any,
    client: Any,
    system: DemoSystem,
    *,
    engineer: str,
    say: Callable[[str], None],
    fail_at: int | None = 25,
    timeout_s: float = 900,
    mainframe_plan: Path | None = None,
) -> StoryLog:
    """Run the whole story for the demo system: migrate, reconcile, shadow, cut over stage
    by stage (approving as ``engineer``; the modern service fails at ``fail_at`` % until
    the gate has rolled back, then the engineer advances), freeze, archive, close the
    checklist, retire. Citizens' traffic runs through the router all along."""
    from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
    from temporalio.service import RPCError

    from config.settings import TASK_QUEUE_WORKFLOWS
    from db.decommission import checklist, close_checklist_item
    from db.session import session_scope
    from domain.cutover import CutoverPhase, EngineerAction, EngineerActionKind
    from domain.migration import MigrateSystemInput
    from switchover.identity import grant
    from workflows.cutover import CutoverWorkflow
    from workflows.migrate import MigrateSystemWorkflow

    story = StoryLog()
    service = ModernService()
    cutover = client.get_workflow_handle(cutover_id(SYSTEM_ID))
    # A cutover left running by an interrupted demo would be followed instead.
    with suppress(RPCError):
        await cutover.terminate("a new demo run begins")
    with (
        ServiceThread(legacy_app(system.database), system.legacy_port),
        ServiceThread(modern_app(system.target_url, service), system.modern_port),
        proxy_process(settings, system),
    ):
        traffic = Traffic(system.proxy_url, system.claimant_ids)
        traffic_task = asyncio.create_task(traffic.run())
        try:
            mainframe = None
            if mainframe_plan is not None:
                mainframe = await client.start_workflow(
                    MigrateSystemWorkflow.run,
                    MigrateSystemInput(plan_path=str(mainframe_plan), batch_max_rows=1000),
                    id=migration_id(PAYMENTS_ID),
                    task_queue=TASK_QUEUE_WORKFLOWS,
                )
            migration = await client.start_workflow(
                MigrateSystemWorkflow.run,
                MigrateSystemInput(plan_path=str(system.plan_path), batch_max_rows=100),
                id=migration_id(SYSTEM_ID),
                task_queue=TASK_QUEUE_WORKFLOWS,
            )
            if mainframe is not None:
                paid = await mainframe.result()
                rows = sum(t.rows_copied for t in paid.tables.values())
                story.mainframe_rows = rows
                state = paid.state.value.replace("_", " ")
                say(f"   mainframe payments: {rows} EBCDIC records (packed decimals) copied "
                    f"to PostgreSQL and reconciled exactly; {state}")  # fmt: skip
            result = await _follow_migration(migration, settings=settings, engineer=engineer,
                                            say=say, story=story)  # fmt: skip
            copied = sum(t.rows_copied for t in result.tables.values())
            say(f"   copied {copied} rows, reconciled exactly, caught up; cutover started")
            cutover = client.get_workflow_handle(cutover_id(SYSTEM_ID))
            seen: tuple[Any, ...] = ()
            deadline = time.monotonic() + timeout_s
            injected = closed = False
            while time.monotonic() < deadline:
                if (await cutover.describe()).status != WorkflowExecutionStatus.RUNNING:
                    break
                state = await cutover.query(CutoverWorkflow.status)
                now = (state.phase, state.setting.modern_percent, state.decommission_step)
                # A stage just answered for has not moved its traffic yet: not worth a line.
                moving = state.phase is CutoverPhase.STAGE and state.soak_ends_at is None
                if now != seen and not moving:
                    seen = now
                    say("   " + _describe(state))
                act = None
                if state.phase is CutoverPhase.AWAITING_APPROVAL:
                    act = EngineerAction(kind=EngineerActionKind.APPROVE, actor=engineer)
                    story.approvals += 1
                elif (
                    fail_at is not None
                    and not injected
                    and state.phase is CutoverPhase.STAGE
                    and state.setting.modern_percent == fail_at
                ):
                    injected = service.fault = True
                    say(f"   ! errors injected into the modern service at {fail_at}%")
                elif state.phase is CutoverPhase.AWAITING_ENGINEER:
                    failures = "; ".join(state.last_figures.failures) if state.last_figures else ""
                    if service.fault:
                        story.gate_failures += 1
                        say(f"   ! gate failed ({failures}); rolled back. Fault removed.")
                        service.fault = False
                        reason = "fault in the modern service fixed"
                    else:
                        story.unexpected_failures.append(failures)
                        say(f"   ! gate failed ({failures}); the engineer retries")
                        if len(story.unexpected_failures) > 3:
                            raise RuntimeError(f"the cutover keeps failing its gates: {failures}")
                        reason = "retry"
                    act = EngineerAction(kind=EngineerActionKind.ADVANCE, actor=engineer,
                                         reason=reason)  # fmt: skip
                    story.advances += 1
                elif state.decommission_step == "checklist" and not closed:
                    closed = True
                    with session_scope(settings.resolved_database_url) as session:
                        for item in checklist(session, SYSTEM_ID).items:
                            if item.closed_by is None:
                                close_checklist_item(
                                    session, SYSTEM_ID, item.position, actor=engineer,
                                    note=f"done: {item.item.lower()} (demo)",
                                )  # fmt: skip
                                story.checklist_closed += 1
                    say(f"   checklist: {story.checklist_closed} items closed by {engineer}")
                    await cutover.signal(CutoverWorkflow.checklist_changed)
                if act is not None:
                    # The demo's engineer is proven by the demo itself: the worker's role
                    # check accepts the name with a grant, as for the CLI and the web app.
                    await grant(settings, engineer, cutover.id)
                    try:
                        await cutover.execute_update(CutoverWorkflow.act, act)
                    except WorkflowUpdateFailedError as e:
                        # The workflow moved on meanwhile (a stale look at its status):
                        # its refusal says so, and the next look shows what it waits for.
                        say(f"   (the workflow refused: {e.cause})")
                await asyncio.sleep(0.3)
            final = await cutover.query(CutoverWorkflow.status)
            say("   " + _describe(final))
        finally:
            traffic.stop()
            await traffic_task
    story.lines.append(
        "traffic: "
        + ", ".join(f"{n} answered by {side}" for side, n in sorted(traffic.served.items()))
        + (
            f" ({errors} of them errors)"
            if (
                errors := sum(
                    n for status, n in traffic.statuses.items() if status == 0 or status >= 500
                )
            )
            else ""
        )
    )
    return story


async def _follow_migration(
    handle: Any, *, settings: Any, engineer: str, say: Callable[[str], None], story: StoryLog
) -> Any:
    """Wait for a migration, answering its gates as the engineer would: citizens keep
    writing to legacy during the copy, so the first reconciliation finds the rows they
    changed; the engineer re-syncs exactly those keys and the workflow reconciles again."""
    from temporalio.client import WorkflowUpdateFailedError

    from domain.migration import GateAction, GateDecision, RunState, TableState
    from switchover.identity import grant
    from workflows.migrate import MigrateSystemWorkflow

    result = asyncio.ensure_future(handle.result())
    try:
        while not result.done():
            state = await handle.query(MigrateSystemWorkflow.status)
            if state.state is RunState.AWAITING_DECISION:
                for table in state.tables.values():
                    if table.state is not TableState.AWAITING_DECISION:
                        continue
                    report = table.reconciliation
                    found = (
                        f"{report.missing} missing, {report.extra} extra, {report.changed} changed"
                        if report
                        else "differences"
                    )
                    say(f"   gate: reconciling {table.table} found {found} (citizens wrote "
                        "during the copy); the engineer re-syncs those keys")  # fmt: skip
                    story.resyncs += 1
                    # Answered already (a stale look): the next look shows the state.
                    await grant(settings, engineer, handle.id)
                    with suppress(WorkflowUpdateFailedError):
                        await handle.execute_update(
                            MigrateSystemWorkflow.decide_gate,
                            GateDecision(table=table.table, action=GateAction.RESYNC,
                                         decided_by=engineer),
                        )  # fmt: skip
            await asyncio.wait({result}, timeout=0.5)
        return result.result()
    finally:
        result.cancel()


def _describe(state: Any) -> str:
    phase = state.phase.value.replace("_", " ")
    share = state.setting.modern_percent
    if state.decommission_step:
        return f"decommission: {state.decommission_step.replace('_', ' ')}"
    if state.phase.value == "shadow":
        return "shadow: every read also sent to modern and the answers compared"
    if state.phase.value == "complete":
        return "cutover complete: modern is the system of record"
    return f"{phase}: {share}% of citizens on modern"

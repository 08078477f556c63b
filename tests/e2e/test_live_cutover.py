"""A live service cut over end to end while citizens write to it: nothing acknowledged lost.

A legacy claimants service over a MariaDB of our own with the row-based binlog on (its
table has no ``updated_at``), the modern service over the PostgreSQL target, the builtin
router as its own process, the worker with the production activities on a Temporal dev
server. Citizens read and write through the router all along, at about 1 and about 10
acknowledged writes a second: postcode changes, deletes and re-creations of their own
record. The migration copies under the writes, the change stream keeps modern in step,
and the gates reconcile at stream positions; the modern service fails at one stage, the
gate rolls back, the engineer advances once it is mended; the switch of the system of
record happens under the write hold.

Then: every acknowledged write is in modern (the last one of each citizen decides their
row; a deleted row is gone), every row nobody wrote is exact, no citizen ever read an
older value of their own row after writing it, and no gate waited for an engineer's
re-sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pymysql
import pytest
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pymysql.constants import CLIENT
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from config.settings import TASK_QUEUE_WORKFLOWS, Settings
from db.migrate import upgrade
from db.models import ReconciliationReport
from db.session import session_scope
from domain.cutover import CutoverPhase, EngineerAction, EngineerActionKind
from domain.migration import MigrateSystemInput, MigrationStage, RunState, StreamLag
from switchover import demo_system
from switchover.demo_system import DemoSystem, ServiceThread
from switchover.devserver import free_port
from switchover.identity import grant
from switchover.worker import build_workers, production_activities, run_workers
from tests.e2e.test_whole_story import target_url
from tests.legacy_connectors.conftest import binlog_mariadb, throwaway_name
from workflows.cutover import CutoverWorkflow
from workflows.migrate import MigrateSystemWorkflow

__all__ = ["binlog_mariadb", "target_url"]

pytestmark = pytest.mark.slow

PEOPLE = 400
CITIZENS = 12
SCHEMA = "claims"


def _legacy_rows() -> list[tuple[Any, ...]]:
    chooser = random.Random(11)
    return [
        (1000 + n, f"SURNAME{n}", f"AB{chooser.randrange(1, 99)} {chooser.randrange(1, 9)}CD",
         Decimal(chooser.randrange(5_000, 40_000)) / 100)
        for n in range(1, PEOPLE + 1)
    ]  # fmt: skip


def _body(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"id": row[0], "surname": row[1], "postcode": row[2], "weekly_amount": f"{row[3]:.2f}"}


class _Side:
    """The API both services answer, over a DBAPI connection per thread."""

    def __init__(self, name: str, connect: Any, table: str, columns: str) -> None:
        self.name = name
        self.connect = connect
        self.table = table
        self.columns = columns
        self.fault = False
        self._local = threading.local()

    def _run(self, sql: str, args: tuple[Any, ...]) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
        with conn.cursor() as cur:
            cur.execute(sql, args)
            found = cur.fetchone() if cur.description else cur.rowcount
        conn.commit()
        return found

    def app(self) -> FastAPI:
        app = FastAPI()
        id_, surname, postcode, amount = self.columns.split(",")

        def answer(body: dict[str, Any], status: int = 200) -> JSONResponse:
            if self.fault:
                return JSONResponse({"error": "injected fault"}, status_code=500,
                                    headers={"X-Served-By": self.name})  # fmt: skip
            return JSONResponse(body, status_code=status, headers={"X-Served-By": self.name})

        @app.get("/claimants/{claimant}")
        def read(claimant: int) -> JSONResponse:
            row = self._run(f"SELECT {self.columns} FROM {self.table} WHERE {id_} = %s",
                            (claimant,))  # fmt: skip
            if row is None:
                return answer({"error": "no such claimant"}, 404)
            return answer(_body(row))

        @app.post("/claimants/{claimant}/postcode")
        async def move(claimant: int, request: Request) -> JSONResponse:
            if self.fault:
                return answer({})
            value = (await request.json())["postcode"]
            changed = await asyncio.to_thread(
                self._run, f"UPDATE {self.table} SET {postcode} = %s WHERE {id_} = %s",
                (value, claimant),
            )  # fmt: skip
            if not changed:
                return answer({"error": "no such claimant"}, 404)
            return answer({"id": claimant, "postcode": value})

        @app.delete("/claimants/{claimant}")
        async def remove(claimant: int) -> JSONResponse:
            if self.fault:
                return answer({})
            await asyncio.to_thread(self._run, f"DELETE FROM {self.table} WHERE {id_} = %s",
                                    (claimant,))  # fmt: skip
            return answer({"id": claimant, "deleted": True})

        @app.put("/claimants/{claimant}")
        async def create(claimant: int, request: Request) -> JSONResponse:
            if self.fault:
                return answer({})
            body = await request.json()
            await asyncio.to_thread(
                self._run,
                f"INSERT INTO {self.table} ({id_}, {surname}, {postcode}, {amount}) "
                "VALUES (%s, %s, %s, %s)",
                (claimant, body["surname"], body["postcode"], Decimal(body["weekly_amount"])),
            )  # fmt: skip
            return answer({"id": claimant, **body})

        return app


@dataclass
class Citizens:
    """Citizens using the service through the router, each writing only their own record
    (so their last acknowledged write decides it) and reading it back all along."""

    url: str
    rows: dict[int, dict[str, Any] | None]
    """Per citizen, their record as their acknowledged writes left it (None: deleted)."""
    writes_per_second: float
    writes: Counter[str] = field(default_factory=Counter)
    unsure: dict[int, str] = field(default_factory=dict)
    """Citizens with a write answered neither yes nor no (not promised, so not checked),
    with what answered it."""
    stale: list[tuple[int, Any, Any]] = field(default_factory=list)
    served: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    readers: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    history: dict[int, list[Any]] = field(default_factory=dict)
    """Per citizen, each write answered: sent and answered (epoch s), kind, status, side."""
    """Citizens who only read (most of a service's traffic): their records never change."""

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            await asyncio.gather(
                *(self._citizen(client, c) for c in self.rows),
                *(self._reader(client, c) for c in self.readers),
            )

    async def _reader(self, client: httpx.AsyncClient, claimant: int) -> None:
        headers = {"X-Citizen-Id": str(claimant)}
        while not self._stop.is_set():
            await self._read(client, claimant, headers, self.readers)
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()

    async def _citizen(self, client: httpx.AsyncClient, claimant: int) -> None:
        chooser = random.Random(claimant)
        headers = {"X-Citizen-Id": str(claimant)}
        every = len(self.rows) / self.writes_per_second
        next_write = time.monotonic() + chooser.uniform(0, every)
        while not self._stop.is_set() and claimant not in self.unsure:
            if time.monotonic() >= next_write:
                next_write += every
                await self._write(client, claimant, chooser, headers)
            else:
                await self._read(client, claimant, headers, self.rows)
            await asyncio.sleep(0.05)

    async def _write(
        self, client: httpx.AsyncClient, claimant: int, chooser: random.Random, headers: Any
    ) -> None:
        known = self.rows[claimant]
        after: dict[str, Any] | None
        if known is None:
            kind, body = (
                "re-create",
                {
                    "surname": f"AGAIN{claimant}",
                    "postcode": f"RE{chooser.randrange(99)} 1AA",
                    "weekly_amount": f"{chooser.randrange(5_000, 40_000) / 100:.2f}",
                },
            )
            after = {"id": claimant, **body}
            request = client.put(f"/claimants/{claimant}", json=body, headers=headers)
        elif chooser.random() < 0.15:
            kind, after = "delete", None
            request = client.delete(f"/claimants/{claimant}", headers=headers)
        else:
            value = f"ZZ{chooser.randrange(1, 99)} {chooser.randrange(1, 9)}ZZ"
            kind, after = "update", {**known, "postcode": value}
            request = client.post(f"/claimants/{claimant}/postcode", json={"postcode": value},
                                  headers=headers)  # fmt: skip
        sent = time.time()
        try:
            response = await request
        except httpx.HTTPError as e:
            self.unsure[claimant] = f"{kind}: {type(e).__name__}"
            return
        self.statuses[response.status_code] += 1
        self.history.setdefault(claimant, []).append(
            (sent, time.time(), kind, response.status_code,
             response.headers.get("X-Served-By", "the router"))
        )  # fmt: skip
        if response.status_code != 200:
            side = response.headers.get("X-Served-By", "the router")
            self.unsure[claimant] = f"{kind}: {response.status_code} from {side}"
            return
        self.rows[claimant] = after
        self.writes[kind] += 1

    async def _read(
        self,
        client: httpx.AsyncClient,
        claimant: int,
        headers: Any,
        rows: dict[int, dict[str, Any] | None],
    ) -> None:
        expected = rows[claimant]
        try:
            response = await client.get(f"/claimants/{claimant}", headers=headers)
        except httpx.HTTPError:
            self.statuses[0] += 1
            return
        self.statuses[response.status_code] += 1
        self.served[response.headers.get("X-Served-By", "?")] += 1
        if response.status_code >= 500:
            return
        seen = None if response.status_code == 404 else response.json()
        if seen != expected:
            self.stale.append((claimant, expected, seen))


@pytest.fixture
def legacy_db(binlog_mariadb: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    name = throwaway_name("service")
    with pymysql.connect(**binlog_mariadb, autocommit=True) as admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"USE `{name}`")
        cur.execute("CREATE TABLE CLAIMANT (CLAIMANT_ID INT PRIMARY KEY, SURNAME VARCHAR(30) "
                    "NOT NULL, POSTCODE VARCHAR(8), WEEKLY_AMOUNT DECIMAL(8,2))")  # fmt: skip
        cur.executemany("INSERT INTO CLAIMANT VALUES (%s, %s, %s, %s)", _legacy_rows())
    yield name, binlog_mariadb
    with pymysql.connect(**binlog_mariadb, autocommit=True) as admin, admin.cursor() as cur:
        cur.execute(f"DROP DATABASE `{name}`")


def _plan(folder: Path, legacy: tuple[str, dict[str, Any]], target: str) -> DemoSystem:
    name, server = legacy
    legacy_port, modern_port, proxy_port = free_port(), free_port(), free_port()
    system_id = f"live-{uuid.uuid4().hex[:6]}"
    plan = {
        "system": {"id": system_id, "name": "Claimants (live)"},
        "source": {"kind": "sql", "change_stream": "on",
                   "url": f"mysql+pymysql://root@127.0.0.1:{server['port']}/{name}"},
        "target": {"url": target, "schema": SCHEMA},
        "tables": [{
            "source": "CLAIMANT", "target": "claimants", "key": ["CLAIMANT_ID"],
            "columns": {"CLAIMANT_ID": "claimant_id", "SURNAME": "surname",
                        "POSTCODE": "postcode", "WEEKLY_AMOUNT": "weekly_amount"},
        }],
        "batch_rows": 50,
        "cutover": {
            "router": "builtin",
            "legacy_url": f"http://127.0.0.1:{legacy_port}",
            "modern_url": f"http://127.0.0.1:{modern_port}",
            "stages": [25, 50, 100],
            "sticky_key": "header:X-Citizen-Id",
            "shadow": True,
            "gates": {"max_error_rate": 0.05, "max_p95_ms": 2000, "max_mismatch_rate": 0.2,
                      "min_requests": 10, "soak_minutes": 0.1},
            "on_gate_failure": "rollback",
            "approval": "auto",
            "catch_up_every_s": 1,
            "builtin": {"poll_s": 0.2, "flush_s": 1, "hold_max_s": 15},
        },
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return DemoSystem(
        folder=folder, database=folder / "unused", plan_path=path, target_url=target,
        legacy_port=legacy_port, modern_port=modern_port, proxy_port=proxy_port,
        claimant_ids=[row[0] for row in _legacy_rows()],
    )  # fmt: skip


async def _cut_over(
    client: Any, system: DemoSystem, modern: _Side, fail_at: int | None, settings: Settings
) -> list[str]:
    """Migrate and cut over, as the engineer: no gate decision is ever made; the modern
    service fails at ``fail_at`` % until the gate rolls back, then the engineer advances."""
    plan = yaml.safe_load(system.plan_path.read_text())
    system_id = plan["system"]["id"]
    migration = await client.start_workflow(
        MigrateSystemWorkflow.run,
        MigrateSystemInput(plan_path=str(system.plan_path), batch_max_rows=50,
                           until=MigrationStage.CUTOVER),
        id=f"migrate-{system_id}", task_queue=TASK_QUEUE_WORKFLOWS,
    )  # fmt: skip
    done = asyncio.ensure_future(migration.result())
    while not done.done():
        state = await migration.query(MigrateSystemWorkflow.status)
        assert state.state is not RunState.AWAITING_DECISION, state
        await asyncio.wait({done}, timeout=0.5)
    assert done.result().state is RunState.CUTOVER_STARTED, done.result()
    cutover = client.get_workflow_handle(f"cutover/{system_id}")
    events: list[str] = []
    lags: list[StreamLag] = []
    injected = False
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        state = await cutover.query(CutoverWorkflow.status)
        if state.change_stream is not None:  # the status shows the stream's lag
            lags.append(state.change_stream)
        if state.phase is CutoverPhase.COMPLETE:
            assert lags, "the cutover's status never showed the change stream"
            assert all(lag.position and lag.position.startswith("binlog.") for lag in lags)
            return events
        if not injected and state.phase is CutoverPhase.STAGE \
                and state.setting.modern_percent == fail_at:  # fmt: skip
            injected = modern.fault = True
            events.append(f"fault at {fail_at}%")
        elif state.phase is CutoverPhase.AWAITING_ENGINEER:
            failures = state.last_figures.failures if state.last_figures else []
            assert modern.fault, f"a gate failed with no fault injected: {failures}"
            modern.fault = False
            events.append(f"rolled back ({'; '.join(failures)}); fault mended")
            advance = EngineerAction(kind=EngineerActionKind.ADVANCE, actor="erin", reason="mended")
            # a stale look is refused: the next one shows what the workflow waits for
            await grant(settings, "erin", cutover.id)  # erin is proven by the test
            with contextlib.suppress(WorkflowUpdateFailedError):
                await cutover.execute_update(CutoverWorkflow.act, advance)
        await asyncio.sleep(0.2)
    raise AssertionError(f"the cutover did not complete: {events}")


async def live_cutover(
    client: Any,
    legacy_db: tuple[str, dict[str, Any]],
    target_url: str,
    folder: Path,
    *,
    writes_per_second: float,
    fail_at: int | None,
) -> tuple[Citizens, list[str], Settings]:
    """A live service migrated and cut over while citizens use it (the module's story);
    the citizens as they ended, what happened, and the engine's settings."""
    settings = Settings(home=folder / "state")
    upgrade(settings.resolved_database_url)
    demo_system.ensure_engineer(settings, "erin")
    system = _plan(folder / "live", legacy_db, target_url)
    name, server = legacy_db
    # FOUND_ROWS: an UPDATE that sets the value a row has already matched it (MariaDB
    # counts only the rows it changed), as PostgreSQL counts it on the modern side
    legacy = _Side("legacy", lambda: pymysql.connect(**server, database=name,
                                                     client_flag=CLIENT.FOUND_ROWS), "CLAIMANT",
                   "CLAIMANT_ID,SURNAME,POSTCODE,WEEKLY_AMOUNT")  # fmt: skip
    libpq = target_url.replace("postgresql+psycopg://", "postgresql://")
    modern = _Side("modern", lambda: psycopg.connect(libpq), f"{SCHEMA}.claimants",
                   "claimant_id,surname,postcode,weekly_amount")  # fmt: skip
    activities = production_activities(settings)
    workers = build_workers(client, activities, ocr_slots=1)
    stop = asyncio.Event()
    worker_task = asyncio.create_task(run_workers(workers, stop, activities))
    chosen = random.Random(writes_per_second).sample(system.claimant_ids, 2 * CITIZENS)
    ids, reading = chosen[:CITIZENS], chosen[CITIZENS:]
    initial = {row[0]: _body(row) for row in _legacy_rows()}
    rows: dict[int, dict[str, Any] | None] = {i: initial[i] for i in ids}
    citizens = Citizens(system.proxy_url, rows, writes_per_second,
                        readers={i: initial[i] for i in reading})  # fmt: skip
    try:
        with (
            ServiceThread(legacy.app(), system.legacy_port),
            ServiceThread(modern.app(), system.modern_port),
            demo_system.proxy_process(settings, system),
        ):
            traffic = asyncio.create_task(citizens.run())
            try:
                events = await _cut_over(client, system, modern, fail_at=fail_at,
                                         settings=settings)  # fmt: skip
                await asyncio.sleep(3)  # citizens go on writing, to modern now
            finally:
                citizens.stop()
                await traffic
    finally:
        stop.set()
        await worker_task
    return citizens, events, settings


@pytest.mark.parametrize("writes_per_second", [1, 10])
async def test_a_live_service_cut_over_under_writes_loses_nothing(
    writes_per_second: int,
    local_env: WorkflowEnvironment,
    legacy_db: tuple[str, dict[str, Any]],
    target_url: str,
    tmp_path: Path,
) -> None:
    citizens, events, settings = await live_cutover(
        local_env.client, legacy_db, target_url, tmp_path,
        writes_per_second=writes_per_second, fail_at=50,
    )  # fmt: skip
    ids = list(citizens.rows)
    initial = {row[0]: _body(row) for row in _legacy_rows()}
    libpq = target_url.replace("postgresql+psycopg://", "postgresql://")
    assert any("rolled back" in e for e in events), events
    assert citizens.writes["update"] >= 5, citizens.writes
    assert citizens.writes["delete"], citizens.writes
    assert citizens.writes["re-create"], citizens.writes
    assert citizens.served["modern"], citizens.served
    assert citizens.served["legacy"], citizens.served
    assert citizens.stale == [], citizens.stale[:5]
    with psycopg.connect(libpq) as conn:
        found = conn.execute(f"SELECT claimant_id, surname, postcode, weekly_amount "
                             f"FROM {SCHEMA}.claimants").fetchall()  # fmt: skip
    in_modern = {row[0]: _body(row) for row in found}
    assert len(citizens.unsure) <= 1, {c: citizens.history.get(c) for c in citizens.unsure}
    lost = {
        claimant: (expected, in_modern.get(claimant))
        for claimant, expected in citizens.rows.items()
        if claimant not in citizens.unsure and in_modern.get(claimant) != expected
    }
    assert lost == {}, list(lost.items())[:5]
    untouched = {k: v for k, v in initial.items() if k not in ids}
    assert {k: in_modern.get(k) for k in untouched} == untouched
    assert set(in_modern) - set(untouched) <= set(ids)
    with session_scope(settings.resolved_database_url) as session:
        reports = session.query(ReconciliationReport).all()
        assert reports
        assert all(r.passed for r in reports), [r.report for r in reports if not r.passed]

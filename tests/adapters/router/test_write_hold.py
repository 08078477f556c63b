"""The proxy's write hold and read-your-writes, with the engine database in memory
(``MemoryRouterStore``) and two real services behind the proxy, under a steady stream of
writes from several citizens.

Proves: once the proxy reports the hold taken and drained, no write reaches legacy; every
write made during the hold is answered only after the release, lands on modern, and each
citizen's writes land in the order they came; reads go on during the hold; a hold that
runs out sends the held writes to the old system of record (or answers 503 when the
proxy has lost the database); a citizen who wrote reads from the system of record until
the applied-up-to mark passes their write, through this proxy and through another one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import yaml

from adapters.router.proxy import CutoverProxy
from adapters.router.routing import bucket_of
from adapters.router.store import HoldOrder, MemoryRouterStore
from config.migration_plan import parse_plan
from domain.cutover import RouterSetting, Side, WriteHold
from tests.adapters.router.conftest import Services
from tests.adapters.router.test_builtin import SYSTEM, plan_data

CITIZENS = [f"citizen-{i}" for i in range(5)]


@dataclass
class Write:
    citizen: str
    seq: int
    sent: float
    answered: float = 0.0
    status: int = 0
    side: str = ""


@asynccontextmanager
async def running(
    services: Services, store: MemoryRouterStore, instance: str = "p1", **options: Any
) -> AsyncIterator[tuple[CutoverProxy, httpx.AsyncClient]]:
    """A started proxy on the in-memory store, and a client talking to it in-process."""
    plan = parse_plan(yaml.safe_dump(plan_data(services, poll_s=0.05, **options)))
    assert plan.cutover is not None
    proxy = CutoverProxy(plan.cutover, SYSTEM, store=store, instance=instance)
    await proxy.startup()
    try:
        transport = httpx.ASGITransport(app=proxy)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy",
                                     timeout=30) as client:  # fmt: skip
            yield proxy, client
    finally:
        await proxy.shutdown()


async def _until(condition: Any, seconds: float = 10.0) -> float:
    """Wait until ``condition()`` holds; the monotonic time it was first seen to."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)
    return time.monotonic()


class WriteStream:
    """Citizens writing at a steady rate, each write sent without waiting for the last
    (so a citizen can have several writes held at once)."""

    def __init__(self, client: httpx.AsyncClient, every_s: float = 0.01) -> None:
        self.client = client
        self.every_s = every_s
        self.writes: list[Write] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: asyncio.Task[None] | None = None

    async def _one(self, write: Write) -> None:
        body = json.dumps({"citizen": write.citizen, "seq": write.seq})
        response = await self.client.post(
            f"/claims/{write.seq}", content=body, headers={"X-Citizen-Id": write.citizen}
        )
        write.answered, write.status = time.monotonic(), response.status_code
        write.side = response.headers.get("x-switchover-side", "")

    async def _run(self) -> None:
        seq = 0
        while True:
            write = Write(CITIZENS[seq % len(CITIZENS)], seq, time.monotonic())
            self.writes.append(write)
            self._tasks.append(asyncio.ensure_future(self._one(write)))
            seq += 1
            await asyncio.sleep(self.every_s)

    def start(self) -> None:
        self._runner = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        assert self._runner is not None
        self._runner.cancel()
        await asyncio.gather(self._runner, return_exceptions=True)
        await asyncio.gather(*self._tasks)


def _landed(services: Services, side: str) -> list[tuple[float, dict[str, Any]]]:
    return [(at, json.loads(body)) for at, _, body in services.side(side).write_log]


async def test_writes_wait_during_the_hold_and_go_to_the_new_system_of_record(
    services: Services,
) -> None:
    store = MemoryRouterStore(RouterSetting(modern_percent=50, version=1))
    async with running(services, store) as (_, client):
        stream = WriteStream(client)
        stream.start()
        await asyncio.sleep(0.4)
        store.hold(max_s=8)
        # The hold took effect once the proxy reports it taken with nothing in flight.
        held_at = await _until(
            lambda: (r := store.reports.get("p1")) is not None
            and r.hold_state == "holding" and r.in_flight_writes == 0
        )  # fmt: skip
        # Reads go on during the hold.
        for citizen in CITIZENS:
            read = await client.get("/items/1", headers={"X-Citizen-Id": citizen})
            assert read.status_code == 200
        await asyncio.sleep(0.6)
        released_at = time.monotonic()
        store.release(Side.MODERN, modern_percent=100)
        await _until(lambda: store.reports["p1"].hold_state == "released")
        await asyncio.sleep(0.3)
        await stream.stop()

    writes = stream.writes
    assert len(writes) > 50
    assert all(w.status == 201 for w in writes)
    legacy, modern = _landed(services, "legacy"), _landed(services, "modern")
    # Nothing lost, nothing twice: every answered write is on exactly one side.
    landed = sorted(data["seq"] for _, data in legacy + modern)
    assert landed == sorted(w.seq for w in writes)
    # No write reached legacy after the hold took effect.
    assert max(at for at, _ in legacy) <= held_at
    # Every write sent during the hold was answered after the release, by modern.
    during = [w for w in writes if held_at <= w.sent < released_at]
    assert len(during) > 20
    assert all(w.answered >= released_at and w.side == "modern" for w in during)
    assert store.reports["p1"].held_writes >= len(during)
    # Each citizen's writes landed in the order they were sent.
    order: dict[str, list[int]] = defaultdict(list)
    for _, data in sorted(modern, key=lambda item: item[0]):
        order[data["citizen"]].append(data["seq"])
    for citizen, seqs in order.items():
        assert seqs == sorted(seqs), citizen


async def test_a_hold_that_runs_out_sends_held_writes_to_the_old_system_of_record(
    services: Services,
) -> None:
    store = MemoryRouterStore(RouterSetting(modern_percent=50, version=1))
    async with running(services, store) as (_, client):
        store.hold(max_s=0.5)
        await _until(lambda: (r := store.reports.get("p1")) is not None and r.hold_id == 1)
        started = time.monotonic()
        response = await client.post("/claims/1", json={"seq": 1})
        waited = time.monotonic() - started
        assert response.status_code == 201
        assert response.headers["x-switchover-side"] == "legacy"
        assert 0.2 <= waited < 3
        await _until(lambda: store.reports["p1"].hold_state == "expired")
        # A release that comes too late changes nothing for the writes already sent, and
        # later writes go to the system of record of the live setting.
        assert (await client.post("/claims/2", json={})).headers["x-switchover-side"] == "legacy"
    assert services.modern.writes.total() == 0


async def test_a_proxy_that_lost_the_database_refuses_held_writes(services: Services) -> None:
    store = MemoryRouterStore(RouterSetting(version=1))
    async with running(services, store) as (proxy, client):
        store.hold(max_s=4)
        await _until(lambda: (r := store.reports.get("p1")) is not None and r.hold_id == 1)
        store.fail = True  # the database is gone: the proxy cannot see a release
        response = await client.post("/claims/1", json={})
        # Neither side has it, and the client is told to retry: nothing acknowledged is lost.
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert proxy.gate.state == "fenced"
        # New writes too, while the database stays away.
        assert (await client.post("/claims/2", json={})).status_code == 503
        store.fail = False
        await _until(lambda: proxy._fenced() is False)
        assert (await client.post("/claims/3", json={})).status_code == 201
    assert services.modern.writes.total() == services.legacy.writes.total() - 1 == 0


def _modern_citizen() -> str:
    return next(f"c{i}" for i in range(1000) if bucket_of(f"c{i}") < 50)


async def test_a_citizen_reads_their_own_write_until_modern_has_applied_it(
    services: Services,
) -> None:
    store = MemoryRouterStore(RouterSetting(modern_percent=50, version=1))
    store.mark(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))  # the catch-up publishes
    citizen = _modern_citizen()
    headers = {"X-Citizen-Id": citizen}
    async with (
        running(services, store, "p1") as (one_proxy, one),
        running(services, store, "p2") as (
            two_proxy,
            two,
        ),
    ):
        assert (await one.get("/items/1", headers=headers)).headers["x-served-by"] == "modern"
        write = await one.post("/claims", json={}, headers=headers)
        assert write.headers["x-served-by"] == "legacy"  # the system of record
        written = dt.datetime.now(dt.UTC)
        # Straight after: from legacy, which holds the write.
        assert (await one.get("/items/1", headers=headers)).headers["x-served-by"] == "legacy"
        # Through the other proxy too, once it has polled the shared recent writes.
        await _until(lambda: len(two_proxy.recent) > 0)
        assert (await two.get("/items/1", headers=headers)).headers["x-served-by"] == "legacy"
        # Other citizens on modern are not affected.
        other = next(f"d{i}" for i in range(1000) if bucket_of(f"d{i}") < 50)
        assert (await one.get("/items/1", headers={"X-Citizen-Id": other})).headers[
            "x-served-by"
        ] == "modern"
        # The catch-up's mark short of the write changes nothing; past it, back to modern.
        short = written - dt.timedelta(seconds=5)
        store.mark(short)
        await _until(lambda: one_proxy.recent.mark == short.timestamp())
        assert (await one.get("/items/1", headers=headers)).headers["x-served-by"] == "legacy"
        past = dt.datetime.now(dt.UTC)
        store.mark(past)
        await _until(lambda: one_proxy.recent.mark == two_proxy.recent.mark == past.timestamp())
        for client in (one, two):
            assert (await client.get("/items/1", headers=headers)).headers[
                "x-served-by"
            ] == "modern"


async def test_a_shadowed_read_of_a_write_modern_may_not_hold_is_not_compared(
    services: Services,
) -> None:
    store = MemoryRouterStore(RouterSetting(modern_percent=0, shadow=True, version=1))
    headers = {"X-Citizen-Id": "c1"}
    async with running(services, store) as (proxy, client):
        await client.get("/items/1", headers=headers)
        await _until(lambda: proxy.figures.tallies.get((1, Side.MODERN), None) is not None
                     and proxy.figures.tallies[(1, Side.MODERN)].compared == 1)  # fmt: skip
        await client.post("/claims", json={}, headers=headers)
        # No mark yet, then a mark short of the write: modern may not hold it.
        for mark in (None, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)):
            if mark is not None:
                store.mark(mark)
                await _until(lambda: proxy.recent.mark is not None)
            answer = await client.get("/items/1", headers=headers)
            assert answer.headers["x-served-by"] == "legacy"
            await asyncio.sleep(0.1)
            assert proxy.figures.tallies[(1, Side.MODERN)].compared == 1
        # Past the write: compared again.
        store.mark(dt.datetime.now(dt.UTC))
        await _until(lambda: len(proxy.recent) == 0)  # the mark passed the write
        await client.get("/items/1", headers=headers)
        await _until(lambda: proxy.figures.tallies[(1, Side.MODERN)].compared == 2)


async def test_no_tracking_after_the_switch_when_every_read_goes_to_modern(
    services: Services,
) -> None:
    # Modern is the system of record and takes every read: nothing to track or share.
    setting = RouterSetting(modern_percent=100, version=1, system_of_record=Side.MODERN)
    store = MemoryRouterStore(setting)
    async with running(services, store) as (proxy, client):
        await client.post("/claims", json={}, headers={"X-Citizen-Id": "c1"})
        await asyncio.sleep(0.15)
        assert len(proxy.recent) == 0
    assert store.shared == []


async def test_writes_at_0_percent_are_remembered_for_the_next_stage(services: Services) -> None:
    # Every read is on legacy now, but the next stage may send this citizen's reads to
    # modern before it has applied the write: it is remembered (and, with no mark yet to
    # forget it by, not shared).
    store = MemoryRouterStore(RouterSetting(modern_percent=0, version=1))
    async with running(services, store) as (proxy, client):
        await client.post("/claims", json={}, headers={"X-Citizen-Id": "c1"})
        await asyncio.sleep(0.15)
        assert len(proxy.recent) == 1
    assert store.shared == []


async def test_a_proxy_starting_after_a_hold_ran_out_does_not_hold(services: Services) -> None:
    store = MemoryRouterStore(RouterSetting(version=1))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    store.state = replace(store.state, hold=HoldOrder(3, WriteHold.HOLDING, 10.0, long_ago))
    async with running(services, store) as (proxy, client):
        started = time.monotonic()
        assert (await client.post("/claims", json={})).status_code == 201
        assert time.monotonic() - started < 1
        assert (proxy.gate.hold_id, proxy.gate.state) == (3, "expired")


async def test_before_the_first_mark_reads_are_routed_as_before(services: Services) -> None:
    # Without a mark a writer's reads could never go back to their side: they are routed
    # as before. The write is remembered all the same (a shadowed read of it is not
    # compared), but not shared: no mark would ever let the others forget it.
    store = MemoryRouterStore(RouterSetting(modern_percent=50, version=1))
    headers = {"X-Citizen-Id": _modern_citizen()}
    async with running(services, store) as (proxy, client):
        await client.post("/claims", json={}, headers=headers)
        assert (await client.get("/items/1", headers=headers)).headers["x-served-by"] == "modern"
        assert len(proxy.recent) == 1
    assert store.shared == []

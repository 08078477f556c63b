"""The builtin router: the real proxy as its own process (uvicorn), steered through the
engine database (SQLite and PostgreSQL), in front of two real services.

Proves: ``apply`` returns once the proxy serves the new version (by the proxy's admin
path, or by its acknowledgement in the database) and fails when no proxy takes it;
traffic moves through every stage with each citizen on the side its key's hash gives;
writes go only to the system of record; shadowed reads are compared with ignorable paths
left out and a planted difference counted, without the client waiting for the shadow;
500s, timeouts and unreachable services count as errors; the figures land in the engine
database per setting version.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from adapters.router import open_router
from adapters.router.builtin import BuiltinRouter, CutoverProxy
from adapters.router.routing import bucket_of
from config.migration_plan import MigrationPlan, load_plan, parse_plan
from config.settings import Settings
from db.cutover import cutover_state
from db.programme import register_system
from db.session import session_scope
from domain.cutover import CutoverPhase, RouterMetrics, RouterSetting, Side
from domain.errors import RouterError
from tests.adapters.router.conftest import Services, free_port, wait_for_port

SYSTEM = "legacy-benefits"
REPO = Path(__file__).resolve().parents[3]


def plan_data(services: Services, **builtin: Any) -> dict[str, Any]:
    return {
        "system": {"id": SYSTEM, "name": "Benefits"},
        "source": {"kind": "sql", "url": "sqlite:///legacy.db"},
        "target": {"url": "sqlite:///modern.db"},
        "tables": [{"source": "CLAIMANT", "target": "claimants", "key": ["ID"]}],
        "cutover": {
            "router": "builtin",
            "legacy_url": services.legacy.url,
            "modern_url": services.modern.url,
            "sticky_key": "header:X-Citizen-Id",
            "shadow_ignore": ["fetched_at", "items[*].etag"],
            "health_path": "/whoami",
            "builtin": {
                "poll_s": 0.2,
                "flush_s": 0.5,
                "apply_timeout_s": 20,
                "upstream_timeout_s": 1,
                **builtin,
            },
        },
    }


def write_plan(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def register(url: str) -> None:
    with session_scope(url) as session:
        register_system(session, system_id=SYSTEM, name="Benefits", department="DWP",
                        risk_score=20, annual_run_cost_gbp=Decimal(1000),
                        migration_cost_gbp=Decimal(100), actor="test")  # fmt: skip


@dataclass
class Proxy:
    url: str
    plan: MigrationPlan
    settings: Settings
    process: subprocess.Popen[bytes]


@pytest.fixture
def start_proxy(tmp_path: Path, services: Services) -> Iterator[Callable[..., Proxy]]:
    """Starts ``run_proxy`` in its own process for a plan; stops it after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(url: str, **builtin: Any) -> Proxy:
        port = free_port()
        data = plan_data(services, **builtin)
        if builtin.pop("list_self", False) or "proxy_urls" in builtin:
            data["cutover"]["builtin"]["proxy_urls"] = [f"http://127.0.0.1:{port}"]
        data["cutover"]["builtin"].pop("list_self", None)
        path = write_plan(tmp_path, data)
        code = (
            "from adapters.router.builtin import run_proxy; from config.settings import Settings;"
            f" run_proxy({str(path)!r}, Settings(), '127.0.0.1', {port})"
        )
        env = {**os.environ, "SWITCHOVER_DATABASE_URL": url, "SWITCHOVER_LOG_FORMAT": "json"}
        process = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO)
        started.append(process)
        wait_for_port(port)
        return Proxy(f"http://127.0.0.1:{port}", load_plan(path), Settings(database_url=url),
                     process)  # fmt: skip

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


async def _get_all(url: str, citizens: list[str], path: str = "/whoami") -> dict[str, str]:
    """Each citizen's GET through the proxy, 16 at a time: which side answered."""
    limit = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=10) as client:

        async def one(citizen: str) -> tuple[str, str]:
            async with limit:
                response = await client.get(path, headers={"X-Citizen-Id": citizen})
            assert response.status_code == 200, response.text
            return citizen, response.headers["x-served-by"]

        return dict(await asyncio.gather(*(one(c) for c in citizens)))


def served_by(url: str, citizens: list[str]) -> dict[str, str]:
    return asyncio.run(_get_all(url, citizens))


def wait_for_figures(router: BuiltinRouter, since: dt.datetime, version: int,
                     done: Callable[[RouterMetrics], bool]) -> RouterMetrics:  # fmt: skip
    """The stored figures once the proxy has flushed what the test expects (bounded)."""
    deadline = time.monotonic() + 20
    while True:
        metrics = router.metrics(since, setting_version=version)
        if done(metrics) or time.monotonic() > deadline:
            return metrics
        time.sleep(0.1)


def test_traffic_moves_through_every_stage(
    db_url: str,
    services: Services,
    start_proxy: Callable[..., Proxy],
) -> None:
    register(db_url)
    proxy = start_proxy(db_url)
    router = open_router(proxy.plan, proxy.settings)
    assert isinstance(router, BuiltinRouter)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    citizens = [f"citizen-{i:05d}" for i in range(2000)]
    expected: dict[int, Counter[str]] = {}
    with httpx.Client(base_url=proxy.url, trust_env=False) as client:
        for percent in (0, 5, 25, 50, 100):
            router.apply(RouterSetting(modern_percent=percent))
            version = router.current().version
            # apply returned: the proxy already serves this version.
            assert client.get("/_switchover/setting").json()["version"] == version
            with session_scope(db_url) as session:
                state = cutover_state(session, SYSTEM)
                assert state is not None
                assert state.modern_percent == percent
                assert state.phase is CutoverPhase.STAGE

            # 2,000 citizens at 25 %, 1,000 at the other stages.
            sides = served_by(proxy.url, citizens if percent == 25 else citizens[:1000])
            # Each citizen is where the hash of their id puts them: exactly.
            assert {c for c, s in sides.items() if s == "modern"} == {
                c for c in sides if bucket_of(c) < percent
            }
            share = sum(s == "modern" for s in sides.values()) / len(sides)
            assert percent / 100 - 0.05 <= share <= percent / 100 + 0.05
            # Writes reach legacy only, whatever the citizen's side.
            for citizen in citizens[:20]:
                response = client.post("/claims", json={"c": 1},
                                       headers={"X-Citizen-Id": citizen})  # fmt: skip
                assert response.status_code == 201
                assert response.headers["x-served-by"] == "legacy"
            expected[version] = Counter(sides.values())
            expected[version]["legacy"] += 20
    assert services.modern.writes.total() == 0
    assert services.legacy.writes["POST"] == 100

    # The figures are in the engine database, per setting version.
    for version, counts in expected.items():
        metrics = wait_for_figures(
            router,
            since,
            version,
            lambda m, c=counts: (
                (m.legacy.requests, m.modern.requests)  # type: ignore[misc]
                == (c["legacy"], c["modern"])
            ),
        )
        assert metrics.legacy.requests == counts["legacy"], version
        assert metrics.modern.requests == counts["modern"], version
        assert metrics.legacy.errors == metrics.modern.errors == 0
        assert metrics.legacy.percentile_ms(0.99) is not None
    # Modern becomes the system of record: writes follow it.
    router.apply(RouterSetting(modern_percent=100, system_of_record=Side.MODERN))
    response = httpx.put(proxy.url + "/claims/1", json={}, trust_env=False)
    assert response.headers["x-served-by"] == "modern"
    assert services.modern.writes["PUT"] == 1
    health = router.health()
    assert health.legacy
    assert health.modern
    router.close()


def test_shadow_compares_and_errors_count(
    db_url: str,
    services: Services,
    start_proxy: Callable[..., Proxy],
) -> None:
    register(db_url)
    proxy = start_proxy(db_url, list_self=True)
    router = BuiltinRouter(proxy.plan, proxy.settings, phase=CutoverPhase.SHADOW)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    router.apply(RouterSetting(modern_percent=0, shadow=True))
    shadow_version = router.current().version
    assert router.current().shadow

    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=10) as client:
        # The client's answer does not wait for the shadow: modern holds this one until
        # the client has legacy's answer.
        held = threading.Event()
        services.modern.hold["/items/0"] = held
        response = client.get("/items/0")
        assert response.headers["x-served-by"] == "legacy"
        assert not held.is_set()
        held.set()
        # Ten reads that differ only in ignorable paths, and one planted difference.
        services.modern.differ.add("/items/13")
        for n in range(1, 11):
            assert client.get(f"/items/{n}").headers["x-served-by"] == "legacy"
        assert client.get("/items/13").json()["amount"] == 12.5  # legacy's answer
        # A write is not shadowed: it reaches legacy alone.
        assert client.post("/claims", json={}).headers["x-served-by"] == "legacy"
    assert services.modern.writes.total() == 0
    metrics = wait_for_figures(router, since, shadow_version, lambda m: m.shadow_compared >= 12)
    assert metrics.shadow_compared == 12
    assert metrics.shadow_mismatched == 1
    assert metrics.legacy.requests == 13  # 12 reads and the write
    assert metrics.modern.requests == 12  # the shadowed reads

    # All on modern: a 500 and a timeout are modern's errors; the client gets 500 and 504.
    router.phase = CutoverPhase.STAGE
    router.apply(RouterSetting(modern_percent=100))
    version = router.current().version
    services.modern.fail.add("/broken")
    services.modern.stall.add("/stalled")
    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=10) as client:
        assert client.get("/broken").status_code == 500
        assert client.get("/stalled").status_code == 504
        assert client.get("/fine").status_code == 200
    metrics = wait_for_figures(router, since, version, lambda m: m.modern.requests >= 3)
    assert (metrics.modern.requests, metrics.modern.errors) == (3, 2)
    assert metrics.modern.error_rate == pytest.approx(2 / 3)
    # The shadow stage's figures are kept apart.
    assert router.metrics(since, setting_version=shadow_version).modern.errors == 0
    router.close()


def test_apply_fails_when_no_proxy_takes_the_setting(
    tmp_path: Path,
    services: Services,
    sqlite_template: Path,
) -> None:
    import shutil

    database = tmp_path / "engine.db"
    shutil.copy(sqlite_template, database)
    url = f"sqlite:///{database}"
    register(url)
    plan = parse_plan(yaml.safe_dump(plan_data(services, apply_timeout_s=0.5)))
    router = BuiltinRouter(plan, Settings(database_url=url))
    with pytest.raises(RouterError, match="no builtin proxy took setting version 1"):
        router.apply(RouterSetting(modern_percent=5))
    # The setting is stored all the same: a proxy that starts later takes it.
    assert router.current().modern_percent == 5


async def test_an_unreachable_side_gets_502_and_counts_as_its_error(services: Services) -> None:
    data = plan_data(services)
    data["cutover"]["modern_url"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
    plan = parse_plan(yaml.safe_dump(data))
    assert plan.cutover is not None
    proxy = CutoverProxy(plan.cutover, SYSTEM, store=None,
                         initial=RouterSetting(modern_percent=100, version=4))  # fmt: skip
    await proxy.startup()
    try:
        transport = httpx.ASGITransport(app=proxy)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            response = await client.get("/whoami", headers={"X-Citizen-Id": "c1"})
            assert response.status_code == 502
            assert "modern" in response.json()["error"]
            health = await proxy.health()
            assert health.legacy
            assert not health.modern
    finally:
        await proxy.shutdown()
    tallies = proxy.figures.take()
    assert tallies[(4, Side.MODERN)].requests == 1
    assert tallies[(4, Side.MODERN)].errors == 1


async def test_large_bodies_stream_both_ways_and_are_not_compared(services: Services) -> None:
    data = plan_data(services, max_compare_bytes=1_000_000)
    plan = parse_plan(yaml.safe_dump(data))
    assert plan.cutover is not None
    proxy = CutoverProxy(plan.cutover, SYSTEM, store=None,
                         initial=RouterSetting(shadow=True, version=2))  # fmt: skip
    await proxy.startup()
    try:
        transport = httpx.ASGITransport(app=proxy)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            upload = b"u" * 3_000_000
            response = await client.post("/claims/evidence", content=upload)
            assert response.json() == {"side": "legacy", "received": 3_000_000}
            response = await client.get("/big")
            assert response.content == b"l" * 3_000_000
            assert response.headers["x-switchover-side"] == "legacy"
            # A small read is compared as usual.
            await client.get("/items/1")
        for _ in range(100):  # the comparisons run after the answers, in the background
            if not proxy._tasks:
                break
            await asyncio.sleep(0.05)
    finally:
        await proxy.shutdown()
    tallies = proxy.figures.take()
    assert tallies[(2, Side.MODERN)].requests == 2  # both reads shadowed to modern
    assert tallies[(2, Side.MODERN)].compared == 1  # but only the small one compared
    assert tallies[(2, Side.MODERN)].mismatched == 0
    assert services.modern.writes.total() == 0


def test_a_proxy_that_cannot_read_the_setting_does_not_start(
    tmp_path: Path, services: Services
) -> None:
    path = write_plan(tmp_path, plan_data(services))
    port = free_port()
    code = (
        "from adapters.router.builtin import run_proxy; from config.settings import Settings;"
        f" run_proxy({str(path)!r}, Settings(), '127.0.0.1', {port})"
    )
    unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/switchover"
    env = {**os.environ, "SWITCHOVER_DATABASE_URL": unreachable}
    process = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    # Routing on a default setting could send writes to the wrong side: it refuses.
    assert process.returncode != 0
    assert "the engine database failed" in process.stderr
